//! The three models of Dual-MCMC teaching (docs/algorithm.md §1), built from a configuration:
//! small MLPs for 2-D data, and the paper's convolutional networks (docs/reference.md).
//!
//! Conventions: the EBM outputs the *energy* E(x) = −f_α(x), one value per example; the
//! generator maps z `[nz]` to x; the inference model outputs q = [μ | logvar] `[2·nz]` per
//! example (one head with 2·nz outputs: the same function and parameter count as the
//! reference's two heads).

pub mod classifier;
pub mod mlp;
pub mod resnet;
pub mod small;

use crate::nn::Network;

/// The EBM, the generator and the inference model.
pub struct Models {
    pub ebm: Network,
    pub generator: Network,
    pub inference: Network,
}

impl Models {
    /// Checks that the three networks fit together for latents of size `nz`.
    pub fn check(&self, nz: usize) -> Result<(), String> {
        let d = self.ebm.in_shape().size();
        if self.generator.out_shape().size() != d || self.inference.in_shape().size() != d {
            return Err(format!("the three networks disagree on the data size ({d} values per example)"));
        }
        if self.generator.in_shape().size() != nz || self.inference.out_shape().size() != 2 * nz {
            return Err(format!("generator input and inference output must be nz = {nz} and 2·nz"));
        }
        if self.ebm.out_shape().size() != 1 {
            return Err("the EBM must output one energy per example".into());
        }
        Ok(())
    }
}

use crate::nn::Shape;
use crate::nn::activation::Activation;
use crate::nn::resample::UpsampleMode;
use serde::{Deserialize, Serialize};

/// Which networks to build (a preset's `[model]` table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ModelConfig {
    /// MLPs with `layers` hidden layers of `hidden` units and LeakyReLU(0.2), for flat data.
    Mlp { hidden: usize, layers: usize },
    /// The small convolutional networks of [`small`] (28×28 grey images).
    Small { width: usize, spectral_norm: bool },
    /// The paper's CIFAR-10 networks (docs/reference.md): nz 128, ngf 512, ndf 512, nif 128.
    Cifar10,
    /// The paper's CelebA-64 networks.
    Celeba64,
}

impl ModelConfig {
    /// Builds the three networks for examples of `data` shape and latent size `nz`.
    pub fn build(&self, data: Shape, nz: usize) -> Result<Models, String> {
        let d = data.size();
        Ok(match self {
            ModelConfig::Mlp { hidden, layers } => {
                let h = vec![*hidden; *layers];
                let act = Activation::LeakyRelu(0.2);
                Models {
                    ebm: mlp::mlp(d, &h, 1, act),
                    generator: mlp::mlp(nz, &h, d, act),
                    inference: mlp::mlp(d, &h, 2 * nz, act),
                }
            }
            ModelConfig::Small { width, spectral_norm } => {
                if !data.h.is_multiple_of(4) || !data.w.is_multiple_of(4) || data.h < 8 {
                    return Err(format!(
                        "model.kind = \"small\" needs images whose sides are multiples of 4 (at least 8), got {data} images"
                    ));
                }
                Models {
                    ebm: small::ebm(data, *width, *spectral_norm),
                    generator: small::generator(nz, data, *width),
                    inference: small::inference(data, *width, nz),
                }
            }
            ModelConfig::Cifar10 => {
                if data != Shape::image(3, 32, 32) {
                    return Err(format!("model.kind = \"cifar10\" takes 3×32×32 images, got {data} images"));
                }
                Models {
                    ebm: resnet::ebm(data, &[512, 512, 512, 512], &[true, true, false, false]),
                    generator: resnet::generator(
                        nz,
                        4,
                        &[512, 512, 512, 512],
                        3,
                        UpsampleMode::BilinearAlignCorners,
                    ),
                    inference: resnet::inference(data, &[128, 256, 512, 1024], nz),
                }
            }
            ModelConfig::Celeba64 => {
                if data != Shape::image(3, 64, 64) {
                    return Err(format!("model.kind = \"celeba64\" takes 3×64×64 images, got {data} images"));
                }
                Models {
                    ebm: resnet::ebm(data, &[64, 128, 256, 512, 1024], &[true; 5]),
                    generator: resnet::generator(
                        nz,
                        4,
                        &[1024, 512, 256, 128, 64],
                        3,
                        UpsampleMode::BilinearAlignCorners,
                    ),
                    inference: resnet::inference(data, &[128, 256, 512, 1024, 1024], nz),
                }
            }
        })
    }
}
