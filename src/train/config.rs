//! Settings of one Dual-MCMC training run (docs/algorithm.md §2–3; reference values in docs/reference.md).

use crate::ops::adam::AdamConfig;
use crate::sampler::{LangevinConfig, Parameterisation};
use serde::{Deserialize, Serialize};

/// Where x-Langevin starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum XInit {
    /// From generator samples g(z), z ~ N(0, I): Dual-MCMC teaching.
    Generator,
    /// From N(0, σ_init² I) noise: a short-run EBM (Table 1's comparison).
    Noise,
}

/// Where z-Langevin starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZInit {
    /// From q_φ(z|x) by reparameterisation: Dual-MCMC teaching. With 0 steps: amortised only.
    Inference,
    /// From N(0, I): alternating back-propagation (ABP).
    Noise,
}

/// What the generator learns from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorTeaching {
    /// Both revised pairs: (z̃, x) from z-Langevin and (z_p, x̃) from x-Langevin (eq. 10).
    Dual,
    /// Only the EBM-revised pair (z_p, x̃): cooperative learning.
    EbmOnly,
}

/// Adam settings of one network as stored in a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub weight_decay: f32,
}

impl OptimConfig {
    /// Adam at epoch `epoch` of an exponential schedule lr·decay^epoch.
    pub fn adam(&self, decay: f32, epoch: u32) -> AdamConfig {
        AdamConfig {
            lr: self.lr * decay.powi(epoch as i32),
            beta1: self.beta1,
            beta2: self.beta2,
            eps: 1e-8,
            weight_decay: self.weight_decay,
        }
    }
}

/// The most Langevin steps a chain of one iteration may take (`train.*_langevin.steps`): each
/// step records its dispatches into the iteration's one submission, so a chain of 10⁹ steps
/// would never finish recording. The paper's chains take 30 (x) and 10 (z).
pub const MAX_CHAIN_STEPS: usize = 10_000;

/// The most divergences a run may roll back from (`train.divergence_lr_factor`); the next
/// one stops it.
pub const MAX_ROLLBACKS: u32 = 10;

/// The algorithm's settings (the networks are configured apart, see `models`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub batch_size: usize,
    /// Latent dimension d of z.
    pub nz: usize,
    /// Generator noise σ of p(x|z) = N(g(z), σ²I); enters the z-Langevin only.
    pub sigma: f32,
    /// Parameterisation of both samplers.
    pub parameterisation: Parameterisation,
    /// x-Langevin during training (both runs of an iteration).
    pub x_langevin: LangevinConfig,
    pub z_langevin: LangevinConfig,
    pub x_init: XInit,
    /// Standard deviation of the noise that `x_init = noise` starts from.
    pub x_noise_init_std: f32,
    pub z_init: ZInit,
    pub generator_teaching: GeneratorTeaching,
    pub ebm_optim: OptimConfig,
    pub generator_optim: OptimConfig,
    pub inference_optim: OptimConfig,
    /// Learning-rate factor per epoch (0.998 in the reference).
    pub lr_decay: f32,
    /// Weight of the generator's data term ‖g(z̃) − x‖² (1.0).
    pub generator_data_weight: f32,
    /// λ_S, weight of the generator's EBM-sample term ‖g(z_p) − x̃‖² (the reference's Sfactor).
    pub generator_sample_weight: f32,
    /// λ_I, weight of the inference model's generated-sample term (0.1).
    pub inference_sample_weight: f32,
    /// Training stops when |mean E(data) − mean E(samples)| exceeds this (1e4).
    pub energy_gap_bound: f32,
    /// Decay of an exponential moving average of each network's weights, kept beside the
    /// trained ones for sampling and evaluation (docs/algorithm.md §11); 0 keeps none.
    #[serde(default)]
    pub ema_decay: f32,
    /// What a divergence does (docs/algorithm.md §10): 0 stops training (the default); a
    /// factor in (0, 1) undoes the iteration, multiplies the three learning rates by it and
    /// goes on, at most [`MAX_ROLLBACKS`] times in a run.
    #[serde(default)]
    pub divergence_lr_factor: f32,
    pub seed: u64,
}

impl TrainConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("batch_size", self.batch_size as f32),
            ("nz", self.nz as f32),
            ("sigma", self.sigma),
            ("x_langevin.step_size", self.x_langevin.step_size),
            ("z_langevin.step_size", self.z_langevin.step_size),
            ("lr_decay", self.lr_decay),
            ("energy_gap_bound", self.energy_gap_bound),
            ("ebm_optim.lr", self.ebm_optim.lr),
            ("generator_optim.lr", self.generator_optim.lr),
            ("inference_optim.lr", self.inference_optim.lr),
        ];
        for (key, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Err(format!("{key} must be positive and finite, got {v}"));
            }
        }
        let non_negative = [
            ("x_langevin.noise_scale", self.x_langevin.noise_scale),
            ("z_langevin.noise_scale", self.z_langevin.noise_scale),
            ("x_noise_init_std", self.x_noise_init_std),
            ("generator_data_weight", self.generator_data_weight),
            ("generator_sample_weight", self.generator_sample_weight),
            ("inference_sample_weight", self.inference_sample_weight),
        ];
        for (key, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(format!("{key} must be zero or positive and finite, got {v}"));
            }
        }
        for (key, o) in [
            ("ebm_optim", &self.ebm_optim),
            ("generator_optim", &self.generator_optim),
            ("inference_optim", &self.inference_optim),
        ] {
            if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
                return Err(format!("{key}.beta1 and {key}.beta2 must lie in [0, 1)"));
            }
        }
        for (key, chain) in [("x_langevin.steps", &self.x_langevin), ("z_langevin.steps", &self.z_langevin)] {
            if chain.steps > MAX_CHAIN_STEPS {
                return Err(format!(
                    "{key} = {} is more than {MAX_CHAIN_STEPS}, the longest chain an iteration records \
                     (an iteration is one submission of every step's dispatches)",
                    chain.steps
                ));
            }
        }
        if !(0.0..1.0).contains(&self.divergence_lr_factor) {
            return Err(format!(
                "divergence_lr_factor must lie in [0, 1) (0: stop on a divergence), got {}",
                self.divergence_lr_factor
            ));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return Err(format!("ema_decay must lie in [0, 1) (0: no average), got {}", self.ema_decay));
        }
        if self.z_langevin.metropolis {
            return Err("z_langevin.metropolis: only the x-chains have a Metropolis–Hastings correction \
                        (set x_langevin.metropolis)"
                .into());
        }
        if self.z_langevin.jump_every > 0 || self.z_langevin.box_half_width != 0.0 {
            return Err("z_langevin.jump_every / box_half_width: population jumps and a box are for \
                        Metropolis-adjusted x-chains only; set them to 0 on the z-chain"
                .into());
        }
        if self.z_langevin.second_step_every > 0 {
            return Err(
                "z_langevin.second_step_every: a second step size is for Metropolis-adjusted x-chains only"
                    .into(),
            );
        }
        let x = &self.x_langevin;
        if x.second_step_every > 0 && !x.metropolis {
            return Err("x_langevin.second_step_every needs train.x_langevin.metropolis = true (only the \
                        Metropolis-adjusted chain stays exact at both step sizes); without it set \
                        train.x_langevin.second_step_every=0"
                .into());
        }
        if (x.jump_every > 0 || x.box_half_width != 0.0) && !x.metropolis {
            return Err("x_langevin.jump_every and box_half_width need train.x_langevin.metropolis = true \
                        (jumps and the box are Metropolis–Hastings decisions; an unadjusted chain is not \
                        exact anyway); without it set jump_every=0 and box_half_width=0"
                .into());
        }
        if !(x.box_half_width >= 0.0 && x.box_half_width.is_finite()) {
            return Err(format!(
                "x_langevin.box_half_width must be 0 (no box) or positive, got {}",
                x.box_half_width
            ));
        }
        if x.jump_every > x.steps {
            return Err(format!(
                "x_langevin.jump_every = {} is more than the chain's {} steps: no jump would happen \
                 (0 turns them off)",
                x.jump_every, x.steps
            ));
        }
        if x.jump_every > 0 && self.batch_size < 4 {
            return Err(format!(
                "x_langevin.jump_every needs batch_size ≥ 4 (each half of the chains draws two chains of \
                 the other), got {}",
                self.batch_size
            ));
        }
        if x.second_step_every == 1 {
            return Err(format!(
                "x_langevin.second_step_every = 1 would make every step use second_step_size ({}) and \
                 leave step_size unused: set train.x_langevin.step_size={} and second_step_every=0, or set \
                 second_step_every ≥ 2",
                x.second_step_size, x.second_step_size
            ));
        }
        if x.second_step_every > 0 && !(x.second_step_size > 0.0 && x.second_step_size.is_finite()) {
            return Err(format!(
                "x_langevin.second_step_size must be positive when second_step_every is set, got {}",
                x.second_step_size
            ));
        }
        if self.parameterisation == Parameterisation::Reference && self.x_langevin.noise_scale == 0.0 {
            return Err(
                "x_langevin.noise_scale must be positive under the reference parameterisation (T = (n/s)²)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The EBM's sampling temperature T: the EBM loss is divided by it (docs/reference.md).
    pub fn temperature(&self) -> f32 {
        self.x_langevin.temperature(self.parameterisation)
    }

    /// Multiplies the three networks' learning rates by `factor` (a rollback).
    pub fn scale_learning_rates(&mut self, factor: f32) {
        for o in [&mut self.ebm_optim, &mut self.generator_optim, &mut self.inference_optim] {
            o.lr *= factor;
        }
    }
}
