//! Orders (RFC 8555 §7.4), authorizations (§7.5), challenges (§7.5.1) and certificate download
//! (§7.4.2); revocation (§7.6) in `super::revoke`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;
use sigil_acme::messages::{Finalize, Identifier, NewOrder};
use sigil_acme::{b64u_decode, ProblemType};
use sigil_shared::time::now_unix;

use super::identifiers::csr_identifiers;
use super::resources::{self, authz_status, order_status};
use super::server::{AcmeServer, Reply, Signed};
use super::AcmeError;
use crate::audit::with_actor;
use crate::ca::CaRuntime;
use crate::config::SanType;
use crate::db::{AcmeAuthzV1, AcmeChallenge, AcmeOrderV1, CertMeta, Enrollment};
use crate::services::acme::{random_id, AcmeState};
use crate::services::certificates::IssueRequest;
use crate::services::AcmeStateError;

/// Identifiers one order may name at most.
const MAX_IDENTIFIERS: usize = 100;

impl AcmeServer {
    /// The CA ACME issues from: `[acme] issuer` (an id or a name), else EST's default CA.
    pub(super) fn ca(&self) -> Result<Arc<CaRuntime>, AcmeError> {
        let est = crate::est::Est::new(self.services.clone());
        let r = match &self.cfg.issuer {
            Some(i) => match self.services.issuers.ca(i) {
                Ok(ca) => Ok(ca),
                Err(_) => est.ca_for(Some(i)),
            },
            None => est.ca_for(None),
        };
        r.map_err(|e| AcmeError::internal(format!("no CA to issue from: {e}")))
    }

    /// The profile requested (`None`: the issuer's default) and the one that applies.
    fn profile(
        &self,
        ca: &CaRuntime,
    ) -> Result<(Option<String>, crate::config::Profile), AcmeError> {
        let certs = &self.services.certificates;
        let requested = match self.cfg.profile.clone() {
            Some(p) => Some(p),
            None => certs.has_profile("acme")?.then(|| "acme".to_owned()),
        };
        let name = match &requested {
            Some(p) => p.clone(),
            None => self
                .services
                .issuers
                .issuer_settings(&ca.record.id)?
                .default_profile
                .unwrap_or_else(|| "default".into()),
        };
        let p = certs
            .profile(&name)?
            .ok_or_else(|| AcmeError::internal(format!("profile {name:?} does not exist")))?;
        Ok((requested, p))
    }

    /// Whether an order may name `id` (already normalized).
    fn check_identifier(&self, id: &Identifier, allowed: &[SanType]) -> Result<(), AcmeError> {
        let rejected = |d: String| AcmeError::new(ProblemType::RejectedIdentifier, d);
        let (ty, loopback) = match id.kind.as_str() {
            "dns" => {
                let v = &id.value;
                (SanType::Dns, v == "localhost" || v.ends_with(".localhost"))
            }
            _ => {
                let ip: IpAddr = id.value.parse().map_err(|_| rejected("bad IP".into()))?;
                (SanType::Ip, ip.is_loopback() || ip.is_unspecified())
            }
        };
        if !allowed.contains(&ty) {
            return Err(AcmeError::new(
                ProblemType::UnsupportedIdentifier,
                format!("the profile does not allow {} identifiers", id.kind),
            ));
        }
        if loopback && !self.cfg.allow_loopback {
            return Err(rejected(format!("{} is a loopback name", id.value)));
        }
        if id.kind == "dns"
            && !self.cfg.allowed_domains.is_empty()
            && !self.cfg.allowed_domains.iter().any(|d| {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                id.value == d || id.value.ends_with(&format!(".{d}"))
            })
        {
            return Err(rejected(format!(
                "{} is outside the allowed domains",
                id.value
            )));
        }
        Ok(())
    }

    /// `newOrder`: one new authorization per identifier.
    pub fn new_order(&self, s: &Signed) -> Result<Reply, AcmeError> {
        let (account, _) = s.account()?;
        let req: NewOrder = s.jws.json()?;
        if req.not_before.is_some() || req.not_after.is_some() {
            return Err(AcmeError::malformed(
                "notBefore and notAfter are not supported",
            ));
        }
        if req.identifiers.is_empty() || req.identifiers.len() > MAX_IDENTIFIERS {
            return Err(AcmeError::malformed(format!(
                "an order names 1..={MAX_IDENTIFIERS} identifiers"
            )));
        }
        let ca = self.ca()?;
        let (_, profile) = self.profile(&ca)?;
        let mut ids = BTreeSet::new();
        for i in &req.identifiers {
            let n = i.normalized().map_err(|d| {
                let kind = if i.kind == "dns" || i.kind == "ip" {
                    ProblemType::RejectedIdentifier
                } else {
                    ProblemType::UnsupportedIdentifier
                };
                AcmeError::new(kind, d)
            })?;
            self.check_identifier(&n, &profile.allowed_san_types)?;
            ids.insert(n);
        }
        self.orders_limit.hit(account).map_err(|secs| {
            AcmeError::rate_limited("too many new orders for this account", secs)
        })?;
        let now = now_unix();
        let expires = now + self.cfg.order_lifetime_secs as i64;
        let mut authzs = Vec::new();
        for i in &ids {
            let mut kinds = vec!["http-01", "tls-alpn-01"];
            if i.kind == "dns" && self.cfg.dns01_hook.is_some() {
                kinds.push("dns-01");
            }
            let mut challenges = Vec::new();
            for k in kinds {
                challenges.push(AcmeChallenge {
                    kind: k.into(),
                    token: random_id()?,
                    status: "pending".into(),
                    validated: None,
                    error: None,
                });
            }
            authzs.push((
                random_id()?,
                AcmeAuthzV1 {
                    account: account.into(),
                    identifier: (i.kind.clone(), i.value.clone()),
                    status: "pending".into(),
                    expires,
                    challenges,
                },
            ));
        }
        let id = random_id()?;
        let order = AcmeOrderV1 {
            account: account.into(),
            status: "pending".into(),
            identifiers: ids.into_iter().map(|i| (i.kind, i.value)).collect(),
            authzs: authzs.iter().map(|(id, _)| id.clone()).collect(),
            created: now,
            expires,
            cert: None,
            error: None,
        };
        self.services.acme.create_order(&id, &order, &authzs)?;
        let statuses = vec!["pending"; authzs.len()];
        Ok(Reply::json(
            201,
            resources::order(
                &self.urls,
                &id,
                &order,
                order_status(&order, &statuses, now),
            ),
        )
        .at(self.urls.order(&id)))
    }

    /// An order of the signer's account, with its status now.
    fn own_order(&self, s: &Signed, id: &str) -> Result<(AcmeOrderV1, &'static str), AcmeError> {
        let (account, _) = s.account()?;
        let o = self
            .services
            .acme
            .order(id)?
            .ok_or_else(|| AcmeError::not_found("order"))?;
        let o = o.v1().clone();
        if o.account != account {
            return Err(AcmeError::unauthorized(
                "this order belongs to another account",
            ));
        }
        let now = now_unix();
        let mut statuses = Vec::new();
        for a in &o.authzs {
            let rec = self.services.acme.authz(a)?.ok_or_else(|| {
                AcmeError::internal(format!("order {id}: authorization {a} is missing"))
            })?;
            statuses.push(authz_status(rec.v1(), now).to_owned());
        }
        let refs: Vec<&str> = statuses.iter().map(String::as_str).collect();
        let st = order_status(&o, &refs, now);
        Ok((o, st))
    }

    /// POST-as-GET of an order.
    pub fn order(&self, s: &Signed, id: &str) -> Result<Reply, AcmeError> {
        let (o, st) = self.own_order(s, id)?;
        Ok(Reply::json(200, resources::order(&self.urls, id, &o, st)))
    }

    /// The orders of an account (§7.1.2.1), newest first.
    pub fn orders_of(&self, s: &Signed, account: &str) -> Result<Reply, AcmeError> {
        if s.account()?.0 != account {
            return Err(AcmeError::unauthorized("this is another account"));
        }
        let ids = self.services.acme.orders_of(account)?;
        let urls: Vec<String> = ids.iter().map(|i| self.urls.order(i)).collect();
        Ok(Reply::json(200, serde_json::json!({ "orders": urls })))
    }

    fn own_authz(&self, s: &Signed, id: &str) -> Result<AcmeAuthzV1, AcmeError> {
        let (account, _) = s.account()?;
        let a = self
            .services
            .acme
            .authz(id)?
            .ok_or_else(|| AcmeError::not_found("authorization"))?;
        let a = a.v1().clone();
        if a.account != account {
            return Err(AcmeError::unauthorized(
                "this authorization belongs to another account",
            ));
        }
        Ok(a)
    }

    /// POST to an authorization: read, or deactivate (§7.5.2).
    pub fn authz(&self, s: &Signed, id: &str) -> Result<Reply, AcmeError> {
        let mut a = self.own_authz(s, id)?;
        if !s.jws.is_post_as_get() {
            let v: Value = s.jws.json()?;
            match v.get("status").and_then(Value::as_str) {
                Some("deactivated") => {
                    let rec = with_actor(s.actor(), || {
                        self.services.acme.update_authz(id, |a| {
                            let ok = a.status == "pending" || a.status == "valid";
                            if ok {
                                a.status = "deactivated".into();
                            }
                            ok
                        })
                    })?;
                    a = rec.v1().clone();
                }
                None => {}
                Some(other) => {
                    return Err(AcmeError::malformed(format!(
                        "an authorization's status can only become \"deactivated\", not {other:?}"
                    )))
                }
            }
        }
        Ok(Reply::json(
            200,
            resources::authz(&self.urls, id, &a, now_unix()),
        ))
    }

    /// POST to a challenge: `{}` starts its validation (once), POST-as-GET reads it.
    pub fn challenge(
        self: &Arc<Self>,
        s: &Signed,
        authz_id: &str,
        kind: &str,
    ) -> Result<Reply, AcmeError> {
        let a = self.own_authz(s, authz_id)?;
        if !a.challenges.iter().any(|c| c.kind == kind) {
            return Err(AcmeError::not_found("challenge"));
        }
        let now = now_unix();
        let mut started = false;
        let a = if s.jws.is_post_as_get() {
            a
        } else {
            let rec = self.services.acme.update_authz(authz_id, |a| {
                // Only a pending authorization validates, and only one challenge at a time.
                if a.status != "pending"
                    || a.expires <= now
                    || a.challenges.iter().any(|c| c.status == "processing")
                {
                    return false;
                }
                let Some(c) = a.challenges.iter_mut().find(|c| c.kind == kind) else {
                    return false;
                };
                if c.status != "pending" {
                    return false;
                }
                c.status = "processing".into();
                true
            })?;
            let a = rec.v1().clone();
            started = a
                .challenges
                .iter()
                .any(|c| c.kind == kind && c.status == "processing");
            a
        };
        if started {
            super::validate::spawn(self.clone(), authz_id.to_owned());
        }
        let c = a
            .challenges
            .iter()
            .find(|c| c.kind == kind)
            .expect("checked above");
        let mut r = Reply::json(200, resources::challenge(&self.urls, authz_id, c));
        r.up = Some(self.urls.authz(authz_id));
        Ok(r)
    }

    /// `finalize`: the CSR must name exactly the order's identifiers; issues at once.
    pub fn finalize(&self, s: &Signed, id: &str) -> Result<Reply, AcmeError> {
        let (o, st) = self.own_order(s, id)?;
        if st != "ready" {
            return Err(AcmeError::new(
                ProblemType::OrderNotReady,
                format!("the order is {st}, not ready"),
            ));
        }
        let req: Finalize = s.jws.json()?;
        let csr = b64u_decode(&req.csr)
            .ok_or_else(|| AcmeError::new(ProblemType::BadCsr, "csr is not base64url"))?;
        let ca = self.ca()?;
        let (profile, _) = self.profile(&ca)?;
        let bad_csr = |d: String| AcmeError::new(ProblemType::BadCsr, d);
        let checked = self
            .services
            .certificates
            .check_issue(&IssueRequest {
                issuer_id: ca.record.id.clone(),
                csr,
                validity_days: None,
                profile,
            })
            .map_err(|e| match e.kind() {
                crate::services::ErrorKind::Invalid => bad_csr(e.to_string()),
                _ => e.into(),
            })?;
        let names = csr_identifiers(&checked.csr.sans).map_err(bad_csr)?;
        let want: BTreeSet<(String, String)> = o.identifiers.iter().cloned().collect();
        if names != want {
            return Err(bad_csr(format!(
                "the CSR names {} but the order {}",
                show(&names),
                show(&want)
            )));
        }
        for cn in crate::est::identity::common_names(&checked.csr.subject) {
            let cn = cn.to_ascii_lowercase();
            if !want.iter().any(|(_, v)| *v == cn) {
                return Err(bad_csr(format!(
                    "the CSR's commonName {cn:?} is not one of the order's identifiers"
                )));
            }
        }
        let acme = &self.services.acme;
        let no_extra = || Ok(sigil_storage::WriteBatch::new());
        // Fenced: of two finalizations of one order (two nodes), one gets here.
        with_actor(s.actor(), || {
            acme.update_order(id, Some("acme.order.finalize"), no_extra, |o| {
                if o.status != "pending" {
                    return Err(AcmeStateError::WrongState(format!(
                        "the order is {}, not ready",
                        o.status
                    )));
                }
                o.status = "processing".into();
                Ok(())
            })
        })
        .map_err(|e| match e {
            AcmeStateError::WrongState(d) => AcmeError::new(ProblemType::OrderNotReady, d),
            e => e.into(),
        })?;
        let meta = Some(CertMeta {
            enrollment: Enrollment::Acme,
        });
        let issued = with_actor(s.actor(), || {
            self.services.certificates.issue_checked(checked, meta)
        });
        let account = o.account.clone();
        let rec = match issued {
            Ok(cert) => {
                let serial = cert.serial.clone();
                acme.update_order(
                    id,
                    None,
                    || Ok(AcmeState::owner_batch(&serial, &account)),
                    |o| {
                        o.status = "valid".into();
                        o.cert = Some(cert.id.clone());
                        Ok(())
                    },
                )?
            }
            Err(e) => {
                let err: AcmeError = e.into();
                let problem = sigil_acme::Problem::new(err.kind, err.detail.clone());
                acme.update_order(id, None, no_extra, |o| {
                    o.status = "invalid".into();
                    o.error = serde_json::to_string(&problem).ok();
                    Ok(())
                })?;
                return Err(err);
            }
        };
        tracing::info!(order = %id, certificate = ?rec.v1().cert, "ACME order finalized");
        Ok(
            Reply::json(200, resources::order(&self.urls, id, rec.v1(), "valid"))
                .at(self.urls.order(id)),
        )
    }

    /// The certificate chain (PEM: the certificate, its CA and the CA's chain).
    pub fn certificate(&self, s: &Signed, id: &str) -> Result<Reply, AcmeError> {
        let (account, _) = s.account()?;
        let cert = self
            .services
            .certificates
            .cert(id)
            .map_err(|_| AcmeError::not_found("certificate"))?;
        if self.services.acme.cert_owner(&cert.serial)?.as_deref() != Some(account) {
            return Err(AcmeError::unauthorized(
                "this certificate was not issued to this account",
            ));
        }
        let ca = self.services.issuers.ca(&cert.issuer_id)?;
        let mut pem = String::new();
        for der in std::iter::once(&cert.der)
            .chain(std::iter::once(&ca.record.cert_der))
            .chain(ca.record.chain_der.iter())
        {
            pem.push_str(&crate::x509::cert_pem(der));
        }
        Ok(Reply {
            status: 200,
            raw: Some(("application/pem-certificate-chain", pem.into_bytes())),
            ..Reply::default()
        })
    }
}

fn show(names: &BTreeSet<(String, String)>) -> String {
    names
        .iter()
        .map(|(t, v)| format!("{t}:{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
