//! The real wiring is complete, and breaking any one piece of it is reported, in words that
//! name the place to fix.

use super::check::problems;
use super::{ApiEvent, Event, Wiring, load, workers};
use crate::{Change, assert_no_problems, each_change_is_reported, repo};

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
            remove(health, |e| {
                e.method == "GET" && e.path == "/health/liveness"
            });
        },
    },
    Change {
        case: "a group missing from the workspace members is reported",
        expected: &["functions/users: not in [workspace] members of Cargo.toml"],
        change: |w| remove(&mut w.members, |m| m == "functions/users"),
    },
    Change {
        case: "a group tests/Cargo.toml does not name by path is reported",
        expected: &[
            "functions/users: no `users = { path = \"../functions/users\" }` in [dependencies] \
             of tests/Cargo.toml",
            "functions/uploads: [dependencies] of tests/Cargo.toml has uploads at \
             \"../functions/users\", not \"../functions/uploads\"",
        ],
        change: |w| {
            w.test_deps
                .remove("users")
                .expect("users in tests/Cargo.toml");
            let uploads = w.test_deps.get_mut("uploads");
            *uploads.expect("uploads in tests/Cargo.toml") = "../functions/users".to_owned();
        },
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
            users.push(api_event("Export", "POST", "/api/v1/users/export", None));
        },
    },
    Change {
        case: "a new group wired nowhere is reported in every place",
        expected: &[
            "functions/billing: not in [workspace] members of Cargo.toml",
            "functions/billing: no `billing = { path = \"../functions/billing\" }` in \
             [dependencies] of tests/Cargo.toml",
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
            "the local gateway's route table (infra/local/gateway.py --routes) names users, \
             which has no functions/users directory",
            "template.yaml: BuildProperties.Binary names users, which has no functions/users \
             directory",
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
            remove(template, |e| e.path == "/docs/{*file}");
            let events = w.events.get_mut("docs").expect("docs events");
            remove(events, |e| e.resource == "/docs/{*file}");
        },
    },
    Change {
        case: "a path without a preflight is reported",
        expected: &[
            "template.yaml: /api/v1/auth/login (function with BuildProperties.Binary: auth) has \
             no OPTIONS event: a browser's CORS preflight would get API Gateway's \
             MISSING_AUTHENTICATION_TOKEN; add `<Event>Preflight: {Type: Api, Properties: \
             {RestApiId: !Ref Api, Path: \"/api/v1/auth/login\", Method: OPTIONS, Auth: \
             {ApiKeyRequired: false}}}`",
        ],
        change: |w| remove(template_of(w, "auth"), |e| e.name == "LoginPreflight"),
    },
    Change {
        case: "a preflight that may require the API key is reported",
        expected: &[
            "template.yaml: SignupPreflight (OPTIONS /api/v1/auth/signup, function with \
             BuildProperties.Binary: auth) does not set `Auth: {ApiKeyRequired: false}`: a \
             browser sends no API key on a preflight",
            "template.yaml: MePreflight (OPTIONS /api/v1/users/me, function with \
             BuildProperties.Binary: users) does not set `Auth: {ApiKeyRequired: false}`: a \
             browser sends no API key on a preflight",
        ],
        change: |w| {
            // Requiring it outright, and leaving it to the stage's RequireApiKey.
            let signup = event_of(w, "auth", "SignupPreflight");
            signup.api_key_required = Some(true);
            event_of(w, "users", "MePreflight").api_key_required = None;
        },
    },
    Change {
        case: "a preflight for a path without other events is reported",
        expected: &[
            "template.yaml: ExportPreflight (OPTIONS /api/v1/users/export, function with \
             BuildProperties.Binary: users) is a preflight for a path with no other Api event \
             of the function",
        ],
        change: |w| {
            let event = api_event(
                "ExportPreflight",
                "OPTIONS",
                "/api/v1/users/export",
                Some(false),
            );
            template_of(w, "users").push(event);
        },
    },
    Change {
        case: "a HEAD event on a path the router has no GET for is reported",
        expected: &[
            "template.yaml: Api event HEAD /api/v1/auth/login of the function with \
             BuildProperties.Binary: auth is not served by the router of functions/auth (a HEAD \
             is answered by the GET route of its path, and it has none)",
        ],
        change: |w| {
            let head = api_event("LoginHead", "HEAD", "/api/v1/auth/login", Some(false));
            template_of(w, "auth").push(head);
        },
    },
    Change {
        case: "a template event the local gateway does not route is reported",
        expected: &[
            "template.yaml: Api event GET /api/v1/users of the function with \
             BuildProperties.Binary: users is not routed to users by the local gateway \
             (infra/local/gateway.py --routes)",
        ],
        change: |w| {
            let users = w
                .gateway
                .get_mut("users")
                .expect("users in the gateway's table");
            remove(users, |(m, p)| m == "GET" && p == "/api/v1/users");
        },
    },
    Change {
        case: "a gateway route the template does not have is reported",
        expected: &[
            "the local gateway (infra/local/gateway.py --routes) sends GET / to health, which \
             has no such Api event in template.yaml",
        ],
        change: |w| {
            let health = w
                .gateway
                .get_mut("health")
                .expect("health in the gateway's table");
            health.push(("GET".to_owned(), "/".to_owned()));
        },
    },
    // The worker's cases name the job worker, the one the real template has.
    Change {
        case: "a worker listed in the harness's functions is reported",
        expected: &[
            "functions/jobs: serves no route (JobsFunction has no Api event; JobsQueueMapping \
             invokes it): take it out of functions!(...) in tests/src/lib.rs, which lists route \
             groups",
        ],
        change: |w| {
            assert!(w.workers.contains_key("jobs"), "jobs is not a worker");
            w.harness.insert("jobs".to_owned(), Vec::new());
        },
    },
    Change {
        case: "a worker without events is reported",
        expected: &[
            "functions/jobs: no event in events/jobs/ (an SQS event as JobsQueueMapping hands it \
             over, {\"Records\": [...]}, replayed through the worker by \
             tests/tests/events_replay.rs)",
        ],
        change: |w| {
            w.events.remove("jobs").expect("events/jobs/");
        },
    },
    Change {
        case: "an api gateway event among a worker's events is reported",
        expected: &[
            "events/jobs/liveness.json: not an SQS event ({\"Records\": [...]}, each record with \
             \"eventSource\": \"aws:sqs\"), which is what JobsQueueMapping hands the worker \
             functions/jobs",
        ],
        change: |w| {
            let jobs = w.events.get_mut("jobs").expect("events/jobs/");
            jobs.push(event(
                "events/jobs/liveness.json",
                "GET",
                "/health/liveness",
                false,
            ));
        },
    },
    Change {
        case: "an sqs event among a route group's events is reported",
        expected: &[
            "events/users/job.json: an SQS event, but functions/users serves routes: SQS events \
             belong under the events/ of a worker (a function an event source mapping invokes)",
        ],
        change: |w| {
            let users = w.events.get_mut("users").expect("events/users/");
            users.push(event("events/users/job.json", "", "", true));
        },
    },
    Change {
        case: "a worker invoked from something other than a queue is reported",
        expected: &[
            "functions/jobs: JobsFunction is invoked by JobsQueueMapping, not all from an \
             AWS::SQS::Queue of template.yaml (EventSourceArn: !GetAtt <Queue>.Arn): the wiring \
             checks and the event replay know SQS workers only",
        ],
        change: |w| {
            let jobs = w.workers.get_mut("jobs").expect("jobs is a worker");
            assert!(jobs.sqs, "JobsQueueMapping does not read a queue");
            jobs.sqs = false;
        },
    },
    Change {
        case: "a documented route no router serves is reported",
        expected: &[
            "the merged document (docs::document()) has POST /api/v1/jobs, which no router of \
             functions!(...) in tests/src/lib.rs serves",
        ],
        change: |w| {
            w.merged
                .push(("POST".to_owned(), "/api/v1/jobs".to_owned()));
        },
    },
];

/// An event file of `events/`.
fn event(file: &str, method: &str, resource: &str, sqs: bool) -> Event {
    Event {
        method: method.to_owned(),
        resource: resource.to_owned(),
        file: file.to_owned(),
        probe: false,
        sqs,
    }
}

/// A worker is read from the template, not named: a function with no `Api` event that an event
/// source mapping invokes, by `!Ref` or `!GetAtt <Function>.Arn`. A function with routes stays a
/// route group with a mapping too, and one no mapping invokes is not a worker.
#[test]
fn a_worker_is_a_function_without_api_events_that_a_mapping_invokes() {
    let template = repo::yaml(
        "a template",
        r#"
        Resources:
          Queue: {Type: AWS::SQS::Queue}
          Stream: {Type: AWS::DynamoDB::Table}
          MailFunction:
            Type: AWS::Serverless::Function
            Metadata: {BuildProperties: {Binary: mail}}
          BillingFunction:
            Type: AWS::Serverless::Function
            Metadata: {BuildProperties: {Binary: billing}}
          AuditFunction:
            Type: AWS::Serverless::Function
            Metadata: {BuildProperties: {Binary: audit}}
            Properties:
              Events:
                List: {Type: Api, Properties: {Path: /audit, Method: GET}}
          IdleFunction:
            Type: AWS::Serverless::Function
            Metadata: {BuildProperties: {Binary: idle}}
          MailMapping:
            Type: AWS::Lambda::EventSourceMapping
            Properties: {EventSourceArn: !GetAtt Queue.Arn, FunctionName: !Ref MailFunction}
          BillingMapping:
            Type: AWS::Lambda::EventSourceMapping
            Properties:
              EventSourceArn: !GetAtt Stream.StreamArn
              FunctionName: {"Fn::GetAtt": [BillingFunction, Arn]}
          AuditMapping:
            Type: AWS::Lambda::EventSourceMapping
            Properties: {EventSourceArn: !GetAtt Queue.Arn, FunctionName: !Ref AuditFunction}
        "#,
    );
    let found = workers(&template);
    let names: Vec<&str> = found.keys().map(String::as_str).collect();
    assert_eq!(names, ["billing", "mail"]);
    assert_eq!(found["mail"].function, "MailFunction");
    assert_eq!(found["mail"].mappings, ["MailMapping"]);
    assert!(found["mail"].sqs, "MailMapping reads a queue");
    assert!(
        !found["billing"].sqs,
        "BillingMapping reads a table's stream"
    );
}

/// The real template's job worker is found as one, with the mapping that invokes it.
#[test]
fn the_job_worker_is_a_worker_and_no_route_group_is() {
    let wiring = load();
    let names: Vec<&str> = wiring.workers.keys().map(String::as_str).collect();
    assert_eq!(names, ["jobs"], "the workers read from template.yaml");
    for group in wiring.harness.keys() {
        assert!(!wiring.workers.contains_key(group), "{group} serves routes");
    }
}

/// A `Type: Api` event as the template would have it.
fn api_event(name: &str, method: &str, path: &str, api_key_required: Option<bool>) -> ApiEvent {
    ApiEvent {
        name: name.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        api_key_required,
    }
}

/// The `Api` events of the function whose binary is `binary`.
fn template_of<'a>(w: &'a mut Wiring, binary: &str) -> &'a mut Vec<ApiEvent> {
    let events = w.template.get_mut(binary);
    events.unwrap_or_else(|| panic!("{binary} in template.yaml"))
}

/// The event `name` of the function whose binary is `binary`.
fn event_of<'a>(w: &'a mut Wiring, binary: &str, name: &str) -> &'a mut ApiEvent {
    let events = template_of(w, binary).iter_mut();
    let mut found = events.filter(|e| e.name == name);
    found
        .next()
        .unwrap_or_else(|| panic!("{name} of {binary} in template.yaml"))
}

#[test]
fn breaking_one_piece_of_the_wiring_reports_it() {
    each_change_is_reported(&load(), problems, BREAKING);
}
