//! `eval --samples FILE.npy`: measurements of samples from any tool (another model, another
//! implementation, a PyTorch port) against the reference statistics `eval` uses for a run of
//! the same data, with no model of ours involved.
//!
//! - Images: the squared Fréchet distance between Gaussians fitted to the feature network's
//!   features of the samples and of `n` training images (the same images, drawn with the same
//!   seed, as `eval` of a run with this configuration), and the floor: the distance of as
//!   many held-out real images as there are samples (the distance is biased upwards at small
//!   numbers, so the floor is taken at the samples' number).
//! - 2-D data, the measures that need no energy: the modes the samples reach and the
//!   fraction near a mode (mixtures, as `eval` counts them for revised samples); the total
//!   variation distance between the histograms of the samples and of `n` held-out points on a
//!   [`HISTOGRAM_CELLS`]² grid over the toy's box, with its floor (two held-out sets of the
//!   same sizes); the Fréchet distance between Gaussians fitted to the points themselves.

use crate::config::{DataConfig, RunConfig};
use crate::data::DataSource;
use crate::data::toy2d::Toy2d;
use crate::eval::feature_net::{FeatureNet, shipped_path};
use crate::eval::frechet::{Gaussian, frechet_distance};
use crate::eval::grid::{Grid, mode_coverage};
use crate::nn::{Engine, Shape};
use anyhow::bail;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// Cells per side of the 2-D histograms (fewer than the log-likelihood grid's: the histograms
/// are of samples, and need several per cell).
pub const HISTOGRAM_CELLS: usize = 20;

/// Image samples beyond ±this are in another scale (0…255, say). Within it they may leave
/// [−1, 1]: x-Langevin revisions do, by the noise of their last step.
const SCALE_BOUND: f32 = 1.5;

/// Measures the samples `values` (`shape` as read from `path`) against the reference
/// statistics of `cfg`'s data, `n` reference examples; `features` as for `eval`. The
/// samples must be `[N, C, H, W]` of the data's image shape, or `[N, 2]` for 2-D data, with
/// N ≥ 2, images in the data scale [−1, 1] (values beyond ±[`SCALE_BOUND`] are an error).
pub fn eval_samples(
    engine: Arc<Engine>,
    cfg: &RunConfig,
    path: &Path,
    shape: &[usize],
    values: &[f32],
    n: usize,
    features: Option<&Path>,
) -> anyhow::Result<Value> {
    let n = n.max(2);
    match &cfg.data {
        DataConfig::Toy2d { toy } => {
            if features.is_some() {
                let msg =
                    "--features is for image data; this configuration's data is 2-D (no feature network)";
                return Err(crate::config::UsageError(msg.into()).into());
            }
            let toy: Toy2d = toy.parse().map_err(|e| crate::config::UsageError(format!("data.toy: {e}")))?;
            let count = check_shape(path, shape, Shape::flat(2))?;
            let samples: Vec<[f32; 2]> = values.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
            debug_assert_eq!(samples.len(), count);
            Ok(toy_measures(toy, &samples, n))
        }
        data => image_measures(engine, cfg, data, path, shape, values, n, features),
    }
}

/// The number of samples in an array of `shape`, which must be `[N, …example]` with N ≥ 2.
fn check_shape(path: &Path, shape: &[usize], example: Shape) -> anyhow::Result<usize> {
    let want: Vec<usize> = if example.h == 1 && example.w == 1 {
        vec![example.c]
    } else {
        vec![example.c, example.h, example.w]
    };
    if shape.len() != want.len() + 1 || shape[1..] != want[..] {
        let dims: Vec<String> = want.iter().map(usize::to_string).collect();
        bail!(
            "{} holds an array of shape {shape:?}; samples of this data need [N, {}]",
            path.display(),
            dims.join(", ")
        );
    }
    if shape[0] < 2 {
        bail!("{} holds {} sample(s); the statistics need at least 2", path.display(), shape[0]);
    }
    Ok(shape[0])
}

fn toy_measures(toy: Toy2d, samples: &[[f32; 2]], n: usize) -> Value {
    let held_out = super::run_eval::held_out(toy, n);
    // A second held-out set of the samples' size: the floor of the histogram distance.
    let other = toy.sample(samples.len(), 0x5EED_F100);
    let (lo, hi) = toy.domain();
    let grid = Grid::new(lo, hi, HISTOGRAM_CELLS);
    let inside = samples.iter().filter(|x| (0..2).all(|d| x[d] >= lo[d] && x[d] <= hi[d])).count();
    let fit = |p: &[[f32; 2]]| Gaussian::fit(&p.iter().flatten().copied().collect::<Vec<_>>(), 2);
    let mut out = json!({
        "data": toy.name(),
        "samples": samples.len(),
        "held_out_samples": held_out.len(),
        "histogram_cells": HISTOGRAM_CELLS * HISTOGRAM_CELLS,
        "histogram_total_variation": total_variation(&grid, samples, &held_out),
        "histogram_total_variation_held_out_data": total_variation(&grid, &other, &held_out),
        "fraction_inside_box": inside as f64 / samples.len() as f64,
        "frechet_distance_points": frechet_distance(&fit(&held_out), &fit(samples)),
    });
    if let Some(m) = toy.modes() {
        let c = mode_coverage(samples, &m.centres, m.std, 3.0);
        out["modes"] = json!(m.centres.len());
        out["modes_reached"] = json!(c.modes_reached);
        out["samples_near_a_mode"] = json!(c.near_fraction);
    }
    out
}

/// ½ Σ |p − q| of the two sets' histograms on `grid` (points outside the box count in the
/// nearest edge cell, as the grid places them).
fn total_variation(grid: &Grid, a: &[[f32; 2]], b: &[[f32; 2]]) -> f64 {
    let hist = |p: &[[f32; 2]]| {
        let mut h = vec![0.0f64; grid.len()];
        for x in p.iter().filter(|x| x[0].is_finite() && x[1].is_finite()) {
            h[grid.cell_index(*x)] += 1.0 / p.len() as f64;
        }
        h
    };
    let (ha, hb) = (hist(a), hist(b));
    0.5 * ha.iter().zip(&hb).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

#[allow(clippy::too_many_arguments)]
fn image_measures(
    engine: Arc<Engine>,
    cfg: &RunConfig,
    data: &DataConfig,
    path: &Path,
    shape: &[usize],
    values: &[f32],
    n: usize,
    features: Option<&Path>,
) -> anyhow::Result<Value> {
    let (train, _) = DataSource::load(data, cfg.train.batch_size, cfg.train.seed)?;
    let example = train.example_shape();
    let count = check_shape(path, shape, example)?;
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    if lo < -SCALE_BOUND || hi > SCALE_BOUND {
        bail!(
            "{} has values in [{lo}, {hi}]; samples must be in the data scale [−1, 1] (±{SCALE_BOUND} at most; from [0, 1]: 2x − 1; from 0…255: x/127.5 − 1)",
            path.display()
        );
    }
    let img = [example.c, example.h, example.w];
    let feature_path =
        features.map(Path::to_path_buf).or_else(|| shipped_path().filter(|_| img == [1, 28, 28]));
    let Some(feature_path) = feature_path else {
        bail!(
            "no feature network for {}×{}×{} images; pass --features FILE (a train-classifier network)",
            img[0],
            img[1],
            img[2]
        );
    };
    let (net, info) = FeatureNet::load(engine, &feature_path, 100)?;
    let stats = |x: &[f32]| -> anyhow::Result<Gaussian> {
        Ok(Gaussian::fit(&net.features_checked(x, img, &feature_path)?, net.spec.features))
    };
    // The reference images of `eval` (run_eval::image_eval): the same draw from the same seed.
    let real = stats(&train.examples(n, cfg.train.seed ^ 0xFEA7))?;
    // The floor: as many held-out real images as there are samples (a distance measured
    // with fewer images is biased upwards, so the floor must be at the samples' number).
    let held_out = match data {
        DataConfig::FashionMnist { .. } => {
            let (set, _) = crate::data::fashion_mnist(false)?;
            set.batch(&(0..count.min(set.len())).collect::<Vec<_>>())
        }
        _ => train.examples(count, cfg.train.seed),
    };
    let held_out_examples = held_out.len() / img.iter().product::<usize>();
    let mut out = json!({
        "samples": count,
        "frechet_examples": real.n,
        "feature_network": feature_path.display().to_string(),
        "feature_network_test_accuracy": info.test_accuracy,
        "frechet_distance_samples": frechet_distance(&real, &stats(values)?),
        "frechet_distance_held_out_data": frechet_distance(&real, &stats(&held_out)?),
        "held_out_examples": held_out_examples,
    });
    if count.min(real.n) < 2 * net.spec.features {
        out["frechet_note"] = json!(format!(
            "{} samples and {} reference images for {} features: the covariances are poorly estimated and \
             the distance biased upwards; compare only distances measured with the same numbers",
            count, real.n, net.spec.features
        ));
    }
    Ok(out)
}
