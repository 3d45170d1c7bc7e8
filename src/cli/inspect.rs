//! The inspection commands (`dualmcmc --no-gui sample | reconstruct | interpolate | energy | forward`):
//! a trained run folder in, `.npy` arrays (see [`super::npy`]) and PNG pictures out. One
//! plain function per command; the dispatcher prints what they return.
//!
//! Examples have the run's shape
//! and the data scale: `[N, C, H, W]` with values in [−1, 1] for images, `[N, 2]` for 2-D
//! runs. Every bad input is an error that names the file; an output never replaces the input.
//!
//! Sign convention (docs/algorithm.md §1): the EBM network outputs the *energy* E(x) = −f_α(x), so
//! the model density is π(x) ∝ exp(−E(x)); `energy` writes E and ∇ₓE.
//!
//! Batches: the networks take at most one training batch (B examples) at a time, so the work
//! is done in chunks. The generator's batch norm uses the statistics of the batch it is given
//! (as in training, docs/reference.md), so which latents are decoded together matters:
//! - `sample` decodes full batches of prior draws, as a training iteration does;
//! - `interpolate` decodes its points in a full batch completed with the prior draws of the
//!   same seed: with 2 points the batch is exactly `sample`'s first batch, so the two ends are
//!   `sample`'s first two generator samples (with more points, nearly so);
//! - `reconstruct` runs inference and z-Langevin on the examples given, in near-equal chunks
//!   of at most B, so with fewer than B examples the statistics are those of the examples
//!   given (give a batch or more for results like training's).
//!
//! The EBM and the inference model have no batch norm: E(x) and q(x) are per example.
//!
//! Randomness: `--seed` replaces the run's seed for the prior draws, the reparameterisation
//! noise and the Langevin noise (chunk k of a command uses key k), so a command repeated with
//! the same seed writes the same arrays on the same adapter.

use super::npy::{self, Array, MAX_VALUES, check_parent, create_parent};
use super::{Outcome, usage};
use crate::nn::{Engine, Shape};
use crate::sampler::LangevinConfig;
use crate::session::{Session, density_maps};
use crate::train::{Trainer, balanced_chunks};
use crate::viz;
use anyhow::{Context, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// At most this many bytes of chain states kept by one Langevin call (every step is kept).
const MAX_CHAIN_BYTES: usize = 1 << 29;

/// `--run DIR [--steps K] [--seed S] [--out FILE]`: what `sample`, `reconstruct` and
/// `interpolate` share.
#[derive(Args, Debug, Clone)]
pub struct ChainArgs {
    /// The run folder (its config.toml and checkpoint.safetensors).
    #[arg(long)]
    pub run: PathBuf,
    /// Langevin steps: of the x-chain for `sample` (0 keeps g(z)), of the z-chain for
    /// `reconstruct` and `interpolate --input` (0 keeps z₀). Default: the run's own.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed of the prior draws, the reparameterisation noise and the Langevin noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output name without extension (default DIR/<command>): FILE.npy, FILE.png, …
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `sample`: `--run DIR [--n N] [--steps K] [--seed S] [--out FILE]`.
#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// How many samples (1 to 100,000).
    #[arg(long, default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=super::evaluate::MAX_EVAL_EXAMPLES as u64))]
    pub n: usize,
}

/// `reconstruct`: `--run DIR --input X.npy [--steps K] [--seed S] [--out FILE]`.
#[derive(Args, Debug, Clone)]
pub struct ReconstructArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Examples `[N, C, H, W]` (`[N, 2]` for 2-D runs), float32 or float64, C order, in the
    /// data scale ([−1, 1] for images).
    #[arg(long)]
    pub input: PathBuf,
}

/// `interpolate`: `--run DIR [--points P] [--input X.npy] [--steps K] [--seed S] [--out FILE]`.
#[derive(Args, Debug, Clone)]
pub struct InterpolateArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Points on the line, both ends included (at least 2).
    #[arg(long, default_value_t = 10)]
    pub points: usize,
    /// Two examples to interpolate between: their latents are z₀ = μ(x) from the inference
    /// model, revised by z-Langevin. Without it, two prior draws z ~ N(0, I).
    #[arg(long)]
    pub input: Option<PathBuf>,
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

/// Which network `forward` runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetChoice {
    /// The EBM: E(x) `[N]`.
    Ebm,
    /// The generator: g(z) `[N, …example]` for z `[N, nz]`.
    Generator,
    /// The inference model: q(x) = [μ | logvar] `[N, 2·nz]`.
    Inference,
}

/// `forward`: `--run DIR --net ebm|generator|inference --input IN.npy --out OUT.npy`.
#[derive(Args, Debug, Clone)]
pub struct ForwardArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// The network.
    #[arg(long, value_enum)]
    pub net: NetChoice,
    /// Its input: examples `[N, C, H, W]` (`[N, 2]` for 2-D runs) for the EBM and the
    /// inference model, latents `[N, nz]` for the generator; float32 or float64, C order.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the output (float32).
    #[arg(long)]
    pub out: PathBuf,
}

/// `reconstruct`'s outcome and its reconstruction errors: mean over all values of
/// (g(z) − x)², for z₀ (inference model only) and z̃ (after z-Langevin).
#[derive(Clone, Debug, Default)]
pub struct Reconstruction {
    pub outcome: Outcome,
    pub mse_initial: f64,
    pub mse_revised: f64,
}

/// `sample`: N generator samples g(z), z ~ N(0, I), in full batches of prior draws, and their
/// x-Langevin revision under the EBM (the run's x-Langevin settings; `--steps` overrides the
/// number of steps). Writes FILE.npy (revised), FILE_generator.npy (g(z)), and PNGs of both:
/// image grids, or for 2-D runs exp(−E) on the plane with the samples in red and fresh data
/// in white.
pub fn sample(engine: Arc<Engine>, args: &SampleArgs) -> anyhow::Result<Outcome> {
    let session = open(engine, &args.chain.run, Some(args.chain.seed))?;
    let (t, shape) = (&session.trainer, session.shape);
    let (b, d) = (t.cfg.batch_size, shape.size());
    check_count("--n", args.n, d)?;
    let mut x_cfg = t.cfg.x_langevin;
    if let Some(k) = args.chain.steps {
        x_cfg.steps = k;
    }
    check_chain("--steps", x_cfg.steps, b * d)?;
    let stem = out_stem(args.chain.out.as_deref(), &args.chain.run, "sample");
    let (mut generated, mut revised) = (Vec::with_capacity(args.n * d), Vec::with_capacity(args.n * d));
    let (mut e_first, mut e_last, mut chunks) = (0.0f64, 0.0f64, 0.0f64);
    for (k, start) in (0..args.n).step_by(b).enumerate() {
        let (key, m) = (key(k)?, b.min(args.n - start));
        let x = t.generate(&t.prior_draw(key))?;
        let chain = t.revise_x(&x, &x_cfg, key)?;
        let last = chain.states.last().expect("a chain has states");
        generated.extend_from_slice(&x[..m * d]);
        revised.extend_from_slice(&last[..m * d]);
        e_first += f64::from(chain.trace[0]);
        e_last += f64::from(*chain.trace.last().expect("a trace has steps"));
        chunks += 1.0;
    }
    let mut out = Outcome::default();
    let dims = array_shape(args.n, shape);
    out.write_npy(named(&stem, "", "npy"), &dims, &revised)?;
    out.write_npy(named(&stem, "_generator", "npy"), &dims, &generated)?;
    if is_flat(shape) {
        if session.toy().is_some() {
            let [rev, gen_] = <[_; 2]>::try_from(density_maps(&session, &[&revised, &generated])?)
                .expect("one picture per set");
            out.save_png(named(&stem, "", "png"), rev)?;
            out.save_png(named(&stem, "_generator", "png"), gen_)?;
        }
    } else {
        out.save_png(named(&stem, "", "png"), grid(&revised, shape))?;
        out.save_png(named(&stem, "_generator", "png"), grid(&generated, shape))?;
    }
    out.lines.push(format!(
        "mean energy E over the x-Langevin revision ({} steps): {:.4} for g(z), {:.4} after (lower is more probable)",
        x_cfg.steps,
        e_first / chunks,
        e_last / chunks
    ));
    Ok(out)
}

/// `reconstruct`: for each example x, (μ, logvar) = q(x), z₀ = μ + exp(logvar/2)·ε, z̃ =
/// z-Langevin(z₀ | x) with the run's settings (`--steps` overrides the number of steps), then
/// g(z₀) and g(z̃). Writes FILE.npy (g(z̃)), FILE_initial.npy (g(z₀)) and for image runs
/// FILE.png (rows: input, g(z₀), g(z̃), in bands of at most 16 columns).
pub fn reconstruct(engine: Arc<Engine>, args: &ReconstructArgs) -> anyhow::Result<Reconstruction> {
    let input = npy::read_npy(&args.input)?;
    let session = open(engine, &args.chain.run, Some(args.chain.seed))?;
    let (t, shape) = (&session.trainer, session.shape);
    let n = examples_in(&input, shape, &args.input)?;
    let d = shape.size();
    let z_cfg = z_langevin(t, args.chain.steps)?;
    let stem = out_stem(args.chain.out.as_deref(), &args.chain.run, "reconstruct");
    let files = [named(&stem, "", "npy"), named(&stem, "_initial", "npy"), named(&stem, "", "png")];
    refuse_to_overwrite(&args.input, &files)?;
    let (mut initial, mut revised) = (Vec::with_capacity(n * d), Vec::with_capacity(n * d));
    for (k, r) in balanced_chunks(n, t.cfg.batch_size).into_iter().enumerate() {
        let chain = t.infer_z(&input.values[r.start * d..r.end * d], &z_cfg, key(k)?, false)?;
        initial.extend(t.generate(&chain.states[0])?);
        revised.extend(t.generate(chain.states.last().expect("a chain has states"))?);
    }
    let mse = |g: &[f32]| {
        let sum: f64 = g.iter().zip(&input.values).map(|(a, b)| f64::from(a - b).powi(2)).sum();
        sum / (n * d) as f64
    };
    let (mse_initial, mse_revised) = (mse(&initial), mse(&revised));
    let mut out = Outcome::default();
    out.lines.extend(scale_note(&input, shape, &args.input));
    out.write_npy(files[0].clone(), &input.shape, &revised)?;
    out.write_npy(files[1].clone(), &input.shape, &initial)?;
    if !is_flat(shape) {
        let cols = n.min(16);
        let bands = n.div_ceil(cols);
        let rows = [input.values.clone(), initial, revised].concat();
        let pick = |r: usize, k: usize| Some((r / 3) * cols + k).filter(|&i| i < n).map(|i| (r % 3) * n + i);
        out.save_png(files[2].clone(), viz::tiles(&rows, shape, 3 * bands, cols, pick))?;
    }
    out.lines.push(format!(
        "reconstruction MSE per value over {n} examples: {mse_initial:.6} for g(z₀), {mse_revised:.6} for g(z̃) after {} z-Langevin steps",
        z_cfg.steps
    ));
    Ok(Reconstruction { outcome: out, mse_initial, mse_revised })
}

/// `interpolate`: z_i = (1 − s_i)·z_a + s_i·z_b, s_i = i/(P − 1), decoded by the generator
/// (in a full batch completed with prior draws; see the module doc). z_a, z_b are the first
/// two prior draws of the seed, or with `--input` (two examples) their latents: z₀ = μ(x)
/// from the inference model (no reparameterisation noise), revised by the run's z-Langevin
/// (`--steps` overrides; 0 keeps μ). The ends are exact: z_0 = z_a and z_{P−1} = z_b.
/// Writes FILE.npy `[P, …]`, FILE_z.npy `[P, nz]` and for image runs FILE.png (one row; with
/// `--input` the two examples stand at its ends).
pub fn interpolate(engine: Arc<Engine>, args: &InterpolateArgs) -> anyhow::Result<Outcome> {
    let p = args.points;
    if p < 2 {
        usage!("--points must be at least 2 (the two ends), got {p}");
    }
    let input = args.input.as_deref().map(|path| npy::read_npy(path).map(|a| (path, a))).transpose()?;
    let session = open(engine, &args.chain.run, Some(args.chain.seed))?;
    let (t, shape) = (&session.trainer, session.shape);
    let (b, d, nz) = (t.cfg.batch_size, shape.size(), t.cfg.nz);
    check_count("--points", p, d.max(nz))?;
    let stem = out_stem(args.chain.out.as_deref(), &args.chain.run, "interpolate");
    let files = [named(&stem, "", "npy"), named(&stem, "_z", "npy"), named(&stem, "", "png")];
    let context = t.prior_draw(0);
    let (ends, examples) = match &input {
        None => {
            let second = if b >= 2 { context[nz..2 * nz].to_vec() } else { t.prior_draw(1)[..nz].to_vec() };
            ([context[..nz].to_vec(), second].concat(), None)
        }
        Some((path, a)) => {
            let n = examples_in(a, shape, path)?;
            if n != 2 {
                bail!("{} holds {n} examples; interpolate --input needs exactly 2", path.display());
            }
            refuse_to_overwrite(path, &files)?;
            let z_cfg = z_langevin(t, args.chain.steps)?;
            (t.inferred_latents(&a.values, &z_cfg)?, Some(&a.values))
        }
    };
    let (za, zb) = ends.split_at(nz);
    let zs = Trainer::lerp_latents(za, zb, p);
    let x = t.decode_in_context(&zs, &context)?;
    let mut out = Outcome::default();
    if let Some((path, a)) = &input {
        out.lines.extend(scale_note(a, shape, path));
    }
    out.write_npy(files[0].clone(), &array_shape(p, shape), &x)?;
    out.write_npy(files[1].clone(), &[p, nz], &zs)?;
    if !is_flat(shape) {
        let strip = match examples {
            None => x,
            Some(ab) => [&ab[..d], &x[..], &ab[d..]].concat(),
        };
        let cols = strip.len() / d;
        out.save_png(files[2].clone(), viz::tiles(&strip, shape, 1, cols, |_, k| Some(k)))?;
    }
    let what = if input.is_some() { "the inferred latents of the two examples" } else { "two prior draws" };
    out.lines.push(format!("{p} points between {what}"));
    Ok(out)
}

/// `energy`: E(x) `[N]` for the examples of `--input` and, with `--grad`, ∇ₓE(x) in the
/// input's shape. E is the EBM network's output; the paper's f(x) = −E(x).
pub fn energy(engine: Arc<Engine>, args: &EnergyArgs) -> anyhow::Result<Outcome> {
    let input = npy::read_npy(&args.input)?;
    if let Some(grad) = &args.grad
        && (grad == &args.out || same_file(grad, &args.out))
    {
        usage!("--out and --grad both name {}; give two files", args.out.display());
    }
    let session = open(engine, &args.run, None)?;
    let (t, shape) = (&session.trainer, session.shape);
    let n = examples_in(&input, shape, &args.input)?;
    let outputs: Vec<PathBuf> = std::iter::once(args.out.clone()).chain(args.grad.clone()).collect();
    refuse_to_overwrite(&args.input, &outputs)?;
    // Every output's folder first, so that nothing is written when one of them can't be.
    for path in &outputs {
        check_parent(path)?;
    }
    for path in &outputs {
        create_parent(path)?;
    }
    let (mut energies, mut grads) = (Vec::with_capacity(n), Vec::new());
    for chunk in input.values.chunks(t.cfg.batch_size * shape.size()) {
        let (e, g) = t.energy(chunk, args.grad.is_some())?;
        energies.extend(e);
        grads.extend(g.unwrap_or_default());
    }
    let mut out = Outcome::default();
    out.lines.extend(scale_note(&input, shape, &args.input));
    out.write_npy(args.out.clone(), &[n], &energies)?;
    if let Some(path) = &args.grad {
        out.write_npy(path.clone(), &input.shape, &grads)?;
    }
    let (lo, hi) =
        energies.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &e| (l.min(e), h.max(e)));
    let mean = energies.iter().map(|&e| f64::from(e)).sum::<f64>() / n as f64;
    out.lines.push(format!(
        "energy E = −f over {n} examples: mean {mean:.4}, min {lo:.4}, max {hi:.4} (lower is more probable)"
    ));
    Ok(out)
}

/// `forward`: one network's output for the inputs given, in chunks of at most a training
/// batch (near-equal, as `reconstruct` makes them). The generator's batch norm uses each
/// chunk's statistics (training mode, as everywhere: see the module doc), so give it at most
/// B latents for outputs that a PyTorch module in training mode reproduces on the same batch.
/// Each forward of a spectrally normalised EBM advances its power iteration, as PyTorch's
/// does in training mode.
pub fn forward(engine: Arc<Engine>, args: &ForwardArgs) -> anyhow::Result<Outcome> {
    let input = npy::read_npy(&args.input)?;
    let session = open(engine, &args.run, None)?;
    let (t, shape) = (&session.trainer, session.shape);
    let nz = t.cfg.nz;
    let (n, d_in, out_dims): (usize, usize, Vec<usize>) = match args.net {
        NetChoice::Generator => {
            if input.shape.len() != 2 || input.shape[1] != nz || input.shape[0] == 0 {
                bail!(
                    "{} holds an array of shape {:?}; the generator takes latents [N, {nz}], N ≥ 1",
                    args.input.display(),
                    input.shape
                );
            }
            (input.shape[0], nz, array_shape(1, shape)[1..].to_vec())
        }
        NetChoice::Ebm => (examples_in(&input, shape, &args.input)?, shape.size(), vec![]),
        NetChoice::Inference => (examples_in(&input, shape, &args.input)?, shape.size(), vec![2 * nz]),
    };
    refuse_to_overwrite(&args.input, std::slice::from_ref(&args.out))?;
    check_parent(&args.out)?;
    create_parent(&args.out)?;
    let (e, g) = (&t.engine, &t.engine.gpu);
    let d_out: usize = out_dims.iter().product();
    let net = match args.net {
        NetChoice::Ebm => &t.models.ebm,
        NetChoice::Generator => &t.models.generator,
        NetChoice::Inference => &t.models.inference,
    };
    let mut values = Vec::with_capacity(n * d_out);
    for r in balanced_chunks(n, t.cfg.batch_size) {
        let m = r.len();
        let (x, y) = (g.upload(&input.values[r.start * d_in..r.end * d_in]), g.zeros(m * d_out));
        g.submit(|enc| net.forward(e, enc, m, &x, &y));
        values.extend(g.read::<f32>(&y)?);
    }
    let mut out = Outcome::default();
    if args.net != NetChoice::Generator {
        out.lines.extend(scale_note(&input, shape, &args.input));
    }
    let dims: Vec<usize> = std::iter::once(n).chain(out_dims).collect();
    out.write_npy(args.out.clone(), &dims, &values)?;
    Ok(out)
}

impl Outcome {
    fn write_npy(&mut self, path: PathBuf, shape: &[usize], values: &[f32]) -> anyhow::Result<()> {
        npy::write_npy(&path, shape, values)?;
        self.files.push(path);
        Ok(())
    }

    fn save_png(&mut self, path: PathBuf, img: image::RgbImage) -> anyhow::Result<()> {
        create_parent(&path)?;
        img.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
        self.files.push(path);
        Ok(())
    }
}

/// The run folder's session, with `seed` as the seed of its inspection draws.
fn open(engine: Arc<Engine>, run: &Path, seed: Option<u64>) -> anyhow::Result<Session> {
    let mut session = Session::open(engine, run)?;
    if session.averaged() {
        crate::say!("using the {} weights", session.weights_in_use());
    }
    if let Some(seed) = seed {
        session.trainer.cfg.seed = seed;
    }
    Ok(session)
}

/// A chunk's key for the inspection draws.
fn key(chunk: usize) -> anyhow::Result<u32> {
    u32::try_from(chunk).context("too many batches for one command")
}

/// The run's z-Langevin settings, with `steps` instead of its number of steps when given.
fn z_langevin(t: &Trainer, steps: Option<usize>) -> anyhow::Result<LangevinConfig> {
    let mut cfg = t.cfg.z_langevin;
    if let Some(k) = steps {
        cfg.steps = k;
    }
    check_chain("--steps", cfg.steps, t.cfg.batch_size * t.cfg.nz)?;
    Ok(cfg)
}

/// A chain keeps every state (`values` each): refuse step counts whose states do not fit.
fn check_chain(flag: &str, steps: usize, values: usize) -> anyhow::Result<()> {
    let most = (MAX_CHAIN_BYTES / (4 * values)).saturating_sub(1);
    if steps > most {
        usage!("{flag} {steps} is too many: a chain keeps every state, and at most {most} fit for this run");
    }
    Ok(())
}

/// `n` examples of `d` values: at least 1, at most [`MAX_VALUES`] values in all.
fn check_count(flag: &str, n: usize, d: usize) -> anyhow::Result<()> {
    if n == 0 {
        usage!("{flag} must be at least 1");
    }
    if n.saturating_mul(d) > MAX_VALUES {
        usage!("{flag} {n} is too many: at most {} for this run", MAX_VALUES / d);
    }
    Ok(())
}

/// Whether examples are flat feature vectors (2-D runs) rather than images.
fn is_flat(shape: Shape) -> bool {
    shape.h == 1 && shape.w == 1
}

/// The `.npy` shape of `n` examples: `[n, c]` for flat examples, else `[n, c, h, w]`.
fn array_shape(n: usize, shape: Shape) -> Vec<usize> {
    if is_flat(shape) { vec![n, shape.c] } else { vec![n, shape.c, shape.h, shape.w] }
}

/// The number of examples in `a`, whose shape must be `[N, …the run's example shape]`, N ≥ 1.
fn examples_in(a: &Array, shape: Shape, path: &Path) -> anyhow::Result<usize> {
    let want = array_shape(1, shape);
    if a.shape.len() != want.len() || a.shape[1..] != want[1..] {
        let want: Vec<String> =
            std::iter::once("N".to_string()).chain(want[1..].iter().map(usize::to_string)).collect();
        bail!(
            "{} holds an array of shape {:?}; this run's examples need [{}]",
            path.display(),
            a.shape,
            want.join(", ")
        );
    }
    if a.shape[0] == 0 {
        bail!("{} holds no examples (shape {:?})", path.display(), a.shape);
    }
    Ok(a.shape[0])
}

/// A note when image values are clearly outside the data scale [−1, 1] (e.g. 0…255).
fn scale_note(a: &Array, shape: Shape, path: &Path) -> Option<String> {
    if is_flat(shape) {
        return None;
    }
    let (lo, hi) =
        a.values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    (lo < -1.01 || hi > 1.01).then(|| {
        format!(
            "note: {} has values in [{lo}, {hi}]; image runs work in the data scale [−1, 1]",
            path.display()
        )
    })
}

/// A grid of image examples, as square as it goes.
fn grid(x: &[f32], shape: Shape) -> image::RgbImage {
    let n = x.len() / shape.size();
    let cols = (1..=n).find(|c| c * c >= n).unwrap_or(1);
    viz::tiles(x, shape, n.div_ceil(cols), cols, |r, k| Some(r * cols + k).filter(|&i| i < n))
}

/// The output stem: `--out` without a `.npy`/`.png` extension, `--out`/`default` when `--out`
/// is a folder, or `default` in the run folder.
fn out_stem(out: Option<&Path>, run: &Path, default: &str) -> PathBuf {
    let p = match out {
        None => run.join(default),
        Some(p) if p.is_dir() => p.join(default),
        Some(p) => p.to_path_buf(),
    };
    match p.extension() {
        Some(e) if e == "npy" || e == "png" => p.with_extension(""),
        _ => p,
    }
}

/// `stem` + `suffix` + `.ext`.
fn named(stem: &Path, suffix: &str, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(suffix);
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// An error when one of `outputs` is the file `input`.
fn refuse_to_overwrite(input: &Path, outputs: &[PathBuf]) -> anyhow::Result<()> {
    if let Some(o) = outputs.iter().find(|o| same_file(input, o)) {
        bail!(
            "refusing to overwrite the input {} with the output {}; choose another --out",
            input.display(),
            o.display()
        );
    }
    Ok(())
}
