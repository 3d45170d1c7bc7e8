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
    /// Seconds per training iteration and their split, 2-D and small image presets.
    Train,
}
