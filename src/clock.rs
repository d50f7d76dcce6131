//! Wall-clock time as whole seconds since the Unix epoch, and its text forms.
//!
//! Records store plain `u64` seconds so the on-disk format never depends on a time crate;
//! this module turns them into RFC 3339 (JSON) and HTTP dates (headers).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now. A clock before 1970 reads as 0.
///
/// `DEPOT_TEST_CLOCK_OFFSET` (signed seconds, read once) shifts it, so the integration
/// tests can publish versions "days ago" against the real binary (cleanup rules by age).
/// It is not a setting: nothing documents it for operators.
pub fn now() -> u64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    secs.saturating_add_signed(offset())
}

fn offset() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var("DEPOT_TEST_CLOCK_OFFSET").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    })
}

/// Nanoseconds since the epoch, strictly increasing within this process: orders records
/// created in the same second (e.g. which version is the newest).
pub fn ordinal() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// `2026-01-02T03:04:05Z`.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// The last second an HTTP date can show: 9999-12-31T23:59:59Z.
pub const LAST_HTTP_DATE: u64 = 253_402_300_799;

/// An IMF-fixdate for `Last-Modified`. A time past [`LAST_HTTP_DATE`] (only a damaged record
/// holds one) shows as that date: the formatter panics beyond it.
pub fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs.min(LAST_HTTP_DATE)))
}

/// Parses an HTTP date (`If-Modified-Since`); `None` when it is not one.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let t = httpdate::parse_http_date(text).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_323_045), "2026-01-02T03:04:05Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn ordinals_strictly_increase() {
        let a = ordinal();
        let b = ordinal();
        assert!(b > a);
    }

    #[test]
    fn http_date_round_trips() {
        let s = http_date(1_767_323_045);
        assert_eq!(s, "Fri, 02 Jan 2026 03:04:05 GMT");
        assert_eq!(parse_http_date(&s), Some(1_767_323_045));
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(http_date(LAST_HTTP_DATE), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(u64::MAX), http_date(LAST_HTTP_DATE));
    }
}
