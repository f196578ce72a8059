//! Checking a configuration before anything is bound: every problem is reported, not just
//! the first.

use super::{CpConfig, OcspSignerMode};

impl CpConfig {
    /// The checks that apply only when serving (`sigil-cp serve`): no plaintext admin listener
    /// off loopback, TLS for the public (EST) listener. Offline commands (`init`, `audit
    /// verify`) do not bind and skip them.
    pub fn validate_serving(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        if self.admin.tls.is_none()
            && !self.admin.allow_plaintext
            && !self.admin.listen.ip().is_loopback()
        {
            errs.push(format!(
                "admin.listen = {} is not a loopback address: configure [admin.tls] (or set \
                 admin.allow_plaintext = true behind a TLS-terminating proxy)",
                self.admin.listen
            ));
        }
        if self.public.listen.is_some() && self.public.tls.is_none() {
            errs.push(
                "public.listen is set but [public.tls] is not: enrollment (EST, RFC 7030 §3.2.3) \
                 requires TLS"
                    .into(),
            );
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// Checks every constraint; returns all problems found, not just the first.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        self.storage.validate(&mut errs);
        let o = &self.ocsp;
        if !(8..=240).contains(&o.validity_hours) {
            errs.push(format!(
                "ocsp.validity_hours = {}: must be between 8 and 240 (CA/B Forum BR 4.9.10)",
                o.validity_hours
            ));
        }
        if o.refresh_after_hours == 0 || o.refresh_after_hours > 96 {
            errs.push(format!(
                "ocsp.refresh_after_hours = {}: must be between 1 and 96 (BR 4.9.10)",
                o.refresh_after_hours
            ));
        }
        if o.validity_hours < o.refresh_after_hours + 8 {
            errs.push(
                "ocsp.refresh_after_hours must leave at least 8 hours before nextUpdate".into(),
            );
        }
        if o.hash_algorithms.is_empty() {
            errs.push("ocsp.hash_algorithms must not be empty".into());
        }
        if o.signer == OcspSignerMode::Delegated
            && o.responder_validity_days * 24 < o.validity_hours + 24
        {
            errs.push(
                "ocsp.responder_validity_days must exceed ocsp.validity_hours by at least a day"
                    .into(),
            );
        }
        if o.refresh_batch == 0 {
            errs.push("ocsp.refresh_batch must be at least 1".into());
        }
        if self.crl.validity_days == 0 || self.crl.validity_days > 366 {
            errs.push("crl.validity_days must be between 1 and 366".into());
        }
        if self.crl.regenerate_every_hours == 0
            || self.crl.regenerate_every_hours >= self.crl.validity_days * 24
        {
            errs.push(
                "crl.regenerate_every_hours must be at least 1 and less than crl.validity_days"
                    .into(),
            );
        }
        // Tests only (see `OcspConfig::test_validity_secs`): shorter than BR 4.9.10 allows,
        // never longer than an hour.
        for (key, v) in [
            ("ocsp", o.test_validity_secs),
            ("crl", self.crl.test_validity_secs),
        ] {
            if v.is_some_and(|s| !(3..=3600).contains(&s)) {
                errs.push(format!(
                    "{key}.test_validity_secs must be between 3 and 3600"
                ));
            }
        }
        if self.replication.retain_records == 0 {
            errs.push("replication.retain_records must be at least 1".into());
        }
        if self.replication.heartbeat_secs == 0 {
            errs.push("replication.heartbeat_secs must be at least 1".into());
        }
        if !(self.distribution.base_url.starts_with("http://")
            || self.distribution.base_url.starts_with("https://"))
        {
            errs.push("distribution.base_url must be an http:// or https:// URL".into());
        }
        let est = &self.public.est;
        for (key, value) in [
            ("failures_per_entity", u64::from(est.failures_per_entity)),
            ("entity_refill_secs", est.entity_refill_secs),
            ("failures_per_source", u64::from(est.failures_per_source)),
            ("source_refill_secs", est.source_refill_secs),
            ("max_tracked_keys", est.max_tracked_keys as u64),
        ] {
            if value == 0 {
                errs.push(format!("public.est.{key} must be at least 1"));
            }
        }
        if self.admin.max_body_bytes < 1024 {
            errs.push("admin.max_body_bytes must be at least 1024".into());
        }
        self.admin.auth_limit.check(&mut errs);
        self.acme.check(self.public.listen.is_some(), &mut errs);
        self.admin.console.check(&mut errs);
        self.ssh.check(&self.hsm.allowed_modules, &mut errs);
        if let Some(d) = self.crl.delta_every_secs() {
            if d >= self.crl.regenerate_every_secs() {
                errs.push(
                    "crl.delta_every_minutes must be shorter than crl.regenerate_every_hours"
                        .into(),
                );
            }
        }
        self.scep.check(
            self.public.listen.is_some(),
            &|p| self.profiles.contains_key(p),
            &mut errs,
        );
        for (name, p) in &self.profiles {
            errs.extend(p.problems(&format!("profiles.{name}")));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EstConfig, PublicTlsConfig};

    #[test]
    fn defaults_are_valid() {
        CpConfig::default().validate().unwrap();
    }

    #[test]
    fn plaintext_admin_only_on_loopback_and_public_needs_tls() {
        let mut c = CpConfig::default();
        c.admin.listen = "0.0.0.0:9444".parse().unwrap();
        c.public.listen = Some("0.0.0.0:8443".parse().unwrap());
        c.validate().unwrap();
        assert_eq!(c.validate_serving().unwrap_err().len(), 2);
        c.admin.allow_plaintext = true;
        c.public.tls = Some(PublicTlsConfig {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        });
        c.validate_serving().unwrap();
    }

    #[test]
    fn br_limits_are_enforced() {
        let mut c = CpConfig::default();
        c.ocsp.validity_hours = 241;
        c.ocsp.refresh_after_hours = 100;
        let errs = c.validate().unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn test_validity_is_short_and_replaces_hours_and_days() {
        let mut c = CpConfig::default();
        assert_eq!(
            (c.ocsp.validity_secs(), c.ocsp.refresh_after_secs()),
            (96 * 3600, 48 * 3600)
        );
        assert_eq!(
            (c.crl.validity_secs(), c.crl.regenerate_every_secs()),
            (7 * 86_400, 24 * 3600)
        );
        c.ocsp.test_validity_secs = Some(30);
        c.crl.test_validity_secs = Some(9);
        c.validate().unwrap();
        assert_eq!(
            (c.ocsp.validity_secs(), c.ocsp.refresh_after_secs()),
            (30, 10)
        );
        assert_eq!(
            (c.crl.validity_secs(), c.crl.regenerate_every_secs()),
            (9, 3)
        );
        c.ocsp.test_validity_secs = Some(3601);
        c.crl.test_validity_secs = Some(2);
        assert_eq!(c.validate().unwrap_err().len(), 2);
    }

    #[test]
    fn est_limits_default_parse_and_must_not_be_zero() {
        let d = CpConfig::default().public.est;
        assert_eq!(
            (
                d.failures_per_entity,
                d.entity_refill_secs,
                d.failures_per_source,
                d.source_refill_secs,
                d.max_tracked_keys
            ),
            (5, 60, 20, 6, 100_000)
        );
        let c: CpConfig = serde_json::from_str(
            r#"{"public": {"est": {"failures_per_entity": 2, "source_refill_secs": 30}}}"#,
        )
        .unwrap();
        assert_eq!(c.public.est.failures_per_entity, 2);
        assert_eq!(c.public.est.source_refill_secs, 30);
        assert_eq!(
            c.public.est.entity_refill_secs, 60,
            "the rest keep their defaults"
        );
        c.validate().unwrap();
        assert!(
            serde_json::from_str::<CpConfig>(r#"{"public": {"est": {"failures": 2}}}"#).is_err()
        );
        let mut c = CpConfig::default();
        c.public.est = EstConfig {
            failures_per_entity: 0,
            entity_refill_secs: 0,
            failures_per_source: 0,
            source_refill_secs: 0,
            max_tracked_keys: 0,
        };
        let errs = c.validate().unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(
            errs.iter().all(|e| e.starts_with("public.est.")),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(serde_json::from_str::<CpConfig>(r#"{"ocsp": {"validity_hour": 1}}"#).is_err());
        assert!(serde_json::from_str::<CpConfig>(r#"{"ocsp": {"validity_hours": 24}}"#).is_ok());
    }
}
