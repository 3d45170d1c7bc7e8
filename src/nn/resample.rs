//! Resolution-changing layers: 2×2 average pooling, global average pooling, ×2 upsampling.

use super::{Backward, CpuWeights, Layer, Pass, Shape};
use crate::gpu::GpuBuffer;
use crate::ops::Nchw;
use crate::ops::pool;
use crate::ops::upsample;
pub use crate::ops::upsample::UpsampleMode;

fn nchw(batch: usize, s: Shape) -> Nchw {
    Nchw::new(batch, s.c, s.h, s.w)
}

/// `[C, H, W]` → `[C, H/2, W/2]`: PyTorch `AvgPool2d(2)`.
pub struct AvgPool2 {
    pub input: Shape,
}

impl Layer for AvgPool2 {
    fn out_shape(&self) -> Shape {
        Shape::image(self.input.c, self.input.h / 2, self.input.w / 2)
    }
    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
        p.e.pool.avg_pool2_forward(p.enc, nchw(p.batch, self.input), x, y);
    }
    fn backward(&self, p: &mut Pass, _x: &GpuBuffer, _y: &GpuBuffer, b: Backward) {
        if let Some(dx) = b.dx {
            p.e.pool.avg_pool2_backward(p.enc, nchw(p.batch, self.input), b.dy, dx);
        }
    }
    fn cpu_forward(&self, _w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64> {
        pool::cpu::avg_pool2(nchw(batch, self.input), x)
    }
}

/// `[C, H, W]` → `[C]`: the mean over each plane (the SNGAN discriminator's head).
pub struct GlobalAvgPool {
    pub input: Shape,
}

impl Layer for GlobalAvgPool {
    fn out_shape(&self) -> Shape {
        Shape::flat(self.input.c)
    }
    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
        p.e.pool.global_avg_forward(p.enc, nchw(p.batch, self.input), x, y);
    }
    fn backward(&self, p: &mut Pass, _x: &GpuBuffer, _y: &GpuBuffer, b: Backward) {
        if let Some(dx) = b.dx {
            p.e.pool.global_avg_backward(p.enc, nchw(p.batch, self.input), b.dy, dx);
        }
    }
    fn cpu_forward(&self, _w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64> {
        pool::cpu::global_avg(nchw(batch, self.input), x)
    }
}

/// `[C, H, W]` → `[C, 2H, 2W]`, nearest or bilinear with align_corners = true (the paper's
/// generator).
pub struct Upsample2 {
    pub input: Shape,
    pub mode: UpsampleMode,
}

impl Layer for Upsample2 {
    fn out_shape(&self) -> Shape {
        Shape::image(self.input.c, self.input.h * 2, self.input.w * 2)
    }
    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
        p.e.upsample.forward(p.enc, self.mode, nchw(p.batch, self.input), x, y);
    }
    fn backward(&self, p: &mut Pass, _x: &GpuBuffer, _y: &GpuBuffer, b: Backward) {
        if let Some(dx) = b.dx {
            p.e.upsample.backward(p.enc, self.mode, nchw(p.batch, self.input), b.dy, dx);
        }
    }
    fn cpu_forward(&self, _w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64> {
        upsample::cpu::upsample2(self.mode, nchw(batch, self.input), x)
    }
}
