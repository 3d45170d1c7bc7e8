//! Fréchet distance between Gaussians fitted to two sets of feature vectors (Heusel et al.
//! 2017's FID formula, here over the features of our own classifier, not Inception's):
//!
//! d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½
//!
//! Means and covariances in f64 on the CPU with nalgebra; tr (Σ₁Σ₂)^½ is taken as the sum
//! of the square roots of the eigenvalues of the symmetric positive semi-definite
//! Σ₁^½ Σ₂ Σ₁^½ (same eigenvalues as Σ₁Σ₂), which stays real and stable where a general
//! matrix square root of Σ₁Σ₂ may not (eigenvalues that rounding makes slightly negative
//! count as 0).

use nalgebra::{DMatrix, DVector};

/// Mean and covariance of a set of vectors (the unbiased covariance, divided by n − 1, as
/// numpy's `np.cov` and the usual FID code compute it).
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
    /// Vectors the statistics come from.
    pub n: usize,
}

impl Gaussian {
    /// Statistics of `n` vectors of length `dim`, given row after row (`[n, dim]`).
    ///
    /// # Panics
    /// If `values.len()` is not a multiple of `dim`, or there are fewer than 2 vectors.
    pub fn fit(values: &[f32], dim: usize) -> Self {
        assert!(dim > 0 && values.len().is_multiple_of(dim), "values are not [n, {dim}]");
        let n = values.len() / dim;
        assert!(n >= 2, "a covariance needs at least 2 vectors, got {n}");
        let x = DMatrix::from_row_iterator(n, dim, values.iter().map(|&v| f64::from(v)));
        let mean = x.row_mean().transpose();
        let centred = DMatrix::from_fn(n, dim, |i, j| x[(i, j)] - mean[j]);
        let cov = centred.transpose() * &centred / (n as f64 - 1.0);
        Self { mean, cov, n }
    }
}

/// The symmetric square root of a symmetric positive semi-definite matrix (eigenvalues
/// below 0 from rounding count as 0).
pub fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = symmetric(m).symmetric_eigen();
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// tr (Σ₁Σ₂)^½ for symmetric positive semi-definite Σ₁, Σ₂.
pub fn trace_sqrt_product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let ra = sqrt_psd(a);
    let m = symmetric(&(&ra * b * &ra));
    m.symmetric_eigenvalues().iter().map(|&l| l.max(0.0).sqrt()).sum()
}

/// The squared Fréchet distance between two Gaussians (in the features' units squared).
///
/// # Panics
/// If the two have different dimensions.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    assert_eq!(a.mean.len(), b.mean.len(), "statistics of features of different lengths");
    let d = (&a.mean - &b.mean).norm_squared();
    let value = d + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt_product(&a.cov, &b.cov);
    // Exact arithmetic cannot give a negative value; rounding can, by a hair.
    value.max(0.0)
}

/// (m + mᵀ)/2: removes the asymmetry rounding leaves in products that are symmetric in theory.
fn symmetric(m: &DMatrix<f64>) -> DMatrix<f64> {
    (m + m.transpose()) * 0.5
}
