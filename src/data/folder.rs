//! A folder of PNG/JPEG images, e.g. CelebA's `img_align_celeba/` (docs/algorithm.md §7).
//!
//! Decisions, each chosen to make a data set reproducible and its mistakes loud:
//! - **Which files.** The folder is searched recursively (so both a flat folder and a
//!   class-per-subfolder layout load). Files whose extension is `.png`, `.jpg` or `.jpeg`
//!   (any case) are images; every other file (CelebA's `list_attr_celeba.txt`, a README,
//!   `Thumbs.db`) is skipped. Entries whose name starts with `.` are skipped too (`.git/`,
//!   macOS `._name.jpg` resource forks, which carry an image extension but are not images).
//!   Symbolic links to files are followed; links to folders are not (they could loop).
//! - **Order.** Sorted by path, so the same folder gives the same data set (and so the same
//!   epoch batches) on every machine, whatever order the file system lists it in.
//! - **Bad files.** A file with an image extension that does not decode is an error naming
//!   it ([`DataError::Decode`]), never skipped: silently training on part of a data set is
//!   worse than stopping. The format is guessed from the content, so a PNG named `.jpg`
//!   still loads.
//! - **Pipeline**, per image, as the reference's torchvision transforms do it: decode →
//!   optional crop box (left, upper, right, lower), right and lower exclusive, as PIL's
//!   `Image.crop` → optional resize to `size × size` → the asked channels → `[c, h, w]` bytes.
//!   CelebA-64: crop (15, 40, 163, 188) gives 148×148, then resize to 64.
//! - **Resize filter.** Triangle (bilinear) with a support widened by the scale factor when
//!   shrinking, i.e. anti-aliased — the same filter as PIL's `BILINEAR`, which is what
//!   torchvision's `Resize` uses by default on PIL images, so resized images match the
//!   reference's up to rounding. A non-square image has its shorter side resized to `size`
//!   and the longer one centre-cropped (`Resize(size)` then `CenterCrop(size)`).
//! - **Channels.** RGB drops any alpha channel; grayscale uses the `image` crate's luma
//!   (BT.709 weights 0.2126, 0.7152, 0.0722). 16-bit images are reduced to 8 bits.
//! - **Sizes.** Without a resize, every image (after the crop) must have the first image's
//!   size, else [`DataError::MixedSizes`] names the first file that differs.
//!
//! Images are decoded on all cores (CelebA's 162,770 JPEGs take minutes on one), each
//! thread writing its own slice of the output; the result does not depend on the number
//! of threads, nor does which error is reported (always the first bad file in path order).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, ImageReader, imageops::FilterType};

use super::{DataError, ImageSet};

/// A crop box in pixels, PIL's convention: columns `left .. right`, rows `upper .. lower`
/// (right and lower exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    pub left: u32,
    pub upper: u32,
    pub right: u32,
    pub lower: u32,
}

impl CropBox {
    /// CelebA-64's box on the 178×218 aligned images (the reference's data pipeline):
    /// 148×148 around the face.
    pub const CELEBA_64: CropBox = CropBox { left: 15, upper: 40, right: 163, lower: 188 };

    /// Width of the cropped image (0 for an empty box).
    pub fn width(&self) -> u32 {
        self.right.saturating_sub(self.left)
    }

    /// Height of the cropped image (0 for an empty box).
    pub fn height(&self) -> u32 {
        self.lower.saturating_sub(self.upper)
    }

    /// `[left, upper, right, lower]`.
    pub fn to_array(self) -> [u32; 4] {
        [self.left, self.upper, self.right, self.lower]
    }
}

/// Channels of the loaded images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Channels {
    /// 3 channels, red, green, blue.
    #[default]
    Rgb,
    /// 1 channel, luma.
    Gray,
}

impl Channels {
    /// 3 or 1.
    pub fn count(self) -> usize {
        match self {
            Channels::Rgb => 3,
            Channels::Gray => 1,
        }
    }
}

/// How to turn a folder's files into same-sized images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FolderOptions {
    /// Cut this box out of every image first.
    pub crop: Option<CropBox>,
    /// Then resize to `size × size` (see the module doc for the filter).
    pub resize: Option<u32>,
    /// Then convert to these channels.
    pub channels: Channels,
}

impl FolderOptions {
    /// CelebA-64 as in the reference: crop box (15, 40, 163, 188), resize to 64, RGB.
    pub fn celeba_64() -> Self {
        FolderOptions { crop: Some(CropBox::CELEBA_64), resize: Some(64), channels: Channels::Rgb }
    }
}

/// The image files under `dir`, recursively, sorted by path (see the module doc for which
/// files count as images).
///
/// # Errors
/// [`DataError::Missing`] / [`DataError::Io`] naming the folder that cannot be listed.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    collect_images(dir, &mut files)?;
    files.sort();
    Ok(files)
}

fn collect_images(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // `file_type` does not follow symbolic links: real folders are descended into,
        // links are kept only if they lead to an image file.
        let file_type = entry.file_type().map_err(|e| DataError::io(&path, e))?;
        if file_type.is_dir() {
            collect_images(&path, files)?;
        } else if has_image_extension(&path) && (file_type.is_file() || path.is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

fn has_image_extension(path: &Path) -> bool {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else { return false };
    ["png", "jpg", "jpeg"].iter().any(|known| ext.eq_ignore_ascii_case(known))
}

/// Loads every image under `dir` (recursively, sorted by path) through `options`'
/// crop → resize → channels pipeline: `[n, channels, size, size]` (or the images' own
/// size), no labels.
///
/// # Errors
/// [`DataError::InvalidCrop`] / [`DataError::WrongDimensions`] (naming `dir`) for an empty
/// crop box or a resize to 0; [`DataError::Missing`] / [`DataError::Io`] for the folder;
/// [`DataError::Empty`] when it holds no image file; and naming the file:
/// [`DataError::Decode`] for an unreadable image, [`DataError::CropOutside`] when the crop
/// box does not fit inside it, [`DataError::MixedSizes`] when it differs in size from the
/// first image and no resize was asked for.
pub fn load_folder(dir: &Path, options: &FolderOptions) -> Result<ImageSet, DataError> {
    if let Some(crop) = options.crop
        && (crop.width() == 0 || crop.height() == 0)
    {
        return Err(DataError::InvalidCrop { path: dir.to_path_buf(), crop: crop.to_array() });
    }
    if options.resize == Some(0) {
        let detail = "resize to 0x0 pixels".to_string();
        return Err(DataError::WrongDimensions { path: dir.to_path_buf(), detail });
    }
    let files = list_images(dir)?;
    let Some((first_path, rest)) = files.split_first() else {
        let what = "no .png, .jpg or .jpeg images in this folder or below it".to_string();
        return Err(DataError::Empty { path: dir.to_path_buf(), what });
    };

    // The first image fixes the size every other one must have.
    let first = load_image(first_path, options)?;
    let size = first.bytes.len();
    let mut pixels = vec![0u8; files.len() * size];
    pixels[..size].copy_from_slice(&first.bytes);
    let same_size = |path: &Path, image: &Image| {
        if (image.width, image.height) == (first.width, first.height) {
            Ok(())
        } else {
            Err(DataError::MixedSizes {
                path: path.to_path_buf(),
                width: image.width,
                height: image.height,
                first: first_path.clone(),
                first_width: first.width,
                first_height: first.height,
            })
        }
    };

    if !rest.is_empty() {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(rest.len());
        let per_thread = rest.len().div_ceil(threads);
        // The lowest chunk that has failed: later chunks stop early (their errors would not
        // be reported), earlier ones run on, because one of them may fail at an earlier file.
        let first_failed = AtomicUsize::new(usize::MAX);
        let results: Vec<Result<(), DataError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = rest
                .chunks(per_thread)
                .zip(pixels[size..].chunks_mut(per_thread * size))
                .enumerate()
                .map(|(chunk, (paths, out))| {
                    let (first_failed, same_size) = (&first_failed, &same_size);
                    scope.spawn(move || {
                        for (path, dst) in paths.iter().zip(out.chunks_exact_mut(size)) {
                            if first_failed.load(Ordering::Relaxed) < chunk {
                                return Ok(());
                            }
                            let image = load_image(path, options).and_then(|image| {
                                same_size(path, &image)?;
                                Ok(image)
                            });
                            match image {
                                Ok(image) => dst.copy_from_slice(&image.bytes),
                                Err(e) => {
                                    first_failed.fetch_min(chunk, Ordering::Relaxed);
                                    return Err(e);
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            // A panic inside a decoder is a bug there, not bad input we could name: pass it on.
            workers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        });
        // Chunks are in path order, so the first error is the first bad file's.
        results.into_iter().collect::<Result<(), _>>()?;
    }

    let (height, width) = (first.height as usize, first.width as usize);
    Ok(ImageSet::new(options.channels.count(), height, width, pixels, None))
}

/// The largest image side read, in pixels: decoded images are held in memory whole, and
/// 16,384² RGBA is 1 GiB (the `image` crate also refuses decodes over 512 MiB by default).
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// The error for an image over [`MAX_IMAGE_SIDE`], from its header (`None` if it is smaller,
/// or if the header can't be read: decoding then says why).
fn too_large(path: &Path) -> Option<DataError> {
    let mut reader = ImageReader::open(path).ok()?.with_guessed_format().ok()?;
    reader.no_limits();
    let (width, height) = reader.into_dimensions().ok()?;
    let max = MAX_IMAGE_SIDE;
    (width > max || height > max).then(|| DataError::TooLarge {
        path: path.to_path_buf(),
        width,
        height,
        max,
    })
}

/// One decoded image: `[c, h, w]` bytes.
struct Image {
    width: u32,
    height: u32,
    bytes: Vec<u8>,
}

/// Decode → crop → resize → channels → `[c, h, w]`.
fn load_image(path: &Path, options: &FolderOptions) -> Result<Image, DataError> {
    let decode_error = |cause| DataError::Decode { path: path.to_path_buf(), cause };
    let reader = ImageReader::open(path).map_err(|e| DataError::io(path, e))?;
    // Guess the format from the bytes rather than trust the extension.
    let mut reader = reader.with_guessed_format().map_err(|e| DataError::io(path, e))?;
    if let Some(e) = too_large(path) {
        return Err(e);
    }
    let mut limits = image::Limits::default();
    (limits.max_image_width, limits.max_image_height) = (Some(MAX_IMAGE_SIDE), Some(MAX_IMAGE_SIDE));
    reader.limits(limits);
    let mut image: DynamicImage = reader.decode().map_err(decode_error)?;

    if let Some(crop) = options.crop {
        let (width, height) = (image.width(), image.height());
        if crop.right > width || crop.lower > height {
            // `crop_imm` would silently clip the box; PIL would pad with black. Both hide a
            // wrong box or a wrong data set, so refuse.
            return Err(DataError::CropOutside {
                path: path.to_path_buf(),
                crop: crop.to_array(),
                width,
                height,
            });
        }
        image = image.crop_imm(crop.left, crop.upper, crop.width(), crop.height());
    }
    if let Some(size) = options.resize
        && (image.width(), image.height()) != (size, size)
    {
        image = image.resize_to_fill(size, size, FilterType::Triangle);
    }

    let (width, height) = (image.width(), image.height());
    let bytes = match options.channels {
        Channels::Gray => image.into_luma8().into_raw(),
        Channels::Rgb => {
            // Interleaved [h, w, 3] to planar [3, h, w].
            let hwc = image.into_rgb8().into_raw();
            let plane = hwc.len() / 3;
            let mut chw = vec![0u8; hwc.len()];
            for (p, rgb) in hwc.chunks_exact(3).enumerate() {
                for (c, &value) in rgb.iter().enumerate() {
                    chw[c * plane + p] = value;
                }
            }
            chw
        }
    };
    Ok(Image { width, height, bytes })
}
