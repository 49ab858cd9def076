//! The prose of a file, line by line: the whole of a markdown file, and only the comments (and
//! doc comments) of code, since a path in code is checked by running it. Each lexer knows just
//! enough of its language to tell a comment from a string: `"// not a comment"` in Rust, or
//! `'#'` in a shell script, is not prose.

/// A file's language, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// `*.md`: all of it.
    Markdown,
    /// `*.rs`: `//`, `///`, `//!` and `/* */` comments.
    Rust,
    /// `*.py`: `#` comments and triple-quoted strings (docstrings).
    Python,
    /// Shell scripts, `Makefile`, `*.toml`, `*.yaml`: `#` comments.
    Hash,
}

impl Kind {
    /// The kind of a file, or `None` for a file whose prose is not checked. `first_line` tells a
    /// script without an extension (`.ci/run`) by its shebang.
    pub(super) fn of(path: &str, first_line: &str) -> Option<Kind> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let extension = name.rsplit_once('.').map(|(_, e)| e);
        match extension {
            Some("md") => Some(Kind::Markdown),
            Some("rs") => Some(Kind::Rust),
            Some("py") => Some(Kind::Python),
            Some("sh" | "toml" | "yaml" | "yml") => Some(Kind::Hash),
            None if name == "Makefile" => Some(Kind::Hash),
            None if first_line.starts_with("#!") && first_line.ends_with("sh") => Some(Kind::Hash),
            _ => None,
        }
    }
}

/// The prose of `text`: `(line number, text)`, one entry per line of prose.
pub(super) fn prose(kind: Kind, text: &str) -> Vec<(usize, String)> {
    match kind {
        Kind::Markdown => (text.lines().enumerate())
            .map(|(i, line)| (i + 1, line.to_owned()))
            .collect(),
        Kind::Rust => rust(text),
        Kind::Python => python(text),
        Kind::Hash => (text.lines().enumerate())
            .filter_map(|(i, line)| Some((i + 1, hash_comment(line)?.to_owned())))
            .collect(),
    }
}

/// The `#` comment of one line of a shell script, Makefile, TOML or YAML file: from the first
/// `#` that starts a word outside quotes. A quote opens only where a word starts, so the
/// apostrophe of "the function's" opens none.
fn hash_comment(line: &str) -> Option<&str> {
    let mut quote = None;
    let mut previous = ' ';
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            None if c == '#' && previous.is_whitespace() => return Some(&line[i..]),
            None if matches!(c, '\'' | '"') && !previous.is_alphanumeric() => quote = Some(c),
            Some(_) | None => {}
        }
        previous = c;
    }
    None
}

/// Collects prose that may span lines: each line of it with its number.
#[derive(Default)]
struct Prose {
    lines: Vec<(usize, String)>,
    line: usize,
    current: Option<String>,
}

impl Prose {
    fn start(&mut self, line: usize) {
        self.line = line;
        self.current = Some(String::new());
    }
    fn push(&mut self, c: char, line: usize) {
        if c == '\n' {
            self.end();
            self.start(line + 1);
        } else if let Some(current) = &mut self.current {
            current.push(c);
        }
    }
    fn end(&mut self) {
        if let Some(text) = self.current.take() {
            self.lines.push((self.line, text));
        }
    }
}

/// The comments of Rust source. Strings (`"..."`, `r#"..."#`) and character literals (`'"'`)
/// are skipped; a lifetime (`'a`) is neither.
fn rust(text: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut prose = Prose::default();
    let (mut i, mut line) = (0, 1);
    let advance = |i: &mut usize, line: &mut usize| {
        if at(*i) == '\n' {
            *line += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = at(i);
        if c == '/' && at(i + 1) == '/' {
            prose.start(line);
            while i < chars.len() && at(i) != '\n' {
                prose.push(at(i), line);
                i += 1;
            }
            prose.end();
        } else if c == '/' && at(i + 1) == '*' {
            prose.start(line);
            let mut depth = 0;
            loop {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    if depth == 0 {
                        i += 2;
                        break;
                    }
                }
                if i >= chars.len() {
                    break;
                }
                prose.push(at(i), line);
                advance(&mut i, &mut line);
            }
            prose.end();
        } else if c == '"' {
            advance(&mut i, &mut line);
            while i < chars.len() && at(i) != '"' {
                if at(i) == '\\' {
                    advance(&mut i, &mut line);
                }
                advance(&mut i, &mut line);
            }
            i += 1;
        } else if c == 'r' && matches!(at(i + 1), '"' | '#') && !ident(at(i.wrapping_sub(1))) {
            let hashes = (i + 1..).take_while(|&j| at(j) == '#').count();
            if at(i + 1 + hashes) != '"' {
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            i += 2 + hashes;
            while i < chars.len() && !chars[i..].starts_with(&close) {
                advance(&mut i, &mut line);
            }
            i += close.len();
        } else if c == '\'' && at(i + 1) == '\\' {
            // '\n', '\'', '\u{..}': past the escaped character, to the closing quote.
            i += 3;
            while i < chars.len() && at(i) != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '\'' && at(i + 2) == '\'' {
            i += 3;
        } else {
            advance(&mut i, &mut line);
        }
    }
    prose.lines
}

/// The `#` comments and triple-quoted strings (docstrings) of Python source; other strings are
/// skipped.
fn python(text: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut prose = Prose::default();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = at(i);
        if c == '#' {
            prose.start(line);
            while i < chars.len() && at(i) != '\n' {
                prose.push(at(i), line);
                i += 1;
            }
            prose.end();
        } else if matches!(c, '"' | '\'') && at(i + 1) == c && at(i + 2) == c {
            i += 3;
            prose.start(line);
            while i < chars.len() && !(at(i) == c && at(i + 1) == c && at(i + 2) == c) {
                if at(i) == '\\' {
                    prose.push(at(i), line);
                    i += 1;
                }
                prose.push(at(i), line);
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            prose.end();
            i += 3;
        } else if matches!(c, '"' | '\'') {
            i += 1;
            while i < chars.len() && at(i) != c && at(i) != '\n' {
                i += 1 + usize::from(at(i) == '\\');
            }
            i += 1;
        } else {
            line += usize::from(c == '\n');
            i += 1;
        }
    }
    prose.lines
}
