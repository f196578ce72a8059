//! `[scep]`: SCEP (RFC 8894) on the public listener (`/scep`), see docs/ENROLLMENT.md.

use serde::{Deserialize, Serialize};

/// `[scep]`. Requests are authenticated by the challengePassword, an enrollment OTP
/// (`POST /admin/otp`) of the entity the CSR's CN (or a SAN) names, or — RenewalReq — by the
/// current certificate the request is signed with. Requests are encrypted to an RA
/// certificate (RSA, issued by the CA at the first SCEP request, key sealed under the KEK),
/// which `GetCACert` returns with the CA chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScepConfig {
    /// Serve `/scep` on the public listener (needs `public.listen`).
    pub enabled: bool,
    /// The issuing CA by name (as EST's `<label>`); absent: EST's default CA (the CA named
    /// `default`, else the only CA that is no other CA's parent).
    pub issuer: Option<String>,
    /// Issuance profile; absent: `[profiles.scep]` if configured, else the issuer's default.
    pub profile: Option<String>,
    /// RSA size of the RA key: 2048, 3072 or 4096.
    pub ra_key_bits: u32,
    /// Validity of the RA certificate (capped at the CA's); a new one is issued when less than
    /// a tenth of it is left.
    pub ra_validity_days: u32,
    /// Accept requests encrypted with DES-CBC or DES-EDE3-CBC (older clients, among them
    /// Debian's micromdm `scepclient` 2.1, only send DES-CBC). Off: such a request is answered
    /// FAILURE badAlg; GetCACaps then advertises AES only.
    pub allow_legacy_ciphers: bool,
    /// A PKCSReq without a challengePassword is kept pending for an administrator
    /// (`/api/v1/scep/requests`) instead of refused; the client polls (CertPoll). A wrong
    /// challenge is refused either way.
    pub pending: bool,
}

impl Default for ScepConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            profile: None,
            ra_key_bits: 2048,
            ra_validity_days: 365,
            allow_legacy_ciphers: false,
            pending: false,
        }
    }
}

impl ScepConfig {
    pub(super) fn check(
        &self,
        public_listen: bool,
        has_profile: &dyn Fn(&str) -> bool,
        errs: &mut Vec<String>,
    ) {
        if ![2048, 3072, 4096].contains(&self.ra_key_bits) {
            errs.push(format!(
                "scep.ra_key_bits = {}: must be 2048, 3072 or 4096",
                self.ra_key_bits
            ));
        }
        if !(1..=3650).contains(&self.ra_validity_days) {
            errs.push(format!(
                "scep.ra_validity_days = {}: must be between 1 and 3650",
                self.ra_validity_days
            ));
        }
        if let Some(p) = &self.profile {
            if !has_profile(p) {
                errs.push(format!("scep.profile = {p:?}: no [profiles.{p}]"));
            }
        }
        if self.issuer.as_deref() == Some("") {
            errs.push("scep.issuer must not be empty (leave it out for the default CA)".into());
        }
        if self.enabled && !public_listen {
            errs.push("scep.enabled needs the public listener (public.listen)".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::CpConfig;

    fn errors(toml_text: &str) -> Vec<String> {
        let c: CpConfig = toml::from_str(toml_text).unwrap();
        c.validate().err().unwrap_or_default()
    }

    #[test]
    fn defaults_are_off_and_valid() {
        let c = CpConfig::default();
        assert!(!c.scep.enabled);
        assert!(!c.scep.allow_legacy_ciphers);
        assert!(errors("").iter().all(|e| !e.contains("scep")));
    }

    #[test]
    fn bad_values_are_reported_together() {
        let errs = errors(
            "[scep]\nenabled = true\nra_key_bits = 1024\nra_validity_days = 0\nprofile = \"nope\"\nissuer = \"\"\n",
        );
        for want in [
            "scep.ra_key_bits",
            "scep.ra_validity_days",
            "scep.profile",
            "scep.issuer",
            "public.listen",
        ] {
            assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<CpConfig>("[scep]\nenable = true\n").is_err());
        let ok = errors(
            "[public]\nlisten = \"127.0.0.1:8443\"\n[scep]\nenabled = true\nprofile = \"scep\"\n\
             [profiles.scep]\nvalidity_days = 30\n",
        );
        assert!(ok.iter().all(|e| !e.contains("scep")), "{ok:?}");
    }
}
