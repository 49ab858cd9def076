//! Route-group consistency. A route group (`functions/<group>`, one Lambda) is listed in several
//! places, and a half-wired group fails silently: a route missing from `template.yaml` is never
//! deployed, a path without its preflight fails in a browser once deployed, one without an event
//! is never replayed, a group without a measure probe is never measured. So for every directory
//! under `functions/` and every method and path its router serves, [`check::problems`] checks:
//! 1. `Cargo.toml`: `[workspace] members` (a `dir/*` glob expanded as cargo does, so a new
//!    `functions/<group>` is a member by construction);
//! 2. `tests/Cargo.toml`: `<group> = { path = "../functions/<group>" }`, and `tests/src/lib.rs`:
//!    the group is in `functions!(...)` (the harness gives the route table);
//! 3. `template.yaml`: a function with `BuildProperties.Binary: <group>`, with an `Api` event of
//!    the same path and method (or `ANY`) for each route; every path with an `Api` event has an
//!    `OPTIONS` event, the CORS preflight the function's CORS layer answers, which never requires
//!    the API key (`Auth: {ApiKeyRequired: false}`: a browser sends none on a preflight); a
//!    `HEAD` event is served by the router's `GET` on the path (axum answers `HEAD` from `GET`);
//! 4. the local gateway (`infra/local/gateway.py --routes`, made from the template) routes
//!    exactly the template's `Api` events, each to its function ([`gateway`]);
//! 5. `events/<group>/`: at least one event (`httpMethod`, `resource`) per route;
//! 6. the sidecars of `events/<group>/`: exactly one is marked `"probe": true`, the event
//!    `make bench` measures the group's cold start with;
//! 7. the group's OpenAPI document and the merged one (`docs::document()`) have every route, and
//!    nothing the router does not serve;
//!
//! and the reverse: every `Api` event and event file is served by its group's router, every
//! route of the merged document by some router, and every name used elsewhere (binary, gateway
//! target, `events/` directory, ...) has a `functions/` dir.
//!
//! A *worker* serves no route: its function in `template.yaml` has no `Api` event and is invoked
//! by an `AWS::Lambda::EventSourceMapping` (read from the template, [`workers`]; the job worker,
//! `functions/jobs`, is one). It has no router, so it is not in `functions!(...)` (reported if it
//! is) nor in the documents; it keeps 1, 2 (`tests/Cargo.toml`), 3 (its function) and 6, and
//! `events/<group>/` holds the SQS events its mapping hands it (`{"Records": [...]}`), at least
//! one, which the event replay runs through the worker. Its log group and its `iam.toml` are
//! checked with every function's ([`crate::template`], [`crate::iam`]).
//! [`load`] reads the wiring; the check is pure, so the tests ([`tests`]) break one piece of the
//! real wiring at a time and check that it is reported. No emulator, no AWS.

mod check;
mod gateway;
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use crate::repo::{self, Yaml};

/// `(method, path)`, e.g. `("GET", "/api/v1/users/{id}")`; `ANY` in the template.
type Route = (String, String);

/// One `Type: Api` event of a function in `template.yaml`.
#[derive(Debug, Clone)]
struct ApiEvent {
    /// Its name under `Events:`, e.g. `LoginPreflight`.
    name: String,
    /// `GET`, ..., `OPTIONS`, or `ANY`.
    method: String,
    /// As axum writes it: `/api/v1/users/{id}`, `/docs/{*file}`.
    path: String,
    /// `Auth.ApiKeyRequired` when the event sets it to a plain boolean; `None` when it follows
    /// the API's default (`RequireApiKey`) or is computed.
    api_key_required: Option<bool>,
}

/// One event file of `events/<group>/`, with what its sidecar says about measuring.
#[derive(Debug, Clone)]
struct Event {
    method: String,
    resource: String,
    /// Relative to the repository root: `events/users/me.json`.
    file: String,
    /// Its sidecar (`<case>.expect.json`) has `"probe": true`: `make bench` measures with it.
    probe: bool,
    /// An SQS event, as an event source mapping hands it to a worker: `Records` is a non-empty
    /// list, each with `"eventSource": "aws:sqs"`.
    sqs: bool,
}

/// A function that serves no HTTP route: no `Api` event, invoked by event source mappings.
#[derive(Debug, Clone)]
struct Worker {
    /// Its logical id in `template.yaml`: `JobsFunction`.
    function: String,
    /// The `AWS::Lambda::EventSourceMapping`s that invoke it.
    mappings: Vec<String>,
    /// Every one of them reads an `AWS::SQS::Queue` of the template (`EventSourceArn: !GetAtt
    /// <Queue>.Arn`): the only source the event replay and these checks know.
    sqs: bool,
}

/// Everything the check compares, as read from disk.
#[derive(Debug, Clone, Default)]
struct Wiring {
    /// Directories under `functions/`.
    groups: Vec<String>,
    /// `[workspace] members`, globs expanded.
    members: Vec<String>,
    /// `[dependencies]` of `tests/Cargo.toml` given by path: name -> path.
    test_deps: BTreeMap<String, String>,
    /// `template.yaml`: `BuildProperties.Binary` -> its `Api` events.
    template: BTreeMap<String, Vec<ApiEvent>>,
    /// `template.yaml`: `BuildProperties.Binary` -> the worker, of the functions that are.
    workers: BTreeMap<String, Worker>,
    /// The local gateway's route table: function -> the `(method, path)` it sends there.
    gateway: BTreeMap<String, Vec<Route>>,
    /// `events/<dir>/*.json` (not the `.expect.json` sidecars), by directory.
    events: BTreeMap<String, Vec<Event>>,
    /// The harness: group -> what its router serves.
    harness: BTreeMap<String, Vec<Route>>,
    /// Each group's own OpenAPI document (`<group>::openapi()`), paths as the router writes them.
    openapi: BTreeMap<String, Vec<Route>>,
    /// The merged document the docs function serves (`docs::document()`).
    merged: Vec<Route>,
}

/// A path as axum writes it: API Gateway's greedy `{name+}` and OpenAPI's plain `{name}` of a
/// catch-all become `{*name}` (`catch_alls` lists the router's catch-all names).
fn axum_path(path: &str, catch_alls: &[String]) -> String {
    let segments = path.split('/').map(|s| {
        let inner = s.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match inner {
            Some(name) if name.ends_with('+') => format!("{{*{}}}", name.trim_end_matches('+')),
            Some(name) if catch_alls.iter().any(|c| c == name) => format!("{{*{name}}}"),
            _ => s.to_owned(),
        }
    });
    segments.collect::<Vec<_>>().join("/")
}

/// Reads the wiring of the repository.
fn load() -> Wiring {
    let cargo = repo::toml("Cargo.toml");
    let tests = repo::toml("tests/Cargo.toml");
    let deps = tests.get("dependencies").and_then(toml::Value::as_table);
    let test_deps = deps.into_iter().flatten().filter_map(|(name, dep)| {
        let path = dep.get("path")?.as_str()?;
        Some((name.clone(), path.to_owned()))
    });

    let harness = e2e::FUNCTIONS.iter().filter_map(|&name| {
        let routes = e2e::routes_for(name)?.into_iter();
        let routes = routes.map(|r| (r.method.to_owned(), r.path.to_owned()));
        Some((name.to_owned(), routes.collect()))
    });
    let harness: BTreeMap<String, Vec<Route>> = harness.collect();
    let catch_alls: Vec<String> = harness
        .values()
        .flatten()
        .flat_map(|(_, path)| path.split('/'))
        .filter_map(|s| s.strip_prefix("{*")?.strip_suffix('}').map(str::to_owned))
        .collect();
    let doc_routes = |doc: &utoipa::openapi::OpenApi| -> Vec<Route> {
        e2e::openapi_routes(doc)
            .into_iter()
            .map(|(m, p)| (m, axum_path(&p, &catch_alls)))
            .collect()
    };
    let openapi = e2e::FUNCTIONS
        .iter()
        .filter_map(|&name| Some((name.to_owned(), doc_routes(&e2e::openapi_for(name)?))))
        .collect();

    let template = repo::template();
    Wiring {
        openapi,
        merged: doc_routes(&docs::document()),
        groups: repo::dirs("functions"),
        members: repo::members(&cargo),
        test_deps: test_deps.collect(),
        template: template_events(&template),
        workers: workers(&template),
        gateway: gateway::routes(),
        events: events(),
        harness,
    }
}

/// `events/<dir>/*.json` (not the sidecars), by directory, each with its sidecar's probe mark.
fn events() -> BTreeMap<String, Vec<Event>> {
    let is_event = |p: &Path| {
        let name = p.to_string_lossy();
        name.ends_with(".json") && !name.ends_with(".expect.json")
    };
    let event = |dir: &str, name: &str| {
        let file = format!("events/{dir}/{name}");
        let json: serde_json::Value = serde_json::from_str(&repo::read(&file)).expect(&file);
        let field = |name: &str| json[name].as_str().unwrap_or_default().to_owned();
        // A missing sidecar is the event replay's to report; here it only marks no probe.
        let sidecar = format!(
            "events/{dir}/{}.expect.json",
            name.trim_end_matches(".json")
        );
        let sidecar: serde_json::Value = match repo::root().join(&sidecar).is_file() {
            true => serde_json::from_str(&repo::read(&sidecar)).expect(&sidecar),
            false => serde_json::Value::Null,
        };
        let records = json["Records"].as_array().map(Vec::as_slice);
        let sqs = records.is_some_and(|records| {
            let from_sqs = |r: &serde_json::Value| r["eventSource"] == "aws:sqs";
            !records.is_empty() && records.iter().all(from_sqs)
        });
        Event {
            method: field("httpMethod"),
            resource: axum_path(&field("resource"), &[]),
            probe: sidecar["probe"] == true,
            sqs,
            file,
        }
    };
    let dirs = repo::dirs("events").into_iter();
    dirs.map(|dir| {
        let files = repo::entries(&format!("events/{dir}"), is_event);
        let events = files.iter().map(|name| event(&dir, name)).collect();
        (dir, events)
    })
    .collect()
}

/// `BuildProperties.Binary` -> `Api` events (paths as axum writes them), of every function.
fn template_events(template: &Yaml) -> BTreeMap<String, Vec<ApiEvent>> {
    let field = |value: &'_ Yaml, path: &[&str]| -> Option<Yaml> {
        path.iter().try_fold(value, |v, key| v.get(key)).cloned()
    };
    let text = |value: &Yaml, path: &[&str]| field(value, path)?.as_str().map(str::to_owned);
    let mut functions = BTreeMap::<String, Vec<ApiEvent>>::new();
    for function in repo::functions(template) {
        let events = function
            .resource
            .get("Properties")
            .and_then(|p| p.get("Events"));
        let events = events.and_then(Yaml::as_mapping).into_iter().flatten();
        let api = events.filter(|(_, event)| text(event, &["Type"]).as_deref() == Some("Api"));
        let api = api.filter_map(|(name, event)| {
            let method = text(event, &["Properties", "Method"])?.to_uppercase();
            let path = text(event, &["Properties", "Path"])?;
            let key = field(event, &["Properties", "Auth", "ApiKeyRequired"]);
            Some(ApiEvent {
                name: name.as_str().unwrap_or_default().to_owned(),
                method,
                path: axum_path(&path, &[]),
                api_key_required: key.as_ref().and_then(Yaml::as_bool),
            })
        });
        let binary = function.binary.to_owned();
        functions.entry(binary).or_default().extend(api);
    }
    functions
}

/// `BuildProperties.Binary` -> the worker, of every function with no `Api` event that an
/// `AWS::Lambda::EventSourceMapping` invokes (`FunctionName: !Ref <Function>`).
fn workers(template: &Yaml) -> BTreeMap<String, Worker> {
    let events = template_events(template);
    let mappings = repo::event_source_mappings(template);
    let from_sqs = |mapping: &repo::Mapping| {
        let source = mapping.resource.get("Properties");
        let source = source.and_then(|p| p.get("EventSourceArn"));
        let queue = source.and_then(repo::reference);
        queue.is_some_and(|(id, attribute)| {
            attribute.as_deref() == Some("Arn")
                && repo::resource_type(template, &id) == Some("AWS::SQS::Queue")
        })
    };
    let mut workers = BTreeMap::new();
    for function in repo::functions(template) {
        let serves_routes = events.get(function.binary).is_some_and(|e| !e.is_empty());
        let invoking: Vec<&repo::Mapping> = (mappings.iter())
            .filter(|m| m.function.as_deref() == Some(function.id))
            .collect();
        if serves_routes || invoking.is_empty() {
            continue;
        }
        let worker = Worker {
            function: function.id.to_owned(),
            mappings: invoking.iter().map(|m| m.id.to_owned()).collect(),
            sqs: invoking.iter().all(|m| from_sqs(m)),
        };
        workers.insert(function.binary.to_owned(), worker);
    }
    workers
}
