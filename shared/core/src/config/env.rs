//! [`Env`]: where every setting is read from (the process environment, or a map in tests), with
//! the parsers every settings struct shares; [`ConfigError`] names the variable at fault.

use std::{collections::BTreeMap, fmt, sync::Arc, time::Duration};

/// A variable was missing or could not be parsed; start-up fails with this message.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: environment variable {var} {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// Why it was refused (never the value itself: it may be a secret).
    pub reason: String,
}

impl ConfigError {
    /// A refusal of `var` for `reason`.
    pub fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where settings come from: the process environment, or a map in tests. Values are trimmed and
/// an empty value counts as unset. Cheap to clone.
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: never printed.
        f.write_str("Env(..)")
    }
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self::from_fn(|k| std::env::var(k).ok())
    }

    /// Any lookup (tests: a map, or overrides over the process environment).
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(lookup))
    }

    /// `pairs` first, then the process environment.
    pub fn with_overrides(pairs: &[(&str, &str)]) -> Self {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::from_fn(move |key| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(key).ok())
        })
    }

    /// Only `pairs` (unit tests: nothing leaks in from the process).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::from_fn(move |k| map.get(k).cloned())
    }

    /// The trimmed value, `None` when unset or empty.
    pub fn string(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value, or `default`.
    pub fn string_or(&self, var: &str, default: &str) -> String {
        self.string(var).unwrap_or_else(|| default.to_owned())
    }

    /// A required value.
    pub fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.string(var)
            .ok_or_else(|| ConfigError::new(var, "is required by this function"))
    }

    /// A whole number in `min..=max`, or `default` when unset.
    pub fn num<T>(&self, var: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(raw) = self.string(var) else {
            return Ok(default);
        };
        let value: T = raw
            .parse()
            .map_err(|_| ConfigError::new(var, "must be a whole number"))?;
        if value < min || value > max {
            return Err(ConfigError::new(
                var,
                format!("must be between {min} and {max}"),
            ));
        }
        Ok(value)
    }

    /// Milliseconds (1 ms to 15 min).
    pub fn millis(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.num(var, default, 1, 900_000)
            .map(Duration::from_millis)
    }

    /// Seconds (1 s to a year).
    pub fn secs(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.num(var, default, 1, 365 * 86_400)
            .map(Duration::from_secs)
    }

    /// `true`/`1`/`yes` or `false`/`0`/`no`.
    pub fn bool(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.string(var).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(_) => Err(ConfigError::new(var, "must be true or false")),
        }
    }

    /// An `http://` or `https://` URL, without a trailing slash.
    pub fn http_url(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        match self.string(var) {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(ConfigError::new(var, "must be an http(s) URL"))
            }
            Some(url) => Ok(Some(url.trim_end_matches('/').to_owned())),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_reader_trims_and_treats_empty_as_unset() {
        let env = Env::from_pairs(&[("A", "  x "), ("B", "   ")]);
        assert_eq!(env.string("A").as_deref(), Some("x"));
        assert_eq!(env.string("B"), None);
        assert_eq!(env.required("B").unwrap_err().var, "B");
        assert!(!format!("{env:?}").contains('x'));
    }
}
