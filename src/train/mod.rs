//! One Dual-MCMC training iteration, in the order of the reference code (docs/algorithm.md §3):
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

mod buffers;
pub mod config;
mod guard;
mod inspect;
mod metrics;
mod stream;

pub use buffers::IterBuffers;
pub use guard::{Divergence, TrainError};
pub use metrics::IterMetrics;

pub use inspect::{Chain, balanced_chunks};

pub use config::{GeneratorTeaching, MAX_ROLLBACKS, TrainConfig, XInit, ZInit};

use crate::gpu::{GpuBuffer, ResourceError, Staging};
use crate::models::Models;
use crate::nn::{Engine, Grad};
use crate::ops::rng::RngDraw;
use crate::sampler::{ChainNoise, XLangevin, ZLangevin};
use guard::Backups;
use metrics::slot;
use std::sync::Arc;

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

/// Why a trainer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NewTrainerError {
    /// A setting out of range, or networks that don't fit the settings (the message starts
    /// with the key below `train.`).
    #[error("train.{0}")]
    Setting(String),
    /// Buffers larger than the device allows.
    #[error(transparent)]
    Resources(#[from] ResourceError),
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
    backups: Backups,
    /// The networks' state kept aside while the trained model is looked at
    /// ([`Trainer::keep_state`]).
    kept_state: [GpuBuffer; 3],
    /// Iterations done so far.
    pub iteration: u32,
    pub epoch: u32,
}

impl Drop for Trainer {
    /// The kernels' cached bind groups hold this trainer's buffers: let them go.
    fn drop(&mut self) {
        self.engine.gpu.forget_bind_groups();
    }
}

impl Trainer {
    /// Allocates the models (initialised from `cfg.seed`) and all buffers, each checked
    /// against the device first ([`Gpu::checked`]).
    ///
    /// # Errors
    /// A setting out of range or networks that don't fit `cfg` (the message starts with the
    /// key below `train.`), or buffers larger than the device allows ([`NewTrainerError::Resources`]).
    pub fn new(engine: Arc<Engine>, cfg: TrainConfig, mut models: Models) -> Result<Self, NewTrainerError> {
        cfg.validate().map_err(NewTrainerError::Setting)?;
        models.check(cfg.nz).map_err(NewTrainerError::Setting)?;
        let g = &engine.gpu.clone();
        let (b, d) = (cfg.batch_size, models.ebm.in_shape().size());
        let (x_steps, z_steps, nz) = (cfg.x_langevin.steps, cfg.z_langevin.steps, cfg.nz);
        let (bufs, backups, kept_state, x_sampler, z_sampler, staging) = g.checked(|| {
            let sized_by = "model.*, train.nz or train.batch_size";
            let nets = [
                (&mut models.ebm, "EBM", 0),
                (&mut models.generator, "generator", 1),
                (&mut models.inference, "inference model", 2),
            ];
            for (net, name, seed) in nets {
                g.allocating(format!("the {name} (parameters, and activations for {b} examples)"), sized_by);
                net.allocate(g, b, cfg.seed.wrapping_add(seed));
                if cfg.ema_decay > 0.0 {
                    net.keep_average(g, cfg.ema_decay);
                }
            }
            g.allocating(
                "the iteration's buffers and chain traces",
                "train.batch_size, train.nz, train.x_langevin.steps or train.z_langevin.steps",
            );
            let bufs = IterBuffers::new(g, b, d, nz, (x_steps, z_steps));
            let staging = g.staging(bufs.metrics.len);
            g.allocating("the backups of the networks' parameters", "model.*");
            let backups = Backups::new(g, [&models.ebm, &models.generator, &models.inference]);
            let kept_state =
                [&models.ebm, &models.generator, &models.inference].map(|n| g.zeros(n.bufs().state.len));
            g.allocating("the x-Langevin sampler", "train.batch_size or train.x_langevin.steps");
            let x_sampler = XLangevin::new(g, models.ebm.in_shape(), b, x_steps, cfg.parameterisation);
            g.allocating("the z-Langevin sampler", "train.batch_size, train.nz or train.z_langevin.steps");
            let z_sampler = ZLangevin::new(g, &models.generator, b, z_steps, cfg.sigma, cfg.parameterisation);
            (bufs, backups, kept_state, x_sampler, z_sampler, staging)
        })?;
        Ok(Self {
            engine,
            cfg,
            models,
            x_sampler,
            z_sampler,
            bufs,
            staging,
            backups,
            kept_state,
            iteration: 0,
            epoch: 0,
        })
    }

    /// The iteration's buffers (valid after [`Trainer::iteration`]).
    pub fn buffers(&self) -> &IterBuffers {
        &self.bufs
    }

    /// Parameters of (EBM, generator, inference model) as they were before the last iteration.
    pub fn params_before(&self) -> [&GpuBuffer; 3] {
        self.backups.params()
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

    /// [`Trainer::iteration`] as a future (what the app's worker awaits: in the browser the
    /// readback completes on a later turn of the page's event loop).
    pub async fn iteration_async(&mut self, batch: &[f32]) -> Result<IterMetrics, TrainError> {
        self.submit_iteration(batch, None);
        let raw: Vec<f32> = self.engine.gpu.map_read_async(&self.staging).await?;
        self.finish_iteration(&raw)
    }

    fn run_iteration(
        &mut self,
        batch: &[f32],
        times: Option<&mut Vec<(Phase, f64)>>,
    ) -> Result<IterMetrics, TrainError> {
        self.submit_iteration(batch, times);
        let raw: Vec<f32> = self.engine.gpu.map_read(&self.staging)?;
        self.finish_iteration(&raw)
    }

    /// Records the whole iteration and submits it, ending with the copy of its metrics into
    /// the staging buffer.
    fn submit_iteration(&mut self, batch: &[f32], mut times: Option<&mut Vec<(Phase, f64)>>) {
        assert_eq!(batch.len(), self.cfg.batch_size * self.data_size(), "data batch of the wrong size");
        let e = Arc::clone(&self.engine);
        let g = &e.gpu;
        g.write(&self.bufs.x, batch);
        let mut enc = g.encoder();
        self.backups.save(&mut enc, [&self.models.ebm, &self.models.generator, &self.models.inference]);
        for phase in Phase::ALL {
            let start = web_time::Instant::now();
            self.record(phase, &e, &mut enc);
            if let Some(times) = times.as_deref_mut() {
                g.submit_encoder(std::mem::replace(&mut enc, g.encoder()));
                g.wait();
                times.push((phase, start.elapsed().as_secs_f64()));
            }
        }
        g.submit_encoder(enc);
    }

    /// The iteration's metrics from its readback `raw`; on divergence the state from before
    /// the iteration is restored and the error returned.
    fn finish_iteration(&mut self, raw: &[f32]) -> Result<IterMetrics, TrainError> {
        let metrics = IterMetrics::read(raw, &self.cfg, self.iteration);
        if let Some(div) = Divergence::check(&metrics, self.iteration, self.cfg.energy_gap_bound) {
            let m = &mut self.models;
            self.backups.restore(&self.engine.gpu, [&mut m.ebm, &mut m.generator, &mut m.inference]);
            return Err(div.into());
        }
        self.iteration += 1;
        Ok(metrics)
    }

    /// Records one iteration into an encoder that is then dropped, never submitted: the CPU
    /// cost of recording, for adapters too slow to run the iteration (benchmarks).
    pub fn record_only(&mut self) {
        let e = Arc::clone(&self.engine);
        let mut enc = e.gpu.encoder();
        self.backups.save(&mut enc, [&self.models.ebm, &self.models.generator, &self.models.inference]);
        for phase in Phase::ALL {
            self.record(phase, &e, &mut enc);
        }
    }

    /// Puts the networks' moving averages in place of their trained weights (`true`) for
    /// sampling and evaluation, or back (`false`, before training on). Returns whether the
    /// networks keep averages (`train.ema_decay` > 0).
    pub fn use_averages(&mut self, on: bool) -> bool {
        let m = &mut self.models;
        [&mut m.ebm, &mut m.generator, &mut m.inference].map(|n| n.use_average(on)).iter().all(|&k| k)
    }

    /// Whether the networks compute with their moving averages now ([`Trainer::use_averages`]).
    pub fn averages_in_use(&self) -> bool {
        self.models.ebm.average_in_use()
    }

    /// Keeps the networks' state (spectral-norm vectors, batch-norm running statistics) aside
    /// (`true`) or puts it back (`false`). Every forward pass advances spectral norm's power
    /// iteration, so without this, looking at the model (views, held-out measurements) would
    /// change what the next training iteration computes; with it, a run is the same whether
    /// or not anyone looked. GPU copies only, no readback.
    pub fn keep_state(&self, keep: bool) {
        let nets = [&self.models.ebm, &self.models.generator, &self.models.inference];
        self.engine.gpu.submit(|enc| {
            for (net, kept) in nets.into_iter().zip(&self.kept_state) {
                let state = &net.bufs().state;
                let (src, dst) = if keep { (state, kept) } else { (kept, state) };
                enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, (src.len * 4) as u64);
            }
        });
    }

    /// Sets the epoch for the learning-rate schedule.
    pub fn set_epoch(&mut self, epoch: u32) {
        self.epoch = epoch;
    }

    /// Records one phase of the iteration into `enc`, reusing the bind groups of earlier
    /// iterations (every buffer here lives as long as the trainer).
    fn record(&mut self, phase: Phase, e: &Engine, enc: &mut wgpu::CommandEncoder) {
        let _reuse = crate::gpu::BindGroupScope::enter();
        let cfg = self.cfg.clone();
        let (bsz, nz) = (cfg.batch_size, cfg.nz);
        let inv_b = 1.0 / bsz as f32;
        let x_cfg = cfg.x_langevin;
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
                let noise = self.noise(stream::Z_CHAIN);
                self.z_sampler.run(e, enc, &m.generator, bsz, &b.z_post, &b.x, &cfg.z_langevin, noise, &[]);
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
                    m.inference.backward(e, enc, bsz, (x, &b.q), Grad::params(&b.dq));
                }
                let adam = cfg.inference_optim.adam(cfg.lr_decay, self.epoch);
                self.models.inference.adam_step(e, enc, &adam);
            }
            // 5a. x̃′ = x-Langevin from the updated generator, same z_p.
            Phase::XEbm => {
                self.chain_start(e, enc, &b.x_ebm, stream::X_NOISE_INIT);
                self.x_sampler.run(e, enc, &m.ebm, bsz, &b.x_ebm, &x_cfg, self.noise(stream::X_EBM), &[]);
                if x_cfg.metropolis {
                    let per_proposal = inv_b / x_cfg.steps.max(1) as f32;
                    let accepted = self.x_sampler.accepted();
                    e.loss.sum_into(enc, bsz, per_proposal, accepted, &b.metrics, slot::X_ACCEPT);
                }
                if x_cfg.jumps() > 0 {
                    let per_jump = inv_b / x_cfg.jumps() as f32;
                    let accepted = self.x_sampler.jumps_accepted();
                    e.loss.sum_into(enc, bsz, per_jump, accepted, &b.metrics, slot::X_JUMP_ACCEPT);
                }
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
                    m.ebm.backward(e, enc, bsz, (x, energy), Grad::params(&b.d_energy));
                }
                let adam = cfg.ebm_optim.adam(cfg.lr_decay, self.epoch);
                self.models.ebm.adam_step(e, enc, &adam);
                self.bufs.gather_traces(enc, &self.x_sampler.trace, &self.z_sampler.trace);
                self.staging.copy_from(enc, &self.bufs.metrics);
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
            gen_net.backward(e, enc, bsz, (z, &b.g_out), Grad::params(&b.dg));
        }
    }
}
