//! Loss values and gradients of the Dual-MCMC iteration (`loss.wgsl`): squared
//! error, the inference model's Gaussian NLL, means into a metrics buffer, and the
//! reparameterised draw z = μ + exp(logvar/2)·ε.

use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, WORKGROUP_1D, grid_1d};
use crate::ops::rng::{PHILOX_SOURCE, RngDraw};

/// The reference code's variance floor in the inference NLL: exp(logvar) + 1e-6.
pub const VAR_EPS: f64 = 1e-6;

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    nz: u32,
    slot: u32,
    stream: u32,
    coef: f32,
    scale: f32,
    _pad: [u32; 2],
    seed: [u32; 2],
    counter: [u32; 2],
}

pub struct Loss {
    gpu: Gpu,
    sq_err_grad: Kernel,
    sq_err_sum: Kernel,
    mean_into: Kernel,
    gauss_nll_grad: Kernel,
    gauss_nll_sum: Kernel,
    reparameterise: Kernel,
}

impl Loss {
    /// The composed source (philox.wgsl, then loss.wgsl).
    pub fn source() -> String {
        format!("{PHILOX_SOURCE}\n{}", include_str!("loss.wgsl"))
    }

    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, ReadWrite};
        let src = Self::source();
        let k = |entry| Kernel::new(gpu, &src, entry, &[Read, Read, ReadWrite], &[]);
        Self {
            gpu: gpu.clone(),
            sq_err_grad: k("sq_err_grad"),
            sq_err_sum: k("sq_err_sum"),
            mean_into: k("mean_into"),
            gauss_nll_grad: k("gauss_nll_grad"),
            gauss_nll_sum: k("gauss_nll_sum"),
            reparameterise: k("reparameterise"),
        }
    }

    /// dy `[n]` = coef·(a − b): the gradient of (coef/2)·‖a − b‖² with respect to a.
    pub fn sq_err_grad(
        &self,
        enc: &mut wgpu::CommandEncoder,
        n: usize,
        coef: f32,
        a: &GpuBuffer,
        b: &GpuBuffer,
        dy: &GpuBuffer,
    ) {
        let p = Params { n: n as u32, coef, ..Params::default() };
        self.sq_err_grad.encode(&self.gpu, enc, &p, &[a, b, dy], grid_1d(n, WORKGROUP_1D));
    }

    /// out[slot] = scale·Σ (a − b)² over n values.
    #[allow(clippy::too_many_arguments)]
    pub fn sq_err_sum(
        &self,
        enc: &mut wgpu::CommandEncoder,
        n: usize,
        scale: f32,
        a: &GpuBuffer,
        b: &GpuBuffer,
        out: &GpuBuffer,
        slot: usize,
    ) {
        let p = Params { n: n as u32, scale, slot: slot as u32, ..Params::default() };
        self.sq_err_sum.encode(&self.gpu, enc, &p, &[a, b, out], [1, 1, 1]);
    }

    /// out[slot] = scale·Σ a[0..n].
    pub fn sum_into(
        &self,
        enc: &mut wgpu::CommandEncoder,
        n: usize,
        scale: f32,
        a: &GpuBuffer,
        out: &GpuBuffer,
        slot: usize,
    ) {
        let p = Params { n: n as u32, scale, slot: slot as u32, ..Params::default() };
        self.mean_into.encode(&self.gpu, enc, &p, &[a, a, out], [1, 1, 1]);
    }

    /// dq `[batch, 2·nz]` = coef·∂NLL/∂q for q = [μ | logvar] per example and target z
    /// `[batch, nz]` (docs/reference.md: NLL = ½Σ logvar + ½Σ (z−μ)²/(exp(logvar)+1e-6)).
    #[allow(clippy::too_many_arguments)]
    pub fn gauss_nll_grad(
        &self,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        nz: usize,
        coef: f32,
        q: &GpuBuffer,
        z: &GpuBuffer,
        dq: &GpuBuffer,
    ) {
        let n = batch * nz;
        let p = Params { n: n as u32, nz: nz as u32, coef, ..Params::default() };
        self.gauss_nll_grad.encode(&self.gpu, enc, &p, &[q, z, dq], grid_1d(n, WORKGROUP_1D));
    }

    /// out[slot] = scale·Σ NLL over the batch.
    #[allow(clippy::too_many_arguments)]
    pub fn gauss_nll_sum(
        &self,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        nz: usize,
        scale: f32,
        q: &GpuBuffer,
        z: &GpuBuffer,
        out: &GpuBuffer,
        slot: usize,
    ) {
        let p =
            Params { n: (batch * nz) as u32, nz: nz as u32, scale, slot: slot as u32, ..Params::default() };
        self.gauss_nll_sum.encode(&self.gpu, enc, &p, &[q, z, out], [1, 1, 1]);
    }

    /// z `[batch, nz]` = μ + exp(logvar/2)·ε with ε from `draw` (the reparameterisation).
    pub fn reparameterise(
        &self,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        nz: usize,
        q: &GpuBuffer,
        z: &GpuBuffer,
        draw: RngDraw,
    ) {
        self.reparameterise_scaled(enc, batch, nz, q, z, draw, 1.0);
    }

    /// z = μ + eps_scale·exp(logvar/2)·ε (eps_scale 0 gives the mean μ).
    #[allow(clippy::too_many_arguments)]
    pub fn reparameterise_scaled(
        &self,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        nz: usize,
        q: &GpuBuffer,
        z: &GpuBuffer,
        draw: RngDraw,
        eps_scale: f32,
    ) {
        let n = batch * nz;
        let p = Params {
            n: n as u32,
            nz: nz as u32,
            coef: eps_scale,
            stream: draw.stream,
            seed: draw.seed_words(),
            counter: draw.counter_words(),
            ..Params::default()
        };
        self.reparameterise.encode(&self.gpu, enc, &p, &[q, q, z], grid_1d(n, WORKGROUP_1D));
    }
}

/// CPU references in f64.
pub mod cpu {
    use super::VAR_EPS;

    /// NLL of each latent value: ½ logvar + ½ (z − μ)²/(exp(logvar) + 1e-6); q = [μ | logvar].
    pub fn gauss_nll(batch: usize, nz: usize, q: &[f64], z: &[f64]) -> f64 {
        let mut total = 0.0;
        for b in 0..batch {
            for j in 0..nz {
                let (mu, lv) = (q[b * 2 * nz + j], q[b * 2 * nz + nz + j]);
                let r = z[b * nz + j] - mu;
                total += 0.5 * lv + 0.5 * r * r / (lv.exp() + VAR_EPS);
            }
        }
        total
    }
}
