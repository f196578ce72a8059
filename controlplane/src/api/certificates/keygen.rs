//! `POST /api/v1/certificates` without a CSR: the key is generated here and returned once, as
//! PKCS#8 PEM and, given `pkcs12_password`, with the chain as a PKCS#12 bundle (base64). It is
//! not stored: a second copy cannot be had, by anyone.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Serialize;
use zeroize::Zeroizing;

use super::super::{blocking, ApiError, ErrorCode, Shared};
use super::{full_view, CertView, IssueBody};
use crate::crypto::KeyAlgorithm;
use crate::services::certificates::KeygenRequest;

#[derive(Debug, Serialize)]
pub struct GeneratedView {
    #[serde(flatten)]
    pub certificate: CertView,
    /// PKCS#8 (RFC 5958) PEM, unencrypted: shown once.
    pub private_key: String,
    /// Base64 PKCS#12 (key, certificate, chain) under `pkcs12_password`, if one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12: Option<String>,
}

/// PEM of a PKCS#8 private key.
pub fn pkcs8_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

pub(super) async fn issue(
    state: super::super::Shared,
    body: IssueBody,
) -> Result<Response, ApiError> {
    if body.subject.is_none() && body.sans.is_none() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "csr is required, or subject and/or sans (with key_algorithm, default ecdsa-p256) to have the key generated here",
        ));
    }
    let alg_name = body.key_algorithm.as_deref().unwrap_or("ecdsa-p256");
    let key_algorithm = KeyAlgorithm::parse(alg_name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("key_algorithm {alg_name:?} is not one of ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096"),
        )
    })?;
    let req = KeygenRequest {
        issuer_id: body.issuer_id,
        subject: body.subject.unwrap_or_default(),
        sans: body.sans.unwrap_or_default(),
        key_algorithm,
        validity_days: body.validity_days,
        profile: body.profile,
    };
    let certificates = state.services.certificates.clone();
    let (cert, pkcs8) = blocking(move || certificates.issue_with_generated_key(&req)).await?;
    let pkcs8 = Zeroizing::new(pkcs8);
    let view = full_view(&state, cert.clone()).await?;
    let pkcs12 = match body.pkcs12_password {
        Some(password) => Some(bundle(&state, &cert, &pkcs8, &password).await?),
        None => None,
    };
    let out = GeneratedView {
        certificate: view,
        private_key: pkcs8_pem(&pkcs8),
        pkcs12,
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// Base64 PKCS#12 of the key, the certificate and its chain.
async fn bundle(
    state: &Shared,
    cert: &crate::db::CertRecord,
    pkcs8: &[u8],
    password: &str,
) -> Result<String, ApiError> {
    let certs = super::export::der_chain(state, cert).await?;
    let pkcs8 = Zeroizing::new(pkcs8.to_vec());
    let password = Zeroizing::new(password.to_string());
    let name = cert.id.clone();
    let p12 = blocking(move || {
        crate::x509::pkcs12::encode(
            &crate::x509::pkcs12::Pkcs12Contents {
                certs: &certs,
                key_pkcs8: Some(&pkcs8),
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
    Ok(base64::engine::general_purpose::STANDARD.encode(p12))
}
