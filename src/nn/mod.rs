//! Layers with explicit forward and backward passes (llm.c style), composed into networks
//! whose parameters live in one flat buffer. No autograd tape: each layer's backward writes
//! the gradient with respect to its input and, when asked, adds its parameter gradients.

/// The [`Layer`] methods of a layer that fuses activations ([`Layer::fuses_activations`]),
/// written in terms of its own `forward_with(p, x, y, act)` and
/// `backward_with(p, x, y, b, gate)` (the activation or gate `None` for the plain passes).
/// Used inside `impl Layer for …` of [`linear::Linear`] and [`conv::Conv2d`].
macro_rules! fused_activation_methods {
    () => {
        fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
            self.forward_with(p, x, y, None);
        }

        fn backward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer, b: Backward) {
            self.backward_with(p, x, y, b, None);
        }

        fn fuses_activations(&self) -> bool {
            true
        }

        fn forward_activated(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer, act: Activation) {
            self.forward_with(p, x, y, Some(act));
        }

        fn backward_gated(
            &self,
            p: &mut Pass,
            x: &GpuBuffer,
            y: &GpuBuffer,
            b: Backward,
            gate: (Activation, &GpuBuffer),
        ) {
            self.backward_with(p, x, y, b, Some(gate));
        }
    };
}

pub mod activation;
pub mod batchnorm;
pub mod conv;
pub mod engine;
pub mod linear;
pub mod network;
pub mod params;
pub mod resample;
pub mod residual;
pub mod sequential;
pub mod weight;

pub use engine::Engine;
pub use network::{Grad, Network};
pub use params::{Init, Kind, ParamLayout};
pub use sequential::Sequential;

use crate::gpu::{Gpu, GpuBuffer};
use crate::ops::activation::Activation;
use crate::ops::mlp_chain::Dense;

/// Shape of one example: `[channels, height, width]`; flat features are `[features, 1, 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    pub const fn image(c: usize, h: usize, w: usize) -> Self {
        Self { c, h, w }
    }
    pub const fn flat(features: usize) -> Self {
        Self { c: features, h: 1, w: 1 }
    }
    /// Values per example.
    pub const fn size(&self) -> usize {
        self.c * self.h * self.w
    }
}

impl std::fmt::Display for Shape {
    /// `1×28×28` (channels × height × width).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}×{}", self.c, self.h, self.w)
    }
}

/// The buffers a layer reads its weights from.
#[derive(Clone, Copy)]
pub struct Weights<'a> {
    /// The network's flat parameter buffer.
    pub params: &'a GpuBuffer,
    /// The network's flat state buffer (running statistics, spectral-norm vectors).
    pub state: &'a GpuBuffer,
}

/// A network's values on the CPU, in f64, for the reference forward passes.
#[derive(Clone, Copy)]
pub struct CpuWeights<'a> {
    pub params: &'a [f64],
    pub state: &'a [f64],
}

/// Where a backward pass puts its results. `dx: None` skips the input gradient (the first
/// layer on data); `grads: None` skips the parameter gradients (the samplers need only ∇ₓ,
/// and weight gradients are the most expensive kernels).
#[derive(Clone, Copy)]
pub struct Backward<'a> {
    pub dy: &'a GpuBuffer,
    pub dx: Option<&'a GpuBuffer>,
    /// The network's flat gradient buffer; parameter gradients are ADDED to it.
    pub grads: Option<&'a GpuBuffer>,
}

/// One recording of layer calls: the kernels, the encoder the dispatches go into, the
/// network's weights, and how many examples of the activation buffers are used.
pub struct Pass<'a> {
    pub e: &'a Engine,
    pub enc: &'a mut wgpu::CommandEncoder,
    pub w: Weights<'a>,
    pub batch: usize,
}

/// One layer. Activations are `[batch, shape]` buffers sized for the largest batch; a call
/// uses the first `p.batch` examples. Input gradients are written, parameter gradients added.
pub trait Layer: Send + Sync {
    /// The shape of one output example.
    fn out_shape(&self) -> Shape;
    /// Allocates scratch buffers (saved statistics, inner activations) for up to `max_batch`.
    fn allocate(&mut self, _gpu: &Gpu, _max_batch: usize) {}
    /// y = layer(x).
    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer);
    /// Given dL/dy, writes dL/dx (if asked) and adds dL/dθ (if asked). `x` and `y` are the
    /// buffers of the matching forward call.
    fn backward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer, b: Backward);
    /// Reference forward on the CPU in f64: `[batch, in]` → `[batch, out]`. The tests take
    /// central finite differences of it. It never changes state: layers with a power
    /// iteration (spectral norm) use the vectors stored in `w.state` as they are, i.e. the
    /// values the last GPU forward left there.
    fn cpu_forward(&self, w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64>;

    /// Multiply-adds of one forward pass per example (for benchmarks).
    fn macs(&self) -> usize {
        0
    }

    /// Where a plain fully connected layer keeps its weight and bias in the flat parameter
    /// buffer ([`linear::Linear`] without spectral norm), for kernels that run a whole MLP
    /// (`ops::mlp_chain`); `None` for every other layer.
    fn dense(&self) -> Option<Dense> {
        None
    }

    /// The activation this layer applies, if it is an activation layer ([`activation::Act`]).
    fn activation(&self) -> Option<Activation> {
        None
    }

    /// Whether the layer implements [`Layer::forward_activated`] and
    /// [`Layer::backward_gated`], i.e. can take the activation after it and the backward of
    /// the activation before it into its own kernels ([`linear::Linear`]: the matmul's
    /// epilogue). [`Sequential`] then records one dispatch where it would record two.
    fn fuses_activations(&self) -> bool {
        false
    }

    /// y = act(layer(x)), for layers that [fuse activations](Layer::fuses_activations).
    fn forward_activated(&self, _p: &mut Pass, _x: &GpuBuffer, _y: &GpuBuffer, _act: Activation) {
        unreachable!("forward_activated on a layer that does not fuse activations")
    }

    /// [`Layer::backward`] with dx multiplied by act′(·), read from `gate`: the output of
    /// the activation `act` in front of this layer, whose backward this then is. For layers
    /// that [fuse activations](Layer::fuses_activations).
    fn backward_gated(
        &self,
        _p: &mut Pass,
        _x: &GpuBuffer,
        _y: &GpuBuffer,
        _b: Backward,
        _gate: (Activation, &GpuBuffer),
    ) {
        unreachable!("backward_gated on a layer that does not fuse activations")
    }
}
