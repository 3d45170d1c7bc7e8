//! `bench train`: seconds per training iteration and where they go, and for every preset the
//! dispatches per iteration and the CPU time to record one iteration.

use super::median_seconds;
use crate::config::RunConfig;
use crate::nn::Engine;
use crate::session::Session;
use crate::train::Phase;
use std::sync::Arc;

/// The session of `preset` with `overrides`, its data loaded.
pub(super) fn session(engine: &Arc<Engine>, preset: &str, overrides: &[String]) -> anyhow::Result<Session> {
    let cfg = RunConfig::resolve(RunConfig::preset(preset)?, overrides, preset)?;
    Session::new(Arc::clone(engine), cfg)
}

/// Seconds per iteration of a session (median of `reps` after one warm-up).
pub(super) fn seconds_per_iteration(session: &mut Session, reps: usize) -> f64 {
    median_seconds(reps, || {
        session.step().expect("benchmark iteration");
    })
}

/// Times `reps` iterations of a preset with `overrides` and prints the figures and the
/// split by phase.
fn one(engine: &Arc<Engine>, preset: &str, overrides: &[String], reps: usize) -> anyhow::Result<()> {
    let mut s = session(engine, preset, overrides)?;
    let t = &s.cfg.train;
    crate::put!(
        "preset {preset}: {:?}, batch {}, 2×{} x-steps, {} z-steps",
        s.cfg.model,
        t.batch_size,
        t.x_langevin.steps,
        t.z_langevin.steps
    );
    if !overrides.is_empty() {
        crate::put!("  with {}", overrides.join(", "));
    }
    let g = engine.gpu.clone();
    let before = g.traffic();
    let secs = seconds_per_iteration(&mut s, reps);
    let traffic = g.traffic() - before;
    let per = (reps + 1) as f64;
    crate::put!("  {secs:.4} s per iteration (median of {reps})");
    crate::put!(
        "  per iteration: {:.0} dispatches, {:.1} submissions, {:.1} readbacks",
        traffic.dispatches as f64 / per,
        traffic.submissions as f64 / per,
        traffic.readbacks as f64 / per
    );
    fused_against_per_layer(engine, &mut s, preset, overrides, reps)?;
    let batch = s.data()?.batch(s.iteration(), s.cfg.train.batch_size, s.cfg.train.seed);
    let (_, phases) = s.trainer.iteration_profiled(&batch)?;
    let total: f64 = phases.iter().map(|p| p.1).sum();
    let part = |ps: &[Phase]| phases.iter().filter(|p| ps.contains(&p.0)).map(|p| p.1).sum::<f64>();
    crate::put!("  split (each phase submitted and waited for on its own, total {total:.4} s):");
    for (label, ps) in [
        ("x-Langevin (both chains)", &[Phase::XTeach, Phase::XEbm][..]),
        ("z-Langevin (with q(x))", &[Phase::ZLangevin][..]),
        ("generator update", &[Phase::Generator][..]),
        ("inference update", &[Phase::Inference][..]),
        ("EBM update", &[Phase::Ebm][..]),
    ] {
        let t = part(ps);
        crate::put!("    {label:<26} {t:.4} s  ({:.0}%)", 100.0 * t / total);
    }
    kernel_split(&mut s);
    Ok(())
}

/// When the session's chains run as whole-chain kernels (an MLP preset on a CPU adapter),
/// the same preset with every chain layer by layer, timed in A B pairs in this run.
fn fused_against_per_layer(
    engine: &Arc<Engine>,
    s: &mut Session,
    preset: &str,
    overrides: &[String],
    reps: usize,
) -> anyhow::Result<()> {
    let m = &s.trainer.models;
    if !engine.fused_chains || (m.ebm.mlp_layout().is_none() && m.generator.mlp_layout().is_none()) {
        return Ok(());
    }
    let mut per_layer = Engine::new(&engine.gpu);
    per_layer.fused_chains = false;
    let mut other = session(&Arc::new(per_layer), preset, overrides)?;
    let (fused, layered) = super::median_seconds_pair(
        reps,
        || {
            s.step().expect("benchmark iteration");
        },
        || {
            other.step().expect("benchmark iteration");
        },
    );
    crate::put!(
        "  whole-chain kernels {fused:.4} s vs chains layer by layer {layered:.4} s per iteration \
         ({reps} A B pairs, medians): {:.2}× faster",
        layered / fused
    );
    Ok(())
}

/// One more iteration with every dispatch timed by the GPU's timestamps: time per kernel,
/// and the time between dispatches (the driver's cost per dispatch, barriers).
fn kernel_split(s: &mut Session) {
    let g = s.trainer.engine.gpu.clone();
    if !g.start_profile() {
        crate::put!("  (no split per kernel: the adapter has no timestamp queries)");
        return;
    }
    let stepped = s.step();
    let Some(times) = g.finish_profile().filter(|_| stepped.is_ok()) else {
        crate::put!("  (no split per kernel: the profiled iteration failed)");
        return;
    };
    let span = times.span.max(f64::MIN_POSITIVE);
    crate::put!(
        "  split by kernel (GPU timestamps, one iteration: {:.4} s from the first dispatch to the last; the 12 largest):",
        times.span
    );
    let ranked: Vec<_> = times.ranked().into_iter().take(12).collect();
    let w = ranked.iter().map(|(name, _, _)| name.chars().count()).max().unwrap_or(0).max(18);
    for (name, n, secs) in ranked {
        crate::put!("    {name:<w$} {n:>5}×  {secs:.4} s  ({:.0}%)", 100.0 * secs / span);
    }
    let between = times.span - times.inside();
    crate::put!("    {:<w$}        {between:.4} s  ({:.0}%)", "between dispatches", 100.0 * between / span);
}

/// Dispatches of one iteration and the CPU time to record it (median of `reps`), without
/// submitting: what the CPU costs a GPU that runs the kernels fast. No data is needed.
/// `batch` replaces the preset's batch size when given.
fn recording(engine: &Arc<Engine>, preset: &str, batch: Option<usize>, reps: usize) -> anyhow::Result<()> {
    // The picture grid (unused here) must fit in the batch.
    let overrides: Vec<String> = batch
        .map(|b| [format!("train.batch_size={b}"), format!("schedule.grid={}", b.isqrt().min(10))])
        .into_iter()
        .flatten()
        .collect();
    let cfg = RunConfig::resolve(RunConfig::preset(preset)?, &overrides, preset)?;
    let shape = match &cfg.model {
        crate::models::ModelConfig::Cifar10 => crate::nn::Shape::image(3, 32, 32),
        crate::models::ModelConfig::Celeba64 => crate::nn::Shape::image(3, 64, 64),
        crate::models::ModelConfig::Small { .. } => crate::nn::Shape::image(1, 28, 28),
        crate::models::ModelConfig::Mlp { .. } => crate::nn::Shape::flat(2),
    };
    let batch = cfg.train.batch_size;
    let t = &mut Session::untrained(Arc::clone(engine), cfg, shape)?.trainer;
    let g = engine.gpu.clone();
    let before = g.traffic();
    t.record_only();
    let dispatches = (g.traffic() - before).dispatches;
    let secs = median_seconds(reps, || t.record_only());
    crate::put!(
        "  {preset:<9} batch {:>3}: {dispatches:>6} dispatches per iteration, {:.4} s to record one ({:.1} µs per dispatch)",
        batch,
        secs,
        1e6 * secs / dispatches.max(1) as f64
    );
    Ok(())
}

/// `bench train`: the 2-D and the default image preset, timed (or only `preset`, with
/// `overrides` as `train --set` takes them); every preset's recording cost. The PyTorch
/// comparison is `bench compare`.
pub fn train(engine: &Arc<Engine>, preset: Option<&str>, overrides: &[String]) -> anyhow::Result<()> {
    if let Some(p) = preset {
        return one(engine, p, overrides, 5);
    }
    one(engine, "toy2d", &[], 5)?;
    one(engine, "fmnist", &[], 2)?;
    crate::put!("recording one iteration without submitting it (CPU only):");
    record_presets(engine)?;
    if engine.gpu.is_cpu() {
        // What a GPU records: its kernel variants (storage weights for convolutions).
        crate::put!("recording one iteration with the kernel variants of GPUs, as a GPU would:");
        record_presets(&Arc::new(Engine::with_gpu_variants(&engine.gpu, true)))?;
    }
    Ok(())
}

/// The recording cost of every preset with `engine`'s kernels.
fn record_presets(engine: &Arc<Engine>) -> anyhow::Result<()> {
    for preset in ["toy2d", "fmnist", "cifar10", "celeba64"] {
        // A buffer beyond the adapter's binding limits is refused: then the batch is halved
        // (the dispatches do not depend on it, except where a kernel works in chunks).
        let full = RunConfig::resolve(RunConfig::preset(preset)?, &[], preset)?.train.batch_size;
        for batch in [full, full / 2, full / 4, full / 8].into_iter().filter(|&b| b > 0) {
            match try_recording(engine, preset, batch) {
                Ok(()) => break,
                Err(why) => {
                    crate::put!("  {preset:<9} batch {batch:>3}: cannot be recorded on this adapter: {why}")
                }
            }
        }
    }
    Ok(())
}

/// [`recording`] at `batch`; a batch whose buffers the device refuses is an error
/// (`Gpu::checked`), returned as its message.
fn try_recording(engine: &Arc<Engine>, preset: &str, batch: usize) -> Result<(), String> {
    recording(engine, preset, Some(batch), 3).map_err(|e| format!("{e:#}").replace('\n', " "))
}
