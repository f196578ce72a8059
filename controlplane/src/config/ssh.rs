//! `[ssh]`: the SSH key service (Keyper's API on the admin listener): the base DN Keyper's
//! LDAP-looking names are rendered from, the Keyper administrators' group, the user and host
//! certificate authorities (algorithm and key store), token lifetimes, certificate validity
//! and the login limits.

use serde::de::value::MapAccessDeserializer;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sigil_ssh::keyper::DurationUnit;
use sigil_ssh::CaAlgorithm;

/// `[ssh]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    /// Base of the DNs shown (`cn=<user>,ou=people,<base_dn>`, `ou=Hosts`, `ou=groups`).
    pub base_dn: String,
    /// Members of this group are Keyper administrators; created on first start.
    pub admin_group: String,
    /// The CA signing user certificates.
    pub user_ca: SshCaConfig,
    /// The CA signing host certificates.
    pub host_ca: SshCaConfig,
    /// Lifetime of a Keyper access token (`POST /api/login`, `/api/refresh`).
    pub access_token_secs: u64,
    /// Lifetime of a Keyper refresh token.
    pub refresh_token_secs: u64,
    /// Certificate validity of users and hosts created without `duration`/`durationUnit`.
    pub default_duration: u64,
    pub default_duration_unit: DurationUnit,
    /// Longest certificate validity, days: longer `duration`s are capped to it.
    pub max_duration_days: u64,
    /// Shortest accepted password (bytes).
    pub min_password_length: usize,
    /// Failed logins per user name before further attempts are refused (in memory).
    pub login_failures_per_user: u32,
    /// Seconds until a user name may fail once more.
    pub login_refill_secs: u64,
}

impl Default for SshConfig {
    fn default() -> Self {
        Self {
            base_dn: "dc=sigil,dc=local".into(),
            admin_group: "KeyperAdmins".into(),
            user_ca: SshCaConfig::default(),
            host_ca: SshCaConfig::default(),
            access_token_secs: 900,
            refresh_token_secs: 2_592_000,
            default_duration: 1,
            default_duration_unit: DurationUnit::Days,
            max_duration_days: 90,
            min_password_length: 8,
            login_failures_per_user: 5,
            login_refill_secs: 60,
        }
    }
}

/// `[ssh.user_ca]` / `[ssh.host_ca]`. Used when the CA is created (first start); a CA that
/// exists keeps its key, whatever this says later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshCaConfig {
    pub algorithm: CaAlgorithm,
    pub key_store: SshKeyStore,
}

/// Where an SSH CA key is made and kept: `"software"` (an OpenSSH private key in the `keys`
/// column family) or `{ type = "pkcs11", module, token_label, pin_env, key_label }` (found by
/// label in the token, generated there if absent; `module` must be in `[hsm]
/// allowed_modules`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SshKeyStore {
    #[default]
    Software,
    Pkcs11(SshPkcs11),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshPkcs11 {
    pub module: String,
    pub token_label: String,
    /// Name of the environment variable holding the user PIN (never the PIN).
    pub pin_env: String,
    pub key_label: String,
}

/// The table form of a key store.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum Table {
    Software,
    Pkcs11(SshPkcs11),
}

impl Serialize for SshKeyStore {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Software => s.serialize_str("software"),
            Self::Pkcs11(p) => Table::Pkcs11(p.clone()).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SshKeyStore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SshKeyStore;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    r#""software" or { type = "pkcs11", module, token_label, pin_env, key_label }"#,
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SshKeyStore, E> {
                match v {
                    "software" => Ok(SshKeyStore::Software),
                    other => Err(E::custom(format!(
                        "key_store {other:?}: \"software\" or a pkcs11 table"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> Result<SshKeyStore, A::Error> {
                Ok(match Table::deserialize(MapAccessDeserializer::new(m))? {
                    Table::Software => SshKeyStore::Software,
                    Table::Pkcs11(p) => SshKeyStore::Pkcs11(p),
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl SshConfig {
    /// Longest certificate validity, seconds.
    pub fn max_duration_secs(&self) -> u64 {
        self.max_duration_days.saturating_mul(86_400)
    }

    /// Adds every problem of `[ssh]` to `errs` (`allowed_modules`: `[hsm] allowed_modules`).
    pub(super) fn check(&self, allowed_modules: &[String], errs: &mut Vec<String>) {
        if self.base_dn.is_empty()
            || self.base_dn.len() > 256
            || self.base_dn.chars().any(char::is_control)
            || !self.base_dn.contains('=')
        {
            errs.push(format!(
                "ssh.base_dn = {:?}: an LDAP base DN such as \"dc=example,dc=org\"",
                self.base_dn
            ));
        }
        if !sigil_ssh::lookup::valid_group_name(&self.admin_group) {
            errs.push(format!(
                "ssh.admin_group = {:?}: 1 to 64 letters, digits, '_', '.' or '-'",
                self.admin_group
            ));
        }
        if !(60..=86_400).contains(&self.access_token_secs) {
            errs.push("ssh.access_token_secs must be between 60 and 86400".into());
        }
        if self.refresh_token_secs <= self.access_token_secs
            || self.refresh_token_secs > 366 * 86_400
        {
            errs.push(
                "ssh.refresh_token_secs must exceed ssh.access_token_secs and be at most 366 days"
                    .into(),
            );
        }
        if self.max_duration_days == 0 || self.max_duration_days > 3660 {
            errs.push("ssh.max_duration_days must be between 1 and 3660".into());
        }
        match sigil_ssh::keyper::duration_seconds(self.default_duration, self.default_duration_unit)
        {
            Some(s) if s > 0 && s <= self.max_duration_secs() => {}
            _ => errs.push(
                "ssh.default_duration × ssh.default_duration_unit must be at least 1 and at most ssh.max_duration_days"
                    .into(),
            ),
        }
        if !(1..=1024).contains(&self.min_password_length) {
            errs.push("ssh.min_password_length must be between 1 and 1024".into());
        }
        if self.login_failures_per_user == 0 || self.login_refill_secs == 0 {
            errs.push(
                "ssh.login_failures_per_user and ssh.login_refill_secs must be at least 1".into(),
            );
        }
        for (name, ca) in [("user_ca", &self.user_ca), ("host_ca", &self.host_ca)] {
            let SshKeyStore::Pkcs11(p) = &ca.key_store else {
                continue;
            };
            if !allowed_modules.contains(&p.module) {
                errs.push(format!(
                    "ssh.{name}.key_store.module {:?} is not in hsm.allowed_modules",
                    p.module
                ));
            }
            if p.token_label.is_empty() || p.token_label.len() > 32 {
                errs.push(format!(
                    "ssh.{name}.key_store.token_label must be 1 to 32 characters"
                ));
            }
            if p.key_label.is_empty()
                || p.key_label.len() > 64
                || p.key_label.contains(char::is_control)
            {
                errs.push(format!(
                    "ssh.{name}.key_store.key_label must be 1 to 64 printable characters"
                ));
            }
            if !valid_env_name(&p.pin_env) {
                errs.push(format!(
                    "ssh.{name}.key_store.pin_env {:?} is not an environment variable name",
                    p.pin_env
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CpConfig;

    #[test]
    fn defaults_and_key_stores() {
        let c = CpConfig::default();
        assert_eq!(c.ssh.base_dn, "dc=sigil,dc=local");
        assert_eq!(c.ssh.admin_group, "KeyperAdmins");
        assert_eq!(c.ssh.user_ca.algorithm, CaAlgorithm::Ed25519);
        assert_eq!(c.ssh.user_ca.key_store, SshKeyStore::Software);
        assert_eq!(
            (c.ssh.access_token_secs, c.ssh.refresh_token_secs),
            (900, 2_592_000)
        );
        c.validate().unwrap();

        let c: CpConfig = toml::from_str(
            r#"
            [hsm]
            allowed_modules = ["/usr/lib/softhsm/libsofthsm2.so"]
            [ssh]
            base_dn = "dc=keyper,dc=example,dc=org"
            default_duration = 8
            default_duration_unit = "Hours"
            [ssh.user_ca]
            algorithm = "ecdsa-p256"
            key_store = { type = "pkcs11", module = "/usr/lib/softhsm/libsofthsm2.so", token_label = "ssh", pin_env = "SSH_PIN", key_label = "user-ca" }
            [ssh.host_ca]
            algorithm = "rsa-3072"
            key_store = "software"
            "#,
        )
        .unwrap();
        assert_eq!(c.ssh.user_ca.algorithm, CaAlgorithm::EcdsaP256);
        assert!(
            matches!(&c.ssh.user_ca.key_store, SshKeyStore::Pkcs11(p) if p.key_label == "user-ca")
        );
        assert_eq!(c.ssh.host_ca.algorithm, CaAlgorithm::Rsa3072);
        assert_eq!(c.ssh.default_duration_unit, DurationUnit::Hours);
        c.validate().unwrap();
        // Round trip through the serializer (the configuration is printable).
        let again: CpConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again.ssh, c.ssh);
    }

    #[test]
    fn problems_are_reported() {
        assert!(toml::from_str::<CpConfig>("[ssh.user_ca]\nkey_store = \"hsm\"\n").is_err());
        assert!(toml::from_str::<CpConfig>("[ssh.user_ca]\nalgorithm = \"dsa\"\n").is_err());
        assert!(toml::from_str::<CpConfig>("[ssh]\nbase = \"x\"\n").is_err());
        let c: CpConfig = toml::from_str(
            r#"
            [ssh]
            admin_group = "bad group"
            access_token_secs = 10
            default_duration = 100
            default_duration_unit = "Weeks"
            [ssh.host_ca]
            key_store = { type = "pkcs11", module = "/not/allowed.so", token_label = "t", pin_env = "1X", key_label = "k" }
            "#,
        )
        .unwrap();
        let errs = c.validate().unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs.iter().all(|e| e.starts_with("ssh.")), "{errs:#?}");
    }
}
