//! The profiles service: issuance profiles as data (certctl's `/api/v1/profiles`). Profiles
//! come from three places, looked up in this order: the configuration file (`[profiles.*]`,
//! read-only through the API), the store (made through the API: `profiles` column family,
//! audited, fenced across control-plane nodes), and the built-in `default` (when neither
//! defines one). Every issuance path (the API, EST, the enrollment protocols) reads them
//! through [`lookup`] and applies [`rules`].

pub mod rules;

use std::sync::Arc;

use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use thiserror::Error;

use super::context::{retry_conflicts, Commit, Context};
use super::error::{ErrorKind, Internal};
use crate::config::Profile;
use crate::db::{cf, decode, encode, DbError, ProfileRecord};

/// Where a profile is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The built-in `default`.
    Builtin,
    /// The configuration file: read-only through the API.
    Config,
    /// Made through the API.
    Api,
}

/// A profile and where it comes from.
#[derive(Debug, Clone)]
pub struct ProfileEntry {
    pub name: String,
    pub profile: Profile,
    pub source: Source,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("profile {name:?} does not exist")]
    NotFound { name: String },
    #[error("profile {name:?} already exists")]
    Exists { name: String },
    #[error("profile {name:?} is defined in the configuration file and cannot be changed here")]
    ReadOnly { name: String },
    #[error("profile name {name:?} must be 1 to 64 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit")]
    InvalidName { name: String },
    #[error("{0}")]
    Invalid(String),
    #[error("profile {name:?} is used by issuers {issuers:?} (default or allowed profile): change them first")]
    InUse { name: String, issuers: Vec<String> },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl ProfileError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Exists { .. } | Self::ReadOnly { .. } | Self::InUse { .. } => ErrorKind::Conflict,
            Self::Internal(e) => e.kind(),
            _ => ErrorKind::Invalid,
        }
    }

    fn is_write_conflict(&self) -> bool {
        matches!(self, Self::Internal(i) if i.is_write_conflict())
    }
}

super::error::internal_from!(ProfileError);

pub type Result<T, E = ProfileError> = std::result::Result<T, E>;

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// The stored profile `name` as read (decoded, and raw for a fence).
fn stored(cx: &Context, name: &str) -> Result<Option<(ProfileRecord, Profile, Vec<u8>)>, Internal> {
    let Some(raw) = cx.db().get_raw(cf::PROFILES, name.as_bytes())? else {
        return Ok(None);
    };
    let rec: ProfileRecord = decode(cf::PROFILES, &raw)?;
    let ProfileRecord::V1 { json, .. } = &rec;
    let profile = serde_json::from_str(json).map_err(|e| {
        Internal::from(DbError::Corrupt {
            what: "profile",
            detail: e.to_string(),
        })
    })?;
    Ok(Some((rec, profile, raw)))
}

/// The profile issuance uses for `name` (see the module documentation), if there is one.
pub(super) fn lookup(cx: &Context, name: &str) -> Result<Option<Profile>, Internal> {
    if let Some(p) = cx.settings().profiles.get(name) {
        return Ok(Some(p.clone()));
    }
    if let Some((_, p, _)) = stored(cx, name)? {
        return Ok(Some(p));
    }
    Ok((name == "default").then(Profile::default))
}

/// See the module documentation.
pub struct Profiles {
    cx: Arc<Context>,
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiles").finish_non_exhaustive()
    }
}

impl Profiles {
    pub(super) fn new(cx: Arc<Context>) -> Self {
        Self { cx }
    }

    /// Profile `name` and where it comes from.
    pub fn get(&self, name: &str) -> Result<ProfileEntry> {
        if let Some(p) = self.cx.settings().profiles.get(name) {
            return Ok(entry(name, p.clone(), Source::Config, None));
        }
        if let Some((rec, p, _)) = stored(&self.cx, name)? {
            return Ok(entry(name, p, Source::Api, Some(&rec)));
        }
        if name == "default" {
            return Ok(entry(name, Profile::default(), Source::Builtin, None));
        }
        Err(ProfileError::NotFound { name: name.into() })
    }

    /// Every profile, by name.
    pub fn list(&self) -> Result<Vec<ProfileEntry>> {
        let mut out: std::collections::BTreeMap<String, ProfileEntry> = Default::default();
        let mut raw = Vec::new();
        self.cx
            .db()
            .store()
            .scan_prefix(cf::PROFILES, &[], &mut |k, v| {
                raw.push((k.to_vec(), v.to_vec()));
                true
            })
            .map_err(DbError::from)?;
        for (k, v) in raw {
            let rec: ProfileRecord = decode(cf::PROFILES, &v)?;
            let name = String::from_utf8_lossy(&k).into_owned();
            let ProfileRecord::V1 { json, .. } = &rec;
            let p: Profile = serde_json::from_str(json).map_err(|e| {
                Internal::from(DbError::Corrupt {
                    what: "profile",
                    detail: e.to_string(),
                })
            })?;
            out.insert(name.clone(), entry(&name, p, Source::Api, Some(&rec)));
        }
        for (name, p) in &self.cx.settings().profiles {
            out.insert(name.clone(), entry(name, p.clone(), Source::Config, None));
        }
        out.entry("default".into())
            .or_insert_with(|| entry("default", Profile::default(), Source::Builtin, None));
        Ok(out.into_values().collect())
    }

    /// Makes profile `name` (audited `profile.create`). Refused if a profile of that name is
    /// configured or stored (the built-in `default` may be replaced).
    pub fn create(&self, name: &str, profile: &Profile) -> Result<ProfileEntry> {
        check(name, profile)?;
        if self.cx.settings().profiles.contains_key(name) || stored(&self.cx, name)?.is_some() {
            return Err(ProfileError::Exists { name: name.into() });
        }
        let now = now_unix();
        let rec = record(profile, now, now)?;
        let mut batch = WriteBatch::new();
        batch.put(cf::PROFILES, name.as_bytes().to_vec(), encode(&rec)?);
        let commit = Commit::new(batch)
            .expect_absent(cf::PROFILES, name.as_bytes().to_vec())
            .audit(("profile.create", "profile", name), details(profile));
        match self.cx.commit(commit) {
            Err(e) if e.is_write_conflict() => Err(ProfileError::Exists { name: name.into() }),
            r => {
                r?;
                Ok(entry(name, profile.clone(), Source::Api, Some(&rec)))
            }
        }
    }

    /// Replaces stored profile `name` (audited `profile.update`).
    pub fn update(&self, name: &str, profile: &Profile) -> Result<ProfileEntry> {
        check(name, profile)?;
        retry_conflicts(
            || {
                let (old, raw) = self.writable(name)?;
                let ProfileRecord::V1 { created_at, .. } = old;
                let rec = record(profile, created_at, now_unix())?;
                let mut batch = WriteBatch::new();
                batch.put(cf::PROFILES, name.as_bytes().to_vec(), encode(&rec)?);
                self.cx.commit(
                    Commit::new(batch)
                        .expect_value(cf::PROFILES, name.as_bytes().to_vec(), Some(raw))
                        .audit(("profile.update", "profile", name), details(profile)),
                )?;
                Ok(entry(name, profile.clone(), Source::Api, Some(&rec)))
            },
            ProfileError::is_write_conflict,
        )
    }

    /// Deletes stored profile `name` (audited `profile.delete`), unless `used_by(name)` names
    /// issuers that use it. Certificates issued under it keep its name.
    pub fn delete(&self, name: &str, used_by: &dyn Fn(&str) -> Result<Vec<String>>) -> Result<()> {
        retry_conflicts(
            || {
                let (_, raw) = self.writable(name)?;
                let issuers = used_by(name)?;
                if !issuers.is_empty() {
                    return Err(ProfileError::InUse {
                        name: name.into(),
                        issuers,
                    });
                }
                let mut batch = WriteBatch::new();
                batch.delete(cf::PROFILES, name.as_bytes().to_vec());
                self.cx.commit(
                    Commit::new(batch)
                        .expect_value(cf::PROFILES, name.as_bytes().to_vec(), Some(raw))
                        .audit(("profile.delete", "profile", name), serde_json::json!({})),
                )?;
                Ok(())
            },
            ProfileError::is_write_conflict,
        )
    }

    /// The stored record of `name` as read; configured and missing profiles refused.
    fn writable(&self, name: &str) -> Result<(ProfileRecord, Vec<u8>)> {
        if self.cx.settings().profiles.contains_key(name) {
            return Err(ProfileError::ReadOnly { name: name.into() });
        }
        match stored(&self.cx, name)? {
            Some((rec, _, raw)) => Ok((rec, raw)),
            None if name == "default" => Err(ProfileError::ReadOnly { name: name.into() }),
            None => Err(ProfileError::NotFound { name: name.into() }),
        }
    }
}

fn check(name: &str, profile: &Profile) -> Result<()> {
    if !valid_name(name) {
        return Err(ProfileError::InvalidName { name: name.into() });
    }
    let problems = profile.problems(name);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ProfileError::Invalid(problems.join("; ")))
    }
}

fn record(profile: &Profile, created_at: i64, updated_at: i64) -> Result<ProfileRecord> {
    let json = serde_json::to_string(profile)
        .map_err(|e| Internal::from(DbError::Encode(e.to_string())))?;
    Ok(ProfileRecord::V1 {
        json,
        created_at,
        updated_at,
    })
}

fn details(profile: &Profile) -> serde_json::Value {
    serde_json::to_value(profile).unwrap_or_default()
}

fn entry(
    name: &str,
    profile: Profile,
    source: Source,
    rec: Option<&ProfileRecord>,
) -> ProfileEntry {
    let (created_at, updated_at) = match rec {
        Some(ProfileRecord::V1 {
            created_at,
            updated_at,
            ..
        }) => (Some(*created_at), Some(*updated_at)),
        None => (None, None),
    };
    ProfileEntry {
        name: name.into(),
        profile,
        source,
        created_at,
        updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["default", "web-server", "tls.v2", "a", "x_1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-x", "Web", "a b", "ü", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
