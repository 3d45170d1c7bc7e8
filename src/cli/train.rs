//! `train`: a new run from a preset or a file, or the continuation of a run folder.

use crate::nn::Engine;
use crate::session::RunSpec;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// `train [--preset P | --config FILE | --resume DIR] [--set KEY=VALUE]… [--out DIR] [--quiet]`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Preset: fmnist (default), toy2d, cifar10, celeba64.
    #[arg(long)]
    pub preset: Option<String>,
    /// A TOML configuration file instead of a preset.
    #[arg(long, conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// Override a value by its key, e.g. --set train.x_langevin.steps=20 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The run folder (default runs/<preset>-<n>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder (its config.toml and checkpoint).
    #[arg(long, conflicts_with_all = ["preset", "config", "out"])]
    pub resume: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl TrainArgs {
    pub fn spec(&self) -> RunSpec {
        RunSpec {
            preset: self.preset.clone(),
            config: self.config.clone(),
            set: self.set.clone(),
            out: self.out.clone(),
            resume: self.resume.clone(),
        }
    }
}

/// Trains; Ctrl-C, SIGTERM or SIGHUP stops after the current iteration with a checkpoint.
pub fn run(engine: Arc<Engine>, args: &TrainArgs) -> anyhow::Result<()> {
    crate::session::train(engine, &args.spec(), args.quiet, crate::eval::run_eval::progress)?;
    Ok(())
}
