//! Certificate export (certctl's `GET /api/v1/certificates/{id}/export/pem` and
//! `POST …/export/pkcs12`, plus DER and the chain as files): the leaf, then the issuing CA and
//! its parents up to the root. Sigil holds no end-entity private keys, so a PKCS#12 export
//! carries certificates only (as certctl's).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::super::{blocking, ApiError, ApiQuery, ErrorCode, Shared};
use crate::db::CertRecord;
use crate::services::certificates::normalize_id;
use crate::services::ServiceError;
use crate::x509::cert_pem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PemQuery {
    /// `true`: the full chain as a `application/x-pem-file` download instead of JSON.
    pub download: Option<String>,
}

/// certctl's PEM export.
#[derive(Debug, Serialize)]
pub struct PemExport {
    /// The certificate.
    pub cert_pem: String,
    /// Issuing CA first, root last.
    pub chain_pem: String,
    /// `cert_pem` then `chain_pem`.
    pub full_pem: String,
}

async fn load(state: &Shared, id: &str) -> Result<(CertRecord, Vec<String>), ApiError> {
    let s = state.services.clone();
    let id = normalize_id(id);
    blocking(move || {
        let c = s.certificates.cert(&id)?;
        let chain = s.issuers.chain_pem(&c.issuer_id)?;
        Ok::<_, ServiceError>((c, chain))
    })
    .await
}

fn attachment(name: &str) -> String {
    format!("attachment; filename=\"{name}\"")
}

pub async fn pem(
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PemQuery>,
) -> Result<Response, ApiError> {
    let download = match q.download.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "download must be true or false",
            ))
        }
    };
    let (c, chain) = load(&state, &id).await?;
    let cert = cert_pem(&c.der);
    let chain = chain.concat();
    let full = format!("{cert}{chain}");
    if download {
        return Ok((
            [
                (header::CONTENT_TYPE, "application/x-pem-file".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    attachment(&format!("{}.pem", c.id)),
                ),
            ],
            full,
        )
            .into_response());
    }
    Ok(Json(PemExport {
        cert_pem: cert,
        chain_pem: chain,
        full_pem: full,
    })
    .into_response())
}

/// The certificate in DER (`application/pkix-cert`, RFC 2585).
pub async fn der(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (c, _) = load(&state, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-cert".to_string()),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("{}.der", c.id)),
            ),
        ],
        c.der,
    )
        .into_response())
}

/// The certificate and its chain up to the root in PEM (`application/pem-certificate-chain`,
/// RFC 8555 §9.1).
pub async fn chain(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (c, chain) = load(&state, &id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/pem-certificate-chain".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("{}-chain.pem", c.id)),
            ),
        ],
        format!("{}{}", cert_pem(&c.der), chain.concat()),
    )
        .into_response())
}

/// The certificate, then its chain up to the root, DER.
pub(super) async fn der_chain(state: &Shared, c: &CertRecord) -> Result<Vec<Vec<u8>>, ApiError> {
    let s = state.services.clone();
    let (leaf, issuer) = (c.der.clone(), c.issuer_id.clone());
    blocking(move || {
        let mut out = vec![leaf];
        out.extend(s.issuers.chain_der(&issuer)?);
        Ok::<_, ServiceError>(out)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs12Body {
    /// Protects the bundle (PBES2 AES-256-CBC, HMAC-SHA256 MAC); empty when absent.
    #[serde(default)]
    pub password: String,
}

/// `POST /api/v1/certificates/{id}/export/pkcs12` (`application/x-pkcs12`): the certificate
/// and its chain, no key; an empty body means the empty password.
pub async fn pkcs12(
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Pkcs12Body = if body.iter().all(u8::is_ascii_whitespace) {
        Pkcs12Body::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid JSON body: {e}")))?
    };
    let (c, _) = load(&state, &id).await?;
    let certs = der_chain(&state, &c).await?;
    let name = c.id.clone();
    let password = zeroize::Zeroizing::new(body.password);
    let p12 = blocking(move || {
        crate::x509::pkcs12::encode(
            &crate::x509::pkcs12::Pkcs12Contents {
                certs: &certs,
                key_pkcs8: None,
                friendly_name: Some(&name),
            },
            &password,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "building a PKCS#12 bundle failed");
            ApiError::new(ErrorCode::Internal, "building the PKCS#12 bundle failed")
        })
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pkcs12".to_string()),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("{}.p12", c.id)),
            ),
        ],
        p12,
    )
        .into_response())
}
