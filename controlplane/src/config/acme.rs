//! `[acme]`: the ACME (RFC 8555) server on the public listener (`crate::acme`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[acme]` (its `Debug` never shows the EAB keys).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// Serve `/acme/*` on the public listener.
    pub enabled: bool,
    /// The CA to issue from: its id or its name; absent, the CA EST picks without a label
    /// (the one named `default`, else the only issuing CA).
    pub issuer: Option<String>,
    /// The issuance profile; absent, `[profiles.acme]` if configured, else the issuer's
    /// default. Its `allowed_san_types` decide which identifier types (`dns`, `ip`) orders
    /// may name.
    pub profile: Option<String>,
    /// The URL clients reach the public listener at (scheme, host, port; no path), e.g.
    /// `https://acme.example.com`: every ACME URL is built from it and every request's JWS
    /// `url` must start with it.
    pub external_url: String,
    /// Port http-01 validation connects to (RFC 8555 §8.3 says 80; tests point it at the
    /// client's standalone server).
    pub http01_port: u16,
    /// Port tls-alpn-01 validation connects to (RFC 8737 says 443).
    pub tls_alpn01_port: u16,
    /// dns-01 (§8.4): a program run as `<hook> <domain> <txt-value>` that exits 0 when
    /// `_acme-challenge.<domain>` has the TXT value (how it looks is its business: a
    /// resolver query, a DNS provider's API). Absent: dns-01 is not offered.
    pub dns01_hook: Option<PathBuf>,
    /// Names under which dns identifiers are allowed (`example.com` allows it and every
    /// name below it); empty: any name.
    pub allowed_domains: Vec<String>,
    /// Allow `localhost`, `*.localhost` and loopback IP identifiers (tests; never in
    /// production: the validation would reach the control plane's own host).
    pub allow_loopback: bool,
    /// The terms of service URL shown in the directory's `meta`.
    pub terms_of_service: Option<String>,
    /// Require external account binding (§7.3.4) for new accounts.
    pub eab_required: bool,
    /// EAB keys: key id → HMAC-SHA256 key (base64url).
    pub eab_keys: BTreeMap<String, String>,
    /// New orders per account per hour (then `rateLimited` with `Retry-After`).
    pub orders_per_account_per_hour: u32,
    /// New accounts per source address per hour.
    pub accounts_per_source_per_hour: u32,
    /// Seconds one validation attempt may take (connect, TLS, answer).
    pub validation_timeout_secs: u64,
    /// Validation attempts before a challenge is invalid (2 s, 4 s, … apart).
    pub validation_attempts: u32,
    /// Lifetime of an order and of its authorizations, seconds.
    pub order_lifetime_secs: u64,
}

impl std::fmt::Debug for AcmeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeConfig")
            .field("enabled", &self.enabled)
            .field("issuer", &self.issuer)
            .field("profile", &self.profile)
            .field("external_url", &self.external_url)
            .field("http01_port", &self.http01_port)
            .field("tls_alpn01_port", &self.tls_alpn01_port)
            .field("dns01_hook", &self.dns01_hook)
            .field("allowed_domains", &self.allowed_domains)
            .field("allow_loopback", &self.allow_loopback)
            .field("eab_required", &self.eab_required)
            .field("eab_keys", &self.eab_keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for AcmeConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            profile: None,
            external_url: String::new(),
            http01_port: 80,
            tls_alpn01_port: 443,
            dns01_hook: None,
            allowed_domains: Vec::new(),
            allow_loopback: false,
            terms_of_service: None,
            eab_required: false,
            eab_keys: BTreeMap::new(),
            orders_per_account_per_hour: 300,
            accounts_per_source_per_hour: 20,
            validation_timeout_secs: 10,
            validation_attempts: 3,
            order_lifetime_secs: 7 * 86_400,
        }
    }
}

impl AcmeConfig {
    /// Pushes a message for every invalid setting onto `errs` (only when enabled).
    pub fn check(&self, public_listen: bool, errs: &mut Vec<String>) {
        if !self.enabled {
            return;
        }
        if !public_listen {
            errs.push("acme.enabled needs the public listener (public.listen)".into());
        }
        let u = &self.external_url;
        let rest = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains('/')) {
            errs.push(format!(
                "acme.external_url = {u:?}: must be http(s)://host[:port] without a path"
            ));
        }
        for (key, v) in [
            ("http01_port", u64::from(self.http01_port)),
            ("tls_alpn01_port", u64::from(self.tls_alpn01_port)),
            (
                "orders_per_account_per_hour",
                u64::from(self.orders_per_account_per_hour),
            ),
            (
                "accounts_per_source_per_hour",
                u64::from(self.accounts_per_source_per_hour),
            ),
            ("validation_timeout_secs", self.validation_timeout_secs),
            ("validation_attempts", u64::from(self.validation_attempts)),
            ("order_lifetime_secs", self.order_lifetime_secs),
        ] {
            if v == 0 {
                errs.push(format!("acme.{key} must be at least 1"));
            }
        }
        if self.validation_timeout_secs > 60 || self.validation_attempts > 10 {
            errs.push(
                "acme.validation_timeout_secs must be <= 60 and validation_attempts <= 10".into(),
            );
        }
        if self.eab_required && self.eab_keys.is_empty() {
            errs.push("acme.eab_required needs at least one key in [acme.eab_keys]".into());
        }
        for (kid, key) in &self.eab_keys {
            if sigil_acme::b64u_decode(key).is_none_or(|k| k.len() < 16) {
                errs.push(format!(
                    "acme.eab_keys.{kid}: must be base64url (no padding) of at least 16 bytes"
                ));
            }
        }
        if let Some(hook) = &self.dns01_hook {
            if !hook.is_absolute() {
                errs.push(format!(
                    "acme.dns01_hook = {hook:?}: must be an absolute path"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_only_when_enabled() {
        let mut errs = Vec::new();
        AcmeConfig::default().check(false, &mut errs);
        assert!(errs.is_empty());
        let c = AcmeConfig {
            enabled: true,
            external_url: "https://acme.example.com/acme".into(),
            validation_attempts: 0,
            eab_required: true,
            dns01_hook: Some("hook.sh".into()),
            ..AcmeConfig::default()
        };
        c.check(false, &mut errs);
        assert_eq!(errs.len(), 5, "{errs:?}");
        let ok = AcmeConfig {
            enabled: true,
            external_url: "https://127.0.0.1:8443".into(),
            ..AcmeConfig::default()
        };
        let mut errs = Vec::new();
        ok.check(true, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
    }
}
