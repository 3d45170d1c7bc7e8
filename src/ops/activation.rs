//! ReLU, LeakyReLU and tanh with their backward passes (`activation.wgsl`).

use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, WORKGROUP_1D, grid_1d};

pub const SOURCE: &str = include_str!("activation.wgsl");

/// Which activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    /// LeakyReLU with this negative slope (0.2 in the reference inference net).
    LeakyRelu(f32),
    Tanh,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    slope: f32,
    _pad: [u32; 2],
}

struct Pair {
    forward: Kernel,
    backward: Kernel,
}

/// The activation kernels, compiled once.
pub struct Activations {
    gpu: Gpu,
    relu: Pair,
    leaky: Pair,
    tanh: Pair,
}

impl Activations {
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, ReadWrite};
        let pair = |name: &str| Pair {
            forward: Kernel::new(gpu, SOURCE, &format!("{name}_forward"), &[Read, ReadWrite], &[]),
            backward: Kernel::new(gpu, SOURCE, &format!("{name}_backward"), &[Read, ReadWrite, Read], &[]),
        };
        Self { gpu: gpu.clone(), relu: pair("relu"), leaky: pair("leaky_relu"), tanh: pair("tanh") }
    }

    fn pair(&self, act: Activation) -> (&Pair, f32) {
        match act {
            Activation::Relu => (&self.relu, 0.0),
            Activation::LeakyRelu(s) => (&self.leaky, s),
            Activation::Tanh => (&self.tanh, 0.0),
        }
    }

    /// y = f(x) on the first `n` elements.
    pub fn forward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        act: Activation,
        n: usize,
        x: &GpuBuffer,
        y: &GpuBuffer,
    ) {
        assert!(x.len >= n && y.len >= n, "activation forward: buffers shorter than {n}");
        let (pair, slope) = self.pair(act);
        let p = Params { n: n as u32, slope, _pad: [0; 2] };
        pair.forward.encode(&self.gpu, enc, &p, &[x, y], grid_1d(n, WORKGROUP_1D));
    }

    /// dx = dy ⊙ f'(·). `saved` is the forward output y for tanh, the forward input x or
    /// the output y (the same result, see [`Activation::backward_from_output`]) for ReLU and
    /// LeakyReLU.
    pub fn backward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        act: Activation,
        n: usize,
        saved: &GpuBuffer,
        dy: &GpuBuffer,
        dx: &GpuBuffer,
    ) {
        assert!(
            saved.len >= n && dy.len >= n && dx.len >= n,
            "activation backward: buffers shorter than {n}"
        );
        let (pair, slope) = self.pair(act);
        let p = Params { n: n as u32, slope, _pad: [0; 2] };
        pair.backward.encode(&self.gpu, enc, &p, &[saved, dx, dy], grid_1d(n, WORKGROUP_1D));
    }
}

impl Activation {
    /// Whether the backward pass needs the output (tanh) rather than the input.
    pub fn saves_output(self) -> bool {
        matches!(self, Activation::Tanh)
    }

    /// Whether the backward pass can read the output instead of the input, with the same
    /// result: ReLU and LeakyReLU with a slope ≥ 0 are positive exactly where their input is
    /// (the matmul's gate epilogue relies on this, see `ops::matmul::Epilogue`).
    pub fn backward_from_output(self) -> bool {
        !matches!(self, Activation::LeakyRelu(s) if s < 0.0)
    }
}

/// `epilogue.wgsl`, the activations a matmul or convolution applies as it stores.
pub const EPILOGUE_SOURCE: &str = include_str!("epilogue.wgsl");

/// The code and slope `epilogue.wgsl` takes for an activation (code 0 = none).
pub fn epilogue_code(act: Option<Activation>) -> (u32, f32) {
    match act {
        None => (0, 0.0),
        Some(Activation::Relu) => (1, 0.0),
        Some(Activation::LeakyRelu(s)) => (2, s),
        Some(Activation::Tanh) => (3, 0.0),
    }
}

/// CPU references.
pub mod cpu {
    use super::Activation;

    /// The activation in f64, for the reference forward passes.
    pub fn forward_f64(act: Activation, x: f64) -> f64 {
        match act {
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    f64::from(s) * x
                }
            }
            Activation::Tanh => x.tanh(),
        }
    }

    pub fn forward(act: Activation, x: f32) -> f32 {
        forward_f64(act, f64::from(x)) as f32
    }

    /// dx for one element; `saved` as in the GPU op.
    pub fn backward(act: Activation, saved: f32, dy: f32) -> f32 {
        match act {
            Activation::Relu => {
                if saved > 0.0 {
                    dy
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(s) => {
                if saved > 0.0 {
                    dy
                } else {
                    s * dy
                }
            }
            Activation::Tanh => dy * (1.0 - saved * saved),
        }
    }
}
