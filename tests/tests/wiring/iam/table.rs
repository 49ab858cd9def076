//! The code's side: a `functions/<group>/iam.toml`, which lists every AWS call the group's code
//! makes, by resource, with the code that makes it (`[calls.<resource>]`), the calls it has
//! but never makes when deployed, with why (`[not_granted.<resource>]`), and the condition a
//! call must be granted under, if any (`[conditions.<resource>."<action>"]`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Conditions, Grant};

/// A `functions/<group>/iam.toml`.
#[derive(Debug, Clone, Default)]
pub(super) struct ActionTable {
    /// `[calls.<resource>]`: grant -> the code that makes the call.
    pub(super) calls: BTreeMap<Grant, String>,
    /// `[not_granted.<resource>]`: grant -> why the deployed function never makes it.
    pub(super) not_granted: BTreeMap<Grant, String>,
    /// `[conditions.<resource>."<action>"]`: grant -> the condition it must be granted under.
    pub(super) conditions: BTreeMap<Grant, Conditions>,
    /// What is wrong with the file itself.
    pub(super) malformed: Vec<String>,
}

/// Reads one `iam.toml`; what is wrong with it goes to `malformed`, so it is reported with the
/// rest.
pub(super) fn action_table(group: &str, text: &str) -> ActionTable {
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
            "conditions" => {
                read_conditions(&file, resources, &mut table);
                continue;
            }
            other => {
                table.malformed.push(format!(
                    "{file}: unknown table [{other}]; only [calls.<resource>], \
                     [not_granted.<resource>] and [conditions.<resource>.\"<action>\"] are read"
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
    for grant @ (action, resource) in table.conditions.keys() {
        if !table.calls.contains_key(grant) {
            table.malformed.push(format!(
                "{file}: [conditions] names {action} on {resource}, which [calls] does not list"
            ));
        }
    }
    table
}

/// `[conditions.<resource>."<action>"]`: operator -> { key -> value or list of values }.
fn read_conditions(file: &str, resources: &toml::Value, table: &mut ActionTable) {
    let resources = resources.as_table().into_iter().flatten();
    for (resource, actions) in resources {
        let actions = actions.as_table().into_iter().flatten();
        for (action, operators) in actions {
            let grant = (action.clone(), resource.clone());
            let conditions = operators.as_table().and_then(|operators| {
                let mut conditions = Conditions::new();
                for (operator, keys) in operators {
                    let entry = conditions.entry(operator.clone()).or_default();
                    for (key, values) in keys.as_table()? {
                        let values: BTreeSet<String> = match values {
                            toml::Value::Array(items) => items
                                .iter()
                                .map(|v| v.as_str().map(str::to_owned))
                                .collect::<Option<_>>()?,
                            single => BTreeSet::from([single.as_str()?.to_owned()]),
                        };
                        entry.insert(key.clone(), values);
                    }
                }
                (!conditions.is_empty()).then_some(conditions)
            });
            match conditions {
                Some(conditions) => {
                    table.conditions.insert(grant, conditions);
                }
                None => table.malformed.push(format!(
                    "{file}: [conditions.{resource}.\"{action}\"] must map each operator to \
                     {{ condition key = value or [values] }}"
                )),
            }
        }
    }
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

        [conditions.UsersTable."dynamodb:UpdateItem"]
        "ForAllValues:StringEquals" = { "dynamodb:Attributes" = ["pk", "tier"] }

        [conditions.UsersTable."dynamodb:GetItem"]
        "StringEquals" = "not a table of keys"
        "#,
    );
    let mut malformed = table.malformed;
    malformed.sort();
    assert_eq!(
        malformed,
        [
            "functions/billing/iam.toml: GetItem on UsersTable is not an IAM action \
             (service:Action)",
            "functions/billing/iam.toml: [conditions.UsersTable.\"dynamodb:GetItem\"] must map \
             each operator to { condition key = value or [values] }",
            "functions/billing/iam.toml: [conditions] names dynamodb:UpdateItem on UsersTable, \
             which [calls] does not list",
            "functions/billing/iam.toml: dynamodb:GetItem on UsersTable must say which code \
             makes the call",
            "functions/billing/iam.toml: unknown table [grants]; only [calls.<resource>], \
             [not_granted.<resource>] and [conditions.<resource>.\"<action>\"] are read",
        ]
    );
}
