//! The real template grants exactly what the real tables list, and changing either side in
//! memory is reported, naming the function, the action and the resource.

use super::policy::Function;
use super::{Model, grant, load, problems};
use crate::{Change, assert_no_problems, each_change_is_reported, repo};

#[test]
fn every_function_directory_has_an_iam_toml() {
    let groups = repo::dirs("functions");
    assert!(!groups.is_empty(), "no directories under functions/");
    let missing: Vec<String> = groups
        .iter()
        .map(|g| format!("functions/{g}/iam.toml"))
        .filter(|file| !repo::root().join(file).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "every function lists the AWS calls of its code next to it; missing: {}",
        missing.join(", ")
    );
}

#[test]
fn the_template_grants_each_function_exactly_the_calls_its_code_makes() {
    let model = load();
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
    assert_no_problems(
        "template.yaml and functions/*/iam.toml disagree",
        &problems(&model),
    );
}

/// The conditions the template grants the job worker's user updates under.
fn user_update(model: &mut Model) -> &mut std::collections::BTreeSet<super::Conditions> {
    let update = grant("dynamodb:UpdateItem", "UsersTable");
    function(model, "jobs")
        .conditions
        .get_mut(&update)
        .expect("jobs is granted UpdateItem on UsersTable")
}

/// The job worker writes a user's reset links and tier (the tier job, from a webhook: issue 20)
/// and nothing else of the users table: its `iam.toml` requires the condition, and [`problems`]
/// then holds the template to it.
#[test]
fn the_workers_user_updates_reach_only_the_attributes_they_write() {
    let model = load();
    let update = grant("dynamodb:UpdateItem", "UsersTable");
    let required = model.tables["jobs"]
        .conditions
        .get(&update)
        .expect("functions/jobs/iam.toml conditions its UpdateItem on UsersTable");
    let attributes = &required["ForAllValues:StringEquals"]["dynamodb:Attributes"];
    assert_eq!(
        attributes.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "pk",
            "reset_jtis",
            "tier",
            "tier_event_created",
            "updated_at",
            "version"
        ]
    );
    assert_eq!(
        required["StringEqualsIfExists"]["dynamodb:ReturnValues"],
        std::collections::BTreeSet::from(["NONE".to_owned()]),
        "no ReturnValues that would read the rest of the item"
    );
    let given = &model.functions["jobs"].conditions[&update];
    assert!(
        given.iter().all(|c| c == required),
        "every statement granting it carries the condition: {given:?}"
    );
}

fn function<'a>(model: &'a mut Model, binary: &str) -> &'a mut Function {
    model
        .functions
        .get_mut(binary)
        .unwrap_or_else(|| panic!("{binary} in template.yaml"))
}

const CHANGES: &[Change<Model>] = &[
    Change {
        case: "a granted action no code calls is reported",
        expected: &[
            "users: template.yaml grants dynamodb:DeleteItem on SessionsTable, which no \
                     code of functions/users calls (not in functions/users/iam.toml)",
        ],
        change: |m| {
            let added = function(m, "users")
                .grants
                .insert(grant("dynamodb:DeleteItem", "SessionsTable"));
            assert!(
                added,
                "users is already granted DeleteItem on SessionsTable"
            );
        },
    },
    Change {
        case: "a called action the template does not grant is reported",
        expected: &[
            "auth: the code calls dynamodb:ConditionCheckItem on UsersTable \
                     (functions/auth/iam.toml), which template.yaml does not grant",
        ],
        change: |m| {
            let removed = function(m, "auth")
                .grants
                .remove(&grant("dynamodb:ConditionCheckItem", "UsersTable"));
            assert!(
                removed,
                "auth is not granted ConditionCheckItem on UsersTable"
            );
        },
    },
    Change {
        case: "a grant on the table instead of its index is reported both ways",
        expected: &[
            "users: template.yaml grants dynamodb:Query on UsersTable, which no code of \
             functions/users calls (not in functions/users/iam.toml)",
            "users: the code calls dynamodb:Query on UsersTable/index/by_created \
             (functions/users/iam.toml), which template.yaml does not grant",
        ],
        change: |m| {
            let users = function(m, "users");
            let index = grant("dynamodb:Query", "UsersTable/index/by_created");
            assert!(
                users.grants.remove(&index),
                "users is not granted {index:?}"
            );
            users.grants.insert(grant("dynamodb:Query", "UsersTable"));
        },
    },
    Change {
        case: "a function directory without an iam.toml is reported",
        expected: &[
            "functions/health: no iam.toml listing the AWS calls of its code \
                     (see tests/tests/wiring/iam/mod.rs)",
        ],
        change: |m| {
            let removed = m.tables.remove("health");
            removed.expect("functions/health/iam.toml");
        },
    },
    Change {
        case: "an index its table does not declare is reported",
        expected: &[
            "auth: template.yaml names SessionsTable/index/by_owner, but SessionsTable \
                     has no index by_owner",
        ],
        change: |m| {
            let by_owner = grant("dynamodb:Query", "SessionsTable/index/by_owner");
            function(m, "auth").grants.insert(by_owner);
        },
    },
    Change {
        case: "a call granted without the condition its table requires is reported",
        expected: &[concat!(
            "jobs: template.yaml grants dynamodb:UpdateItem on UsersTable under no \
             condition, where functions/jobs/iam.toml requires ",
            "ForAllValues:StringEquals dynamodb:Attributes [pk, reset_jtis, tier, \
             tier_event_created, updated_at, version]; ForAllValues:StringLike dynamodb:LeadingKeys [USER#*]; \
             StringEqualsIfExists dynamodb:ReturnValues [NONE]"
        )],
        change: |m| {
            let conditions = user_update(m);
            assert!(
                conditions.iter().all(|c| !c.is_empty()),
                "the user update is already granted without a condition"
            );
            conditions.clear();
            conditions.insert(super::Conditions::new());
        },
    },
    Change {
        case: "a second statement granting a conditioned call without the condition is reported",
        expected: &[concat!(
            "jobs: template.yaml grants dynamodb:UpdateItem on UsersTable under no \
             condition, where functions/jobs/iam.toml requires ",
            "ForAllValues:StringEquals dynamodb:Attributes [pk, reset_jtis, tier, \
             tier_event_created, updated_at, version]; ForAllValues:StringLike dynamodb:LeadingKeys [USER#*]; \
             StringEqualsIfExists dynamodb:ReturnValues [NONE]"
        )],
        change: |m| {
            user_update(m).insert(super::Conditions::new());
        },
    },
    Change {
        case: "a condition that lets the call reach another attribute is reported",
        expected: &[concat!(
            "jobs: template.yaml grants dynamodb:UpdateItem on UsersTable under \
             ForAllValues:StringEquals dynamodb:Attributes [pk, reset_jtis, roles, tier, \
             tier_event_created, updated_at, version]; ForAllValues:StringLike dynamodb:LeadingKeys \
             [USER#*]; StringEqualsIfExists dynamodb:ReturnValues [NONE], where \
             functions/jobs/iam.toml requires ",
            "ForAllValues:StringEquals dynamodb:Attributes [pk, reset_jtis, tier, \
             tier_event_created, updated_at, version]; ForAllValues:StringLike dynamodb:LeadingKeys [USER#*]; \
             StringEqualsIfExists dynamodb:ReturnValues [NONE]"
        )],
        change: |m| {
            let conditions = user_update(m);
            let mut widened: Vec<super::Conditions> = conditions.iter().cloned().collect();
            for condition in &mut widened {
                let attributes = condition
                    .get_mut("ForAllValues:StringEquals")
                    .and_then(|keys| keys.get_mut("dynamodb:Attributes"))
                    .expect("the user update names its attributes");
                attributes.insert("roles".to_owned());
            }
            *conditions = widened.into_iter().collect();
        },
    },
];

#[test]
fn changing_the_template_or_a_table_reports_it() {
    each_change_is_reported(&load(), problems, CHANGES);
}

#[test]
fn granting_a_call_listed_as_never_made_when_deployed_is_reported() {
    let mut model = load();
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
