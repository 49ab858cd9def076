//! Validated domain values: constructing one is the proof that the input passed the rules.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

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

/// The rules of the fields above as OpenAPI schemas, for the request bodies that carry them: the
/// document then refuses what the rules refuse. Two differences remain, both the server being
/// more lenient: the rules read a value after NFKC, which the patterns cannot say (a fullwidth
/// `ｊａｎｅ` is the username `jane`; a ligature may count as two characters), and the few format
/// characters outside the Basic Multilingual Plane are refused by the rules only
/// ([`shared::openapi::chars`]).
pub mod schema {
    use shared::openapi::{chars, text};
    use utoipa::openapi::schema::Object;

    /// [`super::Username`]: 3–50 of `[A-Za-z0-9_.-]`, white space around it trimmed.
    pub fn username_pattern() -> String {
        let space = chars::SPACE;
        format!("^[{space}]*[A-Za-z0-9_.-]{{3,50}}[{space}]*$")
    }

    /// [`super::PersonName`]: 1–50 characters once trimmed, none of them a control or format
    /// character.
    pub fn person_name_pattern() -> String {
        let space = chars::SPACE;
        let bad = format!("{}{}", chars::CONTROL, chars::FORMAT);
        format!("^[{space}]*[^{space}{bad}](?:[^{bad}]{{0,48}}[^{space}{bad}])?[{space}]*$")
    }

    const USERNAME: &str = "3-50 of `[A-Za-z0-9_.-]` once trimmed and NFKC-normalized \
        (a fullwidth spelling is the plain one); unique case-insensitively.";
    const PERSON_NAME: &str = "1-50 characters once trimmed and NFKC-normalized, any script; no \
        control, format (Cf) or bidi control character.";

    /// `username` (signup).
    pub fn username() -> Object {
        text(&username_pattern(), USERNAME, false)
    }

    /// `username` that may be left out or `null` (a profile change).
    pub fn optional_username() -> Object {
        text(&username_pattern(), USERNAME, true)
    }

    /// `first_name` or `last_name` (signup).
    pub fn person_name() -> Object {
        text(&person_name_pattern(), PERSON_NAME, false)
    }

    /// `first_name` or `last_name` that may be left out or `null` (a profile change).
    pub fn optional_person_name() -> Object {
        text(&person_name_pattern(), PERSON_NAME, true)
    }
}

/// Compatibility-normalized (NFKC): fullwidth letters, ligatures, the Kelvin sign, … become the
/// plain characters they stand for, so look-alike spellings of one identity meet at its guard.
fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

/// A bidirectional control: the embeddings and overrides (LRE, RLE, PDF, LRO, RLO:
/// U+202A–U+202E), the isolates (LRI, RLI, FSI, PDI: U+2066–U+2069) and the marks (LRM U+200E,
/// RLM U+200F, ALM U+061C). All are format characters too; listed as the rule names them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Invisible or direction-changing: a format character (general category Cf: zero-width
/// space and joiners, soft hyphen, word joiner, BOM, tag characters, …) or a bidi control.
fn is_invisible_or_bidi(c: char) -> bool {
    c.general_category() == GeneralCategory::Format || is_bidi_control(c)
}

/// Longest accepted address (RFC 5321's path limit less the angle brackets).
const MAX_EMAIL_LEN: usize = 254;

/// An email address, normalized so that one mailbox has one spelling, which is both the key of
/// its uniqueness guard (`EMAIL#<address>`) and where mail goes.
///
/// Policy (look-alike identities):
/// - The input is trimmed, then NFKC-normalized. A control, whitespace, format (Cf) or bidi
///   control character anywhere, before or after normalization, refuses the address.
/// - **Local part: ASCII only after NFKC.** A fullwidth `ｊａｎｅ` becomes `jane` and so is the
///   same account as `jane` (the guard refuses the second signup); a local part still non-ASCII
///   after NFKC (Cyrillic `jаne`, …) is refused: SMTPUTF8 mailboxes are rare and look-alikes are
///   the risk. It is then lower-cased.
/// - **Domain: converted to its IDNA ASCII form** (UTS 46, strict: STD3 characters, hyphen and
///   DNS length rules) and stored that way, so `exаmple.com` with a Cyrillic `а` is kept as
///   `xn--exmple-4nf.com`, visibly not `example.com`; a domain IDNA refuses is refused.
/// - Case folding: ASCII lower-casing is all the folding needed. The local part is ASCII by the
///   time it is lower-cased, and on ASCII lower-casing and full case folding agree; the
///   non-ASCII characters that full folding would turn into ASCII either already are ASCII after
///   NFKC (Kelvin sign `K`, long `ſ`) or are refused with the rest of the non-ASCII local parts
///   (`ß`, which folds to `ss`: `straße@` is refused, not merged with `strasse@`). UTS 46 maps
///   the domain through its own case fold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` as described on [`Email`], at most 254 characters once
    /// normalized.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(
                "email",
                "value is not a valid email address",
                "value_error.email",
            )
        };
        let refused = |c: char| c.is_whitespace() || c.is_control() || is_invisible_or_bidi(c);
        let raw = raw.trim();
        // Cheap bound before normalizing: a valid address is at most 254 characters, and no
        // honest spelling of one needs more than 4 bytes of input for each.
        if raw.len() > 4 * MAX_EMAIL_LEN || raw.chars().any(refused) {
            return Err(bad());
        }
        let email = nfkc(raw);
        if email.chars().any(refused) {
            return Err(bad());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') || !local.is_ascii() {
            return Err(bad());
        }
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| bad())?;
        if !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad());
        }
        let email = format!("{}@{domain}", local.to_ascii_lowercase());
        if email.len() > MAX_EMAIL_LEN {
            return Err(bad());
        }
        Ok(Self(email))
    }

    /// The normalized address (ASCII: lower-cased local part, IDNA ASCII domain).
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
///
/// Policy (look-alike identities): the input is NFKC-normalized first, so a fullwidth
/// `ｊａｎｅ＿ｄｏｅ` becomes `jane_doe` and is the same account as the ASCII spelling (the guard
/// refuses the second signup, and either spelling logs in). Whatever is still not in the ASCII
/// set after that is refused: Cyrillic look-alikes, and format (Cf) and bidi characters such as
/// RLO or a zero-width space.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Applies the contract's rule to the NFKC form.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let normalized = nfkc(raw);
        let name = normalized.trim();
        if !(3..=50).contains(&name.chars().count()) {
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

/// Longest login identifier that is looked up: no username or email is longer.
const MAX_LOGIN_LEN: usize = MAX_EMAIL_LEN;

/// What the identifier of a login names, read exactly as signup stored it: whatever parses as
/// an [`Email`] is one (a username cannot hold an `@`; after NFKC a fullwidth `＠` counts), else
/// whatever parses as a [`Username`] is one, else it is neither and names no account.
///
/// Its [`LoginName::key`] is what the account is found by and what password guesses are counted
/// under, so every spelling that reaches one account (fullwidth, upper case, white space around
/// it) is one name to the guess counters too: a new spelling gets no fresh counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    /// An email address, normalized.
    Email(Email),
    /// A username (its guard key is [`Username::key`]).
    Username(Username),
    /// Neither: never an account. Kept NFKC-normalized and lower-cased (trimmed; at most
    /// [`MAX_LOGIN_LEN`] characters are read), so its spellings are counted together as well.
    Neither(String),
}

impl LoginName {
    /// Reads the `username` field of a login.
    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim();
        if trimmed.chars().count() > MAX_LOGIN_LEN {
            // Longer than any username or email: never an account, and never normalized whole.
            let head: String = trimmed.chars().take(MAX_LOGIN_LEN + 1).collect();
            return Self::Neither(nfkc(&head).to_lowercase());
        }
        if let Ok(email) = Email::parse(trimmed) {
            return Self::Email(email);
        }
        match Username::parse(trimmed) {
            Ok(name) => Self::Username(name),
            Err(_) => Self::Neither(nfkc(trimmed).to_lowercase()),
        }
    }

    /// One string per name, whatever its spelling, and never the same for two kinds: an email
    /// has an `@` and a username none, and neither has a space, which the others' prefix has.
    pub fn key(&self) -> String {
        match self {
            Self::Email(email) => email.as_str().to_owned(),
            Self::Username(name) => name.key(),
            Self::Neither(other) => format!("other {other}"),
        }
    }
}

/// A first or last name: 1–50 characters after NFKC and trimming; any script, but no control,
/// format (Cf) or bidi control characters, which could hide text or reorder what is displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// `field` is the body field it came from, for the 422 location.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let normalized = nfkc(raw);
        let name = normalized.trim();
        let count = name.chars().count();
        if !(1..=50).contains(&count) {
            return Err(Invalid::new(
                field,
                "must be 1 to 50 characters",
                "value_error.length",
            ));
        }
        let mut both = raw.trim().chars().chain(name.chars());
        if both.clone().any(char::is_control) {
            return Err(Invalid::new(
                field,
                "must not contain control characters",
                "value_error",
            ));
        }
        if both.any(is_invisible_or_bidi) {
            return Err(Invalid::new(
                field,
                "must not contain invisible or direction-changing characters",
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
    use crate::store::users::guards;

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
    fn a_fullwidth_local_part_normalizes_to_the_ascii_address() {
        assert_eq!(
            Email::parse("ｊａｎｅ@example.com").unwrap().as_str(),
            "jane@example.com"
        );
    }

    #[test]
    fn a_fullwidth_local_part_and_the_ascii_one_share_one_guard_key() {
        let fullwidth = Email::parse("ＪＡＮＥ＠ｅｘａｍｐｌｅ．ｃｏｍ").unwrap();
        let ascii = Email::parse("jane@example.com").unwrap();
        assert_eq!(fullwidth, ascii);
        assert_eq!(
            guards::email_key(fullwidth.as_str()),
            guards::email_key(ascii.as_str())
        );
    }

    #[test]
    fn a_cyrillic_letter_in_the_domain_is_stored_as_punycode() {
        // U+0430 CYRILLIC SMALL LETTER A in place of the Latin `a`.
        assert_eq!(
            Email::parse("jane@ex\u{0430}mple.com").unwrap().as_str(),
            "jane@xn--exmple-4nf.com"
        );
    }

    #[test]
    fn the_cyrillic_domain_and_the_ascii_domain_have_different_guard_keys() {
        let cyrillic = Email::parse("jane@ex\u{0430}mple.com").unwrap();
        let ascii = Email::parse("jane@example.com").unwrap();
        assert_ne!(cyrillic, ascii);
        assert_ne!(
            guards::email_key(cyrillic.as_str()),
            guards::email_key(ascii.as_str())
        );
    }

    #[test]
    fn a_unicode_domain_and_its_punycode_spelling_are_one_address() {
        assert_eq!(
            Email::parse("Jane@EX\u{0410}MPLE.com").unwrap(),
            Email::parse("jane@xn--exmple-4nf.com").unwrap()
        );
        assert_eq!(
            Email::parse("jane@b\u{00FC}cher.de").unwrap().as_str(),
            "jane@xn--bcher-kva.de"
        );
    }

    #[test]
    fn a_local_part_still_non_ascii_after_nfkc_is_refused() {
        for bad in [
            "j\u{0430}ne@example.com",
            "j\u{00E9}r\u{00F4}me@example.com",
            "stra\u{00DF}e@example.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.kind, "value_error.email", "{bad}");
        }
    }

    #[test]
    fn the_kelvin_sign_and_long_s_fold_to_their_ascii_letters() {
        assert_eq!(
            Email::parse("\u{212A}ate\u{017F}@example.com")
                .unwrap()
                .as_str(),
            "kates@example.com"
        );
    }

    #[test]
    fn format_and_bidi_characters_in_emails_are_refused() {
        for bad in [
            "jane\u{200B}@example.com",
            "jane\u{202E}@example.com",
            "jane@exa\u{200B}mple.com",
            "jane@example.com\u{202E}",
            "\u{2066}jane@example.com",
            "jane\u{200D}@example.com",
            "ja\u{00AD}ne@example.com",
            "jane\u{FEFF}@example.com",
            "jane\u{200F}@example.com",
            "jane\u{061C}@example.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad:?}");
            assert_eq!(err.kind, "value_error.email", "{bad:?}");
        }
    }

    #[test]
    fn a_domain_idna_refuses_is_refused() {
        for bad in [
            "jane@exa_mple.com",
            "jane@-example.com",
            "jane@example-.com",
            "jane@xn--zz.com",
            "jane@[127.0.0.1]",
            &format!("jane@{}.com", "a".repeat(64)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_address_too_long_once_normalized_is_refused() {
        let domain = format!("{}.com", "a".repeat(60));
        let local = "b".repeat(64);
        let long = format!("{local}@{}.{domain}.{domain}.{domain}", "c".repeat(60));
        assert!(long.len() > 254);
        assert!(Email::parse(&long).is_err());
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
    fn a_fullwidth_username_maps_to_its_ascii_form() {
        let fullwidth = Username::parse("Ｊａｎｅ＿Ｄｏｅ").unwrap();
        assert_eq!(fullwidth.as_str(), "Jane_Doe");
        assert_eq!(fullwidth.key(), Username::parse("jane_doe").unwrap().key());
    }

    #[test]
    fn usernames_with_rlo_zwsp_or_cyrillic_letters_are_refused() {
        for bad in [
            "jane\u{202E}doe",
            "jane\u{200B}doe",
            "jane_doe\u{200B}",
            "\u{2067}jane_doe",
            "j\u{0430}ne_doe",
        ] {
            let err = Username::parse(bad).unwrap_err();
            assert_eq!(err.kind, "value_error.pattern", "{bad:?}");
        }
    }

    #[test]
    fn names_keep_their_script_and_are_nfkc_normalized() {
        for name in ["José", "Zoë", "Ólafur", "Дмитрий", "李", "محمد"] {
            assert_eq!(
                PersonName::parse(name, "first_name").unwrap().as_str(),
                name
            );
        }
        assert_eq!(
            PersonName::parse("Ｊａｎｅ", "first_name")
                .unwrap()
                .as_str(),
            "Jane"
        );
        // A decomposed é (e + U+0301) is stored composed.
        assert_eq!(
            PersonName::parse("Jose\u{0301}", "first_name")
                .unwrap()
                .as_str(),
            "José"
        );
    }

    #[test]
    fn names_with_format_or_bidi_characters_are_refused() {
        for bad in [
            "Jane\u{202E}",
            "\u{202E}enaJ",
            "Ja\u{200B}ne",
            "Jane\u{2066}Doe\u{2069}",
            "Jane\u{200E}",
            "Ja\u{00AD}ne",
            "Jane\u{FEFF}",
        ] {
            let err = PersonName::parse(bad, "last_name").unwrap_err();
            assert_eq!(err.field, "last_name", "{bad:?}");
            assert_eq!(err.kind, "value_error", "{bad:?}");
            assert_eq!(
                err.msg, "must not contain invisible or direction-changing characters",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_with_control_characters_are_refused_but_surrounding_space_is_trimmed() {
        assert_eq!(
            PersonName::parse("Ja\u{0007}ne", "first_name")
                .unwrap_err()
                .msg,
            "must not contain control characters"
        );
        assert_eq!(
            PersonName::parse(" Jane\n", "first_name").unwrap().as_str(),
            "Jane"
        );
        assert!(PersonName::parse("  ", "first_name").is_err());
        assert!(PersonName::parse(&"é".repeat(51), "first_name").is_err());
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

    #[test]
    fn every_spelling_of_a_login_name_has_one_key() {
        let key = |raw: &str| LoginName::parse(raw).key();
        assert_eq!(key("Jane_Doe"), "jane_doe");
        for spelling in [
            "jane_doe",
            " JANE_DOE ",
            "ｊａｎｅ＿ｄｏｅ",
            "ＪａＮｅ_doe",
            "\u{3000}jane_doe",
        ] {
            assert_eq!(key(spelling), "jane_doe", "{spelling:?}");
        }
        assert_eq!(key("Jane@Example.com"), "jane@example.com");
        assert_eq!(key("ｊａｎｅ＠ｅｘａｍｐｌｅ.ｃｏｍ"), "jane@example.com");
        assert_eq!(key("jane@EXAMPLE.COM"), "jane@example.com");
    }

    #[test]
    fn a_login_name_is_found_where_signup_put_it() {
        let username = Username::parse("ｊａｎｅ＿ｄｏｅ").unwrap();
        let LoginName::Username(found) = LoginName::parse("JANE_doe") else {
            panic!("a username");
        };
        assert_eq!(found.key(), username.key());
        let email = Email::parse("Jane@Example.com").unwrap();
        assert_eq!(
            LoginName::parse("ｊａｎｅ＠example.com"),
            LoginName::Email(email)
        );
    }

    #[test]
    fn a_name_that_is_no_account_still_has_one_key_for_its_spellings() {
        let name = LoginName::parse("ｊａ ｎｅ");
        assert_eq!(name, LoginName::Neither("ja ne".to_owned()));
        assert_eq!(name.key(), LoginName::parse(" JA NE ").key());
        assert_ne!(LoginName::parse("ab").key(), LoginName::parse("abc").key());
        let long = LoginName::parse(&"a".repeat(100_000));
        assert!(matches!(&long, LoginName::Neither(s) if s.len() == 255));
    }
}
