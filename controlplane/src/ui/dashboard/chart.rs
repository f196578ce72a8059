//! The dashboard's chart of certificates issued and revoked per day: an SVG drawn on the
//! server (no script, no inline style: colours come from the stylesheet's classes), with the
//! figures also in a table for screen readers and for reading exact numbers.

use maud::{html, Markup};

use super::stats::DAYS;

const WIDTH: u64 = 700;
const HEIGHT: u64 = 160;
const TOP: u64 = 12;
const BOTTOM: u64 = 22;

/// `MM-DD` of the day `back` days before `today` (days since the Unix epoch, UTC).
fn label(today: i64, back: i64) -> String {
    let date = sigil_shared::time::rfc3339((today - back) * 86_400);
    date.get(5..10).unwrap_or("").to_string()
}

/// Bars for `issued` and `revoked` per day (oldest first, the last is the day of `now`).
pub fn issued_and_revoked(issued: &[u64; DAYS], revoked: &[u64; DAYS], now: i64) -> Markup {
    let today = now.div_euclid(86_400);
    let max = issued
        .iter()
        .chain(revoked)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = WIDTH / DAYS as u64;
    let bar = slot * 2 / 5;
    let h = |n: u64| (n * plot).div_ceil(max);
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="chart-title" preserveAspectRatio="none" {
                title id="chart-title" { "Certificates issued and revoked per day, last " (DAYS) " days; busiest day " (max) }
                line class="axis" x1="0" y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) {}
                @for d in 0..DAYS {
                    @let x = d as u64 * slot + slot / 10;
                    @let day = label(today, (DAYS - 1 - d) as i64);
                    rect class="bar-issued" x=(x) y=(HEIGHT - BOTTOM - h(issued[d])) width=(bar) height=(h(issued[d])) {
                        title { (day) ": " (issued[d]) " issued" }
                    }
                    rect class="bar-revoked" x=(x + bar) y=(HEIGHT - BOTTOM - h(revoked[d])) width=(bar) height=(h(revoked[d])) {
                        title { (day) ": " (revoked[d]) " revoked" }
                    }
                    @if d % 2 == (DAYS - 1) % 2 {
                        text class="tick" x=(x + bar) y=(HEIGHT - 6) text-anchor="middle" { (day) }
                    }
                }
            }
            figcaption {
                span class="key issued" {} " issued · "
                span class="key revoked" {} " revoked · highest bar " (max) " a day"
            }
            details {
                summary { "Figures" }
                div class="table-wrap" {
                    table {
                        thead { tr { th { "Day (UTC)" } th { "Issued" } th { "Revoked" } } }
                        tbody {
                            @for d in (0..DAYS).rev() {
                                tr { td { (label(today, (DAYS - 1 - d) as i64)) } td { (issued[d]) } td { (revoked[d]) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_label_days() {
        let mut issued = [0; DAYS];
        let mut revoked = [0; DAYS];
        issued[DAYS - 1] = 10;
        revoked[DAYS - 1] = 5;
        let now = 20_000 * 86_400 + 3600; // 2024-10-04
        let svg = issued_and_revoked(&issued, &revoked, now).into_string();
        let plot = HEIGHT - TOP - BOTTOM;
        assert!(svg.contains(&format!("height=\"{plot}\"")), "{svg}");
        assert!(svg.contains(&format!("height=\"{}\"", plot / 2)), "{svg}");
        assert!(
            svg.contains("10-04: 10 issued") && svg.contains("09-21"),
            "{svg}"
        );
    }
}
