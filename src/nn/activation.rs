//! Activation layers: ReLU, LeakyReLU, tanh.

use super::{Backward, CpuWeights, Layer, Pass, Shape};
use crate::gpu::GpuBuffer;
pub use crate::ops::activation::Activation;

/// An activation applied elementwise to `[batch, shape]`.
pub struct Act {
    pub act: Activation,
    pub shape: Shape,
}

impl Act {
    pub fn new(act: Activation, shape: Shape) -> Self {
        Self { act, shape }
    }
}

impl Layer for Act {
    fn out_shape(&self) -> Shape {
        self.shape
    }

    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
        p.e.activations.forward(p.enc, self.act, p.batch * self.shape.size(), x, y);
    }

    fn backward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer, b: Backward) {
        if let Some(dx) = b.dx {
            // From the output whenever that gives the same: x is not written when the layer
            // before took this activation into its forward (Sequential's fusion).
            let saved = if self.act.backward_from_output() { y } else { x };
            p.e.activations.backward(p.enc, self.act, p.batch * self.shape.size(), saved, b.dy, dx);
        }
    }

    fn cpu_forward(&self, _w: CpuWeights, _batch: usize, x: &[f64]) -> Vec<f64> {
        x.iter().map(|&v| cpu_act(self.act, v)).collect()
    }

    fn activation(&self) -> Option<Activation> {
        Some(self.act)
    }
}

/// Reinterprets `[batch, from]` as `[batch, to]` (flatten, or a linear layer's output seen as
/// an image). Activations live in separate buffers, so this is a copy.
pub struct Reshape {
    pub to: Shape,
}

impl Layer for Reshape {
    fn out_shape(&self) -> Shape {
        self.to
    }

    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
        p.e.elementwise.copy(p.enc, p.batch * self.to.size(), x, y);
    }

    fn backward(&self, p: &mut Pass, _x: &GpuBuffer, _y: &GpuBuffer, b: Backward) {
        if let Some(dx) = b.dx {
            p.e.elementwise.copy(p.enc, p.batch * self.to.size(), b.dy, dx);
        }
    }

    fn cpu_forward(&self, _w: CpuWeights, _batch: usize, x: &[f64]) -> Vec<f64> {
        x.to_vec()
    }
}

/// f64 activation for the reference forward.
pub fn cpu_act(act: Activation, x: f64) -> f64 {
    crate::ops::activation::cpu::forward_f64(act, x)
}
