//! Structural similarity (SSIM, Wang, Bovik, Sheikh & Simoncelli 2004), as the paper's Fig. 3
//! measures reconstructions: an 11×11 Gaussian window with σ = 1.5, K₁ = 0.01, K₂ = 0.03,
//! population (co)variances, averaged over the windows that lie wholly inside the image.
//! This is what scikit-image's `structural_similarity(a, b, gaussian_weights=True,
//! sigma=1.5, use_sample_covariance=False, data_range=L)` computes, per channel; the tests
//! hold it to values scikit-image gave.

/// The window's radius (scipy's Gaussian filter at σ = 1.5 and its default truncation 3.5:
/// ⌊3.5·1.5 + 0.5⌋ = 5, so 11 taps).
const RADIUS: usize = 5;
const SIGMA: f64 = 1.5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// The normalised 1-D Gaussian weights of the window, `[2·RADIUS + 1]`.
fn weights() -> [f64; 2 * RADIUS + 1] {
    let mut w = [0.0; 2 * RADIUS + 1];
    for (i, v) in w.iter_mut().enumerate() {
        let x = i as f64 - RADIUS as f64;
        *v = (-0.5 * x * x / (SIGMA * SIGMA)).exp();
    }
    let total: f64 = w.iter().sum();
    w.map(|v| v / total)
}

/// Weighted local means of `x` `[h, w]` over every window wholly inside it, `[h − 10, w − 10]`
/// (the Gaussian is separable: rows, then columns).
fn local_mean(x: &[f64], h: usize, w: usize) -> Vec<f64> {
    let k = weights();
    let (oh, ow) = (h - 2 * RADIUS, w - 2 * RADIUS);
    let rows: Vec<f64> =
        (0..h * ow).map(|i| (0..k.len()).map(|t| k[t] * x[(i / ow) * w + i % ow + t]).sum()).collect();
    (0..oh * ow).map(|i| (0..k.len()).map(|t| k[t] * rows[(i / ow + t) * ow + i % ow]).sum()).collect()
}

/// Mean SSIM of two single-channel images `[h, w]` whose values span `data_range` (1 for
/// [0, 1], 255 for bytes). `None` if a side is below 11 pixels or the lengths differ.
pub fn ssim_channel(a: &[f64], b: &[f64], h: usize, w: usize, data_range: f64) -> Option<f64> {
    if h < 2 * RADIUS + 1 || w < 2 * RADIUS + 1 || a.len() != h * w || b.len() != h * w {
        return None;
    }
    let (c1, c2) = ((K1 * data_range).powi(2), (K2 * data_range).powi(2));
    let prod = |f: fn(f64, f64) -> f64| a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect::<Vec<f64>>();
    let (mx, my) = (local_mean(a, h, w), local_mean(b, h, w));
    let mxx = local_mean(&prod(|x, _| x * x), h, w);
    let myy = local_mean(&prod(|_, y| y * y), h, w);
    let mxy = local_mean(&prod(|x, y| x * y), h, w);
    let total: f64 = (0..mx.len())
        .map(|i| {
            let (ux, uy) = (mx[i], my[i]);
            let (vx, vy, cxy) = (mxx[i] - ux * ux, myy[i] - uy * uy, mxy[i] - ux * uy);
            ((2.0 * ux * uy + c1) * (2.0 * cxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        })
        .sum();
    Some(total / mx.len() as f64)
}

/// Mean SSIM over images and channels of two batches `[n, c, h, w]` with values in [−1, 1]
/// (mapped to [0, 1], data range 1). `None` as for [`ssim_channel`].
pub fn mean_ssim(a: &[f32], b: &[f32], c: usize, h: usize, w: usize) -> Option<f64> {
    if a.len() != b.len()
        || a.is_empty()
        || !a.len().is_multiple_of(h * w)
        || !(a.len() / (h * w)).is_multiple_of(c)
    {
        return None;
    }
    let unit = |v: &[f32]| v.iter().map(|&x| (f64::from(x) + 1.0) / 2.0).collect::<Vec<f64>>();
    let planes = a.len() / (h * w);
    let mut total = 0.0;
    for (pa, pb) in a.chunks(h * w).zip(b.chunks(h * w)) {
        total += ssim_channel(&unit(pa), &unit(pb), h, w, 1.0)?;
    }
    Some(total / planes as f64)
}
