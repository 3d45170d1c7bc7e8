//! An in-memory image data set and the seeded order in which an epoch visits it
//! (docs/algorithm.md §7).
//!
//! Pixels are kept as the bytes the files hold, `[n, c, h, w]` row-major, and scaled to
//! [−1, 1] as x/127.5 − 1 only when a batch is taken. Bytes rather than f32 because
//! (a) it is 4× less memory — CelebA-64's 162,770 training images are 2.0 GB as bytes and
//! would be 8.0 GB as f32 — and (b) the reference pipeline (PIL → `ToTensor` →
//! `Normalize(0.5, 0.5)`) also holds 8-bit pixels until the last step, resized images
//! included, so nothing is lost: the values are exactly the ones an f32 copy would hold.

use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

use super::DataError;

/// A pixel byte scaled to [−1, 1]: x/127.5 − 1 (0 → −1, 255 → +1 exactly).
#[inline]
pub fn scale_pixel(x: u8) -> f32 {
    f32::from(x) / 127.5 - 1.0
}

/// `n` images of `channels × height × width` bytes, with optional labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    channels: usize,
    height: usize,
    width: usize,
    /// `[n, channels, height, width]`, row-major.
    pixels: Vec<u8>,
    /// `[n]` class labels, when the format has them.
    labels: Option<Vec<u8>>,
}

impl ImageSet {
    /// A data set from `[n, channels, height, width]` bytes and optional `[n]` labels.
    ///
    /// # Panics
    /// If a dimension is 0, if `pixels.len()` is not a multiple of
    /// `channels · height · width`, or if `labels` does not hold one label per image. The
    /// loaders check their files before they get here, so this is a programming error.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        pixels: Vec<u8>,
        labels: Option<Vec<u8>>,
    ) -> Self {
        let example_size = channels * height * width;
        assert!(example_size > 0, "ImageSet::new: zero dimension {channels}x{height}x{width}");
        assert_eq!(pixels.len() % example_size, 0, "ImageSet::new: pixels are not whole images");
        if let Some(labels) = &labels {
            assert_eq!(labels.len(), pixels.len() / example_size, "ImageSet::new: one label per image");
        }
        ImageSet { channels, height, width, pixels, labels }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.example_size()
    }

    /// True when the set holds no image (the loaders never return such a set).
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// Channels per image: 1 (grayscale) or 3 (RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Values per image, `channels · height · width`.
    pub fn example_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// `[n, c, h, w]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.len(), self.channels, self.height, self.width]
    }

    /// All pixel bytes, `[n, c, h, w]`.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// All labels, `[n]`, if the data set has them.
    pub fn labels(&self) -> Option<&[u8]> {
        self.labels.as_deref()
    }

    /// The bytes of image `i`, `[c, h, w]`. Panics if `i >= len()`.
    pub fn image_bytes(&self, i: usize) -> &[u8] {
        let size = self.example_size();
        &self.pixels[i * size..(i + 1) * size]
    }

    /// Images `indices`, scaled to [−1, 1]: `[indices.len(), c, h, w]`, ready to upload.
    /// Panics if an index is `>= len()`.
    pub fn batch(&self, indices: &[usize]) -> Vec<f32> {
        let mut out = vec![0.0; indices.len() * self.example_size()];
        self.batch_into(indices, &mut out);
        out
    }

    /// [`ImageSet::batch`] into a buffer the caller keeps between iterations.
    ///
    /// # Panics
    /// If `out.len() != indices.len() · example_size()` or an index is `>= len()`.
    pub fn batch_into(&self, indices: &[usize], out: &mut [f32]) {
        let size = self.example_size();
        assert_eq!(out.len(), indices.len() * size, "batch_into: output length");
        for (dst, &i) in out.chunks_exact_mut(size).zip(indices) {
            for (d, &x) in dst.iter_mut().zip(self.image_bytes(i)) {
                *d = scale_pixel(x);
            }
        }
    }

    /// Labels of images `indices`, `[indices.len()]`, if the data set has labels.
    pub fn batch_labels(&self, indices: &[usize]) -> Option<Vec<u8>> {
        self.labels.as_ref().map(|labels| indices.iter().map(|&i| labels[i]).collect())
    }

    /// The whole set scaled to [−1, 1], `[n, c, h, w]` (4 bytes per value: for small sets).
    pub fn to_f32(&self) -> Vec<f32> {
        self.pixels.iter().map(|&x| scale_pixel(x)).collect()
    }

    /// Appends `other`'s images (and labels) to this set: the CIFAR-10 batches are five
    /// files. Shapes must match; labels are kept only if both sets have them.
    pub(crate) fn append(&mut self, other: ImageSet) {
        assert_eq!(self.example_size(), other.example_size());
        self.pixels.extend_from_slice(&other.pixels);
        self.labels = match (self.labels.take(), other.labels) {
            (Some(mut a), Some(b)) => {
                a.extend_from_slice(&b);
                Some(a)
            }
            _ => None,
        };
    }
}

/// The seeded order of an epoch: a permutation of `0..len` cut into batches of
/// `batch_size`, the last partial batch dropped (the reference's `DataLoader(shuffle=True,
/// drop_last=True)`).
///
/// The permutation is a function of `(seed, epoch)` alone, so a resumed run visits the
/// same batches as an uninterrupted one; different epochs get different permutations.
/// It is reproducible across platforms for a given version of `rand` (its `StdRng` may
/// change between major versions; `Cargo.lock` pins it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochOrder {
    len: usize,
    batch_size: usize,
    seed: u64,
}

impl EpochOrder {
    /// The order for a data set of `len` examples.
    ///
    /// # Errors
    /// [`DataError::BatchSize`] unless `1 <= batch_size <= len` (otherwise an epoch would
    /// have no batch at all).
    pub fn new(len: usize, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        if batch_size == 0 || batch_size > len {
            return Err(DataError::BatchSize { batch_size, len });
        }
        Ok(EpochOrder { len, batch_size, seed })
    }

    /// Full batches per epoch, `⌊len / batch_size⌋`.
    pub fn batches_per_epoch(&self) -> usize {
        self.len / self.batch_size
    }

    /// Examples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The permutation of `0..len` that epoch `epoch` visits.
    pub fn permutation(&self, epoch: u64) -> Vec<usize> {
        // Seed and epoch go into separate words of the 32-byte key, so distinct (seed,
        // epoch) pairs never share a stream (a hash such as seed + epoch would collide).
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&self.seed.to_le_bytes());
        key[8..16].copy_from_slice(&epoch.to_le_bytes());
        key[16..24].copy_from_slice(b"epochord");
        let mut order: Vec<usize> = (0..self.len).collect();
        order.shuffle(&mut StdRng::from_seed(key));
        order
    }

    /// The index batches of epoch `epoch`, each `[batch_size]`, in visiting order.
    pub fn epoch(&self, epoch: u64) -> Batches {
        let mut order = self.permutation(epoch);
        order.truncate(self.batches_per_epoch() * self.batch_size);
        Batches { order, batch_size: self.batch_size, next: 0 }
    }
}

/// The index batches of one epoch (see [`EpochOrder::epoch`]).
#[derive(Clone, Debug)]
pub struct Batches {
    /// The epoch's permutation, cut to a whole number of batches.
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
}

impl Iterator for Batches {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let batch = self.order.get(self.next..self.next + self.batch_size)?.to_vec();
        self.next += self.batch_size;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.next) / self.batch_size;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches {}
