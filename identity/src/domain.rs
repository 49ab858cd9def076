//! Validated domain values: constructing one is the proof that the input passed the rules.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use shared::error::{ApiError, FieldError};

/// A failed rule, located in the request (`["body", "email"]`), ready for a 422.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Field name.
    pub field: &'static str,
    /// What is wrong.
    pub msg: String,
    /// Machine-readable kind.
    pub kind: &'static str,
}

impl Invalid {
    fn new(field: &'static str, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            field,
            msg: msg.into(),
            kind,
        }
    }

    /// As a body field error.
    pub fn into_field_error(self) -> FieldError {
        FieldError::new(&["body", self.field], self.msg, self.kind)
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        ApiError::Validation(vec![invalid.into_field_error()])
    }
}

/// Collects every failed rule of a request body into one 422.
#[derive(Debug, Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    /// Keeps `value` when valid, records the failure otherwise.
    pub fn check<T>(&mut self, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.0.push(invalid.into_field_error());
                None
            }
        }
    }

    /// Err with every recorded failure, or Ok when there were none.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }

    /// Like [`Validator::finish`], then unwraps the checked values (a tuple of the `Option`s
    /// [`Validator::check`] returned): every one is `Some` once no failure was recorded.
    pub fn finish_with<T: Checked>(self, values: T) -> Result<T::Values, ApiError> {
        self.finish()?;
        values.all().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "a checked value is missing without a failure"
            ))
        })
    }
}

/// A tuple of checked values, each `Option`al until the validator finished.
pub trait Checked {
    /// The tuple without the `Option`s.
    type Values;
    /// `Some` when every value is present.
    fn all(self) -> Option<Self::Values>;
}

macro_rules! checked_tuple {
    ($($t:ident $v:ident),+) => {
        impl<$($t),+> Checked for ($(Option<$t>,)+) {
            type Values = ($($t,)+);
            fn all(self) -> Option<Self::Values> {
                let ($($v,)+) = self;
                Some(($($v?,)+))
            }
        }
    };
}
checked_tuple!(A a);
checked_tuple!(A a, B b);
checked_tuple!(A a, B b, C c);
checked_tuple!(A a, B b, C c, D d);
checked_tuple!(A a, B b, C c, D d, E e);

/// An email address, trimmed and lower-cased: emails are unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld`, at most 254 characters, no whitespace or control characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        let bad = || {
            Invalid::new(
                "email",
                "value is not a valid email address",
                "value_error.email",
            )
        };
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad());
        }
        Ok(Self(email))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username: 3–50 of `[A-Za-z0-9_.-]`. Case is kept for display; uniqueness ignores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Applies the contract's rule.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if !(3..=50).contains(&name.len()) {
            return Err(Invalid::new(
                "username",
                "username must be 3 to 50 characters",
                "value_error.length",
            ));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(Invalid::new(
                "username",
                "username may contain only letters, digits, '_', '.' and '-'",
                "value_error.pattern",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// As given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key its uniqueness guard uses.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A first or last name: 1–50 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// `field` is the body field it came from, for the 422 location.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let name = raw.trim();
        let count = name.chars().count();
        if !(1..=50).contains(&count) {
            return Err(Invalid::new(
                field,
                "must be 1 to 50 characters",
                "value_error.length",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new(
                field,
                "must not contain control characters",
                "value_error",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that passed the policy: 8–128 characters, no composition rules, and not one of
/// the passwords attackers try first (ASVS 6.2.4), judged by zxcvbn's dictionaries.
pub struct NewPassword(SecretString);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([REDACTED])")
    }
}

impl NewPassword {
    /// `field` names the body field; `context` holds the user's own inputs (username, email, names),
    /// which make a password guessable too.
    pub fn parse(
        raw: &SecretString,
        field: &'static str,
        context: &[&str],
    ) -> Result<Self, Invalid> {
        let password = raw.expose_secret();
        let count = password.chars().count();
        if !(8..=128).contains(&count) {
            return Err(Invalid::new(
                field,
                "password must be 8 to 128 characters",
                "value_error.length",
            ));
        }
        let estimate = zxcvbn::zxcvbn(password, context);
        if (estimate.score() as u8) < 2 {
            return Err(Invalid::new(
                field,
                "password is too common or easy to guess; try a longer phrase",
                "value_error.password_common",
            ));
        }
        Ok(Self(raw.clone()))
    }

    /// The secret.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_trimmed() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "alice@exa..mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_follow_the_contract() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(51)).is_err());
        assert!(Username::parse("bad name").is_err());
        assert_eq!(
            Username::parse("Jane_Doe-1.x").unwrap().key(),
            "jane_doe-1.x"
        );
    }

    #[test]
    fn common_passwords_are_refused_and_phrases_accepted() {
        let check = |p: &str| NewPassword::parse(&SecretString::from(p), "password", &[]);
        assert!(check("password").is_err());
        assert!(check("12345678").is_err());
        assert!(check("qwertyuiop").is_err());
        assert!(check("short").is_err());
        assert!(check(&"x".repeat(129)).is_err());
        assert!(check("correct horse battery staple").is_ok());
        assert!(check("tY7#kw9!Lm").is_ok());
    }

    #[test]
    fn a_password_made_of_the_username_is_refused() {
        let result = NewPassword::parse(
            &SecretString::from("janedoe2026"),
            "password",
            &["janedoe2026"],
        );
        assert!(result.is_err());
    }
}
