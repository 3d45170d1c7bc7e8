//! A network: its parameter layout, its layers, and its four flat buffers (parameters,
//! gradients, Adam's two moments) plus the state buffer.

use super::params::ParamLayout;
use super::{Backward, CpuWeights, Engine, Layer, Pass, Sequential, Shape, Weights};
use crate::gpu::{Gpu, GpuBuffer, ReadbackError};
use crate::ops::adam::AdamConfig;
use crate::ops::mlp_chain::{MlpLayout, MlpPart};

/// The GPU side of a network, made by [`Network::allocate`].
pub struct NetBuffers {
    pub params: GpuBuffer,
    pub grads: GpuBuffer,
    pub adam_m: GpuBuffer,
    pub adam_v: GpuBuffer,
    pub state: GpuBuffer,
    pub max_batch: usize,
    /// Adam steps taken (for the bias corrections).
    pub adam_t: u64,
    /// The exponential moving average of the parameters, if one is kept (see
    /// [`Network::keep_average`]).
    pub average: Option<Average>,
}

/// An exponential moving average of a network's parameters (docs/algorithm.md §11).
pub struct Average {
    pub params: GpuBuffer,
    /// The decay d: after each Adam step, avg ← avg + (1 − d_t)·(θ − avg), with
    /// d_t = min(d, (1 + t)/(10 + t)) at step t so that early averages forget the
    /// initialisation quickly (TensorFlow's `ExponentialMovingAverage` with `num_updates`).
    pub decay: f32,
    /// Whether `params` and the average are swapped: forward passes use the average.
    pub swapped: bool,
}

impl Average {
    /// The decay applied at Adam step `t` (1-based).
    pub fn decay_at(&self, t: u64) -> f32 {
        self.decay.min((1.0 + t as f32) / (10.0 + t as f32))
    }
}

/// A network's training state on the CPU, as flat buffers at the layout's offsets: what a
/// checkpoint holds of it. Gradients are not part of it: every step zeroes them first.
#[derive(Clone, Debug, PartialEq)]
pub struct NetValues {
    pub params: Vec<f32>,
    pub adam_m: Vec<f32>,
    pub adam_v: Vec<f32>,
    pub state: Vec<f32>,
    /// Adam steps taken.
    pub adam_t: u64,
    /// The moving average of the parameters, if the network keeps one.
    pub average: Option<Vec<f32>>,
}

/// What a network's backward is given and asked for: dL/dy, where dL/dx goes (if wanted),
/// and whether dL/dθ is added to the gradient buffer (the samplers need only dL/dx).
#[derive(Clone, Copy)]
pub struct Grad<'a> {
    pub dy: &'a GpuBuffer,
    pub dx: Option<&'a GpuBuffer>,
    pub params: bool,
}

impl<'a> Grad<'a> {
    /// dL/dθ only (training a network on data: no input gradient).
    pub fn params(dy: &'a GpuBuffer) -> Self {
        Self { dy, dx: None, params: true }
    }

    /// dL/dx only (a sampler's gradient).
    pub fn input(dy: &'a GpuBuffer, dx: &'a GpuBuffer) -> Self {
        Self { dy, dx: Some(dx), params: false }
    }
}

pub struct Network {
    pub layout: ParamLayout,
    pub body: Sequential,
    pub bufs: Option<NetBuffers>,
}

impl Network {
    /// A network from its layers (already registered in `layout`); no GPU work yet.
    pub fn new(layout: ParamLayout, body: Sequential) -> Self {
        Self { layout, body, bufs: None }
    }

    pub fn in_shape(&self) -> Shape {
        self.body.input_shape()
    }

    pub fn out_shape(&self) -> Shape {
        self.body.shape()
    }

    /// Trainable values, as PyTorch counts them.
    pub fn num_params(&self) -> usize {
        self.layout.num_params()
    }

    /// Uploads initial values drawn from `seed` and allocates activations for up to `max_batch`.
    /// Inside [`Gpu::checked`], parameters that the device refuses are not drawn on the CPU.
    pub fn allocate(&mut self, gpu: &Gpu, max_batch: usize, seed: u64) {
        let n = self.layout.params_len;
        let m = self.layout.state_len;
        let (params, state) = if gpu.fits(n) && gpu.fits(m) {
            let (params, state) = self.layout.initial_values(seed);
            (gpu.upload(&params), gpu.upload(&state))
        } else {
            (gpu.zeros(n), gpu.zeros(m)) // refused: stand-ins, the check reports it
        };
        self.bufs = Some(NetBuffers {
            params,
            grads: gpu.zeros(n),
            adam_m: gpu.zeros(n),
            adam_v: gpu.zeros(n),
            state,
            max_batch,
            adam_t: 0,
            average: None,
        });
        self.body.allocate(gpu, max_batch);
    }

    pub fn bufs(&self) -> &NetBuffers {
        self.bufs.as_ref().expect("network used before allocate()")
    }

    fn weights(&self) -> Weights<'_> {
        let b = self.bufs();
        Weights { params: &b.params, state: &b.state }
    }

    fn check_batch(&self, batch: usize) {
        let max = self.bufs().max_batch;
        assert!(batch >= 1 && batch <= max, "batch {batch} outside 1..={max} this network was allocated for");
    }

    /// y `[batch, out_shape]` = net(x `[batch, in_shape]`).
    pub fn forward(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        x: &GpuBuffer,
        y: &GpuBuffer,
    ) {
        self.check_batch(batch);
        self.body.forward(&mut Pass { e, enc, w: self.weights(), batch }, x, y);
    }

    /// Backward of the last forward on (x, y): writes dL/dx into `g.dx` if given, adds dL/dθ
    /// to the gradient buffer if `g.params`.
    pub fn backward(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        (x, y): (&GpuBuffer, &GpuBuffer),
        g: Grad,
    ) {
        self.check_batch(batch);
        let grads = g.params.then(|| &self.bufs().grads);
        let b = Backward { dy: g.dy, dx: g.dx, grads };
        self.body.backward(&mut Pass { e, enc, w: self.weights(), batch }, x, y, b);
    }

    /// The network as the whole-chain kernel reads it (`ops::mlp_chain`), if it is a plain
    /// MLP that kernel runs.
    pub fn mlp_layout(&self) -> Option<MlpLayout> {
        let parts = self.body.layers.iter().map(|l| match (l.dense(), l.activation()) {
            (Some(d), _) => Some(MlpPart::Dense(d)),
            (None, Some(a)) => Some(MlpPart::Act(a)),
            (None, None) => None,
        });
        MlpLayout::new(&parts.collect::<Option<Vec<_>>>()?)
    }

    /// Reference forward on the CPU in f64 with the given parameter and state values.
    pub fn cpu_forward(&self, params: &[f64], state: &[f64], batch: usize, x: &[f64]) -> Vec<f64> {
        self.body.cpu_forward(CpuWeights { params, state }, batch, x)
    }

    /// Sets every parameter gradient to zero.
    pub fn zero_grads(&self, e: &Engine, enc: &mut wgpu::CommandEncoder) {
        let g = &self.bufs().grads;
        e.elementwise.fill(enc, g.len, g, 0.0);
    }

    /// One Adam step over the whole network (one dispatch), then the moving average's
    /// update if one is kept (one more).
    pub fn adam_step(&mut self, e: &Engine, enc: &mut wgpu::CommandEncoder, cfg: &AdamConfig) {
        let b = self.bufs.as_mut().expect("network used before allocate()");
        assert!(!b.average.as_ref().is_some_and(|a| a.swapped), "Adam step on the averaged weights");
        b.adam_t += 1;
        e.adam.step(enc, cfg, b.adam_t, &b.params, &b.grads, &b.adam_m, &b.adam_v);
        if let Some(avg) = &b.average {
            let rate = 1.0 - avg.decay_at(b.adam_t);
            e.elementwise.lerp(enc, b.params.len, rate, &b.params, &avg.params);
        }
    }

    /// Keeps an exponential moving average of the parameters with `decay` from now on,
    /// starting at their current values.
    pub fn keep_average(&mut self, gpu: &Gpu, decay: f32) {
        let b = self.bufs.as_mut().expect("network used before allocate()");
        let params = gpu.zeros(b.params.len);
        gpu.submit(|enc| {
            enc.copy_buffer_to_buffer(&b.params.buffer, 0, &params.buffer, 0, (params.len * 4) as u64)
        });
        b.average = Some(Average { params, decay, swapped: false });
    }

    /// Puts the averaged parameters in place of the trained ones (`true`), or back. Nothing
    /// is copied: the two buffers trade places. Returns whether the network keeps an average.
    pub fn use_average(&mut self, on: bool) -> bool {
        let b = self.bufs.as_mut().expect("network used before allocate()");
        let Some(avg) = b.average.as_mut() else { return false };
        if avg.swapped != on {
            std::mem::swap(&mut b.params, &mut avg.params);
            avg.swapped = on;
        }
        true
    }

    /// The trained parameters and their average, whichever is in use.
    fn trained_and_average(&self) -> (&GpuBuffer, Option<&GpuBuffer>) {
        let b = self.bufs();
        match &b.average {
            Some(a) if a.swapped => (&a.params, Some(&b.params)),
            Some(a) => (&b.params, Some(&a.params)),
            None => (&b.params, None),
        }
    }

    /// Reads parameters, Adam's moments, state and the average back from the GPU (four
    /// or five readbacks).
    pub fn read_values(&self, gpu: &Gpu) -> Result<NetValues, ReadbackError> {
        let b = self.bufs();
        let (params, average) = self.trained_and_average();
        Ok(NetValues {
            params: gpu.read(params)?,
            adam_m: gpu.read(&b.adam_m)?,
            adam_v: gpu.read(&b.adam_v)?,
            state: gpu.read(&b.state)?,
            adam_t: b.adam_t,
            average: average.map(|a| gpu.read(a)).transpose()?,
        })
    }

    /// Overwrites parameters, Adam's moments, state and step count with `v` (as read by
    /// [`Network::read_values`] from a network of the same layout). A kept average takes
    /// `v`'s, or starts at `v`'s parameters when `v` has none.
    pub fn upload_values(&mut self, gpu: &Gpu, v: &NetValues) {
        self.use_average(false);
        let b = self.bufs.as_mut().expect("network used before allocate()");
        for (dst, src) in
            [(&b.params, &v.params), (&b.adam_m, &v.adam_m), (&b.adam_v, &v.adam_v), (&b.state, &v.state)]
        {
            assert_eq!(src.len(), dst.len, "values for a buffer of another size");
            gpu.write(dst, src);
        }
        if let Some(avg) = &b.average {
            let src = v.average.as_ref().unwrap_or(&v.params);
            assert_eq!(src.len(), avg.params.len, "an average of another size");
            gpu.write(&avg.params, src);
        }
        b.adam_t = v.adam_t;
    }

    /// Whether forward passes use the average now ([`Network::use_average`]).
    pub fn average_in_use(&self) -> bool {
        self.bufs.as_ref().and_then(|b| b.average.as_ref()).is_some_and(|a| a.swapped)
    }
}
