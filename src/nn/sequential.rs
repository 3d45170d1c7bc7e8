//! A chain of layers, itself a layer (the body of a network, the main path of a block).

use super::{Backward, CpuWeights, Layer, Pass, Shape};
use crate::gpu::{Gpu, GpuBuffer};

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
        for (i, layer) in self.layers.iter().enumerate() {
            layer.forward(p, self.input_of(i, x), self.output_of(i, y));
        }
    }

    fn backward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer, b: Backward) {
        if let (true, Some(dx)) = (self.layers.is_empty(), b.dx) {
            p.e.elementwise.copy(p.enc, p.batch * self.input.size(), b.dy, dx);
        }
        for i in (0..self.layers.len()).rev() {
            let dy = if i + 1 == self.layers.len() { b.dy } else { &self.grads[i] };
            let dx = if i == 0 { b.dx } else { Some(&self.grads[i - 1]) };
            let step = Backward { dy, dx, grads: b.grads };
            self.layers[i].backward(p, self.input_of(i, x), self.output_of(i, y), step);
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
