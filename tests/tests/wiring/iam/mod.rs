//! Least-privilege IAM: each function is granted exactly the AWS calls its code makes, on
//! exactly the resources it makes them on.
//!
//! The local emulator (moto) does not enforce IAM: every call succeeds whatever the template
//! grants, so a missing grant would first show as `AccessDenied` in a deployed stage, and a
//! grant no code needs would never show at all. This test is the only local guard.
//!
//! `functions/<group>/iam.toml`, kept next to the code, lists every DynamoDB, S3, SES, SQS and
//! Secrets Manager action that function's code calls (its own sources and the `identity`,
//! `queue` and `shared` code it reaches), by the resource it calls it on, each with the code that
//! makes the call. A worker's `iam.toml` lists the calls of its event source mapping too
//! (`sqs:ReceiveMessage`, `sqs:DeleteMessage`, `sqs:GetQueueAttributes` on its queue): Lambda's
//! pollers make them with the function's role, so its `Policies` must grant them like the rest:
//!
//! ```toml
//! [calls."SessionsTable/index/by_user"]
//! "dynamodb:Query" = "Sessions::revoke_all (logout-all, password reset)"
//! ```
//!
//! `[not_granted.<resource>]` holds calls the code has but the deployed function never makes,
//! with the reason. `[conditions.<resource>."<action>"]` holds the IAM `Condition` a call must be
//! granted under, where the code reaches only part of a resource (the job worker: only the reset
//! and tier attributes of user items):
//!
//! ```toml
//! [conditions.UsersTable."dynamodb:UpdateItem"]
//! "ForAllValues:StringEquals" = { "dynamodb:Attributes" = ["pk", "reset_jtis", "tier"] }
//! ```
//!
//! Every statement of the template granting that call must carry exactly that condition (same
//! operators, keys and values, in any order); one statement without it would grant the call
//! unconditionally. A condition the table does not declare is not compared (such as auth's
//! `ses:FromAddress`). This reads the `Policies` of the function with `BuildProperties.Binary:
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
//! (review it with the code).
//! [`table`] reads the `iam.toml` files, [`policy`] the template's policies; [`load`] reads both
//! and [`problems`] compares them. It is pure, so the tests ([`tests`]) change the real data in
//! memory and check that the change is reported. No emulator, no AWS.

mod policy;
mod table;
mod tests;

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use crate::repo;
use policy::{Function, template_functions, template_resources};
use table::{ActionTable, action_table};

/// `(action, resource)`, e.g. `("dynamodb:Query", "SessionsTable/index/by_user")`.
type Grant = (String, String);

/// A statement's `Condition`: operator -> condition key -> values (a single value is a list of
/// one; a value that is not a string, such as `!Ref MailFrom`, is shown as written). Empty: no
/// condition.
type Conditions = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// `conditions` as one line: `Op key [v, w]; Op2 key2 [x]`, or `no condition`.
fn show_conditions(conditions: &Conditions) -> String {
    if conditions.is_empty() {
        return "no condition".to_owned();
    }
    let parts = conditions.iter().flat_map(|(operator, keys)| {
        keys.iter().map(move |(key, values)| {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            format!("{operator} {key} [{}]", values.join(", "))
        })
    });
    parts.collect::<Vec<_>>().join("; ")
}

/// A [`Grant`] from its parts.
fn grant(action: &str, resource: &str) -> Grant {
    (action.to_owned(), resource.to_owned())
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

/// Reads the template and every `iam.toml`.
fn load() -> Model {
    let groups = repo::dirs("functions");
    let tables = groups.iter().filter_map(|group| {
        let file = format!("functions/{group}/iam.toml");
        let text = repo::root()
            .join(&file)
            .is_file()
            .then(|| repo::read(&file))?;
        Some((group.clone(), action_table(group, &text)))
    });
    let tables = tables.collect();
    let template = repo::template();
    Model {
        groups,
        functions: template_functions(&template),
        resources: template_resources(&template),
        tables,
    }
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

/// Every difference between the template and the tables, one message each.
fn problems(model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    for group in &model.groups {
        if !model.tables.contains_key(group) {
            out.push(format!(
                "functions/{group}: no iam.toml listing the AWS calls of its code \
                 (see tests/tests/wiring/iam/mod.rs)"
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
        for (grant @ (action, resource), required) in &table.conditions {
            let given = function.conditions.get(grant).into_iter().flatten();
            for given in given.filter(|given| *given != required) {
                out.push(format!(
                    "{binary}: template.yaml grants {action} on {resource} under {}, where {file} \
                     requires {}",
                    show_conditions(given),
                    show_conditions(required)
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
