//! dualmcmc: energy-based models learned by Dual-MCMC teaching (Cui & Han, NeurIPS 2023),
//! with every network and both Langevin samplers as WGSL compute shaders on wgpu.

pub mod bench;
pub mod bench_layers;
pub mod cli;
pub mod gpu;
pub mod ops;
