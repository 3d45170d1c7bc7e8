//! What the controls edit: a preset, the data, and the main hyperparameters; resolved into a
//! [`RunConfig`] the same way the command line resolves `--preset` and `--set`.

use crate::config::{ConfigError, RunConfig};
use std::path::PathBuf;

/// The presets offered in the app, the 2-D ones first (the paper's CIFAR-10 and CelebA-64
/// presets are for real GPUs; they are offered too).
pub const PRESETS: [&str; 5] = ["toy2d", "checkerboard", "fmnist", "cifar10", "celeba64"];

/// How many of [`PRESETS`] train on 2-D toy data (the first ones).
pub const TOY_PRESETS: usize = 2;

/// Where the examples come from.
#[derive(Clone, Debug, PartialEq)]
pub enum DataChoice {
    /// The preset's own data (toy2d: a toy by name; fmnist: the embedded Fashion-MNIST).
    Preset,
    /// A 2-D toy by name (`8gaussians`, …).
    Toy(String),
    /// An IDX image file (MNIST layout, gzipped or not).
    Idx(PathBuf),
    /// A CIFAR-10 binary batch file or a folder of them.
    Cifar10(PathBuf),
    /// A folder of PNG/JPEG images, resized to `resize`² with 1 or 3 channels.
    Folder { path: PathBuf, resize: u32, channels: u8 },
}

/// The main hyperparameters (the rest come from the preset).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    pub batch_size: usize,
    pub x_steps: usize,
    pub x_step_size: f32,
    /// Metropolis-adjusted x-chains (MALA, `train.x_langevin.metropolis`).
    pub x_metropolis: bool,
    /// With MALA: a population jump after every this many x-steps (0: none;
    /// `train.x_langevin.jump_every`).
    pub x_jump_every: usize,
    /// With MALA: x-proposals outside [−b, b]^d are rejected (0: no box;
    /// `train.x_langevin.box_half_width`).
    pub x_box_half_width: f32,
    pub z_steps: usize,
    pub z_step_size: f32,
    pub ebm_lr: f32,
    pub generator_lr: f32,
    pub inference_lr: f32,
    pub iterations: u64,
}

impl Hyper {
    pub fn of(cfg: &RunConfig) -> Self {
        let t = &cfg.train;
        Self {
            batch_size: t.batch_size,
            x_steps: t.x_langevin.steps,
            x_step_size: t.x_langevin.step_size,
            x_metropolis: t.x_langevin.metropolis,
            x_jump_every: t.x_langevin.jump_every,
            x_box_half_width: t.x_langevin.box_half_width,
            z_steps: t.z_langevin.steps,
            z_step_size: t.z_langevin.step_size,
            ebm_lr: t.ebm_optim.lr,
            generator_lr: t.generator_optim.lr,
            inference_lr: t.inference_optim.lr,
            iterations: cfg.schedule.iterations,
        }
    }

    fn overrides(&self) -> Vec<String> {
        let mut o = vec![
            format!("train.batch_size={}", self.batch_size),
            format!("train.x_langevin.steps={}", self.x_steps),
            format!("train.x_langevin.step_size={:e}", self.x_step_size),
            format!("train.x_langevin.metropolis={}", self.x_metropolis),
            format!("train.z_langevin.steps={}", self.z_steps),
            format!("train.z_langevin.step_size={:e}", self.z_step_size),
            format!("train.ebm_optim.lr={:e}", self.ebm_lr),
            format!("train.generator_optim.lr={:e}", self.generator_lr),
            format!("train.inference_optim.lr={:e}", self.inference_lr),
            format!("schedule.iterations={}", self.iterations),
        ];
        if self.x_metropolis {
            o.push(format!("train.x_langevin.jump_every={}", self.x_jump_every));
            o.push(format!("train.x_langevin.box_half_width={}", self.x_box_half_width));
        } else {
            // A preset's second step size, jumps and box belong to its Metropolis-adjusted chain
            // (validate refuses them alone).
            o.push("train.x_langevin.second_step_every=0".into());
            o.push("train.x_langevin.jump_every=0".into());
            o.push("train.x_langevin.box_half_width=0".into());
        }
        o
    }
}

/// A session's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    pub preset: String,
    pub data: DataChoice,
    /// `None`: the preset's values.
    pub hyper: Option<Hyper>,
    /// Further `KEY=VALUE` overrides, applied first (tests use them for tiny models).
    pub overrides: Vec<String>,
}

impl Default for Setup {
    /// The 8-gaussians toy: trains in seconds on a CPU adapter.
    fn default() -> Self {
        Self::preset("toy2d")
    }
}

impl Setup {
    pub fn preset(name: &str) -> Self {
        Self { preset: name.into(), data: DataChoice::Preset, hyper: None, overrides: Vec::new() }
    }

    /// The whole configuration, or an error naming the bad value.
    pub fn resolve(&self) -> Result<RunConfig, ConfigError> {
        let mut table = RunConfig::preset(&self.preset)?;
        if let Some(data) = self.data_table() {
            table.insert("data".into(), toml::Value::Table(data));
        }
        let mut overrides = self.overrides.clone();
        if let Some(h) = &self.hyper {
            overrides.extend(h.overrides());
        }
        let grid = "schedule.grid=4".to_string();
        let origin = format!("preset {}", self.preset);
        // A small batch may not hold the preset's picture grid; the app does not use it.
        RunConfig::resolve(table.clone(), &overrides, &origin)
            .or_else(|e| RunConfig::resolve(table, &[overrides, vec![grid]].concat(), &origin).map_err(|_| e))
    }

    fn data_table(&self) -> Option<toml::Table> {
        let mut t = toml::Table::new();
        let mut put = |k: &str, v: toml::Value| {
            t.insert(k.into(), v);
        };
        let path = |p: &PathBuf| toml::Value::String(p.display().to_string());
        match &self.data {
            DataChoice::Preset => return None,
            DataChoice::Toy(name) => {
                put("kind", "toy2d".into());
                put("toy", name.as_str().into());
            }
            DataChoice::Idx(p) => {
                put("kind", "idx".into());
                put("images", path(p));
            }
            DataChoice::Cifar10(p) => {
                put("kind", "cifar10".into());
                put("path", path(p));
            }
            DataChoice::Folder { path: p, resize, channels } => {
                put("kind", "image-folder".into());
                put("path", path(p));
                put("resize", i64::from(*resize).into());
                put("channels", i64::from(*channels).into());
            }
        }
        Some(t)
    }
}
