//! The feature network of the Fréchet distance: a small classifier trained with our own
//! engine (`dualmcmc --no-gui train-classifier`), because the Inception weights that FID uses
//! cannot be had here. Its penultimate layer (the trunk's output, `[batch, features]`) gives
//! the features whose statistics [`crate::eval::frechet`] compares.
//!
//! # File format
//!
//! One safetensors file: the trunk's tensors under `features.`, the head's under `head.`
//! (names as the layouts give them, F32), and metadata:
//!
//! | key | value |
//! | --- | --- |
//! | `format` | `dualmcmc-feature-network` |
//! | `spec` | [`FeatureNetSpec`] as JSON: input shape, width, feature and class counts |
//! | `architecture` | fingerprints of the two layouts |
//! | `trained_on`, `test_accuracy`, `training` | what it was trained on and how, as text |
//!
//! Any network of this architecture (any input shape with sides a multiple of 4, any number
//! of classes) can serve as the feature network of `eval --features FILE`.

use crate::checkpoint::{
    CheckpointError, FORMAT_VERSION, fingerprint, net_tensors, parse, values_of, write_tensors,
};
use crate::data::{EpochOrder, ImageSet};
use crate::gpu::{GpuBuffer, ReadbackError};
use crate::models::classifier;
use crate::nn::network::NetValues;
use crate::nn::{Engine, Grad, Network, Shape};
use crate::ops::adam::AdamConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The value of the `format` metadata key.
pub const FORMAT: &str = "dualmcmc-feature-network";
/// The shipped Fashion-MNIST feature network, relative to the crate root.
pub const SHIPPED: &str = "assets/feature-net/fashion-mnist.safetensors";

/// The architecture of a feature network (see [`classifier::features`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureNetSpec {
    /// Input `[channels, height, width]`.
    pub input: [usize; 3],
    /// Channels of the first convolution (the second has twice as many).
    pub width: usize,
    /// Length of the feature vector (the penultimate layer).
    pub features: usize,
    pub classes: usize,
}

impl FeatureNetSpec {
    pub fn input_shape(&self) -> Shape {
        Shape::image(self.input[0], self.input[1], self.input[2])
    }

    fn check(&self) -> Result<(), String> {
        let [c, h, w] = self.input;
        if c == 0 || h == 0 || w == 0 || h % 4 != 0 || w % 4 != 0 {
            return Err(format!("input {c}×{h}×{w}: height and width must be positive multiples of 4"));
        }
        if self.width == 0 || self.features == 0 || self.classes < 2 {
            return Err("width and features must be positive and classes at least 2".into());
        }
        Ok(())
    }
}

/// What a feature-network file says about how it was made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureNetInfo {
    pub trained_on: String,
    /// Test accuracy measured when it was trained, in [0, 1]; `None` if not recorded.
    pub test_accuracy: Option<f64>,
    pub training: String,
}

/// Why a feature network could not be read. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum FeatureNetError {
    #[error("cannot read feature network {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error(transparent)]
    File(#[from] CheckpointError),
    #[error("{path} is not a dualmcmc feature network: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("cannot use feature network {path}: {cause}")]
    Device { path: PathBuf, cause: ReadbackError },
    #[error(
        "feature network {path} takes images {expected:?} ([channels, height, width]); these are {got:?}"
    )]
    Shape { path: PathBuf, expected: [usize; 3], got: [usize; 3] },
}

/// A classifier on the GPU: trunk (features) and head (class scores), with the buffers of
/// one batch.
pub struct FeatureNet {
    pub spec: FeatureNetSpec,
    engine: Arc<Engine>,
    trunk: Network,
    head: Network,
    max_batch: usize,
    x: GpuBuffer,
    feats: GpuBuffer,
    logits: GpuBuffer,
    dfeats: GpuBuffer,
    dlogits: GpuBuffer,
    labels: GpuBuffer,
    /// `[max_batch, 2]`: (loss, correct) per example.
    stats: GpuBuffer,
}

impl FeatureNet {
    /// A freshly initialised network (parameters drawn from `seed`) for batches up to `max_batch`.
    pub fn new(
        engine: Arc<Engine>,
        spec: FeatureNetSpec,
        max_batch: usize,
        seed: u64,
    ) -> Result<Self, String> {
        spec.check()?;
        let gpu = &engine.gpu;
        let mut trunk = classifier::features(spec.input_shape(), spec.width, spec.features);
        let mut head = classifier::head(spec.features, spec.classes);
        let (n, f, k) = (max_batch, spec.features, spec.classes);
        let settings = "--width, --feature-len or --batch-size";
        let (x, feats, logits, dfeats, dlogits, labels, stats) = gpu
            .checked(|| {
                gpu.allocating(format!("the feature network (activations for {n} images)"), settings);
                trunk.allocate(gpu, max_batch, seed);
                head.allocate(gpu, max_batch, seed ^ 0x4EAD);
                let x = gpu.zeros(n * spec.input_shape().size());
                (
                    x,
                    gpu.zeros(n * f),
                    gpu.zeros(n * k),
                    gpu.zeros(n * f),
                    gpu.zeros(n * k),
                    gpu.zeros(n),
                    gpu.zeros(n * 2),
                )
            })
            .map_err(|e| e.to_string())?;
        Ok(Self { x, feats, logits, dfeats, dlogits, labels, stats, spec, engine, trunk, head, max_batch })
    }

    /// The feature trunk (e.g. for its CPU reference forward).
    pub fn trunk(&self) -> &Network {
        &self.trunk
    }

    /// Reads a feature network written by [`FeatureNet::save`].
    pub fn load(
        engine: Arc<Engine>,
        path: &Path,
        max_batch: usize,
    ) -> Result<(Self, FeatureNetInfo), FeatureNetError> {
        let bytes =
            std::fs::read(path).map_err(|cause| FeatureNetError::Read { path: path.into(), cause })?;
        let (st, header) = parse(path, &bytes)?;
        let format = |reason: String| FeatureNetError::Format { path: path.into(), reason };
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(format(format!("its metadata has no `format` = `{FORMAT}`")));
        }
        let spec: FeatureNetSpec = meta
            .get("spec")
            .ok_or_else(|| format("no `spec` in its metadata".into()))
            .and_then(|s| serde_json::from_str(s).map_err(|e| format(format!("bad `spec`: {e}"))))?;
        let mut net =
            Self::new(engine, spec, max_batch, 0).map_err(|e| format(format!("bad `spec`: {e}")))?;
        let trunk = values_of(path, &st, "features", &net.trunk, false, FORMAT_VERSION)?;
        let head = values_of(path, &st, "head", &net.head, false, FORMAT_VERSION)?;
        let gpu = net.engine.gpu.clone();
        net.trunk.upload_values(&gpu, &trunk);
        net.head.upload_values(&gpu, &head);
        let info = FeatureNetInfo {
            trained_on: meta.get("trained_on").cloned().unwrap_or_default(),
            test_accuracy: meta.get("test_accuracy").and_then(|a| a.parse().ok()),
            training: meta.get("training").cloned().unwrap_or_default(),
        };
        Ok((net, info))
    }

    /// Writes parameters and state (no optimiser moments), atomically.
    pub fn save(&self, path: &Path, info: &FeatureNetInfo) -> Result<(), CheckpointError> {
        let device = |cause| CheckpointError::Device { path: path.into(), cause };
        let gpu = &self.engine.gpu;
        let values: [NetValues; 2] =
            [self.trunk.read_values(gpu).map_err(device)?, self.head.read_values(gpu).map_err(device)?];
        let mut tensors = net_tensors("features", &self.trunk, &values[0], false);
        tensors.extend(net_tensors("head", &self.head, &values[1], false));
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("spec".into(), serde_json::to_string(&self.spec).expect("spec serialises"));
        let arch =
            format!("features {}, head {}", fingerprint(&self.trunk.layout), fingerprint(&self.head.layout));
        meta.insert("architecture".into(), arch);
        meta.insert("trained_on".into(), info.trained_on.clone());
        if let Some(a) = info.test_accuracy {
            meta.insert("test_accuracy".into(), format!("{a:.4}"));
        }
        meta.insert("training".into(), info.training.clone());
        write_tensors(path, &tensors, meta)
            .map_err(|cause| CheckpointError::Write { path: path.into(), cause })
    }

    fn check_images(&self, shape: [usize; 3], path: &Path) -> Result<(), FeatureNetError> {
        if shape != self.spec.input {
            return Err(FeatureNetError::Shape { path: path.into(), expected: self.spec.input, got: shape });
        }
        Ok(())
    }

    /// Penultimate-layer features `[n, features]` of images `[n, c, h, w]` (values in
    /// [−1, 1]), computed in batches of up to `max_batch` (trunk forward only).
    pub fn features(&self, x: &[f32]) -> Result<Vec<f32>, ReadbackError> {
        let d = self.spec.input_shape().size();
        let gpu = &self.engine.gpu;
        let mut out = Vec::with_capacity(x.len() / d * self.spec.features);
        for chunk in x.chunks(self.max_batch * d) {
            let n = chunk.len() / d;
            gpu.write(&self.x, chunk);
            gpu.submit(|enc| self.trunk.forward(&self.engine, enc, n, &self.x, &self.feats));
            let f: Vec<f32> = gpu.read(&self.feats)?;
            out.extend_from_slice(&f[..n * self.spec.features]);
        }
        Ok(out)
    }

    /// [`FeatureNet::features`] of images of shape `[c, h, w]`, checked against the
    /// network's input; `path` names the network in errors.
    pub fn features_checked(
        &self,
        x: &[f32],
        shape: [usize; 3],
        path: &Path,
    ) -> Result<Vec<f32>, FeatureNetError> {
        self.check_images(shape, path)?;
        self.features(x).map_err(|cause| FeatureNetError::Device { path: path.into(), cause })
    }

    /// Fraction of `set`'s images classified as their label; `path` names the network in
    /// errors. Errors when the set has no labels or images of another shape.
    pub fn accuracy(&mut self, set: &ImageSet, path: &Path) -> Result<f64, FeatureNetError> {
        let shape = [set.channels(), set.height(), set.width()];
        self.check_images(shape, path)?;
        let labels = set.labels().ok_or_else(|| FeatureNetError::Format {
            path: path.into(),
            reason: "the test images have no labels".into(),
        })?;
        let device = |cause| FeatureNetError::Device { path: path.into(), cause };
        let mut correct = 0.0;
        let indices: Vec<usize> = (0..set.len()).collect();
        for batch in indices.chunks(self.max_batch) {
            let stats = self.step(&set.batch(batch), &labels_of(labels, batch), None).map_err(device)?;
            correct += stats.chunks(2).map(|s| f64::from(s[1])).sum::<f64>();
        }
        Ok(correct / set.len() as f64)
    }

    /// One batch: forward, cross-entropy, and with `adam` the backward pass and one Adam
    /// step of both networks on the mean loss. Returns (loss, correct) per example.
    fn step(
        &mut self,
        x: &[f32],
        labels: &[f32],
        adam: Option<&AdamConfig>,
    ) -> Result<Vec<f32>, ReadbackError> {
        let n = labels.len();
        let (e, gpu) = (&self.engine, self.engine.gpu.clone());
        gpu.write(&self.x, x);
        gpu.write(&self.labels, labels);
        let k = self.spec.classes;
        let mut enc = gpu.encoder();
        self.trunk.forward(e, &mut enc, n, &self.x, &self.feats);
        self.head.forward(e, &mut enc, n, &self.feats, &self.logits);
        let coef = 1.0 / n as f32;
        e.cross_entropy.softmax_xent(
            &mut enc,
            n,
            k,
            coef,
            &self.logits,
            &self.labels,
            &self.dlogits,
            &self.stats,
        );
        if let Some(adam) = adam {
            self.trunk.zero_grads(e, &mut enc);
            self.head.zero_grads(e, &mut enc);
            let (f, l, dl, df) = (&self.feats, &self.logits, &self.dlogits, &self.dfeats);
            self.head.backward(e, &mut enc, n, (f, l), Grad { dy: dl, dx: Some(df), params: true });
            self.trunk.backward(e, &mut enc, n, (&self.x, f), Grad::params(df));
            self.trunk.adam_step(e, &mut enc, adam);
            self.head.adam_step(e, &mut enc, adam);
        }
        gpu.submit_encoder(enc);
        let stats: Vec<f32> = gpu.read(&self.stats)?;
        Ok(stats[..2 * n].to_vec())
    }
}

fn labels_of(labels: &[u8], batch: &[usize]) -> Vec<f32> {
    batch.iter().map(|&i| f32::from(labels[i])).collect()
}

/// How `train-classifier` trains (defaults: 8 epochs of Adam from lr 1e-3, ×0.7 after each
/// epoch, batch 128).
#[derive(Clone, Copy, Debug)]
pub struct ClassifierTraining {
    pub epochs: u32,
    pub batch_size: usize,
    pub lr: f32,
    /// Factor on the learning rate after each epoch.
    pub lr_decay: f32,
    pub seed: u64,
}

impl Default for ClassifierTraining {
    fn default() -> Self {
        Self { epochs: 8, batch_size: 128, lr: 1e-3, lr_decay: 0.7, seed: 1 }
    }
}

/// Trains `net` on the labelled `train` set: `cfg.epochs` passes in the seeded order of
/// [`EpochOrder`], Adam (PyTorch defaults but lr, lr·decay^epoch) on the mean cross-entropy. `progress`
/// receives (batch done, batches in all, mean loss and accuracy of the last 50 batches).
/// Deterministic: the same seed on the same adapter gives the same weights.
pub fn train_classifier(
    net: &mut FeatureNet,
    train: &ImageSet,
    cfg: &ClassifierTraining,
    mut progress: impl FnMut(usize, usize, f64, f64),
) -> anyhow::Result<()> {
    let labels = train.labels().ok_or_else(|| anyhow::anyhow!("the training images have no labels"))?;
    anyhow::ensure!(
        [train.channels(), train.height(), train.width()] == net.spec.input,
        "training images are {}×{}×{}, the network takes {:?}",
        train.channels(),
        train.height(),
        train.width(),
        net.spec.input
    );
    anyhow::ensure!(cfg.batch_size <= net.max_batch, "batch size above the network's allocation");
    let order = EpochOrder::new(train.len(), cfg.batch_size, cfg.seed)?;
    let total = order.batches_per_epoch() * cfg.epochs as usize;
    let mut recent: std::collections::VecDeque<(f64, f64)> = Default::default();
    let mut done = 0;
    for epoch in 0..u64::from(cfg.epochs) {
        let adam = AdamConfig { lr: cfg.lr * cfg.lr_decay.powi(epoch as i32), ..AdamConfig::default() };
        for batch in order.epoch(epoch) {
            let stats = net.step(&train.batch(&batch), &labels_of(labels, &batch), Some(&adam))?;
            let n = batch.len() as f64;
            let loss = stats.chunks(2).map(|s| f64::from(s[0])).sum::<f64>() / n;
            let acc = stats.chunks(2).map(|s| f64::from(s[1])).sum::<f64>() / n;
            anyhow::ensure!(loss.is_finite(), "the classifier's loss became {loss} at batch {done}");
            recent.push_back((loss, acc));
            if recent.len() > 50 {
                recent.pop_front();
            }
            done += 1;
            let m = recent.len() as f64;
            let (l, a) = recent.iter().fold((0.0, 0.0), |(l, a), (x, y)| (l + x, a + y));
            progress(done, total, l / m, a / m);
        }
    }
    Ok(())
}

/// The shipped Fashion-MNIST feature network, looked for where the embedded data set is
/// (the crate's source tree, beside the executable, the current folder).
pub fn shipped_path() -> Option<PathBuf> {
    crate::data::fashion_mnist::embedded_dirs()
        .into_iter()
        .filter_map(|d| d.parent().and_then(Path::parent).map(|root| root.join(SHIPPED)))
        .find(|p| p.is_file())
}
