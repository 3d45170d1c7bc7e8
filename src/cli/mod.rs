//! The command line (clap): the desktop app by default, headless subcommands with `--no-gui`.
//! One file per command family; each parses into its argument struct and calls the session,
//! evaluation or benchmark code below it.

mod classifier;
mod evaluate;
mod inspect;
pub mod npy;
mod train;

pub use classifier::{TrainClassifierArgs, train_classifier};
pub use evaluate::{AblateCliArgs, EvalArgs};
pub use inspect::{
    ChainArgs, EnergyArgs, ForwardArgs, InterpolateArgs, NetChoice, ReconstructArgs, Reconstruction,
    SampleArgs, energy, forward, interpolate, reconstruct, sample,
};
pub use train::TrainArgs;

use crate::config::ConfigError;
pub use crate::config::UsageError;
use crate::data::error::DataError;
use crate::gpu::{AdapterChoice, DeviceLimits, Gpu};
use crate::nn::Engine;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
    /// The device's limits: the adapter's own, or WebGPU's defaults (what every WebGPU
    /// device grants: a check that a run fits smaller GPUs and browsers).
    #[arg(long, value_enum, env = "DUALMCMC_LIMITS", global = true, default_value = "adapter")]
    pub limits: DeviceLimits,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train: writes a run folder (config, metrics.jsonl, PNG grids, checkpoints).
    Train(TrainArgs),
    /// Generator samples and their x-Langevin revision (.npy and PNG).
    ///
    /// N samples g(z), z ~ N(0, I), and their x-Langevin revision under the EBM. Writes
    /// FILE.npy (revised) and FILE_generator.npy, `[N, C, H, W]` (`[N, 2]` for 2-D runs), and
    /// a PNG of each (image grids; for 2-D runs exp(−E) with the samples in red).
    Sample(SampleArgs),
    /// Reconstructions q(x) → z₀ → z-Langevin → g(z̃), with their errors (.npy and PNG).
    ///
    /// Writes FILE.npy (g(z̃)), FILE_initial.npy (g(z₀)) and for image runs FILE.png (rows:
    /// input, g(z₀), g(z̃)); prints the mean squared error per value of both.
    Reconstruct(ReconstructArgs),
    /// Linear interpolation in z, decoded by the generator (.npy and PNG).
    ///
    /// Between two prior draws, or with --input between the latents inferred for its two
    /// examples. Writes FILE.npy `[P, …]`, FILE_z.npy (the latent points `[P, nz]`) and for
    /// image runs a PNG strip.
    Interpolate(InterpolateArgs),
    /// The energy E(x) = −f(x) of each example and its gradient ∇ₓE (.npy).
    ///
    /// E is the EBM network's output; the paper's f(x) = −E(x), so the model density is
    /// ∝ exp(−E(x)) and lower energy is more probable. Writes E `[N]` to --out and ∇ₓE (the
    /// input's shape) to --grad.
    Energy(EnergyArgs),
    /// One network's output for given inputs (.npy): E(x), g(z) or q(x) = [μ | logvar].
    ///
    /// For comparing with other implementations (python/dualmcmc_torch's parity tests):
    /// the EBM writes E `[N]`, the generator g(z) `[N, …]` for z `[N, nz]`, the inference
    /// model q `[N, 2·nz]`. Inputs in chunks of at most a training batch.
    Forward(ForwardArgs),
    /// Measure a run: Fréchet distances of generator and revised samples, reconstruction
    /// MSE, PSNR and SSIM, mean energies (images); exact log-likelihood, mode coverage and
    /// reconstruction error (2-D); writes eval.json and eval.md into the run folder.
    ///
    /// With --samples FILE.npy: samples from any tool measured against the same reference
    /// statistics (Fréchet distance; for 2-D data histogram and mode measures); prints JSON.
    Eval(EvalArgs),
    /// Train the Fréchet distance's feature network: a small classifier, by default on the
    /// 60,000 Fashion-MNIST training images of Debian's `dataset-fashion-mnist`, tested on the
    /// shipped 10,000 test images. Deterministic for a given seed and adapter.
    TrainClassifier(TrainClassifierArgs),
    /// The paper's comparisons at one preset and budget: z-chain (Table 4), x-chain length
    /// (Table 5), dual-MCMC vs cooperative vs short-run EBM (Table 1), generator vs revised
    /// samples (sec. 5.2). Trains one run folder per variant under --out, measures each as
    /// `eval` does, writes ablation.json, ablation.md and ablation.png.
    Ablate(AblateCliArgs),
    /// Benchmarks; figures are ratios measured in one run.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum BenchWhat {
    /// Matmul GFLOP/s at 256, 512, 1024, elementwise GB/s, and a single-threaded CPU matmul.
    Kernels,
    /// Conv2d forward and forward+backward GFLOP/s and examples/s at the small-network and
    /// the paper's CIFAR-10 shapes, with the matmul peak of the same run.
    Layers,
    /// Seconds per training iteration and their split (2-D and small image presets), and
    /// for every preset the dispatches per iteration and the CPU time to record one.
    Train {
        /// Time only this preset (toy2d, fmnist, …).
        #[arg(long)]
        preset: Option<String>,
        /// Override a value of the timed preset by its key, as `train --set` (repeatable;
        /// needs --preset), e.g. --set train.x_langevin.steps=100.
        #[arg(long = "set", value_name = "KEY=VALUE", requires = "preset")]
        set: Vec<String>,
    },
    /// The app's training speed (8 gaussians) with its worker on a thread (the desktop) and
    /// polled by the frames (the page in the browser), headless frames at 60 Hz.
    App {
        /// Iterations timed per variant.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        iterations: u32,
    },
    /// Our iteration against the same iteration in PyTorch (bench/torch_reference.py),
    /// alternating A B A B in one session; skipped with a hint when PyTorch is missing.
    Compare {
        /// toy2d, checkerboard or fmnist.
        #[arg(long, default_value = "toy2d")]
        preset: String,
        /// Timings of each side.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Threads PyTorch may use.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Override a value of the preset, for ours and for bench/torch_reference.py alike, as
        /// `train --set` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

/// Returns early with a [`UsageError`] made by `format!`.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err($crate::cli::UsageError(format!($($arg)*)).into())
    };
}
pub(crate) use usage;

/// The exit code of a failed command: 2 for usage errors (the command line or a
/// configuration: [`UsageError`], [`ConfigError`], [`DataError::Config`]), 1 for the rest (data, checkpoints,
/// run folders, the device, resources).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let usage = e.chain().any(|c| {
        c.is::<UsageError>()
            || c.is::<ConfigError>()
            || matches!(c.downcast_ref(), Some(DataError::Config(_)))
    });
    if usage { 2 } else { 1 }
}

/// What a command wrote, and lines for the user.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub files: Vec<PathBuf>,
    pub lines: Vec<String>,
}

/// The program: parses the command line, runs it, prints the error of a failure.
pub fn main() -> ExitCode {
    panic_is_a_bug();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::say!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// A panic is never how the program means to stop: say so before the standard message.
fn panic_is_a_bug() {
    let standard = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        crate::say!(
            "dualmcmc: internal error (a bug, not a problem with your input or setup). Please report it \
             as an issue in the project's repository (README, \"Reporting a bug\"), with the command line \
             you ran, the adapter line and the message below."
        );
        standard(info);
    }));
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let choice = AdapterChoice { backend: cli.backend, name: cli.adapter, limits: cli.limits };
    choice.backends().map_err(|e| UsageError(format!("{e:#}")))?;
    if !cli.no_gui {
        if let Some(command) = &cli.command {
            usage!(
                "the headless commands run with --no-gui, e.g. `dualmcmc --no-gui {}`; \
                 without --no-gui and without a command, dualmcmc opens the desktop app",
                command.name()
            );
        }
        return crate::app::desktop::run(&choice);
    }
    let Some(command) = cli.command else {
        usage!("--no-gui needs a command; see `dualmcmc --no-gui --help`");
    };
    // Settings are checked before the adapter is opened (quicker, and no GPU noise first).
    if let Command::Train(args) = &command {
        args.spec().resolve()?;
    }
    if let Some((dir, checkpoint)) = command.run_folder() {
        check_run_folder(dir, checkpoint)
            .with_context(|| format!("{} needs a run folder (one that `train` wrote)", command.name()))?;
    }
    let gpu = Gpu::new(&choice)?;
    gpu.announce();
    let engine = || Arc::new(Engine::new(&gpu));
    match command {
        Command::Train(args) => train::run(engine(), &args),
        Command::Sample(args) => report(&sample(engine(), &args)?),
        Command::Reconstruct(args) => report(&reconstruct(engine(), &args)?.outcome),
        Command::Interpolate(args) => report(&interpolate(engine(), &args)?),
        Command::Energy(args) => report(&energy(engine(), &args)?),
        Command::Forward(args) => report(&forward(engine(), &args)?),
        Command::TrainClassifier(args) => report(&train_classifier(engine(), &args)?),
        Command::Ablate(args) => evaluate::ablate(engine(), args),
        Command::Eval(args) => evaluate::eval(engine(), &args),
        Command::Bench { what: BenchWhat::Kernels } => crate::bench::kernels(&gpu),
        Command::Bench { what: BenchWhat::Train { preset, set } } => {
            crate::bench::train(&engine(), preset.as_deref(), &set)
        }
        Command::Bench { what: BenchWhat::Layers } => {
            crate::bench::layers(&gpu);
            Ok(())
        }
        Command::Bench { what: BenchWhat::App { iterations } } => crate::bench::app(&engine(), iterations),
        Command::Bench { what: BenchWhat::Compare { preset, rounds, threads, set } } => {
            crate::bench::compare(&engine(), &preset, &set, rounds, threads)
        }
    }
}

/// Prints a command's lines (stdout) and the files it wrote (stderr).
fn report(outcome: &Outcome) -> anyhow::Result<()> {
    for line in &outcome.lines {
        crate::put!("{line}");
    }
    for file in &outcome.files {
        crate::say!("wrote {}", file.display());
    }
    Ok(())
}

/// What a command that reads a run folder needs of it, read on the CPU: its configuration
/// and, with `checkpoint`, its checkpoint's header. Sizes and architectures are checked
/// again when the session opens; this only makes a wrong folder fail before the adapter is
/// opened.
fn check_run_folder(dir: &std::path::Path, checkpoint: bool) -> anyhow::Result<()> {
    let folder = crate::session::RunFolder::open(dir)?;
    folder.config(&[])?;
    if checkpoint {
        crate::checkpoint::read_metadata(folder.checkpoint())?;
    }
    Ok(())
}

impl Command {
    /// The run folder the command reads, and whether it reads the checkpoint too:
    /// `sample`, `reconstruct`, `interpolate`, `energy`, `forward` and `eval` do; `eval
    /// --samples` reads only the configuration (for its reference data), or uses a preset.
    fn run_folder(&self) -> Option<(&std::path::Path, bool)> {
        match self {
            Command::Sample(a) => Some((&a.chain.run, true)),
            Command::Reconstruct(a) => Some((&a.chain.run, true)),
            Command::Interpolate(a) => Some((&a.chain.run, true)),
            Command::Energy(a) => Some((&a.run, true)),
            Command::Forward(a) => Some((&a.run, true)),
            Command::Eval(a) => a.run_folder().map(|dir| (dir, a.samples.is_none())),
            _ => None,
        }
    }

    /// The subcommand's name, as typed.
    fn name(&self) -> &'static str {
        match self {
            Command::Train(_) => "train",
            Command::Sample(_) => "sample",
            Command::Reconstruct(_) => "reconstruct",
            Command::Interpolate(_) => "interpolate",
            Command::Energy(_) => "energy",
            Command::Forward(_) => "forward",
            Command::Eval(_) => "eval",
            Command::TrainClassifier(_) => "train-classifier",
            Command::Ablate(_) => "ablate",
            Command::Bench { .. } => "bench",
        }
    }
}
