//! What an iteration measures: the slots of the metrics buffer the kernels write into, and
//! their reading after the iteration's single readback.

use super::config::{GeneratorTeaching, TrainConfig};

/// Slots of the per-iteration metrics buffer (before the traces).
pub(super) mod slot {
    pub const GEN_DATA: usize = 0;
    pub const GEN_SAMPLE: usize = 1;
    pub const INF_DATA: usize = 2;
    pub const INF_SAMPLE: usize = 3;
    pub const ENERGY_DATA: usize = 4;
    pub const ENERGY_SAMPLES: usize = 5;
    pub const X_ACCEPT: usize = 6;
    pub const X_JUMP_ACCEPT: usize = 7;
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
    /// Mean squared error per value of g(z₀) and g(z̃) (after z-Langevin), z₀ the chain's start:
    /// drawn from q(z|x) (`z_init = "inference"`, reparameterised, not its mean μ as `eval`
    /// takes it) or from the prior.
    pub recon_mse_initial: f32,
    pub recon_mse: f32,
    /// Share of the EBM-step chain's proposals accepted, over its steps and chains (with
    /// `x_langevin.metropolis`; `None` without).
    pub x_accept: Option<f32>,
    /// Share of the EBM-step chain's population jumps accepted, over its jumps and chains
    /// (with `x_langevin.jump_every`; `None` without).
    pub x_jump_accept: Option<f32>,
    /// Mean energy of x₀ … x_k of the EBM-step chain.
    pub x_trace: Vec<f32>,
    /// (MSE, mean log posterior) of z₀ … z_k.
    pub z_trace: Vec<(f32, f32)>,
}

impl IterMetrics {
    /// The metrics of iteration `iteration` from the raw readback of the metrics buffer: its
    /// slots, then the x-trace, then the z-trace.
    pub(super) fn read(raw: &[f32], cfg: &TrainConfig, iteration: u32) -> Self {
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
        Self {
            iteration,
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
            x_accept: cfg.x_langevin.metropolis.then_some(raw[slot::X_ACCEPT]),
            x_jump_accept: (cfg.x_langevin.jumps() > 0).then_some(raw[slot::X_JUMP_ACCEPT]),
            x_trace,
            z_trace,
        }
    }
}
