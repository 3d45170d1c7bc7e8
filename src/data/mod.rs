//! Training data (docs/algorithm.md §7). Everything here runs on the CPU; the trainer uploads batches.
//!
//! Image data sets load into an [`ImageSet`] (`[n, c, h, w]` bytes, batches scaled to
//! [−1, 1]) from IDX files ([`load_idx`]), CIFAR-10 batches ([`load_cifar10_dir`],
//! [`load_cifar10_files`]) or a folder of PNG/JPEG images ([`load_folder`]); every bad
//! input is a [`DataError`] naming the file. [`EpochOrder`] gives the seeded batches of
//! each epoch.

pub mod cifar10;
pub mod error;
pub mod fashion_mnist;
pub mod folder;
pub mod grid;
pub mod idx;
pub mod images;
pub mod source;
pub mod toy2d;

pub use cifar10::{Cifar10Split, load_cifar10_dir, load_cifar10_files};
pub use error::DataError;
pub use fashion_mnist::fashion_mnist;
pub use folder::{Channels, CropBox, FolderOptions, load_folder};
pub use idx::load_idx;
pub use images::{Batches, EpochOrder, ImageSet, scale_pixel};
pub use source::{DataConfig, DataSource};
