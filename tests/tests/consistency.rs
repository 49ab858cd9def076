//! Route-group consistency: every directory under `functions/` (a route group, one Lambda) is
//! wired into every place that has to know about it, and nothing names a group that is not there.
//!
//! A group is listed, by hand, in six places besides its own crate, and a half-wired group fails
//! silently: a route missing from `template.yaml` is never deployed (API Gateway answers 404), a
//! route the watch router sends elsewhere answers 404 only locally, a route without an event file
//! is never replayed, a group missing from `measure.py` is never measured. This test compares, for
//! every group and every method and path its router serves (`routes()`, through the harness):
//!
//! 1. `Cargo.toml`: `[workspace] members` and `[workspace.dependencies]` (with the right path);
//! 2. `tests/src/lib.rs`: the group is in `functions!(...)` (the harness, which gives the routes);
//! 3. `Cargo.toml`: `[workspace.metadata.lambda.watch.router]` sends each route to the group
//!    (matchit's way: a static segment beats `{param}`, which beats `{*catch_all}`);
//! 4. `template.yaml`: a function with `BuildProperties.Binary: <group>` and an `Api` event with
//!    the same path and method (or `ANY`) for each route;
//! 5. `events/<group>/`: at least one event (`httpMethod`, `resource`) per route;
//! 6. `infra/scripts/measure.py`: a `PROBE_EVENT` entry pointing to an event of the group;
//!
//! and the reverse: every `Api` event and every event file is served by its group's router, and
//! every binary, watch-router target, events directory and probe names an existing group.
//!
//! Loading ([`load`]) is kept apart from checking ([`problems`], a pure function), so the negative
//! tests below can break one piece of the real wiring at a time and see it reported.

use std::collections::{BTreeMap, BTreeSet};
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
                let (method, resource) = (field("httpMethod"), field("resource"));
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

    Wiring {
        groups: sorted_entries(&root.join("functions"), Path::is_dir),
        members: members.map(str::to_owned).collect(),
        deps: strings(workspace.get("dependencies")).into_iter().collect(),
        watch_router: strings(router),
        template: template_functions(&read(&root.join("template.yaml"))),
        events,
        harness: harness.collect(),
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

fn problems(w: &Wiring) -> Vec<String> {
    let mut out = Vec::new();
    let router_toml = "[workspace.metadata.lambda.watch.router] of Cargo.toml";
    for g in &w.groups {
        let dir = format!("functions/{g}");
        if !w.members.contains(&dir) {
            out.push(format!("{dir}: not in [workspace] members of Cargo.toml"));
        }
        match w.deps.get(g) {
            Some(path) if *path == dir => {}
            Some(path) => out.push(format!(
                "{dir}: [workspace.dependencies] of Cargo.toml has {g} at path \"{path}\", not \"{dir}\""
            )),
            None => out.push(format!(
                "{dir}: no `{g} = {{ path = \"{dir}\" }}` in [workspace.dependencies] of Cargo.toml"
            )),
        }
        let events = w.events.get(g).map(Vec::as_slice).unwrap_or_default();
        match w.probes.get(g) {
            None => out.push(format!(
                "{dir}: no PROBE_EVENT entry in infra/scripts/measure.py"
            )),
            Some(probe) if !events.iter().any(|e| e.file == *probe) => out.push(format!(
                "{dir}: PROBE_EVENT[\"{g}\"] in infra/scripts/measure.py points to {probe}, \
                 which is not an event file under events/{g}/"
            )),
            Some(_) => {}
        }
        let template = w.template.get(g);
        if template.is_none() {
            out.push(format!(
                "{dir}: no AWS::Serverless::Function with BuildProperties.Binary: {g} in template.yaml"
            ));
        }
        let Some(routes) = w.harness.get(g) else {
            out.push(format!(
                "{dir}: unknown to the e2e harness: add it to functions!(...) in tests/src/lib.rs"
            ));
            continue;
        };
        for (method, path) in routes {
            let route = format!("{method} {path}");
            let sample = sample(path);
            let probe = if sample == *path {
                String::new()
            } else {
                format!(" (as {sample})")
            };
            match watch_target(&w.watch_router, &sample) {
                Some((_, target)) if target == g => {}
                Some((pattern, target)) => out.push(format!(
                    "{dir}: {route}{probe} goes to {target} by \"{pattern}\" in {router_toml}"
                )),
                None => out.push(format!(
                    "{dir}: {route}{probe} matches nothing in {router_toml}"
                )),
            }
            let in_template = |(m, p): &Route| p == path && (m == method || m == "ANY");
            if template.is_some_and(|t| !t.iter().any(in_template)) {
                out.push(format!(
                    "{dir}: {route} has no Api event in template.yaml (function with BuildProperties.Binary: {g})"
                ));
            }
            if !events
                .iter()
                .any(|e| e.method == *method && e.resource == *path)
            {
                out.push(format!(
                    "{dir}: {route} has no event in events/{g}/ (httpMethod {method}, resource {path})"
                ));
            }
        }
        for (method, path) in template.into_iter().flatten() {
            if !routes
                .iter()
                .any(|(m, p)| p == path && (method == "ANY" || m == method))
            {
                out.push(format!(
                    "template.yaml: Api event {method} {path} of the function with \
                     BuildProperties.Binary: {g} is not served by the router of {dir}"
                ));
            }
        }
        for e in events {
            if !routes
                .iter()
                .any(|(m, p)| *m == e.method && *p == e.resource)
            {
                let (method, resource) = (&e.method, &e.resource);
                out.push(format!(
                    "{}: {method} {resource} is not served by the router of {dir}",
                    e.file
                ));
            }
        }
    }

    let groups: BTreeSet<&String> = w.groups.iter().collect();
    let mut orphan = |name: &String, place: String| {
        if !groups.contains(name) {
            out.push(format!(
                "{place} names {name}, which has no functions/{name} directory"
            ));
        }
    };
    for binary in w.template.keys() {
        orphan(
            binary,
            format!("template.yaml: BuildProperties.Binary: {binary}"),
        );
    }
    for (pattern, target) in &w.watch_router {
        orphan(target, format!("Cargo.toml: watch router \"{pattern}\""));
    }
    for dir in w.events.keys() {
        orphan(dir, format!("events/{dir}/"));
    }
    for name in w.probes.keys() {
        orphan(
            name,
            format!("infra/scripts/measure.py: PROBE_EVENT[\"{name}\"]"),
        );
    }
    for name in w.harness.keys() {
        orphan(name, "tests/src/lib.rs: functions!(...)".to_owned());
    }
    for member in &w.members {
        if let Some(name) = member.strip_prefix("functions/") {
            orphan(
                &name.to_owned(),
                "Cargo.toml: [workspace] members".to_owned(),
            );
        }
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
    let router: Vec<(String, String)> = [("/a/{*rest}", "c"), ("/a/{id}", "p"), ("/a/b", "s")]
        .iter()
        .chain(&[("/{*rest}", "fallback"), ("/", "root")])
        .map(|&(p, f)| (p.to_owned(), f.to_owned()))
        .collect();
    let target = |path| watch_target(&router, path).map(|(_, f)| f.as_str());
    assert_eq!(target("/a/b"), Some("s"));
    assert_eq!(target("/a/x"), Some("p"));
    assert_eq!(target("/a/x/y"), Some("c"));
    assert_eq!(target("/z"), Some("fallback"));
    assert_eq!(target("/"), Some("root"));
    assert_eq!(target("/a"), Some("fallback"));
}

/// The problems the break adds to the real wiring.
fn after_breaking(break_it: impl FnOnce(&mut Wiring)) -> Vec<String> {
    let mut wiring = load(&repo_root());
    let before = problems(&wiring);
    break_it(&mut wiring);
    let after = problems(&wiring);
    after.into_iter().filter(|p| !before.contains(p)).collect()
}

fn assert_reported(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p == expected),
        "expected the problem\n    {expected}\namong:\n  - {}",
        problems.join("\n  - ")
    );
}

fn remove<T>(items: &mut Vec<T>, what: &str, matches: impl Fn(&T) -> bool) {
    let before = items.len();
    items.retain(|item| !matches(item));
    assert_ne!(
        items.len(),
        before,
        "fixture: {what} is not in the real wiring"
    );
}

fn route(method: &str, path: &str) -> Route {
    (method.to_owned(), path.to_owned())
}

#[test]
fn a_route_without_a_template_event_is_reported() {
    let problems = after_breaking(|w| {
        let health = w
            .template
            .get_mut("health")
            .expect("health in template.yaml");
        let liveness = route("GET", "/health/liveness");
        remove(health, "GET /health/liveness", |r| *r == liveness);
    });
    assert_reported(
        &problems,
        "functions/health: GET /health/liveness has no Api event in template.yaml \
         (function with BuildProperties.Binary: health)",
    );
}

#[test]
fn a_group_missing_from_the_workspace_members_is_reported() {
    let problems = after_breaking(|w| {
        remove(&mut w.members, "functions/users", |m| {
            m == "functions/users"
        });
    });
    assert_reported(
        &problems,
        "functions/users: not in [workspace] members of Cargo.toml",
    );
}

#[test]
fn a_route_the_watch_router_sends_to_another_group_is_reported() {
    let problems = after_breaking(|w| {
        let pattern = "/api/v1/users/{*rest}";
        remove(&mut w.watch_router, pattern, |(p, _)| p == pattern);
    });
    assert_reported(
        &problems,
        "functions/users: GET /api/v1/users/{id} (as /api/v1/users/x) goes to health by \
         \"/{*rest}\" in [workspace.metadata.lambda.watch.router] of Cargo.toml",
    );
}

#[test]
fn a_route_without_events_is_reported() {
    let problems = after_breaking(|w| {
        let users = w.events.get_mut("users").expect("events/users/");
        remove(users, "PATCH /api/v1/users/{id} events", |e| {
            e.method == "PATCH" && e.resource == "/api/v1/users/{id}"
        });
    });
    assert_reported(
        &problems,
        "functions/users: PATCH /api/v1/users/{id} has no event in events/users/ \
         (httpMethod PATCH, resource /api/v1/users/{id})",
    );
}

#[test]
fn a_group_without_a_measure_probe_is_reported() {
    let problems = after_breaking(|w| {
        w.probes.remove("auth").expect("auth in PROBE_EVENT");
    });
    assert_reported(
        &problems,
        "functions/auth: no PROBE_EVENT entry in infra/scripts/measure.py",
    );
}

#[test]
fn a_template_route_no_router_serves_is_reported() {
    let problems = after_breaking(|w| {
        let users = w.template.get_mut("users").expect("users in template.yaml");
        users.push(route("POST", "/api/v1/users/export"));
    });
    assert_reported(
        &problems,
        "template.yaml: Api event POST /api/v1/users/export of the function with \
         BuildProperties.Binary: users is not served by the router of functions/users",
    );
}

#[test]
fn a_new_group_wired_nowhere_is_reported_in_every_place() {
    let problems = after_breaking(|w| w.groups.push("billing".to_owned()));
    for expected in [
        "functions/billing: not in [workspace] members of Cargo.toml",
        "functions/billing: no `billing = { path = \"functions/billing\" }` in \
         [workspace.dependencies] of Cargo.toml",
        "functions/billing: no PROBE_EVENT entry in infra/scripts/measure.py",
        "functions/billing: no AWS::Serverless::Function with BuildProperties.Binary: billing \
         in template.yaml",
        "functions/billing: unknown to the e2e harness: add it to functions!(...) in tests/src/lib.rs",
    ] {
        assert_reported(&problems, expected);
    }
}
