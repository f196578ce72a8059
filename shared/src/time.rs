//! Time helpers. Sigil stores and replicates instants as Unix seconds (`i64`, UTC) and renders
//! them as ASN.1 GeneralizedTime (X.690 §11.7, `YYYYMMDDHHMMSSZ`) for OCSP (RFC 6960 §4.2.1)
//! or as HTTP-dates (RFC 9110 §5.6.7) for caching headers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Civil date (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC time: (year, month, day, hour, minute, second).
pub fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
}

/// The 15 content octets of a GeneralizedTime `YYYYMMDDHHMMSSZ` (years 0..=9999), built on
/// the stack: this runs twice per signed OCSP response.
pub fn generalized_time(unix: i64) -> [u8; 15] {
    let (y, mo, d, h, mi, s) = civil(unix);
    let y = y.clamp(0, 9999) as u32;
    let mut out = [b'Z'; 15];
    for (i, v) in [y / 100, y % 100, mo, d, h, mi, s].into_iter().enumerate() {
        out[2 * i] = b'0' + (v / 10 % 10) as u8;
        out[2 * i + 1] = b'0' + (v % 10) as u8;
    }
    out
}

/// Parses the content octets of a GeneralizedTime in the `YYYYMMDDHHMMSSZ` form DER requires.
pub fn parse_generalized_time(b: &[u8]) -> Option<i64> {
    if b.len() != 15 || b[14] != b'Z' || !b[..14].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |i: usize, len: usize| {
        b[i..i + len]
            .iter()
            .fold(0i64, |a, c| a * 10 + (c - b'0') as i64)
    };
    let (y, mo, d, h, mi, s) = (n(0, 4), n(4, 2), n(6, 2), n(8, 2), n(10, 2), n(12, 2));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    // days_from_civil (inverse of civil_from_days).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

/// An IMF-fixdate HTTP-date, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
pub fn http_date(unix: i64) -> String {
    let mut out = Vec::with_capacity(29);
    push_http_date(&mut out, unix);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the 29-byte IMF-fixdate of `unix` to `out` without allocating (the data plane
/// writes two per OCSP response it serves from its index).
pub fn push_http_date(out: &mut Vec<u8>, unix: i64) {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let (y, mo, d, h, mi, s) = civil(unix);
    let y = y.clamp(0, 9999) as u32;
    let two = |v: u32| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    out.extend_from_slice(DAYS[unix.div_euclid(86_400).rem_euclid(7) as usize]);
    out.extend_from_slice(b", ");
    out.extend_from_slice(&two(d));
    out.push(b' ');
    out.extend_from_slice(MONTHS[mo as usize - 1]);
    out.push(b' ');
    out.extend_from_slice(&two(y / 100));
    out.extend_from_slice(&two(y % 100));
    out.push(b' ');
    out.extend_from_slice(&two(h));
    out.push(b':');
    out.extend_from_slice(&two(mi));
    out.push(b':');
    out.extend_from_slice(&two(s));
    out.extend_from_slice(b" GMT");
}

/// RFC 3339 UTC timestamp, e.g. `2026-11-22T23:00:00Z`.
pub fn rfc3339(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(&generalized_time(0), b"19700101000000Z");
        assert_eq!(&generalized_time(951_782_400), b"20000229000000Z");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(rfc3339(784_111_777), "1994-11-06T08:49:37Z");
        assert_eq!(
            parse_generalized_time(b"20491231235959Z"),
            Some(2_524_607_999)
        );
        assert_eq!(parse_generalized_time(b"2049123123595Z"), None);
    }

    proptest! {
        #[test]
        fn generalized_time_round_trip(t in 0i64..253_402_300_799) {
            prop_assert_eq!(parse_generalized_time(&generalized_time(t)), Some(t));
        }
    }
}
