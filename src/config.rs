//! A run's whole configuration — data, networks, algorithm, schedule — as one serde
//! structure, read from a preset (TOML files in `assets/presets/`, embedded in the binary) or
//! a file, with command-line overrides by key (`--set train.x_langevin.steps=20`).

pub use crate::data::DataConfig;
use crate::models::ModelConfig;
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The presets shipped in `assets/presets/`, by name.
pub const PRESETS: &[(&str, &str)] = &[
    ("fmnist", include_str!("../assets/presets/fmnist.toml")),
    ("toy2d", include_str!("../assets/presets/toy2d.toml")),
    ("checkerboard", include_str!("../assets/presets/checkerboard.toml")),
    ("cifar10", include_str!("../assets/presets/cifar10.toml")),
    ("celeba64", include_str!("../assets/presets/celeba64.toml")),
];

/// The default preset: Fashion-MNIST, small networks sized for a CPU adapter.
pub const DEFAULT_PRESET: &str = "fmnist";

/// How long to train and what to write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Training iterations in all.
    pub iterations: u64,
    /// A line in `metrics.jsonl` every this many iterations.
    pub log_every: u64,
    /// PNG grids every this many iterations (0: only at the end).
    pub images_every: u64,
    /// A checkpoint every this many iterations (0: only at the end).
    pub checkpoint_every: u64,
    /// Held-out measurements in `metrics.jsonl` every this many iterations (0: never): the
    /// log-likelihood for 2-D data, of the trained and of the averaged weights.
    #[serde(default)]
    pub eval_every: u64,
    /// Examples per side of the image grids.
    pub grid: usize,
}

/// Everything one run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub schedule: ScheduleConfig,
}

/// A command line that asks for something impossible (a flag's value out of range, flags that
/// contradict each other or the run): exit code 2, as for the errors of clap and of
/// [`ConfigError`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The deepest MLP a configuration may ask for (`model.layers`).
pub const MAX_MLP_LAYERS: usize = 1000;

/// A configuration problem, naming the file or key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown preset '{0}'; the presets are: {1}")]
    UnknownPreset(String, String),
    #[error("cannot read the configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("override '{0}': expected KEY=VALUE, e.g. train.x_langevin.steps=20")]
    OverrideSyntax(String),
    #[error(
        "override '{key}': there is no key '{key}' in the configuration (known at that level: {known}){elsewhere}"
    )]
    UnknownKey { key: String, known: String, elsewhere: String },
    #[error("override '{key}={raw}': {key} takes {wanted} (the configuration has {old})")]
    OverrideType { key: String, raw: String, wanted: &'static str, old: String },
}

impl RunConfig {
    /// A preset by name.
    pub fn preset(name: &str) -> Result<toml::Table, ConfigError> {
        let text = PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
            ConfigError::UnknownPreset(
                name.into(),
                PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", "),
            )
        })?;
        parse_table(text, &format!("preset {name}"))
    }

    /// A TOML file.
    pub fn file(path: &Path) -> Result<toml::Table, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        parse_table(&text, &path.display().to_string())
    }

    /// Applies `KEY=VALUE` overrides to `table`, then checks types and ranges. `origin` names
    /// the preset or file in errors.
    pub fn resolve(mut table: toml::Table, overrides: &[String], origin: &str) -> Result<Self, ConfigError> {
        if !overrides.is_empty() {
            add_defaults(&mut table);
        }
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let origin = if overrides.is_empty() {
            origin.to_string()
        } else {
            format!("{origin} with the --set overrides")
        };
        let origin = origin.as_str();
        let cfg: RunConfig = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
            ConfigError::Invalid { origin: origin.into(), message: e.to_string() }
        })?;
        cfg.validate().map_err(|message| ConfigError::Invalid { origin: origin.into(), message })?;
        Ok(cfg)
    }

    /// Range checks of every section; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        self.train.validate().map_err(|m| format!("train.{m}"))?;
        let s = &self.schedule;
        if s.iterations == 0 {
            return Err("schedule.iterations must be at least 1".into());
        }
        if s.log_every == 0 {
            return Err("schedule.log_every must be at least 1".into());
        }
        if !(1..=32).contains(&s.grid) {
            return Err(format!("schedule.grid must be between 1 and 32, got {}", s.grid));
        }
        if s.grid * s.grid > self.train.batch_size {
            return Err(format!(
                "schedule.grid² = {} is more than train.batch_size = {}; lower the grid",
                s.grid * s.grid,
                self.train.batch_size
            ));
        }
        match &self.model {
            ModelConfig::Mlp { hidden, layers } if *hidden == 0 || *layers == 0 => {
                Err("model.hidden and model.layers must be at least 1".into())
            }
            ModelConfig::Mlp { layers, .. } if *layers > MAX_MLP_LAYERS => Err(format!(
                "model.layers = {layers} is more than {MAX_MLP_LAYERS}; every layer is a few dispatches of \
                 every Langevin step, so deeper MLPs would take longer to record than to train"
            )),
            ModelConfig::Small { width, .. } if *width == 0 => Err("model.width must be at least 1".into()),
            _ => Ok(()),
        }
    }

    /// The configuration as TOML (written into every run folder).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a RunConfig always serialises")
    }
}

/// Adds the keys a valid `table` leaves to their defaults (e.g. `train.ema_decay`), so that
/// `--set` can change them too. A table that is not a valid configuration is left as it is
/// (its error comes after the overrides).
fn add_defaults(table: &mut toml::Table) {
    let complete = toml::Value::Table(table.clone())
        .try_into::<RunConfig>()
        .ok()
        .and_then(|cfg| toml::Table::try_from(cfg).ok());
    if let Some(complete) = complete {
        merge_missing(table, complete);
    }
}

fn merge_missing(table: &mut toml::Table, defaults: toml::Table) {
    for (key, value) in defaults {
        match (table.get_mut(&key), value) {
            (None, value) => {
                table.insert(key, value);
            }
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge_missing(inner, value),
            _ => {}
        }
    }
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Invalid { origin: origin.into(), message: e.to_string() })
}

/// Sets `a.b.c = value`; the key must exist already (so typos are errors). Values are read
/// as TOML (`20`, `0.5`, `true`, `"text"`, `[1, 2]`), bare words as strings; an integer given
/// for a float key becomes a float.
fn apply_override(table: &mut toml::Table, text: &str) -> Result<(), ConfigError> {
    let (key, raw) = text.split_once('=').ok_or_else(|| ConfigError::OverrideSyntax(text.into()))?;
    let key = key.trim();
    let path: Vec<&str> = key.split('.').collect();
    if key.is_empty() || path.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::OverrideSyntax(text.into()));
    }
    let unknown = |t: &toml::Table| ConfigError::UnknownKey {
        key: key.into(),
        known: t.keys().cloned().collect::<Vec<_>>().join(", "),
        elsewhere: presets_with(&path),
    };
    let mut node = table;
    for part in &path[..path.len() - 1] {
        let next = node.get(*part).filter(|v| v.is_table()).is_some();
        if !next {
            return Err(unknown(node));
        }
        node = node.get_mut(*part).and_then(|v| v.as_table_mut()).expect("checked above");
    }
    let last = path[path.len() - 1];
    // Optional keys (e.g. data.labels, data.crop) may be absent from the preset.
    let optional = matches!(last, "labels" | "crop" | "resize");
    let old = node.get(last).cloned();
    if old.is_none() && !optional {
        return Err(unknown(node));
    }
    let mut value = parse_value(raw.trim());
    if let (Some(toml::Value::Float(_)), toml::Value::Integer(i)) = (&old, &value) {
        value = toml::Value::Float(*i as f64);
    }
    if let Some(old) = &old {
        check_kind(key, raw.trim(), old, &value)?;
    }
    node.insert(last.into(), value);
    Ok(())
}

/// The kind of value an override gives must be the kind the configuration holds (numbers
/// of either sort count as one kind: serde checks integer against float and names the key).
fn check_kind(key: &str, raw: &str, old: &toml::Value, new: &toml::Value) -> Result<(), ConfigError> {
    let kind = |v: &toml::Value| match v {
        toml::Value::Integer(_) | toml::Value::Float(_) => "a number",
        toml::Value::String(_) => "a string",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
        toml::Value::Datetime(_) => "a date",
    };
    if kind(old) == kind(new) {
        return Ok(());
    }
    Err(ConfigError::OverrideType {
        key: key.into(),
        raw: raw.into(),
        wanted: kind(old),
        old: old.to_string(),
    })
}

/// `"; presets that have it: toy2d"` when other shipped presets hold the key `path`, else "".
fn presets_with(path: &[&str]) -> String {
    let has = |text: &str| {
        let Ok(table) = text.parse::<toml::Table>() else { return false };
        let mut node = &table;
        for part in &path[..path.len() - 1] {
            match node.get(*part).and_then(|v| v.as_table()) {
                Some(t) => node = t,
                None => return false,
            }
        }
        node.contains_key(path[path.len() - 1])
    };
    let names: Vec<&str> = PRESETS.iter().filter(|(_, text)| has(text)).map(|(name, _)| *name).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("; the presets that have it: {} (choose one with --preset)", names.join(", "))
    }
}

fn parse_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("parsed above"),
        Err(_) => toml::Value::String(raw.into()),
    }
}
