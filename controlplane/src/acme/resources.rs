//! The JSON bodies of ACME resources (RFC 8555 §7.1) and their URLs, from the stored records.
//! Order and authorization statuses that follow from time and from the authorizations
//! (`ready`, `expired`, an order `invalid` through an invalid authorization) are computed
//! here, at read time, not stored.

use serde_json::{json, Value};
use sigil_shared::time::rfc3339;

use crate::db::{AcmeAccountV1, AcmeAuthzV1, AcmeChallenge, AcmeOrderV1};

/// The URLs of the resources under `{external_url}/acme`.
#[derive(Debug, Clone)]
pub struct Urls {
    pub base: String,
}

impl Urls {
    pub fn new(external_url: &str) -> Self {
        Self {
            base: format!("{}/acme", external_url.trim_end_matches('/')),
        }
    }
    pub fn path(&self, p: &str) -> String {
        format!("{}/{p}", self.base)
    }
    pub fn account(&self, id: &str) -> String {
        self.path(&format!("account/{id}"))
    }
    pub fn order(&self, id: &str) -> String {
        self.path(&format!("order/{id}"))
    }
    pub fn authz(&self, id: &str) -> String {
        self.path(&format!("authz/{id}"))
    }
    pub fn challenge(&self, authz: &str, kind: &str) -> String {
        self.path(&format!("chall/{authz}/{kind}"))
    }
    pub fn cert(&self, id: &str) -> String {
        self.path(&format!("cert/{id}"))
    }
}

pub fn directory(u: &Urls, terms: Option<&str>, eab_required: bool) -> Value {
    let mut meta = json!({"externalAccountRequired": eab_required});
    if let Some(t) = terms {
        meta["termsOfService"] = json!(t);
    }
    json!({
        "newNonce": u.path("new-nonce"),
        "newAccount": u.path("new-account"),
        "newOrder": u.path("new-order"),
        "revokeCert": u.path("revoke-cert"),
        "keyChange": u.path("key-change"),
        "meta": meta,
    })
}

pub fn account(u: &Urls, id: &str, a: &AcmeAccountV1) -> Value {
    json!({
        "status": a.status,
        "contact": a.contact,
        "orders": format!("{}/orders", u.account(id)),
        "key": serde_json::from_str::<Value>(&a.jwk).unwrap_or(Value::Null),
    })
}

/// An authorization's status now.
pub fn authz_status(a: &AcmeAuthzV1, now: i64) -> &str {
    if a.status == "pending" && a.expires <= now {
        "expired"
    } else {
        &a.status
    }
}

/// An order's status now, given its authorizations' statuses.
pub fn order_status(o: &AcmeOrderV1, authz_statuses: &[&str], now: i64) -> &'static str {
    match o.status.as_str() {
        "processing" => "processing",
        "valid" => "valid",
        "invalid" => "invalid",
        _ if o.expires <= now => "invalid",
        _ if authz_statuses
            .iter()
            .any(|s| *s != "pending" && *s != "valid") =>
        {
            "invalid"
        }
        _ if authz_statuses.iter().all(|s| *s == "valid") => "ready",
        _ => "pending",
    }
}

pub fn order(u: &Urls, id: &str, o: &AcmeOrderV1, status: &str) -> Value {
    let mut v = json!({
        "status": status,
        "expires": rfc3339(o.expires),
        "identifiers": o.identifiers.iter().map(|(t, v)| json!({"type": t, "value": v})).collect::<Vec<_>>(),
        "authorizations": o.authzs.iter().map(|a| u.authz(a)).collect::<Vec<_>>(),
        "finalize": format!("{}/finalize", u.order(id)),
    });
    if let Some(c) = &o.cert {
        v["certificate"] = json!(u.cert(c));
    }
    if let Some(e) = &o.error {
        v["error"] = serde_json::from_str(e).unwrap_or(Value::Null);
    }
    v
}

pub fn challenge(u: &Urls, authz_id: &str, c: &AcmeChallenge) -> Value {
    let mut v = json!({
        "type": c.kind,
        "url": u.challenge(authz_id, &c.kind),
        "status": c.status,
        "token": c.token,
    });
    if let Some(t) = c.validated.filter(|_| c.status == "valid") {
        v["validated"] = json!(rfc3339(t));
    }
    if let Some(e) = &c.error {
        v["error"] = serde_json::from_str(e).unwrap_or(Value::Null);
    }
    v
}

pub fn authz(u: &Urls, id: &str, a: &AcmeAuthzV1, now: i64) -> Value {
    let status = authz_status(a, now);
    // A valid authorization lists the challenge that validated it (§7.1.4).
    let challenges: Vec<Value> = a
        .challenges
        .iter()
        .filter(|c| status != "valid" || c.status == "valid")
        .map(|c| challenge(u, id, c))
        .collect();
    json!({
        "identifier": {"type": a.identifier.0, "value": a.identifier.1},
        "status": status,
        "expires": rfc3339(a.expires),
        "challenges": challenges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_rec(status: &str, expires: i64) -> AcmeOrderV1 {
        AcmeOrderV1 {
            account: "a".into(),
            status: status.into(),
            identifiers: vec![("dns".into(), "x.example".into())],
            authzs: vec!["z".into()],
            created: 0,
            expires,
            cert: None,
            error: None,
        }
    }

    #[test]
    fn order_status_follows_authorizations_and_time() {
        let o = order_rec("pending", 100);
        assert_eq!(order_status(&o, &["pending", "valid"], 50), "pending");
        assert_eq!(order_status(&o, &["valid", "valid"], 50), "ready");
        assert_eq!(order_status(&o, &["valid", "invalid"], 50), "invalid");
        assert_eq!(order_status(&o, &["valid"], 100), "invalid");
        assert_eq!(
            order_status(&order_rec("valid", 1), &["valid"], 50),
            "valid"
        );
        let u = Urls::new("https://h:1/");
        assert_eq!(u.order("o"), "https://h:1/acme/order/o");
        let v = order(&u, "o", &o, "pending");
        assert_eq!(v["finalize"], "https://h:1/acme/order/o/finalize");
    }
}
