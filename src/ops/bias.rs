//! Per-channel bias for linear and convolution layers (`bias.wgsl`).
//!
//! The bias lives at an offset in the flat parameter buffer and its gradient at the same
//! offset in the flat gradient buffer. The bias adds to the layer's output in place (the
//! matmul or convolution has just written it); the input gradient of a bias is dy itself, so
//! only the parameter gradient needs a kernel, and it is ADDED to the gradient buffer.

use crate::gpu::{Access, BufRef, Gpu, Kernel, WORKGROUP_1D, grid_1d};
use crate::ops::Nchw;

pub const SOURCE: &str = include_str!("bias.wgsl");

/// A tensor viewed as `[outer, channels, inner]`, with one bias per channel broadcast over
/// `outer` and `inner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelShape {
    pub outer: usize,
    pub channels: usize,
    pub inner: usize,
}

impl ChannelShape {
    /// Output of a linear layer, `[batch, features]`: PyTorch `nn.Linear`'s bias.
    pub fn linear(batch: usize, features: usize) -> Self {
        Self { outer: batch, channels: features, inner: 1 }
    }

    /// Output of a convolution, `[B, C, H, W]`: PyTorch `nn.Conv2d`'s bias.
    pub fn conv(y: Nchw) -> Self {
        Self { outer: y.batch, channels: y.channels, inner: y.height * y.width }
    }

    /// Number of elements of the tensor.
    pub fn len(&self) -> usize {
        self.outer * self.channels * self.inner
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    src_off: u32,
    dst_off: u32,
    _pad: [u32; 3],
}

/// The bias kernels, compiled once.
pub struct Bias {
    gpu: Gpu,
    add: Kernel,
    grad: Kernel,
}

impl Bias {
    pub fn new(gpu: &Gpu) -> Self {
        let bufs = [Access::Read, Access::ReadWrite];
        Self {
            gpu: gpu.clone(),
            add: Kernel::new(gpu, SOURCE, "bias_add", &bufs, &[]),
            grad: Kernel::new(gpu, SOURCE, "bias_grad", &bufs, &[]),
        }
    }

    /// y[o, c, i] += b[c], in place, for y `[outer, channels, inner]` and b `[channels]`.
    /// (In place because wgpu cannot bind one buffer both read-only and read-write in a
    /// dispatch, and the layers add the bias to the output they have just written.)
    pub fn forward<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: ChannelShape,
        bias: BufRef<'a>,
        y: impl Into<BufRef<'a>>,
    ) {
        let groups = grid_1d(s.len(), WORKGROUP_1D);
        self.run(enc, &self.add, s, (bias, s.channels), (y.into(), s.len()), groups);
    }

    /// db[c] += Σ_{o, i} dy[o, c, i], for dy `[outer, channels, inner]` and db `[channels]`
    /// (the bias gradient ACCUMULATES). Summed in a fixed order, so repeat runs are
    /// bit-identical. The input gradient is dy unchanged: no kernel.
    pub fn backward<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: ChannelShape,
        dy: impl Into<BufRef<'a>>,
        dbias: BufRef<'a>,
    ) {
        // One workgroup per channel.
        let groups = grid_1d(s.channels, 1);
        self.run(enc, &self.grad, s, (dy.into(), s.len()), (dbias, s.channels), groups);
    }

    fn run(
        &self,
        enc: &mut wgpu::CommandEncoder,
        k: &Kernel,
        s: ChannelShape,
        (src, src_len): (BufRef, usize),
        (dst, dst_len): (BufRef, usize),
        groups: [u32; 3],
    ) {
        assert!(
            src.available() >= src_len && dst.available() >= dst_len,
            "{}: buffers too small for {s:?} at offsets {} and {}",
            k.name,
            src.offset,
            dst.offset
        );
        let p = Params {
            outer: s.outer as u32,
            channels: s.channels as u32,
            inner: s.inner as u32,
            src_off: src.offset as u32,
            dst_off: dst.offset as u32,
            _pad: [0; 3],
        };
        k.encode(&self.gpu, enc, &p, &[src.buf, dst.buf], groups);
    }
}

/// CPU references in f64.
pub mod cpu {
    use super::ChannelShape;

    /// y + b broadcast over `outer` and `inner`.
    pub fn add(s: ChannelShape, y: &[f64], b: &[f64]) -> Vec<f64> {
        (0..s.len()).map(|j| y[j] + b[(j / s.inner) % s.channels]).collect()
    }

    /// Σ_{o, i} dy[o, c, i] for every channel c.
    pub fn grad(s: ChannelShape, dy: &[f32]) -> Vec<f64> {
        let mut db = vec![0.0; s.channels];
        for (j, &g) in dy.iter().enumerate().take(s.len()) {
            db[(j / s.inner) % s.channels] += f64::from(g);
        }
        db
    }
}
