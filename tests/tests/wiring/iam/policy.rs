//! The template's side: what the `Policies` of each function in `template.yaml` grant, every
//! statement's resources resolved to the logical names the `iam.toml` files use, and what this
//! check cannot read (reported, never skipped).

use std::collections::{BTreeMap, BTreeSet};

use super::{Conditions, Grant, grant};
use crate::repo::{self, Yaml};

/// One `AWS::Serverless::Function` of the template.
#[derive(Debug, Clone, Default)]
pub(super) struct Function {
    /// `AuthFunction`.
    pub(super) logical_id: String,
    /// What its `Policies` allow.
    pub(super) grants: BTreeSet<Grant>,
    /// The conditions each grant is given under, one per statement granting it (an empty map:
    /// a statement without a `Condition`).
    pub(super) conditions: BTreeMap<Grant, BTreeSet<Conditions>>,
    /// What this test cannot compare, as messages.
    pub(super) unreadable: Vec<String>,
}

/// Every logical id of the template, with the index names of the tables.
pub(super) fn template_resources(template: &Yaml) -> BTreeMap<String, Vec<String>> {
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
pub(super) fn template_functions(template: &Yaml) -> BTreeMap<String, Function> {
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
    for repo::Function {
        id,
        binary,
        resource,
    } in repo::functions(template)
    {
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
            let conditions = match statement.get("Condition") {
                None => Conditions::new(),
                Some(condition) => match read_conditions(condition) {
                    Some(conditions) => conditions,
                    None => {
                        unreadable(format!(
                            "{place} has a Condition that is not operator -> key -> value(s): \
                             {}",
                            repo::shown(condition)
                        ));
                        continue;
                    }
                },
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
                        for action in &actions {
                            let granted = (action.clone(), name.clone());
                            (function.conditions.entry(granted.clone()).or_default())
                                .insert(conditions.clone());
                            grants.push(granted);
                        }
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

/// A statement's `Condition` block as [`Conditions`]; `None` when it is not a mapping of
/// operators to mappings of keys to a value or a list of values.
fn read_conditions(condition: &Yaml) -> Option<Conditions> {
    let value = |value: &Yaml| match value {
        Yaml::String(text) => text.clone(),
        other => repo::shown(other),
    };
    let mut conditions = Conditions::new();
    for (operator, keys) in condition.as_mapping()? {
        let keys = keys.as_mapping()?;
        let entry = conditions.entry(operator.as_str()?.to_owned()).or_default();
        for (key, values) in keys {
            let values = match values {
                Yaml::Sequence(items) => items.iter().map(value).collect(),
                single => BTreeSet::from([value(single)]),
            };
            entry.insert(key.as_str()?.to_owned(), values);
        }
    }
    Some(conditions)
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
    let shown = || repo::shown(value);
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
    let values = repo::yaml("resources", written);
    let values = values.as_sequence().expect("a list");
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
    let values = repo::yaml("unresolvable resources", unresolvable);
    let values = values.as_sequence().expect("a list");
    for value in values {
        assert!(
            resource_name(value, &is_secret).is_err(),
            "{value:?} should not resolve"
        );
    }
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
    let template = repo::yaml("a template", template);
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
fn a_statements_condition_is_kept_with_each_of_its_grants() {
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
                - Statement:
                    - Effect: Allow
                      Action: [dynamodb:UpdateItem, dynamodb:GetItem]
                      Resource: !GetAtt UsersTable.Arn
                      Condition:
                        ForAllValues:StringEquals:
                          dynamodb:Attributes: [pk, tier]
                        StringEquals:
                          aws:SourceAccount: !Ref AWS::AccountId
                    - Effect: Allow
                      Action: dynamodb:GetItem
                      Resource: !GetAtt UsersTable.Arn
                    - Effect: Allow
                      Action: dynamodb:PutItem
                      Resource: !GetAtt UsersTable.Arn
                      Condition: !If [Never, {}, {}]
    "#;
    let template = repo::yaml("a template", template);
    let billing = &template_functions(&template)["billing"];
    let conditioned: super::Conditions = BTreeMap::from([
        (
            "ForAllValues:StringEquals".to_owned(),
            BTreeMap::from([(
                "dynamodb:Attributes".to_owned(),
                BTreeSet::from(["pk".to_owned(), "tier".to_owned()]),
            )]),
        ),
        (
            "StringEquals".to_owned(),
            BTreeMap::from([(
                "aws:SourceAccount".to_owned(),
                BTreeSet::from(["!Ref AWS::AccountId".to_owned()]),
            )]),
        ),
    ]);
    let update = grant("dynamodb:UpdateItem", "UsersTable");
    let get = grant("dynamodb:GetItem", "UsersTable");
    assert_eq!(
        billing.conditions[&update],
        BTreeSet::from([conditioned.clone()])
    );
    assert_eq!(
        billing.conditions[&get],
        BTreeSet::from([conditioned, super::Conditions::new()]),
        "one entry per statement: the unconditioned one too"
    );
    assert!(
        billing.unreadable.iter().any(|p| p.starts_with(
            "billing: Statement[2] of Policies[0] of BillingFunction in template.yaml has a \
             Condition that is not operator -> key -> value(s)"
        )),
        "{:?}",
        billing.unreadable
    );
    assert!(
        !billing
            .grants
            .contains(&grant("dynamodb:PutItem", "UsersTable"))
    );
}
