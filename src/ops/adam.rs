//! Adam, one dispatch per network (`adam.wgsl`), PyTorch's coupled weight decay.

use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, WORKGROUP_1D, grid_1d};

pub const SOURCE: &str = include_str!("adam.wgsl");

/// Adam's settings for one network (docs/reference.md: β = (0.0, 0.9) for all three nets).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// L2 penalty added to the gradient (PyTorch Adam's `weight_decay`, not AdamW's).
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    /// PyTorch's defaults.
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias_correction1: f32,
    sqrt_bias_correction2: f32,
}

pub struct Adam {
    gpu: Gpu,
    kernel: Kernel,
}

impl Adam {
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, ReadWrite};
        let kernel = Kernel::new(gpu, SOURCE, "adam_step", &[ReadWrite, Read, ReadWrite, ReadWrite], &[]);
        Self { gpu: gpu.clone(), kernel }
    }

    /// Step number `t` (1-based) over all `n` values of `params`, `grads`, `m`, `v`.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &self,
        enc: &mut wgpu::CommandEncoder,
        cfg: &AdamConfig,
        t: u64,
        params: &GpuBuffer,
        grads: &GpuBuffer,
        m: &GpuBuffer,
        v: &GpuBuffer,
    ) {
        let n = params.len;
        assert!(grads.len >= n && m.len >= n && v.len >= n, "adam: buffers shorter than params");
        let (bc1, bc2) = bias_corrections(cfg, t);
        let p = Params {
            n: n as u32,
            lr: cfg.lr,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
            bias_correction1: bc1 as f32,
            sqrt_bias_correction2: bc2.sqrt() as f32,
        };
        self.kernel.encode(&self.gpu, enc, &p, &[params, grads, m, v], grid_1d(n, WORKGROUP_1D));
    }
}

/// (1 − β1^t, 1 − β2^t), in f64.
fn bias_corrections(cfg: &AdamConfig, t: u64) -> (f64, f64) {
    let t = t.max(1) as i32;
    (1.0 - f64::from(cfg.beta1).powi(t), 1.0 - f64::from(cfg.beta2).powi(t))
}

/// CPU reference of one step, in f32 as PyTorch computes it.
pub mod cpu {
    use super::{AdamConfig, bias_corrections};

    pub fn step(cfg: &AdamConfig, t: u64, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (bc1, bc2) = bias_corrections(cfg, t);
        let (bc1, sbc2) = (bc1 as f32, bc2.sqrt() as f32);
        for i in 0..p.len() {
            let gi = g[i] + cfg.weight_decay * p[i];
            m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * gi;
            v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * gi * gi;
            let denom = v[i].sqrt() / sbc2 + cfg.eps;
            p[i] -= (cfg.lr / bc1) * m[i] / denom;
        }
    }
}
