//! The evaluation metrics: Fréchet distance against closed forms, an independent matrix
//! square root and scipy's value; SSIM against closed forms and scikit-image's values.

use dualmcmc::eval::frechet::{Gaussian, frechet_distance, sqrt_psd, trace_sqrt_product};
use dualmcmc::eval::ssim::{mean_ssim, ssim_channel};
use nalgebra::{DMatrix, DVector};

fn gaussian(mean: &[f64], cov: DMatrix<f64>) -> Gaussian {
    Gaussian { mean: DVector::from_column_slice(mean), cov, n: 0 }
}

#[test]
fn frechet_of_diagonal_gaussians_has_its_closed_form() {
    // Commuting (diagonal) covariances: d² = ‖μ₁ − μ₂‖² + Σ (σ₁ − σ₂)².
    let (s1, s2) = ([1.0, 4.0, 0.25, 9.0], [2.0, 1.0, 0.25, 0.5]);
    let a = gaussian(&[0.0, 1.0, -1.0, 2.0], DMatrix::from_diagonal(&DVector::from_column_slice(&s1)));
    let b = gaussian(&[1.0, 1.0, 1.0, 0.0], DMatrix::from_diagonal(&DVector::from_column_slice(&s2)));
    let want: f64 = 1.0
        + 4.0
        + 4.0
        + s1.iter().zip(&s2).map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2)).sum::<f64>();
    assert!((frechet_distance(&a, &b) - want).abs() < 1e-12, "{} vs {want}", frechet_distance(&a, &b));
    assert!(frechet_distance(&a, &a).abs() < 1e-12);
    // Symmetric in its arguments.
    assert!((frechet_distance(&a, &b) - frechet_distance(&b, &a)).abs() < 1e-12);
}

#[test]
fn frechet_of_full_covariances_matches_scipy_and_an_independent_square_root() {
    let a = DMatrix::from_row_slice(3, 3, &[2.0, 0.3, -0.4, 0.3, 1.0, 0.2, -0.4, 0.2, 0.5]);
    let b = DMatrix::from_row_slice(3, 3, &[1.0, -0.5, 0.1, -0.5, 1.5, 0.3, 0.1, 0.3, 0.8]);
    let (ga, gb) = (gaussian(&[0.1, -0.2, 0.3], a.clone()), gaussian(&[0.4, 0.0, -0.1], b.clone()));
    // scipy: sum((m1-m2)**2) + tr A + tr B - 2 tr(linalg.sqrtm(A @ B)).
    let scipy = 0.9812261600985206;
    assert!((frechet_distance(&ga, &gb) - scipy).abs() < 1e-10, "{}", frechet_distance(&ga, &gb));
    // Denman–Beavers iteration for the (non-symmetric) square root of AB, another algorithm.
    let (mut y, mut z) = (&a * &b, DMatrix::<f64>::identity(3, 3));
    for _ in 0..50 {
        let (yi, zi) = (y.clone().try_inverse().unwrap(), z.clone().try_inverse().unwrap());
        (y, z) = ((&y + zi) * 0.5, (&z + yi) * 0.5);
    }
    assert!((trace_sqrt_product(&a, &b) - y.trace()).abs() < 1e-10);
    let r = sqrt_psd(&a);
    assert!((&r * &r - &a).abs().max() < 1e-12);
}

#[test]
fn gaussian_fit_matches_a_two_pass_reference_and_shifts_the_distance_by_the_mean() {
    // 500 vectors of 6 correlated values from a fixed formula.
    let (n, d) = (500, 6);
    let x: Vec<f32> =
        (0..n * d).map(|k| ((k / d) as f32 * 0.37 + (k % d) as f32).sin() * (1.0 + (k % d) as f32)).collect();
    let g = Gaussian::fit(&x, d);
    for j in 0..d {
        let mean = (0..n).map(|i| f64::from(x[i * d + j])).sum::<f64>() / n as f64;
        assert!((g.mean[j] - mean).abs() < 1e-12);
        for k in 0..d {
            let mk = (0..n).map(|i| f64::from(x[i * d + k])).sum::<f64>() / n as f64;
            let c = (0..n)
                .map(|i| (f64::from(x[i * d + j]) - mean) * (f64::from(x[i * d + k]) - mk))
                .sum::<f64>()
                / (n - 1) as f64;
            assert!((g.cov[(j, k)] - c).abs() < 1e-10);
        }
    }
    // Shifting one set by a vector v changes only the mean term: d² = ‖v‖².
    let shifted: Vec<f32> = x.iter().enumerate().map(|(k, &v)| v + 0.5 * (k % d) as f32).collect();
    let want: f64 = (0..d).map(|j| (0.5 * j as f64).powi(2)).sum();
    let got = frechet_distance(&g, &Gaussian::fit(&shifted, d));
    assert!((got - want).abs() < 1e-4, "{got} vs {want}");
}

/// The test images of the scikit-image reference (see `ssim_matches_scikit_image`).
fn images(h: usize, w: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = Vec::new();
    let mut b = Vec::new();
    for i in 0..h {
        for j in 0..w {
            let (i, j) = (i as f64, j as f64);
            a.push(0.5 + 0.4 * (0.3 * i + 0.2 * j).sin());
            b.push(0.5 + 0.35 * (0.31 * i + 0.18 * j).sin() + 0.1 * (0.7 * i * j / 5.0).cos());
        }
    }
    (a, b)
}

#[test]
fn ssim_matches_scikit_image() {
    // skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
    // use_sample_covariance=False, data_range=L), scikit-image 0.26.0 (scipy 1.17.1).
    let (h, w) = (28, 24);
    let (a, b) = images(h, w);
    let cases: [(&[f64], Vec<f64>, f64, f64); 3] = [
        (&a, b.clone(), 1.0, 0.8091145314748703),
        (&a, a.iter().map(|v| 1.0 - v).collect(), 1.0, -0.6069666385945075),
        (&a, a.iter().map(|v| 0.5 * v + 0.2).collect(), 1.0, 0.7757381977895486),
    ];
    for (x, y, range, want) in cases {
        let got = ssim_channel(x, &y, h, w, range).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    let bytes = |v: &[f64]| v.iter().map(|x| (x * 255.0).round()).collect::<Vec<f64>>();
    let got = ssim_channel(&bytes(&a), &bytes(&b), h, w, 255.0).unwrap();
    assert!((got - 0.8084717099420168).abs() < 1e-12, "{got}");
}

#[test]
fn ssim_closed_forms_and_batches() {
    let (h, w) = (16, 16);
    let (a, _) = images(h, w);
    assert!((ssim_channel(&a, &a, h, w, 1.0).unwrap() - 1.0).abs() < 1e-12);
    // Constant images: only the luminance term remains, (2c₁c₂ + C₁)/(c₁² + c₂² + C₁).
    let (c1, c2, k) = (0.2, 0.7, (0.01f64).powi(2));
    let got = ssim_channel(&vec![c1; h * w], &vec![c2; h * w], h, w, 1.0).unwrap();
    assert!((got - (2.0 * c1 * c2 + k) / (c1 * c1 + c2 * c2 + k)).abs() < 1e-12);
    // Too small for the 11×11 window.
    assert!(ssim_channel(&[0.0; 100], &[0.0; 100], 10, 10, 1.0).is_none());
    // Batches in [−1, 1]: two images × two channels, the mean of the four planes.
    let to_signed = |v: &[f64]| v.iter().map(|&x| (2.0 * x - 1.0) as f32).collect::<Vec<f32>>();
    let (p, q) = images(h, w);
    let x: Vec<f32> = [to_signed(&p), to_signed(&p), to_signed(&q), to_signed(&p)].concat();
    let y: Vec<f32> = [to_signed(&p), to_signed(&q), to_signed(&q), to_signed(&q)].concat();
    let unit = |v: &[f32]| v.iter().map(|&s| (f64::from(s) + 1.0) / 2.0).collect::<Vec<f64>>();
    let pq = ssim_channel(&unit(&to_signed(&p)), &unit(&to_signed(&q)), h, w, 1.0).unwrap();
    let got = mean_ssim(&x, &y, 2, h, w).unwrap();
    assert!((got - (1.0 + pq + 1.0 + pq) / 4.0).abs() < 1e-9, "{got}");
}
