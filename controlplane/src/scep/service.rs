//! SCEP operations on the services (blocking: RSA decryption, OTP hashes, signing, fsync).
//!
//! PKIOperation order: parse (400 if undecodable) → CA and RA → signature → envelope
//! (cipher allowed?) → CSR against the profile (`Certificates::check_issue`: nothing spent
//! yet) → authenticate (PKCSReq: challengePassword as the OTP of the CN's entity,
//! `Est::use_otp` — rate limit, decrement with its `otp.use` audit record, synced; a failure
//! audited; RenewalReq: `Est::check_client_cert` on the signer certificate, then the CSR
//! keeps its names) → `issue_checked` with `enrollment = scep` (one synced batch) → CertRep
//! SUCCESS encrypted to the signer certificate. As with EST, a crash between the OTP use and
//! the issuance leaves the OTP used and no certificate, never two certificates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use der::Encode;
use sigil_scep::reply::{cert_rep, Reply};
use sigil_scep::{csr, ContentCipher, MessageType, PkiMessage, Ra};
use sigil_shared::time::now_unix;

use super::{Refusal, ScepHttpError};
use crate::audit::{with_actor, Actor};
use crate::ca::CaRuntime;
use crate::config::ScepConfig;
use crate::db::{CertMeta, Enrollment, ScepRequest, ScepRequestState, ScepRequestV1};
use crate::est::identity::{common_names, keeps_identity};
use crate::est::Est;
use crate::services::certificates::{san_string, IssueRequest};
use crate::services::scep_requests::request_id;
use crate::services::ScepRequestError;
use crate::services::Services;

/// The SCEP service: EST's authentication (same OTPs, limiter sizes, audit), the RA cache.
#[derive(Debug)]
pub struct Scep {
    services: Arc<Services>,
    est: Est,
    /// Per issuer id: the RA as last loaded.
    ras: Mutex<HashMap<String, CachedRa>>,
}

/// An RA in memory: the CA certificate it was loaded for, its notAfter, the RA.
type CachedRa = (Vec<u8>, i64, Arc<Ra>);

/// A PKIOperation's answer: the CertRep and how it ended (for the metric).
#[derive(Debug)]
pub struct Answer {
    pub cert_rep: Vec<u8>,
    pub operation: &'static str,
    pub outcome: &'static str,
}

impl Scep {
    pub fn new(services: Arc<Services>) -> Self {
        Self {
            est: Est::new(services.clone()),
            services,
            ras: Mutex::new(HashMap::new()),
        }
    }

    fn config(&self) -> &ScepConfig {
        &self.services.settings().scep
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    fn ca(&self) -> Result<Arc<CaRuntime>, ScepHttpError> {
        self.est
            .ca_for(self.config().issuer.as_deref())
            .map_err(|e| ScepHttpError::NotFound(e.to_string()))
    }

    /// The CA's RA, issued on first use (`Issuers::scep_ra`) and kept in memory while
    /// current.
    fn ra(&self, ca: &Arc<CaRuntime>) -> Result<Arc<Ra>, ScepHttpError> {
        let cfg = self.config();
        let margin = i64::from(cfg.ra_validity_days) * 8640;
        let now = now_unix();
        let mut cache = self.ras.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((ca_der, not_after, ra)) = cache.get(&ca.record.id) {
            if *ca_der == ca.record.cert_der && *not_after - now > margin {
                return Ok(ra.clone());
            }
        }
        let key = self
            .services
            .issuers
            .scep_ra(ca, cfg.ra_key_bits, cfg.ra_validity_days)
            .map_err(|e| ScepHttpError::Internal(format!("SCEP RA: {e}")))?;
        let ra = Arc::new(
            Ra::new(&key.pkcs8, &key.cert_der)
                .map_err(|e| ScepHttpError::Internal(format!("SCEP RA: {e}")))?,
        );
        cache.insert(
            ca.record.id.clone(),
            (ca.record.cert_der.clone(), key.not_after, ra.clone()),
        );
        Ok(ra)
    }

    /// `GetCACaps` (RFC 8894 §3.5.2), one capability a line.
    pub fn caps(&self) -> String {
        let mut caps = vec![
            "POSTPKIOperation",
            "SHA-1",
            "SHA-256",
            "SHA-512",
            "AES",
            "SCEPStandard",
            "Renewal",
        ];
        if self.config().allow_legacy_ciphers {
            caps.push("DES3");
        }
        caps.join("\n") + "\n"
    }

    /// `GetCACert` (RFC 8894 §4.2.1.2): certs-only DER with the RA, the CA and its parents.
    pub fn ca_certs(&self) -> Result<Vec<u8>, ScepHttpError> {
        let ca = self.ca()?;
        let ra = self.ra(&ca)?;
        let mut certs: Vec<&[u8]> = vec![&ra.cert_der];
        certs.extend(ca.chain_der().map(Vec::as_slice));
        sigil_scep::certs::certs_only(&certs).map_err(|e| ScepHttpError::Internal(e.to_string()))
    }

    /// `PKIOperation`: `body` is the DER pkiMessage.
    pub fn pki_operation(&self, body: &[u8], source: SocketAddr) -> Result<Answer, ScepHttpError> {
        let msg = PkiMessage::parse(body).map_err(|e| ScepHttpError::BadRequest(e.to_string()))?;
        let ca = self.ca()?;
        let ra = self.ra(&ca)?;
        let operation = match msg.message_type {
            MessageType::PkcsReq => "PKCSReq",
            MessageType::RenewalReq => "RenewalReq",
            MessageType::CertPoll => "CertPoll",
            other => other.name(),
        };
        let result = self.enroll(&ca, &ra, &msg, source);
        let (reply, outcome) = match &result {
            Ok(Done::Issued(der, cipher)) => (
                Reply::Success {
                    cert_der: der,
                    cipher: *cipher,
                },
                "success",
            ),
            Ok(Done::Pending) => (Reply::Pending, "pending"),
            Err(refusal) => {
                if let Refusal::Internal(m) = refusal {
                    tracing::error!(error = %m, transaction = %msg.transaction_id, "SCEP: request failed");
                } else {
                    tracing::warn!(reason = %refusal, transaction = %msg.transaction_id, %source, "SCEP: request refused");
                }
                (Reply::Failure(refusal.fail_info()), "failure")
            }
        };
        let cert_rep = cert_rep(&ra, &msg, reply)
            .map_err(|e| ScepHttpError::Internal(format!("CertRep: {e}")))?;
        Ok(Answer {
            cert_rep,
            operation,
            outcome,
        })
    }

    /// The stored request `id`'s answer: its certificate, PENDING, or its rejection.
    fn poll(&self, id: &str, cipher: ContentCipher) -> Result<Option<Done>, Refusal> {
        let found = self
            .services
            .scep_requests
            .get(id)
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        let Some(rec) = found else {
            return Ok(None);
        };
        Ok(Some(match &rec.v1().state {
            ScepRequestState::Pending => Done::Pending,
            ScepRequestState::Approved { cert_id, .. } => {
                let cert = self
                    .services
                    .certificates
                    .cert(cert_id)
                    .map_err(|e| Refusal::Internal(e.to_string()))?;
                Done::Issued(cert.der, cipher)
            }
            ScepRequestState::Rejected { reason, .. } => {
                return Err(Refusal::Request(format!(
                    "the request was rejected: {reason}"
                )))
            }
        }))
    }

    /// Everything between a parsed request and its certificate (DER) and reply cipher, or
    /// PENDING.
    fn enroll(
        &self,
        ca: &Arc<CaRuntime>,
        ra: &Ra,
        msg: &PkiMessage,
        source: SocketAddr,
    ) -> Result<Done, Refusal> {
        let op = msg.message_type;
        if !matches!(
            op,
            MessageType::PkcsReq | MessageType::RenewalReq | MessageType::CertPoll
        ) {
            return Err(Refusal::Request(format!(
                "{} is not offered (PKCSReq, RenewalReq and CertPoll are)",
                op.name()
            )));
        }
        msg.verify()?;
        let opened = ra.open(msg)?;
        if opened.cipher.is_legacy() && !self.config().allow_legacy_ciphers {
            return Err(sigil_scep::ScepError::Unsupported(
                "DES envelopes are refused ([scep] allow_legacy_ciphers)".into(),
            )
            .into());
        }
        let spki = msg
            .signer
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Refusal::Request(e.to_string()))?;
        let id = request_id(&ca.record.id, &msg.transaction_id, &spki);
        if op != MessageType::RenewalReq {
            // CertPoll, or a PKCSReq sent again while pending (micromdm's client polls so).
            if let Some(done) = self.poll(&id, opened.cipher)? {
                return Ok(done);
            }
            if op == MessageType::CertPoll {
                return Err(Refusal::CertId(format!(
                    "no pending request with transactionID {:?} from this signer",
                    msg.transaction_id
                )));
            }
        }
        let certificates = &self.services.certificates;
        let profile = match &self.config().profile {
            Some(p) => Some(p.clone()),
            None => certificates
                .has_profile("scep")
                .map_err(|e| Refusal::from(crate::est::EstError::from(e)))?
                .then(|| "scep".to_string()),
        };
        let req = IssueRequest {
            issuer_id: ca.record.id.clone(),
            csr: opened.plain.clone(),
            validity_days: None,
            profile,
        };
        let checked = certificates
            .check_issue(&req)
            .map_err(|e| Refusal::Request(format!("CSR refused: {e}")))?;
        let actor = if op == MessageType::PkcsReq {
            let challenge = csr::challenge_password(&opened.plain)?.filter(|c| !c.is_empty());
            let Some(challenge) = challenge else {
                if !self.config().pending {
                    return Err(Refusal::Request("the CSR has no challengePassword".into()));
                }
                let req = ScepRequest::V1(ScepRequestV1 {
                    id,
                    issuer_id: ca.record.id.clone(),
                    profile: req.profile.clone(),
                    transaction_id: msg.transaction_id.clone(),
                    csr_der: opened.plain.clone(),
                    subject: checked.csr.subject.to_string(),
                    sans: checked.csr.sans.iter().map(san_string).collect(),
                    created_at: now_unix(),
                    source: source.to_string(),
                    state: ScepRequestState::Pending,
                });
                let actor = Actor {
                    id: format!("scep:{}", checked.csr.subject),
                    actor_type: "Agent",
                    source: source.to_string(),
                };
                with_actor(actor, || self.services.scep_requests.submit(req)).map_err(
                    |e| match e {
                        ScepRequestError::TooManyPending => Refusal::Request(e.to_string()),
                        e => Refusal::Internal(e.to_string()),
                    },
                )?;
                return Ok(Done::Pending);
            };
            let entity = common_names(&checked.csr.subject)
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Refusal::Request("the CSR's subject has no CN naming the entity".into())
                })?;
            let actor = Actor {
                id: format!("scep:{entity}"),
                actor_type: "Agent",
                source: source.to_string(),
            };
            self.est
                .use_otp(ca, Enrollment::Scep, &entity, &challenge, &actor)?;
            actor
        } else {
            let (current, subject) = self
                .est
                .check_client_cert(ca, Enrollment::Scep, &msg.signer_der, source)
                .map_err(|e| match e {
                    crate::est::EstError::Internal(m) => Refusal::Internal(m),
                    other => Refusal::CertId(other.to_string()),
                })?;
            if !keeps_identity(&checked.csr, &subject, &current.sans) {
                return Err(Refusal::Request(format!(
                    "renewal keeps the subject and subjectAltName of the current certificate \
                     ({}; {})",
                    current.subject,
                    current.sans.join(", ")
                )));
            }
            Actor {
                id: format!("scep-renewal:{}", current.subject),
                actor_type: "Agent",
                source: source.to_string(),
            }
        };
        let meta = Some(CertMeta {
            enrollment: Enrollment::Scep,
        });
        let cert = with_actor(actor, || certificates.issue_checked(checked, meta))
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        Ok(Done::Issued(cert.der, opened.cipher))
    }
}

/// How a PKIOperation that was not refused ended.
#[derive(Debug)]
enum Done {
    Issued(Vec<u8>, ContentCipher),
    Pending,
}
