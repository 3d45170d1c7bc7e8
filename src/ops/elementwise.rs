//! Elementwise kernels: fill, copy, scale, axpy, lerp, add, multiply (`elementwise.wgsl`).

use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, WORKGROUP_1D, grid_1d};

pub const SOURCE: &str = include_str!("elementwise.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    a: f32,
    _pad: [u32; 2],
}

/// The elementwise kernels, compiled once.
pub struct Elementwise {
    gpu: Gpu,
    fill: Kernel,
    copy: Kernel,
    scale: Kernel,
    axpy: Kernel,
    lerp: Kernel,
    add: Kernel,
    mul: Kernel,
}

impl Elementwise {
    pub fn new(gpu: &Gpu) -> Self {
        let rw = Access::ReadWrite;
        let k = |entry, n| Kernel::new(gpu, SOURCE, entry, &[rw, rw, rw][..n], &[]);
        Self {
            gpu: gpu.clone(),
            fill: k("fill", 1),
            copy: k("copy", 2),
            scale: k("scale", 2),
            axpy: k("axpy", 2),
            lerp: k("lerp", 2),
            add: k("add", 3),
            mul: k("mul", 3),
        }
    }

    fn run(&self, enc: &mut wgpu::CommandEncoder, k: &Kernel, n: usize, a: f32, bufs: &[&GpuBuffer]) {
        for b in bufs {
            assert!(b.len >= n, "{}: buffer of {} elements, need {n}", k.name, b.len);
        }
        let p = Params { n: n as u32, a, _pad: [0; 2] };
        k.encode(&self.gpu, enc, &p, bufs, grid_1d(n, WORKGROUP_1D));
    }

    // Each op works on the first `n` elements of its buffers (activation buffers are sized
    // for the largest batch and used in part for smaller ones).

    /// y = a
    pub fn fill(&self, enc: &mut wgpu::CommandEncoder, n: usize, y: &GpuBuffer, a: f32) {
        self.run(enc, &self.fill, n, a, &[y]);
    }
    /// y = x
    pub fn copy(&self, enc: &mut wgpu::CommandEncoder, n: usize, x: &GpuBuffer, y: &GpuBuffer) {
        self.run(enc, &self.copy, n, 0.0, &[x, y]);
    }
    /// y = a·x
    pub fn scale(&self, enc: &mut wgpu::CommandEncoder, n: usize, a: f32, x: &GpuBuffer, y: &GpuBuffer) {
        self.run(enc, &self.scale, n, a, &[x, y]);
    }
    /// y ← y + a·x
    pub fn axpy(&self, enc: &mut wgpu::CommandEncoder, n: usize, a: f32, x: &GpuBuffer, y: &GpuBuffer) {
        self.run(enc, &self.axpy, n, a, &[x, y]);
    }
    /// y ← y + a·(x − y): one step of a moving average of x with weight a.
    pub fn lerp(&self, enc: &mut wgpu::CommandEncoder, n: usize, a: f32, x: &GpuBuffer, y: &GpuBuffer) {
        self.run(enc, &self.lerp, n, a, &[x, y]);
    }
    /// z = x + y
    pub fn add(&self, enc: &mut wgpu::CommandEncoder, n: usize, x: &GpuBuffer, y: &GpuBuffer, z: &GpuBuffer) {
        self.run(enc, &self.add, n, 0.0, &[x, y, z]);
    }
    /// z = x ⊙ y
    pub fn mul(&self, enc: &mut wgpu::CommandEncoder, n: usize, x: &GpuBuffer, y: &GpuBuffer, z: &GpuBuffer) {
        self.run(enc, &self.mul, n, 0.0, &[x, y, z]);
    }
}

/// CPU references.
pub mod cpu {
    pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        for (y, x) in y.iter_mut().zip(x) {
            *y = a.mul_add(*x, *y);
        }
    }
    pub fn lerp(a: f32, x: &[f32], y: &mut [f32]) {
        for (y, x) in y.iter_mut().zip(x) {
            *y = a.mul_add(x - *y, *y);
        }
    }
    pub fn scale(a: f32, x: &[f32]) -> Vec<f32> {
        x.iter().map(|v| a * v).collect()
    }
    pub fn add(x: &[f32], y: &[f32]) -> Vec<f32> {
        x.iter().zip(y).map(|(a, b)| a + b).collect()
    }
    pub fn mul(x: &[f32], y: &[f32]) -> Vec<f32> {
        x.iter().zip(y).map(|(a, b)| a * b).collect()
    }
}
