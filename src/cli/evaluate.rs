//! `eval` and `ablate`: measuring runs, and the paper's comparisons.

use super::usage;
use crate::nn::Engine;
use clap::Args;
use std::sync::Arc;

/// `eval`: `RUN_FOLDER [--n N] [--features FILE]`, or `--samples FILE.npy` with a run
/// folder or `--preset` for the data.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The run folder.
    #[arg(value_name = "RUN_FOLDER", required_unless_present_any = ["run_flag", "preset"])]
    pub run: Option<std::path::PathBuf>,
    /// The run folder (same as the positional argument).
    #[arg(long = "run", value_name = "RUN_FOLDER", conflicts_with = "run")]
    pub run_flag: Option<std::path::PathBuf>,
    /// Examples per measurement: real and generated images for the Fréchet distance,
    /// held-out images for reconstruction (default 1000), held-out points for 2-D runs
    /// (default 10,000, the points `train` measures its log-likelihood on).
    #[arg(long)]
    pub n: Option<usize>,
    /// Feature network for the Fréchet distance (a `train-classifier` safetensors file);
    /// default: the shipped Fashion-MNIST one, for 1×28×28 runs.
    #[arg(long, value_name = "FILE")]
    pub features: Option<std::path::PathBuf>,
    /// Measure these samples instead of the run's model: `[N, C, H, W]` images in [−1, 1]
    /// (`[N, 2]` for 2-D data), float32 or float64, from any tool. The Fréchet distance (and
    /// for 2-D data the histogram and mode measures) against the reference statistics `eval`
    /// uses for the run's data; the run's checkpoint is not used. Prints JSON, writes nothing.
    #[arg(long, value_name = "FILE.npy")]
    pub samples: Option<std::path::PathBuf>,
    /// With --samples and no run folder: the preset whose data (and seed) gives the reference
    /// statistics (fmnist, toy2d, …).
    #[arg(long, requires = "samples", conflicts_with_all = ["run", "run_flag"])]
    pub preset: Option<String>,
    /// With --preset: a setting of the preset, KEY=VALUE (repeatable), e.g. data.toy=rings.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "preset")]
    pub set: Vec<String>,
}

impl EvalArgs {
    /// The run folder; `None` only with `--preset`.
    pub fn run_folder(&self) -> Option<&std::path::Path> {
        self.run.as_deref().or(self.run_flag.as_deref())
    }
}

/// `eval --samples`: the configuration from the run folder or the preset, then the samples.
fn eval_samples(engine: Arc<Engine>, args: &EvalArgs, path: &std::path::Path) -> anyhow::Result<()> {
    use crate::config::RunConfig;
    let cfg = match (args.run_folder(), &args.preset) {
        (Some(dir), _) => crate::session::RunFolder::open(dir)?.config(&[])?,
        (None, Some(name)) => {
            RunConfig::resolve(RunConfig::preset(name)?, &args.set, &format!("preset {name}"))?
        }
        (None, None) => usage!("--samples needs a run folder or --preset for the reference data"),
    };
    let a = super::npy::read_npy(path)?;
    let n = crate::eval::run_eval::examples_per_measurement(args.n, &cfg.data);
    let report = crate::eval::samples::eval_samples(
        engine,
        &cfg,
        path,
        &a.shape,
        &a.values,
        n,
        args.features.as_deref(),
    )?;
    crate::put!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `ablate`: see `eval::ablate`.
#[derive(Args, Debug, Clone)]
pub struct AblateCliArgs {
    /// Preset: fmnist (default), toy2d, cifar10, celeba64.
    #[arg(long, default_value = "fmnist")]
    pub preset: String,
    /// Training iterations of every variant (the equal budget).
    #[arg(long, default_value_t = 300)]
    pub iterations: u64,
    /// Examples per measurement (see `eval`).
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Comparisons to run, comma-separated: z, x, teaching.
    #[arg(long, value_delimiter = ',', default_value = "z,x,teaching")]
    pub groups: Vec<String>,
    /// Override applied to every variant, e.g. --set model.width=8 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output folder (default runs/ablate-<preset>); finished variants in it are reused.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Feature network for the Fréchet distance (see `eval`).
    #[arg(long, value_name = "FILE")]
    pub features: Option<std::path::PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// The most examples one measurement or `sample` takes (`--n`): every one is generated and
/// revised (100,000 take about a minute on lavapipe for a toy run).
pub const MAX_EVAL_EXAMPLES: usize = 100_000;

/// `--n` between 1 and [`MAX_EVAL_EXAMPLES`].
fn check_n(n: usize) -> anyhow::Result<()> {
    if !(1..=MAX_EVAL_EXAMPLES).contains(&n) {
        usage!("--n must be between 1 and {MAX_EVAL_EXAMPLES}, got {n}");
    }
    Ok(())
}

pub fn eval(engine: Arc<Engine>, args: &EvalArgs) -> anyhow::Result<()> {
    args.n.map(check_n).transpose()?;
    if let Some(samples) = &args.samples {
        return eval_samples(engine, args, samples);
    }
    let run = args.run_folder().expect("clap requires a run folder without --preset");
    let report = crate::eval::run_eval::eval(engine, run, args.n, args.features.as_deref())?;
    crate::put!("{}", serde_json::to_string_pretty(&report["metrics"])?);
    crate::say!("written: {}, {}", run.join("eval.json").display(), run.join("eval.md").display());
    Ok(())
}

pub fn ablate(engine: Arc<Engine>, a: AblateCliArgs) -> anyhow::Result<()> {
    check_n(a.n)?;
    if a.iterations == 0 {
        usage!("--iterations must be at least 1");
    }
    let groups = crate::eval::ablate::GROUPS;
    if let Some(g) = a.groups.iter().find(|g| !groups.contains(&g.as_str())) {
        usage!("--groups: unknown comparison `{g}`; choose from {}", groups.join(", "));
    }
    let args = crate::eval::ablate::AblateArgs {
        out: a.out.clone().unwrap_or_else(|| format!("runs/ablate-{}", a.preset).into()),
        preset: a.preset,
        iterations: a.iterations,
        n: a.n,
        groups: a.groups,
        set: a.set,
        features: a.features,
        quiet: a.quiet,
    };
    crate::eval::ablate::ablate(engine, &args)?;
    for name in ["ablation.md", "ablation.json", "ablation.png"] {
        crate::say!("wrote {}", args.out.join(name).display());
    }
    crate::put!("{}", std::fs::read_to_string(args.out.join("ablation.md"))?);
    Ok(())
}
