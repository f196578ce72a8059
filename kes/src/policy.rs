//! KES policies: rules over request paths (minio/kms-go `kes.Policy`, as facts).
//!
//! A policy has allow and deny patterns. A request path is allowed when no deny pattern
//! matches it and some allow pattern does; an empty policy allows nothing. A pattern ending in
//! `*` matches the paths it (without the `*`) is a prefix of; any other pattern matches that
//! path only; at most one `*`, at the end.
//!
//! Written as KES writes policies, `{"allow": …, "deny": …}` (each a list of patterns, or a
//! map of pattern → `{}` as KES's policy read returns them), or in the older form of the
//! seed's API, `{"paths": [...]}` = allow patterns. Older KES servers matched `paths` as Go
//! globs (`path.Match`); those are read with today's rule, and a `paths` pattern whose meaning
//! would differ between the two (a `*` before the end, `?`, `[`, `\`) is refused rather than
//! matched differently.

use std::collections::BTreeSet;

/// Why a policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("invalid policy: {0}")]
    Json(String),
    #[error("invalid policy: give either \"paths\" or \"allow\"/\"deny\", not both")]
    MixedForms,
    #[error("invalid policy pattern '{0}': patterns are request paths starting with '/', with at most one '*', at the end")]
    Pattern(String),
}

/// A policy's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub allow: BTreeSet<String>,
    pub deny: BTreeSet<String>,
}

/// Longest pattern accepted.
const MAX_PATTERN: usize = 1024;

fn valid_pattern(p: &str) -> bool {
    let star = p.find('*');
    p.starts_with('/')
        && p.len() <= MAX_PATTERN
        && star.is_none_or(|i| i == p.len() - 1)
        && !p.contains(['?', '[', '\\'])
        && !p.chars().any(char::is_control)
}

/// KES's rule for one pattern.
pub fn matches(pattern: &str, path: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern,
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Patterns {
    List(Vec<String>),
    Map(std::collections::BTreeMap<String, serde::de::IgnoredAny>),
}

impl Patterns {
    fn into_set(self) -> BTreeSet<String> {
        match self {
            Patterns::List(l) => l.into_iter().collect(),
            Patterns::Map(m) => m.into_keys().collect(),
        }
    }
}

#[derive(serde::Deserialize)]
struct Written {
    paths: Option<Vec<String>>,
    allow: Option<Patterns>,
    deny: Option<Patterns>,
}

impl Policy {
    /// A policy from the body of a policy write (either form; see the module documentation).
    pub fn from_json(body: &[u8]) -> Result<Self, PolicyError> {
        let w: Written =
            serde_json::from_slice(body).map_err(|e| PolicyError::Json(e.to_string()))?;
        let policy = match (w.paths, w.allow, w.deny) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(PolicyError::MixedForms),
            (Some(paths), None, None) => Policy {
                allow: paths.into_iter().collect(),
                deny: BTreeSet::new(),
            },
            (None, allow, deny) => Policy {
                allow: allow.map(Patterns::into_set).unwrap_or_default(),
                deny: deny.map(Patterns::into_set).unwrap_or_default(),
            },
        };
        if let Some(bad) = policy
            .allow
            .iter()
            .chain(&policy.deny)
            .find(|p| !valid_pattern(p))
        {
            return Err(PolicyError::Pattern(bad.clone()));
        }
        Ok(policy)
    }

    /// Whether a request for `path` is allowed: no deny pattern matches, some allow one does.
    pub fn allows(&self, path: &str) -> bool {
        !self.deny.iter().any(|p| matches(p, path)) && self.allow.iter().any(|p| matches(p, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_wins_then_some_allow_must_match() {
        let p = Policy::from_json(
            br#"{"allow": ["/v1/key/generate/my-key*", "/v1/key/decrypt/my-key*", "/v1/status"],
                 "deny": ["/v1/key/decrypt/my-key-secret"]}"#,
        )
        .unwrap();
        assert!(p.allows("/v1/key/generate/my-key"));
        assert!(p.allows("/v1/key/generate/my-key-2"));
        assert!(p.allows("/v1/status"));
        assert!(!p.allows("/v1/status/"));
        assert!(!p.allows("/v1/key/decrypt/my-key-secret"));
        assert!(p.allows("/v1/key/decrypt/my-key-secrets"));
        assert!(!p.allows("/v1/key/create/my-key"));
        assert!(!Policy::default().allows("/v1/status"));
    }

    #[test]
    fn both_written_forms_and_kes_read_shape() {
        let seed =
            Policy::from_json(br#"{"paths":["/v1/key/generate/my-key","/v1/key/decrypt/my-key"]}"#)
                .unwrap();
        assert!(seed.allows("/v1/key/decrypt/my-key") && !seed.allows("/v1/key/decrypt/my-key2"));
        let map = Policy::from_json(br#"{"allow":{"/v1/key/generate/*":{}},"deny":{}}"#).unwrap();
        assert!(map.allows("/v1/key/generate/x"));
        assert_eq!(
            Policy::from_json(br#"{"paths":[],"allow":[]}"#),
            Err(PolicyError::MixedForms)
        );
        for bad in [
            r#"{"paths":["/v1/key/*/my-key"]}"#,
            r#"{"allow":["/v1/key/create/?"]}"#,
            r#"{"allow":["v1/status"]}"#,
            r#"{"deny":["/v1/**"]}"#,
        ] {
            assert!(
                matches!(
                    Policy::from_json(bad.as_bytes()),
                    Err(PolicyError::Pattern(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Policy::from_json(b"[1]"),
            Err(PolicyError::Json(_))
        ));
    }
}
