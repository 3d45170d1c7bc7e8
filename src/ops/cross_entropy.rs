//! Softmax cross-entropy of class scores (`cross_entropy.wgsl`): the loss that
//! trains the feature network of the Fréchet distance (`train-classifier`).

use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, grid_1d};

pub const SOURCE: &str = include_str!("cross_entropy.wgsl");

const WORKGROUP: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    classes: u32,
    coef: f32,
    _pad: u32,
}

pub struct CrossEntropy {
    gpu: Gpu,
    kernel: Kernel,
}

impl CrossEntropy {
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, ReadWrite};
        let kernel = Kernel::new(gpu, SOURCE, "softmax_xent", &[Read, Read, ReadWrite, ReadWrite], &[]);
        Self { gpu: gpu.clone(), kernel }
    }

    /// For logits `[batch, classes]` and labels `[batch]` (class indices stored as f32):
    /// dlogits `[batch, classes]` = coef·(softmax − one-hot), the gradient of coef·Σ loss;
    /// stats `[batch, 2]` = (loss, correct) per example, loss = −log softmax[label] (nats),
    /// correct = 1 when the arg-max is the label.
    #[allow(clippy::too_many_arguments)]
    pub fn softmax_xent(
        &self,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        classes: usize,
        coef: f32,
        logits: &GpuBuffer,
        labels: &GpuBuffer,
        dlogits: &GpuBuffer,
        stats: &GpuBuffer,
    ) {
        let p = Params { batch: batch as u32, classes: classes as u32, coef, _pad: 0 };
        self.kernel.encode(&self.gpu, enc, &p, &[logits, labels, dlogits, stats], grid_1d(batch, WORKGROUP));
    }
}

pub mod cpu {
    /// −log softmax(logits)[label] of each row of `[batch, classes]`, in f64.
    pub fn losses(classes: usize, logits: &[f64], labels: &[usize]) -> Vec<f64> {
        logits
            .chunks(classes)
            .zip(labels)
            .map(|(row, &label)| {
                let top = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let log_total = row.iter().map(|v| (v - top).exp()).sum::<f64>().ln() + top;
                log_total - row[label]
            })
            .collect()
    }

    /// Index of the largest value of each row; the first on ties.
    pub fn argmax(classes: usize, logits: &[f64]) -> Vec<usize> {
        logits
            .chunks(classes)
            .map(|row| row.iter().enumerate().fold(0, |best, (k, v)| if *v > row[best] { k } else { best }))
            .collect()
    }
}
