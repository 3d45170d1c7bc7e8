//! IDX files: MNIST and Fashion-MNIST (docs/algorithm.md §7).
//!
//! Format (LeCun et al., "THE MNIST DATABASE of handwritten digits", file formats section;
//! Fashion-MNIST uses the same files): a big-endian header, then the data as unsigned bytes.
//!
//! | offset | type | value |
//! |---|---|---|
//! | 0 | u32 BE | magic: 0x00 0x00, data type (0x08 = unsigned byte), number of dimensions |
//! | 4 | u32 BE × ndims | the size of each dimension |
//! | 4 + 4·ndims | u8 × ∏ sizes | the data, last dimension fastest |
//!
//! Images are `idx3` (magic 0x00000803: `[n, rows, cols]`, 0 = background); labels are
//! `idx1` (0x00000801: `[n]`). Files may be gzipped, as they are distributed: gzip is
//! recognised by its magic bytes 0x1f 0x8b, not by the file name, so a decompressed file
//! that kept its `.gz` name (or the reverse) still loads.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::{DataError, ImageSet};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IDX3_UBYTE_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const IDX1_UBYTE_MAGIC: u32 = 0x0000_0801;

/// The two magic bytes every gzip member starts with (RFC 1952, §2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Loads grayscale images from an `idx3` file and, optionally, their labels from an `idx1`
/// file. Either may be gzipped.
///
/// Returns `n` images of shape `[1, rows, cols]` (28×28 for MNIST and Fashion-MNIST).
///
/// # Errors
/// Naming the file: [`DataError::Missing`] / [`DataError::Io`], [`DataError::Gzip`] for a
/// corrupt gzip stream, [`DataError::WrongMagic`], [`DataError::Truncated`] when the header
/// describes more bytes than the file has, [`DataError::TrailingBytes`] when it has more,
/// [`DataError::WrongDimensions`] for zero rows or columns, [`DataError::Empty`] for zero
/// images, and [`DataError::CountMismatch`] (naming both files) when the counts differ.
pub fn load_idx(images_path: &Path, labels_path: Option<&Path>) -> Result<ImageSet, DataError> {
    let (dims, pixels) = read_idx(images_path, IDX3_UBYTE_MAGIC, "idx3 unsigned bytes: images")?;
    let [n, rows, cols] = [dims[0], dims[1], dims[2]];
    if rows == 0 || cols == 0 {
        let detail = format!("{n} images of {rows}x{cols} pixels");
        return Err(DataError::WrongDimensions { path: images_path.to_path_buf(), detail });
    }
    if n == 0 {
        return Err(DataError::Empty { path: images_path.to_path_buf(), what: "holds no images".into() });
    }
    let labels = match labels_path {
        None => None,
        Some(labels_path) => {
            let (dims, labels) = read_idx(labels_path, IDX1_UBYTE_MAGIC, "idx1 unsigned bytes: labels")?;
            if dims[0] != n {
                return Err(DataError::CountMismatch {
                    images_path: images_path.to_path_buf(),
                    images: n,
                    labels_path: labels_path.to_path_buf(),
                    labels: dims[0],
                });
            }
            Some(labels)
        }
    };
    Ok(ImageSet::new(1, rows, cols, pixels, labels))
}

/// Reads an IDX file with the `expected` magic number: its dimensions and its data bytes.
fn read_idx(path: &Path, expected: u32, what: &'static str) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let (mut bytes, gzipped) = read_maybe_gzip(path)?;
    let found_len = bytes.len() as u64;
    // Lengths are of the decompressed data; say so, since the file on disk is shorter.
    let unzipped = if gzipped { ", after gunzip" } else { "" };
    let truncated = |what: &str, expected: u64| DataError::Truncated {
        path: path.to_path_buf(),
        what: format!("{what}{unzipped}"),
        expected,
        found: found_len,
    };

    let magic = bytes.get(..4).ok_or_else(|| truncated("magic number", 4))?;
    let magic = u32::from_be_bytes(magic.try_into().expect("4 bytes"));
    if magic != expected {
        return Err(DataError::WrongMagic { path: path.to_path_buf(), found: magic, expected, what });
    }

    // The low byte of the magic number is the number of dimensions.
    let ndims = (expected & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    let header = bytes.get(4..header_len).ok_or_else(|| truncated("header", header_len as u64))?;
    let dims: Vec<usize> =
        header.chunks_exact(4).map(|d| u32::from_be_bytes(d.try_into().expect("4 bytes")) as usize).collect();

    // Checked products in u64: three corrupt u32 sizes can overflow even u64.
    let data_len = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let expected_len = data_len.and_then(|len| len.checked_add(header_len as u64)).ok_or_else(|| {
        DataError::WrongDimensions {
            path: path.to_path_buf(),
            detail: format!("sizes {dims:?} overflow a 64-bit byte count"),
        }
    })?;
    let sizes = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
    let described = format!("{header_len}-byte header + {sizes} data bytes{unzipped}");
    if found_len < expected_len {
        return Err(truncated(&described, expected_len));
    }
    if found_len > expected_len {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            what: described,
            expected: expected_len,
            found: found_len,
        });
    }
    bytes.drain(..header_len);
    Ok((dims, bytes))
}

/// The bytes of `path`, decompressed if they start with the gzip magic bytes, and whether
/// they were.
///
/// # Errors
/// [`DataError::Missing`] / [`DataError::Io`] if the file cannot be read, and
/// [`DataError::Gzip`] if it looks gzipped but does not decompress (corrupt or cut short).
pub fn read_maybe_gzip(path: &Path) -> Result<(Vec<u8>, bool), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok((bytes, false));
    }
    // MultiGzDecoder reads every member of a concatenated gzip file (`cat a.gz b.gz`), as
    // `gunzip` does; a plain GzDecoder would silently stop after the first.
    let mut out = Vec::with_capacity(bytes.len() * 4);
    MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|cause| DataError::Gzip { path: path.to_path_buf(), cause })?;
    Ok((out, true))
}
