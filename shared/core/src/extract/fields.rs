//! A body read field by field, so that a 422 names every failing field at once.
//!
//! serde's derived `Deserialize` stops at the first error. [`read`] runs it over the body's
//! members as often as it takes: each failure is recorded at its field, and the next run gives
//! that field a stand-in value ([`StandIn`]), so the run gets further; the first unknown field
//! tells that the type refuses unknown fields, and every unknown field is then recorded and left
//! out at once. Every run settles at least one more field, so there are at most as many runs as
//! the body has members and the type has fields, plus one. Once a run succeeds, the body's own
//! rules ([`Validate`]) add the failures of the fields whose shape was right.
//!
//! The failures come in a stable order: the shape's (wrong type, missing, repeated) in the order
//! the type declares its fields, then the unknown fields in the order they were sent, then the
//! rules' in the order the body's check reports them.

use std::{
    cell::Cell,
    collections::{BTreeSet, HashSet},
};

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor,
};
use serde_json::Value;

use super::Validate;
use crate::error::{ApiError, ErrorCode, FieldError};

/// The fields a type declares, as its derived `Deserialize` names them.
type Declared = &'static [&'static str];

/// A JSON object's members in the order sent, repeated names kept (for [`read`] to refuse).
pub(super) type Members = Vec<(String, Value)>;

/// The members of a JSON body: 400 when it does not parse (syntax, trailing bytes), 422 at
/// `["body"]` when it is not an object.
pub(super) fn parse_object(bytes: &[u8]) -> Result<Members, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // Every JSON value is accepted here, so any error is the document's own (syntax, an
    // unterminated value, a number out of range, nesting too deep): malformed.
    let top = TopLevel
        .deserialize(&mut de)
        .map_err(|_| ErrorCode::BadRequest)?;
    // Trailing bytes after the value mean the body is not one JSON document: malformed wins over
    // anything its fields would say.
    de.end().map_err(|_| ErrorCode::BadRequest)?;
    top.ok_or_else(|| {
        ApiError::invalid_field(&["body"], "the body must be a JSON object", "value_error")
    })
}

/// Reads the top-level value: `Some` members of an object, `None` for any other value (read to
/// its end, so that its syntax is checked too).
struct TopLevel;

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = Option<Members>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = Option<Members>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            members.push((name, map.next_value::<Value>()?));
        }
        Ok(Some(members))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The body as `T`, or a 422 with every failure (see the module's documentation).
pub(super) fn read<T: DeserializeOwned + Validate>(members: &Members) -> Result<T, ApiError> {
    // The first of repeated members is the one read; a repeated field is refused below.
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    let given: Vec<(&str, &Value)> = members
        .iter()
        .filter_map(|(name, value)| {
            if seen.insert(name.as_str()) {
                Some((name.as_str(), value))
            } else {
                if !repeated.contains(&name.as_str()) {
                    repeated.push(name.as_str());
                }
                None
            }
        })
        .collect();

    let mut state = State::default();
    let fields = Cell::new(None);
    let mut repeats_checked = false;
    let mut runs = 0;
    loop {
        // Every run but the last settles a field that was given or declared, and a run that
        // settled nothing stops the loop; the bound says so once more.
        runs += 1;
        if runs > given.len() + fields.get().map_or(0, <[_]>::len) + 2 {
            return Err(state.finish::<T>(None));
        }
        let run = Run {
            given: &given,
            state: &state,
            fields: &fields,
        };
        let result = serde_path_to_error::deserialize::<_, T>(run);
        let declared: Declared = fields.get().unwrap_or_default();
        if !repeats_checked && fields.get().is_some() {
            repeats_checked = true;
            let before = state.stand_in.len();
            for name in repeated.iter().filter(|name| declared.contains(name)) {
                state.fail(
                    declared,
                    &given,
                    name,
                    FieldError::new(
                        &["body", name],
                        format!("duplicate field `{name}`"),
                        "value_error",
                    ),
                );
            }
            if state.stand_in.len() > before {
                continue;
            }
        }
        match result {
            Ok(value) if state.failures.is_empty() => return Ok(value),
            Ok(value) => return Err(state.finish(Some(&value))),
            Err(err) => {
                if !state.settle(declared, &given, &err) {
                    return Err(state.finish::<T>(None));
                }
            }
        }
    }
}

/// How many unknown members a 422 names; the others are refused with them, unnamed.
const MAX_UNKNOWN: usize = 32;

/// What the runs so far found.
#[derive(Default)]
struct State {
    /// Fields that failed (or are missing): a stand-in takes their place in the next runs.
    stand_in: BTreeSet<String>,
    /// Unknown members, left out of the next runs.
    left_out: BTreeSet<String>,
    /// Each failure with its rank (its field's place in the type, unknown members after).
    failures: Vec<(usize, FieldError)>,
}

impl State {
    /// Records `error` of `field` and puts a stand-in there.
    fn fail(
        &mut self,
        declared: Declared,
        given: &[(&str, &Value)],
        field: &str,
        error: FieldError,
    ) {
        self.failures.push((rank(declared, given, field), error));
        self.stand_in.insert(field.to_owned());
    }

    /// Settles the field a failed run stopped at; false when nothing could be settled.
    fn settle(
        &mut self,
        declared: Declared,
        given: &[(&str, &Value)],
        err: &serde_path_to_error::Error<serde_json::Error>,
    ) -> bool {
        let message = strip_position(&err.inner().to_string());
        let path = err.path().to_string();
        if path == "."
            && let Some(name) = quoted(&message, "missing field `")
        {
            if self.stand_in.contains(name) {
                return false;
            }
            self.fail(
                declared,
                given,
                name,
                FieldError::new(&["body", name], "Field required", "missing"),
            );
            return true;
        }
        if message.starts_with("unknown field `") {
            // The type refuses unknown members: every one of them, at once (the first
            // MAX_UNKNOWN named: a body of many small members must not make a huge answer).
            let before = self.left_out.len();
            for (i, (name, _)) in given.iter().enumerate() {
                if declared.contains(name) || !self.left_out.insert((*name).to_owned()) {
                    continue;
                }
                if self.left_out.len() <= MAX_UNKNOWN {
                    let msg = <serde_json::Error as de::Error>::unknown_field(name, declared);
                    self.failures.push((
                        declared.len() + i,
                        FieldError::new(&["body", name], msg.to_string(), "extra_forbidden"),
                    ));
                }
            }
            return self.left_out.len() > before;
        }
        let Some(field) = top_field(&path) else {
            // The body as a whole: nothing to stand in for.
            self.failures.push((
                usize::MAX,
                FieldError::new(&["body"], message, "value_error"),
            ));
            return false;
        };
        if self.stand_in.contains(field) {
            // A stand-in the field's type refuses: its failure is already recorded.
            return false;
        }
        let mut loc = vec!["body".to_owned()];
        loc.extend(path.split('.').map(str::to_owned));
        self.fail(
            declared,
            given,
            field,
            FieldError {
                loc,
                msg: message,
                kind: "value_error".to_owned(),
            },
        );
        true
    }

    /// The 422: the shape's failures in order, then (when a run succeeded) what the body's rules
    /// say about the fields whose shape was right.
    fn finish<T: Validate>(mut self, value: Option<&T>) -> ApiError {
        self.failures.sort_by_key(|(rank, _)| *rank);
        let mut errors: Vec<FieldError> = self.failures.into_iter().map(|(_, e)| e).collect();
        if let Some(value) = value {
            let stand_in = &self.stand_in;
            errors.extend(
                value
                    .rule_errors()
                    .into_iter()
                    .filter(|e| e.loc.get(1).is_none_or(|field| !stand_in.contains(field))),
            );
        }
        ApiError::Validation(errors)
    }
}

/// Where a failure of `field` ranks: its place among the type's fields, unknown members after
/// them in the order sent.
fn rank(declared: Declared, given: &[(&str, &Value)], field: &str) -> usize {
    declared
        .iter()
        .position(|name| *name == field)
        .or_else(|| {
            given
                .iter()
                .position(|(name, _)| *name == field)
                .map(|i| declared.len() + i)
        })
        .unwrap_or(usize::MAX)
}

/// The first segment of a path as serde_path_to_error prints it (`roles[1]`, `a.b`), `None` at
/// the root (`.`).
fn top_field(path: &str) -> Option<&str> {
    if path == "." {
        return None;
    }
    path.split(['.', '[']).next().filter(|s| !s.is_empty())
}

/// The name in a serde message such as ``missing field `email` ``.
fn quoted<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// serde_json appends " at line 1 column 17"; it helps nobody reading an API response.
pub(super) fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// One run over the body: the members given (less the unknown ones left out), a stand-in for
/// each field that failed or is missing.
struct Run<'a> {
    given: &'a [(&'a str, &'a Value)],
    state: &'a State,
    /// The type's fields, as its derived `Deserialize` names them.
    fields: &'a Cell<Option<Declared>>,
}

impl<'de> Deserializer<'de> for Run<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(RunMembers {
            all: self.given,
            given: self.given.iter(),
            missing: self.state.stand_in.iter(),
            state: self.state,
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.fields.set(Some(fields));
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The members of one run: the given ones in the order sent (a stand-in in place of the value
/// of those that failed, the unknown ones left out), then a stand-in for each failed field that
/// was not given (the missing ones).
struct RunMembers<'a> {
    all: &'a [(&'a str, &'a Value)],
    given: std::slice::Iter<'a, (&'a str, &'a Value)>,
    missing: std::collections::btree_set::Iter<'a, String>,
    state: &'a State,
    /// The value of the member whose name was just read: `None` for a stand-in.
    value: Option<Option<&'a Value>>,
}

impl<'de> MapAccess<'de> for RunMembers<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        for (name, value) in self.given.by_ref() {
            if self.state.left_out.contains(*name) {
                continue;
            }
            let stand_in = self.state.stand_in.contains(*name);
            self.value = Some((!stand_in).then_some(*value));
            return seed.deserialize(name.into_deserializer()).map(Some);
        }
        for name in self.missing.by_ref() {
            if self.all.iter().any(|(given, _)| given == name) {
                continue;
            }
            self.value = Some(None);
            return seed
                .deserialize(name.as_str().into_deserializer())
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(Some(value)) => seed.deserialize(value),
            Some(None) => seed.deserialize(StandIn),
            None => Err(de::Error::custom("a value without its name")),
        }
    }
}

/// A value of whatever type is asked for, the plainest there is (`""`, `0`, `false`, `None`, an
/// empty list, the first variant): what a failed field holds in the runs after its failure, so
/// that serde reads on. A type that refuses it stops the runs (see [`State::settle`]).
struct StandIn;

impl<'de> Deserializer<'de> for StandIn {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bool(false)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_i64(0)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_i64(0)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_i64(0)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_i64(0)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_u64(0)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_u64(0)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_u64(0)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_u64(0)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_f64(0.0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_f64(0.0)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_char('_')
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str("")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str("")
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bytes(&[])
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bytes(&[])
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_none()
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_seq(de::value::SeqDeserializer::new(std::iter::empty::<u8>()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(de::value::MapDeserializer::new(
            std::iter::empty::<(u8, u8)>(),
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let first = variants
            .first()
            .ok_or_else(|| de::Error::custom("an enum without variants"))?;
        visitor.visit_enum(first.into_deserializer())
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str("")
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }
}
