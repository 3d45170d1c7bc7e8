//! Step 6, the guard: a diverged iteration (NaN/Inf in a loss, or an energy gap beyond the
//! bound) is undone. Before every iteration each network's parameters, Adam moments and
//! state are copied aside on the GPU (inside the iteration's one submission); a divergence
//! copies them back.

use super::metrics::IterMetrics;
use crate::gpu::{Gpu, GpuBuffer, ReadbackError};
use crate::nn::Network;

/// Training stopped: a loss went NaN/Inf or the energy gap passed its bound.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}; the state from before this iteration was kept", self.what())]
pub struct Divergence {
    pub iteration: u32,
    pub quantity: &'static str,
    pub value: f32,
    pub why: &'static str,
}

impl Divergence {
    /// What diverged, where: `training diverged at iteration 12: EBM loss = NaN (…)`.
    pub fn what(&self) -> String {
        let Self { iteration, quantity, value, why } = self;
        format!("training diverged at iteration {iteration}: {quantity} = {value} ({why})")
    }

    /// The divergence `m` shows at iteration `it`, if any: a loss or mean energy that is not
    /// finite, or an energy gap beyond `bound`.
    pub fn check(m: &IterMetrics, it: u32, bound: f32) -> Option<Self> {
        let named = [
            ("generator loss", m.gen_loss),
            ("inference loss", m.inf_loss),
            ("EBM loss", m.ebm_loss),
            ("mean energy of the data", m.energy_data),
            ("mean energy of the samples", m.energy_samples),
        ];
        for (quantity, value) in named {
            if !value.is_finite() {
                return Some(Self { iteration: it, quantity, value, why: "not a finite number" });
            }
        }
        let gap = m.energy_data - m.energy_samples;
        if gap.abs() > bound {
            return Some(Self {
                iteration: it,
                quantity: "energy gap |mean E(data) − mean E(samples)|",
                value: gap.abs(),
                why: "beyond the bound energy_gap_bound",
            });
        }
        None
    }
}

/// Why an iteration failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Diverged(#[from] Divergence),
    #[error(transparent)]
    Device(#[from] ReadbackError),
    /// A session opened for inspection (no data loaded) was asked to train.
    #[error("this session was opened for inspection and has no data to train on")]
    NoData,
}

/// The copies of the three networks' buffers from before the current iteration.
pub(super) struct Backups {
    /// Per network: parameters, Adam's two moments, state (and the average, if kept).
    copies: [Vec<GpuBuffer>; 3],
}

/// The buffers of a network that an iteration changes.
fn training_buffers(net: &Network) -> Vec<&GpuBuffer> {
    let b = net.bufs();
    let mut bufs = vec![&b.params, &b.adam_m, &b.adam_v, &b.state];
    bufs.extend(b.average.as_ref().map(|a| &a.params));
    bufs
}

fn copy_all(enc: &mut wgpu::CommandEncoder, from: Vec<&GpuBuffer>, to: Vec<&GpuBuffer>) {
    for (src, dst) in from.into_iter().zip(to) {
        enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, (src.len * 4) as u64);
    }
}

impl Backups {
    pub(super) fn new(gpu: &Gpu, nets: [&Network; 3]) -> Self {
        Self { copies: nets.map(|n| training_buffers(n).into_iter().map(|b| gpu.zeros(b.len)).collect()) }
    }

    /// Parameters of each network as they were before the last iteration.
    pub(super) fn params(&self) -> [&GpuBuffer; 3] {
        [&self.copies[0][0], &self.copies[1][0], &self.copies[2][0]]
    }

    /// Records the copies (the first thing an iteration does).
    pub(super) fn save(&self, enc: &mut wgpu::CommandEncoder, nets: [&Network; 3]) {
        for (net, copy) in nets.into_iter().zip(&self.copies) {
            copy_all(enc, training_buffers(net), copy.iter().collect());
        }
    }

    /// Puts the copies back and undoes the iteration's Adam step count.
    pub(super) fn restore(&self, gpu: &Gpu, nets: [&mut Network; 3]) {
        gpu.submit(|enc| {
            for (net, copy) in nets.iter().zip(&self.copies) {
                copy_all(enc, copy.iter().collect(), training_buffers(net));
            }
        });
        for net in nets {
            if let Some(b) = net.bufs.as_mut() {
                b.adam_t = b.adam_t.saturating_sub(1);
            }
        }
    }
}
