//! UsersTable's listing index: it projects every attribute a user is read from, so the admin
//! listing reads whole users, and none of those every authenticated request writes (the
//! rate-limit counters, the ended sessions, the kept session), so those writes never reach the
//! index's single partition (`gsi1pk = USER` for every user), where all users' requests would
//! share one partition's write throughput.

use std::collections::BTreeSet;

use identity::domain::{Email, PersonName, Username};
use identity::store::users::{NewUser, User, repo::LISTING_INDEX};
use shared::dynamo::Item;

use crate::repo::{self, Yaml};

/// The attributes only the access check writes, on every authenticated request.
const PER_REQUEST: [&str; 3] = [shared::ratelimit::COUNTERS, "ended", "keep_sid"];

/// The listing index of `template`: its keys and projected attributes, or why it cannot be read.
fn listing_index(template: &Yaml) -> Result<(BTreeSet<String>, BTreeSet<String>), String> {
    let indexes = template["Resources"]["UsersTable"]["Properties"]["GlobalSecondaryIndexes"]
        .as_sequence()
        .ok_or("UsersTable has no GlobalSecondaryIndexes")?;
    let index = indexes
        .iter()
        .find(|i| i["IndexName"].as_str() == Some(LISTING_INDEX))
        .ok_or_else(|| format!("UsersTable has no index {LISTING_INDEX}"))?;
    let keys = index["KeySchema"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|k| k["AttributeName"].as_str().map(str::to_owned))
        .collect();
    let projection = &index["Projection"];
    if projection["ProjectionType"].as_str() != Some("INCLUDE") {
        return Err(format!(
            "{LISTING_INDEX} projects {}: INCLUDE names what it carries",
            repo::shown(&projection["ProjectionType"])
        ));
    }
    let attributes = projection["NonKeyAttributes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    Ok((keys, attributes))
}

/// The problems of the listing index in `template`.
fn problems(template: &Yaml) -> Vec<String> {
    let (keys, attributes) = match listing_index(template) {
        Ok(found) => found,
        Err(problem) => return vec![problem],
    };
    let mut problems: Vec<String> = PER_REQUEST
        .iter()
        .filter(|a| attributes.contains(**a))
        .map(|a| format!("{LISTING_INDEX} projects {a}, which every authenticated request writes"))
        .collect();
    // What a query of the index returns: the table's key, the index's keys, the projection.
    let user = sample_user();
    let full = Item::from(&user);
    let seen: Item = full
        .iter()
        .filter(|(name, _)| {
            name.as_str() == "pk" || keys.contains(*name) || attributes.contains(*name)
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    match User::try_from(&seen) {
        Ok(read) if format!("{read:?}") == format!("{user:?}") => {}
        Ok(read) => problems.push(format!(
            "a user read from {LISTING_INDEX} differs from the stored one: {read:?}"
        )),
        Err(e) => problems.push(format!(
            "a user cannot be read from what {LISTING_INDEX} projects: {e}"
        )),
    }
    problems
}

fn sample_user() -> User {
    NewUser {
        username: Username::parse("jane_doe").expect("username"),
        email: Email::parse("jane@example.com").expect("email"),
        first_name: PersonName::parse("Jane", "first_name").expect("name"),
        last_name: PersonName::parse("Doe", "last_name").expect("name"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        roles: vec!["user".to_owned()],
    }
    .into_user("u-1".to_owned(), "2026-01-01T00:00:00Z".to_owned())
}

#[test]
fn the_listing_index_reads_whole_users_and_carries_nothing_a_request_writes() {
    crate::assert_no_problems("UsersTable's listing index", &problems(&repo::template()));
}

/// Replaces the listing index's `NonKeyAttributes` in the template with `attributes`.
fn with_projection(attributes: &[&str]) -> Yaml {
    let mut template = repo::template();
    let indexes = template["Resources"]["UsersTable"]["Properties"]["GlobalSecondaryIndexes"]
        .as_sequence_mut()
        .expect("indexes");
    let index = indexes
        .iter_mut()
        .find(|i| i["IndexName"].as_str() == Some(LISTING_INDEX))
        .expect("the listing index");
    index["Projection"]["NonKeyAttributes"] =
        Yaml::Sequence(attributes.iter().map(|a| Yaml::from(*a)).collect());
    template
}

#[test]
fn an_index_projecting_the_counters_is_reported() {
    let (_, mut attributes) = listing_index(&repo::template()).expect("the listing index");
    attributes.insert(shared::ratelimit::COUNTERS.to_owned());
    let names: Vec<&str> = attributes.iter().map(String::as_str).collect();
    let problems = problems(&with_projection(&names));
    assert_eq!(
        problems,
        [format!(
            "{LISTING_INDEX} projects rl, which every authenticated request writes"
        )]
    );
}

#[test]
fn an_index_missing_an_attribute_a_user_is_read_from_is_reported() {
    let (_, attributes) = listing_index(&repo::template()).expect("the listing index");
    let names: Vec<&str> = attributes
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "email")
        .collect();
    let problems = problems(&with_projection(&names));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("a user cannot be read from what by_created projects"),
        "{problems:?}"
    );
}
