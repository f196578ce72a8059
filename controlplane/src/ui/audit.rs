//! `/ui/audit`: the audit log, newest first, filtered by actor, action, outcome and dates, and
//! paged by id: a page reads back from the id the previous one ended at, in growing chunks,
//! for at most a time budget (a filter matching few records among many shows what it found
//! and where to go on), so no page reads the whole log;
//! `/ui/audit/verify`: the hash chain checked end to end (`AuditTrail::verify`, as
//! `GET /api/v1/audit/verify`). `read:audit`.

use std::time::{Duration, Instant};

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

const PER_PAGE: usize = 50;
/// How long one page may read for matches.
const SCAN_BUDGET: Duration = Duration::from_millis(120);
/// Ids read per step back (doubling up to [`MAX_CHUNK`]).
const FIRST_CHUNK: u64 = 256;
const MAX_CHUNK: u64 = 65_536;

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
    /// The page's number (shown) and the id it reads back from (exclusive).
    page: Option<u64>,
    before: Option<u64>,
}

/// One page read back from an id.
struct Page {
    /// Newest first.
    records: Vec<AuditRecord>,
    /// Where the next page reads back from, if older records may match.
    next: Option<u64>,
    out_of_time: bool,
}

/// Up to `per_page` records accepted by `keep` with ids below `before`, newest first, read
/// back in growing chunks (`list` reads `lo..=hi` oldest first), for at most `budget`.
fn read_back(
    list: &dyn Fn(u64, u64) -> Result<Vec<AuditRecord>, Internal>,
    before: u64,
    per_page: usize,
    budget: Duration,
) -> Result<Page, Internal> {
    let started = Instant::now();
    let (mut hi, mut chunk) = (before, FIRST_CHUNK);
    let mut page = Page {
        records: Vec::new(),
        next: None,
        out_of_time: false,
    };
    while hi > 1 {
        let lo = hi.saturating_sub(chunk).max(1);
        for r in list(lo, hi - 1)?.into_iter().rev() {
            if page.records.len() == per_page {
                page.next = page.records.last().map(|r| r.id);
                return Ok(page);
            }
            page.records.push(r);
        }
        hi = lo;
        chunk = (chunk * 2).min(MAX_CHUNK);
        if page.records.len() == per_page {
            page.next = (hi > 1).then(|| page.records.last().map_or(hi, |r| r.id));
            return Ok(page);
        }
        if hi > 1 && started.elapsed() >= budget {
            page.out_of_time = true;
            page.next = Some(hi);
            return Ok(page);
        }
    }
    Ok(page)
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
    let before = q.before;
    let unfiltered = q.actor.is_empty()
        && q.action.is_empty()
        && q.success.is_empty()
        && from.is_none()
        && to.is_none();
    let (found, newest) = run(signed.actor(), move || {
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
        let newest = trail.newest_id()?;
        let list = |lo: u64, hi: u64| trail.list(lo, hi, 1, u64::MAX, &matches).map(|(r, _)| r);
        let start = before.unwrap_or(newest + 1).min(newest + 1);
        let found = read_back(&list, start, PER_PAGE, SCAN_BUDGET)?;
        Ok::<_, Internal>((found, newest))
    })
    .await?;
    let records = &found.records;
    let link = |p: u64, before: u64| {
        let (p, before) = (p.to_string(), before.to_string());
        format!(
            "/ui/audit?{}",
            layout::query(&[
                ("actor", &q.actor),
                ("action", &q.action),
                ("success", &q.success),
                ("from", &q.from),
                ("to", &q.to),
                ("page", &p),
                ("before", &before),
            ])
        )
    };
    let first = format!(
        "/ui/audit?{}",
        layout::query(&[
            ("actor", &q.actor),
            ("action", &q.action),
            ("success", &q.success),
            ("from", &q.from),
            ("to", &q.to),
        ])
    );
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
                    @for r in records {
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
                    @if records.is_empty() && found.next.is_none() { tr { td colspan="8" { "No record matches." } } }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if page > 1 { a href=(first) { "← Newest" } }
            span {
                "Page " (page)
                @if unfiltered { " of " (newest.div_ceil(PER_PAGE as u64).max(1)) " · " (newest) " records in all" }
            }
            @if let Some(next) = found.next {
                @if found.out_of_time {
                    a href=(link(page, next)) rel="next" { "Search on →" }
                    span class="hint" { "read back to record " (next) " so far" }
                } @else {
                    a href=(link(page + 1, next)) rel="next" { "Older →" }
                }
            }
        }
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
    use super::*;
    use crate::audit::AuditEvent;

    fn record(id: u64, ok: bool) -> AuditRecord {
        AuditRecord {
            id,
            time_us: 0,
            event: AuditEvent {
                actor: "a".into(),
                actor_type: "User".into(),
                action: "x".into(),
                resource_type: "r".into(),
                resource_id: id.to_string(),
                success: ok,
                source: String::new(),
                details: String::new(),
            },
            prev: [0; 32],
            hash: [0; 32],
        }
    }

    /// A log of `n` records where every `every`-th succeeded, listed by range.
    fn log(n: u64, every: u64) -> impl Fn(u64, u64) -> Result<Vec<AuditRecord>, Internal> {
        move |lo, hi| {
            Ok((lo..=hi.min(n))
                .map(|i| record(i, i % every == 0))
                .filter(|r| r.event.success)
                .collect())
        }
    }

    #[test]
    fn pages_read_back_newest_first_and_continue_where_they_ended() {
        let list = log(1000, 1);
        let p = read_back(&list, 1001, 50, Duration::from_secs(5)).unwrap();
        let ids: Vec<u64> = p.records.iter().map(|r| r.id).collect();
        assert_eq!(ids, (951..=1000).rev().collect::<Vec<_>>());
        assert_eq!(p.next, Some(951));
        let p = read_back(&list, 951, 50, Duration::from_secs(5)).unwrap();
        assert_eq!(p.records.first().map(|r| r.id), Some(950));
        // The oldest page: fewer, no next.
        let p = read_back(&list, 21, 50, Duration::from_secs(5)).unwrap();
        assert_eq!(p.records.len(), 20);
        assert_eq!(p.next, None);
    }

    #[test]
    fn a_sparse_filter_goes_on_from_where_its_time_ran_out() {
        let list = log(100_000, 997);
        let mut before = 100_001;
        let mut seen = Vec::new();
        loop {
            let p = read_back(&list, before, 50, Duration::ZERO).unwrap();
            seen.extend(p.records.iter().map(|r| r.id));
            match p.next {
                Some(n) => before = n,
                None => break,
            }
        }
        let want: Vec<u64> = (1..=100_000u64).rev().filter(|i| i % 997 == 0).collect();
        assert_eq!(seen, want);
    }
}
