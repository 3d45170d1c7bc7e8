//! The command line (clap): the desktop app by default, headless subcommands with `--no-gui`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    /// Measure a run: Fréchet distances of generator and revised samples, reconstruction
    /// MSE, PSNR and SSIM, mean energies (images); exact log-likelihood, mode coverage and
    /// reconstruction error (2-D); writes eval.json and eval.md into the run folder.
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

/// `eval`: `RUN_FOLDER [--n N] [--features FILE]`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The run folder.
    #[arg(value_name = "RUN_FOLDER", required_unless_present = "run_flag")]
    pub run: Option<std::path::PathBuf>,
    /// The run folder (same as the positional argument).
    #[arg(long = "run", value_name = "RUN_FOLDER", conflicts_with = "run")]
    pub run_flag: Option<std::path::PathBuf>,
    /// Examples per measurement: real and generated images for the Fréchet distance,
    /// held-out images for reconstruction, held-out points for 2-D runs.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Feature network for the Fréchet distance (a `train-classifier` safetensors file);
    /// default: the shipped Fashion-MNIST one, for 1×28×28 runs.
    #[arg(long, value_name = "FILE")]
    pub features: Option<std::path::PathBuf>,
}

impl EvalArgs {
    pub fn run_folder(&self) -> &std::path::Path {
        self.run.as_deref().or(self.run_flag.as_deref()).expect("clap requires one of them")
    }
}

/// `ablate`: see [`crate::eval::ablate`].
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

/// `train-classifier`: the feature network of the Fréchet distance.
#[derive(Args, Debug, Clone)]
pub struct TrainClassifierArgs {
    /// IDX training images (gzipped or not); default: Debian's Fashion-MNIST training set.
    #[arg(long, requires = "labels")]
    pub images: Option<std::path::PathBuf>,
    /// IDX training labels, with --images.
    #[arg(long, requires = "images")]
    pub labels: Option<std::path::PathBuf>,
    /// IDX test images; default: the shipped Fashion-MNIST test set.
    #[arg(long, requires = "test_labels")]
    pub test_images: Option<std::path::PathBuf>,
    /// IDX test labels, with --test-images.
    #[arg(long, requires = "test_images")]
    pub test_labels: Option<std::path::PathBuf>,
    /// Passes over the training images (~4.5 min each for Fashion-MNIST on a 2-core CPU adapter).
    #[arg(long, default_value_t = 8)]
    pub epochs: u32,
    /// Images per Adam step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Adam's learning rate in the first epoch.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Factor on the learning rate after each epoch.
    #[arg(long, default_value_t = 0.7)]
    pub lr_decay: f32,
    /// Seed of the initial weights and of the order of the images (same seed, same adapter:
    /// same weights).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Channels of the first convolution.
    #[arg(long, default_value_t = 16)]
    pub width: usize,
    /// Length of the feature vector (the penultimate layer the Fréchet distance uses).
    #[arg(long, default_value_t = 128)]
    pub feature_len: usize,
    /// Where to write the network (safetensors). The shipped one is
    /// assets/feature-net/fashion-mnist.safetensors; copy a new one there to replace it.
    #[arg(long, default_value = "runs/feature-net/fashion-mnist.safetensors")]
    pub out: std::path::PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `sample`: `--run DIR [--n N] [--steps K] [--seed S] [--out FILE]`.
#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    /// The run folder (its config.toml and checkpoint.safetensors).
    #[arg(long)]
    pub run: PathBuf,
    /// How many samples.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// x-Langevin steps (default: the run's train.x_langevin.steps; 0 keeps g(z)).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed of the prior draws and of the Langevin noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output name without extension (default DIR/sample): FILE.npy, FILE_generator.npy, …
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `reconstruct`: `--run DIR --input X.npy [--steps K] [--seed S] [--out FILE]`.
#[derive(Args, Debug, Clone)]
pub struct ReconstructArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Examples `[N, C, H, W]` (`[N, 2]` for 2-D runs), float32 or float64, C order, in the
    /// data scale ([−1, 1] for images).
    #[arg(long)]
    pub input: PathBuf,
    /// z-Langevin steps (default: the run's train.z_langevin.steps; 0: g(z̃) = g(z₀)).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed of the reparameterisation noise and of the Langevin noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output name without extension (default DIR/reconstruct).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `interpolate`: `--run DIR [--points P] [--input X.npy] [--steps K] [--seed S] [--out FILE]`.
#[derive(Args, Debug, Clone)]
pub struct InterpolateArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Points on the line, both ends included (at least 2).
    #[arg(long, default_value_t = 10)]
    pub points: usize,
    /// Two examples to interpolate between: their latents are z₀ = μ(x) from the inference
    /// model, revised by z-Langevin. Without it, two prior draws z ~ N(0, I).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// z-Langevin steps for --input (default: the run's train.z_langevin.steps; 0: μ(x)).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed of the prior draws and of the Langevin noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output name without extension (default DIR/interpolate).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `energy`: `--run DIR --input X.npy --out E.npy [--grad G.npy]`.
#[derive(Args, Debug, Clone)]
pub struct EnergyArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Examples `[N, C, H, W]` (`[N, 2]` for 2-D runs), float32 or float64, C order.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write E(x) `[N]` (float32; E = −f, lower is more probable).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write ∇ₓE(x), the shape of the input (float32).
    #[arg(long)]
    pub grad: Option<PathBuf>,
}
