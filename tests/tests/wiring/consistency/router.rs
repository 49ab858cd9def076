//! Which entry of `[workspace.metadata.lambda.watch.router]` (`Cargo.toml`) serves a path, the
//! way `cargo lambda watch` picks it: matchit's order, the most specific pattern segment by
//! segment (a static segment, then `{param}`, then `{*catch_all}`), whatever the table's order.
//! `infra/local/gateway.py` ranks the same way in front of it.

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
pub(super) fn watch_target<'a>(
    router: &'a [(String, String)],
    path: &str,
) -> Option<&'a (String, String)> {
    let matches = router
        .iter()
        .filter_map(|entry| Some((rank(&entry.0, path)?, entry)));
    matches.min_by(|a, b| a.0.cmp(&b.0)).map(|(_, entry)| entry)
}

/// A concrete path for a route pattern: `{param}` segments become `x`.
pub(super) fn sample(path: &str) -> String {
    let segments = path
        .split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s });
    segments.collect::<Vec<_>>().join("/")
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
