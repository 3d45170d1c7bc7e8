//! A regular grid over a 2-D box: where the energy of a 2-D model is evaluated, for its
//! exact log-likelihood (`eval::grid`), its density pictures and the app's landscape.

use super::toy2d::Toy2d;

/// A regular grid of `n × n` cells over the box [lo₀, hi₀] × [lo₁, hi₁].
///
/// Cell (ix, iy), 0 ≤ ix, iy < n, spans [lo₀ + ix·h₀, lo₀ + (ix+1)·h₀) ×
/// [lo₁ + iy·h₁, lo₁ + (iy+1)·h₁) with hᵢ = (hiᵢ − loᵢ)/n; its flat index is `iy·n + ix`
/// (x varies fastest), the order of [`Grid::points`] and of the energies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    pub lo: [f32; 2],
    pub hi: [f32; 2],
    /// Cells per side.
    pub n: usize,
}

impl Grid {
    /// A grid of `n × n` cells over [lo₀, hi₀] × [lo₁, hi₁].
    ///
    /// # Panics
    /// If `n` is 0 or the box is empty (hiᵢ ≤ loᵢ) or not finite.
    pub fn new(lo: [f32; 2], hi: [f32; 2], n: usize) -> Self {
        assert!(n > 0, "a grid needs at least one cell per side");
        for d in 0..2 {
            assert!(lo[d].is_finite() && hi[d].is_finite() && lo[d] < hi[d], "empty grid box {lo:?}..{hi:?}");
        }
        Grid { lo, hi, n }
    }

    /// The toy's default box ([`Toy2d::domain`]) at its recommended resolution
    /// ([`Toy2d::grid_cells`]).
    pub fn for_toy(toy: Toy2d) -> Self {
        let (lo, hi) = toy.domain();
        Grid::new(lo, hi, toy.grid_cells())
    }

    /// Number of cells, n².
    pub fn len(&self) -> usize {
        self.n * self.n
    }

    /// Whether the grid has no cells (never, for a grid made by [`Grid::new`]).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Cell side lengths [h₀, h₁].
    pub fn cell_size(&self) -> [f64; 2] {
        [0, 1].map(|d| (f64::from(self.hi[d]) - f64::from(self.lo[d])) / self.n as f64)
    }

    /// Cell area h₀·h₁.
    pub fn cell_area(&self) -> f64 {
        let [h0, h1] = self.cell_size();
        h0 * h1
    }

    /// The cell centres, flat `[n·n, 2]` (x₀ of cell 0, x₁ of cell 0, x₀ of cell 1, …), in
    /// the flat cell order `iy·n + ix`: the points at which to evaluate the energy.
    pub fn points(&self) -> Vec<f32> {
        let [h0, h1] = self.cell_size();
        let centre = |d: usize, i: usize, h: f64| (f64::from(self.lo[d]) + (i as f64 + 0.5) * h) as f32;
        let mut points = Vec::with_capacity(2 * self.len());
        for iy in 0..self.n {
            for ix in 0..self.n {
                points.extend([centre(0, ix, h0), centre(1, iy, h1)]);
            }
        }
        points
    }

    /// Flat index of the cell that contains `x`. A point outside the box gets the nearest
    /// edge cell (each coordinate clamped into the box); cells are closed below and open
    /// above, except that the upper edge of the box belongs to the last cell.
    pub fn cell_index(&self, x: [f32; 2]) -> usize {
        let i = [0, 1].map(|d| {
            let (lo, hi) = (f64::from(self.lo[d]), f64::from(self.hi[d]));
            // Multiplying before dividing keeps cell edges that are round numbers exact.
            let t = ((f64::from(x[d]) - lo) * self.n as f64 / (hi - lo)).floor();
            t.clamp(0.0, (self.n - 1) as f64) as usize
        });
        i[1] * self.n + i[0]
    }
}
