//! A profile's rules on a request's key and names (sans-io): allowed key types and sizes
//! (certctl's `allowed_key_algorithms`) and patterns every SAN value and commonName must match
//! (certctl's `required_san_patterns`, Sigil's `cn_patterns`).

use crate::config::{KeyFamily, Profile};
use crate::crypto::{KeyAlgorithm, VerifiedCsr};

/// Whether `value` matches `pattern`: `*` stands for any run of characters other than `.`
/// and `/` (so `*.example.com` matches `www.example.com`, not `a.b.example.com`), everything
/// else literally, without regard to ASCII case.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some((b'*', rest)) => {
                // Try every length of the run `*` stands for, shortest first.
                let run = v.iter().take_while(|c| **c != b'.' && **c != b'/').count();
                (0..=run).any(|n| go(rest, &v[n..]))
            }
            Some((c, rest)) => v
                .split_first()
                .is_some_and(|(d, vr)| c.eq_ignore_ascii_case(d) && go(rest, vr)),
        }
    }
    // Bounded input (patterns ≤ 253, names ≤ a few hundred bytes): the backtracking is small.
    go(pattern.as_bytes(), value.as_bytes())
}

fn family(alg: KeyAlgorithm) -> KeyFamily {
    match alg {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => KeyFamily::Ecdsa,
        KeyAlgorithm::Ed25519 => KeyFamily::Ed25519,
        _ => KeyFamily::Rsa,
    }
}

/// Whether the profile allows a key of `alg`.
pub fn allows_key(profile: &Profile, alg: KeyAlgorithm) -> bool {
    profile.allowed_key_algorithms.is_empty()
        || profile
            .allowed_key_algorithms
            .iter()
            .any(|r| r.algorithm == family(alg) && alg.key_bits() >= r.min_size)
}

/// What the profile's key and name rules refuse in a request, if anything.
pub fn refusal(profile: &Profile, csr: &VerifiedCsr) -> Option<String> {
    if !profile.allowed_key_algorithms.is_empty() && !csr.spki_der.is_empty() {
        match crate::est::keygen::algorithm_of(&csr.spki_der) {
            Some(alg) if allows_key(profile, alg) => {}
            found => {
                let allowed: Vec<String> = profile
                    .allowed_key_algorithms
                    .iter()
                    .map(|r| match r.min_size {
                        0 => r.algorithm.name().to_string(),
                        n => format!("{} ≥ {n} bits", r.algorithm.name()),
                    })
                    .collect();
                let found = found.map_or("an unsupported key type".to_string(), |a| {
                    format!("{} {} bits", family(a).name(), a.key_bits())
                });
                return Some(format!(
                    "the key is {found}; the profile allows {}",
                    allowed.join(", ")
                ));
            }
        }
    }
    if !profile.san_patterns.is_empty() {
        for san in &csr.sans {
            let shown = crate::services::certificates::san_string(san);
            let value = shown.split_once(':').map_or(shown.as_str(), |(_, v)| v);
            if !profile.san_patterns.iter().any(|p| glob_match(p, value)) {
                return Some(format!(
                    "SAN {shown} matches none of the profile's san_patterns"
                ));
            }
        }
    }
    if !profile.cn_patterns.is_empty() {
        for cn in crate::est::identity::common_names(&csr.subject) {
            if !profile.cn_patterns.iter().any(|p| glob_match(p, &cn)) {
                return Some(format!(
                    "commonName {cn:?} matches none of the profile's cn_patterns"
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyRule;
    use proptest::prelude::*;

    #[test]
    fn globs() {
        for (p, v, m) in [
            ("*.example.com", "www.example.com", true),
            ("*.example.com", "WWW.Example.COM", true),
            ("*.example.com", "a.b.example.com", false),
            ("*.example.com", "example.com", false),
            ("web-*.example.com", "web-01.example.com", true),
            ("web-*.example.com", "db-01.example.com", false),
            ("10.0.*.*", "10.0.3.4", true),
            ("10.0.*.*", "10.1.3.4", false),
            (
                "spiffe://example.org/ns/*/sa/*",
                "spiffe://example.org/ns/prod/sa/web",
                true,
            ),
            (
                "spiffe://example.org/ns/*/sa/*",
                "spiffe://example.org/ns/a/b/sa/web",
                false,
            ),
            ("exact.example", "exact.example", true),
            ("*", "", true),
            ("", "x", false),
        ] {
            assert_eq!(glob_match(p, v), m, "{p} ~ {v}");
        }
    }

    proptest! {
        /// A literal pattern matches exactly itself; a `*` label matches any label of it.
        #[test]
        fn literal_and_star_labels(labels in proptest::collection::vec("[a-z0-9-]{1,12}", 1..5)) {
            let name = labels.join(".");
            prop_assert!(glob_match(&name, &name));
            let mut starred = labels.clone();
            starred[0] = "*".into();
            prop_assert!(glob_match(&starred.join("."), &name));
            let longer = format!("x.{}", name);
            prop_assert!(!glob_match(&starred.join("."), &longer));
        }
    }

    #[test]
    fn key_rules() {
        let p = Profile {
            allowed_key_algorithms: vec![
                KeyRule {
                    algorithm: KeyFamily::Rsa,
                    min_size: 3072,
                },
                KeyRule {
                    algorithm: KeyFamily::Ecdsa,
                    min_size: 0,
                },
            ],
            ..Profile::default()
        };
        assert!(allows_key(&p, KeyAlgorithm::EcdsaP256));
        assert!(allows_key(&p, KeyAlgorithm::Rsa4096));
        assert!(!allows_key(&p, KeyAlgorithm::Rsa2048));
        assert!(!allows_key(&p, KeyAlgorithm::Ed25519));
        assert!(allows_key(&Profile::default(), KeyAlgorithm::Ed25519));
    }
}
