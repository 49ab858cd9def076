//! The wall clock, in the three forms the API and the stores use, and the fixed windows counted
//! against it.

/// Now, in seconds since the epoch (token claims, TTL attributes).
pub fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Now, in milliseconds since the epoch (session creation, `tokens_valid_after_ms`).
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Now as RFC 3339 UTC with second precision, as in the contract's examples.
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// `at` as RFC 3339 UTC with second precision (the fraction dropped), as the API shows times.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let at = at.replace_nanosecond(0).unwrap_or(at);
    // Formatting a UTC date as RFC 3339 cannot fail for years 0..=9999.
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The fixed window of `len_secs` (at least 1) that holds `now`: its start and its end, in
/// epoch seconds. The rate limiter and the identity counters key and expire their items by it.
pub fn fixed_window(now: i64, len_secs: i64) -> (i64, i64) {
    let len = len_secs.max(1);
    let start = now - now.rem_euclid(len);
    (start, start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_window_starts_on_a_multiple_of_its_length_and_holds_now() {
        assert_eq!(fixed_window(125, 60), (120, 180));
        assert_eq!(fixed_window(120, 60), (120, 180));
        assert_eq!(fixed_window(-1, 60), (-60, 0));
        assert_eq!(
            fixed_window(7, 0),
            (7, 8),
            "a zero length counts as one second"
        );
    }

    #[test]
    fn the_three_clocks_agree() {
        let (s, ms) = (now_s(), now_ms());
        assert!((ms / 1000 - s).abs() <= 1);
        let text = now_rfc3339();
        assert!(text.ends_with('Z') && !text.contains('.'), "{text}");
    }
}
