//! The one error type of the image loaders (docs/algorithm.md §9: every bad input gets a clear error
//! naming the file and the problem, never a panic).
//!
//! Every variant that comes from a file starts its message with that file's path, so that a
//! message read alone says where to look.

use std::path::PathBuf;

/// What went wrong while loading image data, and in which file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The `[data]` configuration itself is wrong (an unknown toy, a bad channel count).
    #[error("{0}")]
    Config(String),

    /// The file or folder does not exist.
    #[error("{}: not found", .path.display())]
    Missing { path: PathBuf },

    /// Any other operating-system error while reading (permissions, a directory where a
    /// file was expected, …).
    #[error("{}: cannot read: {cause}", .path.display())]
    Io { path: PathBuf, cause: std::io::Error },

    /// The file starts with the gzip magic bytes but does not decompress (corrupt or cut
    /// short).
    #[error("{}: cannot decompress (gzip): {cause}", .path.display())]
    Gzip { path: PathBuf, cause: std::io::Error },

    /// The file's magic number is not the one its format requires.
    #[error(
        "{}: wrong magic number {found:#010x}, expected {expected:#010x} ({what})",
        .path.display()
    )]
    WrongMagic { path: PathBuf, found: u32, expected: u32, what: &'static str },

    /// The file has fewer bytes than its header (or its format) says it must.
    #[error("{}: truncated: {expected} bytes expected ({what}), {found} found", .path.display())]
    Truncated { path: PathBuf, what: String, expected: u64, found: u64 },

    /// The file has more bytes than its header says: most likely not the file it claims to
    /// be, so we refuse it rather than guess.
    #[error("{}: {found} bytes, more than the {expected} its header describes ({what})", .path.display())]
    TrailingBytes { path: PathBuf, what: String, expected: u64, found: u64 },

    /// Dimensions that are zero, overflow, or are not what the format allows.
    #[error("{}: wrong dimensions: {detail}", .path.display())]
    WrongDimensions { path: PathBuf, detail: String },

    /// An images file and its labels file disagree on the number of examples.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        .images_path.display(), .labels_path.display()
    )]
    CountMismatch { images_path: PathBuf, images: usize, labels_path: PathBuf, labels: usize },

    /// A CIFAR-10 file whose length is not a whole number of 3073-byte records.
    #[error(
        "{}: {len} bytes is not a multiple of the 3073-byte CIFAR-10 record \
         (1 label byte + 3072 pixel bytes)",
        .path.display()
    )]
    CifarLength { path: PathBuf, len: u64 },

    /// A CIFAR-10 label byte outside 0–9 (a CIFAR-100 file has 2 label bytes per record and
    /// would land here or in [`DataError::CifarLength`]).
    #[error("{}: record {record} has label {label}, not a CIFAR-10 class (0-9)", .path.display())]
    CifarLabel { path: PathBuf, record: usize, label: u8 },

    /// A folder (or data set) with no usable images in it.
    #[error("{}: {what}", .path.display())]
    Empty { path: PathBuf, what: String },

    /// Images of different sizes in one folder, with no resize asked for.
    #[error(
        "{}: image is {width}x{height}, but {} (the first image) is {first_width}x{first_height}; \
         ask for a resize to load images of mixed sizes",
        .path.display(), .first.display()
    )]
    MixedSizes { path: PathBuf, width: u32, height: u32, first: PathBuf, first_width: u32, first_height: u32 },

    /// A file with an image extension that the `image` crate cannot decode.
    #[error("{}: unreadable image: {cause}", .path.display())]
    Decode { path: PathBuf, cause: image::ImageError },

    /// An image larger than [`crate::data::folder::MAX_IMAGE_SIDE`] on a side: refused before
    /// it is decoded.
    #[error(
        "{}: the image is {width}×{height} pixels; images of up to {max}×{max} are read \
         (crop or shrink it first)", .path.display()
    )]
    TooLarge { path: PathBuf, width: u32, height: u32, max: u32 },

    /// The crop box is empty (left ≥ right or upper ≥ lower): names the folder asked for.
    #[error("{}: invalid crop box {crop:?}: needs left < right and upper < lower", .path.display())]
    InvalidCrop { path: PathBuf, crop: [u32; 4] },

    /// The crop box reaches outside an image.
    #[error(
        "{}: crop box {crop:?} (left, upper, right, lower) lies outside the {width}x{height} image",
        .path.display()
    )]
    CropOutside { path: PathBuf, crop: [u32; 4], width: u32, height: u32 },

    /// A batch size that gives no batch in an epoch (0, or more than the data set holds).
    #[error("batch size {batch_size} is invalid for a data set of {len} examples (needs 1 ..= {len})")]
    BatchSize { batch_size: usize, len: usize },

    /// None of the places a data set is looked for holds it.
    #[error("{what} not found; looked in: {}", join_paths(.tried))]
    NotFound { what: String, tried: Vec<PathBuf> },
}

// The causes (`cause` fields) are part of each message rather than `#[source]`s: the app
// prints errors with anyhow's `{:#}`, which appends every source, so a source that is also
// displayed would be printed twice.

/// `a, b, c`.
fn join_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

impl DataError {
    /// An I/O error on `path`, as [`DataError::Missing`] when the file is not there (the
    /// most common mistake deserves the plainest message).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing { path }
        } else {
            DataError::Io { path, cause: source }
        }
    }
}
