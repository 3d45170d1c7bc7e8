//! Exact evaluation of a 2-D energy-based model by normalising on a grid (docs/algorithm.md §10).
//!
//! The model's density is p(x) = exp(−E(x)) / Z. In two dimensions Z can be computed
//! outright: evaluate E at the centres of an n × n grid of cells over a box that holds
//! essentially all the mass, and sum. The caller evaluates the energies (on the GPU) at
//! [`Grid::points`]; the functions here do the rest in f64.
//!
//! **The grid density.** We evaluate the model as the piecewise-constant density that
//! takes, on each cell, the value at the cell's centre:
//! q(x) = exp(−E(cᵢ)) / Z_h for x in cell i, with Z_h = Σᵢ exp(−E(cᵢ)) · (cell area), the
//! midpoint rule. q integrates to exactly 1 over the box, so an average log-likelihood under
//! q is the log-likelihood of a proper density: it cannot beat the data's E_p[log p] in
//! expectation (Gibbs' inequality), and it is exact for densities that are constant on
//! cells (the checkerboard on a grid whose cell edges lie on the squares' edges). For a
//! smooth density the loss against p is KL(p ‖ q) ≈ h²/24 · E_p‖∇log p‖² for square cells
//! of side h: about h²/12σ² for a Gaussian of standard deviation σ, so h ≈ σ/3 costs
//! ~0.01 nats (see `Toy2d::grid_cells`).
//!
//! We chose this over bilinear interpolation of −E between centres: interpolation has an
//! error of the same order for smooth energies, is not exactly normalised by the
//! midpoint-rule Z, and smears a discontinuous energy (the checkerboard's edges) over a
//! whole cell, costing samples near an edge the full energy jump.
//!
//! All log-densities and log-likelihoods are in nats.

pub use crate::data::grid::Grid;

/// log Z_h = log Σᵢ exp(−Eᵢ) + log(cell area): the log normaliser of exp(−E) over the grid's
/// box by the midpoint rule, in f64 with a log-sum-exp.
///
/// `energies`: E at [`Grid::points`], shape `[n·n]`, in the flat cell order. An energy of
/// +∞ is a cell of zero density. A NaN energy gives a NaN log Z (a diverged model); all +∞
/// gives −∞.
///
/// # Panics
/// If `energies.len() != grid.len()`.
pub fn log_partition(grid: &Grid, energies: &[f32]) -> f64 {
    assert_eq!(energies.len(), grid.len(), "one energy per grid cell");
    let neg_energy = || energies.iter().map(|&e| -f64::from(e));
    // A NaN must win the max, or it would be dropped by f64::max and hidden.
    let max = neg_energy()
        .fold(f64::NEG_INFINITY, |m, a| if a.is_nan() || m.is_nan() { f64::NAN } else { m.max(a) });
    if max.is_nan() || max == f64::NEG_INFINITY {
        return max;
    }
    let sum: f64 = neg_energy().map(|a| (a - max).exp()).sum();
    max + sum.ln() + grid.cell_area().ln()
}

/// Log-densities log q(x) = −E(cell of x) − log Z_h of the grid density at each sample,
/// nats, shape `[samples.len()]`. `energies` as for [`log_partition`]; samples outside the
/// box take the value of the nearest edge cell ([`Grid::cell_index`]), so the box should
/// hold essentially all the data.
///
/// # Panics
/// If `energies.len() != grid.len()`.
pub fn log_densities(grid: &Grid, energies: &[f32], samples: &[[f32; 2]]) -> Vec<f64> {
    let log_z = log_partition(grid, energies);
    samples.iter().map(|&x| -f64::from(energies[grid.cell_index(x)]) - log_z).collect()
}

/// Average log-likelihood (1/N) Σⱼ log q(xⱼ) of held-out samples under the grid density
/// ([`log_densities`]), nats per sample. NaN for no samples.
///
/// # Panics
/// If `energies.len() != grid.len()`.
pub fn average_log_likelihood(grid: &Grid, energies: &[f32], samples: &[[f32; 2]]) -> f64 {
    let total: f64 = log_densities(grid, energies, samples).iter().sum();
    total / samples.len() as f64
}

/// How well samples cover the modes of a Gaussian mixture (the mode counts of the GAN and
/// EBM literature, e.g. VEEGAN and PacGAN on 8 and 25 gaussians).
#[derive(Clone, Debug, PartialEq)]
pub struct ModeCoverage {
    /// Samples within the threshold of each mode (a sample counts for its nearest mode
    /// only), shape `[modes.len()]`.
    pub per_mode: Vec<usize>,
    /// Modes with at least one sample within the threshold. Callers that want to ignore
    /// stray samples can apply their own minimum to `per_mode`.
    pub modes_reached: usize,
    /// Fraction of the samples within the threshold of some mode ("high-quality samples");
    /// NaN for no samples.
    pub near_fraction: f64,
}

/// Counts which modes the samples reach: a sample is near a mode when its distance to
/// the mode's centre is below `threshold_stds · std` (3 is the usual choice).
///
/// `samples`: shape `[N, 2]`; `modes`: the centres, shape `[K, 2]`; `std`: the components'
/// standard deviation (both as in `Toy2d::modes`). Non-finite samples are near nothing.
pub fn mode_coverage(
    samples: &[[f32; 2]],
    modes: &[[f32; 2]],
    std: f32,
    threshold_stds: f32,
) -> ModeCoverage {
    let radius = f64::from(threshold_stds) * f64::from(std);
    let mut per_mode = vec![0; modes.len()];
    let mut near = 0;
    for x in samples {
        let distance =
            |c: &[f32; 2]| (f64::from(x[0]) - f64::from(c[0])).hypot(f64::from(x[1]) - f64::from(c[1]));
        let nearest = modes.iter().map(distance).enumerate().min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((k, d)) = nearest
            && d < radius
        {
            per_mode[k] += 1;
            near += 1;
        }
    }
    ModeCoverage {
        modes_reached: per_mode.iter().filter(|&&c| c > 0).count(),
        near_fraction: near as f64 / samples.len() as f64,
        per_mode,
    }
}
