//! ×2 upsampling for the generator's up-blocks (`upsample.wgsl`): nearest, and
//! bilinear with `align_corners = true` as the reference generator uses (docs/reference.md).
//!
//! Every op reads and writes NCHW tensors at element offsets (`BufRef`); backward passes
//! WRITE the input gradient (these layers have no parameters). Both backward passes are
//! gathers in a fixed order: deterministic, no atomics.

use super::shape::{Nchw, encode_planes};
use crate::gpu::{Access, BufRef, Gpu, Kernel};

pub const SOURCE: &str = include_str!("upsample.wgsl");

/// How the ×2 upsampling interpolates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsampleMode {
    /// PyTorch `F.interpolate(x, scale_factor=2, mode='nearest')`: each pixel becomes a 2×2
    /// block.
    Nearest,
    /// PyTorch `F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)`: output
    /// pixel o (per axis) samples the input at o·(n_in − 1)/(n_out − 1), so the corner pixels
    /// of input and output coincide. A 1-pixel axis gives a constant.
    BilinearAlignCorners,
}

struct Pair {
    forward: Kernel,
    backward: Kernel,
}

/// The upsampling kernels, compiled once.
pub struct Upsample {
    gpu: Gpu,
    nearest: Pair,
    bilinear: Pair,
}

impl Upsample {
    pub fn new(gpu: &Gpu) -> Self {
        let k = |entry| Kernel::new(gpu, SOURCE, entry, &[Access::Read, Access::ReadWrite], &[]);
        Self {
            gpu: gpu.clone(),
            nearest: Pair { forward: k("nearest_forward"), backward: k("nearest_backward") },
            bilinear: Pair { forward: k("bilinear_forward"), backward: k("bilinear_backward") },
        }
    }

    fn pair(&self, mode: UpsampleMode) -> &Pair {
        match mode {
            UpsampleMode::Nearest => &self.nearest,
            UpsampleMode::BilinearAlignCorners => &self.bilinear,
        }
    }

    /// y `[B, C, 2H, 2W]` = x `[B, C, H, W]` upsampled ×2 as `mode` says.
    pub fn forward<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        mode: UpsampleMode,
        x_shape: Nchw,
        x: impl Into<BufRef<'a>>,
        y: impl Into<BufRef<'a>>,
    ) {
        let y_len = upsample2_shape(x_shape).len();
        let (src, dst) = ((x.into(), x_shape.len()), (y.into(), y_len));
        encode_planes(&self.gpu, &self.pair(mode).forward, enc, x_shape, src, dst);
    }

    /// dx `[B, C, H, W]` from dy `[B, C, 2H, 2W]`: each input pixel gathers the output
    /// gradients that read it, times the weights they read it with. dx is written.
    pub fn backward<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        mode: UpsampleMode,
        x_shape: Nchw,
        dy: impl Into<BufRef<'a>>,
        dx: impl Into<BufRef<'a>>,
    ) {
        let dy_len = upsample2_shape(x_shape).len();
        let (src, dst) = ((dy.into(), dy_len), (dx.into(), x_shape.len()));
        encode_planes(&self.gpu, &self.pair(mode).backward, enc, x_shape, src, dst);
    }
}

/// Output shape of ×2 upsampling: `[B, C, 2H, 2W]`.
pub fn upsample2_shape(x: Nchw) -> Nchw {
    x.with_spatial(2 * x.height, 2 * x.width)
}

/// CPU references in f64 (forward only; the tests check the GPU backward passes against
/// finite differences of these).
pub mod cpu {
    use super::{UpsampleMode, upsample2_shape};
    use crate::ops::Nchw;

    /// ×2 upsampling, as `Upsample::forward`, written from PyTorch's definition in floating
    /// point (not from the shader's integer arithmetic).
    pub fn upsample2(mode: UpsampleMode, s: Nchw, x: &[f64]) -> Vec<f64> {
        let o = upsample2_shape(s);
        let mut y = Vec::with_capacity(o.len());
        for q in 0..s.planes() {
            let at = |h: usize, w: usize| x[(q * s.height + h) * s.width + w];
            for oy in 0..o.height {
                for ox in 0..o.width {
                    y.push(match mode {
                        UpsampleMode::Nearest => at(oy / 2, ox / 2),
                        UpsampleMode::BilinearAlignCorners => {
                            let (h0, h1, lh) = source(oy, s.height, o.height);
                            let (w0, w1, lw) = source(ox, s.width, o.width);
                            (1.0 - lh) * ((1.0 - lw) * at(h0, w0) + lw * at(h0, w1))
                                + lh * ((1.0 - lw) * at(h1, w0) + lw * at(h1, w1))
                        }
                    });
                }
            }
        }
        y
    }

    /// align_corners source of output index `o`: the two inputs and the weight of the second.
    fn source(o: usize, n_in: usize, n_out: usize) -> (usize, usize, f64) {
        let scale = if n_out > 1 { (n_in - 1) as f64 / (n_out - 1) as f64 } else { 0.0 };
        let s = o as f64 * scale;
        let i0 = (s.floor() as usize).min(n_in - 1);
        (i0, (i0 + 1).min(n_in - 1), s - i0 as f64)
    }
}
