//! Deterministic sums and means along an axis (`reduce.wgsl`).

use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, WORKGROUP_1D, grid_1d};

pub const SOURCE: &str = include_str!("reduce.wgsl");

/// Axes at least this long use the workgroup tree; shorter ones a loop per output.
const TREE_FROM: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    outer: u32,
    axis: u32,
    inner: u32,
    scale: f32,
}

/// A tensor viewed as `[outer, axis, inner]`, reduced over `axis`.
#[derive(Clone, Copy, Debug)]
pub struct AxisShape {
    pub outer: usize,
    pub axis: usize,
    pub inner: usize,
}

/// The reduction kernels, compiled once.
pub struct Reduce {
    gpu: Gpu,
    rows: Kernel,
    tree: Kernel,
}

impl Reduce {
    pub fn new(gpu: &Gpu) -> Self {
        let bufs = [Access::Read, Access::ReadWrite];
        Self {
            gpu: gpu.clone(),
            rows: Kernel::new(gpu, SOURCE, "reduce_rows", &bufs, &[]),
            tree: Kernel::new(gpu, SOURCE, "reduce_tree", &bufs, &[]),
        }
    }

    /// out `[outer, inner]` = sum over `axis` of x `[outer, axis, inner]`.
    pub fn sum(&self, enc: &mut wgpu::CommandEncoder, shape: AxisShape, x: &GpuBuffer, out: &GpuBuffer) {
        self.reduce(enc, shape, 1.0, x, out);
    }

    /// out `[outer, inner]` = mean over `axis` of x `[outer, axis, inner]`.
    pub fn mean(&self, enc: &mut wgpu::CommandEncoder, shape: AxisShape, x: &GpuBuffer, out: &GpuBuffer) {
        self.reduce(enc, shape, 1.0 / shape.axis.max(1) as f32, x, out);
    }

    fn reduce(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: AxisShape,
        scale: f32,
        x: &GpuBuffer,
        out: &GpuBuffer,
    ) {
        let outputs = s.outer * s.inner;
        assert!(x.len >= outputs * s.axis && out.len >= outputs, "reduce: buffers too small");
        let p = Params { outer: s.outer as u32, axis: s.axis as u32, inner: s.inner as u32, scale };
        if s.axis >= TREE_FROM {
            self.tree.encode(&self.gpu, enc, &p, &[x, out], grid_1d(outputs, 1));
        } else {
            self.rows.encode(&self.gpu, enc, &p, &[x, out], grid_1d(outputs, WORKGROUP_1D));
        }
    }
}

/// CPU reference: sums in f64.
pub mod cpu {
    use super::AxisShape;

    pub fn sum(s: AxisShape, x: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0; s.outer * s.inner];
        for o in 0..s.outer {
            for a in 0..s.axis {
                for i in 0..s.inner {
                    out[o * s.inner + i] += f64::from(x[(o * s.axis + a) * s.inner + i]);
                }
            }
        }
        out
    }
}
