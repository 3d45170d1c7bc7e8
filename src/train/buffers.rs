//! The buffers of one iteration, sized for the batch.

use super::metrics::slot;
use crate::gpu::{Gpu, GpuBuffer};

/// Buffers of one iteration, sized for the batch (readable after an iteration: the revised
/// samples, latents and reconstructions are what the app and the tests look at).
pub struct IterBuffers {
    /// The data batch x `[B, D]`.
    pub x: GpuBuffer,
    /// z_p ~ N(0, I) `[B, nz]`.
    pub z_prior: GpuBuffer,
    /// x̃: the teaching chain's revised samples `[B, D]` (step 1).
    pub x_teach: GpuBuffer,
    /// x̃′: the EBM step's revised samples `[B, D]` (step 5).
    pub x_ebm: GpuBuffer,
    /// q = [μ | logvar] of the last inference forward `[B, 2·nz]`.
    pub q: GpuBuffer,
    /// z̃: the revised posterior latents `[B, nz]` (step 2).
    pub z_post: GpuBuffer,
    /// The generator's last output `[B, D]`.
    pub g_out: GpuBuffer,
    pub(super) dg: GpuBuffer,
    pub(super) dq: GpuBuffer,
    pub(super) energy_data: GpuBuffer,
    pub(super) energy_samples: GpuBuffer,
    pub(super) d_energy: GpuBuffer,
    /// The metrics slots, then the x- and z-traces: what the readback brings back.
    pub(super) metrics: GpuBuffer,
}

impl IterBuffers {
    /// Buffers for batches of `b` examples of `d` values, latents of `nz`, and traces of
    /// chains of `x_steps` and `z_steps` steps.
    pub(super) fn new(g: &Gpu, b: usize, d: usize, nz: usize, (x_steps, z_steps): (usize, usize)) -> Self {
        Self {
            x: g.zeros(b * d),
            z_prior: g.zeros(b * nz),
            x_teach: g.zeros(b * d),
            x_ebm: g.zeros(b * d),
            q: g.zeros(b * 2 * nz),
            z_post: g.zeros(b * nz),
            g_out: g.zeros(b * d),
            dg: g.zeros(b * d),
            dq: g.zeros(b * 2 * nz),
            energy_data: g.zeros(b),
            energy_samples: g.zeros(b),
            d_energy: g.zeros(b),
            metrics: g.zeros(slot::COUNT + (x_steps + 1) + 2 * (z_steps + 1)),
        }
    }

    /// Copies the chains' traces after the metrics slots, so that one readback brings
    /// everything: `[slots | x-trace (x_steps + 1) | z-trace 2·(z_steps + 1)]`.
    pub(super) fn gather_traces(
        &self,
        enc: &mut wgpu::CommandEncoder,
        x_trace: &GpuBuffer,
        z_trace: &GpuBuffer,
    ) {
        let base = (slot::COUNT * 4) as u64;
        let x_len = (x_trace.len * 4) as u64;
        let m = &self.metrics.buffer;
        enc.copy_buffer_to_buffer(&x_trace.buffer, 0, m, base, x_len);
        enc.copy_buffer_to_buffer(&z_trace.buffer, 0, m, base + x_len, (z_trace.len * 4) as u64);
    }
}
