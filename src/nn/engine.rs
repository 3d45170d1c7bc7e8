//! All compiled kernels, created once per device and shared by every layer.

use crate::gpu::{Gpu, GpuBuffer};
use crate::ops::{
    activation::Activations, adam::Adam, elementwise::Elementwise, matmul::Matmul, reduce::Reduce,
};
use crate::ops::{
    batchnorm::BatchNorm, bias::Bias, conv2d::Conv2d, cross_entropy::CrossEntropy, langevin::Langevin,
    loss::Loss, mlp_chain::MlpChain, pool::Pool, rng::Rng, spectral_norm::SpectralNorm, upsample::Upsample,
};
use std::sync::Mutex;

pub struct Engine {
    pub gpu: Gpu,
    pub elementwise: Elementwise,
    pub activations: Activations,
    pub reduce: Reduce,
    pub matmul: Matmul,
    pub adam: Adam,
    pub bias: Bias,
    pub pool: Pool,
    pub upsample: Upsample,
    pub rng: Rng,
    pub langevin: Langevin,
    pub loss: Loss,
    pub batchnorm: BatchNorm,
    pub conv2d: Conv2d,
    pub spectral_norm: SpectralNorm,
    pub cross_entropy: CrossEntropy,
    pub mlp_chain: MlpChain,
    /// Whether the samplers run a chain under a plain MLP as one dispatch
    /// ([`MlpChain`]) rather than layer by layer: on CPU adapters, where each dispatch costs
    /// tens of microseconds (`bench train --preset toy2d`: docs/platform.md). GPUs keep the
    /// per-layer path, whose matmuls spread one step over the whole device.
    pub fused_chains: bool,
    ones: Mutex<GpuBuffer>,
}

impl Engine {
    /// Compiles every kernel (a few seconds on lavapipe, once), in the variants this
    /// adapter's type runs best (see [`Engine::with_gpu_variants`]).
    pub fn new(gpu: &Gpu) -> Self {
        Self::with_gpu_variants(gpu, !gpu.is_cpu())
    }

    /// Compiles every kernel, in the variants for GPUs when `gpu_variants` (matmul tiles of
    /// [`MatmulTiles::GPU`](crate::ops::matmul::MatmulTiles::GPU), convolution weights from
    /// storage in one dispatch per pass) or for CPU adapters otherwise (larger matmul tiles,
    /// convolution weights from 64 KiB uniform slices). Benchmarks use it to record what a
    /// GPU records on a CPU adapter.
    pub fn with_gpu_variants(gpu: &Gpu, gpu_variants: bool) -> Self {
        use crate::ops::matmul::MatmulTiles;
        let tiles = if gpu_variants { MatmulTiles::GPU } else { MatmulTiles::default() };
        Self {
            gpu: gpu.clone(),
            elementwise: Elementwise::new(gpu),
            activations: Activations::new(gpu),
            reduce: Reduce::new(gpu),
            matmul: Matmul::with_tiles(gpu, tiles),
            adam: Adam::new(gpu),
            bias: Bias::new(gpu),
            pool: Pool::new(gpu),
            upsample: Upsample::new(gpu),
            rng: Rng::new(gpu),
            langevin: Langevin::new(gpu),
            loss: Loss::new(gpu),
            batchnorm: BatchNorm::new(gpu),
            conv2d: Conv2d::with_storage_weights(gpu, gpu_variants),
            spectral_norm: SpectralNorm::new(gpu),
            cross_entropy: CrossEntropy::new(gpu),
            mlp_chain: MlpChain::new(gpu),
            fused_chains: !gpu_variants,
            ones: Mutex::new(gpu.upload(&[1.0f32; 1024])),
        }
    }

    /// A buffer holding at least `n` ones (the upstream gradient of a sum of energies, rank-1
    /// bias products). Grown on demand; earlier handles stay valid.
    pub fn ones(&self, n: usize) -> GpuBuffer {
        let mut ones = self.ones.lock().unwrap_or_else(|e| e.into_inner());
        if ones.len < n {
            *ones = self.gpu.upload(&vec![1.0f32; n.next_power_of_two()]);
        }
        ones.clone()
    }
}
