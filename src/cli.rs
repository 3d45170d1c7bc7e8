//! The command line (clap): the desktop app by default, headless subcommands with `--no-gui`.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "dualmcmc",
    version,
    about = "Energy-based models learned by Dual-MCMC teaching, on any GPU through wgpu"
)]
pub struct Cli {
    /// Run headless (no window): training, sampling, evaluation, benchmarks.
    #[arg(long)]
    pub no_gui: bool,
    /// Use the adapter whose name contains this text (case-insensitive), e.g. `llvmpipe`.
    #[arg(long, env = "DUALMCMC_ADAPTER", global = true)]
    pub adapter: Option<String>,
    /// Backends to consider: vulkan, metal, dx12, gl (comma separated).
    #[arg(long, env = "DUALMCMC_BACKEND", global = true)]
    pub backend: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train: writes a run folder (config, metrics.jsonl, PNG grids, checkpoints).
    Train {
        /// Preset: fmnist (default), toy2d, cifar10, celeba64.
        #[arg(long)]
        preset: Option<String>,
        /// A TOML configuration file instead of a preset.
        #[arg(long, conflicts_with = "preset")]
        config: Option<std::path::PathBuf>,
        /// Override a value by its key, e.g. --set train.x_langevin.steps=20 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// The run folder (default runs/<preset>-<n>).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Continue the run in this folder (its config.toml and checkpoint).
        #[arg(long, conflicts_with_all = ["preset", "config", "out"])]
        resume: Option<std::path::PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Benchmarks; figures are ratios measured in one run.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand, Debug, Clone, Copy)]
pub enum BenchWhat {
    /// Matmul GFLOP/s at 256, 512, 1024, elementwise GB/s, and a single-threaded CPU matmul.
    Kernels,
    /// Conv2d forward and forward+backward GFLOP/s and examples/s at the small-network and
    /// the paper's CIFAR-10 shapes, with the matmul peak of the same run.
    Layers,
    /// Seconds per training iteration and their split, 2-D and small image presets.
    Train,
}
