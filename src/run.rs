//! Headless training (`dualmcmc --no-gui train`): a run folder with the resolved
//! configuration, `metrics.jsonl`, PNG grids and checkpoints; resumable; Ctrl-C saves.
//!
//! Run folder layout:
//! - `config.toml`: the whole resolved configuration (a resume reads it back);
//! - `metrics.jsonl`: one JSON object per logged iteration;
//! - `checkpoint.safetensors`: the latest checkpoint (written atomically);
//! - `images/`: `samples_ITER.png` (generator), `revised_ITER.png` (after x-Langevin),
//!   `recon_ITER.png` (rows: data, g(z₀) from the inference model, g(z̃) after z-Langevin),
//!   `x_chain_ITER.png` and `z_chain_ITER.png` (revision strips, one row per chain), or for
//!   2-D data `density_ITER.png` (exp(−E) with data in white and revised samples in red).

use crate::checkpoint;
use crate::config::{DEFAULT_PRESET, RunConfig};
use crate::data::DataSource;
use crate::eval::grid::Grid;
use crate::nn::Engine;
use crate::train::{IterMetrics, Trainer};
use crate::viz;
use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// What `train` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct TrainArgs {
    /// A preset name (default `fmnist`); ignored with `config` or `resume`.
    pub preset: Option<String>,
    /// A TOML configuration file instead of a preset.
    pub config: Option<PathBuf>,
    /// `KEY=VALUE` overrides.
    pub set: Vec<String>,
    /// The run folder (default `runs/<preset>-<n>`, the first free n).
    pub out: Option<PathBuf>,
    /// Continue the run in this folder.
    pub resume: Option<PathBuf>,
    /// No progress bar (tests, logs).
    pub quiet: bool,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Trains as `args` says; returns the run folder.
pub fn train(engine: Arc<Engine>, args: &TrainArgs) -> anyhow::Result<PathBuf> {
    let (cfg, dir) = resolve(args)?;
    let (data, description) = DataSource::load(&cfg.data, cfg.train.batch_size, cfg.train.seed)?;
    let models = cfg.model.build(data.example_shape(), cfg.train.nz).map_err(anyhow::Error::msg)?;
    let mut trainer =
        Trainer::new(engine, cfg.train.clone(), models).map_err(|m| anyhow::anyhow!("train.{m}"))?;
    let ckpt = dir.join(CHECKPOINT_FILE);
    if args.resume.is_some() {
        checkpoint::load(&ckpt, &mut trainer)?;
        eprintln!("resuming from iteration {} (checkpoint {})", trainer.iteration, ckpt.display());
    } else {
        std::fs::create_dir_all(dir.join("images"))
            .with_context(|| format!("cannot create the run folder {}", dir.display()))?;
        write_file(&dir.join(CONFIG_FILE), cfg.to_toml().as_bytes())?;
    }
    eprintln!("data: {description}");
    eprintln!(
        "networks: EBM {} parameters, generator {}, inference model {}",
        trainer.models.ebm.num_params(),
        trainer.models.generator.num_params(),
        trainer.models.inference.num_params()
    );
    eprintln!("run folder: {}", dir.display());
    let _ = ctrlc::try_set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    INTERRUPTED.store(false, Ordering::SeqCst);
    Loop { cfg: &cfg, dir: &dir, data: &data, trainer: &mut trainer, quiet: args.quiet }.run()?;
    Ok(dir)
}

/// A finished or running run, loaded from its folder: its configuration and a trainer with
/// the latest checkpoint's parameters (for `sample`, `reconstruct`, `energy`, …). The data
/// set is not loaded; the example shape comes from the checkpoint's networks.
pub fn open_run(engine: Arc<Engine>, dir: &Path) -> anyhow::Result<(RunConfig, Trainer)> {
    let file = dir.join(CONFIG_FILE);
    if !file.is_file() {
        bail!("{} is not a run folder: it has no {CONFIG_FILE}", dir.display());
    }
    let ckpt = dir.join(CHECKPOINT_FILE);
    let cfg = RunConfig::resolve(RunConfig::file(&file)?, &[], &file.display().to_string())?;
    let meta = checkpoint::read_metadata(&ckpt)?;
    let shape = example_shape_of(&cfg, &meta)?;
    let models = cfg.model.build(shape, cfg.train.nz).map_err(anyhow::Error::msg)?;
    let mut trainer =
        Trainer::new(engine, cfg.train.clone(), models).map_err(|m| anyhow::anyhow!("train.{m}"))?;
    checkpoint::load(&ckpt, &mut trainer)?;
    Ok((cfg, trainer))
}

/// The example shape of a run without loading its data: recorded in the checkpoint, or
/// implied by the data kind.
fn example_shape_of(cfg: &RunConfig, meta: &checkpoint::CheckpointMeta) -> anyhow::Result<crate::nn::Shape> {
    use crate::config::DataConfig;
    if let Some([c, h, w]) =
        meta.extra.get("example_shape").and_then(|v| serde_json::from_value::<[usize; 3]>(v.clone()).ok())
    {
        return Ok(crate::nn::Shape::image(c, h, w));
    }
    match &cfg.data {
        DataConfig::Toy2d { .. } => Ok(crate::nn::Shape::flat(2)),
        DataConfig::FashionMnist { .. } => Ok(crate::nn::Shape::image(1, 28, 28)),
        _ => bail!("the checkpoint does not record the example shape; load the data to find it"),
    }
}

/// Checks the arguments and the configuration they name without touching the GPU, so that
/// a bad setting is reported before the adapter is opened.
pub fn check_args(args: &TrainArgs) -> anyhow::Result<()> {
    resolve(args).map(|_| ())
}

/// The configuration and the run folder: from the folder when resuming, else from the preset
/// or file, in a new folder.
fn resolve(args: &TrainArgs) -> anyhow::Result<(RunConfig, PathBuf)> {
    if let Some(dir) = &args.resume {
        let file = dir.join(CONFIG_FILE);
        if !file.is_file() {
            bail!("cannot resume {}: it has no {CONFIG_FILE} (is it a run folder?)", dir.display());
        }
        if !dir.join(CHECKPOINT_FILE).is_file() {
            bail!("cannot resume {}: it has no {CHECKPOINT_FILE} yet", dir.display());
        }
        let cfg = RunConfig::resolve(RunConfig::file(&file)?, &args.set, &file.display().to_string())?;
        return Ok((cfg, dir.clone()));
    }
    let (table, origin, name) = match &args.config {
        Some(path) => {
            let stem = path.file_stem().map_or("run".into(), |s| s.to_string_lossy().into_owned());
            (RunConfig::file(path)?, path.display().to_string(), stem)
        }
        None => {
            let name = args.preset.clone().unwrap_or_else(|| DEFAULT_PRESET.into());
            (RunConfig::preset(&name)?, format!("preset {name}"), name)
        }
    };
    let cfg = RunConfig::resolve(table, &args.set, &origin)?;
    let dir = match &args.out {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
                bail!(
                    "the run folder {} exists and is not empty; choose another with --out, or continue it with --resume",
                    dir.display()
                );
            }
            dir.clone()
        }
        None => (1..)
            .map(|n| PathBuf::from("runs").join(format!("{name}-{n}")))
            .find(|p| !p.exists())
            .expect("a free name"),
    };
    Ok((cfg, dir))
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

struct Loop<'a> {
    cfg: &'a RunConfig,
    dir: &'a Path,
    data: &'a DataSource,
    trainer: &'a mut Trainer,
    quiet: bool,
}

impl Loop<'_> {
    fn run(&mut self) -> anyhow::Result<()> {
        let s = &self.cfg.schedule;
        let start = u64::from(self.trainer.iteration);
        if start >= s.iterations {
            eprintln!(
                "the run has done its {} iterations already (raise schedule.iterations to go on)",
                s.iterations
            );
            return Ok(());
        }
        let bar = progress_bar(start, s.iterations, self.quiet);
        let metrics_path = self.dir.join(METRICS_FILE);
        let mut metrics_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .with_context(|| format!("cannot open {}", metrics_path.display()))?;
        let per_epoch = self.data.iterations_per_epoch();
        let began = std::time::Instant::now();
        for it in start..s.iterations {
            self.trainer.set_epoch((it / per_epoch) as u32);
            let batch = self.data.batch(it, self.cfg.train.batch_size, self.cfg.train.seed);
            let t = std::time::Instant::now();
            let m = match self.trainer.iteration(&batch) {
                Ok(m) => m,
                Err(e) => {
                    bar.abandon();
                    bail!("{e}. The last checkpoint in {} is kept.", self.dir.display());
                }
            };
            let seconds = t.elapsed().as_secs_f64();
            let done = it + 1;
            if done % s.log_every == 0 || done == s.iterations {
                let line = metrics_line(&m, self.trainer.epoch, seconds, began.elapsed().as_secs_f64());
                writeln!(metrics_file, "{line}")
                    .with_context(|| format!("cannot write {}", metrics_path.display()))?;
            }
            bar.set_message(format!(
                "gen {:.3} inf {:.3} gap {:+.3} mse {:.4}",
                m.gen_loss,
                m.inf_loss,
                m.energy_data - m.energy_samples,
                m.recon_mse
            ));
            bar.inc(1);
            let last = done == s.iterations;
            let interrupted = INTERRUPTED.load(Ordering::SeqCst);
            if (s.images_every > 0 && done % s.images_every == 0) || last || interrupted {
                self.pictures(done)?;
            }
            if (s.checkpoint_every > 0 && done % s.checkpoint_every == 0) || last || interrupted {
                self.save()?;
            }
            if interrupted {
                bar.abandon_with_message("interrupted: checkpoint saved");
                eprintln!(
                    "interrupted after iteration {done}; continue with --resume {}",
                    self.dir.display()
                );
                return Ok(());
            }
        }
        bar.finish();
        Ok(())
    }

    fn save(&self) -> anyhow::Result<()> {
        save_checkpoint(&self.dir.join(CHECKPOINT_FILE), self.cfg, self.data.example_shape(), self.trainer)
    }

    /// The PNG pictures of iteration `it` (see the module doc).
    fn pictures(&self, it: u64) -> anyhow::Result<()> {
        let t = &*self.trainer;
        let shape = self.data.example_shape();
        let images = self.dir.join("images");
        let save = |name: &str, img: image::RgbImage| -> anyhow::Result<()> {
            let path = images.join(format!("{name}_{it:06}.png"));
            img.save(&path).with_context(|| format!("cannot write {}", path.display()))
        };
        let x_cfg = t.cfg.x_langevin.langevin(t.cfg.parameterisation);
        let z = t.prior_draw(0);
        let samples = t.generate(&z)?;
        let chain = t.revise_x(&samples, &x_cfg, 0)?;
        let revised = chain.states.last().expect("a chain has states").clone();
        if shape.size() == 2 {
            return self.density_picture(it, &revised, &images);
        }
        let cols = self.cfg.schedule.grid;
        save("samples", viz::image_grid(&samples, shape, cols))?;
        save("revised", viz::image_grid(&revised, shape, cols))?;
        let steps = viz::shown_steps(x_cfg.steps, 11);
        save("x_chain", viz::chain_strip(&chain.states, shape, cols, &steps))?;
        let n = cols.min(t.cfg.batch_size);
        let data = self.data.examples(n, t.cfg.seed);
        let z_cfg = t.cfg.z_langevin.langevin(t.cfg.parameterisation);
        let zchain = t.infer_z(&data, &z_cfg, 0, false)?;
        let decoded = t.decode_states(&zchain.states)?;
        let rows: Vec<f32> =
            [data.clone(), decoded[0].clone(), decoded.last().expect("states").clone()].concat();
        save("recon", viz::tiles(&rows, shape, 3, n, |r, k| Some(r * n + k)))?;
        let steps = viz::shown_steps(z_cfg.steps, 11);
        save("z_chain", viz::chain_strip(&decoded, shape, n, &steps))?;
        Ok(())
    }

    fn density_picture(&self, it: u64, revised: &[f32], images: &Path) -> anyhow::Result<()> {
        let crate::data::DataSource::Toy(toy) = self.data else { return Ok(()) };
        let grid = Grid::new(toy.domain().0, toy.domain().1, 100);
        let energies = grid_energies(self.trainer, &grid)?;
        let data: Vec<[f32; 2]> = toy.sample(500, 3);
        let samples: Vec<[f32; 2]> = revised.chunks(2).map(|c| [c[0], c[1]]).collect();
        let img = viz::density_map(&energies, grid.n, grid.lo, grid.hi, &data, &samples, 4);
        let path = images.join(format!("density_{it:06}.png"));
        img.save(&path).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Writes `trainer` to `path` (atomically) with the run's configuration and example shape in
/// its metadata, so that [`open_run`] and the desktop app can rebuild the networks from it.
pub fn save_checkpoint(
    path: &Path,
    cfg: &RunConfig,
    shape: crate::nn::Shape,
    trainer: &Trainer,
) -> anyhow::Result<()> {
    let extra =
        serde_json::json!({ "run_config": cfg.to_toml(), "example_shape": [shape.c, shape.h, shape.w] });
    checkpoint::save(path, trainer, &extra)?;
    Ok(())
}

/// The run configuration recorded in a checkpoint's metadata by [`save_checkpoint`], if any.
pub fn checkpoint_config(meta: &checkpoint::CheckpointMeta) -> Option<RunConfig> {
    let text = meta.extra.get("run_config")?.as_str()?;
    let table: toml::Table = text.parse().ok()?;
    RunConfig::resolve(table, &[], "checkpoint").ok()
}

/// E at every cell centre of `grid`, in batches.
pub fn grid_energies(t: &Trainer, grid: &Grid) -> anyhow::Result<Vec<f32>> {
    let points = grid.points();
    let mut out = Vec::with_capacity(grid.len());
    for chunk in points.chunks(2 * t.cfg.batch_size) {
        out.extend(t.energy(chunk, false)?.0);
    }
    Ok(out)
}

fn metrics_line(m: &IterMetrics, epoch: u32, seconds: f64, elapsed: f64) -> serde_json::Value {
    serde_json::json!({
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
    })
}

pub(crate) fn progress_bar(start: u64, total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total).with_position(start);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{pos}/{len} [{elapsed_precise} < {eta_precise}] {per_sec} {msg}",
        )
        .expect("a valid template"),
    );
    bar
}
