//! Route-group consistency. A route group (`functions/<group>`, one Lambda) is listed by hand in
//! several places, and a half-wired group fails silently: a route missing from `template.yaml` is
//! never deployed, one the watch router sends elsewhere answers 404 only locally, one without an
//! event is never replayed, a group missing from `measure.py` is never measured. So for every
//! directory under `functions/` and every method and path its router serves, this checks:
//! 1. `Cargo.toml`: `[workspace] members` and `[workspace.dependencies]` (with the right path);
//! 2. `tests/src/lib.rs`: the group is in `functions!(...)` (the harness gives the route table);
//! 3. `[workspace.metadata.lambda.watch.router]`: the most specific pattern (matchit's way: static
//!    segment, then `{param}`, then `{*catch_all}`) sends each route to the group;
//! 4. `template.yaml`: a function with `BuildProperties.Binary: <group>`, with an `Api` event of
//!    the same path and method (or `ANY`) for each route;
//! 5. `events/<group>/`: at least one event (`httpMethod`, `resource`) per route;
//! 6. `infra/scripts/measure.py`: a `PROBE_EVENT` entry pointing to an event of the group;
//!
//! and the reverse: every `Api` event and event file is served by its group's router, and every
//! name used elsewhere (binary, watch target, `events/` directory, probe...) has a `functions/` dir.
//! [`load`] reads the wiring; [`problems`] is pure, so the negative tests break one piece of the
//! real wiring at a time and check that it is reported. No emulator, no AWS.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a broken checkout should stop the test loudly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value as Yaml;

/// `(method, path)`, e.g. `("GET", "/api/v1/users/{id}")`; `ANY` in the template.
type Route = (String, String);

#[derive(Debug, Clone)]
struct Event {
    method: String,
    resource: String,
    /// Relative to the repository root: `events/users/me.json`.
    file: String,
}

/// Everything the check compares, as read from disk.
#[derive(Debug, Clone, Default)]
struct Wiring {
    /// Directories under `functions/`.
    groups: Vec<String>,
    members: Vec<String>,
    /// `[workspace.dependencies]`: name -> path.
    deps: BTreeMap<String, String>,
    /// `[workspace.metadata.lambda.watch.router]`: pattern -> function.
    watch_router: Vec<(String, String)>,
    /// `template.yaml`: `BuildProperties.Binary` -> its `Api` events.
    template: BTreeMap<String, Vec<Route>>,
    /// `events/<dir>/*.json` (not the `.expect.json` sidecars), by directory.
    events: BTreeMap<String, Vec<Event>>,
    /// The harness: group -> what its router serves.
    harness: BTreeMap<String, Vec<Route>>,
    /// `PROBE_EVENT` of `measure.py`: group -> event file, relative to the repository root.
    probes: BTreeMap<String, String>,
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

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<String> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|entry| keep(&entry.path()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn load(root: &Path) -> Wiring {
    let cargo: toml::Table = toml::from_str(&read(&root.join("Cargo.toml"))).expect("Cargo.toml");
    let workspace = cargo.get("workspace").expect("[workspace] in Cargo.toml");
    let strings = |value: Option<&toml::Value>| -> Vec<(String, String)> {
        let table = value.and_then(toml::Value::as_table).into_iter().flatten();
        table
            .filter_map(|(key, v)| {
                let text = v.as_str().or_else(|| v.get("path")?.as_str())?;
                Some((key.clone(), text.to_owned()))
            })
            .collect()
    };
    let members = workspace.get("members").and_then(toml::Value::as_array);
    let members = members
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str);
    let router = ["metadata", "lambda", "watch", "router"]
        .iter()
        .try_fold(workspace, |value, key| value.get(key));

    let events_dir = root.join("events");
    let events = sorted_entries(&events_dir, Path::is_dir)
        .into_iter()
        .map(|dir| {
            let is_event = |p: &Path| {
                let name = p.to_string_lossy();
                name.ends_with(".json") && !name.ends_with(".expect.json")
            };
            let files = sorted_entries(&events_dir.join(&dir), is_event).into_iter();
            let events = files.map(|file| {
                let file = format!("events/{dir}/{file}");
                let json: serde_json::Value =
                    serde_json::from_str(&read(&root.join(&file))).expect(&file);
                let field = |name: &str| json[name].as_str().unwrap_or_default().to_owned();
                let (method, resource) = (field("httpMethod"), axum_path(&field("resource"), &[]));
                Event {
                    method,
                    resource,
                    file,
                }
            });
            let events = events.collect();
            (dir, events)
        })
        .collect();

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
    let mut template = template_functions(&read(&root.join("template.yaml")));
    for routes in template.values_mut() {
        for route in routes.iter_mut() {
            route.1 = axum_path(&route.1, &[]);
        }
    }

    Wiring {
        openapi,
        merged: doc_routes(&docs::document()),
        groups: sorted_entries(&root.join("functions"), Path::is_dir),
        // A `dir/*` member is every directory under `dir`, as cargo expands it.
        members: members
            .flat_map(|m| match m.strip_suffix("/*") {
                Some(dir) => sorted_entries(&root.join(dir), Path::is_dir)
                    .into_iter()
                    .map(|name| format!("{dir}/{name}"))
                    .collect(),
                None => vec![m.to_owned()],
            })
            .collect(),
        deps: strings(workspace.get("dependencies")).into_iter().collect(),
        watch_router: strings(router),
        template,
        events,
        harness,
        probes: probe_events(&read(&root.join("infra/scripts/measure.py"))),
    }
}

/// `BuildProperties.Binary` -> `Api` events, of every `AWS::Serverless::Function`.
fn template_functions(yaml: &str) -> BTreeMap<String, Vec<Route>> {
    let template: Yaml = serde_yaml::from_str(yaml).expect("template.yaml");
    let text = |value: &Yaml, path: &[&str]| -> Option<String> {
        let found = path.iter().try_fold(value, |v, key| v.get(key))?;
        found.as_str().map(str::to_owned)
    };
    let mut functions = BTreeMap::<String, Vec<Route>>::new();
    let resources = template.get("Resources").and_then(Yaml::as_mapping);
    for resource in resources.into_iter().flat_map(|r| r.values()) {
        if text(resource, &["Type"]).as_deref() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(binary) = text(resource, &["Metadata", "BuildProperties", "Binary"]) else {
            continue;
        };
        let events = resource.get("Properties").and_then(|p| p.get("Events"));
        let events = events
            .and_then(Yaml::as_mapping)
            .into_iter()
            .flat_map(|e| e.values());
        let api = events.filter(|event| text(event, &["Type"]).as_deref() == Some("Api"));
        let routes = api.filter_map(|event| {
            let method = text(event, &["Properties", "Method"])?.to_uppercase();
            Some((method, text(event, &["Properties", "Path"])?))
        });
        functions.entry(binary).or_default().extend(routes);
    }
    functions
}

/// The entries `"name": ROOT / "events/..."` of the `PROBE_EVENT = {...}` dict, read as text.
fn probe_events(python: &str) -> BTreeMap<String, String> {
    let Some(start) = python.find("PROBE_EVENT = {") else {
        return BTreeMap::new();
    };
    let dict = &python[start..];
    let dict = &dict[..dict.find("\n}").unwrap_or(dict.len())];
    let entry = |line: &str| {
        let (name, rest) = line.trim().strip_prefix('"')?.split_once('"')?;
        let (_, path) = rest.split_once("ROOT /")?;
        let path = path.trim().trim_end_matches(',').trim().trim_matches('"');
        Some((name.to_owned(), path.to_owned()))
    };
    dict.lines().skip(1).filter_map(entry).collect()
}

/// How specific `pattern` is on `path`, segment by segment (static 0, `{param}` 1, `{*rest}` 2),
/// or `None` when it does not match. The smallest rank wins, as in matchit.
fn rank(pattern: &str, path: &str) -> Option<Vec<u8>> {
    let (pattern, segments): (Vec<&str>, Vec<&str>) =
        (pattern.split('/').collect(), path.split('/').collect());
    let mut ranks = Vec::new();
    for (i, part) in pattern.iter().enumerate() {
        if part.starts_with("{*") {
            let rest = segments.get(i..)?.join("/");
            ranks.push(2);
            return (!rest.is_empty()).then_some(ranks);
        }
        let segment = segments.get(i)?;
        match part.starts_with('{') {
            true if !segment.is_empty() => ranks.push(1),
            false if part == segment => ranks.push(0),
            _ => return None,
        }
    }
    (pattern.len() == segments.len()).then_some(ranks)
}

/// The watch-router entry `(pattern, function)` that serves `path`.
fn watch_target<'a>(router: &'a [(String, String)], path: &str) -> Option<&'a (String, String)> {
    let matches = router
        .iter()
        .filter_map(|entry| Some((rank(&entry.0, path)?, entry)));
    matches.min_by(|a, b| a.0.cmp(&b.0)).map(|(_, entry)| entry)
}

/// A concrete path for a route pattern: `{param}` segments become `x`.
fn sample(path: &str) -> String {
    let segments = path
        .split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s });
    segments.collect::<Vec<_>>().join("/")
}

/// Whether `routes` has `method` on `path`; `ANY` on either side stands for every method.
fn serves(routes: &[Route], method: &str, path: &str) -> bool {
    let same = |m: &String| m == method || m == "ANY" || method == "ANY";
    routes.iter().any(|(m, p)| p == path && same(m))
}

fn problems(w: &Wiring) -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! problem {
        ($($format:tt)*) => { out.push(format!($($format)*)) };
    }
    let router_toml = "[workspace.metadata.lambda.watch.router] of Cargo.toml";
    for g in &w.groups {
        let dir = format!("functions/{g}");
        if !w.members.contains(&dir) {
            problem!("{dir}: not in [workspace] members of Cargo.toml");
        }
        match w.deps.get(g) {
            Some(path) if *path == dir => {}
            Some(path) => problem!(
                "{dir}: [workspace.dependencies] of Cargo.toml has {g} at \"{path}\", not \"{dir}\""
            ),
            None => problem!(
                "{dir}: no `{g} = {{ path = \"{dir}\" }}` in [workspace.dependencies] of Cargo.toml"
            ),
        }
        let events = w.events.get(g).map(Vec::as_slice).unwrap_or_default();
        match w.probes.get(g) {
            None => problem!("{dir}: no PROBE_EVENT entry in infra/scripts/measure.py"),
            Some(probe) if !events.iter().any(|e| e.file == *probe) => problem!(
                "{dir}: PROBE_EVENT[\"{g}\"] in infra/scripts/measure.py points to {probe}, \
                 which is not an event file under events/{g}/"
            ),
            Some(_) => {}
        }
        let template = w.template.get(g);
        if template.is_none() {
            problem!("{dir}: no function with BuildProperties.Binary: {g} in template.yaml");
        }
        let Some(routes) = w.harness.get(g) else {
            problem!(
                "{dir}: unknown to the e2e harness: add it to functions!(...) in tests/src/lib.rs"
            );
            continue;
        };
        for (method, path) in routes {
            let route = format!("{method} {path}");
            let sample = sample(path);
            let shown = if sample == *path {
                String::new()
            } else {
                format!(" (as {sample})")
            };
            match watch_target(&w.watch_router, &sample) {
                Some((_, target)) if target == g => {}
                Some((pattern, to)) => {
                    problem!(
                        "{dir}: {route}{shown} goes to {to} by \"{pattern}\" in {router_toml}"
                    );
                }
                None => problem!("{dir}: {route}{shown} matches nothing in {router_toml}"),
            }
            if template.is_some_and(|t| !serves(t, method, path)) {
                problem!(
                    "{dir}: {route} has no Api event in template.yaml \
                     (function with BuildProperties.Binary: {g})"
                );
            }
            if !events
                .iter()
                .any(|e| e.method == *method && e.resource == *path)
            {
                problem!(
                    "{dir}: {route} has no event in events/{g}/ \
                     (httpMethod {method}, resource {path})"
                );
            }
        }
        let documented = w.openapi.get(g).map(Vec::as_slice).unwrap_or_default();
        for (method, path) in routes {
            if !documented.iter().any(|(m, p)| m == method && p == path) {
                problem!(
                    "{dir}: {method} {path} is not in its OpenAPI document \
                     (#[utoipa::path] on the handler, listed in {g}::openapi())"
                );
            }
            if !w.merged.iter().any(|(m, p)| m == method && p == path) {
                problem!("{dir}: {method} {path} is not in the merged document (docs::document())");
            }
        }
        for (method, path) in documented {
            if !routes.iter().any(|(m, p)| m == method && p == path) {
                problem!(
                    "{dir}: its OpenAPI document has {method} {path}, which its router does not serve"
                );
            }
        }
        for (method, path) in template.into_iter().flatten() {
            if !serves(routes, method, path) {
                problem!(
                    "template.yaml: Api event {method} {path} of the function with \
                     BuildProperties.Binary: {g} is not served by the router of {dir}"
                );
            }
        }
        for e in events {
            if !serves(routes, &e.method, &e.resource) {
                let (file, method, resource) = (&e.file, &e.method, &e.resource);
                problem!("{file}: {method} {resource} is not served by the router of {dir}");
            }
        }
    }

    // The reverse: every name elsewhere is a directory under functions/.
    let mut orphan = |place: &str, name: &str| {
        if !w.groups.iter().any(|g| g == name) {
            out.push(format!(
                "{place} names {name}, which has no functions/{name} directory"
            ));
        }
    };
    for (pattern, to) in &w.watch_router {
        orphan(&format!("{router_toml}: \"{pattern}\""), to);
    }
    for binary in w.template.keys() {
        orphan("template.yaml: BuildProperties.Binary", binary);
    }
    for dir in w.events.keys() {
        orphan("events/", dir);
    }
    for name in w.probes.keys() {
        orphan("PROBE_EVENT in infra/scripts/measure.py", name);
    }
    for name in w.harness.keys() {
        orphan("functions!(...) in tests/src/lib.rs", name);
    }
    for member in w
        .members
        .iter()
        .filter_map(|m| m.strip_prefix("functions/"))
    {
        orphan("[workspace] members of Cargo.toml", member);
    }
    out
}

#[test]
fn every_route_group_is_wired_everywhere() {
    let wiring = load(&repo_root());
    assert!(!wiring.groups.is_empty(), "no directories under functions/");
    let problems = problems(&wiring);
    assert!(
        problems.is_empty(),
        "route groups are half-wired ({} problems):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

#[test]
fn the_watch_router_prefers_static_then_param_then_catch_all() {
    let router = [
        ("/a/{*r}", "c"),
        ("/a/{id}", "p"),
        ("/a/b", "s"),
        ("/{*r}", "f"),
        ("/", "/"),
    ];
    let router: Vec<_> = router.map(|(p, f)| (p.to_owned(), f.to_owned())).to_vec();
    let target = |path| watch_target(&router, path).map(|(_, f)| f.as_str());
    assert_eq!(target("/a/b"), Some("s"));
    assert_eq!(target("/a/x"), Some("p"));
    assert_eq!(target("/a/x/y"), Some("c"));
    assert_eq!(target("/a"), Some("f"));
    assert_eq!(target("/"), Some("/"));
}

/// Breaks one piece of the real wiring and asserts the problems list now has `expected`.
fn breaking_reports(expected: &[&str], break_it: impl FnOnce(&mut Wiring)) {
    let mut wiring = load(&repo_root());
    let before = problems(&wiring);
    break_it(&mut wiring);
    let problems = problems(&wiring);
    for expected in expected {
        assert!(
            problems.iter().any(|p| p == expected) && !before.iter().any(|p| p == expected),
            "expected the new problem\n    {expected}\namong:\n  - {}",
            problems.join("\n  - ")
        );
    }
}

fn remove<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool) {
    let before = items.len();
    items.retain(|item| !matches(item));
    assert_ne!(
        items.len(),
        before,
        "the piece to remove is not in the real wiring"
    );
}

#[test]
fn a_route_without_a_template_event_is_reported() {
    let expected = "functions/health: GET /health/liveness has no Api event in template.yaml \
                    (function with BuildProperties.Binary: health)";
    breaking_reports(&[expected], |w| {
        let health = w
            .template
            .get_mut("health")
            .expect("health in template.yaml");
        remove(health, |(m, p)| m == "GET" && p == "/health/liveness");
    });
}

#[test]
fn a_group_missing_from_the_workspace_members_is_reported() {
    let expected = "functions/users: not in [workspace] members of Cargo.toml";
    breaking_reports(&[expected], |w| {
        remove(&mut w.members, |m| m == "functions/users");
    });
}

#[test]
fn a_route_the_watch_router_sends_to_another_group_is_reported() {
    let expected = "functions/users: GET /api/v1/users/{id} (as /api/v1/users/x) goes to health \
                    by \"/{*rest}\" in [workspace.metadata.lambda.watch.router] of Cargo.toml";
    breaking_reports(&[expected], |w| {
        remove(&mut w.watch_router, |(p, _)| p == "/api/v1/users/{*rest}");
    });
}

#[test]
fn a_route_without_events_is_reported() {
    let expected = "functions/users: PATCH /api/v1/users/{id} has no event in events/users/ \
                    (httpMethod PATCH, resource /api/v1/users/{id})";
    breaking_reports(&[expected], |w| {
        let users = w.events.get_mut("users").expect("events/users/");
        remove(users, |e| {
            e.method == "PATCH" && e.resource == "/api/v1/users/{id}"
        });
    });
}

#[test]
fn a_group_without_a_measure_probe_is_reported() {
    let expected = "functions/auth: no PROBE_EVENT entry in infra/scripts/measure.py";
    breaking_reports(&[expected], |w| {
        w.probes.remove("auth").expect("auth in PROBE_EVENT");
    });
}

#[test]
fn a_template_route_no_router_serves_is_reported() {
    let expected = "template.yaml: Api event POST /api/v1/users/export of the function with \
                    BuildProperties.Binary: users is not served by the router of functions/users";
    breaking_reports(&[expected], |w| {
        let users = w.template.get_mut("users").expect("users in template.yaml");
        users.push(("POST".to_owned(), "/api/v1/users/export".to_owned()));
    });
}

#[test]
fn a_new_group_wired_nowhere_is_reported_in_every_place() {
    let expected = [
        "functions/billing: not in [workspace] members of Cargo.toml",
        "functions/billing: no `billing = { path = \"functions/billing\" }` in \
         [workspace.dependencies] of Cargo.toml",
        "functions/billing: no PROBE_EVENT entry in infra/scripts/measure.py",
        "functions/billing: no function with BuildProperties.Binary: billing in template.yaml",
        "functions/billing: unknown to the e2e harness: add it to functions!(...) in tests/src/lib.rs",
    ];
    breaking_reports(&expected, |w| w.groups.push("billing".to_owned()));
}

#[test]
fn a_name_without_a_functions_directory_is_reported() {
    let expected = "[workspace.metadata.lambda.watch.router] of Cargo.toml: \"/api/v1/users/{*rest}\" \
                    names users, which has no functions/users directory";
    breaking_reports(&[expected], |w| w.groups.retain(|g| g != "users"));
}

#[test]
fn a_route_missing_from_its_openapi_document_is_reported_twice() {
    let expected = [
        "functions/uploads: POST /api/v1/uploads/{id}/complete is not in its OpenAPI document \
         (#[utoipa::path] on the handler, listed in uploads::openapi())",
        "functions/uploads: POST /api/v1/uploads/{id}/complete is not in the merged document \
         (docs::document())",
    ];
    breaking_reports(&expected, |w| {
        let doc = w.openapi.get_mut("uploads").expect("uploads documented");
        remove(doc, |(m, p)| {
            m == "POST" && p == "/api/v1/uploads/{id}/complete"
        });
        remove(&mut w.merged, |(m, p)| {
            m == "POST" && p == "/api/v1/uploads/{id}/complete"
        });
    });
}

#[test]
fn a_documented_path_no_router_serves_is_reported() {
    let expected = "functions/docs: its OpenAPI document has GET /docs/{*file}, which its router \
                    does not serve";
    breaking_reports(&[expected], |w| {
        let docs = w.harness.get_mut("docs").expect("docs routes");
        remove(docs, |(m, p)| m == "GET" && p == "/docs/{*file}");
        // The template and the events would report it too; keep this to the document.
        let template = w.template.get_mut("docs").expect("docs in template.yaml");
        remove(template, |(_, p)| p == "/docs/{*file}");
        let events = w.events.get_mut("docs").expect("docs events");
        remove(events, |e| e.resource == "/docs/{*file}");
    });
}
