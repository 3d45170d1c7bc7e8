//! Headless training over a run folder (`dualmcmc --no-gui train`, and every `ablate`
//! variant): iterations with a progress bar, `metrics.jsonl`, pictures and checkpoints on
//! their schedule; an interruption (Ctrl-C, SIGTERM or SIGHUP) saves before it stops.

use super::{RunFolder, RunSpec, Session, pictures};
use crate::nn::Engine;
use crate::train::{IterMetrics, MAX_ROLLBACKS, TrainError};
use anyhow::{Context, bail};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C, SIGTERM or SIGHUP while [`train`] runs; polled after every iteration.
static INTERRUPTED: std::sync::LazyLock<Arc<AtomicBool>> = std::sync::LazyLock::new(Arc::default);

/// Measurements made during training every `schedule.eval_every` iterations, added to that
/// iteration's line of `metrics.jsonl` (the caller passes `eval::progress`, so that the
/// session does not depend on the evaluation code).
pub type Probe = fn(&mut Session) -> anyhow::Result<serde_json::Map<String, serde_json::Value>>;

/// Trains as `spec` says and returns the run folder. Ctrl-C (SIGINT), SIGTERM and SIGHUP stop
/// it after the current iteration, with pictures and a checkpoint.
pub fn train(engine: Arc<Engine>, spec: &RunSpec, quiet: bool, probe: Probe) -> anyhow::Result<PathBuf> {
    let (cfg, dir) = spec.resolve()?;
    let (mut session, folder) = if spec.resume.is_some() {
        let folder = RunFolder::open(&dir)?;
        let session = Session::resume(engine, &folder, &spec.set)?;
        folder.repair(session.iteration())?;
        crate::say!(
            "resuming from iteration {} (checkpoint {})",
            session.iteration(),
            folder.checkpoint().display()
        );
        (session, folder)
    } else {
        let session = Session::new(engine, cfg)?;
        let folder = RunFolder::create(&dir, &session.cfg)?;
        (session, folder)
    };
    if let Some(d) = &session.data {
        crate::say!("data: {}", d.description);
    }
    let [ebm, generator, inference] = session.num_params();
    crate::say!("networks: EBM {ebm} parameters, generator {generator}, inference model {inference}");
    crate::say!("run folder: {}", dir.display());
    #[cfg(not(target_arch = "wasm32"))] // a page has no signals
    catch_interruptions();
    INTERRUPTED.store(false, Ordering::SeqCst);
    run(&mut session, &folder, quiet, probe, &INTERRUPTED)?;
    Ok(dir)
}

/// Makes Ctrl-C, SIGTERM and SIGHUP set [`INTERRUPTED`], once per process.
///
/// On Unix each signal is caught on its own, except those the parent left ignored: `nohup`
/// ignores SIGHUP and a script's background job ignores SIGINT, and such a run should keep
/// ignoring them. (ctrlc, used before, installs all three or none, and installed none in
/// those cases, so SIGTERM killed the run without a checkpoint.)
#[cfg(unix)]
fn catch_interruptions() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ignored = inherited_ignored_signals();
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            if ignored & (1 << (sig - 1)) != 0 {
                continue;
            }
            if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&INTERRUPTED)) {
                crate::say!("warning: signal {sig} will not save a checkpoint ({e})");
            }
        }
    });
}

/// The signals this process ignores, as the bit mask of `SigIgn` in `/proc/self/status`
/// (bit n−1 for signal n); 0 where there is no such file (not Linux).
#[cfg(unix)]
fn inherited_ignored_signals() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).map(str::trim);
    mask.and_then(|m| u64::from_str_radix(m, 16).ok()).unwrap_or(0)
}

#[cfg(not(any(unix, target_arch = "wasm32")))]
fn catch_interruptions() {
    if let Err(e) = ctrlc::try_set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst)) {
        crate::say!("warning: Ctrl-C will not save a checkpoint ({e})");
    }
}

fn run(
    s: &mut Session,
    folder: &RunFolder,
    quiet: bool,
    probe: Probe,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    let schedule = s.cfg.schedule.clone();
    let start = s.iteration();
    if start >= schedule.iterations {
        crate::say!(
            "the run has done its {} iterations already (raise schedule.iterations to go on)",
            schedule.iterations
        );
        return Ok(());
    }
    let bar = crate::progress::bar(start, schedule.iterations, quiet);
    let metrics_path = folder.metrics();
    let open_metrics = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .with_context(|| format!("cannot open {}", metrics_path.display()))
    };
    let mut metrics_file = open_metrics()?;
    // A run folder always holds a checkpoint, from before the first iteration on: a run
    // stopped in any way can be resumed, and a rollback has a state to go back to.
    if !folder.checkpoint().is_file() {
        s.save(&folder.checkpoint())?;
    }
    // `elapsed` counts the run's training time across resumes: it goes on from the last line.
    let elapsed_before =
        folder.read_metrics()?.last().and_then(|m| m.get("elapsed")?.as_f64()).unwrap_or(0.0);
    let began = std::time::Instant::now();
    let mut rollbacks = 0;
    while s.iteration() < schedule.iterations {
        let t = std::time::Instant::now();
        let m = match s.step() {
            Ok(m) => m,
            Err(TrainError::Diverged(d))
                if s.cfg.train.divergence_lr_factor > 0.0 && rollbacks < MAX_ROLLBACKS =>
            {
                rollbacks += 1;
                roll_back(s, folder, &d)?;
                metrics_file = open_metrics()?; // roll_back rewrote it
                let line = format!(
                    "{}; back to iteration {} with the learning rates ×{} (rollback {rollbacks} of at most \
                     {MAX_ROLLBACKS}): EBM {}, generator {}, inference model {}",
                    d.what(),
                    s.iteration(),
                    s.cfg.train.divergence_lr_factor,
                    s.cfg.train.ebm_optim.lr,
                    s.cfg.train.generator_optim.lr,
                    s.cfg.train.inference_optim.lr
                );
                bar.suspend(|| crate::say!("{line}"));
                continue;
            }
            Err(e) => {
                bar.abandon();
                let hint = match rollbacks {
                    0 => String::new(),
                    n => format!(" (after {n} rollbacks)"),
                };
                let cause = match e {
                    TrainError::Diverged(_) if s.cfg.train.x_langevin.jumps_without_box() => format!(
                        " {}: set train.x_langevin.box_half_width to the data's box (e.g. 4.5 for 8 \
                         gaussians, 2.0 for 25 gaussians; README lists each toy's).",
                        crate::sampler::LangevinConfig::NO_FLOOR
                    ),
                    _ => String::new(),
                };
                bail!("{e}{hint}. The last checkpoint in {} is kept.{cause}", folder.dir.display());
            }
        };
        let seconds = t.elapsed().as_secs_f64();
        let done = s.iteration();
        let last = done == schedule.iterations;
        let measure = schedule.eval_every > 0 && (done.is_multiple_of(schedule.eval_every) || last);
        if done.is_multiple_of(schedule.log_every) || last || measure {
            let elapsed = elapsed_before + began.elapsed().as_secs_f64();
            let mut line = metrics_line(&m, s.trainer.epoch, seconds, elapsed);
            if measure {
                line.extend(probe(s)?);
            }
            // One write per line, so that a kill leaves whole lines and at most a cut last one.
            let text = format!("{}\n", serde_json::Value::Object(line));
            metrics_file
                .write_all(text.as_bytes())
                .with_context(|| format!("cannot write {}", metrics_path.display()))?;
            if measure {
                let title = format!("{}: held-out measurements", folder.dir.display());
                crate::viz::progress_chart(&folder.read_metrics()?, &title, &folder.progress_chart())?;
            }
        }
        // The count first: each call redraws, and a redraw of the new losses beside the old
        // count would show a rate and ETA that flip back and forth.
        bar.inc(1);
        bar.set_message(format!(
            "gen {:.3} inf {:.3} gap {:+.3} mse {:.4}",
            m.gen_loss,
            m.inf_loss,
            m.energy_data - m.energy_samples,
            m.recon_mse
        ));
        let stop = interrupted.load(Ordering::SeqCst);
        if (schedule.images_every > 0 && done.is_multiple_of(schedule.images_every)) || last || stop {
            s.with_averages(|s, _| pictures::write(s, folder, done))?;
        }
        if (schedule.checkpoint_every > 0 && done.is_multiple_of(schedule.checkpoint_every)) || last || stop {
            s.save(&folder.checkpoint())?;
        }
        if stop {
            bar.abandon_with_message("interrupted: checkpoint saved");
            crate::say!(
                "interrupted after iteration {done}; continue with --resume {}",
                folder.dir.display()
            );
            return Ok(());
        }
    }
    bar.finish();
    if !quiet {
        crate::say!(
            "done: {} iterations in {dir}; measure it with `dualmcmc --no-gui eval {dir}`",
            schedule.iterations,
            dir = folder.dir.display()
        );
    }
    Ok(())
}

/// After a divergence: back to the last checkpoint (every run writes one before its first
/// iteration), `metrics.jsonl` cut back to it, and the learning rates times
/// `train.divergence_lr_factor`, in the session and in the run's `config.toml` (so that
/// `--resume` goes on with them). The state just before the diverged iteration is often
/// already off course (finite, but far from the data), hence the checkpoint.
fn roll_back(s: &mut Session, folder: &RunFolder, d: &crate::train::Divergence) -> anyhow::Result<()> {
    let context = || format!("rolling back from: {d}");
    crate::checkpoint::load(folder.checkpoint(), &mut s.trainer).with_context(context)?;
    folder.repair(s.iteration()).with_context(context)?;
    let factor = s.cfg.train.divergence_lr_factor;
    s.cfg.train.scale_learning_rates(factor);
    s.trainer.cfg.scale_learning_rates(factor);
    folder.write_config(&s.cfg).with_context(context)
}

/// One line of `metrics.jsonl`.
fn metrics_line(
    m: &IterMetrics,
    epoch: u32,
    seconds: f64,
    elapsed: f64,
) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(mut line) = serde_json::json!({
        "iteration": m.iteration + 1,
        "epoch": epoch,
        "gen_loss": m.gen_loss,
        "gen_data_loss": m.gen_data_loss,
        "gen_sample_loss": m.gen_sample_loss,
        "inf_loss": m.inf_loss,
        "inf_data_loss": m.inf_data_loss,
        "inf_sample_loss": m.inf_sample_loss,
        "ebm_loss": m.ebm_loss,
        "energy_data": m.energy_data,
        "energy_samples": m.energy_samples,
        "energy_gap": m.energy_data - m.energy_samples,
        "recon_mse_initial": m.recon_mse_initial,
        "recon_mse": m.recon_mse,
        "seconds": seconds,
        "elapsed": elapsed,
    }) else {
        unreachable!("a JSON object literal")
    };
    if let Some(rate) = m.x_jump_accept {
        line.insert("x_jump_accept".into(), serde_json::json!(rate));
    }
    if let Some(rate) = m.x_accept {
        line.insert("x_accept".into(), serde_json::json!(rate));
    }
    line
}
