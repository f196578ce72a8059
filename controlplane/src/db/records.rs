//! Stored record types of the control plane (postcard-encoded).

use serde::{Deserialize, Serialize};
use sigil_shared::ocsp::RevocationReason;

use crate::crypto::pkcs11::TokenRef;
use crate::crypto::KeyAlgorithm;

/// Where a CA's private key lives. (postcard encodes the variant index: new variants go at
/// the end.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyRef {
    /// PKCS#8 in the `keys` column family under `ca/{id}`; the delegated responder's under
    /// `responder/{id}`.
    Software,
    /// In PKCS#11 tokens (each replica holds the same key), private key object labelled
    /// `key_label`. The delegated responder's key is on the same tokens, labelled
    /// `{key_label}.ocsp` with `CKA_ID` = its subjectKeyIdentifier. Nothing in `keys`.
    Pkcs11 {
        tokens: Vec<TokenRef>,
        key_label: String,
    },
}

impl KeyRef {
    pub fn kind(&self) -> &'static str {
        match self {
            KeyRef::Software => "software",
            KeyRef::Pkcs11 { .. } => "pkcs11",
        }
    }
}

/// The delegated OCSP responder of a CA (RFC 6960 §4.2.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponderRecord {
    #[serde(with = "serde_bytes")]
    pub cert_der: Vec<u8>,
    pub not_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaRecord {
    pub id: String,
    pub name: String,
    /// RFC 4514 subject.
    pub subject: String,
    pub key_algorithm: KeyAlgorithm,
    pub key: KeyRef,
    #[serde(with = "serde_bytes")]
    pub cert_der: Vec<u8>,
    /// Issuer chain above this CA (parent first, root last); empty for a root.
    pub chain_der: Vec<Vec<u8>>,
    pub parent_id: Option<String>,
    pub imported: bool,
    pub not_before: i64,
    pub not_after: i64,
    pub created_at: i64,
    /// subjectKeyIdentifier used as authorityKeyIdentifier in what this CA signs.
    #[serde(with = "serde_bytes")]
    pub key_id: Vec<u8>,
    pub responder: Option<ResponderRecord>,
}

/// Status of an issued certificate. `certificateHold` is the only reversible revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertState {
    Active,
    Revoked { time: i64, reason: RevocationReason },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    /// Lowercase hex serial; unique across all issuers.
    pub id: String,
    pub issuer_id: String,
    #[serde(with = "serde_bytes")]
    pub serial: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub der: Vec<u8>,
    pub subject: String,
    pub sans: Vec<String>,
    pub profile: String,
    pub not_before: i64,
    pub not_after: i64,
    pub created_at: i64,
    pub state: CertState,
    /// When the pre-signed responses are due for refresh (key in `ocsp_due`).
    pub ocsp_due_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRecord {
    pub time: i64,
    pub reason: RevocationReason,
}

/// How a certificate was requested (kipuka's `enrollment_type`). postcard encodes the variant
/// index: new variants go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Enrollment {
    /// The management API (`POST /api/v1/certificates`).
    Api,
    /// EST `/simpleenroll` (RFC 7030 §4.2.1).
    SimpleEnroll,
    /// EST `/simplereenroll` (RFC 7030 §4.2.2).
    SimpleReenroll,
    /// EST `/serverkeygen` (RFC 7030 §4.4).
    ServerKeygen,
    /// `POST /api/v1/certificates/import`: issued elsewhere by one of Sigil's CAs' keys.
    Import,
    /// `POST /api/v1/certificates/{id}/renew` (and `bulk-renew`).
    Renewal,
    /// SCEP `PKIOperation` (RFC 8894 §3.3.1: PKCSReq or RenewalReq).
    Scep,
    /// ACME (RFC 8555) `finalize`.
    Acme,
}

impl Enrollment {
    /// The name `GET /admin/certs` shows.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::SimpleEnroll => "simpleenroll",
            Self::SimpleReenroll => "simplereenroll",
            Self::ServerKeygen => "serverkeygen",
            Self::Import => "import",
            Self::Renewal => "renewal",
            Self::Scep => "scep",
            Self::Acme => "acme",
        }
    }
}

/// Facts about a certificate that its `CertRecord` (fixed postcard layout) cannot hold; in
/// `cert_meta` under the serial, written in the issuance's batch. Absent: issued through the
/// API before this record existed (or by the API, which writes none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertMeta {
    pub enrollment: Enrollment,
}

/// A CA's SCEP RA certificate (`scep`, key `ra/{issuer id}`; its RSA key sealed in `keys`
/// `scep-ra/{issuer id}`): what decrypts SCEP requests and signs CertReps for that CA.
/// Versioned: a later layout is a new variant at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScepRa {
    V1 {
        #[serde(with = "serde_bytes")]
        cert_der: Vec<u8>,
        /// The certificate's notAfter (unix seconds).
        not_after: i64,
        /// The SHA-256 of the CA certificate it was issued under (a new CA certificate under
        /// the same id gets a new RA).
        #[serde(with = "serde_bytes")]
        ca_cert_sha256: Vec<u8>,
    },
}

/// A SCEP PKCSReq without a challenge, kept for an administrator's decision (`scep`, key
/// `req/{id}`, `id` = [`ScepRequestV1::id`]). Versioned: a later layout is a new variant at the
/// end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScepRequest {
    V1(ScepRequestV1),
}

impl ScepRequest {
    pub fn v1(&self) -> &ScepRequestV1 {
        match self {
            Self::V1(r) => r,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScepRequestV1 {
    /// 32 hex digits of SHA-256(issuer id ‖ 0 ‖ transactionID ‖ 0 ‖ signer SPKI): a client
    /// polling (CertPoll, or the same PKCSReq again) finds its request with what it sends.
    pub id: String,
    pub issuer_id: String,
    /// The profile the request was checked against (`[scep] profile` at the time).
    pub profile: Option<String>,
    pub transaction_id: String,
    #[serde(with = "serde_bytes")]
    pub csr_der: Vec<u8>,
    pub subject: String,
    pub sans: Vec<String>,
    pub created_at: i64,
    /// The client's address.
    pub source: String,
    pub state: ScepRequestState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScepRequestState {
    Pending,
    Approved {
        cert_id: String,
        at: i64,
        by: String,
    },
    Rejected {
        at: i64,
        by: String,
        reason: String,
    },
}

impl ScepRequestState {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved { .. } => "approved",
            Self::Rejected { .. } => "rejected",
        }
    }
}

/// Where a certificate sits in its renewal chain (`cert_lineage`, under the serial; both ends
/// written in the renewal's batch). Versioned: postcard cannot skip unknown trailing fields,
/// so a later layout is a new variant at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertLineage {
    V1 {
        /// The certificate this one renewed (its id).
        renewed_from: Option<String>,
        /// The certificate that renewed this one: at most one, so a chain never forks.
        renewed_by: Option<String>,
    },
}

impl CertLineage {
    pub fn renewed_from(&self) -> Option<&str> {
        match self {
            Self::V1 { renewed_from, .. } => renewed_from.as_deref(),
        }
    }

    pub fn renewed_by(&self) -> Option<&str> {
        match self {
            Self::V1 { renewed_by, .. } => renewed_by.as_deref(),
        }
    }
}

/// An archived certificate (`cert_archive`, under the serial): hidden from lists by default,
/// still answered by OCSP and listed on CRLs until it expires (certctl's archive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertArchive {
    V1 { at: i64 },
}

impl CertArchive {
    pub fn at(&self) -> i64 {
        match self {
            Self::V1 { at } => *at,
        }
    }
}

/// An issuance profile made through the API (`profiles`, under its name): the profile as
/// JSON (`config::Profile`, whose fields all have defaults, so a profile stored before a field
/// existed still reads) and when it was made and changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileRecord {
    V1 {
        json: String,
        created_at: i64,
        updated_at: i64,
    },
}

/// An ACME account (`acme_accounts`, under its id). Versioned like [`CertLineage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcmeAccount {
    V1(AcmeAccountV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeAccountV1 {
    /// The account key as RFC 7638 canonical JSON.
    pub jwk: String,
    /// Its thumbprint (the key of `acme_account_keys`).
    pub thumbprint: String,
    /// `valid`, `deactivated` or `revoked`.
    pub status: String,
    pub contact: Vec<String>,
    pub created: i64,
    /// The external account binding key id it was created with, if any.
    pub eab_kid: Option<String>,
}

impl AcmeAccount {
    pub fn v1(&self) -> &AcmeAccountV1 {
        match self {
            Self::V1(a) => a,
        }
    }
}

/// An ACME order (`acme_orders`, under its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcmeOrder {
    V1(AcmeOrderV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeOrderV1 {
    pub account: String,
    /// `pending` (then `ready`/`invalid` follow from the authorizations, read time),
    /// `processing` (finalization started), `valid` (issued) or `invalid`.
    pub status: String,
    /// (type, value) pairs, normalized and sorted.
    pub identifiers: Vec<(String, String)>,
    pub authzs: Vec<String>,
    pub created: i64,
    pub expires: i64,
    /// The certificate's id once issued.
    pub cert: Option<String>,
    /// A problem document (JSON) when finalization failed.
    pub error: Option<String>,
}

impl AcmeOrder {
    pub fn v1(&self) -> &AcmeOrderV1 {
        match self {
            Self::V1(o) => o,
        }
    }
}

/// An ACME authorization and its challenges (`acme_authzs`, under its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcmeAuthz {
    V1(AcmeAuthzV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeAuthzV1 {
    pub account: String,
    /// (type, value).
    pub identifier: (String, String),
    /// `pending`, `valid`, `invalid` or `deactivated` (`expired` follows at read time).
    pub status: String,
    pub expires: i64,
    pub challenges: Vec<AcmeChallenge>,
}

/// One challenge of an authorization (only inside [`AcmeAuthz`], versioned with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeChallenge {
    /// `http-01`, `dns-01` or `tls-alpn-01`.
    pub kind: String,
    pub token: String,
    /// `pending`, `processing`, `valid` or `invalid`.
    pub status: String,
    /// When it was validated (or failed; unix seconds).
    pub validated: Option<i64>,
    /// A problem document (JSON) when it failed.
    pub error: Option<String>,
}

impl AcmeAuthz {
    pub fn v1(&self) -> &AcmeAuthzV1 {
        match self {
            Self::V1(a) => a,
        }
    }
}
