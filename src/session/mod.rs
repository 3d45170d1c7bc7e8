//! A session: the one place where a configuration becomes data + networks + trainer, and
//! where a run's checkpoint is written with the metadata that rebuilds it.
//!
//! - [`Session::new`]: a fresh run from a resolved configuration (its data loaded, networks
//!   initialised from the seed);
//! - [`Session::open`]: a run folder's configuration and latest checkpoint, for inspection
//!   (`sample`, `eval`, …), without its data;
//! - [`Session::resume`]: a run folder, data loaded, to train on;
//! - [`Session::load`]: a checkpoint file, rebuilt from the configuration it records;
//! - [`Session::step`]: one training iteration on the next batch, with the learning-rate
//!   schedule;
//! - [`Session::save`]: the checkpoint, written atomically.
//!
//! The command line, the desktop app, `eval`, `ablate`, the benchmarks and the end-to-end
//! test all go through it. [`RunFolder`] is the run folder's layout and [`train`] the
//! headless training loop over a folder.

mod folder;
mod pictures;
mod train_loop;

pub use folder::{CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, RunFolder, RunSpec};
pub use pictures::density_maps;
pub use train_loop::{Probe, train};

use crate::checkpoint::{self, CheckpointMeta};
use crate::config::{DataConfig, RunConfig};
use crate::data::DataSource;
use crate::data::toy2d::Toy2d;
use crate::nn::{Engine, Shape};
use crate::train::{IterMetrics, NewTrainerError, TrainError, Trainer};
use anyhow::bail;
use std::path::Path;
use std::sync::Arc;

/// A run's training examples and their description in words.
pub struct Data {
    pub source: DataSource,
    pub description: String,
}

/// A configuration made into networks, a trainer and (for training) data.
pub struct Session {
    pub cfg: RunConfig,
    pub trainer: Trainer,
    /// The training examples; `None` for a run opened for inspection only.
    pub data: Option<Data>,
    /// One example's shape `[channels, height, width]` (`[2, 1, 1]` for 2-D data).
    pub shape: Shape,
}

impl Session {
    /// A fresh session: loads `cfg.data`, builds the networks of `cfg.model` and initialises
    /// them from `cfg.train.seed`.
    ///
    /// # Errors
    /// A data file that cannot be read (naming it), or settings the networks or the trainer
    /// refuse (naming the key).
    pub fn new(engine: Arc<Engine>, cfg: RunConfig) -> anyhow::Result<Self> {
        let (source, description) = DataSource::load(&cfg.data, cfg.train.batch_size, cfg.train.seed)?;
        let shape = source.example_shape();
        // Networks that don't take the data's examples: say which data it is.
        let mut session =
            Self::untrained(engine, cfg, shape).map_err(|e| match e.is::<NewTrainerError>() {
                true => e,
                false => e.context(format!("data: {description}")),
            })?;
        session.data = Some(Data { source, description });
        Ok(session)
    }

    /// A run folder's configuration and latest checkpoint, without its data (the example
    /// shape comes from the checkpoint). When the run keeps moving averages of the weights,
    /// the networks use them ([`Session::averaged`]).
    pub fn open(engine: Arc<Engine>, dir: &Path) -> anyhow::Result<Self> {
        let folder = RunFolder::open(dir)?;
        let cfg = folder.config(&[])?;
        let path = folder.checkpoint();
        let shape = example_shape_of(&cfg, &checkpoint::read_metadata(&path)?)?;
        let mut session = Self::untrained(engine, cfg, shape)?;
        checkpoint::load(&path, &mut session.trainer)?;
        session.trainer.use_averages(true);
        Ok(session)
    }

    /// Whether the networks compute with the moving averages of their weights (sessions
    /// opened for inspection of a run that keeps them, or inside [`Session::with_averages`]).
    pub fn averaged(&self) -> bool {
        self.trainer.averages_in_use()
    }

    /// Runs `f` with the networks on their moving averages when the run keeps them (the
    /// second argument says whether it does), then puts the weights and the networks' state
    /// back as they were ([`Trainer::keep_state`]): what pictures and views during training
    /// are made with, so that looking never changes the training.
    pub fn with_averages<T>(&mut self, f: impl FnOnce(&Session, bool) -> T) -> T {
        let before = self.averaged();
        let on = self.trainer.use_averages(true);
        self.trainer.keep_state(true);
        let out = f(self, on);
        self.trainer.keep_state(false);
        self.trainer.use_averages(before);
        out
    }

    /// [`Session::with_averages`] for an async `f` (the app's worker).
    pub async fn with_averages_async<T>(&mut self, f: impl AsyncFnOnce(&Session, bool) -> T) -> T {
        let before = self.averaged();
        let on = self.trainer.use_averages(true);
        self.trainer.keep_state(true);
        let out = f(self, on).await;
        self.trainer.keep_state(false);
        self.trainer.use_averages(before);
        out
    }

    /// The weights forward passes use, in words (for reports).
    pub fn weights_in_use(&self) -> String {
        match self.averaged() {
            true => format!("moving average (ema_decay {})", self.cfg.train.ema_decay),
            false => "trained".to_string(),
        }
    }

    /// A run folder to continue training: its configuration (with `overrides`), its data and
    /// its latest checkpoint.
    pub fn resume(engine: Arc<Engine>, folder: &RunFolder, overrides: &[String]) -> anyhow::Result<Self> {
        let mut session = Self::new(engine, folder.config(overrides)?)?;
        checkpoint::load(folder.checkpoint(), &mut session.trainer)?;
        Ok(session)
    }

    /// A checkpoint file (the app's Load): a session rebuilt from the configuration the
    /// checkpoint records, or from `fallback` when it records none; data loaded.
    pub fn load(engine: Arc<Engine>, path: &Path, fallback: Option<&RunConfig>) -> anyhow::Result<Self> {
        let meta = checkpoint::read_metadata(path)?;
        let cfg = match (recorded_config(&meta), fallback) {
            (Some(cfg), _) => cfg,
            (None, Some(cfg)) => cfg.clone(),
            (None, None) => bail!("{} records no configuration; configure a session first", path.display()),
        };
        let mut session = Self::new(engine, cfg)?;
        checkpoint::load(path, &mut session.trainer)?;
        Ok(session)
    }

    /// Networks for examples of `shape` at their initial values, without data (what the
    /// other constructors start from; benchmarks record iterations of it).
    pub fn untrained(engine: Arc<Engine>, cfg: RunConfig, shape: Shape) -> anyhow::Result<Self> {
        let models = cfg.model.build(shape, cfg.train.nz).map_err(anyhow::Error::msg)?;
        let trainer = Trainer::new(engine, cfg.train.clone(), models)?;
        Ok(Self { cfg, trainer, data: None, shape })
    }

    /// The training examples (sessions made by [`Session::open`] have none).
    pub fn data(&self) -> anyhow::Result<&DataSource> {
        match &self.data {
            Some(d) => Ok(&d.source),
            None => bail!("this session was opened for inspection and has no data loaded"),
        }
    }

    /// The toy, for 2-D runs.
    pub fn toy(&self) -> Option<Toy2d> {
        match &self.cfg.data {
            DataConfig::Toy2d { toy } => toy.parse().ok(),
            _ => None,
        }
    }

    /// Iterations done so far.
    pub fn iteration(&self) -> u64 {
        u64::from(self.trainer.iteration)
    }

    /// One training iteration on the next batch: the epoch's learning rates, the batch of
    /// this iteration (reproducible from the seed), one submission and one readback.
    pub fn step(&mut self) -> Result<IterMetrics, TrainError> {
        let batch = self.next_batch()?;
        self.trainer.iteration(&batch)
    }

    /// [`Session::step`] as a future (the app's worker, in the browser as on the desktop).
    pub async fn step_async(&mut self) -> Result<IterMetrics, TrainError> {
        let batch = self.next_batch()?;
        self.trainer.iteration_async(&batch).await
    }

    /// Sets the epoch's learning rates and returns this iteration's batch.
    fn next_batch(&mut self) -> Result<Vec<f32>, TrainError> {
        assert!(!self.averaged(), "Session::step on the averaged weights");
        let data = &self.data.as_ref().ok_or(TrainError::NoData)?.source;
        let it = u64::from(self.trainer.iteration);
        self.trainer.set_epoch((it / data.iterations_per_epoch()) as u32);
        Ok(data.batch(it, self.cfg.train.batch_size, self.cfg.train.seed))
    }

    /// Writes the checkpoint to `path` (atomically) with the run's configuration and example
    /// shape in its metadata, so that [`Session::open`] and [`Session::load`] rebuild it.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let s = self.shape;
        let extra = serde_json::json!({ "run_config": self.cfg.to_toml(), "example_shape": [s.c, s.h, s.w] });
        checkpoint::save(path, &self.trainer, &extra)?;
        Ok(())
    }

    /// Parameters of (EBM, generator, inference model), as PyTorch counts them.
    pub fn num_params(&self) -> [usize; 3] {
        let m = &self.trainer.models;
        [m.ebm.num_params(), m.generator.num_params(), m.inference.num_params()]
    }
}

/// The run configuration recorded in a checkpoint's metadata by [`Session::save`], if any.
fn recorded_config(meta: &CheckpointMeta) -> Option<RunConfig> {
    let text = meta.extra.get("run_config")?.as_str()?;
    let table: toml::Table = text.parse().ok()?;
    RunConfig::resolve(table, &[], "checkpoint").ok()
}

/// The example shape of a run without loading its data: recorded in the checkpoint, or
/// implied by the data kind.
fn example_shape_of(cfg: &RunConfig, meta: &CheckpointMeta) -> anyhow::Result<Shape> {
    if let Some([c, h, w]) =
        meta.extra.get("example_shape").and_then(|v| serde_json::from_value::<[usize; 3]>(v.clone()).ok())
    {
        return Ok(Shape::image(c, h, w));
    }
    match &cfg.data {
        DataConfig::Toy2d { .. } => Ok(Shape::flat(2)),
        DataConfig::FashionMnist { .. } => Ok(Shape::image(1, 28, 28)),
        _ => bail!("the checkpoint does not record the example shape; load the data to find it"),
    }
}
