//! `bench train`: seconds per training iteration and where they go, for the 2-D preset and
//! a small image preset.

use super::median_seconds;
use crate::models::ModelConfig;
use crate::nn::{Engine, Shape};
use crate::sampler::Parameterisation;
use crate::train::config::{ChainConfig, OptimConfig};
use crate::train::{GeneratorTeaching, Phase, TrainConfig, Trainer, XInit, ZInit};
use std::sync::Arc;

/// PyTorch on the CPU of the project's 2-core machine, same 2-D iteration (issue 4's figure).
const PYTORCH_2D_SECONDS: f64 = 0.018;

fn config(batch: usize, nz: usize) -> TrainConfig {
    let opt = OptimConfig { lr: 1e-4, beta1: 0.0, beta2: 0.9, weight_decay: 0.0 };
    TrainConfig {
        batch_size: batch,
        nz,
        sigma: 0.3,
        parameterisation: Parameterisation::Reference,
        x_langevin: ChainConfig { steps: 30, step_size: 0.5, noise_scale: 0.001 },
        z_langevin: ChainConfig { steps: 10, step_size: 0.1, noise_scale: 0.1 },
        x_init: XInit::Generator,
        x_noise_init_std: 1.0,
        z_init: ZInit::Inference,
        generator_teaching: GeneratorTeaching::Dual,
        ebm_optim: opt,
        generator_optim: opt,
        inference_optim: opt,
        lr_decay: 1.0,
        generator_data_weight: 1.0,
        generator_sample_weight: 1.0,
        inference_sample_weight: 0.1,
        energy_gap_bound: f32::MAX,
        seed: 1,
    }
}

/// Times `reps` iterations of one preset and prints the figures.
fn one(
    engine: &Arc<Engine>,
    name: &str,
    data: Shape,
    model: ModelConfig,
    cfg: TrainConfig,
    reps: usize,
) -> anyhow::Result<f64> {
    let models = model.build(data, cfg.nz).map_err(anyhow::Error::msg)?;
    let n = cfg.batch_size * data.size();
    let mut trainer = Trainer::new(Arc::clone(engine), cfg, models).map_err(anyhow::Error::msg)?;
    let batch: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let g = &engine.gpu;
    trainer.iteration(&batch)?;
    let before = g.traffic();
    let secs = median_seconds(reps, || {
        trainer.iteration(&batch).expect("benchmark iteration");
    });
    let traffic = g.traffic() - before;
    let per = (reps + 1) as f64;
    println!("{name}: {secs:.4} s per iteration");
    println!(
        "  per iteration: {:.1} submissions, {:.1} readbacks",
        traffic.submissions as f64 / per,
        traffic.readbacks as f64 / per
    );
    let (_, phases) = trainer.iteration_profiled(&batch)?;
    let total: f64 = phases.iter().map(|p| p.1).sum();
    let part = |ps: &[Phase]| phases.iter().filter(|p| ps.contains(&p.0)).map(|p| p.1).sum::<f64>();
    println!("  split (each phase submitted and waited for on its own, total {total:.4} s):");
    for (label, ps) in [
        ("x-Langevin (both chains)", &[Phase::XTeach, Phase::XEbm][..]),
        ("z-Langevin (with q(x))", &[Phase::ZLangevin][..]),
        ("generator update", &[Phase::Generator][..]),
        ("inference update", &[Phase::Inference][..]),
        ("EBM update", &[Phase::Ebm][..]),
    ] {
        let t = part(ps);
        println!("    {label:<26} {t:.4} s  ({:.0}%)", 100.0 * t / total);
    }
    Ok(secs)
}

pub fn train(engine: &Arc<Engine>) -> anyhow::Result<()> {
    println!(
        "2-D preset: MLPs 2→128→128→1 (and generator, inference alike), batch 256, 2×30 x-steps, 10 z-steps"
    );
    let secs = one(
        engine,
        "2-D (8 gaussians sizes)",
        Shape::flat(2),
        ModelConfig::Mlp { hidden: 128, layers: 2 },
        config(256, 2),
        5,
    )?;
    println!(
        "  PyTorch on this machine's CPU took {PYTORCH_2D_SECONDS} s for the same iteration: ratio ours/PyTorch {:.2}",
        secs / PYTORCH_2D_SECONDS
    );
    println!(
        "small image preset: 28×28×1, small conv nets (width 32, spectral norm), nz 32, batch 64, 2×30 x-steps, 10 z-steps"
    );
    one(
        engine,
        "small image",
        Shape::image(1, 28, 28),
        ModelConfig::Small { width: 32, spectral_norm: true },
        config(64, 32),
        2,
    )?;
    Ok(())
}
