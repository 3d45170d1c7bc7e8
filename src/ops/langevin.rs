//! The Langevin update and the chains' traces (`langevin.wgsl`, with `philox.wgsl` prepended):
//! the kernels both samplers in `crate::sampler` are built from.

use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, WORKGROUP_1D, grid_1d};
use crate::ops::rng::{PHILOX_SOURCE, RngDraw};

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    nz: u32,
    batch: u32,
    slot: u32,
    drift: f32,
    noise: f32,
    prior: f32,
    coef: f32,
    seed: [u32; 2],
    counter: [u32; 2],
    stream: u32,
    _pad: [u32; 3],
}

pub struct Langevin {
    gpu: Gpu,
    step: Kernel,
    energy_trace: Kernel,
    z_residual: Kernel,
    z_trace: Kernel,
}

impl Langevin {
    /// The composed source: the Philox library, then the Langevin kernels.
    pub fn source() -> String {
        format!("{PHILOX_SOURCE}\n{}", include_str!("langevin.wgsl"))
    }

    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, ReadWrite};
        let src = Self::source();
        Self {
            gpu: gpu.clone(),
            step: Kernel::new(gpu, &src, "langevin_step", &[ReadWrite, Read], &[]),
            energy_trace: Kernel::new(gpu, &src, "energy_trace", &[ReadWrite, Read], &[]),
            z_residual: Kernel::new(gpu, &src, "z_residual", &[ReadWrite, Read, ReadWrite], &[]),
            z_trace: Kernel::new(gpu, &src, "z_trace", &[ReadWrite, Read, ReadWrite, Read], &[]),
        }
    }

    /// state ← state − drift·(grad + prior·state) + noise·N(0,1), noise from `draw`.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &self,
        enc: &mut wgpu::CommandEncoder,
        n: usize,
        state: &GpuBuffer,
        grad: &GpuBuffer,
        drift: f32,
        noise: f32,
        prior: f32,
        draw: RngDraw,
    ) {
        let p = Params {
            n: n as u32,
            drift,
            noise,
            prior,
            seed: draw.seed_words(),
            counter: draw.counter_words(),
            stream: draw.stream,
            ..Params::default()
        };
        self.step.encode(&self.gpu, enc, &p, &[state, grad], grid_1d(n, WORKGROUP_1D));
    }

    /// trace[slot] = mean of values[0..n].
    pub fn energy_trace(
        &self,
        enc: &mut wgpu::CommandEncoder,
        n: usize,
        values: &GpuBuffer,
        trace: &GpuBuffer,
        slot: usize,
    ) {
        let p = Params { n: n as u32, slot: slot as u32, ..Params::default() };
        self.energy_trace.encode(&self.gpu, enc, &p, &[trace, values], [1, 1, 1]);
    }

    /// dy = coef·(g − x) over n values.
    pub fn z_residual(
        &self,
        enc: &mut wgpu::CommandEncoder,
        n: usize,
        coef: f32,
        g: &GpuBuffer,
        x: &GpuBuffer,
        dy: &GpuBuffer,
    ) {
        let p = Params { n: n as u32, coef, ..Params::default() };
        self.z_residual.encode(&self.gpu, enc, &p, &[dy, x, g], grid_1d(n, WORKGROUP_1D));
    }

    /// trace[slot] = mean (g − x)²; trace[slot+1] = mean log posterior with 1/(2σ²) = `inv_two_var`.
    #[allow(clippy::too_many_arguments)]
    pub fn z_trace(
        &self,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        n: usize,
        nz: usize,
        inv_two_var: f32,
        g: &GpuBuffer,
        x: &GpuBuffer,
        z: &GpuBuffer,
        trace: &GpuBuffer,
        slot: usize,
    ) {
        let p = Params {
            n: n as u32,
            nz: nz as u32,
            batch: batch as u32,
            slot: slot as u32,
            coef: inv_two_var,
            ..Params::default()
        };
        self.z_trace.encode(&self.gpu, enc, &p, &[trace, x, g, z], [1, 1, 1]);
    }
}
