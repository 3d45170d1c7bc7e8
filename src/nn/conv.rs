//! 2-D convolution (PyTorch `nn.Conv2d`: weight `[out, in, kh, kw]`, bias `[out]`), the weight
//! optionally spectrally normalised.

use super::params::{Init, Kind, ParamLayout};
use super::weight::Weight;
use super::{Backward, CpuWeights, Layer, Pass, Shape};
use crate::gpu::{BufRef, Gpu, GpuBuffer};
use crate::ops::activation::Activation;
use crate::ops::conv2d::{self, Conv2dShape};

/// How the convolution's weight is initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvInit {
    /// Xavier-normal (the reference code's convolutions).
    XavierNormal,
    /// PyTorch's default (kaiming-uniform with a = √5).
    PytorchDefault,
}

/// Kernel size, stride, padding and options of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub bias: bool,
    pub spectral_norm: bool,
    pub init: ConvInit,
}

impl ConvSpec {
    /// A k×k convolution to `out` channels, stride 1, "same" padding (k odd), no bias, no
    /// spectral norm, Xavier-normal.
    pub fn same(out: usize, k: usize) -> Self {
        Self {
            out_channels: out,
            kernel: k,
            stride: 1,
            pad: k / 2,
            bias: false,
            spectral_norm: false,
            init: ConvInit::XavierNormal,
        }
    }
    pub fn stride(mut self, stride: usize, pad: usize) -> Self {
        self.stride = stride;
        self.pad = pad;
        self
    }
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    pub fn spectral_norm(mut self, sn: bool) -> Self {
        self.spectral_norm = sn;
        self
    }
    pub fn init(mut self, init: ConvInit) -> Self {
        self.init = init;
        self
    }
}

pub struct Conv2d {
    input: Shape,
    spec: ConvSpec,
    weight: Weight,
    bias: Option<usize>,
}

impl Conv2d {
    pub fn new(layout: &mut ParamLayout, input: Shape, spec: ConvSpec) -> Self {
        let k = spec.kernel;
        let fan_in = input.c * k * k;
        let fan_out = spec.out_channels * k * k;
        let init = match spec.init {
            ConvInit::XavierNormal => Init::XavierNormal { fan_in, fan_out },
            ConvInit::PytorchDefault => Init::PytorchDefault { fan_in },
        };
        let weight = Weight::new(layout, &[spec.out_channels, input.c, k, k], init, spec.spectral_norm);
        let bias = spec
            .bias
            .then(|| layout.add("bias", &[spec.out_channels], Kind::Param, Init::PytorchDefault { fan_in }));
        let layer = Self { input, spec, weight, bias };
        // Panics early (while building) if the kernel does not fit the input.
        let _ = layer.shape(1).h_out();
        let _ = layer.shape(1).w_out();
        layer
    }

    fn shape(&self, batch: usize) -> Conv2dShape {
        Conv2dShape {
            batch,
            c_in: self.input.c,
            h_in: self.input.h,
            w_in: self.input.w,
            c_out: self.spec.out_channels,
            kh: self.spec.kernel,
            kw: self.spec.kernel,
            stride: self.spec.stride,
            pad: self.spec.pad,
        }
    }
}

impl Conv2d {
    /// y = act(conv(x) + bias), the activation applied as the convolution stores.
    fn forward_with(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer, act: Option<Activation>) {
        let wt = self.weight.forward(p);
        let bias = self.bias.map(|b| BufRef::new(p.w.params, b));
        p.e.conv2d.forward_activated(p.enc, &self.shape(p.batch), x.into(), wt, bias, y.into(), act);
    }

    /// dx = conv backward of dy, times act′ of `gate` when given (the activation in front of
    /// this layer); dW and db added when asked.
    fn backward_with(
        &self,
        p: &mut Pass,
        x: &GpuBuffer,
        _y: &GpuBuffer,
        b: Backward,
        gate: Option<(Activation, &GpuBuffer)>,
    ) {
        let s = self.shape(p.batch);
        if let Some(dx) = b.dx {
            let w = self.weight.used(p.w);
            let gate = gate.map(|(a, g)| (a, g.into()));
            p.e.conv2d.backward_input_gated(p.enc, &s, b.dy.into(), w, dx.into(), gate);
        }
        if let Some(grads) = b.grads {
            let dw = self.weight.grad_target(p, grads);
            let db = self.bias.map(|o| BufRef::new(grads, o));
            p.e.conv2d.backward_weight(p.enc, &s, x.into(), b.dy.into(), dw, db);
            self.weight.finish_grad(p, grads);
        }
    }
}

impl Layer for Conv2d {
    fn out_shape(&self) -> Shape {
        let s = self.shape(1);
        Shape::image(self.spec.out_channels, s.h_out(), s.w_out())
    }

    fn allocate(&mut self, gpu: &Gpu, _max_batch: usize) {
        self.weight.allocate(gpu);
    }

    fused_activation_methods!();

    fn cpu_forward(&self, w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64> {
        let wt = self.weight.cpu(w);
        let bias = self.bias.map(|o| &w.params[o..o + self.spec.out_channels]);
        conv2d::cpu::forward_f64(&self.shape(batch), x, &wt, bias)
    }

    fn macs(&self) -> usize {
        let o = self.out_shape();
        o.size() * self.input.c * self.spec.kernel * self.spec.kernel
    }
}
