//! `--plot FILE.svg`: latency percentiles (p50, p99, p99.9) and throughput per second of the
//! measurement window, one run or several (`--compare`, `--rounds`) overlaid.

use std::path::Path;

use plotters::prelude::*;

use crate::report::Report;
use crate::stats::Percentiles;

type Quantile = fn(&Percentiles) -> u64;

/// Draws the per-second series of `runs` into an SVG file.
pub fn write_svg(path: &Path, title: &str, runs: &[&Report]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(path, (1100, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(430);

    let seconds = runs
        .iter()
        .map(|r| r.series.len())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max_latency = runs
        .iter()
        .flat_map(|r| r.series.iter().map(|s| s.latency_us.p99_9))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        / 1000.0;
    let max_rate = runs
        .iter()
        .flat_map(|r| r.series.iter().map(|s| s.throughput))
        .fold(1.0, f64::max);

    let mut lat = ChartBuilder::on(&top)
        .caption("latency per second (ms)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..seconds, 0f64..max_latency * 1.1)
        .map_err(|e| err(&e))?;
    lat.configure_mesh()
        .x_desc("second")
        .y_desc("ms")
        .draw()
        .map_err(|e| err(&e))?;
    let mut rate = ChartBuilder::on(&bottom)
        .caption("throughput (successful responses/s)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..seconds, 0f64..max_rate * 1.1)
        .map_err(|e| err(&e))?;
    rate.configure_mesh()
        .x_desc("second")
        .y_desc("req/s")
        .draw()
        .map_err(|e| err(&e))?;

    for (n, r) in runs.iter().enumerate() {
        let color = Palette99::pick(n);
        let name = if runs.len() == 1 {
            String::new()
        } else {
            format!("{} ", r.target)
        };
        let at = |i: u32| f64::from(i) + 0.5;
        let quantiles: [(&str, Quantile, u32); 3] = [
            ("p50", |p| p.p50, 1),
            ("p99", |p| p.p99, 2),
            ("p99.9", |p| p.p99_9, 3),
        ];
        for (label, get, width) in quantiles {
            let points = r
                .series
                .iter()
                .map(|s| (at(s.second), get(&s.latency_us) as f64 / 1000.0));
            let style = color.stroke_width(width);
            lat.draw_series(LineSeries::new(points, style))
                .map_err(|e| err(&e))?
                .label(format!("{name}{label}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        let points = r.series.iter().map(|s| (at(s.second), s.throughput));
        let style = color.stroke_width(2);
        rate.draw_series(LineSeries::new(points, style))
            .map_err(|e| err(&e))?
            .label(format!("{name}req/s"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for chart in [&mut lat, &mut rate] {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
