//! The training examples of a run, from its `[data]` configuration: one batch per iteration,
//! reproducible from the seed and the iteration number (so a resumed run sees the same data).

use super::toy2d::Toy2d;
use super::{Channels, CropBox, DataError, EpochOrder, FolderOptions, ImageSet};
use crate::nn::Shape;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the training examples come from (docs/algorithm.md §7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataConfig {
    /// A 2-D toy distribution generated in code (`8gaussians`, `checkerboard`, …).
    Toy2d { toy: String },
    /// Fashion-MNIST: the full 60,000-image training set from the Debian package
    /// `dataset-fashion-mnist` when present and `prefer_full`, else the 10,000 images
    /// embedded in `assets/`.
    FashionMnist { prefer_full: bool },
    /// IDX files (MNIST layout), gzipped or not.
    Idx { images: PathBuf, labels: Option<PathBuf> },
    /// CIFAR-10 binary batches: a `data_batch_*.bin` file or a folder of them.
    Cifar10 { path: PathBuf },
    /// A folder of PNG/JPEG images, cropped to `crop` = (left, upper, right, lower) and resized
    /// to `resize`×`resize` when given.
    ImageFolder { path: PathBuf, crop: Option<[u32; 4]>, resize: Option<u32>, channels: u8 },
}

pub enum DataSource {
    Toy(Toy2d),
    Images { set: ImageSet, order: EpochOrder },
}

impl DataSource {
    /// Loads the data (the description says which files were used).
    pub fn load(cfg: &DataConfig, batch_size: usize, seed: u64) -> Result<(Self, String), DataError> {
        let (set, description) = match cfg {
            DataConfig::Toy2d { toy } => {
                let toy: Toy2d =
                    toy.parse().map_err(|e: super::toy2d::UnknownToy| DataError::Config(e.to_string()))?;
                return Ok((DataSource::Toy(toy), format!("2-D toy '{toy}' (generated)")));
            }
            DataConfig::FashionMnist { prefer_full } => super::fashion_mnist(*prefer_full)?,
            DataConfig::Idx { images, labels } => {
                (super::load_idx(images, labels.as_deref())?, format!("IDX file {}", images.display()))
            }
            DataConfig::Cifar10 { path } => {
                let set = if path.is_dir() {
                    super::load_cifar10_dir(path, super::Cifar10Split::Train)?
                } else {
                    super::load_cifar10_files(&[path])?
                };
                (set, format!("CIFAR-10 batches at {}", path.display()))
            }
            DataConfig::ImageFolder { path, crop, resize, channels } => {
                let channels = match channels {
                    1 => Channels::Gray,
                    3 => Channels::Rgb,
                    c => return Err(DataError::Config(format!("data.channels must be 1 or 3, got {c}"))),
                };
                let crop = crop.map(|[left, upper, right, lower]| CropBox { left, upper, right, lower });
                let options = FolderOptions { crop, resize: *resize, channels };
                (super::load_folder(path, &options)?, format!("image folder {}", path.display()))
            }
        };
        let order = EpochOrder::new(set.len(), batch_size, seed)?;
        let description = format!(
            "{description}: {} images of {}×{}×{}",
            set.len(),
            set.channels(),
            set.height(),
            set.width()
        );
        Ok((DataSource::Images { set, order }, description))
    }

    /// Shape of one example.
    pub fn example_shape(&self) -> Shape {
        match self {
            DataSource::Toy(_) => Shape::flat(2),
            DataSource::Images { set, .. } => Shape::image(set.channels(), set.height(), set.width()),
        }
    }

    /// Iterations per epoch (toys have no epochs: a fixed 1,000 iterations count as one).
    pub fn iterations_per_epoch(&self) -> u64 {
        match self {
            DataSource::Toy(_) => 1000,
            DataSource::Images { order, .. } => order.batches_per_epoch() as u64,
        }
    }

    /// The batch `[batch_size, example]` of `iteration`: toys draw fresh samples keyed by
    /// (seed, iteration); image sets take the iteration's slot of its epoch's shuffled order.
    pub fn batch(&self, iteration: u64, batch_size: usize, seed: u64) -> Vec<f32> {
        match self {
            DataSource::Toy(toy) => {
                let mut rng = StdRng::seed_from_u64(seed ^ iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                toy.sample_with(batch_size, &mut rng).into_iter().flatten().collect()
            }
            DataSource::Images { set, order } => {
                let per = order.batches_per_epoch() as u64;
                let indices = order
                    .epoch(iteration / per)
                    .nth((iteration % per) as usize)
                    .expect("slot within the epoch");
                set.batch(&indices)
            }
        }
    }

    /// `n` held-out examples (toys: fresh samples; images: the first n of the set).
    pub fn examples(&self, n: usize, seed: u64) -> Vec<f32> {
        match self {
            DataSource::Toy(toy) => toy.sample(n, seed ^ 0xE7A1).into_iter().flatten().collect(),
            DataSource::Images { set, .. } => set.batch(&(0..n.min(set.len())).collect::<Vec<_>>()),
        }
    }
}
