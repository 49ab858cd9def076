//! The comparison itself: pure, from a [`Wiring`] to the list of what is half-wired, each line
//! naming the group, the place to fix and what is missing there.

use std::collections::{BTreeMap, BTreeSet};

use super::{ApiEvent, Event, Route, Wiring, Worker};

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
    for g in &w.groups {
        let dir = format!("functions/{g}");
        if !w.members.contains(&dir) {
            problem!("{dir}: not in [workspace] members of Cargo.toml");
        }
        let by_path = format!("../{dir}");
        match w.test_deps.get(g) {
            Some(path) if *path == by_path => {}
            Some(path) => problem!(
                "{dir}: [dependencies] of tests/Cargo.toml has {g} at \"{path}\", not \"{by_path}\""
            ),
            None => problem!(
                "{dir}: no `{g} = {{ path = \"{by_path}\" }}` in [dependencies] of tests/Cargo.toml"
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
        if let Some(worker) = w.workers.get(g) {
            out.extend(worker_problems(w, g, worker, events));
            continue;
        }
        let deployed: Vec<Route> = (template.into_iter().flatten())
            .filter(|e| e.method != "OPTIONS")
            .map(|e| (e.method.clone(), e.path.clone()))
            .collect();
        let Some(routes) = w.harness.get(g) else {
            problem!(
                "{dir}: unknown to the e2e harness: add it to functions!(...) in tests/src/lib.rs"
            );
            continue;
        };
        for (method, path) in routes {
            let route = format!("{method} {path}");
            if template.is_some() && !serves(&deployed, method, path) {
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
        // OPTIONS events are preflights, checked below; axum answers HEAD from the GET route.
        for (method, path) in &deployed {
            let served = match method.as_str() {
                "HEAD" => serves(routes, "GET", path) || serves(routes, "HEAD", path),
                _ => serves(routes, method, path),
            };
            if !served && method == "HEAD" {
                problem!(
                    "template.yaml: Api event HEAD {path} of the function with \
                     BuildProperties.Binary: {g} is not served by the router of {dir} \
                     (a HEAD is answered by the GET route of its path, and it has none)"
                );
            } else if !served {
                problem!(
                    "template.yaml: Api event {method} {path} of the function with \
                     BuildProperties.Binary: {g} is not served by the router of {dir}"
                );
            }
        }
        for e in events {
            if e.sqs {
                problem!(
                    "{}: an SQS event, but {dir} serves routes: SQS events belong under the \
                     events/ of a worker (a function an event source mapping invokes)",
                    e.file
                );
            } else if !serves(routes, &e.method, &e.resource) {
                let (file, method, resource) = (&e.file, &e.method, &e.resource);
                problem!("{file}: {method} {resource} is not served by the router of {dir}");
            }
        }
    }
    // A route of the merged document no router serves: documented, never deployed (a worker's
    // routes, say, which has none to serve).
    for (method, path) in &w.merged {
        if !w
            .harness
            .values()
            .any(|routes| serves(routes, method, path))
        {
            out.push(format!(
                "the merged document (docs::document()) has {method} {path}, which no router of \
                 functions!(...) in tests/src/lib.rs serves"
            ));
        }
    }
    for (binary, events) in &w.template {
        out.extend(preflight_problems(binary, events));
    }
    out.extend(gateway_problems(w));

    // The reverse: every name elsewhere is a directory under functions/.
    let mut orphan = |place: &str, name: &str| {
        if !w.groups.iter().any(|g| g == name) {
            out.push(format!(
                "{place} names {name}, which has no functions/{name} directory"
            ));
        }
    };
    for function in w.gateway.keys() {
        orphan(
            "the local gateway's route table (infra/local/gateway.py --routes)",
            function,
        );
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

/// A worker (`functions/<group>` whose function has no `Api` event and an event source mapping
/// invokes): no router in the harness, SQS events in `events/<group>/`, at least one.
fn worker_problems(w: &Wiring, group: &str, worker: &Worker, events: &[Event]) -> Vec<String> {
    let dir = format!("functions/{group}");
    let Worker {
        function, mappings, ..
    } = worker;
    let invoked_by = mappings.join(", ");
    let mut out = Vec::new();
    if !worker.sqs {
        out.push(format!(
            "{dir}: {function} is invoked by {invoked_by}, not all from an AWS::SQS::Queue of \
             template.yaml (EventSourceArn: !GetAtt <Queue>.Arn): the wiring checks and the \
             event replay know SQS workers only"
        ));
    }
    if w.harness.contains_key(group) {
        out.push(format!(
            "{dir}: serves no route ({function} has no Api event; {invoked_by} invokes it): take \
             it out of functions!(...) in tests/src/lib.rs, which lists route groups"
        ));
    }
    if events.is_empty() {
        out.push(format!(
            "{dir}: no event in events/{group}/ (an SQS event as {invoked_by} hands it over, \
             {{\"Records\": [...]}}, replayed through the worker by tests/tests/events_replay.rs)"
        ));
    }
    for e in events.iter().filter(|e| !e.sqs) {
        out.push(format!(
            "{}: not an SQS event ({{\"Records\": [...]}}, each record with \"eventSource\": \
             \"aws:sqs\"), which is what {invoked_by} hands the worker {dir}",
            e.file
        ));
    }
    out
}

/// The CORS preflights of one function's `Api` events: every path with an event has exactly one
/// `OPTIONS` event, which never requires the API key, and an `OPTIONS` event has a path with
/// other events to be the preflight of. Deployed, API Gateway REST answers a method a resource
/// lacks with MISSING_AUTHENTICATION_TOKEN, without CORS headers: a browser then refuses the
/// call the preflight was for.
fn preflight_problems(binary: &str, events: &[ApiEvent]) -> Vec<String> {
    let function = format!("function with BuildProperties.Binary: {binary}");
    let mut paths = BTreeMap::<&str, (Vec<&ApiEvent>, usize)>::new();
    for e in events {
        let (preflights, others) = paths.entry(e.path.as_str()).or_default();
        match e.method.as_str() {
            "OPTIONS" => preflights.push(e),
            _ => *others += 1,
        }
    }
    let mut out = Vec::new();
    for (path, (preflights, others)) in paths {
        if others == 0 {
            for e in &preflights {
                out.push(format!(
                    "template.yaml: {} (OPTIONS {path}, {function}) is a preflight for a path \
                     with no other Api event of the function",
                    e.name
                ));
            }
        } else if preflights.is_empty() {
            out.push(format!(
                "template.yaml: {path} ({function}) has no OPTIONS event: a browser's CORS \
                 preflight would get API Gateway's MISSING_AUTHENTICATION_TOKEN; add \
                 `<Event>Preflight: {{Type: Api, Properties: {{RestApiId: !Ref Api, Path: \
                 \"{path}\", Method: OPTIONS, Auth: {{ApiKeyRequired: false}}}}}}`"
            ));
        }
        for e in preflights {
            if e.api_key_required != Some(false) {
                out.push(format!(
                    "template.yaml: {} (OPTIONS {path}, {function}) does not set \
                     `Auth: {{ApiKeyRequired: false}}`: a browser sends no API key on a preflight",
                    e.name
                ));
            }
        }
    }
    out
}

/// The local gateway routes exactly the template's `Api` events, each to its function.
fn gateway_problems(w: &Wiring) -> Vec<String> {
    let gateway = "the local gateway (infra/local/gateway.py --routes)";
    let names: BTreeSet<&String> = w.template.keys().chain(w.gateway.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let template: BTreeSet<Route> = (w.template.get(name).into_iter().flatten())
            .map(|e| (e.method.clone(), e.path.clone()))
            .collect();
        let local: BTreeSet<Route> = w.gateway.get(name).into_iter().flatten().cloned().collect();
        for (method, path) in template.difference(&local) {
            out.push(format!(
                "template.yaml: Api event {method} {path} of the function with \
                 BuildProperties.Binary: {name} is not routed to {name} by {gateway}"
            ));
        }
        for (method, path) in local.difference(&template) {
            out.push(format!(
                "{gateway} sends {method} {path} to {name}, which has no such Api event in \
                 template.yaml"
            ));
        }
    }
    out
}
