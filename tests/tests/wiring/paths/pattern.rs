//! The forms that make a quoted token a pattern rather than a path. The text says "every group
//! has one" (`functions/<group>/iam.toml`), and a pattern is true while something in the tree
//! matches it, so it goes stale like a path does. The forms, all there is:
//! - `*` within a segment: any characters but `/` (`functions/*/`, `tests/tests/*.rs`);
//! - `**` as a segment: any number of directories (`events/**/*.json`);
//! - `<name>` within a segment: a placeholder for one or more characters but `/`
//!   (`functions/<group>/`, `events/<group>/<case>.json`);
//! - `{name}`: the same placeholder as a format string writes it (`functions/{group}/iam.toml`);
//! - `...` as the last segment: anything under the directory (`events/...`).
//!
//! A trailing `/` matches directories only.

/// One character class of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Char(char),
    /// `*`: zero or more characters.
    Star,
    /// `<name>` or `{name}`: one or more characters.
    Hole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`.
    Dirs,
    /// `...`, last.
    Rest,
    Glob(Vec<Piece>),
}

/// A parsed pattern.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    segments: Vec<Segment>,
    /// It ends with `/`: only a directory matches.
    dir: bool,
}

/// The pieces of one segment: `<group>_e2e.rs` is a hole, then `_e2e.rs`.
fn pieces(segment: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = segment;
    while let Some(c) = rest.chars().next() {
        let close = match c {
            '<' => Some('>'),
            '{' => Some('}'),
            _ => None,
        };
        let hole = close.and_then(|close| rest.find(close));
        if let Some(end) = hole.filter(|&end| end > 1) {
            pieces.push(Piece::Hole);
            rest = &rest[end + 1..];
            continue;
        }
        pieces.push(if c == '*' {
            Piece::Star
        } else {
            Piece::Char(c)
        });
        rest = &rest[c.len_utf8()..];
    }
    pieces
}

/// Whether `pieces` match the whole of `text`.
fn glob(pieces: &[Piece], text: &[char]) -> bool {
    match pieces.split_first() {
        None => text.is_empty(),
        Some((Piece::Char(c), rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
        Some((Piece::Star, rest)) => (0..=text.len()).any(|k| glob(rest, &text[k..])),
        Some((Piece::Hole, rest)) => (1..=text.len()).any(|k| glob(rest, &text[k..])),
    }
}

fn segments_match(pattern: &[Segment], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Segment::Rest, _)) => !path.is_empty(),
        Some((Segment::Dirs, rest)) => (0..=path.len()).any(|k| segments_match(rest, &path[k..])),
        Some((Segment::Glob(pieces), rest)) => path.split_first().is_some_and(|(first, others)| {
            glob(pieces, &first.chars().collect::<Vec<_>>()) && segments_match(rest, others)
        }),
    }
}

impl Pattern {
    /// The pattern a token writes, or `None` for a plain path.
    pub(super) fn parse(token: &str) -> Option<Pattern> {
        let dir = token.ends_with('/');
        let segments: Vec<Segment> = (token.trim_end_matches('/').split('/'))
            .map(|segment| match segment {
                "**" => Segment::Dirs,
                "..." => Segment::Rest,
                segment => Segment::Glob(pieces(segment)),
            })
            .collect();
        let is_pattern = segments.iter().any(|segment| match segment {
            Segment::Glob(pieces) => pieces.iter().any(|p| !matches!(p, Piece::Char(_))),
            Segment::Dirs | Segment::Rest => true,
        });
        is_pattern.then_some(Pattern { segments, dir })
    }

    /// Whether `path` (a tree path: a directory ends with `/`) matches.
    pub(super) fn matches(&self, path: &str) -> bool {
        if self.dir && !path.ends_with('/') {
            return false;
        }
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        segments_match(&self.segments, &segments)
    }
}

#[test]
fn each_pattern_form_matches_what_it_says() {
    let cases = [
        ("functions/*/", "functions/health/", true),
        ("functions/*/", "functions/health/iam.toml", false),
        ("tests/tests/*.rs", "tests/tests/a.rs", true),
        ("events/**/*.json", "events/users/me.json", true),
        ("events/**/*.json", "events/users/me.txt", false),
        (
            "functions/<group>/iam.toml",
            "functions/auth/iam.toml",
            true,
        ),
        (
            "functions/<group>/iam.toml",
            "functions/auth/src/iam.toml",
            false,
        ),
        (
            "tests/tests/<group>_e2e.rs",
            "tests/tests/uploads_e2e.rs",
            true,
        ),
        ("tests/tests/<group>_e2e.rs", "tests/tests/_e2e.rs", false),
        ("events/{dir}/{file}", "events/users/me.json", true),
        ("events/...", "events/users/me.json", true),
        ("events/...", "events/", false),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(pattern, path, expected)| {
            let pattern = Pattern::parse(pattern).expect("a pattern");
            pattern.matches(path) != *expected
        })
        .map(|(pattern, path, expected)| format!("{pattern} on {path}: expected {expected}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    for plain in ["functions/health/", "infra/local/emulator.py", "Cargo.toml"] {
        assert!(Pattern::parse(plain).is_none(), "{plain} is a plain path");
    }
}
