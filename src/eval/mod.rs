//! Evaluation of trained models on the CPU, from quantities the GPU computed.

pub mod ablate;
pub mod feature_net;
pub mod frechet;
pub mod grid;
pub mod run_eval;
pub mod samples;
pub mod ssim;
