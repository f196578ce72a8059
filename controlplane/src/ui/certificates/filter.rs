//! The certificate list's filter as its query (and the bulk revocation's form) carries it:
//! the API list's criteria as strings, parsed into a `CertFilter` in one place.

use axum::http::StatusCode;
use serde::Deserialize;

use super::super::UiError;
use crate::services::certificates::{ArchivedFilter, CertFilter, StatusFilter};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FilterQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub issuer: String,
    /// Subject or SAN substring (the API's `search`).
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub profile: String,
    /// `YYYY-MM-DD` or RFC 3339, inclusive, as the API's `expires_after`/`expires_before`.
    #[serde(default)]
    pub expires_after: String,
    #[serde(default)]
    pub expires_before: String,
}

/// `Some(trimmed)` unless blank.
fn given(v: &str) -> Option<&str> {
    Some(v.trim()).filter(|v| !v.is_empty())
}

impl FilterQuery {
    pub fn filter(&self) -> Result<CertFilter, UiError> {
        // Archived certificates only when asked for, as in the API's list.
        let archived_only = given(&self.status).is_some_and(|s| s == "archived");
        let status = match given(&self.status).filter(|_| !archived_only) {
            None => None,
            Some(s) => Some(StatusFilter::parse(s).ok_or_else(|| {
                UiError::new(
                    StatusCode::BAD_REQUEST,
                    "status must be active, expiring, expired, revoked or archived",
                )
            })?),
        };
        let bound = |name, v: &str, end| crate::api::time_bound(name, given(v), end);
        Ok(CertFilter {
            issuer_id: given(&self.issuer).map(str::to_string),
            status,
            search: given(&self.q).map(str::to_string),
            profile: given(&self.profile).map(str::to_string),
            expires_after: bound("expires after", &self.expires_after, false)?,
            expires_before: bound("expires before", &self.expires_before, true)?,
            archived: Some(if archived_only {
                ArchivedFilter::Only
            } else {
                ArchivedFilter::Exclude
            }),
            ..CertFilter::default()
        })
    }

    /// The fields as query pairs (links and hidden form fields).
    pub fn pairs(&self) -> [(&'static str, &str); 6] {
        [
            ("status", &self.status),
            ("issuer", &self.issuer),
            ("q", &self.q),
            ("profile", &self.profile),
            ("expires_after", &self.expires_after),
            ("expires_before", &self.expires_before),
        ]
    }

    /// The criteria given, in words (`status revoked, name contains "x"`).
    pub fn describe(&self) -> String {
        let words = [
            ("status", &self.status),
            ("issuer", &self.issuer),
            ("name contains", &self.q),
            ("profile", &self.profile),
            ("expiring from", &self.expires_after),
            ("expiring until", &self.expires_before),
        ];
        words
            .iter()
            .filter_map(|(what, v)| {
                given(v).map(|v| match *what {
                    "name contains" => format!("{what} {v:?}"),
                    _ => format!("{what} {v}"),
                })
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
