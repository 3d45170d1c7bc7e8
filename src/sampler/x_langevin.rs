//! x-Langevin (paper eq. 3): revises samples under the EBM, π(x) ∝ exp(−E(x)).
//!
//! Each step: E(x) and ∇ₓE by one forward and one input-only backward, then
//! x ← x − drift·∇ₓE(x) + noise·ε (see [`LangevinConfig::coefficients`]). The mean energy of
//! every state x₀ … x_k goes into [`XLangevin::trace`]. Under a plain MLP energy on a CPU
//! adapter ([`Engine::fused_chains`]) the whole chain is one dispatch instead
//! ([`crate::ops::mlp_chain`], for the networks it takes), with the same noise, unless
//! every step is kept for display.
//!
//! With `metropolis` set (MALA) each step is a proposal y instead: E(y) and ∇E(y) by the same
//! forward and backward, then a Metropolis–Hastings decision per chain
//! ([`crate::ops::langevin::Langevin::metropolis_accept`]), so the chain samples exp(−E/T)
//! exactly at any step size; the whole-chain kernel makes the same decisions where it runs.
//! Population jumps (`jump_every`) and a box (`box_half_width`) are further decisions of the
//! same kind. A jump needs every chain's state, so with jumps the whole-chain kernel runs the
//! first `jump_every` steps only, and every later step and each half of every jump is a
//! dispatch of its own in the same kernel family ([`crate::ops::mlp_chain::MlpChain::mala_step`],
//! [`crate::ops::mlp_chain::MlpChain::jump`]).

use super::{ChainNoise, LangevinConfig, Parameterisation};
use crate::gpu::{Gpu, GpuBuffer};
use crate::nn::{Engine, Grad, Network, Shape};
use crate::ops::langevin::{Move, Proposal};
use crate::ops::mlp_chain::{ChainArgs, ChainBuffers, ChainTarget, Jump, MlpLayout, SecondStep};
use crate::ops::rng::RngDraw;
use std::ops::Range;
use std::sync::OnceLock;

/// An energy function E(x), one value per example (the EBM network's output is the energy,
/// as in the reference code; the paper's f_α is −E).
pub trait EnergyFn {
    /// Shape of one example x.
    fn example_shape(&self) -> Shape;
    /// energy `[batch]` = E(x).
    fn energy(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        x: &GpuBuffer,
        energy: &GpuBuffer,
    );
    /// energy `[batch]` = E(x) and grad `[batch, example]` = ∇ₓ Σ_b E(x_b), parameter
    /// gradients untouched.
    fn energy_and_grad(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        x: &GpuBuffer,
        energy: &GpuBuffer,
        grad: &GpuBuffer,
    );
    /// The energy as a plain MLP and its parameter buffer, when it is one: the sampler then
    /// runs the whole chain in one dispatch ([`crate::ops::mlp_chain`]).
    fn mlp(&self) -> Option<(MlpLayout, &GpuBuffer)> {
        None
    }
}

impl EnergyFn for Network {
    fn example_shape(&self) -> Shape {
        self.in_shape()
    }

    fn energy(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        x: &GpuBuffer,
        energy: &GpuBuffer,
    ) {
        self.forward(e, enc, batch, x, energy);
    }

    fn energy_and_grad(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        x: &GpuBuffer,
        energy: &GpuBuffer,
        grad: &GpuBuffer,
    ) {
        self.forward(e, enc, batch, x, energy);
        self.backward(e, enc, batch, (x, energy), Grad::input(&e.ones(batch), grad));
    }

    fn mlp(&self) -> Option<(MlpLayout, &GpuBuffer)> {
        let energy = self.mlp_layout().filter(|m| m.output == 1)?;
        Some((energy, &self.bufs().params))
    }
}

/// Buffers for x-Langevin chains: up to `max_batch` chains of up to `max_steps` steps.
pub struct XLangevin {
    pub max_batch: usize,
    pub max_steps: usize,
    parameterisation: Parameterisation,
    example: usize,
    energy: GpuBuffer,
    grad: GpuBuffer,
    /// Mean energy of x₀ … x_k, `[max_steps + 1]`; read it after the chain's submission.
    pub trace: GpuBuffer,
    /// The whole-chain kernel's buffers, made at its first use.
    /// `None` where they would pass the device's limits (the per-layer path runs then).
    fused: OnceLock<Option<ChainBuffers>>,
    /// The Metropolis-adjusted chain's buffers for the per-layer path, made at its first use.
    metropolis: OnceLock<MetropolisBuffers>,
    /// Accepted proposals per chain `[max_batch]` of the last Metropolis-adjusted run.
    accepted: GpuBuffer,
    /// Accepted population jumps per chain `[max_batch]` of the last run with jumps.
    jumps_accepted: GpuBuffer,
}

/// What one x-chain run is about: the energy, the batch of states x `[batch, example]` it
/// revises in place, its settings and its random stream. The paths of [`XLangevin::run`]
/// take it whole.
#[derive(Clone, Copy)]
struct Chain<'a> {
    e: &'a Engine,
    model: &'a dyn EnergyFn,
    batch: usize,
    x: &'a GpuBuffer,
    cfg: &'a LangevinConfig,
    noise: ChainNoise,
}

impl Chain<'_> {
    /// The draw of `counter` (a step, or a step with flag bits) in this chain's stream.
    fn draw(&self, counter: u32) -> RngDraw {
        RngDraw::new(
            self.noise.seed,
            self.noise.stream,
            RngDraw::iteration_step(self.noise.iteration, counter),
        )
    }
}

/// A Metropolis-adjusted chain's proposals y `[max_batch, example]`, E(y) and ∇E(y).
struct MetropolisBuffers {
    y: GpuBuffer,
    energy_y: GpuBuffer,
    grad_y: GpuBuffer,
}

/// The low counter word of the acceptance uniforms of step t: t with the top bit set, so
/// they never share a counter with the proposals' normal draws (step t itself).
/// (`accept` in `mlp_chain.wgsl` sets the same bit.)
const ACCEPT_COUNTER_BIT: u32 = 1 << 31;
/// Set, with bit 29 for the second half, in the counters of the population jump after step t.
const JUMP_COUNTER_BIT: u32 = 1 << 30;

impl XLangevin {
    pub fn new(gpu: &Gpu, example: Shape, max_batch: usize, max_steps: usize, p: Parameterisation) -> Self {
        let d = example.size();
        Self {
            max_batch,
            max_steps,
            parameterisation: p,
            example: d,
            energy: gpu.zeros(max_batch),
            grad: gpu.zeros(max_batch * d),
            trace: gpu.zeros(max_steps + 1),
            fused: OnceLock::new(),
            metropolis: OnceLock::new(),
            accepted: gpu.zeros(max_batch),
            jumps_accepted: gpu.zeros(max_batch),
        }
    }

    /// Accepted proposals per chain `[max_batch]` of the last Metropolis-adjusted run (counts,
    /// as f32; zeros before the first).
    pub fn accepted(&self) -> &GpuBuffer {
        &self.accepted
    }

    /// Accepted population jumps per chain `[max_batch]` of the last run with jumps (counts,
    /// as f32; each chain proposes once per jump).
    pub fn jumps_accepted(&self) -> &GpuBuffer {
        &self.jumps_accepted
    }

    /// Records `cfg.steps` steps on x `[batch, example]` (updated in place) into `enc`.
    /// After step t (1-based) the state is copied into `keep[t]` when given, for display
    /// (`keep` holds buffers of `[batch, example]`; index 0 gets x₀).
    pub fn run(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        model: &dyn EnergyFn,
        batch: usize,
        x: &GpuBuffer,
        cfg: &LangevinConfig,
        noise: ChainNoise,
        keep: &[Option<&GpuBuffer>],
    ) {
        assert!(batch <= self.max_batch && cfg.steps <= self.max_steps, "x-Langevin sized too small");
        assert_eq!(model.example_shape().size(), self.example, "x-Langevin: example shape");
        let n = batch * self.example;
        let (drift, noise_scale) = cfg.coefficients(self.parameterisation);
        let fused =
            (e.fused_chains && keep.is_empty()).then(|| model.mlp()).flatten().and_then(|(mlp, params)| {
                let bufs =
                    self.fused.get_or_init(|| e.mlp_chain.buffers(&mlp, self.max_batch, self.max_steps));
                bufs.as_ref().filter(|b| b.layout() == &mlp).map(|b| (b, params))
            });
        let chain = Chain { e, model, batch, x, cfg, noise };
        if let Some((bufs, params)) = fused {
            self.run_fused(enc, chain, (bufs, params));
            return;
        }
        if cfg.metropolis {
            self.run_metropolis(enc, chain, keep);
            return;
        }
        let snapshot = |enc: &mut wgpu::CommandEncoder, t: usize| keep_state(enc, keep, t, x, n);
        snapshot(enc, 0);
        for t in 0..cfg.steps {
            model.energy_and_grad(e, enc, batch, x, &self.energy, &self.grad);
            e.langevin.energy_trace(enc, batch, &self.energy, &self.trace, t);
            e.langevin.step(enc, n, x, &self.grad, drift, noise_scale, 0.0, chain.draw(t as u32));
            snapshot(enc, t + 1);
        }
        model.energy(e, enc, batch, x, &self.energy);
        e.langevin.energy_trace(enc, batch, &self.energy, &self.trace, cfg.steps);
    }

    /// [`XLangevin::run`] by the whole-chain kernel ([`crate::ops::mlp_chain`]): one dispatch
    /// per chain, or with population jumps one for the first `jump_every` steps, then one per
    /// step and one per half of each jump (U and ∇U carried from one to the next).
    fn run_fused(
        &self,
        enc: &mut wgpu::CommandEncoder,
        chain: Chain,
        (bufs, params): (&ChainBuffers, &GpuBuffer),
    ) {
        let Chain { e, batch, x, cfg, noise, .. } = chain;
        let (drift, noise_scale) = cfg.coefficients(self.parameterisation);
        let args = ChainArgs {
            batch,
            steps: cfg.steps,
            drift,
            noise: noise_scale,
            prior: 0.0,
            seed: noise.seed,
            stream: noise.stream,
            iteration: noise.iteration,
            metropolis: cfg.metropolis,
            second_step: (cfg.metropolis && cfg.second_step_every > 0).then(|| {
                let (drift, noise) = cfg.second_step().coefficients(self.parameterisation);
                SecondStep { every: cfg.second_step_every, drift, noise }
            }),
            first_step: 0,
            box_half_width: cfg.box_half_width,
        };
        // With jumps the kernel runs the first stretch; each later step is a dispatch of its
        // own, from the U and ∇U the step or the jump before left.
        let first = if cfg.jumps() > 0 { cfg.jump_every } else { cfg.steps };
        // (The loop below starts at the last step of that stretch for the jump after it.)
        e.mlp_chain.run(
            enc,
            bufs,
            params,
            x,
            ChainTarget::Energy,
            &self.energy,
            &self.trace,
            &ChainArgs { steps: first, ..args },
        );
        if cfg.jumps() > 0 {
            e.elementwise.fill(enc, batch, &self.jumps_accepted, 0.0);
            for step in first - 1..cfg.steps {
                if step >= first {
                    e.mlp_chain.mala_step(
                        enc,
                        bufs,
                        x,
                        &self.energy,
                        &ChainArgs { first_step: step, ..args },
                    );
                }
                if cfg.is_jump_after(step) {
                    let after = ChainArgs { first_step: step + 1, ..args };
                    for (h, (moving, other)) in halves(batch).into_iter().enumerate() {
                        let counter = jump_counter(step as u32, h);
                        let jump = Jump { moving, other, counter, accepted: &self.jumps_accepted };
                        e.mlp_chain.jump(enc, bufs, x, &self.energy, &after, &jump);
                    }
                }
            }
            // The slots from the first jump on (the run traced the ones before it).
            let rest = ChainArgs { first_step: first, steps: cfg.steps - first, ..args };
            e.mlp_chain.trace(enc, bufs, (&self.energy, &self.trace), ChainTarget::Energy, &rest);
        }
        if cfg.metropolis {
            enc.copy_buffer_to_buffer(
                &bufs.accepted().buffer,
                0,
                &self.accepted.buffer,
                0,
                (batch * 4) as u64,
            );
        }
    }

    /// The buffers of a Metropolis-adjusted chain's proposals, made at their first use.
    fn metropolis_buffers(&self, gpu: &Gpu) -> &MetropolisBuffers {
        let d = self.example;
        self.metropolis.get_or_init(|| MetropolisBuffers {
            y: gpu.zeros(self.max_batch * d),
            energy_y: gpu.zeros(self.max_batch),
            grad_y: gpu.zeros(self.max_batch * d),
        })
    }

    /// The chains as a population jump sees them (its accepted moves counted in
    /// [`XLangevin::jumps_accepted`]), and its decision: energies alone, at the chain's
    /// temperature, in its box.
    fn jump_chains<'a>(&'a self, chain: Chain<'a>) -> (Proposal<'a>, Move) {
        let m = self.metropolis_buffers(&chain.e.gpu);
        let cfg = chain.cfg;
        let chains = Proposal {
            x: chain.x,
            energy_x: &self.energy,
            grad_x: &self.grad,
            y: &m.y,
            energy_y: &m.energy_y,
            grad_y: &m.grad_y,
            accepted: &self.jumps_accepted,
        };
        let (drift, noise) = cfg.coefficients(self.parameterisation);
        let temperature = Move::langevin(drift, noise, 0.0).temperature;
        (chains, Move::symmetric(temperature, cfg.box_half_width))
    }

    /// [`XLangevin::run`] with a Metropolis–Hastings decision after every step (MALA). The
    /// trace holds the mean energy of the accepted states x₀ … x_k; [`XLangevin::accepted`]
    /// the number of accepted proposals of each chain.
    fn run_metropolis(&self, enc: &mut wgpu::CommandEncoder, chain: Chain, keep: &[Option<&GpuBuffer>]) {
        let Chain { e, model, batch, x, cfg, .. } = chain;
        let d = self.example;
        let n = batch * d;
        let (jump_chains, jump) = self.jump_chains(chain);
        let chains = Proposal { accepted: &self.accepted, ..jump_chains };
        let m = self.metropolis_buffers(&e.gpu);
        let snapshot = |enc: &mut wgpu::CommandEncoder, t: usize| keep_state(enc, keep, t, x, n);
        e.elementwise.fill(enc, batch, &self.accepted, 0.0);
        if cfg.jumps() > 0 {
            e.elementwise.fill(enc, batch, &self.jumps_accepted, 0.0);
        }
        model.energy_and_grad(e, enc, batch, x, &self.energy, &self.grad);
        e.langevin.energy_trace(enc, batch, &self.energy, &self.trace, 0);
        snapshot(enc, 0);
        for t in 0..cfg.steps {
            let step = t as u32;
            let (drift, noise_scale) = cfg.step_coefficients(self.parameterisation, t);
            enc.copy_buffer_to_buffer(&x.buffer, 0, &m.y.buffer, 0, (n * 4) as u64);
            e.langevin.step(enc, n, &m.y, &self.grad, drift, noise_scale, 0.0, chain.draw(step));
            model.energy_and_grad(e, enc, batch, &m.y, &m.energy_y, &m.grad_y);
            let step_move = Move::langevin(drift, noise_scale, cfg.box_half_width);
            e.langevin.metropolis_accept(
                enc,
                0..batch,
                d,
                &chains,
                step_move,
                chain.draw(step | ACCEPT_COUNTER_BIT),
            );
            if cfg.is_jump_after(t) {
                self.population_jump(enc, chain, &jump_chains, jump, step);
            }
            e.langevin.energy_trace(enc, batch, &self.energy, &self.trace, t + 1);
            snapshot(enc, t + 1);
        }
    }

    /// A population jump after step `step` on the chains `c` (E(x) and ∇E(x) current): the
    /// first half of the rows moves by differences of the second half's, then the second by
    /// the first's ([`crate::ops::langevin::Langevin::jump_propose`]), each proposal decided
    /// by `jump` (symmetric: the energies alone, at the chain's temperature, in its box).
    fn population_jump(
        &self,
        enc: &mut wgpu::CommandEncoder,
        chain: Chain,
        c: &Proposal,
        jump: Move,
        step: u32,
    ) {
        let Chain { e, model, batch, .. } = chain;
        let d = self.example;
        for (h, (moving, other)) in halves(batch).into_iter().enumerate() {
            let counter = jump_counter(step, h);
            // The rows that stay put hold their own states in y: the energy runs on the whole batch.
            enc.copy_buffer_to_buffer(&c.x.buffer, 0, &c.y.buffer, 0, (batch * d * 4) as u64);
            e.langevin.jump_propose(enc, d, c.x, c.y, moving.clone(), other, chain.draw(counter));
            model.energy_and_grad(e, enc, batch, c.y, c.energy_y, c.grad_y);
            e.langevin.metropolis_accept(enc, moving, d, c, jump, chain.draw(counter | ACCEPT_COUNTER_BIT));
        }
    }
}

/// A population jump's two halves of a batch: (the rows that move, the rows they move by).
fn halves(batch: usize) -> [(Range<usize>, Range<usize>); 2] {
    let half = batch / 2;
    [(0..half, half..batch), (half..batch, 0..half)]
}

/// The low counter word of the draws of half `h` of the population jump after step `step`.
fn jump_counter(step: u32, h: usize) -> u32 {
    step | JUMP_COUNTER_BIT | (h as u32) << 29
}

/// Copies the chain's state x (`n` values) into `keep[t]` when it is given, for display.
fn keep_state(
    enc: &mut wgpu::CommandEncoder,
    keep: &[Option<&GpuBuffer>],
    t: usize,
    x: &GpuBuffer,
    n: usize,
) {
    if let Some(Some(dst)) = keep.get(t) {
        enc.copy_buffer_to_buffer(&x.buffer, 0, &dst.buffer, 0, (n * 4) as u64);
    }
}
