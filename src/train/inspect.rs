//! Looking at a trained model outside the training iteration: generator samples, x-Langevin
//! revision, inference and z-Langevin reconstruction, energies and their gradients — with
//! the chain's states kept step by step for display (paper Fig. 2).
//!
//! Each call takes at most one training batch of examples (the networks are allocated for
//! that many). Each comes in two forms: a future (`…_async`, what the app's worker awaits,
//! since a readback in the browser cannot block) and the blocking form the command line
//! and the tests call, which waits for it ([`wait_for`]). The generator's batch norm uses the statistics of the batch given, as in the
//! reference code, so results depend on which examples are processed together.

use super::{Trainer, XInit, ZInit, stream};
use crate::gpu::{GpuBuffer, ReadbackError, wait_for};
use crate::nn::Grad;
use crate::ops::rng::RngDraw;
use crate::sampler::{ChainNoise, LangevinConfig, Parameterisation, XLangevin, ZLangevin};
use std::ops::Range;

/// A revision chain as the app shows it: `states[t]` is the batch at step t (t = 0 … k).
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// `[k + 1][n, example]`.
    pub states: Vec<Vec<f32>>,
    /// x-chains: mean energy per step; z-chains: reconstruction MSE per step.
    pub trace: Vec<f32>,
    /// z-chains only: mean log posterior per step.
    pub log_posterior: Vec<f32>,
}

impl Trainer {
    /// Examples in `values` (`[n, size]`), checked against the batch size.
    fn examples(&self, values: &[f32], size: usize) -> usize {
        let (n, b) = (values.len() / size, self.cfg.batch_size);
        assert!(
            n >= 1 && n <= b && values.len() == n * size,
            "between 1 and {b} examples of {size} values at a time"
        );
        n
    }

    /// z `[batch, nz]` ~ N(0, I) from the trainer's seed and `key`. (Its own stream: the
    /// x-chain's first noise of the same key must not repeat these values.)
    pub fn prior_draw(&self, key: u32) -> Vec<f32> {
        let draw = RngDraw::new(self.cfg.seed, stream::INSPECT + 2, RngDraw::iteration_step(key, 0));
        crate::ops::rng::cpu::normal(draw, 0.0, 1.0, self.cfg.batch_size * self.cfg.nz)
    }

    /// Starting points `[batch, example]` of x-chains as training starts them (`x_init`):
    /// generator samples g(z) of [`Trainer::prior_draw`]`(key)`, or for a short-run EBM
    /// (`x_init = "noise"`) draws of N(0, x_noise_init_std²) from `key`.
    pub fn x_chain_start(&self, key: u32) -> Result<Vec<f32>, ReadbackError> {
        match self.cfg.x_init {
            XInit::Generator => self.generate(&self.prior_draw(key)),
            XInit::Noise => {
                let draw = RngDraw::new(self.cfg.seed, stream::INSPECT + 4, RngDraw::iteration_step(key, 0));
                let n = self.cfg.batch_size * self.data_size();
                Ok(crate::ops::rng::cpu::normal(draw, 0.0, self.cfg.x_noise_init_std, n))
            }
        }
    }

    /// g(z) for z `[n, nz]`, n ≤ batch size.
    pub fn generate(&self, z: &[f32]) -> Result<Vec<f32>, ReadbackError> {
        wait_for(self.generate_async(z))
    }

    /// [`Trainer::generate`] as a future.
    pub async fn generate_async(&self, z: &[f32]) -> Result<Vec<f32>, ReadbackError> {
        let (e, g) = (&self.engine, &self.engine.gpu);
        let n = self.examples(z, self.cfg.nz);
        let (z, x) = (g.upload(z), g.zeros(n * self.data_size()));
        g.submit(|enc| self.models.generator.forward(e, enc, n, &z, &x));
        g.read_async(&x).await
    }

    /// E(x) for x `[n, example]`, n ≤ batch size, and ∇ₓE(x) when `grad`.
    pub fn energy(&self, x: &[f32], grad: bool) -> Result<(Vec<f32>, Option<Vec<f32>>), ReadbackError> {
        wait_for(self.energy_async(x, grad))
    }

    /// [`Trainer::energy`] as a future.
    pub async fn energy_async(
        &self,
        x: &[f32],
        grad: bool,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), ReadbackError> {
        let (e, g) = (&self.engine, &self.engine.gpu);
        let d = self.data_size();
        let n = self.examples(x, d);
        let (xb, energy, dx) = (g.upload(x), g.zeros(n), g.zeros(n * d));
        g.submit(|enc| {
            let ebm = &self.models.ebm;
            ebm.forward(e, enc, n, &xb, &energy);
            if grad {
                ebm.backward(e, enc, n, (&xb, &energy), Grad::input(&e.ones(n), &dx));
            }
        });
        let mut read = g.read_many_async(&[&energy, &dx][..1 + usize::from(grad)]).await?.into_iter();
        let energies = read.next().expect("energies read back");
        Ok((energies, read.next()))
    }

    /// x-Langevin from x₀ `[n, example]` under the EBM with the run's parameterisation,
    /// every state kept.
    pub fn revise_x(&self, x0: &[f32], cfg: &LangevinConfig, key: u32) -> Result<Chain, ReadbackError> {
        wait_for(self.revise_x_async(x0, cfg, self.cfg.parameterisation, key))
    }

    /// [`Trainer::revise_x`] as a future, with the update written as `parameterisation` says
    /// (the app's teaching steps use the reference form, whose noise is free).
    pub async fn revise_x_async(
        &self,
        x0: &[f32],
        cfg: &LangevinConfig,
        parameterisation: Parameterisation,
        key: u32,
    ) -> Result<Chain, ReadbackError> {
        let (e, g) = (&self.engine, &self.engine.gpu);
        let d = self.data_size();
        let n = self.examples(x0, d);
        let sampler = XLangevin::new(g, self.models.ebm.in_shape(), n, cfg.steps, parameterisation);
        let x = g.upload(x0);
        let keep: Vec<GpuBuffer> = (0..=cfg.steps).map(|_| g.zeros(n * d)).collect();
        let keep_refs: Vec<Option<&GpuBuffer>> = keep.iter().map(Some).collect();
        let noise = ChainNoise { seed: self.cfg.seed, stream: stream::INSPECT, iteration: key };
        g.submit(|enc| sampler.run(e, enc, &self.models.ebm, n, &x, cfg, noise, &keep_refs));
        let (states, trace) = read_with(g, &keep, &sampler.trace).await?;
        let trace = trace[..=cfg.steps].to_vec();
        Ok(Chain { states, trace, log_posterior: Vec::new() })
    }

    /// Inference q(x), reparameterised z₀, then z-Langevin given x `[n, example]`; every
    /// state z_t kept (decode them with [`Trainer::generate`]). With `from_mean`, z₀ = μ.
    /// A run trained with noise-initialised z-chains (`z_init = "noise"`) starts from
    /// z₀ ~ N(0, I) instead, as its training did.
    pub fn infer_z(
        &self,
        x: &[f32],
        cfg: &LangevinConfig,
        key: u32,
        from_mean: bool,
    ) -> Result<Chain, ReadbackError> {
        wait_for(self.infer_z_async(x, cfg, key, from_mean))
    }

    /// [`Trainer::infer_z`] as a future.
    pub async fn infer_z_async(
        &self,
        x: &[f32],
        cfg: &LangevinConfig,
        key: u32,
        from_mean: bool,
    ) -> Result<Chain, ReadbackError> {
        let (e, g) = (&self.engine, &self.engine.gpu);
        let (d, nz) = (self.data_size(), self.cfg.nz);
        let n = self.examples(x, d);
        let sampler = ZLangevin::new(
            g,
            &self.models.generator,
            n,
            cfg.steps,
            self.cfg.sigma,
            self.cfg.parameterisation,
        );
        let xb = g.upload(x);
        let (q, z) = (g.zeros(n * 2 * nz), g.zeros(n * nz));
        let keep: Vec<GpuBuffer> = (0..=cfg.steps).map(|_| g.zeros(n * nz)).collect();
        let keep_refs: Vec<Option<&GpuBuffer>> = keep.iter().map(Some).collect();
        let draw = RngDraw::new(self.cfg.seed, stream::INSPECT + 3, RngDraw::iteration_step(key, 0));
        let noise = ChainNoise { seed: self.cfg.seed, stream: stream::INSPECT + 1, iteration: key };
        let eps_scale = if from_mean { 0.0 } else { 1.0 };
        g.submit(|enc| {
            self.models.inference.forward(e, enc, n, &xb, &q);
            match self.cfg.z_init {
                ZInit::Inference => e.loss.reparameterise_scaled(enc, n, nz, &q, &z, draw, eps_scale),
                ZInit::Noise => e.rng.normal(enc, &z, 0.0, 1.0, draw),
            }
            sampler.run(e, enc, &self.models.generator, n, &z, &xb, cfg, noise, &keep_refs);
        });
        let (states, raw) = read_with(g, &keep, &sampler.trace).await?;
        let pairs: Vec<(f32, f32)> = raw.chunks(2).take(cfg.steps + 1).map(|p| (p[0], p[1])).collect();
        Ok(Chain {
            states,
            trace: pairs.iter().map(|p| p.0).collect(),
            log_posterior: pairs.iter().map(|p| p.1).collect(),
        })
    }

    /// g(z_t) for every state of a z-chain (`states[t]` `[n, nz]`): the reconstructions
    /// step by step (paper Fig. 2, right).
    pub fn decode_states(&self, states: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ReadbackError> {
        wait_for(self.decode_states_async(states))
    }

    /// [`Trainer::decode_states`] as a future.
    /// Each state is decoded as its own batch (the generator's batch norm sees that batch
    /// alone), all in one submission and one readback.
    pub async fn decode_states_async(&self, states: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ReadbackError> {
        let (e, g) = (&self.engine, &self.engine.gpu);
        let batches: Vec<(usize, GpuBuffer, GpuBuffer)> = states
            .iter()
            .map(|z| {
                let n = self.examples(z, self.cfg.nz);
                (n, g.upload(z), g.zeros(n * self.data_size()))
            })
            .collect();
        g.submit(|enc| {
            for (n, z, x) in &batches {
                self.models.generator.forward(e, enc, *n, z, x);
            }
        });
        let outputs: Vec<&GpuBuffer> = batches.iter().map(|b| &b.2).collect();
        g.read_many_async(&outputs).await
    }

    /// z_i = (1 − s_i)·z_a + s_i·z_b, s_i = i/(p − 1), for p ≥ 2 points: `[p, nz]`, ends exact.
    pub fn lerp_latents(za: &[f32], zb: &[f32], p: usize) -> Vec<f32> {
        (0..p)
            .flat_map(|i| {
                let s = i as f32 / (p - 1) as f32;
                za.iter().zip(zb).map(move |(a, b)| (1.0 - s) * a + s * b)
            })
            .collect()
    }

    /// E at many points `[m, example]` (any m, e.g. every cell of a 2-D grid), a batch at a
    /// time (the EBM has no batch statistics, so chunking changes nothing).
    pub fn energies(&self, points: &[f32]) -> Result<Vec<f32>, ReadbackError> {
        wait_for(self.energies_async(points))
    }

    /// [`Trainer::energies`] as a future.
    pub async fn energies_async(&self, points: &[f32]) -> Result<Vec<f32>, ReadbackError> {
        let (e, g) = (&self.engine, &self.engine.gpu);
        let d = self.data_size();
        // One submission and one readback for all chunks.
        let chunks: Vec<(usize, GpuBuffer, GpuBuffer)> = points
            .chunks(self.cfg.batch_size * d)
            .map(|c| (c.len() / d, g.upload(c), g.zeros(c.len() / d)))
            .collect();
        g.submit(|enc| {
            for (n, x, energy) in &chunks {
                self.models.ebm.forward(e, enc, *n, x, energy);
            }
        });
        let energies: Vec<&GpuBuffer> = chunks.iter().map(|c| &c.2).collect();
        Ok(g.read_many_async(&energies).await?.concat())
    }

    /// The latents of `x` (`[n, example]`, any n) for interpolation: z₀ = μ(x) from the inference
    /// model (no reparameterisation noise), revised by z-Langevin with `z_cfg`; `[n, nz]`. Done
    /// in near-equal chunks of at most a batch, chunk k with key k.
    pub fn inferred_latents(&self, x: &[f32], z_cfg: &LangevinConfig) -> Result<Vec<f32>, ReadbackError> {
        wait_for(self.inferred_latents_async(x, z_cfg))
    }

    /// [`Trainer::inferred_latents`] as a future.
    pub async fn inferred_latents_async(
        &self,
        x: &[f32],
        z_cfg: &LangevinConfig,
    ) -> Result<Vec<f32>, ReadbackError> {
        let d = self.data_size();
        let n = x.len() / d;
        let mut z = Vec::with_capacity(n * self.cfg.nz);
        for (k, r) in balanced_chunks(n, self.cfg.batch_size).into_iter().enumerate() {
            let chain = self.infer_z_async(&x[r.start * d..r.end * d], z_cfg, k as u32, true).await?;
            z.extend_from_slice(chain.states.last().expect("a chain has states"));
        }
        Ok(z)
    }

    /// g at the latent points `z` `[m, nz]`: each chunk of at most B points is decoded in a full
    /// batch whose other rows are the rows of `context` (`[B, nz]`, prior draws) that follow it,
    /// so that the generator's batch statistics are those of (mostly) prior draws.
    pub fn decode_in_context(&self, z: &[f32], context: &[f32]) -> Result<Vec<f32>, ReadbackError> {
        wait_for(self.decode_in_context_async(z, context))
    }

    /// [`Trainer::decode_in_context`] as a future.
    pub async fn decode_in_context_async(
        &self,
        z: &[f32],
        context: &[f32],
    ) -> Result<Vec<f32>, ReadbackError> {
        let (nz, d) = (self.cfg.nz, self.data_size());
        let mut x = Vec::with_capacity(z.len() / nz * d);
        for chunk in z.chunks(self.cfg.batch_size * nz) {
            let batch = [chunk, &context[chunk.len()..]].concat();
            x.extend_from_slice(&self.generate_async(&batch).await?[..chunk.len() / nz * d]);
        }
        Ok(x)
    }
}

/// Every buffer of `bufs`, and `last`, in one readback.
async fn read_with(
    g: &crate::gpu::Gpu,
    bufs: &[GpuBuffer],
    last: &GpuBuffer,
) -> Result<(Vec<Vec<f32>>, Vec<f32>), ReadbackError> {
    let srcs: Vec<&GpuBuffer> = bufs.iter().chain([last]).collect();
    let mut read = g.read_many_async(&srcs).await?;
    let last = read.pop().expect("the last buffer read back");
    Ok((read, last))
}

/// `n` split into near-equal consecutive ranges of at most `most`.
pub fn balanced_chunks(n: usize, most: usize) -> Vec<Range<usize>> {
    let count = n.div_ceil(most);
    let (base, extra) = (n / count, n % count);
    let mut start = 0;
    (0..count)
        .map(|i| {
            let len = base + usize::from(i < extra);
            start += len;
            start - len..start
        })
        .collect()
}
