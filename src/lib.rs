//! dualmcmc: energy-based models learned by Dual-MCMC teaching (Cui & Han, NeurIPS 2023),
//! with every network and both Langevin samplers as WGSL compute shaders on wgpu.

pub mod app;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod eval;
pub mod gpu;
pub mod models;
pub mod nn;
pub mod ops;
pub mod progress;
pub mod sampler;
pub mod session;
pub mod train;
pub mod viz;
