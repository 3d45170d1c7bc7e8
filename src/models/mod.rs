//! The three models of Dual-MCMC teaching (DESIGN.md §2), built from a configuration:
//! small MLPs for 2-D data, and the paper's convolutional networks (REFERENCE.md).
//!
//! Conventions: the EBM outputs the *energy* E(x) = −f_α(x), one value per example; the
//! generator maps z `[nz]` to x; the inference model outputs q = [μ | logvar] `[2·nz]` per
//! example (one head with 2·nz outputs: the same function and parameter count as the
//! reference's two heads).

pub mod mlp;
pub mod resnet;

use crate::nn::Network;

/// The EBM, the generator and the inference model.
pub struct Models {
    pub ebm: Network,
    pub generator: Network,
    pub inference: Network,
}
