//! One Dual-MCMC training iteration, in the order of the reference code (DESIGN.md §4):
//!
//! 1. z_p ~ N(0, I); x̃ = x-Langevin(g(z_p)) under the current EBM.
//! 2. (μ, logvar) = q(x); z₀ = μ + exp(logvar/2)·ε; z̃ = z-Langevin(z₀ | x).
//! 3. Generator step (eq. 10): ‖g(z̃) − x‖² + λ_S‖g(z_p) − x̃‖² (sums over values, means
//!    over the batch).
//! 4. Inference step (eq. 15): NLL(z̃ | q(x)) + λ_I·NLL(z_p | q(x̃)).
//! 5. EBM step (eq. 7): x̃′ = x-Langevin(g(z_p)) with the updated generator; descend
//!    (mean E(x) − mean E(x̃′)) / T.
//! 6. Guard: NaN/Inf in any loss or an energy gap beyond the bound restores the state from
//!    before the iteration and stops with an error naming the iteration and the quantity.
//!
//! The whole iteration is one submission; its metrics and traces come back in one readback.

pub mod config;
mod inspect;

pub use inspect::Chain;

pub use config::{GeneratorTeaching, TrainConfig, XInit, ZInit};

use crate::gpu::{GpuBuffer, ReadbackError, Staging};
use crate::models::Models;
use crate::nn::{Engine, Network};
use crate::ops::rng::RngDraw;
use crate::sampler::{ChainNoise, XLangevin, ZLangevin};
use std::sync::Arc;

/// Philox streams: each use of noise in an iteration draws from its own stream.
mod stream {
    pub const PRIOR: u32 = 10;
    pub const REPARAM: u32 = 11;
    pub const X_TEACH: u32 = 12;
    pub const X_EBM: u32 = 13;
    pub const Z_CHAIN: u32 = 14;
    pub const X_NOISE_INIT: u32 = 15;
    pub const Z_NOISE_INIT: u32 = 16;
    /// Display and the command line, five streams from here: x-chain noise, z-chain noise,
    /// prior draws, reparameterisation noise, noise starting points of x-chains.
    pub const INSPECT: u32 = 20;
}

/// Slots of the per-iteration metrics buffer (before the traces).
mod slot {
    pub const GEN_DATA: usize = 0;
    pub const GEN_SAMPLE: usize = 1;
    pub const INF_DATA: usize = 2;
    pub const INF_SAMPLE: usize = 3;
    pub const ENERGY_DATA: usize = 4;
    pub const ENERGY_SAMPLES: usize = 5;
    pub const COUNT: usize = 8;
}

/// What one iteration measured (one readback).
#[derive(Clone, Debug, PartialEq)]
pub struct IterMetrics {
    pub iteration: u32,
    /// ‖g(z̃) − x‖² per example.
    pub gen_data_loss: f32,
    /// ‖g(z_p) − x̃‖² per example (before λ_S).
    pub gen_sample_loss: f32,
    /// Generator objective: data weight · data term + λ_S · sample term.
    pub gen_loss: f32,
    /// NLL(z̃ | q(x)) per example.
    pub inf_data_loss: f32,
    /// NLL(z_p | q(x̃)) per example (before λ_I).
    pub inf_sample_loss: f32,
    pub inf_loss: f32,
    /// Mean energy of the data batch and of the revised samples x̃′.
    pub energy_data: f32,
    pub energy_samples: f32,
    /// (mean E(x) − mean E(x̃′)) / T, the EBM objective.
    pub ebm_loss: f32,
    /// Mean squared error per value of g(z₀) (inference model alone) and g(z̃) (after z-Langevin).
    pub recon_mse_initial: f32,
    pub recon_mse: f32,
    /// Mean energy of x₀ … x_k of the EBM-step chain.
    pub x_trace: Vec<f32>,
    /// (MSE, mean log posterior) of z₀ … z_k.
    pub z_trace: Vec<(f32, f32)>,
}

/// Training stopped: a loss went NaN/Inf or the energy gap passed its bound.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "training diverged at iteration {iteration}: {quantity} = {value} ({why}); the state from before this iteration was kept"
)]
pub struct Divergence {
    pub iteration: u32,
    pub quantity: &'static str,
    pub value: f32,
    pub why: &'static str,
}

/// The parts of an iteration, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Step 1: x-Langevin from g(z_p) (the teaching chain).
    XTeach,
    /// Step 2: q(x), reparameterisation, z-Langevin.
    ZLangevin,
    /// Step 3: the generator's update.
    Generator,
    /// Step 4: the inference model's update.
    Inference,
    /// Step 5a: x-Langevin from the updated generator.
    XEbm,
    /// Step 5b: the EBM's update.
    Ebm,
}

impl Phase {
    pub const ALL: [Phase; 6] =
        [Phase::XTeach, Phase::ZLangevin, Phase::Generator, Phase::Inference, Phase::XEbm, Phase::Ebm];
}

/// Why an iteration failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Diverged(#[from] Divergence),
    #[error(transparent)]
    Device(#[from] ReadbackError),
}

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
    dg: GpuBuffer,
    dq: GpuBuffer,
    energy_data: GpuBuffer,
    energy_samples: GpuBuffer,
    d_energy: GpuBuffer,
    metrics: GpuBuffer,
}

/// A copy of a network's buffers, restored when an iteration diverges.
struct Backup {
    params: GpuBuffer,
    adam_m: GpuBuffer,
    adam_v: GpuBuffer,
    state: GpuBuffer,
}

/// The training state: three networks, two samplers, the iteration buffers.
pub struct Trainer {
    pub engine: Arc<Engine>,
    pub cfg: TrainConfig,
    pub models: Models,
    pub x_sampler: XLangevin,
    pub z_sampler: ZLangevin,
    bufs: IterBuffers,
    /// Where the metrics and traces come back to the CPU, once per iteration.
    staging: Staging,
    backups: [Backup; 3],
    /// Iterations done so far.
    pub iteration: u32,
    pub epoch: u32,
}

impl Trainer {
    /// Allocates the models (initialised from `cfg.seed`) and all buffers.
    pub fn new(engine: Arc<Engine>, cfg: TrainConfig, mut models: Models) -> Result<Self, String> {
        cfg.validate()?;
        let g = &engine.gpu;
        let b = cfg.batch_size;
        let d = models.ebm.in_shape().size();
        if models.generator.out_shape().size() != d || models.inference.in_shape().size() != d {
            return Err(format!("the three networks disagree on the data size ({d} values per example)"));
        }
        if models.generator.in_shape().size() != cfg.nz || models.inference.out_shape().size() != 2 * cfg.nz {
            return Err(format!("generator input and inference output must be nz = {} and 2·nz", cfg.nz));
        }
        if models.ebm.out_shape().size() != 1 {
            return Err("the EBM must output one energy per example".into());
        }
        models.ebm.allocate(g, b, cfg.seed);
        models.generator.allocate(g, b, cfg.seed.wrapping_add(1));
        models.inference.allocate(g, b, cfg.seed.wrapping_add(2));
        let x_steps = cfg.x_langevin.steps;
        let z_steps = cfg.z_langevin.steps;
        let nz = cfg.nz;
        let bufs = IterBuffers {
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
        };
        let backup = |n: &Network| {
            let nb = n.bufs();
            Backup {
                params: g.zeros(nb.params.len),
                adam_m: g.zeros(nb.params.len),
                adam_v: g.zeros(nb.params.len),
                state: g.zeros(nb.state.len),
            }
        };
        let backups = [backup(&models.ebm), backup(&models.generator), backup(&models.inference)];
        let x_sampler = XLangevin::new(g, models.ebm.in_shape(), b, x_steps);
        let z_sampler = ZLangevin::new(g, &models.generator, b, z_steps);
        let staging = g.staging(bufs.metrics.len);
        Ok(Self { engine, cfg, models, x_sampler, z_sampler, bufs, staging, backups, iteration: 0, epoch: 0 })
    }

    /// The iteration's buffers (valid after [`Trainer::iteration`]).
    pub fn buffers(&self) -> &IterBuffers {
        &self.bufs
    }

    /// Parameters of (EBM, generator, inference model) as they were before the last iteration.
    pub fn params_before(&self) -> [&GpuBuffer; 3] {
        [&self.backups[0].params, &self.backups[1].params, &self.backups[2].params]
    }

    /// Values per example.
    pub fn data_size(&self) -> usize {
        self.models.ebm.in_shape().size()
    }

    fn noise(&self, stream: u32) -> ChainNoise {
        ChainNoise { seed: self.cfg.seed, stream, iteration: self.iteration }
    }

    fn draw(&self, stream: u32) -> RngDraw {
        RngDraw::new(self.cfg.seed, stream, RngDraw::iteration_step(self.iteration, 0))
    }

    /// Runs one iteration on the data batch `[batch_size, data_size]` (values in the data's
    /// scale, [−1, 1] for images): one submission, one readback.
    pub fn iteration(&mut self, batch: &[f32]) -> Result<IterMetrics, TrainError> {
        self.run_iteration(batch, None)
    }

    /// As [`Trainer::iteration`], but each phase is submitted on its own and waited for, and
    /// its wall time is returned (for benchmarks; slower than the real thing).
    pub fn iteration_profiled(
        &mut self,
        batch: &[f32],
    ) -> Result<(IterMetrics, Vec<(Phase, f64)>), TrainError> {
        let mut times = Vec::new();
        let m = self.run_iteration(batch, Some(&mut times))?;
        Ok((m, times))
    }

    fn run_iteration(
        &mut self,
        batch: &[f32],
        mut times: Option<&mut Vec<(Phase, f64)>>,
    ) -> Result<IterMetrics, TrainError> {
        assert_eq!(batch.len(), self.cfg.batch_size * self.data_size(), "data batch of the wrong size");
        let e = Arc::clone(&self.engine);
        let g = &e.gpu;
        g.write(&self.bufs.x, batch);
        let mut enc = g.encoder();
        self.backup(&mut enc);
        for phase in Phase::ALL {
            let start = std::time::Instant::now();
            self.record(phase, &e, &mut enc);
            if let Some(times) = times.as_deref_mut() {
                g.submit_encoder(std::mem::replace(&mut enc, g.encoder()));
                g.wait();
                times.push((phase, start.elapsed().as_secs_f64()));
            }
        }
        g.submit_encoder(enc);
        let raw: Vec<f32> = g.map_read(&self.staging)?;
        let metrics = self.metrics(&raw);
        if let Some(div) = self.check(&metrics) {
            self.restore(&e);
            return Err(div.into());
        }
        self.iteration += 1;
        Ok(metrics)
    }

    /// Sets the epoch for the learning-rate schedule.
    pub fn set_epoch(&mut self, epoch: u32) {
        self.epoch = epoch;
    }

    /// Records one phase of the iteration into `enc`.
    fn record(&mut self, phase: Phase, e: &Engine, enc: &mut wgpu::CommandEncoder) {
        let cfg = self.cfg.clone();
        let (bsz, nz) = (cfg.batch_size, cfg.nz);
        let inv_b = 1.0 / bsz as f32;
        let x_cfg = cfg.x_langevin.langevin(cfg.parameterisation);
        let (b, m) = (&self.bufs, &self.models);
        match phase {
            // 1. x̃ = x-Langevin(g(z_p)).
            Phase::XTeach => {
                e.rng.normal(enc, &b.z_prior, 0.0, 1.0, self.draw(stream::PRIOR));
                self.chain_start(e, enc, &b.x_teach, stream::X_NOISE_INIT);
                self.x_sampler.run(e, enc, &m.ebm, bsz, &b.x_teach, &x_cfg, self.noise(stream::X_TEACH), &[]);
            }
            // 2. z̃ = z-Langevin(z₀ | x), z₀ from q(x) or from noise.
            Phase::ZLangevin => {
                m.inference.forward(e, enc, bsz, &b.x, &b.q);
                match cfg.z_init {
                    ZInit::Inference => {
                        e.loss.reparameterise(enc, bsz, nz, &b.q, &b.z_post, self.draw(stream::REPARAM))
                    }
                    ZInit::Noise => e.rng.normal(enc, &b.z_post, 0.0, 1.0, self.draw(stream::Z_NOISE_INIT)),
                }
                let z_cfg = cfg.z_langevin.langevin(cfg.parameterisation);
                let noise = self.noise(stream::Z_CHAIN);
                self.z_sampler.run(e, enc, &m.generator, bsz, &b.z_post, &b.x, cfg.sigma, &z_cfg, noise, &[]);
            }
            // 3. Generator step (eq. 10).
            Phase::Generator => {
                m.generator.zero_grads(e, enc);
                let data_weight = match cfg.generator_teaching {
                    GeneratorTeaching::Dual => cfg.generator_data_weight,
                    GeneratorTeaching::EbmOnly => 0.0,
                };
                self.generator_term(e, enc, &b.z_post, &b.x, data_weight, slot::GEN_DATA);
                self.generator_term(
                    e,
                    enc,
                    &b.z_prior,
                    &b.x_teach,
                    cfg.generator_sample_weight,
                    slot::GEN_SAMPLE,
                );
                let adam = cfg.generator_optim.adam(cfg.lr_decay, self.epoch);
                self.models.generator.adam_step(e, enc, &adam);
            }
            // 4. Inference step (eq. 15).
            Phase::Inference => {
                m.inference.zero_grads(e, enc);
                let terms = [
                    (&b.x, &b.z_post, 1.0, slot::INF_DATA),
                    (&b.x_teach, &b.z_prior, cfg.inference_sample_weight, slot::INF_SAMPLE),
                ];
                for (x, z, weight, s) in terms {
                    m.inference.forward(e, enc, bsz, x, &b.q);
                    e.loss.gauss_nll_sum(enc, bsz, nz, inv_b, &b.q, z, &b.metrics, s);
                    e.loss.gauss_nll_grad(enc, bsz, nz, weight * inv_b, &b.q, z, &b.dq);
                    m.inference.backward(e, enc, bsz, x, &b.q, &b.dq, None, true);
                }
                let adam = cfg.inference_optim.adam(cfg.lr_decay, self.epoch);
                self.models.inference.adam_step(e, enc, &adam);
            }
            // 5a. x̃′ = x-Langevin from the updated generator, same z_p.
            Phase::XEbm => {
                self.chain_start(e, enc, &b.x_ebm, stream::X_NOISE_INIT);
                self.x_sampler.run(e, enc, &m.ebm, bsz, &b.x_ebm, &x_cfg, self.noise(stream::X_EBM), &[]);
            }
            // 5b. EBM step (eq. 7): descend (mean E(x) − mean E(x̃′)) / T.
            Phase::Ebm => {
                let scale = inv_b / cfg.temperature();
                m.ebm.zero_grads(e, enc);
                let terms = [
                    (&b.x, &b.energy_data, 1.0, slot::ENERGY_DATA),
                    (&b.x_ebm, &b.energy_samples, -1.0, slot::ENERGY_SAMPLES),
                ];
                for (x, energy, sign, s) in terms {
                    m.ebm.forward(e, enc, bsz, x, energy);
                    e.loss.sum_into(enc, bsz, inv_b, energy, &b.metrics, s);
                    e.elementwise.fill(enc, bsz, &b.d_energy, sign * scale);
                    m.ebm.backward(e, enc, bsz, x, energy, &b.d_energy, None, true);
                }
                let adam = cfg.ebm_optim.adam(cfg.lr_decay, self.epoch);
                self.models.ebm.adam_step(e, enc, &adam);
                // Traces next to the metrics, so that one readback brings everything.
                let b = &self.bufs;
                let x_len = (cfg.x_langevin.steps + 1) as u64 * 4;
                let z_len = 2 * (cfg.z_langevin.steps + 1) as u64 * 4;
                let base = slot::COUNT as u64 * 4;
                enc.copy_buffer_to_buffer(&self.x_sampler.trace.buffer, 0, &b.metrics.buffer, base, x_len);
                enc.copy_buffer_to_buffer(
                    &self.z_sampler.trace.buffer,
                    0,
                    &b.metrics.buffer,
                    base + x_len,
                    z_len,
                );
                self.staging.copy_from(enc, &b.metrics);
            }
        }
    }

    /// Writes the start of an x-chain into `x`: g(z_p) with the current generator, or noise.
    fn chain_start(&self, e: &Engine, enc: &mut wgpu::CommandEncoder, x: &GpuBuffer, noise_stream: u32) {
        match self.cfg.x_init {
            XInit::Generator => {
                self.models.generator.forward(e, enc, self.cfg.batch_size, &self.bufs.z_prior, x)
            }
            XInit::Noise => e.rng.normal(enc, x, 0.0, self.cfg.x_noise_init_std, self.draw(noise_stream)),
        }
    }

    /// One generator term: weight·‖g(z) − target‖²/B, its value into `s`, its gradient added.
    fn generator_term(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        z: &GpuBuffer,
        target: &GpuBuffer,
        weight: f32,
        s: usize,
    ) {
        let (b, gen_net) = (&self.bufs, &self.models.generator);
        let bsz = self.cfg.batch_size;
        let n = bsz * self.data_size();
        let inv_b = 1.0 / bsz as f32;
        gen_net.forward(e, enc, bsz, z, &b.g_out);
        e.loss.sq_err_sum(enc, n, inv_b, &b.g_out, target, &b.metrics, s);
        if weight != 0.0 {
            e.loss.sq_err_grad(enc, n, 2.0 * weight * inv_b, &b.g_out, target, &b.dg);
            gen_net.backward(e, enc, bsz, z, &b.g_out, &b.dg, None, true);
        }
    }

    fn metrics(&self, raw: &[f32]) -> IterMetrics {
        let cfg = &self.cfg;
        let x_n = cfg.x_langevin.steps + 1;
        let x_trace = raw[slot::COUNT..slot::COUNT + x_n].to_vec();
        let z_trace: Vec<(f32, f32)> =
            raw[slot::COUNT + x_n..].chunks(2).take(cfg.z_langevin.steps + 1).map(|p| (p[0], p[1])).collect();
        let data_weight = match cfg.generator_teaching {
            GeneratorTeaching::Dual => cfg.generator_data_weight,
            GeneratorTeaching::EbmOnly => 0.0,
        };
        let (gd, gs) = (raw[slot::GEN_DATA], raw[slot::GEN_SAMPLE]);
        let (id, is) = (raw[slot::INF_DATA], raw[slot::INF_SAMPLE]);
        let (ed, es) = (raw[slot::ENERGY_DATA], raw[slot::ENERGY_SAMPLES]);
        IterMetrics {
            iteration: self.iteration,
            gen_data_loss: gd,
            gen_sample_loss: gs,
            gen_loss: data_weight * gd + cfg.generator_sample_weight * gs,
            inf_data_loss: id,
            inf_sample_loss: is,
            inf_loss: id + cfg.inference_sample_weight * is,
            energy_data: ed,
            energy_samples: es,
            ebm_loss: (ed - es) / cfg.temperature(),
            recon_mse_initial: z_trace.first().map_or(f32::NAN, |t| t.0),
            recon_mse: z_trace.last().map_or(f32::NAN, |t| t.0),
            x_trace,
            z_trace,
        }
    }

    fn check(&self, m: &IterMetrics) -> Option<Divergence> {
        let it = self.iteration;
        let named = [
            ("generator loss", m.gen_loss),
            ("inference loss", m.inf_loss),
            ("EBM loss", m.ebm_loss),
            ("mean energy of the data", m.energy_data),
            ("mean energy of the samples", m.energy_samples),
        ];
        for (quantity, value) in named {
            if !value.is_finite() {
                return Some(Divergence { iteration: it, quantity, value, why: "not a finite number" });
            }
        }
        let gap = m.energy_data - m.energy_samples;
        if gap.abs() > self.cfg.energy_gap_bound {
            return Some(Divergence {
                iteration: it,
                quantity: "energy gap |mean E(data) − mean E(samples)|",
                value: gap.abs(),
                why: "beyond the bound energy_gap_bound",
            });
        }
        None
    }

    fn nets(&self) -> [&Network; 3] {
        [&self.models.ebm, &self.models.generator, &self.models.inference]
    }

    fn backup(&self, enc: &mut wgpu::CommandEncoder) {
        for (net, bk) in self.nets().into_iter().zip(&self.backups) {
            let nb = net.bufs();
            for (src, dst) in [
                (&nb.params, &bk.params),
                (&nb.adam_m, &bk.adam_m),
                (&nb.adam_v, &bk.adam_v),
                (&nb.state, &bk.state),
            ] {
                enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, (src.len * 4) as u64);
            }
        }
    }

    fn restore(&mut self, e: &Engine) {
        e.gpu.submit(|enc| {
            for (net, bk) in self.nets().into_iter().zip(&self.backups) {
                let nb = net.bufs();
                for (dst, src) in [
                    (&nb.params, &bk.params),
                    (&nb.adam_m, &bk.adam_m),
                    (&nb.adam_v, &bk.adam_v),
                    (&nb.state, &bk.state),
                ] {
                    enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, (src.len * 4) as u64);
                }
            }
        });
        for net in [&mut self.models.ebm, &mut self.models.generator, &mut self.models.inference] {
            if let Some(b) = net.bufs.as_mut() {
                b.adam_t = b.adam_t.saturating_sub(1);
            }
        }
    }
}
