//! Batch normalisation in training mode (PyTorch `BatchNorm2d`/`BatchNorm1d`: `weight` γ,
//! `bias` β, buffers `running_mean`, `running_var`). The reference generator never enters
//! evaluation mode: batch statistics are used everywhere, also inside the samplers.

use super::params::{Init, Kind, ParamLayout};
use super::{Backward, CpuWeights, Layer, Pass, Shape, Weights};
use crate::gpu::{BufRef, Gpu, GpuBuffer};
use crate::ops::batchnorm::{self, BnConfig, BnGrads, BnShape, BnTensors};

pub struct BatchNormLayer {
    shape: Shape,
    gamma: usize,
    beta: usize,
    running_mean: usize,
    running_var: usize,
    cfg: BnConfig,
    /// Mean and inverse std of the last forward, `[2·channels]`.
    saved: Option<GpuBuffer>,
}

impl BatchNormLayer {
    /// γ drawn from `gamma_init` (docs/reference.md: N(0, 1)), β = 0, running statistics (0, 1).
    pub fn new(layout: &mut ParamLayout, shape: Shape, gamma_init: Init) -> Self {
        let c = shape.c;
        Self {
            shape,
            gamma: layout.add("weight", &[c], Kind::Param, gamma_init),
            beta: layout.add("bias", &[c], Kind::Param, Init::Constant(0.0)),
            running_mean: layout.add("running_mean", &[c], Kind::State, Init::Constant(0.0)),
            running_var: layout.add("running_var", &[c], Kind::State, Init::Constant(1.0)),
            cfg: BnConfig::default(),
            saved: None,
        }
    }

    fn bn_shape(&self, batch: usize) -> BnShape {
        BnShape { batch, channels: self.shape.c, spatial: self.shape.h * self.shape.w }
    }

    fn tensors<'a>(&'a self, w: Weights<'a>) -> BnTensors<'a> {
        BnTensors {
            gamma: BufRef::new(w.params, self.gamma),
            beta: BufRef::new(w.params, self.beta),
            running_mean: BufRef::new(w.state, self.running_mean),
            running_var: BufRef::new(w.state, self.running_var),
            saved: self.saved.as_ref().expect("BatchNorm used before allocate()").into(),
        }
    }
}

impl Layer for BatchNormLayer {
    fn out_shape(&self) -> Shape {
        self.shape
    }

    fn allocate(&mut self, gpu: &Gpu, _max_batch: usize) {
        self.saved = Some(gpu.zeros(2 * self.shape.c));
    }

    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
        p.e.batchnorm.forward(
            p.enc,
            self.bn_shape(p.batch),
            &self.tensors(p.w),
            self.cfg,
            x.into(),
            y.into(),
        );
    }

    fn backward(&self, p: &mut Pass, x: &GpuBuffer, _y: &GpuBuffer, b: Backward) {
        let t = self.tensors(p.w);
        let grads = b.grads.map(|g| BnGrads::at_param_offsets(g, &t));
        match b.dx {
            Some(dx) => p.e.batchnorm.backward(
                p.enc,
                self.bn_shape(p.batch),
                &t,
                x.into(),
                b.dy.into(),
                dx.into(),
                grads,
            ),
            // The kernel computes dx and the parameter gradients together; no network here
            // starts with batch norm, so the input gradient is always wanted.
            None => assert!(grads.is_none(), "BatchNorm as a network's first layer is not supported"),
        }
    }

    fn cpu_forward(&self, w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64> {
        let c = self.shape.c;
        let gamma = &w.params[self.gamma..self.gamma + c];
        let beta = &w.params[self.beta..self.beta + c];
        batchnorm::cpu::forward(self.bn_shape(batch), x, gamma, beta, f64::from(self.cfg.eps))
    }
}
