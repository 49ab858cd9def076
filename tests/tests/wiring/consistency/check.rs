//! The comparison itself: pure, from a [`Wiring`] to the list of what is half-wired, each line
//! naming the group, the place to fix and what is missing there.

use super::router::{sample, watch_target};
use super::{Route, Wiring};

/// Whether `routes` has `method` on `path`; `ANY` on either side stands for every method.
fn serves(routes: &[Route], method: &str, path: &str) -> bool {
    let same = |m: &String| m == method || m == "ANY" || method == "ANY";
    routes.iter().any(|(m, p)| p == path && same(m))
}

/// Everything half-wired in `w`, one message each.
pub(super) fn problems(w: &Wiring) -> Vec<String> {
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
        let probes: Vec<&str> = (events.iter().filter(|e| e.probe))
            .map(|e| e.file.as_str())
            .collect();
        match probes.as_slice() {
            [_] => {}
            [] => problem!(
                "{dir}: no event of events/{g}/ has \"probe\": true in its sidecar \
                 (the event `make bench` measures the cold start with)"
            ),
            many => problem!(
                "{dir}: {} events of events/{g}/ have \"probe\": true in their sidecar ({}); \
                 `make bench` measures the cold start with exactly one",
                many.len(),
                many.join(", ")
            ),
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
