//! `ablate`: the paper's comparisons (Tables 1, 4, 5 and sec. 5.2) at one preset and one
//! budget. Every variant is an ordinary training run (a run folder under the output folder,
//! same preset, seed and number of iterations, only the compared settings changed), then
//! [`measure`]d like `eval` does. Writes `ablation.json`, `ablation.md` (a table per
//! comparison) and `ablation.png` (the main score of every variant).
//!
//! The baseline is the preset with the paper's z-chain (inference model + 10 z-Langevin
//! steps) and the preset's x-chain length; the comparisons vary:
//! - `z`: the z-chain: 10 or 30 steps from noise, inference + 10 or + 30 (Table 4);
//! - `x`: the x-chain length 10 / 20 / 30 / 50 (Table 5);
//! - `teaching`: dual-MCMC teaching vs cooperative learning (the generator learns from the
//!   EBM's revised samples only) vs a short-run EBM whose x-chains start from noise
//!   (Table 1's comparison);
//! - generator samples vs EBM-revised samples (sec. 5.2) come with every image variant.

mod chart;
mod report;

pub use report::{GROUPS, group_rows, markdown, was_run, x_steps};

use crate::config::{DataConfig, RunConfig};
use crate::eval::run_eval::measure;
use crate::nn::Engine;
use crate::session::{CONFIG_FILE, RunSpec, Session};
use anyhow::Context;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One training run of the ablation.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Folder name and table label.
    pub name: String,
    /// What it shows, for the table.
    pub label: String,
    /// The comparisons it belongs to (`z`, `x`, `teaching`).
    pub groups: Vec<&'static str>,
    /// `--set` overrides on top of the preset.
    pub set: Vec<String>,
}

/// The variants for a preset whose x-chain has `preset_x_steps` steps, limited to `groups`.
/// The baseline is shared by all groups and listed once.
pub fn variants(preset_x_steps: usize, groups: &[String]) -> Vec<Variant> {
    let base = |extra: &[String]| {
        let mut set = vec!["train.z_init=\"inference\"".to_string(), "train.z_langevin.steps=10".into()];
        set.extend_from_slice(extra);
        set
    };
    let s = |v: &str| v.to_string();
    let mut all = vec![Variant {
        name: "baseline".into(),
        label: format!("dual-MCMC: inference + 10 z-steps, {preset_x_steps} x-steps"),
        groups: vec!["z", "x", "teaching"],
        set: base(&[]),
    }];
    for (init, steps) in [("noise", 10), ("noise", 30), ("inference", 30)] {
        let label = match init {
            "noise" => format!("z: noise + {steps} steps"),
            _ => format!("z: inference + {steps} steps"),
        };
        all.push(Variant {
            name: format!("z-{init}-{steps}"),
            label,
            groups: vec!["z"],
            set: vec![format!("train.z_init=\"{init}\""), format!("train.z_langevin.steps={steps}")],
        });
    }
    for steps in [10, 20, 30, 50].into_iter().filter(|&k| k != preset_x_steps) {
        all.push(Variant {
            name: format!("x-{steps}"),
            label: format!("x: {steps} steps"),
            groups: vec!["x"],
            set: base(&[format!("train.x_langevin.steps={steps}")]),
        });
    }
    all.push(Variant {
        name: "cooperative".into(),
        label: s("cooperative learning (generator taught by EBM samples only)"),
        groups: vec!["teaching"],
        set: base(&[s("train.generator_teaching=\"ebm-only\"")]),
    });
    all.push(Variant {
        name: "short-run-noise".into(),
        label: s("short-run EBM (x-chains from noise)"),
        groups: vec!["teaching"],
        set: base(&[s("train.x_init=\"noise\"")]),
    });
    all.retain(|v| v.groups.iter().any(|g| groups.iter().any(|w| w == g)));
    all
}

/// What `ablate` is asked to do.
#[derive(Clone, Debug)]
pub struct AblateArgs {
    pub preset: String,
    pub iterations: u64,
    /// Examples per measurement (see `eval`).
    pub n: usize,
    pub groups: Vec<String>,
    /// Extra overrides applied to every variant (e.g. a smaller model).
    pub set: Vec<String>,
    pub out: PathBuf,
    pub features: Option<PathBuf>,
    pub quiet: bool,
}

/// Runs every variant (skipping those whose run folder already holds a finished run of the
/// same budget, so an interrupted ablation continues), measures them, writes the report.
pub fn ablate(engine: Arc<Engine>, args: &AblateArgs) -> anyhow::Result<Value> {
    for g in &args.groups {
        anyhow::ensure!(GROUPS.contains(&g.as_str()), "unknown comparison `{g}`; choose from {GROUPS:?}");
    }
    anyhow::ensure!(args.iterations > 0, "--iterations must be positive");
    let table = RunConfig::preset(&args.preset)?;
    let preset = RunConfig::resolve(table, &args.set, &format!("preset {}", args.preset))?;
    let variants = variants(preset.train.x_langevin.steps, &args.groups);
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut rows = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        crate::say!("[{}/{}] {}: {}", i + 1, variants.len(), v.name, v.label);
        let dir = args.out.join(&v.name);
        let mut set = args.set.clone();
        set.extend(v.set.iter().cloned());
        set.push(format!("schedule.iterations={}", args.iterations));
        set.push(format!("schedule.checkpoint_every={}", args.iterations));
        let row = match run_variant(&engine, args, &dir, &set) {
            Ok(metrics) => metrics,
            Err(e) => {
                crate::say!("{}: {e:#}", v.name);
                json!({ "error": format!("{e:#}") })
            }
        };
        rows.push(
            json!({ "name": v.name, "label": v.label, "groups": v.groups, "set": v.set, "result": row }),
        );
    }
    let report = json!({
        "preset": args.preset,
        "baseline_x_steps": preset.train.x_langevin.steps,
        "iterations": args.iterations,
        "examples_per_measurement": args.n,
        "comparisons": args.groups,
        "common_overrides": args.set,
        "adapter": engine.gpu.describe(),
        "variants": rows,
    });
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let path = args.out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    write("ablation.json", serde_json::to_string_pretty(&report)?.as_bytes())?;
    write("ablation.md", markdown(&report, matches!(preset.data, DataConfig::Toy2d { .. })).as_bytes())?;
    chart::ablation_chart(&report, &args.out.join("ablation.png"))?;
    Ok(report)
}

/// Trains one variant (unless its folder holds a finished run of this budget), then measures it.
/// A run in `dir` is reused when its `config.toml` is exactly this variant's configuration and
/// its checkpoint has all the iterations; anything else there is replaced.
fn run_variant(engine: &Arc<Engine>, args: &AblateArgs, dir: &Path, set: &[String]) -> anyhow::Result<Value> {
    let wanted =
        RunConfig::resolve(RunConfig::preset(&args.preset)?, set, &format!("preset {}", args.preset))?;
    let same_config = std::fs::read_to_string(dir.join(CONFIG_FILE)).is_ok_and(|t| t == wanted.to_toml());
    let finished =
        same_config && Session::open(engine.clone(), dir).is_ok_and(|s| s.iteration() >= args.iterations);
    if finished {
        crate::say!("reusing the finished run in {}", dir.display());
    } else {
        if dir.exists() {
            crate::say!("replacing {} (another configuration, or unfinished)", dir.display());
            std::fs::remove_dir_all(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
        }
        let spec = RunSpec {
            preset: Some(args.preset.clone()),
            set: set.to_vec(),
            out: Some(dir.to_path_buf()),
            ..RunSpec::default()
        };
        crate::session::train(engine.clone(), &spec, args.quiet, crate::eval::run_eval::progress)?;
    }
    let session = Session::open(engine.clone(), dir)?;
    let mut metrics = measure(&session, args.n, args.features.as_deref())?;
    metrics["seconds_per_iteration"] = json!(seconds_per_iteration(dir));
    metrics["iterations"] = json!(session.iteration());
    Ok(metrics)
}

/// Mean wall-clock seconds per training iteration, from the run's last metrics line.
fn seconds_per_iteration(dir: &Path) -> Option<f64> {
    let lines = crate::session::RunFolder { dir: dir.to_path_buf() }.read_metrics().ok()?;
    let last = lines.last()?;
    Some(last.get("elapsed")?.as_f64()? / last.get("iteration")?.as_f64()?.max(1.0))
}
