//! The ablation chart, drawn with plotters into an RGB buffer, saved with `image` (fonts:
//! [`register_chart_font`]).

use super::report::{GROUPS, group_rows, was_run, x_steps};
use crate::viz::register_chart_font;
use plotters::prelude::*;
use serde_json::Value;
use std::path::Path;

/// The score the chart shows: the Fréchet distance of revised samples for image runs,
/// the grid log-likelihood for 2-D runs.
fn main_metric(report: &Value) -> (&'static str, &'static str) {
    let has = |key: &str| {
        report["variants"].as_array().is_some_and(|v| v.iter().any(|r| r["result"][key].is_number()))
    };
    if has("frechet_distance_revised_samples") {
        ("frechet_distance_revised_samples", "Fréchet distance of revised samples (lower is better)")
    } else {
        ("log_likelihood_nats", "grid log-likelihood, nats (higher is better)")
    }
}

/// One column per comparison, one bar per variant, of the report [`crate::eval::ablate`]
/// writes: the main score on top, the reconstruction error below; saved as a PNG at `path`.
pub fn ablation_chart(report: &Value, path: &Path) -> anyhow::Result<()> {
    register_chart_font();
    let (key, desc) = main_metric(report);
    let metrics =
        [(key, desc), ("reconstruction_mse_after_z_langevin", "reconstruction MSE (lower is better)")];
    let titles = ["z-chain (Table 4)", "x-chain length (Table 5)", "teaching (Table 1)"];
    let (w, h) = (1500u32, 900u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot draw {}: {e}", path.display());
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let title = format!(
            "Ablation, preset {}, {} iterations per variant, baseline in orange",
            report["preset"].as_str().unwrap_or("?"),
            report["iterations"]
        );
        let root = root.titled(&title, ("sans-serif", 22)).map_err(|e| err(&e))?;
        let subtitle = format!("top: {desc}; bottom: {}", metrics[1].1);
        let root = root.titled(&subtitle, ("sans-serif", 16)).map_err(|e| err(&e))?;
        let shown: Vec<(&str, &str)> =
            GROUPS.into_iter().zip(titles).filter(|(g, _)| was_run(report, g)).collect();
        let panels = root.split_evenly((2, shown.len().max(1)));
        for (row, (key, _)) in metrics.into_iter().enumerate() {
            for (col, (group, title)) in shown.iter().enumerate() {
                let rows: Vec<(String, f64)> = group_rows(report, group)
                    .into_iter()
                    .filter_map(|v| Some((bar_label(report, v, group), v["result"][key].as_f64()?)))
                    .collect();
                bar_panel(&panels[row * shown.len() + col], title, &rows).map_err(|e| err(&e))?;
            }
        }
        root.present().map_err(|e| err(&e))?;
    }
    let image = image::RgbImage::from_raw(w, h, buf).expect("buffer of w·h·3 bytes");
    image.save(path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// A variant's name under its bar; the baseline's says its x-chain length in the x panel.
fn bar_label(report: &Value, v: &Value, group: &str) -> String {
    let name = v["name"].as_str().unwrap_or("?");
    match (name, group) {
        ("baseline", "x") => format!("x-{} (baseline)", x_steps(report, v)),
        _ => name.to_string(),
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A bar per (label, value); the baseline's bar in orange. Nothing drawn without rows.
fn bar_panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    caption: &str,
    rows: &[(String, f64)],
) -> DrawResult {
    if rows.is_empty() {
        return Ok(());
    }
    let lo = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let hi = rows.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.15).max(hi.abs().max(1e-3) * 0.02);
    let base = if lo >= 0.0 { 0.0 } else { lo - pad };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d((0..rows.len().saturating_sub(1).max(1)).into_segmented(), base..hi + pad)?;
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let label = move |x: &SegmentValue<usize>| match x {
        SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&label)
        .x_label_style(("sans-serif", 14))
        .y_label_style(("sans-serif", 14))
        .draw()?;
    let bars = rows.iter().enumerate().map(|(i, (name, v))| {
        let colour = if name.starts_with("baseline") || name.ends_with("(baseline)") {
            RGBColor(200, 80, 40)
        } else {
            RGBColor(70, 110, 170)
        };
        let mut bar = Rectangle::new(
            [(SegmentValue::Exact(i), base), (SegmentValue::Exact(i + 1), *v)],
            colour.filled(),
        );
        bar.set_margin(0, 0, 10, 10);
        bar
    });
    chart.draw_series(bars)?;
    Ok(())
}
