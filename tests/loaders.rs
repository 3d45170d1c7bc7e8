//! Image data loaders (docs/algorithm.md §7, §8): every loader round-trips exact values on small files
//! written here, and every kind of bad input gives the right error, naming the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use dualmcmc::data::{
    Channels, Cifar10Split, CropBox, DataError, EpochOrder, FolderOptions, ImageSet, fashion_mnist,
    load_cifar10_dir, load_cifar10_files, load_folder, load_idx, scale_pixel,
};
use flate2::{Compression, write::GzEncoder};
use tempfile::TempDir;

// ---------- helpers: writing the formats ----------

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An IDX file: the magic number, the dimensions (big-endian u32), the data.
fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// 3 images of 2 rows × 4 columns (not square, so rows and columns cannot be confused),
/// with 0 and 255 among the values.
fn idx_images() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..24u32)
        .map(|i| {
            if i == 0 {
                0
            } else if i == 23 {
                255
            } else {
                (i * 11) as u8
            }
        })
        .collect();
    (pixels, vec![7, 0, 9])
}

/// Asserts that the error's message names `path`.
fn names(err: &DataError, path: &Path) {
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message {message:?} does not name {}",
        path.display()
    );
}

/// An RGB image whose pixel (x, y) is (x, y, x + y) (mod 256), as `[h, w, 3]` bytes.
fn pattern_rgb(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, (x + y) as u8]))
}

fn save_png(dir: &Path, name: &str, image: &image::RgbImage) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save_with_format(&path, image::ImageFormat::Png).unwrap();
    path
}

// ---------- IDX ----------

#[test]
fn idx_round_trips_plain_and_gzipped() {
    let dir = TempDir::new().unwrap();
    let (pixels, labels) = idx_images();
    let images = idx_bytes(0x803, &[3, 2, 4], &pixels);
    let label_file = idx_bytes(0x801, &[3], &labels);
    let plain = write(dir.path(), "images-idx3-ubyte", &images);
    let plain_labels = write(dir.path(), "labels-idx1-ubyte", &label_file);
    // Gzip is recognised by its magic bytes, not the name: one gzipped file without `.gz`,
    // one plain file with it.
    let gz = write(dir.path(), "images-gz-without-suffix", &gzip(&images));
    let gz_labels = write(dir.path(), "labels-plain.gz", &label_file);

    let set = load_idx(&plain, Some(&plain_labels)).unwrap();
    assert_eq!(set.shape(), [3, 1, 2, 4]);
    assert_eq!(set.example_size(), 8);
    assert_eq!(set.pixels(), &pixels[..]);
    assert_eq!(set.labels(), Some(&labels[..]));
    assert_eq!(load_idx(&gz, Some(&gz_labels)).unwrap(), set);
    assert_eq!(load_idx(&plain, Some(&gz_labels)).unwrap(), set);

    // Scaling x/127.5 − 1, exact at the ends.
    let all = set.to_f32();
    assert_eq!(all[0], -1.0);
    assert_eq!(all[23], 1.0);
    for (&x, &v) in pixels.iter().zip(&all) {
        assert_eq!(v, f32::from(x) / 127.5 - 1.0);
        assert!((-1.0..=1.0).contains(&v));
    }
    // A batch gathers whole images in the order asked.
    let batch = set.batch(&[2, 0]);
    assert_eq!(batch.len(), 16);
    assert_eq!(&batch[..8], &all[16..24]);
    assert_eq!(&batch[8..], &all[..8]);
    assert_eq!(set.batch_labels(&[2, 0]), Some(vec![9, 7]));

    // Labels are optional.
    let unlabelled = load_idx(&gz, None).unwrap();
    assert_eq!(unlabelled.labels(), None);
    assert_eq!(unlabelled.pixels(), set.pixels());
}

#[test]
fn idx_missing_file_is_named() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("no-such-images.gz");
    let err = load_idx(&missing, None).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    names(&err, &missing);
    assert!(err.to_string().contains("not found"));

    // A missing labels file is named too, not the images file.
    let (pixels, _) = idx_images();
    let images = write(dir.path(), "images", &idx_bytes(0x803, &[3, 2, 4], &pixels));
    let missing_labels = dir.path().join("no-such-labels");
    let err = load_idx(&images, Some(&missing_labels)).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    names(&err, &missing_labels);
}

#[test]
fn idx_truncated_is_refused() {
    let dir = TempDir::new().unwrap();
    let (pixels, _) = idx_images();
    // The header says 4 images, the file holds 3.
    let short = write(dir.path(), "short", &idx_bytes(0x803, &[4, 2, 4], &pixels));
    let err = load_idx(&short, None).unwrap_err();
    match &err {
        DataError::Truncated { expected, found, .. } => assert_eq!((*expected, *found), (16 + 32, 16 + 24)),
        other => panic!("expected Truncated, got {other:?}"),
    }
    names(&err, &short);
    assert!(err.to_string().contains("truncated"));

    // The same, gzipped.
    let short_gz = write(dir.path(), "short.gz", &gzip(&idx_bytes(0x803, &[4, 2, 4], &pixels)));
    assert!(matches!(load_idx(&short_gz, None).unwrap_err(), DataError::Truncated { .. }));

    // Shorter than its own header.
    let stub = write(dir.path(), "stub", &[0, 0, 8, 3, 0, 0]);
    let err = load_idx(&stub, None).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");
    names(&err, &stub);

    // A gzip stream cut short does not decompress.
    let gz = gzip(&idx_bytes(0x803, &[3, 2, 4], &pixels));
    let cut = write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
    let err = load_idx(&cut, None).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    names(&err, &cut);

    // More bytes than the header describes: refused as well.
    let mut long = idx_bytes(0x803, &[3, 2, 4], &pixels);
    long.push(0);
    let long = write(dir.path(), "long", &long);
    let err = load_idx(&long, None).unwrap_err();
    assert!(matches!(err, DataError::TrailingBytes { .. }), "{err:?}");
    names(&err, &long);
}

#[test]
fn idx_wrong_magic_is_refused() {
    let dir = TempDir::new().unwrap();
    let (pixels, labels) = idx_images();
    let images = write(dir.path(), "images", &idx_bytes(0x803, &[3, 2, 4], &pixels));
    let label_file = write(dir.path(), "labels", &idx_bytes(0x801, &[3], &labels));

    // Images and labels swapped.
    let err = load_idx(&label_file, Some(&images)).unwrap_err();
    match &err {
        DataError::WrongMagic { found, expected, .. } => assert_eq!((*found, *expected), (0x801, 0x803)),
        other => panic!("expected WrongMagic, got {other:?}"),
    }
    names(&err, &label_file);
    assert!(err.to_string().contains("0x00000801"), "{err}");
    let err = load_idx(&images, Some(&images)).unwrap_err();
    assert!(matches!(err, DataError::WrongMagic { found: 0x803, expected: 0x801, .. }), "{err:?}");

    // Not an IDX file at all (a PNG signature).
    let png = write(dir.path(), "picture", b"\x89PNG\r\n\x1a\n................");
    let err = load_idx(&png, None).unwrap_err();
    assert!(matches!(err, DataError::WrongMagic { .. }), "{err:?}");
    names(&err, &png);
}

#[test]
fn idx_label_count_mismatch_names_both_files() {
    let dir = TempDir::new().unwrap();
    let (pixels, _) = idx_images();
    let images = write(dir.path(), "images", &idx_bytes(0x803, &[3, 2, 4], &pixels));
    let labels = write(dir.path(), "labels", &idx_bytes(0x801, &[2], &[1, 2]));
    let err = load_idx(&images, Some(&labels)).unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { images: 3, labels: 2, .. }), "{err:?}");
    names(&err, &images);
    names(&err, &labels);
}

#[test]
fn idx_empty_and_degenerate_dimensions_are_refused() {
    let dir = TempDir::new().unwrap();
    let none = write(dir.path(), "none", &idx_bytes(0x803, &[0, 28, 28], &[]));
    let err = load_idx(&none, None).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    names(&err, &none);
    let flat = write(dir.path(), "flat", &idx_bytes(0x803, &[5, 0, 28], &[]));
    let err = load_idx(&flat, None).unwrap_err();
    assert!(matches!(err, DataError::WrongDimensions { .. }), "{err:?}");
    names(&err, &flat);
    // Sizes whose product overflows are an error, not an allocation or a panic.
    let huge = write(dir.path(), "huge", &idx_bytes(0x803, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]));
    let err = load_idx(&huge, None).unwrap_err();
    assert!(matches!(err, DataError::WrongDimensions { .. } | DataError::Truncated { .. }), "{err:?}");
    names(&err, &huge);
}

// ---------- CIFAR-10 ----------

/// `labels.len()` CIFAR-10 records; record r's pixel i is (r·7 + i) mod 256.
fn cifar_records(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (r, &label) in labels.iter().enumerate() {
        bytes.push(label);
        bytes.extend((0..3072).map(|i| ((r * 7 + i) % 256) as u8));
    }
    bytes
}

#[test]
fn cifar10_round_trips_files_in_order() {
    let dir = TempDir::new().unwrap();
    let a = write(dir.path(), "data_batch_1.bin", &cifar_records(&[3, 9]));
    let b = write(dir.path(), "data_batch_2.bin", &gzip(&cifar_records(&[0])));
    let set = load_cifar10_files(&[&a, &b]).unwrap();
    assert_eq!(set.shape(), [3, 3, 32, 32]);
    assert_eq!(set.labels(), Some(&[3, 9, 0][..]));
    // Record layout is [c, h, w] already: R plane, G plane, B plane.
    assert_eq!(set.image_bytes(1), &cifar_records(&[9, 9])[3073 + 1..]);
    assert_eq!(set.image_bytes(2), &cifar_records(&[0])[1..]);
    let image = set.batch(&[1]);
    // Red (0, 0), green (0, 0), blue (31, 31) of record 1: pixels 0, 1024, 3071.
    assert_eq!(image[0], scale_pixel(7));
    assert_eq!(image[1024], scale_pixel(((7 + 1024) % 256) as u8));
    assert_eq!(image[3071], scale_pixel(((7 + 3071) % 256) as u8));
}

#[test]
fn cifar10_folder_picks_the_split() {
    let dir = TempDir::new().unwrap();
    // Written out of order, with an unrelated file beside them.
    write(dir.path(), "data_batch_2.bin", &cifar_records(&[2, 2]));
    write(dir.path(), "data_batch_1.bin", &cifar_records(&[1]));
    write(dir.path(), "test_batch.bin", &cifar_records(&[5, 6, 7]));
    write(dir.path(), "batches.meta.txt", b"airplane\nautomobile\n");
    let train = load_cifar10_dir(dir.path(), Cifar10Split::Train).unwrap();
    assert_eq!(train.labels(), Some(&[1, 2, 2][..]));
    let test = load_cifar10_dir(dir.path(), Cifar10Split::Test).unwrap();
    assert_eq!(test.labels(), Some(&[5, 6, 7][..]));

    // The folder the tarball was unpacked in works too.
    let outer = TempDir::new().unwrap();
    write(outer.path(), "cifar-10-batches-bin/data_batch_1.bin", &cifar_records(&[4]));
    let nested = load_cifar10_dir(outer.path(), Cifar10Split::Train).unwrap();
    assert_eq!(nested.labels(), Some(&[4][..]));

    // No batch files: the error lists where it looked.
    let empty = TempDir::new().unwrap();
    let err = load_cifar10_dir(empty.path(), Cifar10Split::Train).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    names(&err, empty.path());
    let missing = empty.path().join("no-such-folder");
    let err = load_cifar10_dir(&missing, Cifar10Split::Test).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    names(&err, &missing);
}

#[test]
fn cifar10_bad_files_are_named() {
    let dir = TempDir::new().unwrap();
    let good = write(dir.path(), "data_batch_1.bin", &cifar_records(&[1]));
    let mut odd = cifar_records(&[1, 2]);
    odd.pop();
    let odd = write(dir.path(), "data_batch_2.bin", &odd);
    let err = load_cifar10_files(&[&good, &odd]).unwrap_err();
    assert!(matches!(err, DataError::CifarLength { len: 6145, .. }), "{err:?}");
    names(&err, &odd);
    assert!(err.to_string().contains("3073"));

    // CIFAR-100 records carry 2 label bytes; a class above 9 is caught.
    let label = write(dir.path(), "bad_label.bin", &cifar_records(&[3, 42]));
    let err = load_cifar10_files(&[&label]).unwrap_err();
    assert!(matches!(err, DataError::CifarLabel { record: 1, label: 42, .. }), "{err:?}");
    names(&err, &label);

    let empty = write(dir.path(), "empty.bin", &[]);
    let err = load_cifar10_files(&[&empty]).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    names(&err, &empty);

    let missing = dir.path().join("data_batch_9.bin");
    let err = load_cifar10_files(&[&good, &missing]).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    names(&err, &missing);

    let none: [&Path; 0] = [];
    assert!(matches!(load_cifar10_files(&none).unwrap_err(), DataError::NotFound { .. }));
}

// ---------- a folder of images ----------

#[test]
fn folder_round_trips_png_sorted_recursive_skipping_other_files() {
    let dir = TempDir::new().unwrap();
    let (w, h) = (5, 3);
    // Image k is the pattern plus k in every channel; written out of path order.
    let shifted = |k: u8| {
        let mut image = pattern_rgb(w, h);
        image.pixels_mut().for_each(|p| p.0.iter_mut().for_each(|c| *c += k));
        image
    };
    save_png(dir.path(), "b.png", &shifted(1));
    save_png(dir.path(), "a.png", &shifted(0));
    save_png(dir.path(), "sub/c.PNG", &shifted(2));
    write(dir.path(), "list_attr_celeba.txt", b"not an image");
    write(dir.path(), "._a.png", b"macOS resource fork, not an image");
    write(dir.path(), ".hidden/d.png", b"skipped with its folder");

    let set = load_folder(dir.path(), &FolderOptions::default()).unwrap();
    assert_eq!(set.shape(), [3, 3, 3, 5]);
    assert_eq!(set.labels(), None);
    // Sorted by path: a.png, b.png, sub/c.PNG; each [c, h, w] with (x, y, x + y) + k.
    for k in 0..3u8 {
        let image = set.image_bytes(k as usize);
        for y in 0..h as usize {
            for x in 0..w as usize {
                let at = |c: usize| image[c * 15 + y * 5 + x];
                assert_eq!([at(0), at(1), at(2)], [x as u8 + k, y as u8 + k, (x + y) as u8 + k]);
            }
        }
    }
    let batch = set.batch(&[1]);
    assert_eq!(batch[0], scale_pixel(1));
    assert_eq!(batch[15 + 5 * 2 + 4], scale_pixel(2 + 1));

    // Grayscale: a gray PNG comes back unchanged.
    let gray_dir = TempDir::new().unwrap();
    let gray = image::GrayImage::from_fn(4, 2, |x, y| image::Luma([(x * 60 + y * 15) as u8]));
    gray.save(gray_dir.path().join("g.png")).unwrap();
    let options = FolderOptions { channels: Channels::Gray, ..Default::default() };
    let set = load_folder(gray_dir.path(), &options).unwrap();
    assert_eq!(set.shape(), [1, 1, 2, 4]);
    assert_eq!(set.pixels(), gray.as_raw().as_slice());
    // And as RGB, three equal planes.
    let set = load_folder(gray_dir.path(), &FolderOptions::default()).unwrap();
    assert_eq!(set.shape(), [1, 3, 2, 4]);
    assert_eq!(set.pixels(), gray.as_raw().repeat(3).as_slice());
}

#[test]
fn folder_loads_jpeg() {
    let dir = TempDir::new().unwrap();
    let mut jpeg = Vec::new();
    let image = image::RgbImage::from_pixel(16, 8, image::Rgb([200, 100, 50]));
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(&image).unwrap();
    write(dir.path(), "x.jpg", &jpeg);
    // A JPEG saved with a `.png` name still loads: the format is read from the bytes.
    write(dir.path(), "y.png", &jpeg);
    let set = load_folder(dir.path(), &FolderOptions::default()).unwrap();
    assert_eq!(set.shape(), [2, 3, 8, 16]);
    // Lossy, but a flat colour survives within a few levels.
    for (c, want) in [200i32, 100, 50].into_iter().enumerate() {
        for &v in &set.image_bytes(0)[c * 128..(c + 1) * 128] {
            assert!((i32::from(v) - want).abs() <= 3, "channel {c}: {v} vs {want}");
        }
    }
}

#[test]
fn folder_crop_and_resize_give_the_expected_size() {
    let dir = TempDir::new().unwrap();
    // CelebA's aligned images are 178×218.
    save_png(dir.path(), "000001.png", &pattern_rgb(178, 218));
    save_png(dir.path(), "000002.png", &pattern_rgb(178, 218));

    // Crop only: 148×148, exactly the box's pixels.
    let crop = FolderOptions { crop: Some(CropBox::CELEBA_64), ..Default::default() };
    let set = load_folder(dir.path(), &crop).unwrap();
    assert_eq!(set.shape(), [2, 3, 148, 148]);
    let image = set.image_bytes(0);
    let plane = 148 * 148;
    for (y, x) in [(0, 0), (0, 147), (147, 0), (70, 33)] {
        let (sx, sy) = (x + 15, y + 40);
        let at = |c: usize| image[c * plane + y * 148 + x];
        assert_eq!([at(0), at(1), at(2)], [sx as u8, sy as u8, (sx + sy) as u8]);
    }

    // Crop then resize: CelebA-64.
    let set = load_folder(dir.path(), &FolderOptions::celeba_64()).unwrap();
    assert_eq!(set.shape(), [2, 3, 64, 64]);
    // The red channel is the column index, a ramp 15 … 162 across the box: after the
    // resize it still rises from left to right within that range.
    let red_row: Vec<u8> = set.image_bytes(0)[32 * 64..33 * 64].to_vec();
    assert!(red_row.windows(2).all(|w| w[0] <= w[1]), "{red_row:?}");
    assert!(red_row[0] >= 15 && red_row[63] <= 162, "{red_row:?}");

    // Grayscale at another size.
    let options = FolderOptions { resize: Some(20), channels: Channels::Gray, ..FolderOptions::celeba_64() };
    assert_eq!(load_folder(dir.path(), &options).unwrap().shape(), [2, 1, 20, 20]);
}

#[test]
fn folder_resize_keeps_flat_colours_and_squares_mixed_sizes() {
    let dir = TempDir::new().unwrap();
    // Different sizes and aspect ratios: with a resize they all come out 8×8.
    save_png(dir.path(), "a.png", &image::RgbImage::from_pixel(30, 30, image::Rgb([10, 20, 30])));
    save_png(dir.path(), "b.png", &image::RgbImage::from_pixel(40, 17, image::Rgb([250, 0, 128])));
    save_png(dir.path(), "c.png", &image::RgbImage::from_pixel(5, 9, image::Rgb([1, 2, 3])));
    let options = FolderOptions { resize: Some(8), ..Default::default() };
    let set = load_folder(dir.path(), &options).unwrap();
    assert_eq!(set.shape(), [3, 3, 8, 8]);
    // The filter's weights sum to one: a flat image stays flat (down- and upsampled).
    for (i, rgb) in [[10u8, 20, 30], [250, 0, 128], [1, 2, 3]].into_iter().enumerate() {
        for (plane, &value) in set.image_bytes(i).chunks_exact(64).zip(&rgb) {
            assert!(plane.iter().all(|&v| v == value), "image {i}: {plane:?} vs {value}");
        }
    }
}

#[test]
fn folder_mixed_sizes_without_resize_name_the_first_odd_file() {
    let dir = TempDir::new().unwrap();
    save_png(dir.path(), "a.png", &pattern_rgb(4, 4));
    save_png(dir.path(), "b.png", &pattern_rgb(4, 4));
    save_png(dir.path(), "c.png", &pattern_rgb(5, 4));
    save_png(dir.path(), "d.png", &pattern_rgb(4, 4));
    save_png(dir.path(), "e.png", &pattern_rgb(3, 3));
    let err = load_folder(dir.path(), &FolderOptions::default()).unwrap_err();
    match &err {
        DataError::MixedSizes { path, width: 5, height: 4, first, first_width: 4, first_height: 4 } => {
            assert_eq!(path, &dir.path().join("c.png"));
            assert_eq!(first, &dir.path().join("a.png"));
        }
        other => panic!("expected MixedSizes for c.png, got {other:?}"),
    }
    names(&err, &dir.path().join("c.png"));
    assert!(err.to_string().contains("resize"), "{err}");
}

#[test]
fn folder_empty_missing_and_unreadable_are_named() {
    let empty = TempDir::new().unwrap();
    let err = load_folder(empty.path(), &FolderOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    names(&err, empty.path());

    // Only non-image files: as empty.
    write(empty.path(), "notes.txt", b"hello");
    write(empty.path(), "sub/readme.md", b"hello");
    let err = load_folder(empty.path(), &FolderOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");

    let missing = empty.path().join("no-such-folder");
    let err = load_folder(&missing, &FolderOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    names(&err, &missing);

    // A file with an image extension that is not an image is an error, not skipped.
    let dir = TempDir::new().unwrap();
    save_png(dir.path(), "a.png", &pattern_rgb(4, 4));
    let bad = write(dir.path(), "b.jpg", b"this is not a jpeg at all");
    save_png(dir.path(), "c.png", &pattern_rgb(4, 4));
    let err = load_folder(dir.path(), &FolderOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Decode { .. }), "{err:?}");
    names(&err, &bad);
    // Also when it is the first file.
    let dir = TempDir::new().unwrap();
    let truncated_png = {
        let path = save_png(dir.path(), "a.png", &pattern_rgb(16, 16));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        path
    };
    let err = load_folder(dir.path(), &FolderOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Decode { .. }), "{err:?}");
    names(&err, &truncated_png);
}

#[test]
fn folder_crop_box_outside_or_empty_is_refused() {
    let dir = TempDir::new().unwrap();
    save_png(dir.path(), "big.png", &pattern_rgb(200, 200));
    let small = save_png(dir.path(), "small.png", &pattern_rgb(178, 150));
    let err = load_folder(dir.path(), &FolderOptions::celeba_64()).unwrap_err();
    match &err {
        DataError::CropOutside { path, crop, width: 178, height: 150 } => {
            assert_eq!(path, &small);
            assert_eq!(crop, &[15, 40, 163, 188]);
        }
        other => panic!("expected CropOutside, got {other:?}"),
    }
    names(&err, &small);

    let empty_box = CropBox { left: 10, upper: 10, right: 10, lower: 20 };
    let options = FolderOptions { crop: Some(empty_box), ..Default::default() };
    let err = load_folder(dir.path(), &options).unwrap_err();
    assert!(matches!(err, DataError::InvalidCrop { .. }), "{err:?}");
    names(&err, dir.path());
}

// ---------- embedded Fashion-MNIST ----------

fn check_fashion_mnist(set: &ImageSet, n: usize) {
    assert_eq!(set.shape(), [n, 1, 28, 28]);
    let labels = set.labels().expect("labels");
    let mut counts = [0usize; 10];
    for &label in labels {
        assert!(label < 10, "label {label}");
        counts[label as usize] += 1;
    }
    // Both Fashion-MNIST splits are balanced: n/10 images per class.
    assert_eq!(counts, [n / 10; 10]);
    let values = set.batch(&(0..n).step_by(97).collect::<Vec<_>>());
    assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
    // Real images use the whole range: background −1 and some full-intensity pixels.
    assert_eq!(values.iter().cloned().fold(f32::INFINITY, f32::min), -1.0);
    assert_eq!(values.iter().cloned().fold(f32::NEG_INFINITY, f32::max), 1.0);
}

#[test]
fn embedded_fashion_mnist_test_set_loads() {
    let (set, what) = fashion_mnist(false).unwrap();
    check_fashion_mnist(&set, 10_000);
    assert!(what.contains("test set") && what.contains("t10k-images-idx3-ubyte.gz"), "{what}");
    // The first test image is an ankle boot (label 9), as in every Fashion-MNIST copy.
    assert_eq!(set.labels().unwrap()[..3], [9, 2, 1]);
}

#[test]
fn full_fashion_mnist_loads_where_installed() {
    let (set, what) = fashion_mnist(true).unwrap();
    if Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file() {
        check_fashion_mnist(&set, 60_000);
        assert!(what.contains("training set"), "{what}");
    } else {
        // Without Debian's package, the shipped test set is the fallback.
        check_fashion_mnist(&set, 10_000);
        assert!(what.contains("test set"), "{what}");
    }
}

// ---------- epoch order ----------

#[test]
fn epoch_order_is_reproducible_per_seed_and_differs_between_epochs() {
    let order = EpochOrder::new(103, 10, 1234).unwrap();
    assert_eq!(order.batches_per_epoch(), 10);

    let epoch0: Vec<Vec<usize>> = order.epoch(0).collect();
    assert_eq!(order.epoch(0).len(), 10);
    assert_eq!(epoch0.len(), 10, "the last partial batch (3 examples) is dropped");
    assert!(epoch0.iter().all(|b| b.len() == 10));
    // Distinct indices in range: a prefix of a permutation.
    let mut seen: Vec<usize> = epoch0.concat();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|&i| i < 103));
    let mut permutation = order.permutation(0);
    assert_eq!(&permutation[..100], epoch0.concat().as_slice());
    permutation.sort_unstable();
    assert_eq!(permutation, (0..103).collect::<Vec<_>>());

    // Same (seed, epoch), same batches, also from a fresh EpochOrder (a resumed run).
    let again = EpochOrder::new(103, 10, 1234).unwrap();
    assert_eq!(again.epoch(0).collect::<Vec<_>>(), epoch0);
    assert_eq!(again.epoch(7).collect::<Vec<_>>(), order.epoch(7).collect::<Vec<_>>());
    // Another epoch or another seed: another order.
    assert_ne!(order.permutation(1), order.permutation(0));
    assert_ne!(order.permutation(2), order.permutation(1));
    assert_ne!(EpochOrder::new(103, 10, 1235).unwrap().permutation(0), order.permutation(0));
    // And it is shuffled, not the identity.
    assert_ne!(order.permutation(0), (0..103).collect::<Vec<_>>());

    // A batch size that gives no batch is an error.
    assert!(matches!(EpochOrder::new(5, 0, 1), Err(DataError::BatchSize { .. })));
    assert!(matches!(EpochOrder::new(5, 6, 1), Err(DataError::BatchSize { .. })));
    assert_eq!(EpochOrder::new(5, 5, 1).unwrap().epoch(3).count(), 1);
}

#[test]
fn epoch_batches_gather_the_right_images() {
    // 7 one-pixel images with values 0, 10, …, 60: a batch's values say which images it holds.
    let set = ImageSet::new(1, 1, 1, (0..7).map(|i| i * 10).collect(), Some((0..7).collect()));
    let order = EpochOrder::new(set.len(), 3, 9).unwrap();
    for batch in order.epoch(0) {
        let values = set.batch(&batch);
        let want: Vec<f32> = batch.iter().map(|&i| scale_pixel(i as u8 * 10)).collect();
        assert_eq!(values, want);
        assert_eq!(set.batch_labels(&batch).unwrap(), batch.iter().map(|&i| i as u8).collect::<Vec<_>>());
    }
}
