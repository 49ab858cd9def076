//! What the two schemes that sign `"{id}.{timestamp}.{body}"` share: Standard Webhooks, and the
//! RSA format modelled on it. Their three headers, read and checked in one order, the signed
//! content, and what a verified delivery of theirs carries (its id, a trustworthy
//! de-duplication key because it is signed, and its timestamp).

use crate::{Delivery, Verified, VerifyError, mac};

/// A scheme's header names: the message id, the timestamp and the signature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names {
    pub(crate) id: &'static str,
    pub(crate) timestamp: &'static str,
    pub(crate) signature: &'static str,
}

/// The three headers of a delivery, each present.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamped<'a> {
    pub(crate) id: &'a str,
    /// The timestamp exactly as sent: that text, not the number it parses to, is what was
    /// signed.
    pub(crate) timestamp: &'a str,
    /// The signature header, for the scheme to parse.
    pub(crate) signature: &'a str,
    names: Names,
}

impl<'a> Stamped<'a> {
    /// The headers named `names`: the first missing one (id, timestamp, signature) is named.
    pub(crate) fn read(delivery: &Delivery<'a>, names: Names) -> Result<Self, VerifyError> {
        Ok(Self {
            id: delivery.require(names.id)?,
            timestamp: delivery.require(names.timestamp)?,
            signature: delivery.require(names.signature)?,
            names,
        })
    }

    /// The signed timestamp (Unix seconds). An empty id, or a timestamp that is not digits
    /// only, makes its header malformed.
    pub(crate) fn unix_time(&self) -> Result<i64, VerifyError> {
        if self.id.is_empty() {
            return Err(VerifyError::MalformedHeader(self.names.id));
        }
        mac::parse_unix(self.timestamp).ok_or(VerifyError::MalformedHeader(self.names.timestamp))
    }

    /// The signed content for `body`, in parts: `"{id}.{timestamp}.{body}"`.
    pub(crate) fn content<'c>(&self, body: &'c [u8]) -> [&'c [u8]; 5]
    where
        'a: 'c,
    {
        content(self.id, self.timestamp, body)
    }

    /// What the delivery carries once its signature and `timestamp` have passed.
    pub(crate) fn verified(&self, timestamp: i64) -> Verified {
        Verified {
            delivery_id: Some(self.id.to_owned()),
            event_type: None,
            timestamp: Some(timestamp),
        }
    }
}

/// `"{id}.{timestamp}.{body}"`, in parts, so that a large body is never copied to prepend them
/// where the parts can be fed one by one (HMAC).
pub(crate) fn content<'c>(id: &'c str, timestamp: &'c str, body: &'c [u8]) -> [&'c [u8]; 5] {
    [id.as_bytes(), b".", timestamp.as_bytes(), b".", body]
}
