//! z-Langevin (paper eq. 6): revises latent codes under the generator posterior
//! p(z|x) ∝ exp(−‖x − g(z)‖²/(2σ²) − ‖z‖²/2).
//!
//! Each step: g(z) forward, dL/dg = coef·(g(z) − x), an input-only backward to ∇_z, then
//! z ← z − drift·(∇_z + z) + noise·ε. Under [`Parameterisation::Reference`] the squared
//! error is a plain sum divided by σ² (docs/reference.md: its likelihood force is twice the
//! textbook one), under [`Parameterisation::Paper`] it is the textbook ‖·‖²/(2σ²).
//! [`ZLangevin::trace`] holds, for z₀ … z_k, the mean squared error per value and the mean
//! log posterior (textbook form, up to its constant) as pairs. Under a plain MLP generator on
//! a CPU adapter ([`Engine::fused_chains`]) the whole chain is one dispatch instead
//! ([`crate::ops::mlp_chain`], for the networks it takes), with the same noise, unless
//! every step is kept for display.

use super::{ChainNoise, LangevinConfig, Parameterisation};
use crate::gpu::{Gpu, GpuBuffer};
use crate::nn::{Engine, Grad, Network};
use crate::ops::mlp_chain::{ChainArgs, ChainBuffers, ChainTarget};
use crate::ops::rng::RngDraw;
use std::sync::OnceLock;

/// Buffers for z-Langevin chains: up to `max_batch` chains of up to `max_steps` steps.
pub struct ZLangevin {
    pub max_batch: usize,
    pub max_steps: usize,
    nz: usize,
    d: usize,
    /// The generator's noise σ of p(x|z) = N(g(z), σ²I).
    sigma: f32,
    parameterisation: Parameterisation,
    /// g(z) `[max_batch, d]`.
    pub g: GpuBuffer,
    dg: GpuBuffer,
    dz: GpuBuffer,
    /// (MSE, mean log posterior) for z₀ … z_k, `[2 (max_steps + 1)]`.
    pub trace: GpuBuffer,
    /// The whole-chain kernel's buffers, made at its first use.
    /// `None` where they would pass the device's limits (the per-layer path runs then).
    fused: OnceLock<Option<ChainBuffers>>,
}

impl ZLangevin {
    /// Chains under generator noise σ = `sigma`, updated as `p` says.
    pub fn new(
        gpu: &Gpu,
        generator: &Network,
        max_batch: usize,
        max_steps: usize,
        sigma: f32,
        p: Parameterisation,
    ) -> Self {
        let (nz, d) = (generator.in_shape().size(), generator.out_shape().size());
        Self {
            max_batch,
            max_steps,
            nz,
            d,
            sigma,
            parameterisation: p,
            g: gpu.zeros(max_batch * d),
            dg: gpu.zeros(max_batch * d),
            dz: gpu.zeros(max_batch * nz),
            trace: gpu.zeros(2 * (max_steps + 1)),
            fused: OnceLock::new(),
        }
    }

    /// Records `cfg.steps` steps on z `[batch, nz]` (updated in place) given data x
    /// `[batch, d]`. States are copied into `keep[t]` as in x-Langevin.
    /// Afterwards [`ZLangevin::g`] holds g(z_k).
    pub fn run(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        generator: &Network,
        batch: usize,
        z: &GpuBuffer,
        x: &GpuBuffer,
        cfg: &LangevinConfig,
        noise: ChainNoise,
        keep: &[Option<&GpuBuffer>],
    ) {
        assert!(batch <= self.max_batch && cfg.steps <= self.max_steps, "z-Langevin sized too small");
        let (n, nz) = (batch * self.d, batch * self.nz);
        let var = self.sigma * self.sigma;
        let coef = match self.parameterisation {
            Parameterisation::Reference => 2.0 / var,
            Parameterisation::Paper => 1.0 / var,
        };
        let (drift, noise_scale) = cfg.coefficients(self.parameterisation);
        let fused =
            (e.fused_chains && keep.is_empty()).then(|| generator.mlp_layout()).flatten().and_then(|mlp| {
                let bufs =
                    self.fused.get_or_init(|| e.mlp_chain.buffers(&mlp, self.max_batch, self.max_steps));
                bufs.as_ref().filter(|b| b.layout() == &mlp)
            });
        if let Some(bufs) = fused {
            let args = ChainArgs {
                batch,
                steps: cfg.steps,
                drift,
                noise: noise_scale,
                prior: 1.0,
                seed: noise.seed,
                stream: noise.stream,
                iteration: noise.iteration,
                metropolis: false,
                second_step: None,
                first_step: 0,
                box_half_width: 0.0,
            };
            let target = ChainTarget::Fit { target: x, coef, inv_two_var: 0.5 / var };
            e.mlp_chain.run(enc, bufs, &generator.bufs().params, z, target, &self.g, &self.trace, &args);
            return;
        }
        let snapshot = |enc: &mut wgpu::CommandEncoder, t: usize| {
            if let Some(Some(dst)) = keep.get(t) {
                enc.copy_buffer_to_buffer(&z.buffer, 0, &dst.buffer, 0, (nz * 4) as u64);
            }
        };
        snapshot(enc, 0);
        for t in 0..cfg.steps {
            generator.forward(e, enc, batch, z, &self.g);
            e.langevin.z_trace(enc, batch, n, nz, 0.5 / var, &self.g, x, z, &self.trace, 2 * t);
            e.langevin.z_residual(enc, n, coef, &self.g, x, &self.dg);
            generator.backward(e, enc, batch, (z, &self.g), Grad::input(&self.dg, &self.dz));
            let draw =
                RngDraw::new(noise.seed, noise.stream, RngDraw::iteration_step(noise.iteration, t as u32));
            e.langevin.step(enc, nz, z, &self.dz, drift, noise_scale, 1.0, draw);
            snapshot(enc, t + 1);
        }
        generator.forward(e, enc, batch, z, &self.g);
        e.langevin.z_trace(enc, batch, n, nz, 0.5 / var, &self.g, x, z, &self.trace, 2 * cfg.steps);
    }
}
