//! `Date` values in IMF-fixdate form (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
//!
//! RFC 9110 §6.6.1 requires an origin server with a clock to send `Date` in 2xx–4xx responses;
//! the server adds it to the responses it generates itself (errors). Handlers add their own.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate.
pub(super) const LEN: usize = 29;

/// The current time as an IMF-fixdate.
pub(super) fn now() -> [u8; LEN] {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    imf_fixdate(secs)
}

/// Formats seconds since the Unix epoch (years past 9999 are clamped to 9999).
pub(super) fn imf_fixdate(secs: u64) -> [u8; LEN] {
    // 1970-01-01 was a Thursday.
    const WEEKDAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let time = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(WEEKDAYS[(days % 7) as usize]);
    put_digits(&mut out[5..7], day);
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    put_digits(&mut out[12..16], year.min(9999));
    put_digits(&mut out[17..19], time / 3600);
    put_digits(&mut out[20..22], time / 60 % 60);
    put_digits(&mut out[23..25], time % 60);
    out
}

/// Writes `n` as zero-padded decimal filling `slot`.
fn put_digits(slot: &mut [u8], mut n: u64) {
    for b in slot.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Proleptic Gregorian (year, month 1–12, day 1–31) of a day count since 1970-01-01
/// (H. Hinnant's `civil_from_days`, restricted to non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
