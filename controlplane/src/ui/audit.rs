//! `/ui/audit`: the audit log, newest first, filtered by actor, action, outcome and dates, and
//! paged;
//! `/ui/audit/verify`: the hash chain checked end to end (`AuditTrail::verify`, as
//! `GET /api/v1/audit/verify`). `read:audit`.

use std::cell::Cell;

use axum::extract::Query;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;
use sigil_shared::time::rfc3339;

use super::auth::Signed;
use super::{layout, run, State, UiError};
use crate::api::time_bound;
use crate::audit::AuditRecord;
use crate::services::Internal;

const PER_PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    /// `""`, `true` or `false`.
    #[serde(default)]
    success: String,
    /// `YYYY-MM-DD` or RFC 3339, inclusive (a date as `to` means its end), as the API's
    /// `date_from`/`date_to`.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    page: Option<u64>,
}

/// Which records of `total` matching ones (oldest first, from 0) are on newest-first page
/// `page`: `[lo, hi)`.
pub fn window(total: u64, page: u64, per_page: u64) -> (u64, u64) {
    let hi = total.saturating_sub((page - 1).saturating_mul(per_page));
    (hi.saturating_sub(per_page), hi)
}

pub async fn list(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
    Query(q): Query<ListQuery>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:audit").await?;
    let page = q.page.unwrap_or(1).max(1);
    let bound = |name, v: &str, end| time_bound(name, (!v.is_empty()).then_some(v), end);
    let (from, to) = (bound("from", &q.from, false)?, bound("to", &q.to, true)?);
    let trail = console.services().audit.clone();
    let (actor, action, success) = (q.actor.clone(), q.action.clone(), q.success.clone());
    let (records, total) = run(signed.actor(), move || {
        let matches = |r: &AuditRecord| {
            let e = &r.event;
            let secs = r.time_us.div_euclid(1_000_000);
            from.is_none_or(|f| secs >= f)
                && to.is_none_or(|t| secs <= t)
                && (actor.is_empty() || e.actor == actor)
                && (action.is_empty() || e.action == action)
                && match success.as_str() {
                    "true" => e.success,
                    "false" => !e.success,
                    _ => true,
                }
        };
        // Two passes: how many match, then the page's window of them.
        let (_, total) = trail.list(1, u64::MAX, 1, 1, &matches)?;
        let (lo, hi) = window(total, page, PER_PAGE);
        let seen = Cell::new(0u64);
        let in_window = |r: &AuditRecord| {
            if !matches(r) {
                return false;
            }
            let i = seen.get();
            seen.set(i + 1);
            (lo..hi).contains(&i)
        };
        let (mut records, _) = trail.list(1, u64::MAX, 1, PER_PAGE, &in_window)?;
        records.reverse();
        Ok::<_, Internal>((records, total))
    })
    .await?;
    let link = |p: u64| {
        let p = p.to_string();
        format!(
            "/ui/audit?{}",
            layout::query(&[
                ("actor", &q.actor),
                ("action", &q.action),
                ("success", &q.success),
                ("page", &p)
            ])
        )
    };
    let body = html! {
        div class="actions" {
            form method="get" action="/ui/audit/verify" { button type="submit" { "Verify the chain" } }
        }
        form class="filters" method="get" action="/ui/audit" {
            div class="field" { label for="f-actor" { "Actor" } input id="f-actor" name="actor" value=(q.actor) placeholder="bearer:admin"; }
            div class="field" { label for="f-action" { "Action" } input id="f-action" name="action" value=(q.action) placeholder="certificate.revoke"; }
            div class="field" { label for="f-success" { "Outcome" }
                select id="f-success" name="success" {
                    @for (v, l) in [("", "any"), ("true", "succeeded"), ("false", "failed or refused")] {
                        option value=(v) selected[q.success == v] { (l) }
                    }
                }
            }
            div class="field" { label for="f-from" { "From" } input id="f-from" type="date" name="from" value=(q.from); }
            div class="field" { label for="f-to" { "To" } input id="f-to" type="date" name="to" value=(q.to); }
            button type="submit" { "Filter" }
        }
        div class="table-wrap" {
            table {
                thead { tr { th { "#" } th { "Time" } th { "Actor" } th { "Action" } th { "Resource" } th { "OK" } th { "Source" } th { "Details" } } }
                tbody {
                    @for r in &records {
                        @let e = &r.event;
                        tr {
                            td { (r.id) }
                            td class="nowrap" { (rfc3339(r.time_us.div_euclid(1_000_000))) }
                            td class="mono" { (e.actor) }
                            td class="mono" { (e.action) }
                            td class="mono wrap" { (e.resource_type) " " (e.resource_id) }
                            td { (layout::badge(if e.success { "yes" } else { "no" })) }
                            td class="mono" { (e.source) }
                            td class="mono wrap" { (e.details) }
                        }
                    }
                    @if records.is_empty() { tr { td colspan="8" { "No record matches." } } }
                }
            }
        }
        (layout::pager(page, PER_PAGE, total, link))
    };
    Ok(layout::page(&signed, "/ui/audit", "Audit log", body))
}

pub async fn verify(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:audit").await?;
    let trail = console.services().audit.clone();
    let v = run(signed.actor(), move || trail.verify(1, u64::MAX)).await?;
    let body = html! {
        @if v.valid() {
            p class="notice" role="status" id="verify-result" {
                "The chain is valid: " (v.checked) " records checked, each linked to the one before."
            }
        } @else {
            p class="error" role="alert" id="verify-result" {
                "The chain is broken: " (v.errors.len()) " problems in " (v.checked) " records checked."
            }
            ul { @for e in &v.errors { li { "record " (e.id) ": " (e.error) } } }
        }
        p { a href="/ui/audit" { "Back to the audit log" } }
    };
    Ok(layout::page(
        &signed,
        "/ui/audit",
        "Audit chain verification",
        body,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn newest_first_windows() {
        assert_eq!(super::window(120, 1, 50), (70, 120));
        assert_eq!(super::window(120, 2, 50), (20, 70));
        assert_eq!(super::window(120, 3, 50), (0, 20));
        assert_eq!(super::window(120, 4, 50), (0, 0));
        assert_eq!(super::window(0, 1, 50), (0, 0));
    }
}
