//! `bench train`: seconds per training iteration and where they go, for the 2-D preset and
//! a small image preset.

use super::median_seconds;
use crate::config::RunConfig;
use crate::nn::Engine;
use crate::session::Session;
use crate::train::Phase;
use std::sync::Arc;

/// PyTorch on the CPU of the project's 2-core machine, same 2-D iteration (issue 4's figure).
const PYTORCH_2D_SECONDS: f64 = 0.018;

/// Times `reps` iterations of a preset (with `overrides`) and prints the figures.
fn one(engine: &Arc<Engine>, preset: &str, overrides: &[&str], reps: usize) -> anyhow::Result<f64> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let cfg = RunConfig::resolve(RunConfig::preset(preset)?, &overrides, preset)?;
    let t = &cfg.train;
    println!(
        "preset {preset}: {:?}, batch {}, 2×{} x-steps, {} z-steps",
        cfg.model, t.batch_size, t.x_langevin.steps, t.z_langevin.steps
    );
    let mut session = Session::new(Arc::clone(engine), cfg)?;
    let g = &engine.gpu;
    session.step()?;
    let before = g.traffic();
    let secs = median_seconds(reps, || {
        session.step().expect("benchmark iteration");
    });
    let traffic = g.traffic() - before;
    let per = (reps + 1) as f64;
    println!("  {secs:.4} s per iteration");
    println!(
        "  per iteration: {:.1} submissions, {:.1} readbacks",
        traffic.submissions as f64 / per,
        traffic.readbacks as f64 / per
    );
    let batch =
        session.data()?.batch(session.iteration(), session.cfg.train.batch_size, session.cfg.train.seed);
    let (_, phases) = session.trainer.iteration_profiled(&batch)?;
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

/// `bench train`: the 2-D preset at the sizes of issue 4's PyTorch figure, and the default
/// image preset.
pub fn train(engine: &Arc<Engine>) -> anyhow::Result<()> {
    // MLPs 2→128→128→1, batch 256, 2×30 x-steps, 10 z-steps: what the PyTorch figure timed.
    let secs = one(engine, "toy2d", &[], 5)?;
    println!(
        "  PyTorch on this machine's CPU took {PYTORCH_2D_SECONDS} s for the same iteration: ours/PyTorch {:.1}",
        secs / PYTORCH_2D_SECONDS
    );
    one(engine, "fmnist", &[], 2)?;
    Ok(())
}
