//! Authentication of EST requests: which credentials an operation takes, OTP use with rate
//! limiting, and the checks on a presented client certificate. Failures are audited.

use std::net::SocketAddr;
use std::time::Instant;

use sigil_shared::time::now_unix;
use x509_cert::name::Name;

use super::identity::verify_issued_by;
use super::service::Est;
use super::EstError;
use crate::audit::{with_actor, Actor, AuditEvent};
use crate::ca::CaRuntime;
use crate::db::{CertRecord, CertState, Enrollment};
use crate::services::certificates::CertError;
use crate::services::otps::OtpRejected;

/// How the client authenticated itself.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// HTTP Basic `entity_id:otp`.
    Otp {
        entity: String,
        otp: String,
    },
    /// The TLS client certificate (DER); only possession of its key is proven.
    ClientCert(Vec<u8>),
    None,
}

impl Credentials {
    /// What `op` authenticates with, of what the request brought: `simpleenroll` the OTP,
    /// `simplereenroll` the client certificate, `serverkeygen` the OTP if sent, else the
    /// client certificate.
    pub fn choose(
        op: Enrollment,
        basic: Option<(String, String)>,
        client_cert: Option<Vec<u8>>,
    ) -> Self {
        let otp = basic.map(|(entity, otp)| Credentials::Otp { entity, otp });
        let cert = client_cert.map(Credentials::ClientCert);
        match op {
            Enrollment::SimpleReenroll => cert,
            Enrollment::SimpleEnroll
            | Enrollment::Api
            | Enrollment::Import
            | Enrollment::Renewal
            | Enrollment::Scep
            | Enrollment::Acme => otp,
            Enrollment::ServerKeygen => otp.or(cert),
        }
        .unwrap_or(Credentials::None)
    }
}

impl Est {
    /// Rate limit, then consume one use of the OTP (durable before this returns). A failure
    /// is audited and counted against the entity and the source address.
    pub(crate) fn use_otp(
        &self,
        ca: &CaRuntime,
        op: Enrollment,
        entity: &str,
        otp: &str,
        actor: &Actor,
    ) -> Result<(), EstError> {
        let ip = actor_ip(&actor.source);
        let limited = self
            .limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(entity, &ip, Instant::now());
        if let Some(limited) = limited {
            tracing::warn!(entity, source = %actor.source, operation = op.as_str(), "enrollment: OTP attempts rate limited");
            let m = &self.services.metrics().est_rate_limited;
            for (scope, hit) in [("entity", limited.entity), ("source", limited.source)] {
                if hit {
                    m.with_label_values(&[scope]).inc();
                }
            }
            // Rounded up: retrying after Retry-After must not be refused again.
            let secs = limited.wait.as_secs() + u64::from(limited.wait.subsec_nanos() > 0);
            return Err(EstError::TooManyAttempts(secs.max(1)));
        }
        let otps = &self.services.otps;
        let outcome = with_actor(actor.clone(), || otps.use_otp(entity, otp))?;
        let reason = match outcome {
            Ok(_) => return Ok(()),
            Err(OtpRejected::Unknown) => "unknown",
            Err(OtpRejected::Expired) => "expired",
            Err(OtpRejected::UsedUp) => "used_up",
        };
        self.services
            .metrics()
            .est_otp_failures
            .with_label_values(&[reason])
            .inc();
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fail(entity, &ip, Instant::now());
        tracing::warn!(entity, source = %actor.source, reason, operation = op.as_str(), "enrollment: OTP rejected");
        self.audit_failure(
            actor,
            ("otp.use", "otp", entity),
            serde_json::json!({"entity_id": entity, "reason": reason, "operation": op.as_str(), "issuer_id": ca.record.id}),
        )?;
        Err(EstError::Unauthorized(
            "invalid credentials: unknown entity, wrong, expired, deleted or used-up one-time \
             password"
                .into(),
        ))
    }

    /// The presented client certificate's record and subject, if it is one of `ca`'s, in the
    /// database, not revoked or on hold, and valid now; a failure is audited.
    pub(crate) fn check_client_cert(
        &self,
        ca: &CaRuntime,
        op: Enrollment,
        der: &[u8],
        source: SocketAddr,
    ) -> Result<(CertRecord, Name), EstError> {
        let rejected = |reason: String, cert_id: &str| -> Result<(CertRecord, Name), EstError> {
            tracing::warn!(%source, %reason, operation = op.as_str(), "enrollment: client certificate rejected");
            let actor = Actor {
                id: "anonymous".into(),
                actor_type: "Agent",
                source: source.to_string(),
            };
            self.audit_failure(
                &actor,
                ("est.auth.failure", "certificate", cert_id),
                serde_json::json!({"reason": reason, "operation": op.as_str(), "issuer_id": ca.record.id}),
            )?;
            Err(EstError::Unauthorized(format!(
                "client certificate rejected: {reason}"
            )))
        };
        let presented = match verify_issued_by(
            der,
            ca.signer.public_key_der(),
            ca.record.key_algorithm,
            ca.signer.signature_algorithm_der(),
        ) {
            Ok(p) => p,
            Err(e) => return rejected(format!("not issued by CA {:?}: {e}", ca.record.id), ""),
        };
        let id = hex::encode(&presented.serial);
        let record = match self.services.certificates.cert(&id) {
            Ok(r) if r.issuer_id == ca.record.id && r.der == der => r,
            Ok(_) | Err(CertError::NotFound { .. }) => {
                return rejected("not a certificate this CA issued".into(), &id)
            }
            Err(e) => return Err(e.into()),
        };
        if let CertState::Revoked { reason, .. } = record.state {
            return rejected(format!("revoked ({})", reason.name()), &id);
        }
        let now = now_unix();
        if now < record.not_before || now >= record.not_after {
            return rejected("outside its validity period".into(), &id);
        }
        Ok((record, presented.subject))
    }

    /// Writes a failure record on its own (synced); the request fails if it cannot.
    fn audit_failure(
        &self,
        actor: &Actor,
        (action, resource_type, resource_id): (&str, &str, &str),
        details: serde_json::Value,
    ) -> Result<(), EstError> {
        self.services
            .audit
            .record(AuditEvent {
                actor: actor.id.clone(),
                actor_type: actor.actor_type.into(),
                action: action.into(),
                resource_type: resource_type.into(),
                resource_id: resource_id.into(),
                success: false,
                source: actor.source.clone(),
                details: details.to_string(),
            })
            .map_err(|e| EstError::Internal(e.to_string()))
    }
}

/// The IP address of a `ip:port` source (the rate-limit key).
fn actor_ip(source: &str) -> String {
    source
        .parse::<SocketAddr>()
        .map_or_else(|_| source.to_string(), |a| a.ip().to_string())
}
