//! `eval`: measurements of a trained run, written as `eval.json` and `eval.md` in its folder.
//!
//! - 2-D runs: the exact average log-likelihood of held-out samples under the EBM normalised
//!   on a grid (nats; the optimum, E_p[log p], beside it where known) and the modes that
//!   EBM-revised samples reach (mixtures).
//! - Image runs: reconstruction error of held-out images (the Fashion-MNIST test set for
//!   `fashion-mnist` runs, else the first examples of the data) for the inference model
//!   alone (g(z₀), z₀ = μ) and after the run's z-Langevin (g(z̃)): mean squared error per
//!   value in [−1, 1], and PSNR of the images mapped to [0, 1]; mean energies of the data,
//!   of generator samples and of revised samples.
//!
//! Fréchet distances of generated images and SSIM are not measured yet.

use crate::config::{DataConfig, RunConfig};
use crate::data::DataSource;
use crate::data::toy2d::Toy2d;
use crate::eval::grid::{Grid, average_log_likelihood, mode_coverage};
use crate::nn::Engine;
use crate::train::Trainer;
use anyhow::Context;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// Evaluates the run in `dir` on `n` held-out examples; returns the JSON it wrote.
pub fn eval(engine: Arc<Engine>, dir: &Path, n: usize) -> anyhow::Result<Value> {
    let (cfg, t) = crate::run::open_run(engine, dir)?;
    let n = n.max(1);
    let report = match &cfg.data {
        DataConfig::Toy2d { toy } => toy_eval(&t, toy.parse().map_err(|e| anyhow::anyhow!("{e}"))?, n)?,
        _ => image_eval(&cfg, &t, n)?,
    };
    let report = json!({ "run": dir.display().to_string(), "iteration": t.iteration, "metrics": report });
    let json_path = dir.join("eval.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let md_path = dir.join("eval.md");
    std::fs::write(&md_path, markdown(&report))
        .with_context(|| format!("cannot write {}", md_path.display()))?;
    Ok(report)
}

/// The x-Langevin revision of `chunks` batches of generator samples, flattened.
fn revised_samples(t: &Trainer, chunks: u32) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let x_cfg = t.cfg.x_langevin.langevin(t.cfg.parameterisation);
    let (mut generated, mut revised) = (Vec::new(), Vec::new());
    for key in 0..chunks {
        let g = t.generate(&t.prior_draw(key))?;
        let chain = t.revise_x(&g, &x_cfg, key)?;
        revised.extend_from_slice(chain.states.last().expect("a chain has states"));
        generated.extend(g);
    }
    Ok((generated, revised))
}

fn toy_eval(t: &Trainer, toy: Toy2d, n: usize) -> anyhow::Result<Value> {
    let grid = Grid::for_toy(toy);
    let energies = crate::run::grid_energies(t, &grid)?;
    let held_out = toy.sample(n, 0x5EED_0E7A);
    let ll = average_log_likelihood(&grid, &energies, &held_out);
    let optimum = match toy {
        Toy2d::Checkerboard => Some(-(32f64).ln()),
        _ => toy.modes().map(|m| held_out.iter().map(|&x| m.log_density(x)).sum::<f64>() / n as f64),
    };
    let chunks = n.div_ceil(t.cfg.batch_size).min(8) as u32;
    let (_, revised) = revised_samples(t, chunks)?;
    let mut out = json!({
        "data": toy.name(),
        "held_out_samples": n,
        "log_likelihood_nats": ll,
        "optimum_log_likelihood_nats": optimum,
    });
    if let Some(m) = toy.modes() {
        let samples: Vec<[f32; 2]> = revised.chunks(2).map(|c| [c[0], c[1]]).collect();
        let c = mode_coverage(&samples, &m.centres, m.std, 3.0);
        out["modes"] = json!(m.centres.len());
        out["modes_reached_by_revised_samples"] = json!(c.modes_reached);
        out["revised_samples_near_a_mode"] = json!(c.near_fraction);
    }
    Ok(out)
}

fn image_eval(cfg: &RunConfig, t: &Trainer, n: usize) -> anyhow::Result<Value> {
    let (data, source) = match &cfg.data {
        DataConfig::FashionMnist { .. } => {
            let (set, _) = crate::data::fashion_mnist(false)?;
            (set.batch(&(0..n.min(set.len())).collect::<Vec<_>>()), "Fashion-MNIST test set")
        }
        other => {
            let (ds, _) = DataSource::load(other, t.cfg.batch_size, t.cfg.seed)?;
            (ds.examples(n, t.cfg.seed), "first examples of the training data")
        }
    };
    let d = t.data_size();
    let z_cfg = t.cfg.z_langevin.langevin(t.cfg.parameterisation);
    let (mut se0, mut se, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    let count = data.len() / d;
    for (k, chunk) in data.chunks(t.cfg.batch_size * d).enumerate() {
        let chain = t.infer_z(chunk, &z_cfg, k as u32, true)?;
        let first = t.generate(&chain.states[0])?;
        let last = t.generate(chain.states.last().expect("a chain has states"))?;
        se0 += first.iter().zip(chunk).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>();
        se += last.iter().zip(chunk).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>();
        energy += t.energy(chunk, false)?.0.iter().map(|&e| f64::from(e)).sum::<f64>();
    }
    let values = (count * d) as f64;
    let (mse0, mse) = (se0 / values, se / values);
    // Pixels in [−1, 1] map to [0, 1] by (x + 1)/2, which divides squared errors by 4.
    let psnr = |mse: f64| 10.0 * (1.0 / (mse / 4.0)).log10();
    let (generated, revised) = revised_samples(t, 1)?;
    let mean_energy = |x: &[f32]| -> anyhow::Result<f64> {
        let e = t.energy(x, false)?.0;
        Ok(e.iter().map(|&v| f64::from(v)).sum::<f64>() / e.len() as f64)
    };
    Ok(json!({
        "held_out": source,
        "examples": count,
        "z_langevin_steps": z_cfg.steps,
        "reconstruction_mse_inference_only": mse0,
        "reconstruction_mse_after_z_langevin": mse,
        "psnr_db_inference_only": psnr(mse0),
        "psnr_db_after_z_langevin": psnr(mse),
        "mean_energy_data": energy / count as f64,
        "mean_energy_generator_samples": mean_energy(&generated)?,
        "mean_energy_revised_samples": mean_energy(&revised)?,
    }))
}

fn markdown(report: &Value) -> String {
    let mut md = format!(
        "# Evaluation of {} (iteration {})\n\n| metric | value |\n|---|---|\n",
        report["run"].as_str().unwrap_or("?"),
        report["iteration"]
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
