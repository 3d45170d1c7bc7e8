//! A chain of layers, itself a layer (the body of a network, the main path of a block).
//!
//! An activation next to a layer that [fuses activations](Layer::fuses_activations) costs no
//! dispatch of its own: its forward goes into the epilogue of the layer before it, its
//! backward into the input gradient of the layer after it.

use super::{Backward, CpuWeights, Layer, Pass, Shape};
use crate::gpu::{Gpu, GpuBuffer};
use crate::ops::activation::Activation;

pub struct Sequential {
    input: Shape,
    pub layers: Vec<Box<dyn Layer>>,
    /// Output of every layer but the last (the last writes the caller's buffer).
    acts: Vec<GpuBuffer>,
    /// dL/d(acts[i]).
    grads: Vec<GpuBuffer>,
}

impl Sequential {
    pub fn new(input: Shape) -> Self {
        Self { input, layers: Vec::new(), acts: Vec::new(), grads: Vec::new() }
    }

    /// The shape of one input example.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// The shape the next layer takes.
    pub fn shape(&self) -> Shape {
        self.layers.last().map_or(self.input, |l| l.out_shape())
    }

    pub fn push(&mut self, layer: impl Layer + 'static) -> &mut Self {
        self.layers.push(Box::new(layer));
        self
    }

    fn input_of<'a>(&'a self, i: usize, x: &'a GpuBuffer) -> &'a GpuBuffer {
        if i == 0 { x } else { &self.acts[i - 1] }
    }

    fn output_of<'a>(&'a self, i: usize, y: &'a GpuBuffer) -> &'a GpuBuffer {
        if i + 1 == self.layers.len() { y } else { &self.acts[i] }
    }

    /// The activation of layer i + 1 when layer i takes it into its forward (then layer i's
    /// own output buffer is never written: the activation's backward reads its output).
    fn fused_after(&self, i: usize) -> Option<Activation> {
        let act = self.layers.get(i + 1)?.activation()?;
        (self.layers[i].fuses_activations() && act.backward_from_output()).then_some(act)
    }

    /// The activation of layer i − 1 when layer i takes its backward into its own.
    fn fused_before(&self, i: usize) -> Option<Activation> {
        let layer = self.layers.get(i)?;
        let act = self.layers.get(i.checked_sub(1)?)?.activation()?;
        (layer.fuses_activations() && act.backward_from_output()).then_some(act)
    }
}

impl Layer for Sequential {
    fn out_shape(&self) -> Shape {
        self.shape()
    }

    fn allocate(&mut self, gpu: &Gpu, max_batch: usize) {
        let n = self.layers.len();
        self.acts = self.layers[..n.saturating_sub(1)]
            .iter()
            .map(|l| gpu.zeros(max_batch * l.out_shape().size()))
            .collect();
        self.grads = self.acts.iter().map(|a| gpu.zeros(a.len)).collect();
        for layer in &mut self.layers {
            layer.allocate(gpu, max_batch);
        }
    }

    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
        if self.layers.is_empty() {
            p.e.elementwise.copy(p.enc, p.batch * self.input.size(), x, y);
        }
        let mut i = 0;
        while i < self.layers.len() {
            if let Some(act) = self.fused_after(i) {
                // Layer i writes act(layer(x)) straight into the activation's output.
                self.layers[i].forward_activated(p, self.input_of(i, x), self.output_of(i + 1, y), act);
                i += 2;
            } else {
                self.layers[i].forward(p, self.input_of(i, x), self.output_of(i, y));
                i += 1;
            }
        }
    }

    fn backward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer, b: Backward) {
        if let (true, Some(dx)) = (self.layers.is_empty(), b.dx) {
            p.e.elementwise.copy(p.enc, p.batch * self.input.size(), b.dy, dx);
        }
        // dL/d(input of layer i).
        let dx_of = |i: usize| if i == 0 { b.dx } else { Some(&self.grads[i - 1]) };
        for i in (0..self.layers.len()).rev() {
            if self.fused_before(i + 1).is_some() {
                continue; // layer i + 1 did this activation's backward
            }
            let dy = if i + 1 == self.layers.len() { b.dy } else { &self.grads[i] };
            let (x_i, y_i) = (self.input_of(i, x), self.output_of(i, y));
            if let Some(act) = self.fused_before(i) {
                // dL/d(input of the activation i − 1) in one pass, gated by its output x_i.
                let step = Backward { dy, dx: dx_of(i - 1), grads: b.grads };
                self.layers[i].backward_gated(p, x_i, y_i, step, (act, x_i));
            } else {
                let step = Backward { dy, dx: dx_of(i), grads: b.grads };
                self.layers[i].backward(p, x_i, y_i, step);
            }
        }
    }

    fn cpu_forward(&self, w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64> {
        let mut h = x.to_vec();
        for layer in &self.layers {
            h = layer.cpu_forward(w, batch, &h);
        }
        h
    }

    fn macs(&self) -> usize {
        self.layers.iter().map(|l| l.macs()).sum()
    }
}
