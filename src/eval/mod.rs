//! Evaluation of trained models on the CPU, from quantities the GPU computed.

pub mod grid;
pub mod run_eval;
