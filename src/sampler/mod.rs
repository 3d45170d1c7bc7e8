//! The two Langevin samplers: on x under the EBM (paper eq. 3) and on z under the
//! generator posterior (eq. 6). A whole chain is recorded into one command encoder: no
//! readback inside it; per-step traces go to a GPU buffer read once by the caller.

pub mod x_langevin;
pub mod z_langevin;

pub use x_langevin::{EnergyFn, XLangevin};
pub use z_langevin::ZLangevin;

/// How step size and noise enter the update (docs/algorithm.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Parameterisation {
    /// The paper's: x ← x − s·∇U(x) + √(2s)·ε. Samples exp(−U) exactly as s → 0.
    Paper,
    /// The reference code's: x ← x − (s²/2)·∇U(x) + n·ε with n independent of s, i.e.
    /// exp(−U/T) at temperature T = (n/s)². The paper's form is n = s, s_paper = s²/2.
    Reference,
}

/// One Langevin chain's settings: number of steps k, step size s and noise scale n (a
/// `[train.x_langevin]` or `[train.z_langevin]` table). How s and n enter the update is the
/// [`Parameterisation`], fixed per sampler.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangevinConfig {
    pub steps: usize,
    /// Step size s.
    pub step_size: f32,
    /// Noise scale n; used by [`Parameterisation::Reference`] only (the paper's noise is √(2s)).
    pub noise_scale: f32,
    /// x-chains only: accept or reject each step by Metropolis–Hastings (MALA), so that the
    /// chain's stationary law is exactly exp(−E/T) at any step size. A step large enough to
    /// jump between modes then lets the samples carry the EBM's own weights between modes
    /// (docs/algorithm.md §12). Costs one more small kernel per step; off by default.
    /// Absent from older configuration files and checkpoints: off.
    #[serde(default)]
    pub metropolis: bool,
    /// With `metropolis` only: every `second_step_every`-th step (the K-th, 2K-th, …) proposes
    /// with `second_step_size` instead of `step_size` (0: never). Each step is an exact
    /// Metropolis-adjusted kernel, so the chain still samples exp(−E/T), and it can do two
    /// things no single step size does: large steps jump between modes, small ones follow the
    /// gradient into narrow wells and along sharp edges (docs/algorithm.md §12). Absent from
    /// older files: 0.
    #[serde(default)]
    pub second_step_every: usize,
    /// The second step size, in the units of `step_size` (ignored while `second_step_every` is 0).
    #[serde(default)]
    pub second_step_size: f32,
    /// With `metropolis` only: after every `jump_every`-th step (0: never) a population jump
    /// (differential evolution): each chain of one half of the batch proposes
    /// x + (x_j − x_k), j and k two chains of the other half, accepted by Metropolis–Hastings;
    /// then the halves swap. Where the chains sit on several modes the differences are vectors
    /// between modes, so chains move to modes no local step reaches, in proportion to the EBM's
    /// own mass there (docs/algorithm.md §13). Absent from older files: 0.
    #[serde(default)]
    pub jump_every: usize,
    /// With `metropolis` only: the chain samples exp(−E/T) restricted to the box [−b, b]^d
    /// (b in data units; 0: no box), every move that leaves it rejected. For 2-D data whose
    /// log-likelihood is normalised on a box, it keeps exact moves from running down an EBM
    /// that is still unbounded below outside it. Absent from older files: 0.
    #[serde(default)]
    pub box_half_width: f32,
}

impl LangevinConfig {
    /// The update as state ← state − drift·∇U + noise·ε: returns (drift, noise).
    pub fn coefficients(&self, p: Parameterisation) -> (f32, f32) {
        let s = self.step_size;
        match p {
            Parameterisation::Paper => (s, (2.0 * s).sqrt()),
            Parameterisation::Reference => (0.5 * s * s, self.noise_scale),
        }
    }

    /// Whether step t (0-based) proposes with the second step size (`second_step_every`).
    pub fn is_second_step(&self, t: usize) -> bool {
        self.metropolis && self.second_step_every > 0 && (t + 1).is_multiple_of(self.second_step_every)
    }

    /// Whether a population jump follows step t (0-based) (`jump_every`).
    pub fn is_jump_after(&self, t: usize) -> bool {
        self.metropolis && self.jump_every > 0 && (t + 1).is_multiple_of(self.jump_every)
    }

    /// The number of population jumps in a chain of `steps` steps.
    pub fn jumps(&self) -> usize {
        (0..self.steps).filter(|&t| self.is_jump_after(t)).count()
    }

    /// Population jumps with no box: the likely cause of a divergence, since exact moves and
    /// jumps follow a fresh EBM down wherever it has no floor (docs/algorithm.md §13); what
    /// to set is the box.
    pub fn jumps_without_box(&self) -> bool {
        self.jumps() > 0 && self.box_half_width == 0.0
    }

    /// Why [`LangevinConfig::jumps_without_box`] diverges, for the messages that name the box.
    pub const NO_FLOOR: &str =
        "Population jumps without a box let the x-chains run down a fresh EBM that has no floor";

    /// The settings of the second step size: `second_step_size`, with the noise scale scaled
    /// alike under the reference parameterisation so that its temperature (n/s)² is the chain's own.
    pub fn second_step(&self) -> Self {
        let ratio = if self.step_size > 0.0 { self.second_step_size / self.step_size } else { 0.0 };
        Self { step_size: self.second_step_size, noise_scale: self.noise_scale * ratio, ..*self }
    }

    /// [`LangevinConfig::coefficients`] of step t (0-based): the second step size's on the steps
    /// [`LangevinConfig::is_second_step`] names.
    pub fn step_coefficients(&self, p: Parameterisation, t: usize) -> (f32, f32) {
        if self.is_second_step(t) { self.second_step().coefficients(p) } else { self.coefficients(p) }
    }

    /// The temperature the chain samples at: 1 for the paper's form, (n/s)² for the code's.
    pub fn temperature(&self, p: Parameterisation) -> f32 {
        match p {
            Parameterisation::Paper => 1.0,
            Parameterisation::Reference => (self.noise_scale / self.step_size).powi(2),
        }
    }
}

/// Which noise a chain draws: the Philox key and the stream, plus the training iteration
/// (the step goes in the counter's low word, see `ops::rng::RngDraw::iteration_step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainNoise {
    pub seed: u64,
    pub stream: u32,
    pub iteration: u32,
}
