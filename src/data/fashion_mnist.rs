//! Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; MIT licence, © 2017 Zalando SE), the real data
//! set that works out of the box (docs/algorithm.md §7).
//!
//! Two sources, tried in this order:
//! 1. The full training set, 60,000 images, from Debian's `dataset-fashion-mnist` package:
//!    `/usr/share/datasets/fashion-mnist/train-{images-idx3,labels-idx1}-ubyte.gz` — when
//!    asked for (`prefer_full`) and both files exist.
//! 2. The 10,000-image test set shipped with this crate in `assets/fashion-mnist/`
//!    (`t10k-{images-idx3,labels-idx1}-ubyte.gz`, the package's own files, 4.4 MB), looked
//!    for in these folders, in order:
//!    - `<crate source>/assets/fashion-mnist/`, the source tree this binary was built from
//!      (`cargo run`, `cargo test`);
//!    - `<folder of the executable>/assets/fashion-mnist/`, then the same one folder up (a
//!      copied binary with `assets/` beside it, or an installed `bin/dualmcmc` with
//!      `assets/` beside `bin/`);
//!    - `./assets/fashion-mnist/` under the current folder.
//!
//! A source that is found but broken is an error, not a reason to fall back: a corrupt
//! file should be reported, not silently replaced by a different data set.

use std::path::{Path, PathBuf};

use super::{DataError, ImageSet, idx::load_idx};

/// Where Debian's `dataset-fashion-mnist` installs the data set.
pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// The embedded set's folder, relative to the crate root (or an executable's folder).
pub const ASSETS_SUBDIR: &str = "assets/fashion-mnist";
const TRAIN_IMAGES: &str = "train-images-idx3-ubyte.gz";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte.gz";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte.gz";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte.gz";

/// The ten Fashion-MNIST classes, by label.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Fashion-MNIST as `[n, 1, 28, 28]` images with labels 0–9, and a line saying which files
/// were loaded. See the module doc for the lookup order.
///
/// # Errors
/// [`DataError::NotFound`] listing every folder tried when neither source is there; the
/// errors of [`load_idx`] for a source that is there but broken.
pub fn fashion_mnist(prefer_full: bool) -> Result<(ImageSet, String), DataError> {
    if prefer_full {
        let (images, labels) =
            (Path::new(SYSTEM_DIR).join(TRAIN_IMAGES), Path::new(SYSTEM_DIR).join(TRAIN_LABELS));
        if images.is_file() && labels.is_file() {
            let set = load_idx(&images, Some(&labels))?;
            let what = format!("Fashion-MNIST training set, {} images, from {}", set.len(), images.display());
            return Ok((set, what));
        }
    }
    let tried = embedded_dirs();
    for dir in &tried {
        let (images, labels) = (dir.join(TEST_IMAGES), dir.join(TEST_LABELS));
        if images.is_file() && labels.is_file() {
            let set = load_idx(&images, Some(&labels))?;
            let what =
                format!("Fashion-MNIST test set (shipped), {} images, from {}", set.len(), images.display());
            return Ok((set, what));
        }
    }
    let mut tried = tried;
    if prefer_full {
        tried.insert(0, PathBuf::from(SYSTEM_DIR));
    }
    Err(DataError::NotFound { what: "Fashion-MNIST".into(), tried })
}

/// The folders that may hold the shipped test set, in lookup order.
pub fn embedded_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(ASSETS_SUBDIR)];
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            dirs.push(dir.join(ASSETS_SUBDIR));
        }
    }
    dirs.push(PathBuf::from(ASSETS_SUBDIR));
    dirs
}
