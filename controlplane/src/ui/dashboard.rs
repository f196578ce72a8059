//! `GET /ui/`: the CAs and their health, CRL freshness, certificates by status and issued and
//! revoked per day ([`stats`], drawn by [`chart`]), the replication log's head and each
//! connected data plane's position, the OCSP refresh backlog.

mod chart;
pub mod fleet;
pub mod stats;

use std::sync::Arc;

use axum::Extension;
use maud::{html, Markup};
use sigil_shared::time::{now_unix, rfc3339};

use super::auth::Signed;
use super::{layout, run, State, UiError};
use crate::services::{ServiceError, Services};
use stats::{CertStats, StatsCache};

/// Upper bound of the backlog count (as at a metrics scrape).
const BACKLOG_CAP: u64 = 1_000_000;

struct CaRow {
    id: String,
    name: String,
    enabled: bool,
    health: &'static str,
    error: Option<String>,
    crl_number: Option<u64>,
    crl_next_update: Option<i64>,
}

struct Overview {
    cas: Vec<CaRow>,
    /// None without `read:certificates`.
    certs: Option<Arc<CertStats>>,
    head: u64,
    oldest_retained: u64,
    subscribers: i64,
    lag: i64,
    /// The last sequence sent to each connected data plane.
    positions: Vec<u64>,
    backlog: u64,
    oldest_due: Option<i64>,
    db_ms: f64,
    db_ok: bool,
    /// The configured data planes' own figures.
    fleet: Vec<fleet::DataPlaneRow>,
}

fn gather(
    s: &Arc<Services>,
    certs: Option<&Arc<StatsCache>>,
    fleet: &fleet::Fleet,
) -> Result<Overview, ServiceError> {
    let now = now_unix();
    let mut cas = Vec::new();
    for ca in s.issuers.list_cas() {
        let id = ca.record.id.clone();
        let settings = s.issuers.issuer_settings(&id)?;
        let crl = s.issuers.current_crl(&id)?;
        let h = ca.health();
        cas.push(CaRow {
            name: settings
                .name
                .clone()
                .unwrap_or_else(|| ca.record.name.clone()),
            enabled: !settings.disabled,
            health: h.status.as_str(),
            error: h.error,
            crl_number: crl.as_ref().map(|c| c.number),
            crl_next_update: crl.as_ref().map(|c| c.next_update),
            id,
        });
    }
    let certs = match certs {
        Some(cache) => Some(cache.get(s)?),
        None => None,
    };
    let head = s.replication.head();
    let m = s.metrics();
    m.sync_replication(head);
    let (backlog, oldest_due) = s.certificates.ocsp_backlog(now, BACKLOG_CAP)?;
    let (latency, read) = s.replication.probe();
    Ok(Overview {
        cas,
        certs,
        head,
        oldest_retained: s.replication.oldest_retained(),
        subscribers: m.replication_subscribers.get(),
        lag: m.replication_lag.get(),
        positions: m.subscriber_positions(),
        backlog,
        oldest_due,
        db_ms: latency.as_secs_f64() * 1000.0,
        db_ok: read.is_ok(),
        fleet: if fleet.is_empty() {
            Vec::new()
        } else {
            fleet.rows()
        },
    })
}

/// `3 min`, `2 h 5 min`, `4 d 1 h`.
pub fn ago(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

pub async fn page(
    axum::extract::State(console): State,
    Extension(signed): Extension<Signed>,
) -> Result<Markup, UiError> {
    signed.require(&console, "read:system").await?;
    let s: Arc<Services> = console.services().clone();
    let cache = signed
        .can("read:certificates")
        .then(|| console.stats.clone());
    let dps = console.fleet.clone();
    let o = run(signed.actor(), move || gather(&s, cache.as_ref(), &dps)).await?;
    let now = now_unix();
    let body = html! {
        h2 { "Certificates" }
        @if let Some(c) = &o.certs {
            div class="cards" {
                @for (k, label) in [("active", "Active"), ("expiring", "Expiring in 30 days"), ("revoked", "Revoked"), ("expired", "Expired")] {
                    @let n = c.by_status.get(k).copied().unwrap_or(0);
                    div class="card" {
                        span class="n" { (n) }
                        a href={ "/ui/certificates?" (layout::query(&[("status", k)])) } { (label) }
                    }
                }
            }
            h2 { "Issued and revoked per day" }
            (chart::issued_and_revoked(&c.issued, &c.revoked, c.counted_at))
            p class="hint" {
                @if c.took < stats::SYNC_BELOW {
                    "Counted for this page in " (c.took.as_millis()) " ms."
                } @else {
                    "Counted " (ago(now - c.counted_at)) " ago in " (c.took.as_millis()) " ms; recounted in the background."
                }
            }
        } @else {
            p class="hint" { "Your sign-in cannot read certificates." }
        }
        h2 { "Replication and OCSP" }
        div class="cards" {
            div class="card" { span class="n" { (o.head) } "Replication head (oldest retained " (o.oldest_retained) ")" }
            div class="card" { span class="n" { (o.subscribers) } "Connected data planes" }
            div class="card" { span class="n" { (o.lag) } "Records behind (furthest data plane)" }
            div class="card" {
                span class="n" { (o.backlog) }
                "OCSP responses due for refresh"
                @if let Some(t) = o.oldest_due { " (oldest due " (ago(now - t)) " ago)" }
            }
            div class="card" {
                span class="n" { (format!("{:.2} ms", o.db_ms)) }
                "Store read " (layout::badge(if o.db_ok { "healthy" } else { "unhealthy" }))
            }
        }
        @if !o.fleet.is_empty() {
            h2 { "Data planes" }
            div class="table-wrap" {
                table {
                    thead { tr { th { "Data plane" } th { "State" } th { "Applied" } th { "Behind" } th { "OCSP/s" } th { "KES/s" } th { "SSH/s" } } }
                    tbody {
                        @for dp in &o.fleet {
                            tr {
                                td { (dp.name) }
                                @match &dp.result {
                                    Ok(m) => {
                                        td { (layout::badge("healthy")) }
                                        td { (m.applied.map_or_else(String::new, |a| format!("{a:.0}"))) }
                                        td {
                                            (m.lag_records.map_or_else(String::new, |r| format!("{r:.0} records")))
                                            @if let Some(secs) = m.lag_seconds.filter(|s| *s > 0.0) { ", " (format!("{secs:.1} s")) }
                                        }
                                        @match dp.rates {
                                            Some([ocsp, kes, ssh]) => { td { (format!("{ocsp:.1}")) } td { (format!("{kes:.1}")) } td { (format!("{ssh:.1}")) } }
                                            None => { td colspan="3" class="hint" { "rates after the next read (5 s)" } }
                                        }
                                    }
                                    Err(e) => {
                                        td { (layout::badge("unhealthy")) }
                                        td colspan="5" class="hint" { (e) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p class="hint" { "Read from each data plane's /metrics ([[admin.console.data_planes]]) at most every 5 s." }
        }
        @if !o.positions.is_empty() {
            h2 { "Connected data planes" }
            div class="table-wrap" {
                table {
                    thead { tr { th { "Stream" } th { "Sent up to" } th { "Behind the head" } } }
                    tbody {
                        @for (i, p) in o.positions.iter().enumerate() {
                            tr { td { (i + 1) } td { (p) } td { (o.head.saturating_sub(*p)) " records" } }
                        }
                    }
                }
            }
            p class="hint" { "Positions as the control plane sends them; a data plane's own applied sequence is on its /metrics." }
        }
        h2 { "Certificate authorities" }
        div class="table-wrap" {
            table {
                thead { tr { th { "CA" } th { "Health" } th { "Issuance" } th { "CRL" } th { "CRL next update" } } }
                tbody {
                    @for ca in &o.cas {
                        tr {
                            td {
                                @if signed.can("read:cas") {
                                    a href={ "/ui/cas/" (ca.id) } { (ca.name) }
                                } @else { (ca.name) }
                                " " span class="mono hint" { (ca.id) }
                            }
                            td {
                                (layout::badge(ca.health))
                                @if let Some(e) = &ca.error { " " span class="hint" { (e) } }
                            }
                            td { (layout::badge(if ca.enabled { "enabled" } else { "disabled" })) }
                            td { @if let Some(n) = ca.crl_number { "#" (n) } @else { "none" } }
                            td {
                                @match ca.crl_next_update {
                                    Some(t) if t > now => { (layout::badge("fresh")) " " (rfc3339(t)) }
                                    Some(t) => { (layout::badge("stale")) " " (rfc3339(t)) }
                                    None => { (layout::badge("stale")) " no CRL" }
                                }
                            }
                        }
                    }
                    @if o.cas.is_empty() { tr { td colspan="5" { "No CAs yet." } } }
                }
            }
        }
    };
    Ok(layout::page(&signed, "/ui/", "Dashboard", body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_well() {
        assert_eq!(super::ago(5), "5 s");
        assert_eq!(super::ago(125), "2 min");
        assert_eq!(super::ago(7_500), "2 h 5 min");
        assert_eq!(super::ago(90_000), "1 d 1 h");
        assert_eq!(super::ago(-3), "0 s");
    }
}
