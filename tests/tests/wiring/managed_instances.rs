//! Lambda Managed Instances: under `ManagedInstances=true` every function of the template runs
//! on the stack's capacity provider, at a memory size Managed Instances accept; under the default
//! (`false`) nothing changes. The functions are read from the template, not listed here, so a new
//! function without the setting is reported. cfn-lint and `sam validate --lint` check the syntax.

use crate::repo::{self, Yaml, text};

/// The condition every Managed Instances setting hangs on.
const CONDITION: &str = "ManagedInstancesEnabled";

/// The smallest function Lambda Managed Instances run: 2 GB (one vCPU at 2 GB per vCPU).
const MIN_MEMORY_MB: u64 = 2048;

/// `!If [<condition>, <then>, <else>]` (short tag or `Fn::If`), as its three parts.
fn if_parts(value: &Yaml) -> Option<(String, &Yaml, &Yaml)> {
    let arguments = match value {
        Yaml::Tagged(tagged) if tagged.tag.to_string().trim_start_matches('!') == "If" => {
            &tagged.value
        }
        Yaml::Mapping(map) if map.len() == 1 => map.get("Fn::If")?,
        _ => return None,
    };
    match arguments.as_sequence()?.as_slice() {
        [condition, then, otherwise] => Some((condition.as_str()?.to_owned(), then, otherwise)),
        _ => None,
    }
}

/// Whether `value` is `!Ref AWS::NoValue`.
fn no_value(value: &Yaml) -> bool {
    repo::reference(value)
        .is_some_and(|(id, attribute)| id == "AWS::NoValue" && attribute.is_none())
}

/// Whether `arn` names the capacity provider `provider`: `!GetAtt <id>.Arn`, or a `!Sub` ARN
/// built from `${<id>}` (its name).
fn names_provider(arn: &Yaml, provider: &str) -> bool {
    match repo::reference(arn) {
        Some((id, Some(attribute))) => id == provider && attribute == "Arn",
        Some(_) => false,
        None => {
            let sub = text(arn);
            sub.contains(":capacity-provider:") && sub.contains(&format!("${{{provider}}}"))
        }
    }
}

/// The memory a function gets under the condition: its own `MemorySize`, else the Globals'; a
/// plain number applies in both modes, an `!If` on the condition gives its first branch.
fn memory_under_condition(template: &Yaml, function: &Yaml) -> Option<u64> {
    let own = &function["Properties"]["MemorySize"];
    let memory = if own.is_null() {
        &template["Globals"]["Function"]["MemorySize"]
    } else {
        own
    };
    match if_parts(memory) {
        Some((condition, then, _)) if condition == CONDITION => then.as_u64(),
        Some(_) => None,
        None => memory.as_u64(),
    }
}

/// Everything the template gets wrong about Managed Instances.
fn problems(template: &Yaml) -> Vec<String> {
    let mut problems = Vec::new();
    let parameter = &template["Parameters"]["ManagedInstances"];
    if text(&parameter["Default"]) != "false" {
        problems.push(format!(
            "the ManagedInstances parameter defaults to \"false\": {}",
            repo::shown(parameter)
        ));
    }
    let condition = repo::shown(&template["Conditions"][CONDITION]);
    if !(condition.contains("ManagedInstances") && condition.contains("'true'")) {
        problems.push(format!(
            "{CONDITION} is ManagedInstances == \"true\": {condition}"
        ));
    }
    let resources = template["Resources"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    let providers: Vec<String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::CapacityProvider")
        .filter_map(|(id, r)| {
            if r["Condition"] != CONDITION {
                problems.push(format!(
                    "{} is created only under {CONDITION}",
                    id.as_str().unwrap_or_default()
                ));
            }
            if r["Properties"]["VpcConfig"]["SubnetIds"].is_null() {
                problems.push("the capacity provider has subnets (VpcConfig.SubnetIds)".to_owned());
            }
            id.as_str().map(str::to_owned)
        })
        .collect();
    let [provider] = providers.as_slice() else {
        problems.push(format!(
            "one AWS::Serverless::CapacityProvider, not {providers:?}"
        ));
        return problems;
    };
    let functions = repo::functions(template);
    if functions.is_empty() {
        problems.push("no function found in the template".to_owned());
    }
    for function in functions {
        let id = function.id;
        let properties = &function.resource["Properties"];
        match if_parts(&properties["CapacityProviderConfig"]) {
            Some((condition, then, otherwise))
                if condition == CONDITION
                    && names_provider(&then["Arn"], provider)
                    && no_value(otherwise) => {}
            _ => problems.push(format!(
                "{id}: CapacityProviderConfig is !If [{CONDITION}, {{Arn: <{provider}'s ARN>}}, !Ref AWS::NoValue], not {}",
                repo::shown(&properties["CapacityProviderConfig"])
            )),
        }
        match memory_under_condition(template, function.resource) {
            Some(mb) if mb >= MIN_MEMORY_MB => {}
            other => problems.push(format!(
                "{id}: under {CONDITION} its MemorySize is at least {MIN_MEMORY_MB} MB, not {other:?}"
            )),
        }
        for exclusive in ["VpcConfig", "ProvisionedConcurrencyConfig"] {
            if !properties[exclusive].is_null() {
                problems.push(format!(
                    "{id}: {exclusive} cannot go with a CapacityProviderConfig"
                ));
            }
        }
    }
    problems
}

#[test]
fn every_function_runs_on_the_capacity_provider_under_the_parameter() {
    crate::assert_no_problems("Managed Instances wiring", &problems(&repo::template()));
}

/// The template with `edit` applied to its text.
fn edited(edit: impl Fn(&str) -> String) -> Yaml {
    repo::yaml("edited template.yaml", &edit(&repo::read("template.yaml")))
}

#[test]
fn a_function_without_the_capacity_provider_config_is_reported() {
    let template = edited(|t| {
        // Drop the first function's line only.
        let line = t
            .lines()
            .find(|l| l.trim_start().starts_with("CapacityProviderConfig:"))
            .expect("a CapacityProviderConfig line");
        t.replacen(&format!("{line}\n"), "", 1)
    });
    let found = problems(&template);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("CapacityProviderConfig"), "{found:?}");
}

#[test]
fn a_function_below_two_gigabytes_under_the_parameter_is_reported() {
    let template = edited(|t| {
        t.replacen(
            "MemorySize: !If [ManagedInstancesEnabled, 2048, 128]",
            "MemorySize: 128",
            1,
        )
    });
    let found = problems(&template);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("MemorySize"), "{found:?}");
}

#[test]
fn a_capacity_provider_created_without_the_condition_is_reported() {
    let template = edited(|t| t.replacen("    Condition: ManagedInstancesEnabled\n", "", 1));
    let found = problems(&template);
    assert!(
        found.iter().any(|p| p.contains("created only under")),
        "{found:?}"
    );
}

#[test]
fn a_parameter_that_defaults_to_managed_instances_is_reported() {
    let template = edited(|t| {
        t.replacen(
            "  ManagedInstances:\n    Type: String\n    Default: \"false\"",
            "  ManagedInstances:\n    Type: String\n    Default: \"true\"",
            1,
        )
    });
    let found = problems(&template);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("defaults"), "{found:?}");
}
