//! The 2-D toy distributions of the EBM and normalising-flow literature (docs/algorithm.md §7).
//!
//! Definitions and scalings follow `inf_train_gen` in FFJORD's `lib/toy_data.py`
//! (Grathwohl et al. 2019; rings and checkerboard from its later revisions), which most
//! EBM papers reuse unchanged. 25 gaussians is not in FFJORD; it follows the toy of
//! WGAN-GP's `gan_toy.py` (Gulrajani et al. 2017), where the name comes from.
//!
//! Where the originals lay points out deterministically over a batch (evenly spaced angles
//! on the rings and moons, equal counts per ring, arm or mode), we draw the same quantity
//! at random, so that every sample is i.i.d. from the distribution the batch approximates:
//! a uniform angle instead of `linspace`, a uniformly chosen component instead of equal
//! counts. The distributions are the same; only batch-to-batch correlations differ.
//!
//! Points are computed in f64 and returned as f32 pairs: `Vec<[f32; 2]>` is the `[n, 2]`
//! row-major layout the GPU wants (`.as_flattened()` gives the flat `&[f32]`).

use std::f64::consts::{PI, SQRT_2};
use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::StandardNormal;

/// One of the eight standard 2-D toy distributions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Toy2d {
    /// Eight isotropic Gaussians on a circle (FFJORD): centres 4·(±1, 0), 4·(0, ±1),
    /// 4·(±1/√2, ±1/√2), standard deviation 0.5, everything then divided by 1.414.
    /// Final radius 2.829, standard deviation 0.354. E_p[log p] = −2.832 nats.
    EightGaussians,
    /// A 5×5 grid of isotropic Gaussians (WGAN-GP): centres 2·(i, j) for i, j ∈ {−2, …, 2},
    /// standard deviation 0.05, everything then divided by 2.828. Final spacing 0.707,
    /// standard deviation 0.0177 (the modes are 40 standard deviations apart).
    /// E_p[log p] = −(log 25 + 1 + log 2π + 2 log 0.0177) = +2.014 nats.
    TwentyFiveGaussians,
    /// Four concentric rings of radii 3, 2.25, 1.5, 0.75 (FFJORD: radii 1, ¾, ½, ¼ times 3),
    /// each with probability ¼ and a uniform angle, plus N(0, 0.08²) noise per coordinate.
    Rings,
    /// The 4×4 checkerboard on [−4, 4]² (FFJORD): uniform on the 8 squares of side 2 with
    /// ⌊x/2⌋ + ⌊y/2⌋ even. Density 1/32 on its support; E_p[log p] = −log 32 = −3.466 nats.
    Checkerboard,
    /// Two interleaved half circles (scikit-learn `make_moons(noise=0.1)`), then scaled
    /// by 2 and shifted by (−1, −0.2) as in FFJORD: noise N(0, 0.2²) per coordinate.
    TwoMoons,
    /// The swiss roll (scikit-learn `make_swiss_roll(noise=1.0)`, coordinates x and z),
    /// divided by 5 as in FFJORD: t ~ U[1.5π, 4.5π], (t cos t, t sin t)/5 plus
    /// N(0, 0.2²) noise per coordinate.
    SwissRoll,
    /// Five curved arms (FFJORD, after Johnson et al. 2016): radial feature N(1, 0.3²),
    /// tangential feature N(0, 0.1²), rotated by 2πk/5 + 0.25·exp(radial), times 2.
    Pinwheel,
    /// Two interleaved spirals (FFJORD): s = 3π·√U, the point (−s cos s + U₁/2,
    /// s sin s + U₂/2) or its negation, divided by 3, plus N(0, 0.1²) noise per coordinate.
    TwoSpirals,
}

/// An equally weighted mixture of isotropic Gaussians, in the toy's final coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    /// Mode centres.
    pub centres: Vec<[f32; 2]>,
    /// Standard deviation of every component, per coordinate.
    pub std: f32,
}

impl GaussianMixture {
    /// The normalised log-density log p(x) in nats, computed in f64 with a log-sum-exp
    /// over the components (so it stays finite far from every mode).
    pub fn log_density(&self, x: [f32; 2]) -> f64 {
        let var = f64::from(self.std).powi(2);
        let log_norm = -(self.centres.len() as f64).ln() - (2.0 * PI * var).ln();
        let terms = self.centres.iter().map(|c| {
            let dx = f64::from(x[0]) - f64::from(c[0]);
            let dy = f64::from(x[1]) - f64::from(c[1]);
            -(dx * dx + dy * dy) / (2.0 * var)
        });
        log_norm + log_sum_exp(terms)
    }
}

/// Coordinate `2·square + 2u` of a checkerboard point, u ∈ [0, 1), as f32 and strictly below
/// the square's upper edge: rounding to f32 could otherwise land a point on the edge, which
/// belongs to the neighbouring, empty square.
fn in_square(square: i32, u: f64) -> f32 {
    let upper_edge = (2 * square + 2) as f32;
    ((f64::from(2 * square) + 2.0 * u) as f32).min(upper_edge.next_down())
}

/// log Σ exp(aᵢ), stable for large |aᵢ|; −∞ for an empty or all −∞ sequence.
fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + terms.map(|a| (a - max).exp()).sum::<f64>().ln()
}

/// Error for a toy name that [`Toy2d::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown 2-D toy '{0}' (expected one of: {names})", names = Toy2d::ALL.map(|t| t.name()).join(", "))]
pub struct UnknownToy(pub String);

impl Toy2d {
    /// All eight toys, in the order of docs/algorithm.md §7.
    pub const ALL: [Toy2d; 8] = [
        Toy2d::EightGaussians,
        Toy2d::TwentyFiveGaussians,
        Toy2d::Rings,
        Toy2d::Checkerboard,
        Toy2d::TwoMoons,
        Toy2d::SwissRoll,
        Toy2d::Pinwheel,
        Toy2d::TwoSpirals,
    ];

    /// The canonical name, as FFJORD spells it (`8gaussians`, `2spirals`, …).
    pub fn name(self) -> &'static str {
        match self {
            Toy2d::EightGaussians => "8gaussians",
            Toy2d::TwentyFiveGaussians => "25gaussians",
            Toy2d::Rings => "rings",
            Toy2d::Checkerboard => "checkerboard",
            Toy2d::TwoMoons => "moons",
            Toy2d::SwissRoll => "swissroll",
            Toy2d::Pinwheel => "pinwheel",
            Toy2d::TwoSpirals => "2spirals",
        }
    }

    /// `n` i.i.d. points from a generator seeded with `seed` (the same `seed` gives the
    /// same points on every platform). Shape `[n, 2]`.
    pub fn sample(self, n: usize, seed: u64) -> Vec<[f32; 2]> {
        self.sample_with(n, &mut StdRng::seed_from_u64(seed))
    }

    /// `n` i.i.d. points drawn with `rng`: for a stream of fresh training batches from
    /// one seeded generator. Shape `[n, 2]`.
    pub fn sample_with<R: Rng + ?Sized>(self, n: usize, rng: &mut R) -> Vec<[f32; 2]> {
        (0..n).map(|_| self.draw(rng)).collect()
    }

    /// One point, computed in f64.
    fn draw<R: Rng + ?Sized>(self, rng: &mut R) -> [f32; 2] {
        // Two standard normals, used by all toys but the checkerboard.
        let e1: f64 = rng.sample(StandardNormal);
        let e2: f64 = rng.sample(StandardNormal);
        let [x, y] = match self {
            Toy2d::EightGaussians | Toy2d::TwentyFiveGaussians => {
                let (centres, std, divisor) = self.mixture_definition();
                let [cx, cy] = centres[rng.random_range(0..centres.len())];
                [(cx + std * e1) / divisor, (cy + std * e2) / divisor]
            }
            Toy2d::Rings => {
                let radius = 3.0 * [1.0, 0.75, 0.5, 0.25][rng.random_range(0..4)];
                let angle = rng.random_range(0.0..2.0 * PI);
                [radius * angle.cos() + 0.08 * e1, radius * angle.sin() + 0.08 * e2]
            }
            Toy2d::Checkerboard => {
                // FFJORD draws x ~ U[−2, 2), y ~ U[0, 1) − 2·Bernoulli(½) + (⌊x⌋ mod 2) and
                // doubles both: uniform on the squares of side 2 with ⌊x/2⌋ + ⌊y/2⌋ even.
                // The same law, drawn square by square: a column, then one of its two rows
                // of the same parity, then a uniform point in the square.
                let col = rng.random_range(-2..2i32);
                let row = 2 * rng.random_range(-1..1i32) + col.rem_euclid(2);
                let (u, v): (f64, f64) = (rng.random(), rng.random());
                return [in_square(col, u), in_square(row, v)];
            }
            Toy2d::TwoMoons => {
                // scikit-learn: the outer moon (cos t, sin t), the inner one (1 − cos t,
                // ½ − sin t), t ~ U[0, π], then noise 0.1; FFJORD then scales and shifts.
                let t = rng.random_range(0.0..PI);
                let (x, y) =
                    if rng.random::<bool>() { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
                [2.0 * (x + 0.1 * e1) - 1.0, 2.0 * (y + 0.1 * e2) - 0.2]
            }
            Toy2d::SwissRoll => {
                let t = 1.5 * PI * (1.0 + 2.0 * rng.random::<f64>());
                [(t * t.cos() + e1) / 5.0, (t * t.sin() + e2) / 5.0]
            }
            Toy2d::Pinwheel => {
                let arm = f64::from(rng.random_range(0..5u8));
                let (radial, tangential) = (1.0 + 0.3 * e1, 0.1 * e2);
                let angle = 2.0 * PI * arm / 5.0 + 0.25 * radial.exp();
                let (sin, cos) = angle.sin_cos();
                // FFJORD's einsum("ti,tij->tj") with R = [[cos, −sin], [sin, cos]]: the
                // feature row vector times R.
                [2.0 * (radial * cos + tangential * sin), 2.0 * (-radial * sin + tangential * cos)]
            }
            Toy2d::TwoSpirals => {
                // 540° of turn: s = √U · 540 · 2π/360 = 3π√U.
                let s = 3.0 * PI * rng.random::<f64>().sqrt();
                let x = -s.cos() * s + 0.5 * rng.random::<f64>();
                let y = s.sin() * s + 0.5 * rng.random::<f64>();
                let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
                [sign * x / 3.0 + 0.1 * e1, sign * y / 3.0 + 0.1 * e2]
            }
        };
        [x as f32, y as f32]
    }

    /// The mixtures' definitions in their original units: (centres, std, final divisor).
    fn mixture_definition(self) -> (Vec<[f64; 2]>, f64, f64) {
        match self {
            Toy2d::EightGaussians => {
                let d = 1.0 / SQRT_2;
                let unit =
                    [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [d, d], [d, -d], [-d, d], [-d, -d]];
                (unit.iter().map(|&[x, y]| [4.0 * x, 4.0 * y]).collect(), 0.5, 1.414)
            }
            Toy2d::TwentyFiveGaussians => {
                let grid =
                    (-2..=2).flat_map(|i| (-2..=2).map(move |j| [2.0 * f64::from(i), 2.0 * f64::from(j)]));
                (grid.collect(), 0.05, 2.828)
            }
            _ => unreachable!("{self} is not a Gaussian mixture"),
        }
    }

    /// The mixture (mode centres and standard deviation, in the final scaled coordinates)
    /// for 8 and 25 gaussians, for mode counting and their exact log-density; `None` for
    /// the other toys.
    pub fn modes(self) -> Option<GaussianMixture> {
        match self {
            Toy2d::EightGaussians | Toy2d::TwentyFiveGaussians => {
                let (centres, std, divisor) = self.mixture_definition();
                Some(GaussianMixture {
                    centres: centres
                        .iter()
                        .map(|&[x, y]| [(x / divisor) as f32, (y / divisor) as f32])
                        .collect(),
                    std: (std / divisor) as f32,
                })
            }
            _ => None,
        }
    }

    /// A box `(lo, hi)` that holds essentially all the mass (at most ~10⁻⁴ outside, the
    /// bounded toys all of it), for plots and grid evaluation. Square, so that plots are
    /// not distorted; the checkerboard's leaves a 0.5 margin around [−4, 4]².
    pub fn domain(self) -> ([f32; 2], [f32; 2]) {
        let half = match self {
            // Radius 2.83 plus 4.7 standard deviations of 0.354.
            Toy2d::EightGaussians => 4.5,
            // Outermost centres at ±1.414; the standard deviation is 0.018.
            Toy2d::TwentyFiveGaussians => 2.0,
            // Outer radius 3 plus 6 standard deviations of 0.08.
            Toy2d::Rings => 3.5,
            Toy2d::Checkerboard => 4.5,
            // Moons reach x ∈ [−3, 3], y ∈ [−1.2, 1.8] before noise 0.2; the roll radius
            // 2.83, the spirals 3.3 before noise; the pinwheel radius 2·(1 + 4.2·0.3).
            Toy2d::TwoMoons | Toy2d::SwissRoll | Toy2d::TwoSpirals => 4.0,
            Toy2d::Pinwheel => 4.5,
        };
        ([-half, -half], [half, half])
    }

    /// Cells per side for grid evaluation over [`Toy2d::domain`]: fine enough that a cell
    /// is at most about a third of the toy's narrowest scale (its noise standard
    /// deviation), so that the piecewise-constant grid density costs at most ~0.01 nats
    /// on the true density (the loss is about h²/24 · E‖∇log p‖²). The checkerboard's
    /// 180 puts cell edges on the squares' edges (cell side 0.05).
    pub fn grid_cells(self) -> usize {
        match self {
            Toy2d::EightGaussians => 160,              // h = 0.056, std 0.354
            Toy2d::TwentyFiveGaussians => 720,         // h = 0.0056, std 0.0177
            Toy2d::Rings => 280,                       // h = 0.025, noise 0.08
            Toy2d::Checkerboard => 180,                // h = 0.05, aligned with the squares
            Toy2d::TwoMoons | Toy2d::SwissRoll => 160, // h = 0.05, noise 0.2
            Toy2d::Pinwheel => 180,                    // h = 0.05, tangential std 0.2
            Toy2d::TwoSpirals => 240,                  // h = 0.033, noise 0.1
        }
    }
}

impl fmt::Display for Toy2d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Toy2d {
    type Err = UnknownToy;

    /// The canonical names and common aliases, ignoring case and with `_` or a space read
    /// as `-`: `8gaussians` (`8-gaussians`, `eight-gaussians`), `25gaussians`
    /// (`25-gaussians`, `twenty-five-gaussians`, `grid`), `rings`, `checkerboard`
    /// (`checker`), `moons` (`two-moons`, `2moons`), `swissroll` (`swiss-roll`),
    /// `pinwheel`, `2spirals` (`two-spirals`, `spirals`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Ok(match key.as_str() {
            "8gaussians" | "8-gaussians" | "eight-gaussians" | "eightgaussians" => Toy2d::EightGaussians,
            "25gaussians" | "25-gaussians" | "twenty-five-gaussians" | "twentyfive-gaussians" | "grid" => {
                Toy2d::TwentyFiveGaussians
            }
            "rings" | "4rings" | "4-rings" => Toy2d::Rings,
            "checkerboard" | "checker-board" | "checker" => Toy2d::Checkerboard,
            "moons" | "two-moons" | "twomoons" | "2moons" | "2-moons" => Toy2d::TwoMoons,
            "swissroll" | "swiss-roll" => Toy2d::SwissRoll,
            "pinwheel" | "pin-wheel" => Toy2d::Pinwheel,
            "2spirals" | "2-spirals" | "two-spirals" | "twospirals" | "spirals" => Toy2d::TwoSpirals,
            _ => return Err(UnknownToy(s.to_owned())),
        })
    }
}
