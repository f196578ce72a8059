//! Keyper's REST API shapes (dbsentry Keyper, "REST API"), so Keyper's clients work against
//! Sigil unchanged: JSON field names as Keyper spells them (camelCase, plus `keyid`,
//! `access_token`, `refresh_token`), LDAP-looking DNs rendered from a configured base DN.
//!
//! Facts from Keyper's documentation these types follow:
//! - Users are `cn=<cn>,ou=people,<base>`, hosts `cn=<cn>,ou=Hosts,<base>`, groups
//!   `cn=<cn>,ou=groups,<base>`; `memberOfs` and group `members` are lists of such DNs.
//! - `GET /users/{username}` answers a one-element list; `POST /users` answers a one-element
//!   list too; `POST /hosts` and `POST /groups` echo the object.
//! - The example `POST /users` sends `"accountLocked": "false"` (a string), and omits
//!   `principal`, `duration` and `durationUnit` although the field list marks them required:
//!   both forms are accepted here and the defaults are the control plane's.
//! - `dateExpire` is `YYYYMMDD`; `durationUnit` is `Hours`, `Days` or `Weeks`.
//! - In an update, a key or certificate entry with `keyid` means "revoke this one"; one
//!   without adds a key.

mod dn;
mod time;

pub use dn::{Dn, OU_GROUPS, OU_HOSTS, OU_PEOPLE};
pub use time::{duration_seconds, format_date_expire, parse_date_expire, DurationUnit};

use serde::{Deserialize, Deserializer, Serialize};

/// A user as Keyper shows it (`GET /users`, `GET /users/{username}`, the login answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub account_locked: bool,
    pub cn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub dn: String,
    #[serde(default)]
    pub given_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(default)]
    pub member_ofs: Vec<String>,
    #[serde(default)]
    pub sn: String,
    pub uid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_public_keys: Vec<SshKeyView>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_public_certs: Vec<SshCertView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_unit: Option<DurationUnit>,
}

/// One entry of `sshPublicKeys`, shown or submitted. On input `fingerprint` is the client's
/// claim (Sigil computes its own from `key`); `keyid` in an update means "revoke this key".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshKeyView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, alias = "Key")]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    /// `YYYYMMDD` ([`parse_date_expire`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_expire: Option<String>,
    /// Group DNs (or bare group names).
    #[serde(default)]
    pub host_groups: Vec<String>,
}

/// One entry of `sshPublicCerts`: the submitted public key, and once signed the certificate
/// (`cert`, one OpenSSH line), its serial and validity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshCertView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, alias = "Key")]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    #[serde(default)]
    pub host_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// `YYYYMMDD` of the certificate's end ([`format_date_expire`] of `valid_before`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_expire: Option<String>,
}

/// `POST /users` (its `Debug` never shows the passwords).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub cn: String,
    pub user_password: String,
    pub confirm_password: String,
    pub given_name: String,
    pub sn: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default, deserialize_with = "bool_or_string")]
    pub account_locked: Option<bool>,
    #[serde(default)]
    pub member_ofs: Vec<String>,
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub duration: Option<u64>,
    #[serde(default)]
    pub duration_unit: Option<DurationUnit>,
    #[serde(default)]
    pub ssh_public_keys: Vec<SshKeyView>,
    #[serde(default)]
    pub ssh_public_certs: Vec<SshCertView>,
}

/// `PUT /users/{username}`: every field optional; absent means unchanged (its `Debug` never
/// shows the passwords).
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdate {
    pub user_password: Option<String>,
    pub confirm_password: Option<String>,
    pub given_name: Option<String>,
    pub sn: Option<String>,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    #[serde(default, deserialize_with = "bool_or_string")]
    pub account_locked: Option<bool>,
    pub member_ofs: Option<Vec<String>>,
    pub principal: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub duration: Option<u64>,
    pub duration_unit: Option<DurationUnit>,
    /// Entries without `keyid` are added; entries with `keyid` revoke that key.
    pub ssh_public_keys: Option<Vec<SshKeyView>>,
    /// Entries without `keyid` are signed and added; entries with `keyid` revoke that
    /// certificate.
    pub ssh_public_certs: Option<Vec<SshCertView>>,
}

/// A host as Keyper shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostView {
    pub cn: String,
    #[serde(default)]
    pub description: String,
    pub dn: String,
    #[serde(default)]
    pub member_ofs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_public_certs: Vec<SshCertView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_unit: Option<DurationUnit>,
}

/// `POST /hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewHost {
    pub cn: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub member_ofs: Vec<String>,
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub duration: Option<u64>,
    #[serde(default)]
    pub duration_unit: Option<DurationUnit>,
    #[serde(default)]
    pub ssh_public_certs: Vec<SshCertView>,
}

/// `PUT /hosts/{hostname}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostUpdate {
    pub description: Option<String>,
    pub member_ofs: Option<Vec<String>>,
    pub principal: Option<String>,
    /// User DNs (Keyper's `owners`).
    pub owners: Option<Vec<String>>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub duration: Option<u64>,
    pub duration_unit: Option<DurationUnit>,
    pub ssh_public_certs: Option<Vec<SshCertView>>,
}

/// A group as Keyper shows it; `members` are user and host DNs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub cn: String,
    #[serde(default)]
    pub description: String,
    pub dn: String,
    #[serde(default)]
    pub members: Vec<String>,
}

/// `POST /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewGroup {
    pub cn: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

/// `PUT /groups/{groupname}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupUpdate {
    pub description: Option<String>,
    pub members: Option<Vec<String>>,
}

/// A password field's `Debug`: whether it is set, never the password.
fn redacted<T>(v: &Option<T>) -> Option<&'static str> {
    v.as_ref().map(|_| "[redacted]")
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("cn", &self.cn)
            .field("user_password", &"[redacted]")
            .field("confirm_password", &"[redacted]")
            .field("given_name", &self.given_name)
            .field("sn", &self.sn)
            .field("display_name", &self.display_name)
            .field("mail", &self.mail)
            .field("account_locked", &self.account_locked)
            .field("member_ofs", &self.member_ofs)
            .field("principal", &self.principal)
            .field("duration", &self.duration)
            .field("duration_unit", &self.duration_unit)
            .field("ssh_public_keys", &self.ssh_public_keys)
            .field("ssh_public_certs", &self.ssh_public_certs)
            .finish()
    }
}

impl std::fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserUpdate")
            .field("user_password", &redacted(&self.user_password))
            .field("confirm_password", &redacted(&self.confirm_password))
            .field("given_name", &self.given_name)
            .field("sn", &self.sn)
            .field("display_name", &self.display_name)
            .field("mail", &self.mail)
            .field("account_locked", &self.account_locked)
            .field("member_ofs", &self.member_ofs)
            .field("principal", &self.principal)
            .field("duration", &self.duration)
            .field("duration_unit", &self.duration_unit)
            .field("ssh_public_keys", &self.ssh_public_keys)
            .field("ssh_public_certs", &self.ssh_public_certs)
            .finish()
    }
}

/// `POST /login`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The answer to `POST /login`: the tokens and the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub access_token: String,
    pub refresh_token: String,
    #[serde(flatten)]
    pub user: UserView,
}

/// The answer to `POST /refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshResponse {
    pub access_token: String,
}

/// Keyper's `principal` is one string; several principals are separated by commas (spaces
/// around them ignored). Empty parts are dropped.
pub fn split_principals(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The inverse of [`split_principals`].
pub fn join_principals(principals: &[String]) -> String {
    principals.join(",")
}

/// `true`/`false`, or the strings `"true"`/`"false"` in any case (Keyper's docs write
/// `True/False`, its example sends `"false"`).
fn bool_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(None),
        Some(B::Bool(b)) => Ok(Some(b)),
        Some(B::Str(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(B::Str(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(B::Str(s)) => Err(serde::de::Error::custom(format!(
            "expected true or false, got {s:?}"
        ))),
    }
}

/// A non-negative integer, or a string of decimal digits.
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Str(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Num(n)) => Ok(Some(n)),
        Some(N::Str(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("number too large")),
        Some(N::Str(s)) => Err(serde::de::Error::custom(format!(
            "expected a number, got {s:?}"
        ))),
    }
}

#[cfg(test)]
mod tests;
