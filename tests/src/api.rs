//! Admin-API helpers of [`ControlPlane`]: issuers, issuance, revocation, OCSP and CRLs, and
//! the issued-certificate type the tests pass around.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{gen_csr, pki, rawhttp, write_file, ControlPlane, ADMIN_TOKEN};

impl ControlPlane {
    /// `POST path` with a large body over a raw socket (`Expect: 100-continue`), admin token.
    pub fn post_large(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> rawhttp::RawHttpResponse {
        rawhttp::post_expect_continue(self.port, path, ADMIN_TOKEN, content_type, body)
    }

    /// All issuers (`GET /api/v1/issuers`: `{"data": [...], "total": n}`; a bare array or
    /// `{"issuers": [...]}` is accepted too).
    pub fn issuers(&self) -> Vec<Value> {
        let (status, body) = self.api("GET", "/api/v1/issuers", None);
        assert_eq!(status, 200, "GET /api/v1/issuers: {body}");
        match body {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("data").or_else(|| o.remove("issuers")) {
                Some(Value::Array(a)) => a,
                other => panic!("GET /api/v1/issuers: no `data` array: {other:?}"),
            },
            other => panic!("GET /api/v1/issuers: unexpected body {other}"),
        }
    }

    /// The issuer named `name`.
    pub fn issuer_named(&self, name: &str) -> Value {
        let all = self.issuers();
        all.iter()
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no issuer named {name:?} in {}", Value::Array(all.clone())))
    }

    /// Id of the issuer `init` creates for issuance ("demo").
    pub fn demo_issuer_id(&self) -> String {
        id_of(&self.issuer_named("demo"))
    }

    /// Issues a certificate; panics unless the answer is 201 with the documented fields.
    pub fn issue(&self, issuer_id: &str, csr_pem: &str) -> Issued {
        let (status, body) = self.issue_raw(issuer_id, csr_pem);
        assert_eq!(
            status,
            201,
            "issuing from {issuer_id}: {body}\n{}",
            self.logs()
        );
        Issued::from_json(body)
    }

    /// Issuance request: `POST /api/v1/certificates` with `{"issuer_id": ID, "csr": PEM}`.
    pub fn issue_raw(&self, issuer_id: &str, csr_pem: &str) -> (u16, Value) {
        self.api(
            "POST",
            ISSUE_PATH,
            Some(&serde_json::json!({ "issuer_id": issuer_id, "csr": csr_pem })),
        )
    }

    /// Generates a CSR for `cn` (SAN `DNS:cn`) and issues it from `issuer_id`.
    pub fn issue_new(&self, issuer_id: &str, cn: &str) -> Issued {
        let csr = gen_csr(&self.work_dir(), cn, &[cn]);
        self.issue(issuer_id, &csr)
    }

    /// `POST /api/v1/certificates/{id}/revoke` with `{"reason": reason}`.
    pub fn revoke(&self, cert_id: &str, reason: &str) -> (u16, Value) {
        self.api(
            "POST",
            &format!("/api/v1/certificates/{cert_id}/revoke"),
            Some(&serde_json::json!({ "reason": reason })),
        )
    }

    /// The stored OCSP response (DER) of a certificate for CertID hash `hash` (sha1/sha256);
    /// panics unless 200 with content type `application/ocsp-response`.
    pub fn ocsp(&self, cert_id: &str, hash: &str) -> Vec<u8> {
        let path = format!("/api/v1/certificates/{cert_id}/ocsp?hash={hash}");
        let r = self.get_raw(&path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        assert!(
            r.content_type.starts_with("application/ocsp-response"),
            "GET {path}: content type {:?}",
            r.content_type
        );
        assert_eq!(
            r.body.first(),
            Some(&0x30),
            "GET {path}: body is not DER: {:?}",
            r.text()
        );
        r.body
    }

    /// The current CRL (DER) of an issuer; panics unless 200 with `application/pkix-crl`.
    pub fn crl(&self, issuer_id: &str) -> Vec<u8> {
        let path = format!("/api/v1/issuers/{issuer_id}/crl");
        let r = self.get_raw(&path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        assert!(
            r.content_type.starts_with("application/pkix-crl"),
            "GET {path}: content type {:?}",
            r.content_type
        );
        r.body
    }
}

/// Asserts `status == expected` and a JSON body `{"error": string, "message": string}`.
pub fn assert_api_error(what: &str, status: u16, body: &Value, expected: u16) {
    assert_eq!(
        status, expected,
        "{what}: expected {expected}, got {status} with body {body}"
    );
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{what}: error body is not {{error, message}} JSON: {body}"
    );
}

/// The issuance endpoint.
pub const ISSUE_PATH: &str = "/api/v1/certificates";

/// The `id` field of a JSON object as a string (accepts strings and numbers).
pub fn id_of(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("no usable `id` ({other}) in {v}"),
    }
}

/// A certificate as returned by issuance.
#[derive(Debug, Clone)]
pub struct Issued {
    pub id: String,
    /// Lowercase hex as returned.
    pub serial: String,
    pub certificate: String,
    /// `[issuing CA, ..., root]` PEMs.
    pub chain: Vec<String>,
    pub json: Value,
}

impl Issued {
    pub fn from_json(json: Value) -> Self {
        let s = |k: &str| {
            json[k]
                .as_str()
                .unwrap_or_else(|| panic!("issuance answer lacks string `{k}`: {json}"))
                .to_owned()
        };
        let chain = json["chain"]
            .as_array()
            .unwrap_or_else(|| panic!("issuance answer lacks array `chain`: {json}"))
            .iter()
            .map(|c| {
                c.as_str()
                    .expect("chain entries are PEM strings")
                    .to_owned()
            })
            .collect::<Vec<_>>();
        assert!(!chain.is_empty(), "empty chain: {json}");
        Issued {
            id: id_of(&json),
            serial: s("serial"),
            certificate: s("certificate"),
            chain,
            json,
        }
    }

    /// Serial number bytes without leading zero octets.
    pub fn serial_bytes(&self) -> Vec<u8> {
        pki::strip_zeros(&pki::hex_decode(&self.serial))
    }

    /// Writes `<name>.pem` (leaf), `<name>-issuing.pem` (chain[0]) and `<name>-bundle.pem`
    /// (every distinct chain PEM) into `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> CertFiles {
        let files = CertFiles {
            leaf: dir.join(format!("{name}.pem")),
            issuing: dir.join(format!("{name}-issuing.pem")),
            bundle: dir.join(format!("{name}-bundle.pem")),
        };
        write_file(&files.leaf, &self.certificate);
        write_file(&files.issuing, &self.chain[0]);
        let mut bundle = String::new();
        let mut seen = Vec::new();
        for c in &self.chain {
            if !seen.contains(&c.trim()) {
                seen.push(c.trim());
                bundle.push_str(c.trim());
                bundle.push('\n');
            }
        }
        write_file(&files.bundle, &bundle);
        files
    }
}

/// Files of an issued certificate, for openssl.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub leaf: PathBuf,
    pub issuing: PathBuf,
    pub bundle: PathBuf,
}
