//! All compiled kernels, created once per device and shared by every layer.

use crate::gpu::Gpu;
use crate::ops::{
    activation::Activations, adam::Adam, elementwise::Elementwise, matmul::Matmul, reduce::Reduce,
};

pub struct Engine {
    pub gpu: Gpu,
    pub elementwise: Elementwise,
    pub activations: Activations,
    pub reduce: Reduce,
    pub matmul: Matmul,
    pub adam: Adam,
}

impl Engine {
    /// Compiles every kernel (a few seconds on lavapipe, once).
    pub fn new(gpu: &Gpu) -> Self {
        Self {
            gpu: gpu.clone(),
            elementwise: Elementwise::new(gpu),
            activations: Activations::new(gpu),
            reduce: Reduce::new(gpu),
            matmul: Matmul::new(gpu),
            adam: Adam::new(gpu),
        }
    }
}
