//! The ACME server's state and its request authentication (RFC 8555 §6.2–6.5), and the
//! account operations (§7.3): `newAccount` (with `onlyReturnExisting` and external account
//! binding), account update and deactivation, `keyChange`. Blocking (fsync, signatures):
//! the handlers in [`super::http`] run these on blocking threads.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::hmac;
use serde_json::Value;
use sigil_acme::messages::{check_contacts, AccountUpdate, KeyChange, NewAccount};
use sigil_acme::{b64u_decode, Jwk, Jws, KeyRef, ProblemType};

use super::limit::Window;
use super::nonce::Nonces;
use super::resources::{self, Urls};
use super::AcmeError;
use crate::audit::{with_actor, Actor};
use crate::config::AcmeConfig;
use crate::db::AcmeAccountV1;
use crate::services::{AcmeStateError, Services};

/// Challenge validations running at once at most; more wait for a slot.
const MAX_VALIDATIONS: usize = 64;

/// What a request is answered with (the problem case is [`AcmeError`]).
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub json: Option<Value>,
    /// A body that is not JSON (the certificate chain), with its content type.
    pub raw: Option<(&'static str, Vec<u8>)>,
    pub location: Option<String>,
    /// `Link: <…>;rel="up"` (challenges → authorization, certificate → …).
    pub up: Option<String>,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Self {
        Self {
            status,
            json: Some(v),
            ..Self::default()
        }
    }

    pub fn at(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }
}

/// A request whose JWS verified: the signer's key and, when signed by `kid`, its account.
#[derive(Debug)]
pub struct Signed {
    pub jws: Jws,
    pub key: Jwk,
    pub account: Option<(String, AcmeAccountV1)>,
    pub source: SocketAddr,
}

impl Signed {
    /// The account of a `kid`-signed request.
    pub fn account(&self) -> Result<(&str, &AcmeAccountV1), AcmeError> {
        self.account
            .as_ref()
            .map(|(id, a)| (id.as_str(), a))
            .ok_or_else(|| AcmeError::malformed("this request is signed with the account's kid"))
    }

    /// The audit actor of this request: the account (or `acme:new` before there is one).
    pub fn actor(&self) -> Actor {
        Actor {
            id: format!(
                "acme:{}",
                self.account.as_ref().map_or("new", |(id, _)| id.as_str())
            ),
            actor_type: "Agent",
            source: self.source.to_string(),
        }
    }
}

/// The ACME server: services, settings, nonces and rate limits.
#[derive(Debug)]
pub struct AcmeServer {
    pub(super) services: Arc<Services>,
    pub(super) cfg: AcmeConfig,
    pub(super) urls: Urls,
    pub(super) nonces: Nonces,
    accounts_limit: Window,
    pub(super) orders_limit: Window,
    /// Validations running at once at most (each holds a connection or a hook process).
    pub(super) validations: tokio::sync::Semaphore,
}

impl AcmeServer {
    pub fn new(services: Arc<Services>) -> Self {
        let cfg = services.settings().acme.clone();
        Self {
            urls: Urls::new(&cfg.external_url),
            nonces: Nonces::new(),
            accounts_limit: Window::new(cfg.accounts_per_source_per_hour),
            orders_limit: Window::new(cfg.orders_per_account_per_hour),
            validations: tokio::sync::Semaphore::new(MAX_VALIDATIONS),
            services,
            cfg,
        }
    }

    pub fn directory(&self) -> Value {
        resources::directory(
            &self.urls,
            self.cfg.terms_of_service.as_deref(),
            self.cfg.eab_required,
        )
    }

    /// Parses and verifies a POST to `path` (below `/acme/`): the JWS, its `url` (must be
    /// this resource's), its nonce (single use), its key — `jwk` only where `jwk_allowed`
    /// (new accounts, revocation by the certificate's key), else `kid` naming a valid
    /// account — and the signature.
    pub fn authenticate(
        &self,
        path: &str,
        body: &[u8],
        jwk_allowed: bool,
        source: SocketAddr,
    ) -> Result<Signed, AcmeError> {
        let jws = Jws::parse(body)?;
        let p = &jws.protected;
        let expected = self.urls.path(path);
        if p.url != expected {
            return Err(AcmeError::unauthorized(format!(
                "the JWS url {:?} is not this request's URL {expected:?}",
                p.url
            )));
        }
        match &p.nonce {
            Some(n) if self.nonces.consume(n) => {}
            Some(_) => return Err(AcmeError::new(
                ProblemType::BadNonce,
                "the nonce is unknown, expired or used: retry with the Replay-Nonce of this answer",
            )),
            None => {
                return Err(AcmeError::new(
                    ProblemType::BadNonce,
                    "the JWS has no nonce",
                ))
            }
        }
        let (key, account) = match &p.key {
            KeyRef::Jwk(k) if jwk_allowed => (k.clone(), None),
            KeyRef::Jwk(_) => {
                return Err(AcmeError::malformed(
                    "this request must be signed with the account's kid, not a jwk",
                ))
            }
            KeyRef::Kid(kid) => {
                let id = kid
                    .strip_prefix(&format!("{}/account/", self.urls.base))
                    .filter(|id| !id.contains('/'))
                    .ok_or_else(|| {
                        AcmeError::new(
                            ProblemType::AccountDoesNotExist,
                            format!("{kid:?} is not an account URL of this server"),
                        )
                    })?;
                let a = self.services.acme.account(id)?.ok_or_else(|| {
                    AcmeError::new(ProblemType::AccountDoesNotExist, "no such account")
                })?;
                let a = a.v1().clone();
                let key = Jwk::from_json(
                    &serde_json::from_str(&a.jwk)
                        .map_err(|e| AcmeError::internal(format!("stored account key: {e}")))?,
                )
                .map_err(|e| AcmeError::internal(format!("stored account key: {e}")))?;
                (key, Some((id.to_owned(), a)))
            }
        };
        jws.verify(&key)?;
        if let Some((_, a)) = &account {
            if a.status != "valid" {
                return Err(AcmeError::unauthorized(format!(
                    "the account is {}",
                    a.status
                )));
            }
        }
        Ok(Signed {
            jws,
            key,
            account,
            source,
        })
    }

    /// `newAccount` (§7.3): returns the account with the request's key (200) or creates it
    /// (201); `onlyReturnExisting` never creates.
    pub fn new_account(&self, s: &Signed) -> Result<Reply, AcmeError> {
        let req: NewAccount = s.jws.json()?;
        let thumbprint = s.key.thumbprint();
        if let Some((id, a)) = self.services.acme.account_by_key(&thumbprint)? {
            return Ok(
                Reply::json(200, resources::account(&self.urls, &id, a.v1()))
                    .at(self.urls.account(&id)),
            );
        }
        if req.only_return_existing == Some(true) {
            return Err(AcmeError::new(
                ProblemType::AccountDoesNotExist,
                "no account has this key",
            ));
        }
        let contact = req.contact.clone().unwrap_or_default();
        check_contacts(&contact).map_err(|e| AcmeError::new(ProblemType::InvalidContact, e))?;
        if self.cfg.terms_of_service.is_some() && req.terms_of_service_agreed != Some(true) {
            return Err(AcmeError::malformed(
                "agree to the terms of service (termsOfServiceAgreed: true)",
            ));
        }
        let eab_kid = match &req.external_account_binding {
            Some(eab) => Some(self.check_eab(eab, &s.key)?),
            None if self.cfg.eab_required => {
                return Err(AcmeError::new(
                    ProblemType::ExternalAccountRequired,
                    "this server requires external account binding",
                ))
            }
            None => None,
        };
        self.accounts_limit
            .hit(&s.source.ip().to_string())
            .map_err(|secs| {
                AcmeError::rate_limited("too many new accounts from this address", secs)
            })?;
        let (id, a, created) = with_actor(s.actor(), || {
            self.services.acme.create_account(
                &s.key.canonical_json(),
                &thumbprint,
                contact,
                eab_kid,
            )
        })?;
        tracing::info!(account = %id, created, "ACME account");
        Ok(Reply::json(
            if created { 201 } else { 200 },
            resources::account(&self.urls, &id, a.v1()),
        )
        .at(self.urls.account(&id)))
    }

    /// External account binding (§7.3.4): an HS256 JWS over the account key, by a key id
    /// configured in `[acme.eab_keys]`. Returns the key id.
    fn check_eab(&self, eab: &Value, key: &Jwk) -> Result<String, AcmeError> {
        let bad = |d: &str| AcmeError::unauthorized(format!("external account binding: {d}"));
        let o = eab.as_object().ok_or_else(|| bad("not a JWS object"))?;
        let part = |n: &str| {
            o.get(n)
                .and_then(Value::as_str)
                .ok_or_else(|| bad("protected, payload and signature are required"))
        };
        let (prot_b64, payload_b64, sig_b64) =
            (part("protected")?, part("payload")?, part("signature")?);
        let prot: Value = b64u_decode(prot_b64)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("protected header is not base64url JSON"))?;
        if prot["alg"] != "HS256" {
            return Err(bad("alg must be HS256"));
        }
        if prot.get("nonce").is_some() {
            return Err(bad("must not carry a nonce"));
        }
        if prot["url"] != self.urls.path("new-account") {
            return Err(bad("url must be the newAccount URL"));
        }
        let kid = prot["kid"].as_str().ok_or_else(|| bad("kid missing"))?;
        let secret = self
            .cfg
            .eab_keys
            .get(kid)
            .and_then(|k| b64u_decode(k))
            .ok_or_else(|| bad("unknown key id"))?;
        let sig = b64u_decode(sig_b64).ok_or_else(|| bad("signature is not base64url"))?;
        let hkey = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        hmac::verify(&hkey, format!("{prot_b64}.{payload_b64}").as_bytes(), &sig)
            .map_err(|_| bad("the MAC does not verify"))?;
        let bound = b64u_decode(payload_b64)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| Jwk::from_json(&v).ok())
            .ok_or_else(|| bad("payload is not a JWK"))?;
        if bound != *key {
            return Err(bad("the bound key is not the account key"));
        }
        Ok(kid.to_owned())
    }

    /// POST to an account URL (§7.3.2, §7.3.6): read (POST-as-GET or `{}`), update the
    /// contacts, or deactivate. Only the account itself may.
    pub fn account(&self, s: &Signed, id: &str) -> Result<Reply, AcmeError> {
        let (own, _) = s.account()?;
        if own != id {
            return Err(AcmeError::unauthorized("this is another account"));
        }
        let upd: AccountUpdate = if s.jws.is_post_as_get() {
            AccountUpdate::default()
        } else {
            s.jws.json()?
        };
        let acme = &self.services.acme;
        let rec = match (&upd.status, &upd.contact) {
            (Some(st), _) if st == "deactivated" => with_actor(s.actor(), || {
                acme.update_account(id, "acme.account.deactivate", |a| {
                    a.status = "deactivated".into()
                })
            })?,
            (Some(st), _) if st != "valid" => {
                return Err(AcmeError::malformed(format!(
                    "an account's status can only become \"deactivated\", not {st:?}"
                )))
            }
            (_, Some(contact)) => {
                check_contacts(contact)
                    .map_err(|e| AcmeError::new(ProblemType::InvalidContact, e))?;
                with_actor(s.actor(), || {
                    acme.update_account(id, "acme.account.update", |a| a.contact = contact.clone())
                })?
            }
            _ => acme
                .account(id)?
                .ok_or_else(|| AcmeError::not_found("account"))?,
        };
        Ok(
            Reply::json(200, resources::account(&self.urls, id, rec.v1()))
                .at(self.urls.account(id)),
        )
    }

    /// `keyChange` (§7.3.5): the payload is a JWS by the new key whose payload names the
    /// account and its old key.
    pub fn key_change(&self, s: &Signed) -> Result<Reply, AcmeError> {
        let (id, account) = s.account()?;
        let inner = Jws::parse(&s.jws.payload)?;
        let KeyRef::Jwk(new_key) = &inner.protected.key else {
            return Err(AcmeError::malformed(
                "the inner JWS must carry the new key as jwk",
            ));
        };
        if inner.protected.nonce.is_some() {
            return Err(AcmeError::malformed("the inner JWS must not carry a nonce"));
        }
        if inner.protected.url != s.jws.protected.url {
            return Err(AcmeError::malformed(
                "the inner JWS url differs from the outer",
            ));
        }
        inner.verify(new_key)?;
        let kc: KeyChange = inner.json()?;
        if kc.account != self.urls.account(id) {
            return Err(AcmeError::malformed(
                "account is not the signer's account URL",
            ));
        }
        let old = Jwk::from_json(&kc.old_key).map_err(sigil_acme::JwsError::from)?;
        if old.thumbprint() != account.thumbprint {
            return Err(AcmeError::malformed(
                "oldKey is not the account's current key",
            ));
        }
        let thumbprint = new_key.thumbprint();
        let rec = with_actor(s.actor(), || {
            self.services.acme.change_key(
                id,
                &account.thumbprint,
                &new_key.canonical_json(),
                &thumbprint,
            )
        })
        .map_err(|e| match e {
            AcmeStateError::KeyInUse(other) => AcmeError {
                status: Some(409),
                location: Some(self.urls.account(&other)),
                ..AcmeError::malformed("the new key is already another account's key")
            },
            e => e.into(),
        })?;
        tracing::info!(account = %id, "ACME account key changed");
        Ok(
            Reply::json(200, resources::account(&self.urls, id, rec.v1()))
                .at(self.urls.account(id)),
        )
    }
}
