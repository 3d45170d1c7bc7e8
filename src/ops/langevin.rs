//! The Langevin update and the chains' traces (`langevin.wgsl`, with `philox.wgsl` prepended),
//! and the Metropolis–Hastings moves of an x-chain (`metropolis.wgsl`: the decision after a
//! Langevin step or a population jump, and the jump's proposals): the kernels both samplers
//! in `crate::sampler` are built from.

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

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct MetropolisParams {
    end_row: u32,
    d: u32,
    stream: u32,
    first_row: u32,
    seed: [u32; 2],
    counter: [u32; 2],
    drift: f32,
    inv_two_var: f32,
    inv_temp: f32,
    box_half_width: f32,
    other_first: u32,
    other_end: u32,
    _pad: [u32; 2],
}

impl MetropolisParams {
    /// The rows a kernel works on, the values per row and the draw; the rest 0.
    fn rows(rows: &std::ops::Range<usize>, d: usize, draw: RngDraw) -> Self {
        Self {
            first_row: rows.start as u32,
            end_row: rows.end as u32,
            d: d as u32,
            stream: draw.stream,
            seed: draw.seed_words(),
            counter: draw.counter_words(),
            ..Self::default()
        }
    }
}

/// The kind of Metropolis–Hastings move [`Langevin::metropolis_accept`] decides.
#[derive(Clone, Copy, Debug)]
pub struct Move {
    /// The Langevin proposal's drift and noise (y = x − drift·∇E(x) + noise·ε); both 0 for a
    /// symmetric proposal (a population jump).
    pub drift: f32,
    pub noise: f32,
    /// The chain's temperature T: its target is exp(−E/T).
    pub temperature: f32,
    /// The target's box [−b, b]^d: proposals outside are rejected (0: no box).
    pub box_half_width: f32,
}

impl Move {
    /// A Langevin step of these coefficients (MALA), T = noise²/(2·drift).
    pub fn langevin(drift: f32, noise: f32, box_half_width: f32) -> Self {
        Self { drift, noise, temperature: noise * noise / (2.0 * drift), box_half_width }
    }

    /// A symmetric proposal (a population jump) at temperature T.
    pub fn symmetric(temperature: f32, box_half_width: f32) -> Self {
        Self { drift: 0.0, noise: 0.0, temperature, box_half_width }
    }
}

/// One Metropolis–Hastings decision per chain, see [`Langevin::metropolis_accept`].
pub struct Proposal<'a> {
    /// The chains' states x `[batch, d]`, E(x) `[batch]` and ∇E(x) `[batch, d]`: replaced by
    /// the proposal's where it is accepted.
    pub x: &'a GpuBuffer,
    pub energy_x: &'a GpuBuffer,
    pub grad_x: &'a GpuBuffer,
    /// The proposals y `[batch, d]`, E(y) and ∇E(y).
    pub y: &'a GpuBuffer,
    pub energy_y: &'a GpuBuffer,
    pub grad_y: &'a GpuBuffer,
    /// Accepted proposals per chain `[batch]`, counted up.
    pub accepted: &'a GpuBuffer,
}

pub struct Langevin {
    gpu: Gpu,
    step: Kernel,
    metropolis: Kernel,
    jump: Kernel,
    energy_trace: Kernel,
    z_residual: Kernel,
    z_trace: Kernel,
}

impl Langevin {
    /// The composed source: the Philox library, then the Langevin kernels.
    pub fn source() -> String {
        format!("{PHILOX_SOURCE}\n{}", include_str!("langevin.wgsl"))
    }

    /// The composed source of the Metropolis–Hastings decision: Philox, then `metropolis.wgsl`.
    pub fn metropolis_source() -> String {
        format!("{PHILOX_SOURCE}\n{}", include_str!("metropolis.wgsl"))
    }

    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, ReadWrite};
        let src = Self::source();
        Self {
            gpu: gpu.clone(),
            step: Kernel::new(gpu, &src, "langevin_step", &[ReadWrite, Read], &[]),
            metropolis: Kernel::new(
                gpu,
                &Self::metropolis_source(),
                "metropolis_accept",
                &[ReadWrite, ReadWrite, ReadWrite, Read, ReadWrite, Read, ReadWrite],
                &[],
            ),
            jump: Kernel::new(gpu, &Self::metropolis_source(), "jump_propose", &[ReadWrite, ReadWrite], &[]),
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

    /// Accepts or rejects the proposals of chains `rows` (y = x − drift·∇E(x) + noise·ε made
    /// by [`Langevin::step`], MALA, or a jump by [`Langevin::jump_propose`]): with probability
    /// min(1, α), log α = (E(x) − E(y))/T + (‖y − x + drift·∇E(x)‖² − ‖x − y + drift·∇E(y)‖²)/(2·noise²),
    /// and never outside the move's box. `draw` gives the uniforms (value r for chain r).
    pub fn metropolis_accept(
        &self,
        enc: &mut wgpu::CommandEncoder,
        rows: std::ops::Range<usize>,
        d: usize,
        chains: &Proposal,
        m: Move,
        draw: RngDraw,
    ) {
        let inv_two_var = if m.noise > 0.0 { 0.5 / (m.noise * m.noise) } else { 0.0 };
        let p = MetropolisParams {
            drift: m.drift,
            inv_two_var,
            inv_temp: 1.0 / m.temperature,
            box_half_width: m.box_half_width,
            ..MetropolisParams::rows(&rows, d, draw)
        };
        let c = chains;
        let buffers = [c.x, c.y, c.grad_x, c.grad_y, c.energy_x, c.energy_y, c.accepted];
        self.metropolis.encode(&self.gpu, enc, &p, &buffers, [rows.len().div_ceil(64) as u32, 1, 1]);
    }

    /// Population jump proposals (differential evolution): y_r = x_r + (x_j − x_k) for every
    /// row r in `moving`, j ≠ k two rows of `other` drawn from `draw` (uniforms 2r and 2r + 1);
    /// the other rows of y are left as they are. `other` needs at least 2 rows.
    #[allow(clippy::too_many_arguments)]
    pub fn jump_propose(
        &self,
        enc: &mut wgpu::CommandEncoder,
        d: usize,
        x: &GpuBuffer,
        y: &GpuBuffer,
        moving: std::ops::Range<usize>,
        other: std::ops::Range<usize>,
        draw: RngDraw,
    ) {
        assert!(other.len() >= 2, "a population jump draws two rows of the other half");
        let p = MetropolisParams {
            other_first: other.start as u32,
            other_end: other.end as u32,
            ..MetropolisParams::rows(&moving, d, draw)
        };
        let groups = [(moving.len() * d).div_ceil(64) as u32, 1, 1];
        self.jump.encode(&self.gpu, enc, &p, &[x, y], groups);
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
