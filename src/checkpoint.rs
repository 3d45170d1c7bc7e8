//! Checkpoints: the whole training state of a [`Trainer`] in one safetensors file
//! (docs/algorithm.md §8), written atomically, read back with clear errors (§8).
//!
//! # Format (version 2)
//!
//! One [safetensors](https://github.com/huggingface/safetensors) file; every tensor is F32,
//! little-endian, row-major, with the shape the network's [`ParamLayout`] gives it (PyTorch's
//! conventions: conv weight `[out, in, kh, kw]`, linear weight `[out, in]`), except batch
//! norm's `num_batches_tracked`, an I64 scalar as in PyTorch.
//!
//! Tensors, for each network `{net}` ∈ {`ebm`, `generator`, `inference`}:
//!
//! | name | what |
//! | --- | --- |
//! | `{net}.{name}` | exactly the `state_dict` of the PyTorch module of the same architecture: every parameter, batch norm's `running_mean`/`running_var`/`num_batches_tracked`, spectral norm's `weight_u`/`weight_v`, named as the layout names them, e.g. `ebm.blocks.0.c1.weight_orig` |
//! | `dualmcmc.{net}.{name}` | our own bookkeeping, which PyTorch does not have: the spectral-norm σ and scratch vector (`weight_sigma`, `weight_sn_scratch`); optional on reading (working values that every forward overwrites) |
//! | `optim.{net}.{name}.exp_avg` | Adam's first moment m of parameter `{name}` (PyTorch's name for it) |
//! | `optim.{net}.{name}.exp_avg_sq` | Adam's second moment v |
//! | `ema.{net}.{name}` | the moving average of parameter `{name}`, when the run keeps one (`train.ema_decay` > 0); optional |
//!
//! So the tensors that start with `{net}.`, the prefix stripped, are that network's
//! `state_dict`, loadable with `load_state_dict(strict=True)`; likewise the tensors that
//! start with `ema.{net}.`, with the buffers of `{net}.`, are the averaged network's.
//! `num_batches_tracked` holds the network's optimiser steps (PyTorch reads the count only
//! with `momentum=None`; ours is 0.1); we check that it is there and do not use it.
//!
//! **Version 1** (before 2026-12-03) kept σ and the scratch vector among `{net}.` and had no
//! `num_batches_tracked`. It still loads, bit for bit; it is written no more.
//!
//! Metadata (the safetensors `__metadata__` map, string → string):
//!
//! | key | value |
//! | --- | --- |
//! | `format` | `dualmcmc-checkpoint` |
//! | `format_version` | `2` (1 is read too) |
//! | `train_config` | the [`TrainConfig`] as JSON (it holds the seed) |
//! | `iteration`, `epoch` | decimal: iterations done, and the epoch of the learning-rate schedule |
//! | `{net}.adam_t` | decimal: Adam steps taken (bias corrections) |
//! | `{net}.architecture` | [`fingerprint`] of the network's layout |
//! | `extra` | the caller's description (model, preset …) as JSON |
//!
//! All noise is counter-based Philox keyed by (seed, stream, iteration, step), so seed,
//! iteration and epoch are the whole random state: a run resumed from a checkpoint continues
//! bit for bit as if it had not stopped (on the same adapter). Gradients are not saved: every
//! step zeroes them before it accumulates.
//!
//! # Loading a network into PyTorch
//!
//! `python/dualmcmc_torch` builds the three networks from a run's `config.toml` and loads
//! them; by hand, a module of the same architecture takes the tensors with the network's
//! prefix stripped:
//!
//! ```python
//! from safetensors.torch import load_file
//! sd = load_file("run.safetensors")
//! ebm_sd = {k[len("ebm."):]: v for k, v in sd.items() if k.startswith("ebm.")}
//! ebm.load_state_dict(ebm_sd, strict=True)
//! ```
//!
//! PyTorch writes checkpoints that we read by saving the same names, with the metadata
//! above (`dualmcmc_torch.save`); the `dualmcmc.` tensors may be left out.
//!
//! # Writing
//!
//! [`save`] writes a temporary file in the target's directory, fsyncs it, renames it over the
//! target and fsyncs the directory: whoever reads the path sees the old complete file or the
//! new complete file, never a part of one, even after a crash or a power cut.

use crate::gpu::ReadbackError;
use crate::nn::ParamLayout;
use crate::nn::network::{NetValues, Network};
use crate::nn::params::{Init, Kind, TensorSpec};
use crate::train::{TrainConfig, Trainer};
use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorInfo};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The value of the `format` metadata key.
pub const FORMAT: &str = "dualmcmc-checkpoint";
/// The version this code writes. It also reads version 1 (see the module doc).
pub const FORMAT_VERSION: u32 = 2;
/// The prefix of our own bookkeeping tensors (version 2): `dualmcmc.{net}.{name}`.
pub const OWN_PREFIX: &str = "dualmcmc";
/// The networks in the order of [`CheckpointMeta`]'s arrays, as they prefix tensor names.
pub const NETS: [&str; 3] = ["ebm", "generator", "inference"];

/// What a checkpoint says about itself (its metadata), readable before any trainer exists.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointMeta {
    pub format_version: u32,
    /// The configuration of the run that wrote it.
    pub config: TrainConfig,
    /// Iterations done.
    pub iteration: u32,
    pub epoch: u32,
    /// Adam steps of (EBM, generator, inference model).
    pub adam_t: [u64; 3],
    /// [`fingerprint`]s of (EBM, generator, inference model).
    pub architecture: [String; 3],
    /// What the caller passed to [`save`] (model and preset description).
    pub extra: serde_json::Value,
}

/// Why a checkpoint could not be written or read. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    // The causes are in the messages and not `source()`s, so that an error chain printed
    // with `{:#}` does not say them twice.
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: std::io::Error },
    #[error("cannot save {path}: {cause}")]
    Device { path: PathBuf, cause: ReadbackError },
    #[error("{path} is not a safetensors checkpoint, or it is truncated: {reason}")]
    NotSafetensors { path: PathBuf, reason: String },
    #[error("{path} is not a usable dualmcmc checkpoint: {reason}")]
    Metadata { path: PathBuf, reason: String },
    #[error("checkpoint {path} was made for a different architecture: {reason}")]
    Architecture { path: PathBuf, reason: String },
    #[error("checkpoint {path}: tensor `{tensor}` is stored as {dtype}; checkpoints hold F32 only")]
    Dtype { path: PathBuf, tensor: String, dtype: String },
}

/// A short, stable description of a network's architecture: FNV-1a (64 bit) over the
/// ordered list of its tensors' (name, kind, shape), as `fnv1a64:` and 16 hex digits.
/// Two layouts with the same fingerprint load each other's tensors.
pub fn fingerprint(layout: &ParamLayout) -> String {
    // FNV-1a rather than std's hasher: std's may change between Rust releases, and the
    // fingerprint is stored in files.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in &layout.tensors {
        let kind = match t.kind {
            Kind::Param => "param",
            Kind::State => "state",
        };
        for b in format!("{} {kind} {:?}\n", t.name, t.shape).bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("fnv1a64:{h:016x}")
}

/// Writes the trainer's networks (parameters, Adam's moments, state), its step counts and
/// configuration, and `extra` (a description of the models, for rebuilding them) to `path`,
/// atomically (see the module doc). Reads the networks back from the GPU, waiting for all
/// submitted work.
///
/// Errors: a readback failure, or the file cannot be written (e.g. its directory does not
/// exist); nothing is left behind then, and an existing checkpoint at `path` is untouched.
pub fn save(
    path: impl AsRef<Path>,
    trainer: &Trainer,
    extra: &serde_json::Value,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let gpu = &trainer.engine.gpu;
    let mut values = Vec::with_capacity(3);
    for net in networks(trainer) {
        values.push(
            net.read_values(gpu).map_err(|cause| CheckpointError::Device { path: path.into(), cause })?,
        );
    }

    // The file's tensors, each a slice of the values just read.
    let mut tensors: Vec<Tensor> = Vec::new();
    let mut meta: HashMap<String, String> = HashMap::new();
    for ((net_name, net), v) in NETS.into_iter().zip(networks(trainer)).zip(&values) {
        tensors.extend(net_tensors(net_name, net, v, true));
        tensors.extend(batch_norm_counters(net_name, net, v.adam_t));
        tensors.extend(average_tensors(net_name, net, v));
        meta.insert(format!("{net_name}.adam_t"), v.adam_t.to_string());
        meta.insert(format!("{net_name}.architecture"), fingerprint(&net.layout));
    }
    let config = serde_json::to_string(&trainer.cfg).expect("TrainConfig serialises to JSON");
    meta.insert("format".into(), FORMAT.into());
    meta.insert("format_version".into(), FORMAT_VERSION.to_string());
    meta.insert("train_config".into(), config);
    meta.insert("iteration".into(), trainer.iteration.to_string());
    meta.insert("epoch".into(), trainer.epoch.to_string());
    meta.insert("extra".into(), extra.to_string());
    write_tensors(path, &tensors, meta).map_err(|cause| CheckpointError::Write { path: path.into(), cause })
}

/// One tensor of a file: name, shape, values.
pub(crate) struct Tensor<'a> {
    pub name: String,
    pub shape: &'a [usize],
    pub data: Data<'a>,
}

/// A tensor's values: F32 (every tensor of ours), or the I64 of batch norm's
/// `num_batches_tracked` (PyTorch's type for it).
pub(crate) enum Data<'a> {
    F32(&'a [f32]),
    I64(Vec<i64>),
}

impl Data<'_> {
    fn dtype(&self) -> Dtype {
        match self {
            Data::F32(_) => Dtype::F32,
            Data::I64(_) => Dtype::I64,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Data::F32(v) => 4 * v.len(),
            Data::I64(v) => 8 * v.len(),
        }
    }
}

/// The file's tensors of network `net_name` with values `v`, in layout order, named as
/// version [`FORMAT_VERSION`] names them; with `optimiser`, each parameter is followed by its
/// two Adam moments.
pub(crate) fn net_tensors<'a>(
    net_name: &str,
    net: &'a Network,
    v: &'a NetValues,
    optimiser: bool,
) -> Vec<Tensor<'a>> {
    entries(net_name, &net.layout, optimiser, FORMAT_VERSION)
        .into_iter()
        .map(|(name, t, buf)| Tensor {
            name,
            shape: t.shape.as_slice(),
            data: Data::F32(&buf.of(v)[t.offset..t.offset + t.numel()]),
        })
        .collect()
}

/// The module paths (`ups.0.bn`, …) of a layout's batch norms: those with a `running_mean`.
fn batch_norms(layout: &ParamLayout) -> Vec<&str> {
    let paths = layout.tensors.iter().filter_map(|t| t.name.strip_suffix(".running_mean"));
    // A batch norm at the top level (no module path) would be named `running_mean` alone.
    let top = layout.tensors.iter().any(|t| t.name == "running_mean");
    paths.chain(top.then_some("")).collect()
}

/// The name of the `num_batches_tracked` of the batch norm at `path` in network `net_name`.
fn counter_name(net_name: &str, path: &str) -> String {
    match path {
        "" => format!("{net_name}.num_batches_tracked"),
        p => format!("{net_name}.{p}.num_batches_tracked"),
    }
}

/// `{net}.{bn}.num_batches_tracked` for every batch norm of the network: PyTorch's count of
/// training-mode forwards, an I64 scalar. We write the network's optimiser steps: PyTorch
/// reads the count only for `momentum=None` (a cumulative average), and ours is 0.1.
fn batch_norm_counters<'a>(net_name: &str, net: &Network, steps: u64) -> Vec<Tensor<'a>> {
    let steps = i64::try_from(steps).unwrap_or(i64::MAX);
    batch_norms(&net.layout)
        .into_iter()
        .map(|p| Tensor { name: counter_name(net_name, p), shape: &[], data: Data::I64(vec![steps]) })
        .collect()
}

/// The file's tensors of the average of network `net_name`'s parameters (none if `v` has no
/// average): `ema.{net}.{name}` for each parameter.
fn average_tensors<'a>(net_name: &str, net: &'a Network, v: &'a NetValues) -> Vec<Tensor<'a>> {
    let Some(avg) = &v.average else { return Vec::new() };
    let params = net.layout.tensors.iter().filter(|t| t.kind == Kind::Param);
    params
        .map(|t| Tensor {
            name: format!("ema.{net_name}.{}", t.name),
            shape: t.shape.as_slice(),
            data: Data::F32(&avg[t.offset..t.offset + t.numel()]),
        })
        .collect()
}

/// The average of network `net_name`'s parameters from the file, laid out as `net` lays them
/// out: `None` if the file has none (a run without `ema_decay`, or an older one).
fn average_of(
    path: &Path,
    st: &SafeTensors,
    net_name: &str,
    net: &Network,
) -> Result<Option<Vec<f32>>, CheckpointError> {
    let arch = |reason: String| CheckpointError::Architecture { path: path.into(), reason };
    let prefix = format!("ema.{net_name}.");
    let present = st.names().into_iter().filter(|n| n.starts_with(&prefix)).count();
    if present == 0 {
        return Ok(None);
    }
    let mut avg = vec![0.0; net.layout.params_len];
    let mut expected = 0;
    for t in net.layout.tensors.iter().filter(|t| t.kind == Kind::Param) {
        let name = format!("{prefix}{}", t.name);
        read_tensor(path, st, &name, t, &mut avg[t.offset..t.offset + t.numel()])?;
        expected += 1;
    }
    if present != expected {
        return Err(arch(format!(
            "the file has {present} `{prefix}` tensors; this `{net_name}` has {expected} parameters"
        )));
    }
    Ok(Some(avg))
}

/// Tensor `name` of the file into `dst`, checked to have `t`'s shape and to be F32.
fn read_tensor(
    path: &Path,
    st: &SafeTensors,
    name: &str,
    t: &TensorSpec,
    dst: &mut [f32],
) -> Result<(), CheckpointError> {
    let arch = |reason: String| CheckpointError::Architecture { path: path.into(), reason };
    let view = st.tensor(name).map_err(|_| arch(format!("tensor `{name}` is missing from the file")))?;
    if view.shape() != t.shape.as_slice() {
        return Err(arch(format!(
            "tensor `{name}` has shape {:?} here, {:?} in the file",
            t.shape,
            view.shape()
        )));
    }
    if view.dtype() != Dtype::F32 {
        let dtype = format!("{:?}", view.dtype());
        return Err(CheckpointError::Dtype { path: path.into(), tensor: name.to_string(), dtype });
    }
    // Decoded byte by byte: the data need not be 4-byte aligned in memory.
    for (d, b) in dst.iter_mut().zip(view.data().chunks_exact(4)) {
        *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Ok(())
}

/// Writes tensors and string metadata as one safetensors file, atomically (see the module
/// doc).
pub(crate) fn write_tensors(
    path: &Path,
    tensors: &[Tensor],
    meta: HashMap<String, String>,
) -> std::io::Result<()> {
    let mut infos: Vec<(String, TensorInfo)> = Vec::new();
    let mut end = 0;
    for t in tensors {
        let start = end;
        end += t.data.bytes();
        infos.push((
            t.name.clone(),
            TensorInfo { dtype: t.data.dtype(), shape: t.shape.to_vec(), data_offsets: (start, end) },
        ));
    }
    let header = Metadata::new(Some(meta), infos).expect("tensors laid out back to back");
    let mut header = serde_json::to_vec(&header).expect("a safetensors header serialises to JSON");
    // Padded with spaces to a multiple of 8 bytes, as safetensors does, so that the data
    // that follows starts aligned.
    header.resize(header.len().next_multiple_of(8), b' ');

    // safetensors: the header's length (u64, little-endian), the header, the data. Written
    // value by value rather than built in memory first: a paper-sized checkpoint is ~0.6 GB.
    write_atomically(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        for t in tensors {
            match &t.data {
                Data::F32(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))?,
                Data::I64(v) => v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))?,
            }
        }
        Ok(())
    })
}

/// Reads the checkpoint's metadata (configuration, counters, fingerprints, `extra`), e.g. to
/// rebuild a matching trainer before [`load`]. The whole file is read and checked to be a
/// complete safetensors file, so a truncated checkpoint is reported here already.
pub fn read_metadata(path: impl AsRef<Path>) -> Result<CheckpointMeta, CheckpointError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let (_, header) = parse(path, &bytes)?;
    meta_of(path, &header)
}

/// Restores parameters, Adam's moments and step counts, state, iteration and epoch from
/// `path` into `trainer`, which must have been built with the same architecture. A trainer
/// that keeps averages takes the file's, or starts them at the file's parameters when the
/// file has none.
/// `trainer.cfg` is left as it is: build the trainer from [`read_metadata`]'s `config` for an
/// exact resume (the seed is in it).
///
/// Everything is checked before anything is written, so on an error the trainer is
/// unchanged. Errors: the file is missing or unreadable, not a safetensors file or
/// truncated, not a dualmcmc checkpoint or of another format version, a tensor missing or
/// extra or of another shape (another architecture), a tensor not F32.
pub fn load(path: impl AsRef<Path>, trainer: &mut Trainer) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let (st, header) = parse(path, &bytes)?;
    let meta = meta_of(path, &header)?;
    let mut values = Vec::with_capacity(3);
    for (i, (net_name, net)) in NETS.into_iter().zip(networks(trainer)).enumerate() {
        let mut v = values_of(path, &st, net_name, net, true, meta.format_version)?;
        // Tensor by tensor the file matches; the fingerprint also covers what names and
        // shapes do not show (which tensors are trained, which are state).
        let here = fingerprint(&net.layout);
        if meta.architecture[i] != here {
            return Err(CheckpointError::Architecture {
                path: path.into(),
                reason: format!(
                    "`{net_name}` has fingerprint {here} here, {} in the file, though its tensor names and shapes agree",
                    meta.architecture[i]
                ),
            });
        }
        v.adam_t = meta.adam_t[i];
        v.average = average_of(path, &st, net_name, net)?;
        values.push(v);
    }
    let gpu = &trainer.engine.gpu;
    let models = &mut trainer.models;
    for (net, v) in [&mut models.ebm, &mut models.generator, &mut models.inference].into_iter().zip(&values) {
        net.upload_values(gpu, v);
    }
    trainer.iteration = meta.iteration;
    trainer.epoch = meta.epoch;
    Ok(())
}

fn networks(trainer: &Trainer) -> [&Network; 3] {
    let m = &trainer.models;
    [&m.ebm, &m.generator, &m.inference]
}

/// Which of a network's flat buffers a tensor of the file comes from.
#[derive(Clone, Copy, Debug)]
enum Buffer {
    Params,
    AdamM,
    AdamV,
    State,
}

impl Buffer {
    fn of(self, v: &NetValues) -> &[f32] {
        match self {
            Buffer::Params => &v.params,
            Buffer::AdamM => &v.adam_m,
            Buffer::AdamV => &v.adam_v,
            Buffer::State => &v.state,
        }
    }

    fn of_mut(self, v: &mut NetValues) -> &mut [f32] {
        match self {
            Buffer::Params => &mut v.params,
            Buffer::AdamM => &mut v.adam_m,
            Buffer::AdamV => &mut v.adam_v,
            Buffer::State => &mut v.state,
        }
    }
}

/// The file's tensors of network `net_name`, in layout order: (name in the file, the layout's
/// tensor, the buffer it lies in). A parameter comes with its two Adam moments if `optimiser`.
/// Format `version` 2 keeps our bookkeeping tensors (not [`TensorSpec::torch`]) under
/// `dualmcmc.{net}.`; version 1 had them among the network's.
fn entries<'a>(
    net_name: &str,
    layout: &'a ParamLayout,
    optimiser: bool,
    version: u32,
) -> Vec<(String, &'a TensorSpec, Buffer)> {
    let mut out = Vec::new();
    for t in &layout.tensors {
        let name = match t.torch || version < 2 {
            true => format!("{net_name}.{}", t.name),
            false => format!("{OWN_PREFIX}.{net_name}.{}", t.name),
        };
        match t.kind {
            Kind::Param => {
                // The parameter first: an architecture error then names it, not a moment.
                let (m, v) = (format!("optim.{name}.exp_avg"), format!("optim.{name}.exp_avg_sq"));
                out.push((name, t, Buffer::Params));
                if optimiser {
                    out.push((m, t, Buffer::AdamM));
                    out.push((v, t, Buffer::AdamV));
                }
            }
            Kind::State => out.push((name, t, Buffer::State)),
        }
    }
    out
}

/// Temporary file beside `path`, `write` into it, fsync, rename over `path`, fsync the
/// directory. The temporary file deletes itself on any error before the rename.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp =
        tempfile::Builder::new().prefix(&format!(".{file_name}.")).suffix(".tmp").tempfile_in(dir)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
    write(&mut w)?;
    w.flush()?;
    drop(w);
    // Temporary files are created private (0600); a checkpoint is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable only once the directory entry is on disk too.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|cause| CheckpointError::Read { path: path.into(), cause })
}

/// The file's tensors and its header (which `SafeTensors` keeps to itself, hence parsed
/// twice; the header is small).
pub(crate) fn parse<'a>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<(SafeTensors<'a>, Metadata), CheckpointError> {
    let not = |e: safetensors::SafeTensorError| CheckpointError::NotSafetensors {
        path: path.into(),
        reason: e.to_string(),
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(not)?;
    Ok((SafeTensors::deserialize(bytes).map_err(not)?, header))
}

/// The metadata of a parsed file, checked and converted.
fn meta_of(path: &Path, header: &Metadata) -> Result<CheckpointMeta, CheckpointError> {
    let bad = |reason: String| CheckpointError::Metadata { path: path.into(), reason };
    let Some(meta) = header.metadata() else {
        return Err(bad("it has no metadata (a safetensors file written by something else?)".into()));
    };
    let get = |key: &str| -> Result<&str, CheckpointError> {
        meta.get(key).map(String::as_str).ok_or_else(|| bad(format!("the metadata entry `{key}` is missing")))
    };
    fn number<T: std::str::FromStr>(key: &str, s: &str) -> Result<T, String> {
        s.parse().map_err(|_| format!("the metadata entry `{key}` = {s:?} is not a valid number"))
    }
    if get("format")? != FORMAT {
        return Err(bad(format!("its `format` is {:?}, not {FORMAT:?}", get("format")?)));
    }
    let format_version: u32 = number("format_version", get("format_version")?).map_err(bad)?;
    if !(1..=FORMAT_VERSION).contains(&format_version) {
        return Err(bad(format!(
            "it has format version {format_version}; this program reads versions 1 to {FORMAT_VERSION}"
        )));
    }
    let config: TrainConfig = serde_json::from_str(get("train_config")?)
        .map_err(|e| bad(format!("its training configuration (`train_config`) cannot be read: {e}")))?;
    let iteration = number("iteration", get("iteration")?).map_err(bad)?;
    let epoch = number("epoch", get("epoch")?).map_err(bad)?;
    let mut adam_t = [0u64; 3];
    let mut architecture: [String; 3] = Default::default();
    for (i, net) in NETS.into_iter().enumerate() {
        let key = format!("{net}.adam_t");
        adam_t[i] = number(&key, get(&key)?).map_err(bad)?;
        architecture[i] = get(&format!("{net}.architecture"))?.to_string();
    }
    let extra = serde_json::from_str(get("extra")?)
        .map_err(|e| bad(format!("the metadata entry `extra` is not JSON: {e}")))?;
    Ok(CheckpointMeta { format_version, config, iteration, epoch, adam_t, architecture, extra })
}

/// The values of network `net_name` from a file of format `version`, in flat buffers laid
/// out as `net` lays them out (padding between tensors zero). Checks that the file has
/// exactly `net`'s tensors, with its shapes, in F32; in version 2 our bookkeeping tensors
/// (`dualmcmc.{net}.…`) may be absent (a file written by PyTorch: they take their initial
/// values, which the next forward overwrites), and every batch norm has its I64
/// `num_batches_tracked` (read and not used).
pub(crate) fn values_of(
    path: &Path,
    st: &SafeTensors,
    net_name: &str,
    net: &Network,
    optimiser: bool,
    version: u32,
) -> Result<NetValues, CheckpointError> {
    let arch = |reason: String| CheckpointError::Architecture { path: path.into(), reason };
    let layout = &net.layout;
    let mut v = NetValues {
        params: vec![0.0; layout.params_len],
        adam_m: vec![0.0; layout.params_len],
        adam_v: vec![0.0; layout.params_len],
        state: vec![0.0; layout.state_len],
        adam_t: 0,
        average: None,
    };
    let mut expected = std::collections::HashSet::new();
    let names: std::collections::HashSet<String> = st.names().into_iter().map(String::from).collect();
    for (name, t, buf) in entries(net_name, layout, optimiser, version) {
        let dst = &mut buf.of_mut(&mut v)[t.offset..t.offset + t.numel()];
        if version >= 2 && !t.torch && !names.contains(&name) {
            // Ours alone (σ, scratch): constants at initialisation, working values later.
            if let Init::Constant(c) = t.init {
                dst.fill(c);
            }
        } else {
            read_tensor(path, st, &name, t, dst)?;
        }
        expected.insert(name);
    }
    if version >= 2 {
        for bn in batch_norms(layout) {
            let name = counter_name(net_name, bn);
            let view =
                st.tensor(&name).map_err(|_| arch(format!("tensor `{name}` is missing from the file")))?;
            if view.dtype() != Dtype::I64 || view.shape().iter().product::<usize>() != 1 {
                return Err(arch(format!(
                    "tensor `{name}` is {:?} of shape {:?}; batch norm's count is one I64",
                    view.dtype(),
                    view.shape()
                )));
            }
            expected.insert(name);
        }
    }
    let own = [format!("{net_name}."), format!("optim.{net_name}."), format!("{OWN_PREFIX}.{net_name}.")];
    let mut extra: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| own.iter().any(|p| n.starts_with(p)) && !expected.contains(*n))
        .collect();
    extra.sort_unstable();
    if let Some(first) = extra.first() {
        let more = match extra.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more)"),
        };
        return Err(arch(format!("the file has tensor `{first}`{more}, which this `{net_name}` lacks")));
    }
    Ok(v)
}
