//! Least-privilege IAM: each function is granted exactly the AWS calls its code makes, on
//! exactly the resources it makes them on.
//!
//! The local emulator (moto) does not enforce IAM: every call succeeds whatever the template
//! grants, so a missing grant would first show as `AccessDenied` in a deployed stage, and a
//! grant no code needs would never show at all. This test is the only local guard.
//!
//! `functions/<group>/iam.toml`, kept next to the code, lists every DynamoDB, S3, SES and
//! Secrets Manager action that function's code calls (its own sources and the `identity` and
//! `shared` code it reaches), by the resource it calls it on, each with the code that makes the
//! call:
//!
//! ```toml
//! [calls."SessionsTable/index/by_user"]
//! "dynamodb:Query" = "Sessions::revoke_all (logout-all, password reset)"
//! ```
//!
//! `[not_granted.<resource>]` holds calls the code has but the deployed function never makes,
//! with the reason. This reads the `Policies` of the function with `BuildProperties.Binary:
//! <group>` in `template.yaml`, resolves every statement's resources to logical names
//! (`!GetAtt UsersTable.Arn` is `UsersTable`, `!Sub "${SessionsTable.Arn}/index/by_user"` is
//! `SessionsTable/index/by_user`, `!Ref SigningKeysSecret` is `SigningKeysSecret`, and
//! `!Sub "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"` is
//! `ses:identity/*`), and reports, naming the function, action and resource:
//! 1. a granted action no code calls (absent from `iam.toml`, or listed as not granted);
//! 2. an action the code calls that the template does not grant;
//! 3. a `functions/` directory without `iam.toml`, or an `iam.toml` of no function;
//! 4. what it cannot compare: a SAM policy template or managed policy, a `Deny`, `NotAction`
//!    or `NotResource` statement, a resource written another way (a literal ARN, or the `Ref`
//!    of a table or bucket: its name, which no policy matches), an index its table lacks.
//!
//! The tables are written by reading the code: this test compares them with the template, not
//! with the code, so a change that adds or drops an AWS call must change its `iam.toml` too
//! (review it with the code). Conditions (such as `ses:FromAddress`) are not compared.
//! [`load`] reads the files; [`problems`] is pure, so the negative tests change the real data
//! in memory and check that the change is reported. No emulator, no AWS.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a broken checkout should stop the test loudly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value as Yaml;

/// `(action, resource)`, e.g. `("dynamodb:Query", "SessionsTable/index/by_user")`.
type Grant = (String, String);

/// One `AWS::Serverless::Function` of the template.
#[derive(Debug, Clone, Default)]
struct Function {
    /// `AuthFunction`.
    logical_id: String,
    /// What its `Policies` allow.
    grants: BTreeSet<Grant>,
    /// What this test cannot compare, as messages.
    unreadable: Vec<String>,
}

/// A `functions/<group>/iam.toml`.
#[derive(Debug, Clone, Default)]
struct ActionTable {
    /// `[calls.<resource>]`: grant -> the code that makes the call.
    calls: BTreeMap<Grant, String>,
    /// `[not_granted.<resource>]`: grant -> why the deployed function never makes it.
    not_granted: BTreeMap<Grant, String>,
    /// What is wrong with the file itself.
    malformed: Vec<String>,
}

/// Everything the check compares, as read from disk.
#[derive(Debug, Clone, Default)]
struct Model {
    /// Directories under `functions/`.
    groups: Vec<String>,
    /// `BuildProperties.Binary` -> the function.
    functions: BTreeMap<String, Function>,
    /// Every logical id of the template -> the names of its global secondary indexes.
    resources: BTreeMap<String, Vec<String>>,
    /// Group -> its `iam.toml`, when it has one.
    tables: BTreeMap<String, ActionTable>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn function_groups(root: &Path) -> Vec<String> {
    let dir = root.join("functions");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut groups: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    groups.sort();
    groups
}

fn load(root: &Path) -> Model {
    let groups = function_groups(root);
    let tables = groups.iter().filter_map(|group| {
        let path = root.join("functions").join(group).join("iam.toml");
        let text = path.is_file().then(|| read(&path))?;
        Some((group.clone(), action_table(group, &text)))
    });
    let tables = tables.collect();
    let template: Yaml =
        serde_yaml::from_str(&read(&root.join("template.yaml"))).expect("template.yaml");
    Model {
        groups,
        functions: template_functions(&template),
        resources: template_resources(&template),
        tables,
    }
}

/// Reads one `iam.toml`; what is wrong with it goes to `malformed`, so it is reported with the
/// rest.
fn action_table(group: &str, text: &str) -> ActionTable {
    let file = format!("functions/{group}/iam.toml");
    let mut table = ActionTable::default();
    let parsed: toml::Table = match toml::from_str(text) {
        Ok(parsed) => parsed,
        Err(err) => {
            table.malformed.push(format!("{file}: {err}"));
            return table;
        }
    };
    for (section, resources) in &parsed {
        let is_calls = match section.as_str() {
            "calls" => true,
            "not_granted" => false,
            other => {
                table.malformed.push(format!(
                    "{file}: unknown table [{other}]; only [calls.<resource>] and \
                     [not_granted.<resource>] are read"
                ));
                continue;
            }
        };
        let resources = resources.as_table().into_iter().flatten();
        for (resource, actions) in resources {
            let Some(actions) = actions.as_table() else {
                table.malformed.push(format!(
                    "{file}: [{section}.\"{resource}\"] must map each action to the code that \
                     calls it"
                ));
                continue;
            };
            for (action, note) in actions {
                let grant = (action.clone(), resource.clone());
                let valid_action = action
                    .split_once(':')
                    .is_some_and(|(service, name)| !service.is_empty() && !name.is_empty());
                if !valid_action {
                    table.malformed.push(format!(
                        "{file}: {action} on {resource} is not an IAM action (service:Action)"
                    ));
                }
                let note = note.as_str().map(str::trim).unwrap_or_default();
                if note.is_empty() {
                    table.malformed.push(format!(
                        "{file}: {action} on {resource} must say which code makes the call"
                    ));
                }
                let target = if is_calls {
                    &mut table.calls
                } else {
                    &mut table.not_granted
                };
                target.insert(grant, note.to_owned());
            }
        }
    }
    for (action, resource) in table.calls.keys() {
        if table
            .not_granted
            .contains_key(&(action.clone(), resource.clone()))
        {
            table.malformed.push(format!(
                "{file}: {action} on {resource} is both in [calls] and in [not_granted]"
            ));
        }
    }
    table
}

/// Every logical id of the template, with the index names of the tables.
fn template_resources(template: &Yaml) -> BTreeMap<String, Vec<String>> {
    let resources = template.get("Resources").and_then(Yaml::as_mapping);
    let resources = resources.into_iter().flatten();
    resources
        .filter_map(|(id, resource)| {
            let indexes = resource
                .get("Properties")
                .and_then(|p| p.get("GlobalSecondaryIndexes"))
                .and_then(Yaml::as_sequence)
                .into_iter()
                .flatten();
            let indexes = indexes.filter_map(|i| i.get("IndexName")?.as_str().map(str::to_owned));
            Some((id.as_str()?.to_owned(), indexes.collect()))
        })
        .collect()
}

/// The resource types whose `Ref` is their ARN. A table's or a bucket's `Ref` is its name,
/// which no policy resource matches: the grant would silently allow nothing.
const REF_IS_ARN: [&str; 2] = ["AWS::SecretsManager::Secret", "AWS::SNS::Topic"];

/// `BuildProperties.Binary` -> what its `Policies` grant, of every `AWS::Serverless::Function`.
fn template_functions(template: &Yaml) -> BTreeMap<String, Function> {
    let mut functions = BTreeMap::new();
    let resources = template.get("Resources").and_then(Yaml::as_mapping);
    let arn_refs: BTreeSet<&str> = (resources.into_iter().flatten())
        .filter(|(_, r)| {
            REF_IS_ARN
                .iter()
                .any(|t| r.get("Type").and_then(Yaml::as_str) == Some(t))
        })
        .filter_map(|(id, _)| id.as_str())
        .collect();
    for (id, resource) in resources.into_iter().flatten() {
        if resource.get("Type").and_then(Yaml::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = ["Metadata", "BuildProperties", "Binary"]
            .iter()
            .try_fold(resource, |value, key| value.get(key))
            .and_then(Yaml::as_str);
        let (Some(id), Some(binary)) = (id.as_str(), binary) else {
            continue;
        };
        let mut function = Function {
            logical_id: id.to_owned(),
            ..Function::default()
        };
        let ref_is_arn = |id: &str| arn_refs.contains(id);
        read_policies(
            binary,
            resource.get("Properties"),
            &ref_is_arn,
            &mut function,
        );
        functions.insert(binary.to_owned(), function);
    }
    functions
}

/// Adds what `properties.Policies` grants to `function`, and what it cannot read.
fn read_policies(
    binary: &str,
    properties: Option<&Yaml>,
    ref_is_arn: &dyn Fn(&str) -> bool,
    function: &mut Function,
) {
    let id = function.logical_id.clone();
    let mut unreadable = |what: String| function.unreadable.push(format!("{binary}: {what}"));
    if properties.and_then(|p| p.get("Role")).is_some() {
        unreadable(format!(
            "{id} in template.yaml has a Role of its own: its grants cannot be compared"
        ));
    }
    let policies = properties.and_then(|p| p.get("Policies"));
    let policies = match policies {
        None => &[][..],
        Some(Yaml::Sequence(policies)) => policies.as_slice(),
        Some(other) => std::slice::from_ref(other),
    };
    let mut grants = Vec::new();
    for (i, policy) in policies.iter().enumerate() {
        let place = format!("Policies[{i}] of {id} in template.yaml");
        let Some(statements) = policy.get("Statement") else {
            unreadable(format!(
                "{place} is not an inline `Statement:` policy (a SAM policy template or a \
                 managed policy?): this test cannot tell what it grants"
            ));
            continue;
        };
        let statements = match statements {
            Yaml::Sequence(statements) => statements.as_slice(),
            other => std::slice::from_ref(other),
        };
        for (j, statement) in statements.iter().enumerate() {
            let place = format!("Statement[{j}] of {place}");
            let effect = statement.get("Effect").and_then(Yaml::as_str);
            if effect != Some("Allow") {
                unreadable(format!(
                    "{place} has Effect {effect:?}: only Allow statements are compared"
                ));
                continue;
            }
            if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
                unreadable(format!(
                    "{place} uses NotAction or NotResource, which this test cannot compare"
                ));
                continue;
            }
            let list = |key: &str| match statement.get(key) {
                None => Vec::new(),
                Some(Yaml::Sequence(items)) => items.clone(),
                Some(item) => vec![item.clone()],
            };
            let mut actions = Vec::new();
            for action in list("Action") {
                match action.as_str() {
                    Some(action) => actions.push(action.to_owned()),
                    None => unreadable(format!("{place} has an action that is not a string")),
                }
            }
            for resource in list("Resource") {
                match resource_name(&resource, ref_is_arn) {
                    Ok(name) => {
                        grants.extend(actions.iter().map(|a| (a.clone(), name.clone())));
                    }
                    Err(shown) => unreadable(format!(
                        "{place} grants {} on {shown}: a resource must be written as !GetAtt \
                         <Id>.Arn, !Sub \"${{<Id>.Arn}}/...\", !Ref <Id> of a secret (a \
                         table's or bucket's Ref is its name, not an ARN) or !Sub \
                         \"arn:${{AWS::Partition}}:<service>:${{AWS::Region}}:\
                         ${{AWS::AccountId}}:...\"",
                        actions.join(", ")
                    )),
                }
            }
        }
    }
    function.grants.extend(grants);
}

/// The intrinsic function of a value and its argument: `!GetAtt X.Arn` or `{"Fn::GetAtt": ...}`
/// is `("GetAtt", X.Arn)`.
fn intrinsic(value: &Yaml) -> Option<(String, &Yaml)> {
    match value {
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            Some((tag.trim_start_matches('!').to_owned(), &tagged.value))
        }
        Yaml::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            let name = if key == "Ref" {
                key
            } else {
                key.strip_prefix("Fn::")?
            };
            Some((name.to_owned(), arg))
        }
        _ => None,
    }
}

/// The logical name of a policy resource: `UsersTable`, `SessionsTable/index/by_user`,
/// `SigningKeysSecret`, `ses:identity/*`, or `*`. `Err` shows the value as written.
/// `ref_is_arn` tells the logical ids whose `Ref` is an ARN.
fn resource_name(value: &Yaml, ref_is_arn: &dyn Fn(&str) -> bool) -> Result<String, String> {
    let shown = || {
        let text = serde_yaml::to_string(value).unwrap_or_default();
        text.trim().replace('\n', " ")
    };
    let name = match (value, intrinsic(value)) {
        (Yaml::String(star), _) if star == "*" => Some(star.clone()),
        (_, Some((function, arg))) => match (function.as_str(), arg) {
            ("Ref", Yaml::String(id)) => ref_is_arn(id).then(|| id.clone()),
            ("GetAtt", Yaml::String(attribute)) => {
                attribute.strip_suffix(".Arn").map(str::to_owned)
            }
            ("GetAtt", Yaml::Sequence(parts)) => match parts.as_slice() {
                [Yaml::String(id), Yaml::String(attribute)] if attribute == "Arn" => {
                    Some(id.clone())
                }
                _ => None,
            },
            ("Sub", Yaml::String(text)) => sub_name(text, ref_is_arn),
            _ => None,
        },
        _ => None,
    };
    name.ok_or_else(shown)
}

/// `${X.Arn}<rest>` (or `${X}<rest>` when `X`'s `Ref` is an ARN) is `X<rest>`;
/// `arn:${AWS::Partition}:<service>:<region>:<account>:<rest>`, with this stack's region and
/// account (or none), is `<service>:<rest>`.
fn sub_name(text: &str, ref_is_arn: &dyn Fn(&str) -> bool) -> Option<String> {
    if let Some(inside) = text.strip_prefix("${") {
        let (reference, rest) = inside.split_once('}')?;
        let id = match reference.split_once('.') {
            Some((id, "Arn")) => id,
            None if ref_is_arn(reference) => reference,
            Some(_) | None => return None,
        };
        let valid = !id.is_empty() && !id.contains("::") && !rest.contains('$');
        return valid.then(|| format!("{id}{rest}"));
    }
    // The pseudo parameters hold `::`: set them aside before splitting on `:`.
    let rest = text
        .strip_prefix("arn:${AWS::Partition}:")?
        .replace("${AWS::Region}", "{region}")
        .replace("${AWS::AccountId}", "{account}");
    let mut parts = rest.splitn(4, ':');
    let (service, region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let ours = matches!(region, "" | "{region}")
        && matches!(account, "" | "{account}")
        && !service.is_empty()
        && !resource.contains('$');
    ours.then(|| format!("{service}:{resource}"))
}

/// Why `resource` names nothing in the template, if it does not: a logical id (with an optional
/// `/index/<name>` of its table, or another `/` suffix) must exist; `*` and `service:...` are
/// patterns, not resources of the stack.
fn unknown_resource(model: &Model, resource: &str) -> Option<String> {
    if resource == "*" || resource.contains(':') {
        return None;
    }
    let (id, suffix) = resource.split_once('/').unwrap_or((resource, ""));
    let Some(indexes) = model.resources.get(id) else {
        return Some(format!("{id} is not a resource of template.yaml"));
    };
    let index = suffix.strip_prefix("index/")?;
    (!indexes.iter().any(|i| i == index)).then(|| format!("{id} has no index {index}"))
}

fn problems(model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    for group in &model.groups {
        if !model.tables.contains_key(group) {
            out.push(format!(
                "functions/{group}: no iam.toml listing the AWS calls of its code \
                 (see tests/tests/iam.rs)"
            ));
        }
    }
    for (group, table) in &model.tables {
        out.extend(table.malformed.iter().cloned());
        if !model.functions.contains_key(group) {
            out.push(format!(
                "functions/{group}/iam.toml: no function with BuildProperties.Binary: {group} \
                 in template.yaml"
            ));
        }
    }
    for (binary, function) in &model.functions {
        out.extend(function.unreadable.iter().cloned());
        let Some(table) = model.tables.get(binary) else {
            if !model.groups.contains(binary) {
                out.push(format!(
                    "template.yaml: {} (BuildProperties.Binary: {binary}) has no \
                     functions/{binary}/iam.toml",
                    function.logical_id
                ));
            }
            continue;
        };
        let file = format!("functions/{binary}/iam.toml");
        for grant @ (action, resource) in &function.grants {
            if table.calls.contains_key(grant) {
                continue;
            }
            out.push(match table.not_granted.get(grant) {
                Some(reason) => format!(
                    "{binary}: template.yaml grants {action} on {resource}, which {file} lists \
                     as never called when deployed: {reason}"
                ),
                None => format!(
                    "{binary}: template.yaml grants {action} on {resource}, which no code of \
                     functions/{binary} calls (not in {file})"
                ),
            });
        }
        for (action, resource) in table.calls.keys() {
            if !function
                .grants
                .contains(&(action.clone(), resource.clone()))
            {
                out.push(format!(
                    "{binary}: the code calls {action} on {resource} ({file}), which \
                     template.yaml does not grant"
                ));
            }
        }
        let granted = function.grants.iter().map(|(_, r)| ("template.yaml", r));
        let listed = (table.calls.keys())
            .chain(table.not_granted.keys())
            .map(|(_, r)| (file.as_str(), r));
        let named: BTreeSet<(&str, &String)> = granted.chain(listed).collect();
        for (place, resource) in named {
            if let Some(why) = unknown_resource(model, resource) {
                out.push(format!("{binary}: {place} names {resource}, but {why}"));
            }
        }
    }
    out
}

#[test]
fn every_function_directory_has_an_iam_toml() {
    let root = repo_root();
    let groups = function_groups(&root);
    assert!(!groups.is_empty(), "no directories under functions/");
    let missing: Vec<String> = groups
        .iter()
        .filter(|g| !root.join("functions").join(g).join("iam.toml").is_file())
        .map(|g| format!("functions/{g}/iam.toml"))
        .collect();
    assert!(
        missing.is_empty(),
        "every function lists the AWS calls of its code next to it; missing: {}",
        missing.join(", ")
    );
}

#[test]
fn the_template_grants_each_function_exactly_the_calls_its_code_makes() {
    let model = load(&repo_root());
    assert!(
        !model.functions.is_empty(),
        "no AWS::Serverless::Function with BuildProperties.Binary in template.yaml"
    );
    for (binary, function) in &model.functions {
        // A function whose code makes no AWS call (docs) has no grants; any other with none
        // means this test stopped reading the Policies.
        let calls_nothing = model.tables.get(binary).is_some_and(|t| t.calls.is_empty());
        assert!(
            !function.grants.is_empty() || !function.unreadable.is_empty() || calls_nothing,
            "{binary}: no grants read from template.yaml; is the test still reading Policies?"
        );
    }
    let problems = problems(&model);
    assert!(
        problems.is_empty(),
        "template.yaml and functions/*/iam.toml disagree ({} problems):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

#[test]
fn policy_resources_resolve_to_logical_names() {
    let is_secret = |id: &str| id.ends_with("Secret");
    let written = r#"
        - !GetAtt UsersTable.Arn
        - !GetAtt [UsersTable, Arn]
        - {"Fn::GetAtt": [UploadsBucket, Arn]}
        - !Sub "${SessionsTable.Arn}/index/by_user"
        - {"Fn::Sub": "${UploadsBucket.Arn}/*"}
        - !Ref SigningKeysSecret
        - {"Ref": WebhookSecretsSecret}
        - !Sub "${SigningKeysSecret}"
        - !Sub "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"
        - "*"
    "#;
    let values: Vec<Yaml> = serde_yaml::from_str(written).expect("YAML");
    let names: Vec<String> = values
        .iter()
        .map(|v| resource_name(v, &is_secret).expect("resolvable"))
        .collect();
    assert_eq!(
        names,
        [
            "UsersTable",
            "UsersTable",
            "UploadsBucket",
            "SessionsTable/index/by_user",
            "UploadsBucket/*",
            "SigningKeysSecret",
            "WebhookSecretsSecret",
            "SigningKeysSecret",
            "ses:identity/*",
            "*",
        ]
    );
    let unresolvable = r#"
        - "arn:aws:dynamodb:us-east-1:123456789012:table/users"
        - !GetAtt UsersTable.StreamArn
        - !Sub "${UsersTable}/index/${IndexName}"
        - !Sub "arn:${AWS::Partition}:ses:eu-west-1:${AWS::AccountId}:identity/*"
        - !Join ["", [!GetAtt UsersTable.Arn, "/index/gsi1"]]
        - !Ref UsersTable
        - !Sub "${UploadsBucket}/*"
    "#;
    let values: Vec<Yaml> = serde_yaml::from_str(unresolvable).expect("YAML");
    for value in &values {
        assert!(
            resource_name(value, &is_secret).is_err(),
            "{value:?} should not resolve"
        );
    }
}

/// Changes the real data and asserts the problems list now has `expected`.
fn changing_reports(expected: &[&str], change: impl FnOnce(&mut Model)) {
    let mut model = load(&repo_root());
    let before = problems(&model);
    change(&mut model);
    let problems = problems(&model);
    for expected in expected {
        assert!(
            problems.iter().any(|p| p == expected) && !before.iter().any(|p| p == expected),
            "expected the new problem\n    {expected}\namong:\n  - {}",
            problems.join("\n  - ")
        );
    }
}

fn grant(action: &str, resource: &str) -> Grant {
    (action.to_owned(), resource.to_owned())
}

fn function<'a>(model: &'a mut Model, binary: &str) -> &'a mut Function {
    model
        .functions
        .get_mut(binary)
        .unwrap_or_else(|| panic!("{binary} in template.yaml"))
}

#[test]
fn a_granted_action_no_code_calls_is_reported() {
    let expected = "users: template.yaml grants dynamodb:DeleteItem on SessionsTable, which no \
                    code of functions/users calls (not in functions/users/iam.toml)";
    changing_reports(&[expected], |m| {
        let added = function(m, "users")
            .grants
            .insert(grant("dynamodb:DeleteItem", "SessionsTable"));
        assert!(
            added,
            "users is already granted DeleteItem on SessionsTable"
        );
    });
}

#[test]
fn a_called_action_the_template_does_not_grant_is_reported() {
    let expected = "auth: the code calls dynamodb:ConditionCheckItem on UsersTable \
                    (functions/auth/iam.toml), which template.yaml does not grant";
    changing_reports(&[expected], |m| {
        let removed = function(m, "auth")
            .grants
            .remove(&grant("dynamodb:ConditionCheckItem", "UsersTable"));
        assert!(
            removed,
            "auth is not granted ConditionCheckItem on UsersTable"
        );
    });
}

#[test]
fn a_grant_on_the_table_instead_of_its_index_is_reported_both_ways() {
    let expected = [
        "users: template.yaml grants dynamodb:Query on UsersTable, which no code of \
         functions/users calls (not in functions/users/iam.toml)",
        "users: the code calls dynamodb:Query on UsersTable/index/gsi1 \
         (functions/users/iam.toml), which template.yaml does not grant",
    ];
    changing_reports(&expected, |m| {
        let users = function(m, "users");
        assert!(
            users
                .grants
                .remove(&grant("dynamodb:Query", "UsersTable/index/gsi1"))
        );
        users.grants.insert(grant("dynamodb:Query", "UsersTable"));
    });
}

#[test]
fn granting_a_call_listed_as_never_made_when_deployed_is_reported() {
    let mut model = load(&repo_root());
    let health = model
        .tables
        .get("health")
        .expect("functions/health/iam.toml");
    let (never, reason) = health
        .not_granted
        .iter()
        .next()
        .map(|(grant, reason)| (grant.clone(), reason.clone()))
        .expect("a [not_granted] entry in functions/health/iam.toml");
    let (action, resource) = never.clone();
    let expected = format!(
        "health: template.yaml grants {action} on {resource}, which functions/health/iam.toml \
         lists as never called when deployed: {reason}"
    );
    function(&mut model, "health").grants.insert(never);
    let problems = problems(&model);
    assert!(
        problems.contains(&expected),
        "expected\n    {expected}\namong:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn a_function_directory_without_an_iam_toml_is_reported() {
    let expected = "functions/health: no iam.toml listing the AWS calls of its code \
                    (see tests/tests/iam.rs)";
    changing_reports(&[expected], |m| {
        m.tables
            .remove("health")
            .expect("functions/health/iam.toml");
    });
}

#[test]
fn an_index_its_table_does_not_declare_is_reported() {
    let expected = "auth: template.yaml names SessionsTable/index/by_owner, but SessionsTable \
                    has no index by_owner";
    changing_reports(&[expected], |m| {
        function(m, "auth")
            .grants
            .insert(grant("dynamodb:Query", "SessionsTable/index/by_owner"));
    });
}

#[test]
fn a_policy_this_test_cannot_read_is_reported() {
    let template = r#"
        Resources:
          UsersTable:
            Type: AWS::DynamoDB::Table
          BillingFunction:
            Type: AWS::Serverless::Function
            Metadata:
              BuildProperties:
                Binary: billing
            Properties:
              Policies:
                - DynamoDBCrudPolicy:
                    TableName: !Ref UsersTable
                - Statement:
                    - Effect: Allow
                      Action: dynamodb:GetItem
                      Resource: "arn:aws:dynamodb:us-east-1:123456789012:table/users"
                    - Effect: Allow
                      NotAction: dynamodb:DeleteTable
                      Resource: !GetAtt UsersTable.Arn
                    - Effect: Allow
                      Action: [dynamodb:Query]
                      Resource: !Sub "${UsersTable.Arn}/index/gsi1"
    "#;
    let template: Yaml = serde_yaml::from_str(template).expect("YAML");
    let billing = &template_functions(&template)["billing"];
    let expected = [
        "billing: Policies[0] of BillingFunction in template.yaml is not an inline `Statement:` \
         policy (a SAM policy template or a managed policy?): this test cannot tell what it \
         grants",
        "billing: Statement[1] of Policies[1] of BillingFunction in template.yaml uses \
         NotAction or NotResource, which this test cannot compare",
    ];
    for expected in expected {
        assert!(
            billing.unreadable.iter().any(|p| p == expected),
            "expected\n    {expected}\namong:\n  - {}",
            billing.unreadable.join("\n  - ")
        );
    }
    assert!(
        billing.unreadable.iter().any(|p| p.starts_with(
            "billing: Statement[0] of Policies[1] of BillingFunction in template.yaml grants \
             dynamodb:GetItem on arn:aws:dynamodb:"
        )),
        "a literal ARN is not reported:\n  - {}",
        billing.unreadable.join("\n  - ")
    );
    let query = grant("dynamodb:Query", "UsersTable/index/gsi1");
    assert_eq!(billing.grants, BTreeSet::from([query]));
}

#[test]
fn a_malformed_iam_toml_is_reported() {
    let table = action_table(
        "billing",
        r#"
        [calls.UsersTable]
        "dynamodb:GetItem" = ""
        "GetItem" = "no service prefix"

        [grants.UsersTable]
        "dynamodb:PutItem" = "an unknown table"
        "#,
    );
    let mut malformed = table.malformed;
    malformed.sort();
    assert_eq!(
        malformed,
        [
            "functions/billing/iam.toml: GetItem on UsersTable is not an IAM action \
             (service:Action)",
            "functions/billing/iam.toml: dynamodb:GetItem on UsersTable must say which code \
             makes the call",
            "functions/billing/iam.toml: unknown table [grants]; only [calls.<resource>] and \
             [not_granted.<resource>] are read",
        ]
    );
}
