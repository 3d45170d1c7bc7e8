//! `progress.png` of a run folder: the held-out measurements of `metrics.jsonl` (every
//! `schedule.eval_every` iterations) over the wall-clock time of training, so that a run's
//! learning shows at a glance: the Fréchet distances of generator and revised samples for
//! image runs, the grid log-likelihood (trained weights, averaged weights, optimum) for 2-D
//! runs. Drawn with plotters, saved with `image`.

use super::register_chart_font;
use plotters::prelude::*;
use serde_json::{Map, Value};
use std::path::Path;

/// A line of the chart: its `metrics.jsonl` key, its legend, its colour.
struct Series {
    key: &'static str,
    legend: &'static str,
    colour: RGBColor,
}

const FRECHET: [Series; 2] = [
    Series {
        key: "frechet_generator_samples",
        legend: "generator samples g(z)",
        colour: RGBColor(70, 110, 170),
    },
    Series {
        key: "frechet_revised_samples",
        legend: "revised samples (after x-Langevin)",
        colour: RGBColor(200, 80, 40),
    },
];

const LOG_LIKELIHOOD: [Series; 3] = [
    Series { key: "log_likelihood", legend: "trained weights", colour: RGBColor(70, 110, 170) },
    Series { key: "log_likelihood_ema", legend: "averaged weights", colour: RGBColor(200, 80, 40) },
    Series {
        key: "optimum_log_likelihood",
        legend: "optimum (true density)",
        colour: RGBColor(120, 120, 120),
    },
];

/// The points (minutes since the run began, value) of `key` in `rows`.
fn points(rows: &[Map<String, Value>], key: &str) -> Vec<(f64, f64)> {
    rows.iter()
        .filter_map(|r| Some((r.get("elapsed")?.as_f64()? / 60.0, r.get(key)?.as_f64()?)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// Draws the held-out measurements of `rows` (the lines of `metrics.jsonl`) over minutes of
/// training into a PNG at `path`, titled `title`. Returns false, writing nothing, when no line
/// has a measurement yet.
pub fn progress_chart(rows: &[Map<String, Value>], title: &str, path: &Path) -> anyhow::Result<bool> {
    let (series, axis): (&[Series], &str) = if rows.iter().any(|r| r.contains_key("frechet_revised_samples"))
    {
        (&FRECHET, "Fréchet distance to training images (lower is better)")
    } else {
        (&LOG_LIKELIHOOD, "held-out log-likelihood, nats (higher is better)")
    };
    let lines: Vec<(&Series, Vec<(f64, f64)>)> =
        series.iter().map(|s| (s, points(rows, s.key))).filter(|(_, p)| !p.is_empty()).collect();
    if lines.is_empty() {
        return Ok(false);
    }
    register_chart_font();
    let all = || lines.iter().flat_map(|(_, p)| p.iter());
    let t_max = all().map(|p| p.0).fold(0.0, f64::max).max(1e-3);
    let lo = all().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = all().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(hi.abs().max(1e-3) * 0.02);
    let (w, h) = (900u32, 520u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot draw {}: {e}", path.display());
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..t_max * 1.02, (lo - pad)..(hi + pad))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("minutes of training (wall clock)")
            .y_desc(axis)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
        for (s, p) in &lines {
            let colour = s.colour;
            chart
                .draw_series(LineSeries::new(p.iter().copied(), colour.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(s.legend)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
            chart.draw_series(p.iter().map(|&q| Circle::new(q, 3, colour.filled()))).map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    let image = image::RgbImage::from_raw(w, h, buf).expect("buffer of w·h·3 bytes");
    image.save(path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn nothing_is_drawn_before_the_first_measurement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress.png");
        let rows = [row(r#"{"iteration": 10, "elapsed": 5.0, "gen_loss": 1.0}"#)];
        assert!(!progress_chart(&rows, "t", &path).unwrap());
        assert!(!path.exists());
    }

    #[test]
    fn image_runs_chart_the_frechet_distances_over_minutes() {
        let rows = [
            row(r#"{"elapsed": 60.0, "frechet_generator_samples": 120.0, "frechet_revised_samples": 110.0}"#),
            row(r#"{"elapsed": 90.0, "gen_loss": 1.0}"#),
            row(r#"{"elapsed": 120.0, "frechet_generator_samples": 80.0, "frechet_revised_samples": 75.0}"#),
        ];
        assert_eq!(points(&rows, "frechet_revised_samples"), [(1.0, 110.0), (2.0, 75.0)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress.png");
        assert!(progress_chart(&rows, "t", &path).unwrap());
        let img = image::open(&path).unwrap().to_rgb8();
        // The revised samples' orange is drawn somewhere on the white background.
        assert!(img.pixels().any(|p| p.0 == [200, 80, 40]));
    }
}
