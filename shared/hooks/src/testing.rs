//! What the verifiers' tests share.

use crate::{Delivery, Verified, Verifier, VerifyError};

/// `verifier`'s answer to a delivery of `body` with `headers`, at `now`.
pub(crate) fn verify_with(
    verifier: &dyn Verifier,
    headers: &[(&str, &str)],
    body: &[u8],
    now: i64,
) -> Result<Verified, VerifyError> {
    verifier.verify(&Delivery {
        headers: &headers,
        body,
        now,
    })
}

/// `headers` without each one in turn: the name left out, and the others.
pub(crate) fn each_left_out<'n, 'v>(
    headers: &[(&'n str, &'v str)],
) -> impl Iterator<Item = (&'n str, Vec<(&'n str, &'v str)>)> {
    (0..headers.len()).map(|skipped| {
        let others = headers
            .iter()
            .enumerate()
            .filter(|&(index, _)| index != skipped)
            .map(|(_, &pair)| pair)
            .collect();
        (headers[skipped].0, others)
    })
}
