//! `eval`: measurements of a trained run, written as `eval.json` and `eval.md` in its folder.
//!
//! - 2-D runs: the exact average log-likelihood of held-out samples under the EBM normalised
//!   on a grid (nats; the optimum, E_p[log p], beside it where known), the modes that
//!   EBM-revised samples reach (mixtures), and the reconstruction error of held-out points.
//! - Image runs:
//!   - Fréchet distance (squared, in feature units²) between the classifier features of n
//!     training images and of n generator samples g(z), and of their x-Langevin revisions
//!     (docs/reference.md: FID against training-set statistics, for both), and of the held-out images
//!     (the floor: real against real at this n). The features come from
//!     our own classifier ([`crate::eval::feature_net`]), not Inception: the numbers compare
//!     runs of this tool with each other, not with published FIDs.
//!   - Reconstruction of held-out images (the Fashion-MNIST test set for `fashion-mnist`
//!     runs, else the first examples of the data), for the inference model alone (g(z₀),
//!     z₀ = μ) and after the run's z-Langevin (g(z̃)): mean squared error per value in
//!     [−1, 1], and PSNR and SSIM of the images mapped to [0, 1] (paper Fig. 3, Table 3).
//!   - Mean energies of the data, of generator samples and of revised samples.

use crate::config::{DataConfig, RunConfig};
use crate::data::DataSource;
use crate::data::toy2d::Toy2d;
use crate::eval::feature_net::{FeatureNet, shipped_path};
use crate::eval::frechet::{Gaussian, frechet_distance};
use crate::eval::grid::{Grid, average_log_likelihood, mode_coverage};
use crate::eval::ssim::mean_ssim;
use crate::nn::Engine;
use crate::session::Session;
use crate::train::Trainer;
use anyhow::Context;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// Examples per measurement of image data when the user names none.
pub const DEFAULT_IMAGES: usize = 1000;

/// `n`, or the default for `data`: [`PROGRESS_HELD_OUT`] points for 2-D data (so that `eval`
/// scores the same held-out points as `train`), [`DEFAULT_IMAGES`] images otherwise.
pub fn examples_per_measurement(n: Option<usize>, data: &DataConfig) -> usize {
    let default = match data {
        DataConfig::Toy2d { .. } => PROGRESS_HELD_OUT,
        _ => DEFAULT_IMAGES,
    };
    n.unwrap_or(default)
}

/// Evaluates the run in `dir` on `n` examples per measurement (default
/// [`examples_per_measurement`]) with the feature network at `features` (default: the
/// shipped one where it fits); returns the JSON it wrote.
pub fn eval(
    engine: Arc<Engine>,
    dir: &Path,
    n: Option<usize>,
    features: Option<&Path>,
) -> anyhow::Result<Value> {
    let session = Session::open(engine, dir)?;
    crate::say!("using the {} weights", session.weights_in_use());
    let n = examples_per_measurement(n, &session.cfg.data);
    let report = measure(&session, n, features)?;
    let report = json!({ "run": dir.display().to_string(), "iteration": session.iteration(), "weights": session.weights_in_use(), "metrics": report });
    let json_path = dir.join("eval.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let md_path = dir.join("eval.md");
    std::fs::write(&md_path, markdown(&report))
        .with_context(|| format!("cannot write {}", md_path.display()))?;
    Ok(report)
}

/// The measurements of [`eval`] for a session in memory, as a JSON object.
pub fn measure(session: &Session, n: usize, features: Option<&Path>) -> anyhow::Result<Value> {
    let (cfg, t) = (&session.cfg, &session.trainer);
    let n = n.max(2);
    match &cfg.data {
        DataConfig::Toy2d { .. } if features.is_some() => {
            let msg = "--features is for image runs; this is a 2-D run (no Fréchet distance)";
            Err(crate::config::UsageError(msg.into()).into())
        }
        DataConfig::Toy2d { toy } => toy_eval(t, toy.parse().map_err(|e| anyhow::anyhow!("{e}"))?, n),
        _ => image_eval(cfg, t, n, features),
    }
}

/// Generator samples and EBM samples, `n` of each (in batches of the run's batch size,
/// batch k from key k). EBM samples are x-Langevin revisions of the chains' starting points
/// as the run was trained: generator samples, or noise for a short-run EBM.
fn revised_samples(t: &Trainer, n: usize) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let x_cfg = t.cfg.x_langevin;
    let (mut generated, mut revised) = (Vec::new(), Vec::new());
    for key in 0..n.div_ceil(t.cfg.batch_size) as u32 {
        let g = t.generate(&t.prior_draw(key))?;
        let start = match t.cfg.x_init {
            crate::train::XInit::Generator => g.clone(),
            crate::train::XInit::Noise => t.x_chain_start(key)?,
        };
        let chain = t.revise_x(&start, &x_cfg, key)?;
        revised.extend_from_slice(chain.states.last().expect("a chain has states"));
        generated.extend(g);
    }
    let d = t.data_size();
    generated.truncate(n * d);
    revised.truncate(n * d);
    Ok((generated, revised))
}

/// Reconstructions of `data` `[count, example]`: g(z₀) (inference alone, z₀ = μ) and g(z̃)
/// after the run's z-Langevin, chunk by chunk. A run trained with noise-initialised
/// z-chains starts them from z₀ ~ N(0, I) here too, so its "inference only" values are those
/// of prior draws (see `z_chain_start` in the report).
fn reconstructions(t: &Trainer, data: &[f32]) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let z_cfg = t.cfg.z_langevin;
    let (mut first, mut last) = (Vec::with_capacity(data.len()), Vec::with_capacity(data.len()));
    for (k, chunk) in data.chunks(t.cfg.batch_size * t.data_size()).enumerate() {
        let chain = t.infer_z(chunk, &z_cfg, k as u32, true)?;
        first.extend(t.generate(&chain.states[0])?);
        last.extend(t.generate(chain.states.last().expect("a chain has states"))?);
    }
    Ok((first, last))
}

/// Where the run's z-chains start, for the report.
fn z_chain_start(t: &Trainer) -> &'static str {
    match t.cfg.z_init {
        crate::train::ZInit::Inference => "inference model, z0 = mu(x)",
        crate::train::ZInit::Noise => "noise, z0 ~ N(0, I) (the *_inference_only values are of these)",
    }
}

/// Mean squared error per value.
fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>() / a.len().max(1) as f64
}

fn mean_energy(t: &Trainer, x: &[f32]) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for chunk in x.chunks(t.cfg.batch_size * t.data_size()) {
        total += t.energy(chunk, false)?.0.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    Ok(total / (x.len() / t.data_size()) as f64)
}

/// Held-out points of a toy: the same set for `eval` and for the measurements during training.
pub(crate) fn held_out(toy: Toy2d, n: usize) -> Vec<[f32; 2]> {
    toy.sample(n, 0x5EED_0E7A)
}

/// The average log-likelihood (nats) of `points` under the EBM normalised on the toy's grid.
async fn toy_log_likelihood(t: &Trainer, toy: Toy2d, points: &[[f32; 2]]) -> anyhow::Result<f64> {
    let grid = Grid::for_toy(toy);
    let energies = t.energies_async(&grid.points()).await?;
    Ok(average_log_likelihood(&grid, &energies, points))
}

/// E_p[log p] on `points`, where it is known: exact for the checkerboard, the mixture's own
/// density on the points for the gaussian mixtures.
fn optimum_log_likelihood(toy: Toy2d, points: &[[f32; 2]]) -> Option<f64> {
    match toy {
        Toy2d::Checkerboard => Some(-(32f64).ln()),
        _ => toy.modes().map(|m| points.iter().map(|&x| m.log_density(x)).sum::<f64>() / points.len() as f64),
    }
}

/// Held-out examples of the measurements during training (`schedule.eval_every`): points
/// for 2-D data, images (and generator samples) for the Fréchet distances.
pub const PROGRESS_HELD_OUT: usize = 10_000;
pub const PROGRESS_IMAGES: usize = 500;

/// The measurements made during training (`schedule.eval_every`): the fields that apply to
/// the run's data are set, the others are `None` and left out of `metrics.jsonl`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Progress {
    /// 2-D data: held-out log-likelihood (nats) of the trained weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_likelihood: Option<f64>,
    /// Of the weight averages, when the run keeps them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_likelihood_ema: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimum_log_likelihood: Option<f64>,
    /// 28×28 grey images: Fréchet distances to training images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frechet_generator_samples: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frechet_revised_samples: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frechet_examples: Option<usize>,
    /// The weights the Fréchet distances were measured with, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frechet_weights: Option<String>,
}

/// The measurements during training. 2-D data: the held-out log-likelihood of the trained
/// weights, of the averaged weights when the run keeps them, and the optimum. 28×28 grey
/// images (the shipped feature network): the Fréchet distances of generator samples and of
/// their x-Langevin revisions to training images, on [`PROGRESS_IMAGES`] of each, with the
/// averaged weights when the run keeps them. Other data: none.
pub fn measure_progress(s: &mut Session) -> anyhow::Result<Progress> {
    crate::gpu::wait_for(measure_progress_async(s))
}

/// [`measure_progress`] as a future (the app's worker). The image measurements block (they
/// are made on the desktop only).
pub async fn measure_progress_async(s: &mut Session) -> anyhow::Result<Progress> {
    let Some(toy) = s.toy() else { return image_progress(s) };
    let points = held_out(toy, PROGRESS_HELD_OUT);
    s.trainer.keep_state(true);
    let trained = toy_log_likelihood(&s.trainer, toy, &points).await;
    s.trainer.keep_state(false);
    let trained = trained?;
    let averaged = s
        .with_averages_async(async |s, on| match on {
            true => Some(toy_log_likelihood(&s.trainer, toy, &points).await),
            false => None,
        })
        .await;
    Ok(Progress {
        log_likelihood: Some(trained),
        log_likelihood_ema: averaged.transpose()?,
        optimum_log_likelihood: optimum_log_likelihood(toy, &points),
        ..Progress::default()
    })
}

/// [`measure_progress`] as the fields of a `metrics.jsonl` line: the training loop's probe.
pub fn progress(s: &mut Session) -> anyhow::Result<serde_json::Map<String, Value>> {
    match serde_json::to_value(measure_progress(s)?)? {
        Value::Object(fields) => Ok(fields),
        _ => unreachable!("Progress serialises to an object"),
    }
}

/// The image part of [`measure_progress`].
fn image_progress(s: &mut Session) -> anyhow::Result<Progress> {
    let shape = s.shape;
    let Some(path) = shipped_path().filter(|_| [shape.c, shape.h, shape.w] == [1, 28, 28]) else {
        return Ok(Progress::default());
    };
    let n = PROGRESS_IMAGES;
    let (net, _) = FeatureNet::load(s.trainer.engine.clone(), &path, 100)?;
    let stats = |x: &[f32]| -> anyhow::Result<Gaussian> {
        Ok(Gaussian::fit(&net.features_checked(x, [shape.c, shape.h, shape.w], &path)?, net.spec.features))
    };
    let real = stats(&s.data()?.examples(n, s.cfg.train.seed ^ 0xFEA7))?;
    let (generated, revised, weights) =
        s.with_averages(|s, _| revised_samples(&s.trainer, n).map(|(g, r)| (g, r, s.weights_in_use())))?;
    Ok(Progress {
        frechet_generator_samples: Some(frechet_distance(&real, &stats(&generated)?)),
        frechet_revised_samples: Some(frechet_distance(&real, &stats(&revised)?)),
        frechet_examples: Some(real.n),
        frechet_weights: Some(weights),
        ..Progress::default()
    })
}

fn toy_eval(t: &Trainer, toy: Toy2d, n: usize) -> anyhow::Result<Value> {
    let held_out = held_out(toy, n);
    let ll = crate::gpu::wait_for(toy_log_likelihood(t, toy, &held_out))?;
    let optimum = optimum_log_likelihood(toy, &held_out);
    let (_, revised) = revised_samples(t, n.min(8 * t.cfg.batch_size))?;
    let points: Vec<f32> = held_out.iter().flatten().copied().collect();
    let (first, last) = reconstructions(t, &points)?;
    let mut out = json!({
        "data": toy.name(),
        "held_out_samples": n,
        "log_likelihood_nats": ll,
        "optimum_log_likelihood_nats": optimum,
        "z_langevin_steps": t.cfg.z_langevin.steps,
        "z_chain_start": z_chain_start(t),
        "reconstruction_mse_inference_only": mse(&first, &points),
        "reconstruction_mse_after_z_langevin": mse(&last, &points),
    });
    if let Some(m) = toy.modes() {
        let samples: Vec<[f32; 2]> = revised.chunks(2).map(|c| [c[0], c[1]]).collect();
        let c = mode_coverage(&samples, &m.centres, m.std, 3.0);
        out["revised_samples"] = json!(samples.len());
        out["modes"] = json!(m.centres.len());
        out["modes_reached_by_revised_samples"] = json!(c.modes_reached);
        out["revised_samples_near_a_mode"] = json!(c.near_fraction);
    }
    Ok(out)
}

fn image_eval(cfg: &RunConfig, t: &Trainer, n: usize, features: Option<&Path>) -> anyhow::Result<Value> {
    let (train, _) = DataSource::load(&cfg.data, t.cfg.batch_size, t.cfg.seed)?;
    let (held_out, source) = match &cfg.data {
        DataConfig::FashionMnist { .. } => {
            let (set, _) = crate::data::fashion_mnist(false)?;
            (set.batch(&(0..n.min(set.len())).collect::<Vec<_>>()), "Fashion-MNIST test set")
        }
        _ => (train.examples(n, t.cfg.seed), "first examples of the training data"),
    };
    let shape = train.example_shape();
    let (first, last) = reconstructions(t, &held_out)?;
    let ssim = |x: &[f32]| mean_ssim(x, &held_out, shape.c, shape.h, shape.w);
    // Pixels in [−1, 1] map to [0, 1] by (x + 1)/2, which divides squared errors by 4.
    let psnr = |mse: f64| 10.0 * (1.0 / (mse / 4.0)).log10();
    let (mse0, mse1) = (mse(&first, &held_out), mse(&last, &held_out));
    let (generated, revised) = revised_samples(t, n)?;
    let mut out = json!({
        "held_out": source,
        "examples": held_out.len() / t.data_size(),
        "z_langevin_steps": t.cfg.z_langevin.steps,
        "z_chain_start": z_chain_start(t),
        "reconstruction_mse_inference_only": mse0,
        "reconstruction_mse_after_z_langevin": mse1,
        "psnr_db_inference_only": psnr(mse0),
        "psnr_db_after_z_langevin": psnr(mse1),
        "ssim_inference_only": ssim(&first),
        "ssim_after_z_langevin": ssim(&last),
        "mean_energy_data": mean_energy(t, &held_out)?,
        "mean_energy_generator_samples": mean_energy(t, &generated)?,
        "mean_energy_revised_samples": mean_energy(t, &revised)?,
    });
    let path = features
        .map(Path::to_path_buf)
        .or_else(|| shipped_path().filter(|_| [shape.c, shape.h, shape.w] == [1, 28, 28]));
    let Some(path) = path else {
        out["frechet_distance"] = json!(format!(
            "not measured: no feature network for {}×{}×{} images; pass --features FILE",
            shape.c, shape.h, shape.w
        ));
        return Ok(out);
    };
    let (net, info) = FeatureNet::load(t.engine.clone(), &path, 100)?;
    let real = train.examples(n, t.cfg.seed ^ 0xFEA7);
    let stats = |x: &[f32]| -> anyhow::Result<Gaussian> {
        Ok(Gaussian::fit(&net.features_checked(x, [shape.c, shape.h, shape.w], &path)?, net.spec.features))
    };
    let real = stats(&real)?;
    out["feature_network"] = json!(path.display().to_string());
    out["feature_network_test_accuracy"] = json!(info.test_accuracy);
    out["frechet_examples"] = json!(real.n);
    if real.n < 2 * net.spec.features {
        out["frechet_note"] = json!(format!(
            "{} examples for {} features: the covariances are poorly estimated and the distances biased \
             upwards; compare only runs measured with the same n, and prefer --n {} or more",
            real.n,
            net.spec.features,
            4 * net.spec.features
        ));
    }
    out["frechet_distance_generator_samples"] = json!(frechet_distance(&real, &stats(&generated)?));
    out["frechet_distance_revised_samples"] = json!(frechet_distance(&real, &stats(&revised)?));
    // The floor at this n: real images against other real images.
    out["frechet_distance_held_out_data"] = json!(frechet_distance(&real, &stats(&held_out)?));
    Ok(out)
}

fn markdown(report: &Value) -> String {
    let mut md = format!(
        "# Evaluation of {} (iteration {}, {} weights)\n\n{}\n| metric | value |\n|---|---|\n",
        report["run"].as_str().unwrap_or("?"),
        report["iteration"],
        report["weights"].as_str().unwrap_or("trained"),
        legend(report["metrics"].get("log_likelihood_nats").is_some()),
    );
    if let Some(m) = report["metrics"].as_object() {
        for (k, v) in m {
            let value = match v.as_f64() {
                Some(f) if v.is_f64() => format!("{f:.4}"),
                _ => v.to_string(),
            };
            md.push_str(&format!("| {k} | {value} |\n"));
        }
    }
    md
}

/// What `eval.md`'s metrics mean, for a 2-D run or an image run.
fn legend(two_d: bool) -> &'static str {
    match two_d {
        true => {
            "- `log_likelihood_nats`: average log-density of the held-out points under the EBM, \
                 normalised on the evaluation grid (nats; higher is better); \
                 `optimum_log_likelihood_nats`: the same under the data's own density, the most a model can reach.\n\
                 - `modes_reached_by_revised_samples`, `revised_samples_near_a_mode` (mixtures): modes with a \
                 revised sample within 3 standard deviations, and the share of samples that are, of \
                 `revised_samples` (n, at most 8 batches).\n\
                 - `reconstruction_mse_*`: mean squared error per coordinate of the held-out points; \
                 `*_inference_only`: g(z₀) at the start of the z-chain; `*_after_z_langevin`: g(z̃) after it.\n"
        }
        false => {
            "- `frechet_distance_*`: squared Fréchet distance between Gaussians fitted to classifier \
                  features of training images and of the named images (feature units²; lower is better). \
                  Computed with our own feature network, so it is not FID and not comparable with published \
                  FIDs; `frechet_distance_held_out_data` (real against real) is the floor at this n.\n\
                  - `reconstruction_mse_*`: mean squared error per value, images in [−1, 1]; `psnr_db_*` and \
                  `ssim_*` (higher is better) of the images mapped to [0, 1].\n\
                  - `*_inference_only`: g(z₀) at the start of the z-chain; `*_after_z_langevin`: g(z̃) after it.\n\
                  - `mean_energy_*`: E(x) = −f(x), lower is more probable.\n"
        }
    }
}
