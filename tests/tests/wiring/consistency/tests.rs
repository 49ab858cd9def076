//! The real wiring is complete, and breaking any one piece of it is reported, in words that
//! name the place to fix.

use super::check::problems;
use super::{Wiring, load};
use crate::{Change, assert_no_problems, each_change_is_reported};

#[test]
fn every_route_group_is_wired_everywhere() {
    let wiring = load();
    assert!(!wiring.groups.is_empty(), "no directories under functions/");
    assert_no_problems("route groups are half-wired", &problems(&wiring));
}

/// Removes the items that match from `items`, which must hold one: a break of a piece the real
/// wiring no longer has would prove nothing.
fn remove<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool) {
    let before = items.len();
    items.retain(|item| !matches(item));
    assert_ne!(
        items.len(),
        before,
        "the piece to remove is not in the real wiring"
    );
}

const BREAKING: &[Change<Wiring>] = &[
    Change {
        case: "a route without a template event is reported",
        expected: &[
            "functions/health: GET /health/liveness has no Api event in template.yaml \
                     (function with BuildProperties.Binary: health)",
        ],
        change: |w| {
            let health = w
                .template
                .get_mut("health")
                .expect("health in template.yaml");
            remove(health, |(m, p)| m == "GET" && p == "/health/liveness");
        },
    },
    Change {
        case: "a group missing from the workspace members is reported",
        expected: &["functions/users: not in [workspace] members of Cargo.toml"],
        change: |w| remove(&mut w.members, |m| m == "functions/users"),
    },
    Change {
        case: "a route the watch router sends to another group is reported",
        expected: &[
            "functions/users: GET /api/v1/users/{id} (as /api/v1/users/x) goes to health by \
             \"/{*rest}\" in [workspace.metadata.lambda.watch.router] of Cargo.toml",
        ],
        change: |w| remove(&mut w.watch_router, |(p, _)| p == "/api/v1/users/{*rest}"),
    },
    Change {
        case: "a route without events is reported",
        expected: &[
            "functions/users: PATCH /api/v1/users/{id} has no event in events/users/ \
                     (httpMethod PATCH, resource /api/v1/users/{id})",
        ],
        change: |w| {
            let users = w.events.get_mut("users").expect("events/users/");
            remove(users, |e| {
                e.method == "PATCH" && e.resource == "/api/v1/users/{id}"
            });
        },
    },
    Change {
        case: "a group without a measure probe is reported",
        expected: &[
            "functions/auth: no event of events/auth/ has \"probe\": true in its sidecar \
                     (the event `make bench` measures the cold start with)",
        ],
        change: |w| {
            let auth = w.events.get_mut("auth").expect("events/auth/");
            assert!(auth.iter().any(|e| e.probe), "no probe in events/auth/");
            auth.iter_mut().for_each(|e| e.probe = false);
        },
    },
    Change {
        case: "a group with two measure probes is reported",
        expected: &[
            "functions/users: 2 events of events/users/ have \"probe\": true in their sidecar \
             (events/users/me-without-token.json, events/users/me.json); `make bench` measures \
             the cold start with exactly one",
        ],
        change: |w| {
            let users = w.events.get_mut("users").expect("events/users/");
            let me = users.iter_mut().find(|e| e.file == "events/users/me.json");
            me.expect("events/users/me.json").probe = true;
        },
    },
    Change {
        case: "a template route no router serves is reported",
        expected: &[
            "template.yaml: Api event POST /api/v1/users/export of the function with \
                     BuildProperties.Binary: users is not served by the router of functions/users",
        ],
        change: |w| {
            let users = w.template.get_mut("users").expect("users in template.yaml");
            users.push(("POST".to_owned(), "/api/v1/users/export".to_owned()));
        },
    },
    Change {
        case: "a new group wired nowhere is reported in every place",
        expected: &[
            "functions/billing: not in [workspace] members of Cargo.toml",
            "functions/billing: no `billing = { path = \"functions/billing\" }` in \
             [workspace.dependencies] of Cargo.toml",
            "functions/billing: no event of events/billing/ has \"probe\": true in its sidecar \
             (the event `make bench` measures the cold start with)",
            "functions/billing: no function with BuildProperties.Binary: billing in template.yaml",
            "functions/billing: unknown to the e2e harness: add it to functions!(...) in \
             tests/src/lib.rs",
        ],
        change: |w| w.groups.push("billing".to_owned()),
    },
    Change {
        case: "a name without a functions directory is reported",
        expected: &[
            "[workspace.metadata.lambda.watch.router] of Cargo.toml: \"/api/v1/users/{*rest}\" \
             names users, which has no functions/users directory",
        ],
        change: |w| w.groups.retain(|g| g != "users"),
    },
    Change {
        case: "a route missing from its openapi document is reported twice",
        expected: &[
            "functions/uploads: POST /api/v1/uploads/{id}/complete is not in its OpenAPI \
             document (#[utoipa::path] on the handler, listed in uploads::openapi())",
            "functions/uploads: POST /api/v1/uploads/{id}/complete is not in the merged \
             document (docs::document())",
        ],
        change: |w| {
            let complete =
                |(m, p): &(String, String)| m == "POST" && p == "/api/v1/uploads/{id}/complete";
            remove(
                w.openapi.get_mut("uploads").expect("uploads documented"),
                complete,
            );
            remove(&mut w.merged, complete);
        },
    },
    Change {
        case: "a documented path no router serves is reported",
        expected: &[
            "functions/docs: its OpenAPI document has GET /docs/{*file}, which its \
                     router does not serve",
        ],
        change: |w| {
            let docs = w.harness.get_mut("docs").expect("docs routes");
            remove(docs, |(m, p)| m == "GET" && p == "/docs/{*file}");
            // The template and the events would report it too; keep this to the document.
            let template = w.template.get_mut("docs").expect("docs in template.yaml");
            remove(template, |(_, p)| p == "/docs/{*file}");
            let events = w.events.get_mut("docs").expect("docs events");
            remove(events, |e| e.resource == "/docs/{*file}");
        },
    },
];

#[test]
fn breaking_one_piece_of_the_wiring_reports_it() {
    each_change_is_reported(&load(), problems, BREAKING);
}
