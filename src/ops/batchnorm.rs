//! Batch normalisation in training mode (`batchnorm.wgsl`), with PyTorch's
//! semantics (`nn.BatchNorm1d`/`nn.BatchNorm2d`, `training=True`).
//!
//! The reference generator never puts its batch norm in evaluation mode (docs/reference.md): batch
//! statistics are used in training, inside the samplers and at evaluation, so there is only
//! the training-mode forward. Running statistics are still tracked as PyTorch tracks them
//! (momentum, unbiased variance) so that checkpoints carry the same state.
//!
//! Layout convention shared by all layers: input gradients are written, parameter gradients
//! are added into the flat gradient buffer at the parameters' offsets.

use crate::gpu::{Access, BufRef, Gpu, Kernel, grid_1d};

pub const SOURCE: &str = include_str!("batchnorm.wgsl");

/// PyTorch's default `eps`.
pub const DEFAULT_EPS: f32 = 1e-5;
/// PyTorch's default `momentum` for the running statistics.
pub const DEFAULT_MOMENTUM: f32 = 0.1;

/// x viewed as `[batch, channels, spatial]`: spatial = H·W for 2-D batch norm, 1 for 1-D.
/// Statistics are per channel over N = batch·spatial values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnShape {
    pub batch: usize,
    pub channels: usize,
    pub spatial: usize,
}

impl BnShape {
    /// Elements of x (and of y, dy, dx).
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Values per channel that the statistics are taken over.
    pub fn per_channel(&self) -> usize {
        self.batch * self.spatial
    }
    /// Elements of the `saved` buffer: batch means, then inverse standard deviations.
    pub fn saved_len(&self) -> usize {
        2 * self.channels
    }
}

/// Where one batch-norm layer keeps its tensors, each `[channels]` unless noted.
#[derive(Clone, Copy, Debug)]
pub struct BnTensors<'a> {
    /// Scale γ (a parameter; docs/reference.md initialises it from N(0, 1)).
    pub gamma: BufRef<'a>,
    /// Shift β (a parameter; initialised to 0).
    pub beta: BufRef<'a>,
    /// Running mean and running (unbiased) variance: state, not trained. They are written
    /// by the forward, so they must not share a buffer with γ, β or x (wgpu refuses a buffer
    /// bound both read-only and read-write in one dispatch); keep them with the other state.
    pub running_mean: BufRef<'a>,
    pub running_var: BufRef<'a>,
    /// `[2·channels]`: the batch mean, then 1/sqrt(var + eps), per channel. Written by the
    /// forward, read by the backward.
    pub saved: BufRef<'a>,
}

/// Where the parameter gradients go: dγ and dβ, each `[channels]`, normally at γ's and β's
/// offsets inside the flat gradient buffer (see [`BnGrads::at_param_offsets`]).
#[derive(Clone, Copy, Debug)]
pub struct BnGrads<'a> {
    pub dgamma: BufRef<'a>,
    pub dbeta: BufRef<'a>,
}

impl<'a> BnGrads<'a> {
    /// dγ and dβ at the offsets γ and β have in the parameter buffer.
    pub fn at_param_offsets(grads: &'a crate::gpu::GpuBuffer, t: &BnTensors) -> Self {
        Self { dgamma: BufRef::new(grads, t.gamma.offset), dbeta: BufRef::new(grads, t.beta.offset) }
    }
}

/// Running-statistics settings (PyTorch's defaults: momentum 0.1, eps 1e-5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BnConfig {
    /// running ← (1 − momentum)·running + momentum·batch statistic. 0 leaves the running
    /// statistics untouched (e.g. for forwards inside a sampler, if one wants that).
    pub momentum: f32,
    /// Added to the variance before the square root.
    pub eps: f32,
}

impl Default for BnConfig {
    fn default() -> Self {
        Self { momentum: DEFAULT_MOMENTUM, eps: DEFAULT_EPS }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    channels: u32,
    spatial: u32,
    momentum: f32,
    eps: f32,
    x_off: u32,
    y_off: u32,
    dy_off: u32,
    dx_off: u32,
    gamma_off: u32,
    beta_off: u32,
    mean_off: u32,
    var_off: u32,
    saved_off: u32,
    dgamma_off: u32,
    dbeta_off: u32,
}

/// The batch-norm kernels, compiled once.
pub struct BatchNorm {
    gpu: Gpu,
    forward: Kernel,
    backward: Kernel,
    backward_input: Kernel,
}

impl BatchNorm {
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, ReadWrite};
        Self {
            gpu: gpu.clone(),
            // x, γ, β, running mean, running var, saved, y
            forward: Kernel::new(
                gpu,
                SOURCE,
                "bn_forward",
                &[Read, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite],
                &[],
            ),
            // x, γ, saved, dy, dx, dγ, dβ
            backward: Kernel::new(
                gpu,
                SOURCE,
                "bn_backward",
                &[Read, Read, Read, Read, ReadWrite, ReadWrite, ReadWrite],
                &[],
            ),
            // x, γ, saved, dy, dx
            backward_input: Kernel::new(
                gpu,
                SOURCE,
                "bn_backward_input",
                &[Read, Read, Read, Read, ReadWrite],
                &[],
            ),
        }
    }

    /// Training-mode forward: y = γ·(x − μ)/sqrt(σ² + eps) + β with the batch mean μ and
    /// biased variance σ² of each channel; writes `t.saved` and updates the running
    /// statistics with `cfg.momentum` (running variance from the unbiased σ²·N/(N − 1)).
    ///
    /// x, y: `[batch, channels, spatial]`. Panics if a tensor runs past its buffer or if a
    /// channel has a single value (N = 1: PyTorch refuses this too, the unbiased variance
    /// is undefined).
    pub fn forward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        shape: BnShape,
        t: &BnTensors,
        cfg: BnConfig,
        x: BufRef,
        y: BufRef,
    ) {
        check_shape(shape);
        let c = shape.channels;
        fits("x", x, shape.len());
        fits("y", y, shape.len());
        fits("gamma", t.gamma, c);
        fits("beta", t.beta, c);
        fits("running_mean", t.running_mean, c);
        fits("running_var", t.running_var, c);
        fits("saved", t.saved, shape.saved_len());
        for (name, read) in [("x", x), ("gamma", t.gamma), ("beta", t.beta)] {
            for (wname, written) in [
                ("running_mean", t.running_mean),
                ("running_var", t.running_var),
                ("saved", t.saved),
                ("y", y),
            ] {
                distinct(name, read, wname, written);
            }
        }
        let p = Params {
            momentum: cfg.momentum,
            eps: cfg.eps,
            x_off: off(x),
            y_off: off(y),
            gamma_off: off(t.gamma),
            beta_off: off(t.beta),
            mean_off: off(t.running_mean),
            var_off: off(t.running_var),
            saved_off: off(t.saved),
            ..sizes(shape)
        };
        let bufs =
            [x.buf, t.gamma.buf, t.beta.buf, t.running_mean.buf, t.running_var.buf, t.saved.buf, y.buf];
        self.forward.encode(&self.gpu, enc, &p, &bufs, grid_1d(shape.channels, 1));
    }

    /// Backward through the batch statistics (x̂ = (x − μ)·invstd, sums per channel):
    /// dx = (γ·invstd/N)·(N·dy − Σdy − x̂·Σ(dy·x̂)) is written; with `grads`,
    /// dγ += Σ dy·x̂ and dβ += Σ dy are added. `grads: None` skips the parameter gradients
    /// (the samplers need only dx) and leaves the gradient buffer untouched.
    ///
    /// x must be the forward's input and `t.saved` that forward's statistics. x, dy, dx:
    /// `[batch, channels, spatial]`.
    #[allow(clippy::too_many_arguments)] // one operand per tensor, as in llm.c's layers
    pub fn backward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        shape: BnShape,
        t: &BnTensors,
        x: BufRef,
        dy: BufRef,
        dx: BufRef,
        grads: Option<BnGrads>,
    ) {
        check_shape(shape);
        let c = shape.channels;
        fits("x", x, shape.len());
        fits("dy", dy, shape.len());
        fits("dx", dx, shape.len());
        fits("gamma", t.gamma, c);
        fits("saved", t.saved, shape.saved_len());
        let mut written = vec![("dx", dx)];
        if let Some(g) = grads {
            fits("dgamma", g.dgamma, c);
            fits("dbeta", g.dbeta, c);
            written.extend([("dgamma", g.dgamma), ("dbeta", g.dbeta)]);
        }
        for (name, read) in [("x", x), ("gamma", t.gamma), ("saved", t.saved), ("dy", dy)] {
            for &(wname, w) in &written {
                distinct(name, read, wname, w);
            }
        }
        let mut p = Params {
            x_off: off(x),
            dy_off: off(dy),
            dx_off: off(dx),
            gamma_off: off(t.gamma),
            saved_off: off(t.saved),
            ..sizes(shape)
        };
        let groups = grid_1d(shape.channels, 1);
        let mut bufs = vec![x.buf, t.gamma.buf, t.saved.buf, dy.buf, dx.buf];
        match grads {
            Some(g) => {
                p.dgamma_off = off(g.dgamma);
                p.dbeta_off = off(g.dbeta);
                bufs.extend([g.dgamma.buf, g.dbeta.buf]);
                self.backward.encode(&self.gpu, enc, &p, &bufs, groups);
            }
            None => self.backward_input.encode(&self.gpu, enc, &p, &bufs, groups),
        }
    }
}

fn sizes(s: BnShape) -> Params {
    Params {
        batch: s.batch as u32,
        channels: s.channels as u32,
        spatial: s.spatial as u32,
        ..Params::default()
    }
}

fn check_shape(s: BnShape) {
    assert!(
        s.per_channel() > 1,
        "batch norm in training mode needs more than one value per channel, got {s:?}"
    );
    assert!(s.len() <= u32::MAX as usize, "batch norm: {s:?} too large for 32-bit indices");
}

fn off(r: BufRef) -> u32 {
    u32::try_from(r.offset).expect("batch norm: offset past 32 bits")
}

fn fits(name: &str, r: BufRef, len: usize) {
    assert!(
        r.available() >= len,
        "batch norm: {name} needs {len} elements at offset {}, buffer has {}",
        r.offset,
        r.buf.len
    );
}

/// wgpu refuses one buffer bound read-only and read-write in the same dispatch; say so here
/// with the operands' names rather than as a validation error from deep inside wgpu.
fn distinct(read_name: &str, read: BufRef, written_name: &str, written: BufRef) {
    assert!(
        read.buf.buffer != written.buf.buffer,
        "batch norm: {read_name} (read) and {written_name} (written) must be in different buffers"
    );
}

/// CPU reference in f64, PyTorch's formulas written out plainly.
pub mod cpu {
    use super::BnShape;

    /// Index of element i (of N) of channel c in `[batch, channels, spatial]`.
    fn at(s: BnShape, c: usize, i: usize) -> usize {
        let (b, sp) = (i / s.spatial, i % s.spatial);
        (b * s.channels + c) * s.spatial + sp
    }

    /// Per-channel batch mean and biased variance.
    pub fn batch_stats(s: BnShape, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = s.per_channel() as f64;
        let mut mean = vec![0.0; s.channels];
        let mut var = vec![0.0; s.channels];
        for c in 0..s.channels {
            mean[c] = (0..s.per_channel()).map(|i| x[at(s, c, i)]).sum::<f64>() / n;
            var[c] = (0..s.per_channel()).map(|i| (x[at(s, c, i)] - mean[c]).powi(2)).sum::<f64>() / n;
        }
        (mean, var)
    }

    /// y = γ(x − μ)/sqrt(σ² + eps) + β with batch statistics.
    pub fn forward(s: BnShape, x: &[f64], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
        let (mean, var) = batch_stats(s, x);
        let mut y = vec![0.0; s.len()];
        for c in 0..s.channels {
            let invstd = 1.0 / (var[c] + eps).sqrt();
            for i in 0..s.per_channel() {
                let k = at(s, c, i);
                y[k] = gamma[c] * (x[k] - mean[c]) * invstd + beta[c];
            }
        }
        y
    }

    /// One running-statistics update, as PyTorch does it (unbiased variance).
    pub fn update_running(
        s: BnShape,
        x: &[f64],
        momentum: f64,
        running_mean: &mut [f64],
        running_var: &mut [f64],
    ) {
        let (mean, var) = batch_stats(s, x);
        let n = s.per_channel() as f64;
        for c in 0..s.channels {
            running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean[c];
            running_var[c] = (1.0 - momentum) * running_var[c] + momentum * var[c] * n / (n - 1.0);
        }
    }
}
