//! Keyper's `dateExpire` (`YYYYMMDD`) and `duration` + `durationUnit`.
//!
//! Sigil's choice for `dateExpire`: a key dated `20201204` is valid throughout 4 December 2020
//! UTC and expires at the first second of 5 December (`expires_at` = 2020-12-05T00:00:00Z, and
//! a key is valid while `now < expires_at`), so the date shown is the last day of validity.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sigil_shared::time::{civil, parse_generalized_time};

const DAY: i64 = 86_400;

/// The instant a key dated `YYYYMMDD` expires: the end of that day in UTC (the next day's
/// 00:00:00). `None` unless exactly eight digits of a real date in years 1970 to 9999.
pub fn parse_date_expire(s: &str) -> Option<i64> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let start = parse_generalized_time(format!("{s}000000Z").as_bytes())?;
    // parse_generalized_time lets 31 February through: the date must read back the same.
    let (y, m, d, ..) = civil(start);
    if format!("{y:04}{m:02}{d:02}") != s || y < 1970 {
        return None;
    }
    Some(start + DAY)
}

/// `YYYYMMDD` of the last day on which a key expiring at `expires_at` is valid (the day of
/// `expires_at − 1`), the inverse of [`parse_date_expire`].
pub fn format_date_expire(expires_at: i64) -> String {
    let (y, m, d, ..) = civil(expires_at.saturating_sub(1));
    format!("{y:04}{m:02}{d:02}")
}

/// `durationUnit`: `Hours`, `Days` or `Weeks` (read in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    Hours,
    Days,
    Weeks,
}

impl DurationUnit {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hours => "Hours",
            Self::Days => "Days",
            Self::Weeks => "Weeks",
        }
    }

    pub const fn seconds(self) -> u64 {
        match self {
            Self::Hours => 3_600,
            Self::Days => 86_400,
            Self::Weeks => 604_800,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Hours, Self::Days, Self::Weeks]
            .into_iter()
            .find(|u| u.name().eq_ignore_ascii_case(s))
    }
}

impl Serialize for DurationUnit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DurationUnit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("durationUnit {s:?}: Hours, Days or Weeks"))
        })
    }
}

/// `duration` × `durationUnit` in seconds; `None` on overflow.
pub fn duration_seconds(value: u64, unit: DurationUnit) -> Option<u64> {
    value.checked_mul(unit.seconds())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn date_expire() {
        // 2020-12-05T00:00:00Z = 1607126400.
        assert_eq!(parse_date_expire("20201204"), Some(1_607_126_400));
        assert_eq!(format_date_expire(1_607_126_400), "20201204");
        assert_eq!(format_date_expire(1_607_126_399), "20201204");
        assert_eq!(format_date_expire(1_607_126_401), "20201205");
        assert_eq!(parse_date_expire("20240229"), Some(1_709_251_200));
        for bad in [
            "",
            "2020124",
            "202012041",
            "2020-12-04",
            "20230229",
            "20201232",
            "20201300",
            "20200000",
            "19691231",
            "+2020120",
        ] {
            assert_eq!(parse_date_expire(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_seconds(2, DurationUnit::Hours), Some(7_200));
        assert_eq!(duration_seconds(1, DurationUnit::Days), Some(86_400));
        assert_eq!(duration_seconds(1, DurationUnit::Weeks), Some(604_800));
        assert_eq!(duration_seconds(u64::MAX, DurationUnit::Weeks), None);
        assert_eq!(DurationUnit::parse("days"), Some(DurationUnit::Days));
        assert_eq!(DurationUnit::parse("Months"), None);
        let u: DurationUnit = serde_json::from_str("\"WEEKS\"").unwrap();
        assert_eq!(u, DurationUnit::Weeks);
        assert_eq!(serde_json::to_string(&u).unwrap(), "\"Weeks\"");
        assert!(serde_json::from_str::<DurationUnit>("\"Years\"").is_err());
    }

    proptest! {
        #[test]
        fn date_round_trip(day in 0i64..2_932_896) {
            let s = format_date_expire((day + 1) * DAY);
            prop_assert_eq!(parse_date_expire(&s), Some((day + 1) * DAY));
        }
    }
}
