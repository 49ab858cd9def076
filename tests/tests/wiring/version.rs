//! One version in three places. `[workspace.package] version` in `Cargo.toml` is the version:
//! every member crate inherits it (`version.workspace = true`), so `/health` reports it
//! (`health::VERSION` is the health crate's `CARGO_PKG_VERSION`), and the newest entry of
//! `functions/docs/guide/changelog.md` (its top `- X.Y.Z — ...` line) names it. The changelog
//! lists each version once, newest first. A version bumped in one place only, a member crate
//! with a version of its own or a changelog entry written twice (0.7.0 once was) is reported.

use crate::{assert_no_problems, each_case, repo};

const CHANGELOG: &str = "functions/docs/guide/changelog.md";

/// What the check compares.
struct Versions {
    /// `[workspace.package] version` of `Cargo.toml`.
    workspace: String,
    /// What `/health` reports.
    health: String,
    /// The text of the changelog.
    changelog: String,
    /// Every `[workspace] members` entry, and whether its `Cargo.toml` says
    /// `version.workspace = true`.
    members: Vec<(String, bool)>,
}

/// A version as numbers, for ordering: `0.10.0` is newer than `0.9.0`.
fn numbers(version: &str) -> Option<Vec<u64>> {
    let parts: Option<Vec<u64>> = version.split('.').map(|n| n.parse().ok()).collect();
    parts.filter(|parts| parts.len() == 3)
}

/// The changelog's entries, `(line number, version)`, in the order written: every line
/// `- X.Y.Z — ...` at the start of a line (nested items are indented).
fn entries(changelog: &str) -> Vec<(usize, String)> {
    let lines = changelog.lines().enumerate();
    let entries = lines.filter_map(|(i, line)| {
        let (version, _) = line.strip_prefix("- ")?.split_once(" — ")?;
        numbers(version).map(|_| (i + 1, version.to_owned()))
    });
    entries.collect()
}

/// Every disagreement between the versions, one message each.
fn problems(v: &Versions) -> Vec<String> {
    let mut out = Vec::new();
    let workspace = &v.workspace;
    for (member, inherits) in &v.members {
        if !inherits {
            out.push(format!(
                "{member}/Cargo.toml: no `version.workspace = true`, so its version can drift \
                 from the workspace's {workspace} (Cargo.toml)"
            ));
        }
    }
    if v.health != *workspace {
        out.push(format!(
            "/health reports {} (health::VERSION, the version of functions/health), not the \
             workspace version {workspace} (Cargo.toml)",
            v.health
        ));
    }
    let entries = entries(&v.changelog);
    match entries.first() {
        None => out.push(format!("{CHANGELOG}: no `- X.Y.Z — ...` entry")),
        Some((line, top)) if top != workspace => out.push(format!(
            "{CHANGELOG}:{line}: the newest entry is {top}, not the workspace version \
             {workspace} (Cargo.toml)"
        )),
        Some(_) => {}
    }
    for (i, (line, version)) in entries.iter().enumerate() {
        let earlier = &entries[..i];
        if let Some((first, _)) = earlier.iter().find(|(_, v)| v == version) {
            out.push(format!(
                "{CHANGELOG}:{line}: {version} is listed again (first at line {first})"
            ));
        } else if let Some((_, previous)) = earlier.last()
            && numbers(version) > numbers(previous)
        {
            out.push(format!(
                "{CHANGELOG}:{line}: {version} comes after {previous}, which is older \
                 (newest first)"
            ));
        }
    }
    out
}

/// Reads the versions of the repository.
fn load() -> Versions {
    let cargo = repo::toml("Cargo.toml");
    let workspace = cargo
        .get("workspace")
        .and_then(|w| w.get("package")?.get("version")?.as_str())
        .expect("[workspace.package] version in Cargo.toml");
    let members = repo::members(&cargo).into_iter().map(|member| {
        let manifest = repo::toml(&format!("{member}/Cargo.toml"));
        let version = manifest.get("package").and_then(|p| p.get("version"));
        let inherits = version
            .and_then(|v| v.get("workspace")?.as_bool())
            .unwrap_or(false);
        (member, inherits)
    });
    Versions {
        workspace: workspace.to_owned(),
        health: health::VERSION.to_owned(),
        changelog: repo::read(CHANGELOG),
        members: members.collect(),
    }
}

#[test]
fn health_the_changelog_and_every_crate_have_the_workspace_version() {
    let versions = load();
    assert!(
        versions
            .members
            .iter()
            .any(|(m, _)| m == "functions/health"),
        "functions/health is not a workspace member"
    );
    assert!(
        !entries(&versions.changelog).is_empty(),
        "no entries read from {CHANGELOG}"
    );
    assert_no_problems("the versions disagree", &problems(&versions));
}

/// A changelog, newest first, as the real one is written.
const GOOD_CHANGELOG: &str = "# Changelog\n\nNewest first.\n\n\
    - 0.10.0 — layout: the library crates under `shared/`\n  \
      (no route changed).\n\
    - 0.9.0 — docs:\n  \
      - 0.1.0 — an indented line is not an entry\n\
    - 0.1.0 — foundation.\n";

/// A change to a good set of versions, and the problems it must then report.
struct Case {
    case: &'static str,
    change: fn(&mut Versions),
    expected: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        case: "a workspace version bumped alone is reported for health and the changelog",
        change: |v| v.workspace = "0.11.0".to_owned(),
        expected: &[
            "/health reports 0.10.0 (health::VERSION, the version of functions/health), not the \
             workspace version 0.11.0 (Cargo.toml)",
            "functions/docs/guide/changelog.md:5: the newest entry is 0.10.0, not the workspace \
             version 0.11.0 (Cargo.toml)",
        ],
    },
    Case {
        case: "a version listed twice is reported",
        change: |v| v.changelog.push_str("- 0.9.0 — docs, again.\n"),
        expected: &[
            "functions/docs/guide/changelog.md:10: 0.9.0 is listed again (first at line 7)",
        ],
    },
    Case {
        case: "an entry out of order is reported",
        change: |v| v.changelog.push_str("- 0.2.0 — auth.\n"),
        expected: &[
            "functions/docs/guide/changelog.md:10: 0.2.0 comes after 0.1.0, which is older \
             (newest first)",
        ],
    },
    Case {
        case: "a changelog without entries is reported",
        change: |v| v.changelog = "# Changelog\n\n0.10.0: layout.\n".to_owned(),
        expected: &["functions/docs/guide/changelog.md: no `- X.Y.Z — ...` entry"],
    },
    Case {
        case: "a crate with a version of its own is reported",
        change: |v| v.members.push(("functions/billing".to_owned(), false)),
        expected: &[
            "functions/billing/Cargo.toml: no `version.workspace = true`, so its version can \
             drift from the workspace's 0.10.0 (Cargo.toml)",
        ],
    },
];

#[test]
fn a_version_that_disagrees_is_reported() {
    let good = || Versions {
        workspace: "0.10.0".to_owned(),
        health: "0.10.0".to_owned(),
        changelog: GOOD_CHANGELOG.to_owned(),
        members: vec![("functions/health".to_owned(), true)],
    };
    assert_no_problems("a good changelog", &problems(&good()));
    each_case(
        CASES,
        |c| c.case,
        |c| {
            let mut versions = good();
            (c.change)(&mut versions);
            let problems = problems(&versions);
            for expected in c.expected {
                assert!(
                    problems.iter().any(|p| p == expected),
                    "expected\n    {expected}\namong:\n  - {}",
                    problems.join("\n  - ")
                );
            }
        },
    );
}
