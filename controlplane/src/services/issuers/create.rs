//! Creating and importing CAs (`POST /api/v1/issuers`), and the demo CAs of `sigil-cp init`.

use std::sync::Arc;

use sigil_shared::replication::Change;
use sigil_shared::time::now_unix;
use sigil_storage::WriteBatch;

use super::key_store::{key_ref, KeyStoreRequest};
use super::{IssuerError, Issuers, Result};
use crate::ca::{self, CaRuntime, NewCa};
use crate::crypto::KeyAlgorithm;
use crate::db::secrets::SecretName;
use crate::db::{cf, encode, KeyRef};
use crate::x509;

/// A request to create (or import) a CA; also the JSON body of `POST /api/v1/issuers`. Its
/// `Debug` never shows an imported private key.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCa {
    pub id: Option<String>,
    pub name: String,
    /// RFC 4514 subject; required unless importing.
    pub subject: Option<String>,
    pub key_algorithm: Option<String>,
    pub parent_id: Option<String>,
    pub validity_days: Option<u32>,
    /// Import: PEM or DER CA certificate and PKCS#8 private key (PEM or DER).
    pub certificate: Option<String>,
    pub private_key: Option<String>,
    /// Where the CA key is made: `{"type": "software"}` (default) or an HSM.
    pub key_store: Option<KeyStoreRequest>,
}

impl std::fmt::Debug for CreateCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCa")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("subject", &self.subject)
            .field("key_algorithm", &self.key_algorithm)
            .field("parent_id", &self.parent_id)
            .field("validity_days", &self.validity_days)
            .field("certificate", &self.certificate)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "[redacted]"),
            )
            .field("key_store", &self.key_store)
            .finish()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `My Issuing CA` → `my-issuing-ca`.
fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    s.trim_end_matches('-').chars().take(64).collect()
}

fn pem_or_der(field: &'static str, input: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    let t = input.trim();
    if t.starts_with("-----BEGIN") {
        let body: String = t.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|source| IssuerError::InvalidPem { field, source })
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|_| IssuerError::ExpectedPem { field })
    }
}

impl Issuers {
    /// Creates a root (no parent), an intermediate (signed by `parent_id`) or imports a CA.
    pub fn create_ca(&self, req: CreateCa) -> Result<Arc<CaRuntime>> {
        let name = req.name.trim().to_string();
        if name.is_empty() || name.len() > 128 {
            return Err(IssuerError::InvalidName);
        }
        let id = req.id.clone().unwrap_or_else(|| slug(&name));
        if !valid_id(&id) {
            return Err(IssuerError::InvalidId { id });
        }
        let now = now_unix();
        // The issuance lock before `ca_lock` (the order issuance takes them in): a disabled
        // parent signs no child CA, and renames do not race the name check below.
        let _issuing = match &req.parent_id {
            Some(p) => self.issuing(p)?,
            None => self.issuer_lock.read().unwrap_or_else(|e| e.into_inner()),
        };
        let _g = self.ca_lock.lock().unwrap_or_else(|e| e.into_inner());
        for c in self.list_cas() {
            if c.record.id == id || self.issuer_name(&c.record.id)? == name {
                return Err(IssuerError::Exists { name, id });
            }
        }
        let key = key_ref(
            req.key_store.as_ref(),
            &self.cx.settings().hsm.allowed_modules,
        )?;
        let (record, signer, pkcs8) = if let Some(cert) = &req.certificate {
            if key != KeyRef::Software {
                return Err(IssuerError::ImportIntoPkcs11);
            }
            let key = req
                .private_key
                .as_deref()
                .ok_or(IssuerError::PrivateKeyRequired)?;
            let cert_der = pem_or_der("certificate", cert)?;
            let key_der = pem_or_der("private_key", key)?;
            let (record, signer) = ca::import_ca(&id, &name, &cert_der, &key_der, Vec::new(), now)?;
            (record, signer, Some(key_der))
        } else {
            let alg_name = req.key_algorithm.as_deref().unwrap_or("ecdsa-p256");
            let key_algorithm =
                KeyAlgorithm::parse(alg_name).ok_or_else(|| IssuerError::UnsupportedAlgorithm {
                    name: alg_name.into(),
                })?;
            let subject =
                x509::parse_name(req.subject.as_deref().ok_or(IssuerError::SubjectRequired)?)?;
            let parent = match &req.parent_id {
                Some(p) => Some(
                    self.ca(p)
                        .map_err(|_| IssuerError::ParentNotFound { id: p.clone() })?,
                ),
                None => None,
            };
            let days = req
                .validity_days
                .unwrap_or(self.cx.settings().issuance.ca_validity_days);
            if days == 0 || days > 36_500 {
                return Err(IssuerError::InvalidValidity);
            }
            let new = NewCa {
                id: id.clone(),
                name: name.clone(),
                subject,
                key_algorithm,
                not_before: now - 3600,
                not_after: now + i64::from(days) * 86_400,
            };
            let created = ca::create_ca_in(&new, &key, parent.as_deref(), now)?;
            (created.record, created.signer, created.pkcs8)
        };
        let rt = Arc::new(CaRuntime::new(record.clone(), signer)?);
        let mut batch = WriteBatch::new();
        if let Some(pkcs8) = pkcs8 {
            self.cx
                .stage_secret(&mut batch, &SecretName::ca_key(&id), &pkcs8)?;
        }
        batch.put(cf::CAS, id.as_bytes().to_vec(), encode(&record)?);
        let (crl_commit, crls) = self.crl_batch(&rt, now)?;
        let mut changes = vec![Change::CaPut(rt.state())];
        changes.extend(crls.into_iter().map(Change::CrlPut));
        self.cx.commit(
            crl_commit
                .append(batch)
                // Unique across nodes too: another node creating the same id meanwhile fails
                // this commit.
                .expect_absent(cf::CAS, id.as_bytes().to_vec())
                .replicate(changes)
                .audit(
                    ("issuer.create", "issuer", &id),
                    serde_json::json!({"name": rt.record.name, "subject": rt.record.subject, "key_algorithm": rt.record.key_algorithm.name(), "key_store": rt.record.key.kind()}),
                ),
        )?;
        self.cas
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), rt.clone());
        tracing::info!(issuer = %id, algorithm = rt.record.key_algorithm.name(), key_store = rt.record.key.kind(), "created CA");
        Ok(rt)
    }

    /// Creates the demo root (`demo-root`) and issuing CA (`demo`) if they do not exist.
    pub fn init_demo(&self) -> Result<Vec<Arc<CaRuntime>>> {
        let root = match self.ca("demo-root") {
            Ok(r) => r,
            Err(_) => self.create_ca(CreateCa {
                id: Some("demo-root".into()),
                name: "demo-root".into(),
                subject: Some("CN=Sigil Demo Root CA,O=Sigil Demo".into()),
                key_algorithm: Some("ecdsa-p256".into()),
                validity_days: Some(3650),
                ..Default::default()
            })?,
        };
        let issuing = match self.ca("demo") {
            Ok(c) => c,
            Err(_) => self.create_ca(CreateCa {
                id: Some("demo".into()),
                name: "demo".into(),
                subject: Some("CN=Sigil Demo Issuing CA,O=Sigil Demo".into()),
                key_algorithm: Some("ecdsa-p256".into()),
                parent_id: Some("demo-root".into()),
                validity_days: Some(1825),
                ..Default::default()
            })?,
        };
        Ok(vec![root, issuing])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("My Issuing CA"), "my-issuing-ca");
        assert_eq!(slug("  x--y "), "x-y");
        assert!(valid_id("demo-root"));
        assert!(!valid_id("Demo"));
        assert!(!valid_id(""));
    }
}
