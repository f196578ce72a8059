//! Names of keys, policies and identities, and list patterns, as KES validates them
//! (minio/kes `auth.go`: `validName`, `validPattern`).

/// Longest name or pattern.
pub const MAX_LENGTH: usize = 80;

/// A valid key, policy or identity name: 1 to 80 characters of `0-9 A-Z a-z - _`, a hyphen
/// neither first nor last, not `_` alone.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s != "_" && s.len() <= MAX_LENGTH && valid_chars(s, false)
}

/// A valid list pattern: what [`valid_name`] allows, `*` as the last character, and the
/// empty pattern (which lists everything, like `*`).
pub fn valid_pattern(s: &str) -> bool {
    s == "*" || (s != "_" && s.len() <= MAX_LENGTH && valid_chars(s, true))
}

/// Only `0-9 A-Z a-z _`, `-` neither first nor last, and (`trailing_star`) `*` as the last.
fn valid_chars(s: &str, trailing_star: bool) -> bool {
    let last = s.len().saturating_sub(1);
    s.bytes().enumerate().all(|(i, b)| match b {
        b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'_' => true,
        b'-' => i > 0 && i < last,
        b'*' => trailing_star && i == last,
        _ => false,
    })
}

/// Whether a list pattern lists `name`: KES lists the names that start with the pattern
/// without its trailing `*` — so `my-key` lists `my-key2` too, and `` and `*` list all.
pub fn lists(pattern: &str, name: &str) -> bool {
    name.starts_with(pattern.strip_suffix('*').unwrap_or(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["my-key", "a", "A_b-9", "__", "x-y", &"k".repeat(80)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "_",
            "-a",
            "a-",
            "a b",
            "a/b",
            "ä",
            "a*",
            &"k".repeat(81),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn patterns() {
        for ok in ["*", "my-key*", "my-key", "", "a*", "a_*"] {
            assert!(valid_pattern(ok), "{ok:?}");
        }
        for bad in ["_", "*a", "a**", "-*", "a-", "a*b", "a/b*"] {
            assert!(!valid_pattern(bad), "{bad:?}");
        }
        assert!(lists("*", "anything") && lists("", "anything"));
        assert!(lists("my-*", "my-key") && !lists("my-*", "your-key"));
        assert!(lists("my-key", "my-key") && lists("my-key", "my-key2"));
        assert!(!lists("my-key", "my-ke"));
    }
}
