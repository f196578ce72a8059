//! The ACME state service: accounts, orders, authorizations and their challenges, and which
//! account owns a certificate issued through ACME (`crate::acme` serves RFC 8555 on the
//! public listener and calls this for every read and change).
//!
//! Every change goes through the commit path (synced, audited where it matters: account
//! creation, update, deactivation and key rollover, order finalization) and is fenced on what
//! it read, so two control-plane nodes on one database cannot both create an account for one
//! key, both finalize one order or overwrite each other's challenge results.

use std::sync::Arc;

use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;
use thiserror::Error;

use super::context::{retry_conflicts, Commit, Context};
use super::error::{ErrorKind, Internal};
use crate::db::{
    cf, decode, encode, AcmeAccount, AcmeAccountV1, AcmeAuthz, AcmeAuthzV1, AcmeOrder, AcmeOrderV1,
};

/// What the ACME state service fails with.
#[derive(Debug, Error)]
pub enum AcmeStateError {
    #[error("{what} {id:?} does not exist")]
    NotFound { what: &'static str, id: String },
    /// Another account already has this key (its id).
    #[error("the key is already the key of account {0}")]
    KeyInUse(String),
    /// The record is not in the state the change needs (e.g. the order is not ready).
    #[error("{0}")]
    WrongState(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl AcmeStateError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::KeyInUse(_) | Self::WrongState(_) => ErrorKind::Conflict,
            Self::Internal(e) => e.kind(),
        }
    }

    fn is_write_conflict(&self) -> bool {
        matches!(self, Self::Internal(i) if i.is_write_conflict())
    }
}

super::error::internal_from!(AcmeStateError);

type Result<T, E = AcmeStateError> = std::result::Result<T, E>;

/// A fresh random identifier (128 bits, base64url): account, order, authorization ids and
/// challenge tokens.
pub fn random_id() -> Result<String, Internal> {
    Ok(sigil_acme::b64u(&super::otps::random::<16>()?))
}

/// The ACME state service.
#[derive(Debug)]
pub struct AcmeState {
    cx: Arc<Context>,
}

impl AcmeState {
    pub(super) fn new(cx: Arc<Context>) -> Self {
        Self { cx }
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        cf: &'static str,
        id: &str,
    ) -> Result<Option<(T, Vec<u8>)>> {
        match self.cx.db().get_raw(cf, id.as_bytes())? {
            None => Ok(None),
            Some(raw) => Ok(Some((decode(cf, &raw)?, raw))),
        }
    }

    pub fn account(&self, id: &str) -> Result<Option<AcmeAccount>> {
        Ok(self.get(cf::ACME_ACCOUNTS, id)?.map(|(a, _)| a))
    }

    /// The account whose key has `thumbprint`.
    pub fn account_by_key(&self, thumbprint: &str) -> Result<Option<(String, AcmeAccount)>> {
        let Some(id) = self
            .cx
            .db()
            .get_raw(cf::ACME_ACCOUNT_KEYS, thumbprint.as_bytes())?
        else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&id).into_owned();
        Ok(self.account(&id)?.map(|a| (id, a)))
    }

    /// Creates an account for `jwk` (canonical JSON) unless its key has one: returns the
    /// account and whether it was created. Audited as `acme.account.create`.
    pub fn create_account(
        &self,
        jwk: &str,
        thumbprint: &str,
        contact: Vec<String>,
        eab_kid: Option<String>,
    ) -> Result<(String, AcmeAccount, bool)> {
        retry_conflicts(
            || {
                if let Some((id, a)) = self.account_by_key(thumbprint)? {
                    return Ok((id, a, false));
                }
                let id = random_id()?;
                let rec = AcmeAccount::V1(AcmeAccountV1 {
                    jwk: jwk.into(),
                    thumbprint: thumbprint.into(),
                    status: "valid".into(),
                    contact: contact.clone(),
                    created: now_unix(),
                    eab_kid: eab_kid.clone(),
                });
                let mut batch = WriteBatch::new();
                batch.put(cf::ACME_ACCOUNTS, id.clone().into_bytes(), encode(&rec)?);
                batch.put(
                    cf::ACME_ACCOUNT_KEYS,
                    thumbprint.as_bytes().to_vec(),
                    id.clone().into_bytes(),
                );
                self.cx.commit(
                    Commit::new(batch)
                        .expect_absent(cf::ACME_ACCOUNT_KEYS, thumbprint.as_bytes().to_vec())
                        .expect_absent(cf::ACME_ACCOUNTS, id.clone().into_bytes())
                        .audit(
                            ("acme.account.create", "acme_account", &id),
                            serde_json::json!({"thumbprint": thumbprint, "contact": contact, "eab_kid": eab_kid}),
                        ),
                )?;
                Ok((id, rec, true))
            },
            AcmeStateError::is_write_conflict,
        )
    }

    /// Changes account `id` with `change` (contacts, status), fenced on the record read.
    /// Audited as `action` (`acme.account.update`, `acme.account.deactivate`).
    pub fn update_account(
        &self,
        id: &str,
        action: &str,
        change: impl Fn(&mut AcmeAccountV1),
    ) -> Result<AcmeAccount> {
        retry_conflicts(
            || {
                let (AcmeAccount::V1(mut a), raw) = self
                    .get::<AcmeAccount>(cf::ACME_ACCOUNTS, id)?
                    .ok_or_else(|| AcmeStateError::NotFound {
                        what: "account",
                        id: id.into(),
                    })?;
                change(&mut a);
                let rec = AcmeAccount::V1(a);
                let mut batch = WriteBatch::new();
                batch.put(cf::ACME_ACCOUNTS, id.as_bytes().to_vec(), encode(&rec)?);
                let v = rec.v1();
                self.cx.commit(
                    Commit::new(batch)
                        .expect_value(cf::ACME_ACCOUNTS, id.as_bytes().to_vec(), Some(raw))
                        .audit(
                            (action, "acme_account", id),
                            serde_json::json!({"status": v.status, "contact": v.contact}),
                        ),
                )?;
                Ok(rec)
            },
            AcmeStateError::is_write_conflict,
        )
    }

    /// Key rollover (RFC 8555 §7.3.5): account `id`'s key `old` becomes `jwk`/`thumbprint`.
    /// Fails with [`AcmeStateError::KeyInUse`] if another account has the new key. Audited
    /// as `acme.account.key_change`.
    pub fn change_key(
        &self,
        id: &str,
        old_thumbprint: &str,
        jwk: &str,
        thumbprint: &str,
    ) -> Result<AcmeAccount> {
        retry_conflicts(
            || {
                if let Some((other, _)) = self.account_by_key(thumbprint)? {
                    return Err(AcmeStateError::KeyInUse(other));
                }
                let (AcmeAccount::V1(mut a), raw) = self
                    .get::<AcmeAccount>(cf::ACME_ACCOUNTS, id)?
                    .ok_or_else(|| AcmeStateError::NotFound {
                        what: "account",
                        id: id.into(),
                    })?;
                if a.thumbprint != old_thumbprint {
                    return Err(AcmeStateError::WrongState(
                        "oldKey is not the account's current key".into(),
                    ));
                }
                a.jwk = jwk.into();
                a.thumbprint = thumbprint.into();
                let rec = AcmeAccount::V1(a);
                let mut batch = WriteBatch::new();
                batch.put(cf::ACME_ACCOUNTS, id.as_bytes().to_vec(), encode(&rec)?);
                batch.delete(cf::ACME_ACCOUNT_KEYS, old_thumbprint.as_bytes().to_vec());
                batch.put(
                    cf::ACME_ACCOUNT_KEYS,
                    thumbprint.as_bytes().to_vec(),
                    id.as_bytes().to_vec(),
                );
                self.cx.commit(
                    Commit::new(batch)
                        .expect_value(cf::ACME_ACCOUNTS, id.as_bytes().to_vec(), Some(raw))
                        .expect_absent(cf::ACME_ACCOUNT_KEYS, thumbprint.as_bytes().to_vec())
                        .audit(
                            ("acme.account.key_change", "acme_account", id),
                            serde_json::json!({"old_thumbprint": old_thumbprint, "thumbprint": thumbprint}),
                        ),
                )?;
                Ok(rec)
            },
            AcmeStateError::is_write_conflict,
        )
    }

    /// Stores a new order with its new authorizations (one synced write, not audited: an
    /// order is a request; its finalization is audited).
    pub fn create_order(
        &self,
        id: &str,
        order: &AcmeOrderV1,
        authzs: &[(String, AcmeAuthzV1)],
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        let mut commit_expect = Vec::new();
        batch.put(
            cf::ACME_ORDERS,
            id.as_bytes().to_vec(),
            encode(&AcmeOrder::V1(order.clone()))?,
        );
        for (aid, a) in authzs {
            batch.put(
                cf::ACME_AUTHZS,
                aid.as_bytes().to_vec(),
                encode(&AcmeAuthz::V1(a.clone()))?,
            );
            commit_expect.push(aid.as_bytes().to_vec());
        }
        let mut c = Commit::new(batch).expect_absent(cf::ACME_ORDERS, id.as_bytes().to_vec());
        for k in commit_expect {
            c = c.expect_absent(cf::ACME_AUTHZS, k);
        }
        self.cx.commit(c)?;
        Ok(())
    }

    pub fn order(&self, id: &str) -> Result<Option<AcmeOrder>> {
        Ok(self.get(cf::ACME_ORDERS, id)?.map(|(o, _)| o))
    }

    pub fn authz(&self, id: &str) -> Result<Option<AcmeAuthz>> {
        Ok(self.get(cf::ACME_AUTHZS, id)?.map(|(a, _)| a))
    }

    /// Changes authorization `id` with `change`, fenced on the record read; `change` returns
    /// false to leave it as it is (then nothing is written). Returns the record after.
    pub fn update_authz(
        &self,
        id: &str,
        change: impl Fn(&mut AcmeAuthzV1) -> bool,
    ) -> Result<AcmeAuthz> {
        retry_conflicts(
            || {
                let (AcmeAuthz::V1(mut a), raw) = self
                    .get::<AcmeAuthz>(cf::ACME_AUTHZS, id)?
                    .ok_or_else(|| AcmeStateError::NotFound {
                        what: "authorization",
                        id: id.into(),
                    })?;
                if !change(&mut a) {
                    return Ok(AcmeAuthz::V1(a));
                }
                let rec = AcmeAuthz::V1(a);
                let mut batch = WriteBatch::new();
                batch.put(cf::ACME_AUTHZS, id.as_bytes().to_vec(), encode(&rec)?);
                self.cx.commit(Commit::new(batch).expect_value(
                    cf::ACME_AUTHZS,
                    id.as_bytes().to_vec(),
                    Some(raw),
                ))?;
                Ok(rec)
            },
            AcmeStateError::is_write_conflict,
        )
    }

    /// Changes order `id` with `change` (which checks the state it needs and may fail),
    /// fenced on the record read: of two nodes finalizing one order, one moves it to
    /// `processing` and the other then sees `processing` and fails. Audited as `action` if
    /// given. `extra` is written in the same batch.
    pub fn update_order(
        &self,
        id: &str,
        action: Option<&str>,
        extra: impl Fn() -> Result<WriteBatch>,
        change: impl Fn(&mut AcmeOrderV1) -> Result<()>,
    ) -> Result<AcmeOrder> {
        retry_conflicts(
            || {
                let (AcmeOrder::V1(mut o), raw) = self
                    .get::<AcmeOrder>(cf::ACME_ORDERS, id)?
                    .ok_or_else(|| AcmeStateError::NotFound {
                        what: "order",
                        id: id.into(),
                    })?;
                change(&mut o)?;
                let rec = AcmeOrder::V1(o);
                let mut batch = WriteBatch::new();
                batch.put(cf::ACME_ORDERS, id.as_bytes().to_vec(), encode(&rec)?);
                let mut c = Commit::new(batch).append(extra()?).expect_value(
                    cf::ACME_ORDERS,
                    id.as_bytes().to_vec(),
                    Some(raw),
                );
                if let Some(action) = action {
                    let o = rec.v1();
                    c = c.audit(
                        (action, "acme_order", id),
                        serde_json::json!({"account": o.account, "status": o.status,
                            "identifiers": o.identifiers, "certificate": o.cert}),
                    );
                }
                self.cx.commit(c)?;
                Ok(rec)
            },
            AcmeStateError::is_write_conflict,
        )
    }

    /// A batch recording `account` as the owner of certificate `serial` (for
    /// [`AcmeState::update_order`]'s `extra`).
    pub fn owner_batch(serial: &[u8], account: &str) -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(cf::ACME_CERTS, serial.to_vec(), account.as_bytes().to_vec());
        b
    }

    /// The account owning certificate `serial`, if ACME issued it.
    pub fn cert_owner(&self, serial: &[u8]) -> Result<Option<String>> {
        Ok(self
            .cx
            .db()
            .get_raw(cf::ACME_CERTS, serial)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Every authorization with a challenge in `processing` (to validate again after a
    /// restart) that has not expired.
    pub fn processing_authzs(&self) -> Result<Vec<String>> {
        let now = now_unix();
        let mut out = Vec::new();
        self.cx
            .db()
            .store()
            .scan(cf::ACME_AUTHZS, &[], None, &mut |k, v| {
                if let Ok(AcmeAuthz::V1(a)) = decode::<AcmeAuthz>(cf::ACME_AUTHZS, v) {
                    if a.expires > now && a.challenges.iter().any(|c| c.status == "processing") {
                        out.push(String::from_utf8_lossy(k).into_owned());
                    }
                }
                true
            })
            .map_err(crate::db::DbError::from)
            .map_err(Internal::from)?;
        Ok(out)
    }
}

impl AcmeState {
    /// The identifiers `account` holds valid, unexpired authorizations for (a scan of the
    /// authorizations: used only for revocation by another account than the owner).
    pub fn valid_identifiers(
        &self,
        account: &str,
        now: i64,
    ) -> Result<std::collections::BTreeSet<(String, String)>> {
        let mut out = std::collections::BTreeSet::new();
        self.cx
            .db()
            .store()
            .scan(cf::ACME_AUTHZS, &[], None, &mut |_, v| {
                if let Ok(AcmeAuthz::V1(a)) = decode::<AcmeAuthz>(cf::ACME_AUTHZS, v) {
                    if a.account == account && a.status == "valid" && a.expires > now {
                        out.insert(a.identifier);
                    }
                }
                true
            })
            .map_err(crate::db::DbError::from)
            .map_err(Internal::from)?;
        Ok(out)
    }

    /// The ids of `account`'s orders, newest first (a scan of the orders: lists are rare).
    pub fn orders_of(&self, account: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.cx
            .db()
            .store()
            .scan(cf::ACME_ORDERS, &[], None, &mut |k, v| {
                if let Ok(AcmeOrder::V1(o)) = decode::<AcmeOrder>(cf::ACME_ORDERS, v) {
                    if o.account == account {
                        out.push((o.created, String::from_utf8_lossy(k).into_owned()));
                    }
                }
                true
            })
            .map_err(crate::db::DbError::from)
            .map_err(Internal::from)?;
        out.sort_by_key(|o| std::cmp::Reverse(o.0));
        Ok(out.into_iter().map(|(_, id)| id).collect())
    }
}

#[cfg(test)]
mod tests;
