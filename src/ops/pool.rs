//! Average pooling for the EBM (`pool.wgsl`): 2×2 average pooling with stride 2 at the
//! end of each downsampling block, and global average pooling before the linear head.
//!
//! Every op reads and writes NCHW tensors at element offsets (`BufRef`); backward passes
//! WRITE the input gradient (these layers have no parameters).

use super::shape::{Nchw, encode_planes};
use crate::gpu::{Access, BufRef, Gpu, Kernel};

pub const SOURCE: &str = include_str!("pool.wgsl");

/// The pooling kernels, compiled once.
pub struct Pool {
    gpu: Gpu,
    avg2_forward: Kernel,
    avg2_backward: Kernel,
    global_forward: Kernel,
    global_backward: Kernel,
}

impl Pool {
    pub fn new(gpu: &Gpu) -> Self {
        let k = |entry| Kernel::new(gpu, SOURCE, entry, &[Access::Read, Access::ReadWrite], &[]);
        Self {
            gpu: gpu.clone(),
            avg2_forward: k("avg_pool2_forward"),
            avg2_backward: k("avg_pool2_backward"),
            global_forward: k("global_avg_forward"),
            global_backward: k("global_avg_backward"),
        }
    }

    /// y `[B, C, H/2, W/2]` = 2×2 average pooling, stride 2, of x `[B, C, H, W]`: PyTorch
    /// `AvgPool2d(2)` (odd H or W: the last row or column is dropped, sizes floor). Where
    /// PyTorch rejects H or W below 2, the output here is simply empty.
    pub fn avg_pool2_forward<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        x_shape: Nchw,
        x: impl Into<BufRef<'a>>,
        y: impl Into<BufRef<'a>>,
    ) {
        let y_len = avg_pool2_shape(x_shape).len();
        let (src, dst) = ((x.into(), x_shape.len()), (y.into(), y_len));
        encode_planes(&self.gpu, &self.avg2_forward, enc, x_shape, src, dst);
    }

    /// dx `[B, C, H, W]` = dy/4 spread over each window, from dy `[B, C, H/2, W/2]`; zero in a
    /// dropped odd row or column. dx is written, not accumulated.
    pub fn avg_pool2_backward<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        x_shape: Nchw,
        dy: impl Into<BufRef<'a>>,
        dx: impl Into<BufRef<'a>>,
    ) {
        let dy_len = avg_pool2_shape(x_shape).len();
        let (src, dst) = ((dy.into(), dy_len), (dx.into(), x_shape.len()));
        encode_planes(&self.gpu, &self.avg2_backward, enc, x_shape, src, dst);
    }

    /// y `[B, C]` = mean of x `[B, C, H, W]` over H·W: PyTorch `x.mean((2, 3))` or
    /// `AdaptiveAvgPool2d(1)` flattened. Each plane is summed in row-major order.
    pub fn global_avg_forward<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        x_shape: Nchw,
        x: impl Into<BufRef<'a>>,
        y: impl Into<BufRef<'a>>,
    ) {
        let (src, dst) = ((x.into(), x_shape.len()), (y.into(), x_shape.planes()));
        encode_planes(&self.gpu, &self.global_forward, enc, x_shape, src, dst);
    }

    /// dx `[B, C, H, W]` = dy `[B, C]` / (H·W), broadcast over each plane. dx is written.
    pub fn global_avg_backward<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        x_shape: Nchw,
        dy: impl Into<BufRef<'a>>,
        dx: impl Into<BufRef<'a>>,
    ) {
        let (src, dst) = ((dy.into(), x_shape.planes()), (dx.into(), x_shape.len()));
        encode_planes(&self.gpu, &self.global_backward, enc, x_shape, src, dst);
    }
}

/// Output shape of 2×2 stride-2 average pooling: `[B, C, ⌊H/2⌋, ⌊W/2⌋]`.
pub fn avg_pool2_shape(x: Nchw) -> Nchw {
    x.with_spatial(x.height / 2, x.width / 2)
}

/// CPU references in f64 (forward only; the tests check the GPU backward passes against
/// finite differences of these).
pub mod cpu {
    use super::avg_pool2_shape;
    use crate::ops::Nchw;

    /// 2×2 stride-2 average pooling, as `Pool::avg_pool2_forward`.
    pub fn avg_pool2(s: Nchw, x: &[f64]) -> Vec<f64> {
        let o = avg_pool2_shape(s);
        let mut y = Vec::with_capacity(o.len());
        for q in 0..s.planes() {
            let at = |h: usize, w: usize| x[(q * s.height + h) * s.width + w];
            for i in 0..o.height {
                for j in 0..o.width {
                    let (h, w) = (2 * i, 2 * j);
                    y.push((at(h, w) + at(h, w + 1) + at(h + 1, w) + at(h + 1, w + 1)) / 4.0);
                }
            }
        }
        y
    }

    /// Mean over each H×W plane, as `Pool::global_avg_forward`.
    pub fn global_avg(s: Nchw, x: &[f64]) -> Vec<f64> {
        let hw = s.height * s.width;
        x.chunks(hw.max(1)).take(s.planes()).map(|plane| plane.iter().sum::<f64>() / hw as f64).collect()
    }
}
