//! Text that stays true: every repository path quoted in `README.md`, the guide
//! (`functions/docs/guide/*.md`), and the comments and doc comments of the code (`*.rs`, `*.py`,
//! shell scripts, `Makefile`, `*.toml`, `template.yaml`) exists in the tree. A file moves, the
//! text that names it stays behind, and nothing else notices: the README named `infra/` scripts
//! for months after they moved to `infra/local/`.
//!
//! What counts as a quoted path:
//! - a token that starts with one of the [`ROOTS`] (the design card's top level: `functions/`,
//!   `shared/`, `Cargo.toml`, ...; optionally after `./`), where a word starts: not inside a URL
//!   or another path (`https://host/tests/...`, `$ROOT/infra/...` are not);
//! - in markdown, also a link target (`[text](api.md)`), relative to the markdown file.
//!
//! A token is made of letters, digits and `_ - . / * < > { }`: it ends at a space, a backtick,
//! a quote, `:` (so `file.rs:12` is `file.rs`) or `#` (an anchor), and a trailing `.` (the end of
//! a sentence) is dropped. A token with one of the [`pattern`] forms (`functions/*/`,
//! `functions/<group>/`, `events/{dir}/`, `events/...`) is a pattern, not a path: it holds when
//! something in the tree matches it. [`missing_paths`] is pure (a file's name and text, and the
//! tree, in; what it names that does not exist out), so the tests feed it texts with a path
//! renamed and expect it reported.

mod comments;
mod pattern;
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::repo;
use comments::{Kind, prose};
use pattern::Pattern;

/// The entries of the repository's top level that a quoted path starts with: the design card's,
/// and the two dot-directories that hold files of the project. A directory needs its `/`, so
/// the word "tests" alone is not a path.
const ROOTS: &[&str] = &[
    "functions/",
    "shared/",
    "infra/",
    "events/",
    "tests/",
    ".ci/",
    ".cargo/",
    "template.yaml",
    "Cargo.toml",
    "Makefile",
    "README.md",
];

/// Directories never walked: build output, virtual environments, caches.
const SKIPPED: &[&str] = &["target", ".venv", "node_modules", "__pycache__", ".git"];

/// The files at the top level of the repository, and every file and directory under the
/// directories of the [`ROOTS`]: relative to the root, with `/` separators; a directory ends
/// with `/`.
#[derive(Debug, Clone, Default)]
struct Tree {
    paths: BTreeSet<String>,
}

impl Tree {
    /// The repository as it is on disk.
    fn read() -> Tree {
        let mut tree = Tree::default();
        let root = repo::root();
        let files = repo::entries("", Path::is_file);
        tree.paths.extend(files);
        for dir in ROOTS.iter().filter(|entry| entry.ends_with('/')) {
            let path = root.join(dir.trim_end_matches('/'));
            if path.is_dir() {
                tree.walk(&path, dir);
            }
        }
        tree
    }

    fn walk(&mut self, dir: &Path, relative: &str) {
        self.paths.insert(relative.to_owned());
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{relative}: {e}"));
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if path.is_dir() && !SKIPPED.contains(&name.as_str()) {
                self.walk(&path, &format!("{relative}{name}/"));
            } else if path.is_file() {
                self.paths.insert(format!("{relative}{name}"));
            }
        }
    }

    /// Whether `path` exists: a file or a directory, or only a directory when it ends with `/`.
    fn has(&self, path: &str) -> bool {
        self.paths.contains(path) || self.paths.contains(&format!("{path}/"))
    }

    /// The files whose prose this test reads: the README, the guide, and the code.
    fn prose_files(&self) -> impl Iterator<Item = &String> {
        self.paths.iter().filter(|path| {
            let guide = path.starts_with("functions/docs/guide/") && path.ends_with(".md");
            let code = !path.ends_with(".md") && !path.ends_with('/');
            *path == "README.md" || guide || code
        })
    }
}

/// Whether `c` may be part of a path token.
fn in_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '*' | '<' | '>' | '{' | '}')
}

/// Whether a path may start right after `c`: not inside a word, a URL, a variable or another path.
fn starts_word(c: Option<char>) -> bool {
    c.is_none_or(|c| !in_token(c) && !matches!(c, '$' | '~' | '@' | ':' | '\\'))
}

/// The paths (and patterns) quoted in one line of prose, as written.
fn quoted(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut previous = None;
    for (i, c) in line.char_indices() {
        let rest = &line[i..];
        let after_dot_slash = rest.strip_prefix("./");
        let start = if starts_word(previous) {
            let candidate = after_dot_slash.unwrap_or(rest);
            ROOTS.iter().find(|root| candidate.starts_with(*root))
        } else {
            None
        };
        previous = Some(c);
        let Some(root) = start else { continue };
        let candidate = after_dot_slash.unwrap_or(rest);
        let end = candidate.find(|c| !in_token(c)).unwrap_or(candidate.len());
        let token = trimmed(&candidate[..end]);
        // A file entry is the whole token (`Cargo.toml`, not `Cargo.tomlx`).
        if !root.ends_with('/') && token != *root {
            continue;
        }
        found.push(token.to_owned());
    }
    found
}

/// A token without what ends a sentence around it: trailing dots (but not an `...` elision
/// segment), and closing brackets without an opening one.
fn trimmed(token: &str) -> &str {
    let mut token = token;
    loop {
        let count = |c: char| token.matches(c).count();
        let before = token.len();
        if !token.ends_with("/...") {
            token = token.trim_end_matches('.');
        }
        for (open, close) in [('{', '}'), ('<', '>')] {
            if token.ends_with(close) && count(close) > count(open) {
                token = &token[..token.len() - 1];
            }
        }
        if token.len() == before {
            return token;
        }
    }
}

/// The link targets of one line of markdown that point into the repository: `[text](target)`,
/// without its `#anchor`; URLs and anchors of the same page are not paths.
fn link_targets(line: &str) -> Vec<&str> {
    let targets = line.split("](").skip(1).filter_map(|rest| {
        let target = rest.split([')', ' ']).next()?;
        let target = target.split('#').next()?.trim_matches(['<', '>']);
        let external = target.contains(':') || target.is_empty();
        (!external).then_some(target)
    });
    targets.collect()
}

/// `target` relative to the directory `dir` (`""` for the root), with `.` and `..` resolved;
/// `None` when it climbs out of the repository.
fn resolve(dir: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// What a line of prose names: a path (or pattern) as written, and where it points.
#[derive(Debug)]
struct Named {
    line: usize,
    written: String,
    /// Relative to the root (a link target resolved against its file's directory); `None` when
    /// a link climbs out of the repository.
    path: Option<String>,
}

/// Every path and pattern that `text`, the content of the file `file`, quotes; nothing for a
/// file whose prose is not read.
fn named(file: &str, text: &str) -> (Option<Kind>, Vec<Named>) {
    let first_line = text.lines().next().unwrap_or_default();
    let Some(kind) = Kind::of(file, first_line) else {
        return (None, Vec::new());
    };
    let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut named = Vec::new();
    for (line, prose) in prose(kind, text) {
        let paths = quoted(&prose).into_iter().map(|path| Named {
            line,
            path: Some(path.clone()),
            written: path,
        });
        named.extend(paths);
        if kind == Kind::Markdown {
            let links = link_targets(&prose).into_iter().map(|target| Named {
                line,
                path: resolve(dir, target),
                written: target.to_owned(),
            });
            named.extend(links);
        }
    }
    (Some(kind), named)
}

/// Whether `path` is in the tree, or, for a pattern, whether something in it matches.
fn exists(tree: &Tree, path: &str) -> bool {
    match Pattern::parse(path) {
        Some(pattern) => tree.paths.iter().any(|p| pattern.matches(p)),
        None => tree.has(path),
    }
}

/// What `text`, the content of the file `file`, names that is not in `tree`: one
/// `file:line → path` (as written) per path or pattern that nothing in the tree is or matches.
fn missing_paths(file: &str, text: &str, tree: &Tree) -> Vec<String> {
    let (_, named) = named(file, text);
    let missing: BTreeSet<(usize, String)> = named
        .into_iter()
        .filter(|n| !n.path.as_deref().is_some_and(|path| exists(tree, path)))
        .map(|n| (n.line, n.written))
        .collect();
    let missing = missing.into_iter();
    missing
        .map(|(line, path)| format!("{file}:{line} → {path}"))
        .collect()
}

#[test]
fn every_path_quoted_in_the_docs_and_comments_exists() {
    let tree = Tree::read();
    let mut missing = Vec::new();
    let mut read = BTreeMap::<Kind, usize>::new();
    for file in tree.prose_files() {
        let bytes = std::fs::read(repo::root().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        if let (Some(kind), named) = named(file, &text) {
            *read.entry(kind).or_default() += named.len();
            missing.extend(missing_paths(file, &text, &tree));
        }
    }
    // A reader that silently finds nothing would pass: each kind of file quotes paths today.
    for kind in [Kind::Markdown, Kind::Rust, Kind::Python, Kind::Hash] {
        assert!(
            read.get(&kind).is_some_and(|&n| n > 0),
            "no path read from any {kind:?} file: {read:?}"
        );
    }
    assert!(
        missing.is_empty(),
        "{} quoted paths name nothing in the tree (file:line → path); fix the text, or the \
         path:\n  - {}",
        missing.len(),
        missing.join("\n  - ")
    );
}
