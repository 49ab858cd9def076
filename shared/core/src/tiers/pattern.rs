//! Route patterns of tier rules (`POST /api/v1/uploads`, `GET /api/v1/users/*`, `*`): their
//! grammar, which requests they match, and how specific they are (the order is in
//! [`crate::tiers`]'s documentation). Pure text, no storage: the tiers function validates with
//! it, the limiter matches with it.

/// The longest pattern accepted.
pub const PATTERN_MAX_LEN: usize = 200;

/// The methods a pattern may name.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One segment of a pattern's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Exactly this text.
    Literal(String),
    /// Any one segment.
    One,
}

/// A rule's route pattern, parsed: `POST /api/v1/uploads`, `GET /api/v1/users/*`, `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    method: Option<String>,
    /// `None`: `*`, every path.
    segments: Option<Vec<Segment>>,
    /// The path ends in `/*`: one or more further segments.
    rest: bool,
}

impl Pattern {
    /// Parses `text`, or says what is wrong with it (the 422's message).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > PATTERN_MAX_LEN {
            return Err(format!("path must be 1-{PATTERN_MAX_LEN} characters"));
        }
        let (method, path) = match text.split_once(' ') {
            Some((method, path)) => {
                if !METHODS.contains(&method) {
                    return Err(format!(
                        "the method must be one of {} (or absent for any method)",
                        METHODS.join(", ")
                    ));
                }
                (Some(method.to_owned()), path)
            }
            None => (None, text),
        };
        if path == "*" {
            return Ok(Self {
                text: text.to_owned(),
                method,
                segments: None,
                rest: false,
            });
        }
        let Some(tail) = path.strip_prefix('/') else {
            return Err("the path must be `*` or start with `/`".to_owned());
        };
        let mut segments = Vec::new();
        let mut rest = false;
        if !tail.is_empty() {
            let parts: Vec<&str> = tail.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let last = i + 1 == parts.len();
                match *part {
                    "" => {
                        return Err(
                            "the path has an empty segment (`//` or a trailing `/`)".to_owned()
                        );
                    }
                    "*" if last => rest = true,
                    "*" => segments.push(Segment::One),
                    lit if lit
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)) =>
                    {
                        segments.push(Segment::Literal(lit.to_owned()));
                    }
                    _ => {
                        return Err(
                            "each segment must be `*` or made of [A-Za-z0-9._~-]".to_owned()
                        );
                    }
                }
            }
        }
        Ok(Self {
            text: text.to_owned(),
            method,
            segments: Some(segments),
            rest,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a request of `method` on `path` (its URI path, no query) falls under it.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let Some(segments) = &self.segments else {
            return true;
        };
        let Some(tail) = path.strip_prefix('/') else {
            return false;
        };
        let given: Vec<&str> = if tail.is_empty() {
            Vec::new()
        } else {
            tail.split('/').collect()
        };
        let fits = if self.rest {
            given.len() > segments.len()
        } else {
            given.len() == segments.len()
        };
        fits && segments.iter().zip(&given).all(|(s, g)| match s {
            Segment::Literal(lit) => lit == g,
            Segment::One => !g.is_empty(),
        })
    }

    /// How specific the pattern is; of two matching patterns the greater wins (the order is in
    /// [`crate::tiers`]'s documentation).
    pub fn specificity(&self) -> (usize, bool, bool, usize, usize) {
        let segments = self.segments.as_deref().unwrap_or_default();
        let literals = segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let fixed = self.segments.is_some() && !self.rest;
        (
            literals,
            fixed,
            self.method.is_some(),
            segments.len(),
            self.text.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    #[test]
    fn patterns_match_by_method_literal_segments_and_wildcards() {
        assert!(p("POST /api/v1/uploads").matches("POST", "/api/v1/uploads"));
        assert!(!p("POST /api/v1/uploads").matches("GET", "/api/v1/uploads"));
        assert!(!p("POST /api/v1/uploads").matches("POST", "/api/v1/uploads/x"));
        assert!(p("/api/v1/uploads").matches("DELETE", "/api/v1/uploads"));
        // A `*` in the middle is one segment; at the end, one or more.
        assert!(p("/api/v1/uploads/*/complete").matches("POST", "/api/v1/uploads/ab/complete"));
        assert!(!p("/api/v1/uploads/*/complete").matches("POST", "/api/v1/uploads/complete"));
        assert!(p("GET /api/v1/users/*").matches("GET", "/api/v1/users/me"));
        assert!(p("GET /api/v1/users/*").matches("GET", "/api/v1/users/a/b"));
        assert!(!p("GET /api/v1/users/*").matches("GET", "/api/v1/users"));
        assert!(p("*").matches("PATCH", "/anything/at/all"));
        assert!(p("GET *").matches("GET", "/x") && !p("GET *").matches("POST", "/x"));
        assert!(p("/").matches("GET", "/") && !p("/").matches("GET", "/a"));
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        for bad in [
            "",
            "api/v1/uploads",
            "FETCH /api/v1/uploads",
            "post /api/v1/uploads",
            "POST  /api/v1/uploads",
            "/api//v1",
            "/api/v1/",
            "/api/v1/up*",
            "/api/v1/{id}",
            "/api/v1/ü",
            &format!("/{}", "a".repeat(PATTERN_MAX_LEN)),
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["*", "GET *", "/", "DELETE /api/v1/uploads/*", "/a/*/b/*"] {
            assert!(Pattern::parse(good).is_ok(), "{good:?} was refused");
        }
    }
}
