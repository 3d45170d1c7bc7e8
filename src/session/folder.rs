//! A run folder and what `train` is asked to make of one.
//!
//! Layout:
//! - `config.toml`: the whole resolved configuration (a resume reads it back);
//! - `metrics.jsonl`: one JSON object per logged iteration;
//! - `checkpoint.safetensors`: the latest checkpoint (written atomically);
//! - `images/`: `samples_ITER.png` (generator), `revised_ITER.png` (after x-Langevin),
//!   `recon_ITER.png` (rows: data, g(z₀) from the inference model, g(z̃) after z-Langevin),
//!   `x_chain_ITER.png` and `z_chain_ITER.png` (revision strips, one row per chain), or for
//!   2-D data `density_ITER.png` (exp(−E) with data in white and revised samples in red).

use crate::config::{DEFAULT_PRESET, RunConfig};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// What `train` is asked to do: a new run from a preset or a file, or the continuation of a
/// run folder.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
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
}

impl RunSpec {
    /// The configuration and the run folder: from the folder when resuming, else from the
    /// preset or file, in a new folder (not created yet). Touches neither the GPU nor the
    /// disk, so a bad setting is reported before the adapter is opened.
    pub fn resolve(&self) -> anyhow::Result<(RunConfig, PathBuf)> {
        if let Some(dir) = &self.resume {
            if dir.is_file() {
                let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                bail!(
                    "cannot resume {}: it is a file; --resume takes the run folder (e.g. {})",
                    dir.display(),
                    parent.display()
                );
            }
            if !dir.join(CONFIG_FILE).is_file() {
                bail!("cannot resume {}: it has no {CONFIG_FILE} (is it a run folder?)", dir.display());
            }
            let folder = RunFolder { dir: dir.clone() };
            if !folder.checkpoint().is_file() {
                bail!("cannot resume {}: it has no {CHECKPOINT_FILE} yet", dir.display());
            }
            return Ok((folder.config(&self.set)?, dir.clone()));
        }
        let (table, origin, name) = match &self.config {
            Some(path) => {
                let stem = path.file_stem().map_or("run".into(), |s| s.to_string_lossy().into_owned());
                (RunConfig::file(path)?, path.display().to_string(), stem)
            }
            None => {
                let name = self.preset.clone().unwrap_or_else(|| DEFAULT_PRESET.into());
                (RunConfig::preset(&name)?, format!("preset {name}"), name)
            }
        };
        let cfg = RunConfig::resolve(table, &self.set, &origin)?;
        let dir = match &self.out {
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
}

/// A run folder on disk.
#[derive(Clone, Debug)]
pub struct RunFolder {
    pub dir: PathBuf,
}

impl RunFolder {
    /// Makes `dir` and `dir/images`, and writes the configuration.
    pub fn create(dir: &Path, cfg: &RunConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("images"))
            .with_context(|| format!("cannot create the run folder {}", dir.display()))?;
        let folder = Self { dir: dir.to_path_buf() };
        folder.write_config(cfg)?;
        Ok(folder)
    }

    /// Writes `config.toml` (atomically: a kill leaves the old file or the new one).
    pub fn write_config(&self, cfg: &RunConfig) -> anyhow::Result<()> {
        let file = self.dir.join(CONFIG_FILE);
        write_atomically(&file, cfg.to_toml().as_bytes())
    }

    /// An existing run folder (one with a `config.toml`).
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        if !dir.is_dir() {
            bail!("{} is not a run folder: no such folder", dir.display());
        }
        if !dir.join(CONFIG_FILE).is_file() {
            bail!("{} is not a run folder: it has no {CONFIG_FILE}", dir.display());
        }
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// Its configuration, with `overrides` applied.
    pub fn config(&self, overrides: &[String]) -> anyhow::Result<RunConfig> {
        let file = self.dir.join(CONFIG_FILE);
        Ok(RunConfig::resolve(RunConfig::file(&file)?, overrides, &file.display().to_string())?)
    }

    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join(CHECKPOINT_FILE)
    }

    pub fn metrics(&self) -> PathBuf {
        self.dir.join(METRICS_FILE)
    }

    pub fn images(&self) -> PathBuf {
        self.dir.join("images")
    }

    /// The chart of the held-out measurements over training time ([`crate::viz::progress_chart`]).
    pub fn progress_chart(&self) -> PathBuf {
        self.dir.join("progress.png")
    }

    /// The lines of `metrics.jsonl` as JSON objects (none if there is no file yet). A last
    /// line cut short (the process was killed while writing it) is left out.
    ///
    /// # Errors
    /// The file cannot be read, or a line before the last is not a JSON object (naming it).
    pub fn read_metrics(&self) -> anyhow::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        let path = self.metrics();
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str(line) {
                Ok(serde_json::Value::Object(m)) => out.push(m),
                _ if i + 1 == lines.len() && !text.ends_with('\n') => break,
                _ => bail!("{}: line {} is not a JSON object", path.display(), i + 1),
            }
        }
        Ok(out)
    }

    /// Makes the folder ready to train on from its checkpoint at `iteration` after the
    /// process stopped in any way (a kill included): `metrics.jsonl` keeps its whole lines up
    /// to `iteration` (the later ones are trained again, so they would repeat), rewritten
    /// atomically when that changes it; temporary files of writes that never finished (of
    /// the checkpoint, `config.toml`, `metrics.jsonl`) are removed.
    pub fn repair(&self, iteration: u64) -> anyhow::Result<()> {
        let lines = self.read_metrics()?;
        let keep = |m: &serde_json::Map<String, serde_json::Value>| {
            m.get("iteration").and_then(serde_json::Value::as_u64).is_some_and(|i| i <= iteration)
        };
        let kept: String = lines
            .iter()
            .filter(|m| keep(m))
            .map(|m| format!("{}\n", serde_json::Value::Object(m.clone())))
            .collect();
        let path = self.metrics();
        let now = std::fs::read(&path).unwrap_or_default();
        if !now.is_empty() && now != kept.as_bytes() {
            write_atomically(&path, kept.as_bytes())?;
        }
        let unfinished = [CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE].map(|f| format!(".{f}."));
        for entry in
            std::fs::read_dir(&self.dir).with_context(|| format!("cannot list {}", self.dir.display()))?
        {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if unfinished.iter().any(|u| name.starts_with(u.as_str())) && name.ends_with(".tmp") {
                std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically (see [`crate::checkpoint::write_atomically`]).
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::checkpoint::write_atomically(path, |w| w.write_all(bytes))
        .with_context(|| format!("cannot write {}", path.display()))
}
