//! `/api/v1/audit` (certctl's `AuditEvent` list, UCM's filters), `/api/v1/audit/{id}` (one
//! event) and `/api/v1/audit/verify` (UCM's integrity check: `{valid, checked, errors}`).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use sigil_shared::time::rfc3339;

use super::{ApiError, ApiQuery, ErrorCode, Shared};
use crate::audit::{AuditRecord, ChainError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub success: Option<bool>,
    /// RFC 3339 or `YYYY-MM-DD` (inclusive bounds).
    pub date_from: Option<String>,
    pub date_to: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: String,
    pub timestamp: String,
    pub actor: String,
    pub actor_type: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub success: bool,
    pub source: String,
    pub details: serde_json::Value,
    /// Hex SHA-256 of the record and of its predecessor (the chain).
    pub hash: String,
    pub prev_hash: String,
}

fn view(r: &AuditRecord) -> EventView {
    let e = &r.event;
    EventView {
        id: r.id.to_string(),
        timestamp: rfc3339(r.time_us.div_euclid(1_000_000)),
        actor: e.actor.clone(),
        actor_type: e.actor_type.clone(),
        action: e.action.clone(),
        resource_type: e.resource_type.clone(),
        resource_id: e.resource_id.clone(),
        success: e.success,
        source: e.source.clone(),
        details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
        hash: hex::encode(r.hash),
        prev_hash: hex::encode(r.prev),
    }
}

/// Unix seconds of a date `YYYY-MM-DD` (start of the day, or its last second with
/// `end_of_day`) or an RFC 3339 timestamp `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn parse_time(s: &str, end_of_day: bool) -> Option<i64> {
    let b = s.as_bytes();
    let fixed = |text: &[u8], seps: &[(usize, u8)]| {
        seps.iter().all(|(i, c)| text.get(*i) == Some(c))
            && text
                .iter()
                .enumerate()
                .all(|(i, c)| seps.iter().any(|(j, _)| *j == i) || c.is_ascii_digit())
    };
    let digits = |text: &[u8]| -> String {
        text.iter()
            .filter(|c| c.is_ascii_digit())
            .map(|c| *c as char)
            .collect()
    };
    let gt = |d: String| sigil_shared::time::parse_generalized_time(format!("{d}Z").as_bytes());
    if b.len() == 10 {
        if !fixed(b, &[(4, b'-'), (7, b'-')]) {
            return None;
        }
        return Some(gt(format!("{}000000", digits(b)))? + if end_of_day { 86_399 } else { 0 });
    }
    let (base, mut rest) = (b.get(..19)?, &b[19..]);
    if !fixed(
        base,
        &[(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')],
    ) && !fixed(
        base,
        &[(4, b'-'), (7, b'-'), (10, b't'), (13, b':'), (16, b':')],
    ) {
        return None;
    }
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if rest.len() == 6 && fixed(&rest[1..], &[(2, b':')]) => {
            let d = digits(&rest[1..]);
            let (h, m): (i64, i64) = (d[..2].parse().ok()?, d[2..].parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 3600 + m * 60
            } else {
                -(h * 3600 + m * 60)
            }
        }
        _ => return None,
    };
    Some(gt(digits(base))? - offset)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn dates_and_rfc3339_timestamps() {
        assert_eq!(parse_time("1994-11-06", false), Some(784_080_000));
        assert_eq!(parse_time("1994-11-06", true), Some(784_080_000 + 86_399));
        assert_eq!(parse_time("1994-11-06T08:49:37Z", false), Some(784_111_777));
        assert_eq!(
            parse_time("1994-11-06T08:49:37.250Z", false),
            Some(784_111_777)
        );
        assert_eq!(
            parse_time("1994-11-06T10:49:37+02:00", false),
            Some(784_111_777)
        );
        assert_eq!(
            parse_time("1994-11-06T03:49:37-05:00", false),
            Some(784_111_777)
        );
        for bad in [
            "yesterday",
            "1994-11-06T08:49:37",
            "1994-11-06T08:49:37+0200",
            "1994/11/06",
            "1994-11-06T08:49:37.Z",
            "1994-13-01",
            "",
        ] {
            assert_eq!(parse_time(bad, false), None, "{bad}");
        }
    }
}

/// `(page, per_page)` from the query: page from 1 (default 1), per_page 1..=500 (default 50).
pub fn paging(page: Option<u64>, per_page: Option<u64>) -> Result<(u64, u64), ApiError> {
    let per_page = per_page.unwrap_or(50);
    if per_page == 0 || per_page > 500 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "per_page must be 1..=500",
        ));
    }
    Ok((page.unwrap_or(1).max(1), per_page))
}

/// `?page=&per_page=` of a list that takes nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// Page `page` (from 1) of `all`, each item shown with `view`, in certctl's envelope.
pub fn page_of<T, U>(all: Vec<T>, page: u64, per_page: u64, view: impl FnMut(T) -> U) -> Paged<U> {
    let total = all.len() as u64;
    let skip =
        usize::try_from(page.saturating_sub(1).saturating_mul(per_page)).unwrap_or(usize::MAX);
    let data = all
        .into_iter()
        .skip(skip)
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .map(view)
        .collect();
    Paged {
        data,
        total,
        page,
        per_page,
    }
}

/// A time filter from the query (RFC 3339 or a date; a date as `end` bound means its end).
pub fn time_bound(name: &str, value: Option<&str>, end: bool) -> Result<Option<i64>, ApiError> {
    value
        .map(|s| {
            parse_time(s, end).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("{name} must be ISO 8601 (RFC 3339) or YYYY-MM-DD"),
                )
            })
        })
        .transpose()
}

/// The paging envelope of every list (certctl's and UCM's `{data, total, page, per_page}`).
#[derive(Debug, Serialize)]
pub struct Paged<T> {
    pub data: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<EventView>>, ApiError> {
    let (page, per_page) = paging(q.page, q.per_page)?;
    let from = time_bound("date_from", q.date_from.as_deref(), false)?;
    let to = time_bound("date_to", q.date_to.as_deref(), true)?;
    let audit_trail = state.services.audit.clone();
    let (records, total) = tokio::task::spawn_blocking(move || {
        let keep = |r: &AuditRecord| {
            let e = &r.event;
            let secs = r.time_us.div_euclid(1_000_000);
            q.actor.as_ref().is_none_or(|a| e.actor == *a)
                && q.action.as_ref().is_none_or(|a| e.action == *a)
                && q.resource_type
                    .as_ref()
                    .is_none_or(|a| e.resource_type == *a)
                && q.resource_id.as_ref().is_none_or(|a| e.resource_id == *a)
                && q.success.is_none_or(|s| e.success == s)
                && from.is_none_or(|f| secs >= f)
                && to.is_none_or(|t| secs <= t)
        };
        audit_trail.list(1, u64::MAX, page, per_page, &keep)
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?
    .map_err(|e| {
        tracing::error!(error = %e, "reading the audit log failed");
        ApiError::new(ErrorCode::Internal, "internal error")
    })?;
    Ok(Json(Paged {
        data: records.iter().map(view).collect(),
        total,
        page,
        per_page,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    pub start_id: Option<u64>,
    pub end_id: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct VerifyView {
    pub valid: bool,
    pub checked: u64,
    pub errors: Vec<ChainError>,
}

pub async fn verify(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<VerifyView>, ApiError> {
    let audit_trail = state.services.audit.clone();
    let v = tokio::task::spawn_blocking(move || {
        audit_trail.verify(q.start_id.unwrap_or(1), q.end_id.unwrap_or(u64::MAX))
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?
    .map_err(|e| {
        tracing::error!(error = %e, "verifying the audit log failed");
        ApiError::new(ErrorCode::Internal, "internal error")
    })?;
    Ok(Json(VerifyView {
        valid: v.valid(),
        checked: v.checked,
        errors: v.errors,
    }))
}

/// `GET /api/v1/audit/{id}`: one event by its id (a decimal number).
pub async fn get_one(
    State(state): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let not_found = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!("audit event {id:?} does not exist"),
        )
    };
    let n: u64 = id.parse().ok().filter(|n| *n > 0).ok_or_else(not_found)?;
    let audit_trail = state.services.audit.clone();
    let (records, _) = tokio::task::spawn_blocking(move || audit_trail.list(n, n, 1, 1, &|_| true))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?
        .map_err(|e| {
            tracing::error!(error = %e, "reading the audit log failed");
            ApiError::new(ErrorCode::Internal, "internal error")
        })?;
    records
        .iter()
        .find(|r| r.id == n)
        .map(|r| Json(view(r)))
        .ok_or_else(not_found)
}
