//! CIFAR-10 binary batches (docs/algorithm.md §7).
//!
//! Format ("CIFAR-10 binary version", Krizhevsky 2009, on the data set's home page): each
//! file (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`; 10,000 records each) is a
//! plain sequence of 3073-byte records: 1 label byte (0–9), then 3072 pixel bytes — the
//! 1024 red values of the 32×32 image row by row, then the green, then the blue: exactly
//! our `[c, h, w]` layout. There is no header, so the only checks are the length and the
//! label range. The tarball unpacks into `cifar-10-batches-bin/`.

use std::path::{Path, PathBuf};

use super::{DataError, ImageSet, idx::read_maybe_gzip};

/// Side of a CIFAR-10 image.
pub const CIFAR10_SIDE: usize = 32;
/// Bytes per record: 1 label byte + 3 · 32 · 32 pixel bytes.
pub const CIFAR10_RECORD: usize = 1 + 3 * CIFAR10_SIDE * CIFAR10_SIDE;
/// The folder the official tarball unpacks to.
const TARBALL_FOLDER: &str = "cifar-10-batches-bin";

/// Which files of a CIFAR-10 folder to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar10Split {
    /// `data_batch_*.bin`: 50,000 images (what the reference trains on).
    Train,
    /// `test_batch.bin`: 10,000 images.
    Test,
}

/// Loads CIFAR-10 batch files, concatenated in the order given: `[n, 3, 32, 32]` with
/// labels. A file may be gzipped (detected by its magic bytes).
///
/// # Errors
/// Naming the file: [`DataError::Missing`] / [`DataError::Io`] / [`DataError::Gzip`],
/// [`DataError::CifarLength`] when its length is not a multiple of 3073,
/// [`DataError::CifarLabel`] for a label byte above 9, [`DataError::Empty`] for a file of
/// no records; [`DataError::NotFound`] when `paths` is empty.
pub fn load_cifar10_files<P: AsRef<Path>>(paths: &[P]) -> Result<ImageSet, DataError> {
    let mut set: Option<ImageSet> = None;
    for path in paths {
        let file = load_one(path.as_ref())?;
        match &mut set {
            None => set = Some(file),
            Some(set) => set.append(file),
        }
    }
    set.ok_or_else(|| DataError::NotFound { what: "CIFAR-10 batch files (none given)".into(), tried: vec![] })
}

/// Loads the `split` files of a CIFAR-10 folder, sorted by name: `dir` itself or, if it has
/// none, its `cifar-10-batches-bin/` subfolder (so both the unpacked folder and the folder
/// the tarball was unpacked in work).
///
/// # Errors
/// [`DataError::Missing`] / [`DataError::Io`] for the folder, [`DataError::NotFound`] when
/// neither place holds the split's files, and those of [`load_cifar10_files`].
pub fn load_cifar10_dir(dir: &Path, split: Cifar10Split) -> Result<ImageSet, DataError> {
    let mut files = split_files(dir, split)?;
    let nested = dir.join(TARBALL_FOLDER);
    if files.is_empty() && nested.is_dir() {
        files = split_files(&nested, split)?;
    }
    if files.is_empty() {
        let what = match split {
            Cifar10Split::Train => "CIFAR-10 training batches (data_batch_*.bin)",
            Cifar10Split::Test => "CIFAR-10 test batch (test_batch.bin)",
        };
        return Err(DataError::NotFound { what: what.into(), tried: vec![dir.to_path_buf(), nested] });
    }
    load_cifar10_files(&files)
}

/// The files of `split` directly in `dir`, sorted by name.
fn split_files(dir: &Path, split: Cifar10Split) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let wanted = match split {
            Cifar10Split::Train => name.starts_with("data_batch_") && name.ends_with(".bin"),
            Cifar10Split::Test => name == "test_batch.bin",
        };
        if wanted {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// One batch file: its records split into pixels and labels.
fn load_one(path: &Path) -> Result<ImageSet, DataError> {
    let (bytes, _) = read_maybe_gzip(path)?;
    if bytes.len() % CIFAR10_RECORD != 0 {
        return Err(DataError::CifarLength { path: path.to_path_buf(), len: bytes.len() as u64 });
    }
    let n = bytes.len() / CIFAR10_RECORD;
    if n == 0 {
        return Err(DataError::Empty { path: path.to_path_buf(), what: "holds no CIFAR-10 records".into() });
    }
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (CIFAR10_RECORD - 1));
    for (record, chunk) in bytes.chunks_exact(CIFAR10_RECORD).enumerate() {
        let label = chunk[0];
        if label > 9 {
            return Err(DataError::CifarLabel { path: path.to_path_buf(), record, label });
        }
        labels.push(label);
        pixels.extend_from_slice(&chunk[1..]);
    }
    Ok(ImageSet::new(3, CIFAR10_SIDE, CIFAR10_SIDE, pixels, Some(labels)))
}
