//! Mutable issuer settings (certctl's issuer update): display name, enabled/disabled and the
//! issuance policy (default and allowed profiles, a validity cap). `CaRecord` has a fixed
//! postcard layout, so the settings live in `ca_settings` under the issuer id, versioned, and
//! every change is committed with its audit record.
//!
//! A disabled issuer refuses issuance (certificates and child CAs) with a conflict but keeps
//! revoking and serving OCSP and CRLs for what it issued. Disabling takes the issuance lock
//! for writing, so once it returns no issuance of that issuer can still commit.

use std::sync::RwLockReadGuard;

use serde::{Deserialize, Deserializer, Serialize};
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::{IssuerError, Issuers, Result};
use crate::db::{cf, decode, encode};
use crate::services::certificates::IssueRequest;
use crate::services::context::Commit;

/// Settings of one issuer; the default is "enabled, no overrides".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerSettings {
    /// Display name replacing the one given at creation.
    pub name: Option<String>,
    pub disabled: bool,
    /// Unix seconds when the issuer was disabled.
    pub disabled_at: Option<i64>,
    /// Profile used when a request names none (otherwise `default`).
    pub default_profile: Option<String>,
    /// Profiles requests may use; `None`: every configured profile.
    pub allowed_profiles: Option<Vec<String>>,
    /// Upper bound of a certificate's validity, below the profile's own.
    pub max_validity_days: Option<u32>,
    /// Unix seconds of the last change.
    pub updated_at: Option<i64>,
    /// Unix seconds when the issuer was deleted (`DELETE /api/v1/issuers/{id}`): disabled
    /// for good and hidden from the API, its CRL and OCSP responses still signed.
    pub deleted_at: Option<i64>,
    /// CRL shards of the certificates issued from now on (`crate::crl::scope`); `None`: one,
    /// the complete CRL.
    pub crl_shards: Option<u32>,
    /// Every shard count used before (their shards stay published).
    pub crl_shard_history: Vec<u32>,
}

impl IssuerSettings {
    /// The shard counts whose CRLs are published: the current one and every earlier one.
    pub fn crl_families(&self) -> Vec<u32> {
        let mut v = self.crl_shard_history.clone();
        v.extend(self.crl_shards);
        v
    }
}

/// [`IssuerSettings`] as `Stored::V1` holds them (before `deleted_at`).
#[derive(Debug, Serialize, Deserialize)]
struct SettingsV1 {
    name: Option<String>,
    disabled: bool,
    disabled_at: Option<i64>,
    default_profile: Option<String>,
    allowed_profiles: Option<Vec<String>>,
    max_validity_days: Option<u32>,
    updated_at: Option<i64>,
}

/// What is stored: postcard has no optional fields, so new settings mean a new variant.
/// Written as the newest variant; every older one is still read.
#[derive(Debug, Serialize, Deserialize)]
enum Stored {
    V1(SettingsV1),
    V2(IssuerSettings),
}

impl Stored {
    fn settings(self) -> IssuerSettings {
        match self {
            Self::V1(s) => IssuerSettings {
                name: s.name,
                disabled: s.disabled,
                disabled_at: s.disabled_at,
                default_profile: s.default_profile,
                allowed_profiles: s.allowed_profiles,
                max_validity_days: s.max_validity_days,
                updated_at: s.updated_at,
                deleted_at: None,
                crl_shards: None,
                crl_shard_history: Vec::new(),
            },
            Self::V2(s) => s,
        }
    }
}

/// The stored form of `s`.
pub(super) fn stored(s: &IssuerSettings) -> std::result::Result<Vec<u8>, crate::db::DbError> {
    encode(&Stored::V2(s.clone()))
}

/// `Some(None)` for an explicit JSON `null` (clear the setting), `None` when absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The issuance policy part of an update (certctl's issuer `config`); `null` clears a field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdate {
    #[serde(default, deserialize_with = "nullable")]
    pub default_profile: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub allowed_profiles: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub max_validity_days: Option<Option<u32>>,
    /// CRL shards for the certificates issued from now on (1 ..= 256; `null` or 1: none).
    /// Certificates issued before keep theirs: every count used stays published.
    #[serde(default, deserialize_with = "nullable")]
    pub crl_shards: Option<Option<u32>>,
}

/// `PUT`/`PATCH /api/v1/issuers/{id}`: fields absent are left as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerUpdate {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub config: Option<PolicyUpdate>,
}

/// Why an issuer settings update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("name must be 1 to 128 characters")]
    InvalidName,
    #[error("default_profile {0:?} is not a configured profile")]
    UnknownDefaultProfile(String),
    #[error(
        "allowed_profiles must name at least one profile (to stop issuance, set enabled to false)"
    )]
    NoAllowedProfiles,
    #[error("allowed_profiles: {0:?} is not a configured profile")]
    UnknownAllowedProfile(String),
    #[error("max_validity_days must be between 1 and 36500")]
    InvalidMaxValidity,
    #[error("crl_shards must be between 1 and 256")]
    InvalidCrlShards,
    #[error("default_profile {default:?} is not among allowed_profiles {allowed:?}")]
    DefaultNotAllowed {
        default: String,
        allowed: Vec<String>,
    },
}

/// Applies `u` to `old`; returns the new settings and the changed fields as
/// `{field: {from, to}}`. `profile_exists` says whether a profile is configured.
pub fn apply_update(
    old: &IssuerSettings,
    u: &IssuerUpdate,
    profile_exists: &dyn Fn(&str) -> bool,
    now: i64,
) -> Result<(IssuerSettings, serde_json::Map<String, serde_json::Value>), SettingsError> {
    let mut new = old.clone();
    if let Some(name) = &u.name {
        let name = name.trim();
        if name.is_empty() || name.len() > 128 {
            return Err(SettingsError::InvalidName);
        }
        new.name = Some(name.to_string());
    }
    if let Some(enabled) = u.enabled {
        if enabled == old.disabled {
            new.disabled = !enabled;
            new.disabled_at = (!enabled).then_some(now);
        }
    }
    if let Some(p) = &u.config {
        if let Some(d) = &p.default_profile {
            if let Some(name) = d.as_deref().filter(|n| !profile_exists(n)) {
                return Err(SettingsError::UnknownDefaultProfile(name.into()));
            }
            new.default_profile.clone_from(d);
        }
        if let Some(list) = &p.allowed_profiles {
            if let Some(list) = list {
                if list.is_empty() {
                    return Err(SettingsError::NoAllowedProfiles);
                }
                if let Some(name) = list.iter().find(|n| !profile_exists(n)) {
                    return Err(SettingsError::UnknownAllowedProfile(name.clone()));
                }
            }
            new.allowed_profiles = list.as_ref().map(|l| {
                let mut l = l.clone();
                l.sort();
                l.dedup();
                l
            });
        }
        if let Some(m) = p.max_validity_days {
            if m.is_some_and(|d| d == 0 || d > 36_500) {
                return Err(SettingsError::InvalidMaxValidity);
            }
            new.max_validity_days = m;
        }
        if let Some(n) = p.crl_shards {
            if n.is_some_and(|n| n == 0 || n > 256) {
                return Err(SettingsError::InvalidCrlShards);
            }
            let n = n.filter(|n| *n > 1);
            if n != old.crl_shards {
                if let Some(was) = old
                    .crl_shards
                    .filter(|w| !new.crl_shard_history.contains(w))
                {
                    new.crl_shard_history.push(was);
                }
                new.crl_shards = n;
            }
        }
    }
    if let (Some(d), Some(allowed)) = (&new.default_profile, &new.allowed_profiles) {
        if !allowed.contains(d) {
            return Err(SettingsError::DefaultNotAllowed {
                default: d.clone(),
                allowed: allowed.clone(),
            });
        }
    }
    let mut changes = serde_json::Map::new();
    let mut diff = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changes.insert(field.into(), serde_json::json!({"from": from, "to": to}));
        }
    };
    diff("name", old.name.clone().into(), new.name.clone().into());
    diff("enabled", (!old.disabled).into(), (!new.disabled).into());
    diff(
        "default_profile",
        old.default_profile.clone().into(),
        new.default_profile.clone().into(),
    );
    diff(
        "allowed_profiles",
        serde_json::json!(old.allowed_profiles),
        serde_json::json!(new.allowed_profiles),
    );
    diff(
        "max_validity_days",
        old.max_validity_days.into(),
        new.max_validity_days.into(),
    );
    diff("crl_shards", old.crl_shards.into(), new.crl_shards.into());
    if !changes.is_empty() {
        new.updated_at = Some(now);
    }
    Ok((new, changes))
}

/// Applies the issuer's policy to a request: the default profile when it names none, the
/// allowed profiles, the validity cap. `profile_validity` is a profile's default validity.
pub fn apply_policy(
    s: &IssuerSettings,
    issuer_id: &str,
    req: &IssueRequest,
    profile_validity: &dyn Fn(&str) -> Option<u32>,
) -> Result<IssueRequest> {
    if s.disabled {
        return Err(disabled(issuer_id));
    }
    let mut out = req.clone();
    if out.profile.is_none() {
        out.profile.clone_from(&s.default_profile);
    }
    let profile = out.profile.as_deref().unwrap_or("default");
    if let Some(allowed) = &s.allowed_profiles {
        if !allowed.iter().any(|p| p == profile) {
            return Err(IssuerError::ProfileNotAllowed {
                id: issuer_id.into(),
                profile: profile.into(),
                allowed: allowed.clone(),
            });
        }
    }
    if let Some(max) = s.max_validity_days {
        match out.validity_days {
            Some(days) if days > max => {
                return Err(IssuerError::ValidityAboveMaximum {
                    id: issuer_id.into(),
                    days,
                    max,
                })
            }
            Some(_) => {}
            None => {
                out.validity_days = profile_validity(profile).map(|d| d.min(max));
            }
        }
    }
    Ok(out)
}

fn disabled(issuer_id: &str) -> IssuerError {
    IssuerError::Disabled {
        id: issuer_id.into(),
    }
}

impl Issuers {
    /// The settings of `issuer_id` (defaults when never changed).
    pub fn issuer_settings(&self, issuer_id: &str) -> Result<IssuerSettings> {
        match self
            .cx
            .db()
            .get_raw(cf::CA_SETTINGS, issuer_id.as_bytes())?
        {
            Some(v) => Ok(decode::<Stored>(cf::CA_SETTINGS, &v)?.settings()),
            None => Ok(IssuerSettings::default()),
        }
    }

    /// The name an issuer is shown with (its settings' name, else the one given at creation).
    pub fn issuer_name(&self, issuer_id: &str) -> Result<String> {
        let s = self.issuer_settings(issuer_id)?;
        match s.name {
            Some(n) => Ok(n),
            None => Ok(self.ca(issuer_id)?.record.name.clone()),
        }
    }

    /// Applies the issuer's policy to a request before anything is signed (refuses when the
    /// issuer is disabled or the profile or validity is not allowed).
    pub fn apply_issuer_policy(&self, req: &IssueRequest) -> Result<IssueRequest> {
        let s = self.issuer_settings(&req.issuer_id)?;
        apply_policy(&s, &req.issuer_id, req, &|p| {
            crate::services::profiles::lookup(&self.cx, p)
                .ok()
                .flatten()
                .map(|p| p.validity_days)
        })
    }

    /// Permission to issue from `issuer_id` until the guard drops: refused when the issuer is
    /// disabled; a disable waits for the guards handed out before it.
    pub fn issuing(&self, issuer_id: &str) -> Result<RwLockReadGuard<'_, ()>> {
        Ok(self.issuing_with_settings(issuer_id)?.0)
    }

    /// [`Issuers::issuing`], with the settings as read under the guard.
    pub fn issuing_with_settings(
        &self,
        issuer_id: &str,
    ) -> Result<(RwLockReadGuard<'_, ()>, IssuerSettings)> {
        let g = self.issuer_lock.read().unwrap_or_else(|e| e.into_inner());
        let s = self.issuer_settings(issuer_id)?;
        if s.disabled {
            return Err(disabled(issuer_id));
        }
        Ok((g, s))
    }

    /// Updates an issuer's settings (certctl's `PUT /api/v1/issuers/{id}`), audited as
    /// `issuer.disable`, `issuer.enable` or `issuer.update` with the changed fields.
    pub fn update_issuer(&self, issuer_id: &str, u: &IssuerUpdate) -> Result<IssuerSettings> {
        let ca = self.visible_ca(issuer_id)?;
        let _g = self.issuer_lock.write().unwrap_or_else(|e| e.into_inner());
        let old = self.issuer_settings(issuer_id)?;
        let exists = |p: &str| {
            crate::services::profiles::lookup(&self.cx, p)
                .ok()
                .flatten()
                .is_some()
        };
        let (new, changes) = apply_update(&old, u, &exists, now_unix())?;
        if changes.is_empty() {
            return Ok(old);
        }
        if let Some(name) = new.name.as_deref().filter(|_| changes.contains_key("name")) {
            for other in self.list_cas() {
                let id = &other.record.id;
                if id != issuer_id && self.issuer_name(id)? == name {
                    return Err(IssuerError::Exists {
                        name: name.into(),
                        id: id.clone(),
                    });
                }
            }
        }
        let action = match changes.get("enabled").map(|c| c["to"].as_bool()) {
            Some(Some(false)) => "issuer.disable",
            Some(Some(true)) => "issuer.enable",
            _ => "issuer.update",
        };
        let mut batch = WriteBatch::new();
        batch.put(
            cf::CA_SETTINGS,
            issuer_id.as_bytes().to_vec(),
            stored(&new)?,
        );
        self.cx.commit(Commit::new(batch).audit(
            (action, "issuer", issuer_id),
            serde_json::json!({ "changes": changes }),
        ))?;
        tracing::info!(issuer = %ca.record.id, action, "updated issuer settings");
        if changes.contains_key("crl_shards") {
            self.request_crl(issuer_id); // the new shards' first CRLs
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests;
