//! The 2-D toys against their definitions, and the grid evaluator against densities whose
//! normaliser and expected log-likelihood are known (docs/reference.md, last section). CPU only.

use std::f64::consts::{LN_2, PI};

use dualmcmc::data::toy2d::Toy2d;
use dualmcmc::eval::grid::{self, Grid};
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};

/// Monte-Carlo sample size for the moment checks: standard errors of ~0.005·std.
const N: usize = 40_000;

fn f64s(x: [f32; 2]) -> [f64; 2] {
    x.map(f64::from)
}

fn mean_and_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// `a` within `tol` of `b`, with a message naming what is compared.
fn assert_near(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol})");
}

/// Angle wrapped into (−π, π].
fn wrap(angle: f64) -> f64 {
    let a = angle.rem_euclid(2.0 * PI);
    if a > PI { a - 2.0 * PI } else { a }
}

// ---------------------------------------------------------------- names and seeding

#[test]
fn names_round_trip_and_aliases_parse() {
    for toy in Toy2d::ALL {
        assert_eq!(toy.to_string().parse::<Toy2d>(), Ok(toy));
    }
    let names: Vec<String> = Toy2d::ALL.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        names,
        ["8gaussians", "25gaussians", "rings", "checkerboard", "moons", "swissroll", "pinwheel", "2spirals"]
    );
    for (alias, toy) in [
        ("8-gaussians", Toy2d::EightGaussians),
        ("Eight_Gaussians", Toy2d::EightGaussians),
        ("25_gaussians", Toy2d::TwentyFiveGaussians),
        ("two-moons", Toy2d::TwoMoons),
        ("swiss roll", Toy2d::SwissRoll),
        ("two_spirals", Toy2d::TwoSpirals),
        (" CHECKERBOARD ", Toy2d::Checkerboard),
    ] {
        assert_eq!(alias.parse::<Toy2d>(), Ok(toy), "{alias}");
    }
    let err = "9gaussians".parse::<Toy2d>().unwrap_err().to_string();
    assert!(err.contains("9gaussians") && err.contains("2spirals"), "{err}");
}

#[test]
fn sampling_is_reproducible_from_the_seed() {
    for toy in Toy2d::ALL {
        let a = toy.sample(257, 7);
        assert_eq!(a.len(), 257);
        assert_eq!(a, toy.sample(257, 7), "{toy}: same seed");
        assert_ne!(a, toy.sample(257, 8), "{toy}: another seed");
        // A stream of batches from one generator continues; it does not repeat.
        let mut rng = StdRng::seed_from_u64(7);
        let (first, second) = (toy.sample_with(100, &mut rng), toy.sample_with(100, &mut rng));
        assert_eq!(first, a[..100]);
        assert_ne!(first, second);
        assert!(a.iter().flatten().all(|v| v.is_finite()));
    }
}

#[test]
fn domains_hold_essentially_all_the_mass() {
    for toy in Toy2d::ALL {
        let (lo, hi) = toy.domain();
        let samples = toy.sample(100_000, 11);
        let outside = samples.iter().filter(|x| (0..2).any(|d| x[d] < lo[d] || x[d] > hi[d])).count();
        assert!(outside <= 10, "{toy}: {outside} of 100000 samples outside {lo:?}..{hi:?}");
    }
}

// ---------------------------------------------------------------- the mixtures

/// The two mixtures as their sources define them: (centres, std), before the final divisor.
fn eight_gaussians_definition() -> (Vec<[f64; 2]>, f64) {
    let s = 1.0 / 2f64.sqrt();
    let unit = [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [s, s], [s, -s], [-s, s], [-s, -s]];
    let centres = unit.iter().map(|&[x, y]| [4.0 * x / 1.414, 4.0 * y / 1.414]).collect();
    (centres, 0.5 / 1.414)
}

fn twenty_five_gaussians_definition() -> (Vec<[f64; 2]>, f64) {
    let centres =
        (-2..=2).flat_map(|i| (-2..=2).map(move |j| [2.0 * i as f64 / 2.828, 2.0 * j as f64 / 2.828]));
    (centres.collect(), 0.05 / 2.828)
}

/// −log p(x) of an equally weighted isotropic mixture, written out from its definition.
fn mixture_energy(centres: &[[f64; 2]], std: f64, x: [f64; 2]) -> f64 {
    let var = std * std;
    let density: f64 = centres
        .iter()
        .map(|c| (-((x[0] - c[0]).powi(2) + (x[1] - c[1]).powi(2)) / (2.0 * var)).exp() / (2.0 * PI * var))
        .sum::<f64>()
        / centres.len() as f64;
    -density.ln()
}

/// Samples of a mixture toy match its definition: `modes()` gives the defined centres and
/// std; assigned to the nearest centre, each cluster has the centre as mean, the std per
/// coordinate, and 1/K of the samples.
fn check_mixture(toy: Toy2d, (centres, std): (Vec<[f64; 2]>, f64)) {
    let mixture = toy.modes().expect("a mixture toy has modes");
    assert_eq!(mixture.centres.len(), centres.len());
    for (got, want) in mixture.centres.iter().zip(&centres) {
        assert_near(got[0].into(), want[0], 1e-6, "centre x");
        assert_near(got[1].into(), want[1], 1e-6, "centre y");
    }
    assert_near(mixture.std.into(), std, 1e-7, "std");

    let k = centres.len();
    let samples = toy.sample(N, 1);
    let mut clusters = vec![Vec::new(); k];
    for &x in &samples {
        let x = f64s(x);
        let nearest = (0..k)
            .min_by(|&a, &b| {
                let d = |c: [f64; 2]| (x[0] - c[0]).hypot(x[1] - c[1]);
                d(centres[a]).total_cmp(&d(centres[b]))
            })
            .unwrap();
        clusters[nearest].push(x);
    }
    let share = 1.0 / k as f64;
    for (c, points) in centres.iter().zip(&clusters) {
        let m = points.len() as f64;
        // Binomial counts: 5 standard deviations.
        assert_near(
            m / N as f64,
            share,
            5.0 * (share * (1.0 - share) / N as f64).sqrt(),
            &format!("{toy} share"),
        );
        for d in 0..2 {
            let (mean, sd) = mean_and_std(points.iter().map(|x| x[d]));
            assert_near(mean, c[d], 5.0 * std / m.sqrt(), &format!("{toy} cluster mean"));
            assert_near(sd, std, 5.0 * std / (2.0 * m).sqrt(), &format!("{toy} cluster std"));
        }
    }
}

#[test]
fn eight_gaussians_match_the_ffjord_definition() {
    check_mixture(Toy2d::EightGaussians, eight_gaussians_definition());
}

#[test]
fn twenty_five_gaussians_match_the_wgan_gp_definition() {
    check_mixture(Toy2d::TwentyFiveGaussians, twenty_five_gaussians_definition());
}

#[test]
fn only_the_mixtures_have_modes() {
    for toy in Toy2d::ALL {
        let mixture = matches!(toy, Toy2d::EightGaussians | Toy2d::TwentyFiveGaussians);
        assert_eq!(toy.modes().is_some(), mixture, "{toy}");
    }
}

#[test]
fn mixture_log_density_is_the_definition() {
    for (toy, (centres, std)) in [
        (Toy2d::EightGaussians, eight_gaussians_definition()),
        (Toy2d::TwentyFiveGaussians, twenty_five_gaussians_definition()),
    ] {
        let mixture = toy.modes().unwrap();
        for x in toy.sample(200, 3) {
            let want = -mixture_energy(&centres, std, f64s(x));
            assert_near(mixture.log_density(x), want, 1e-4 * want.abs().max(1.0), &format!("{toy} log p"));
        }
        // Far from every mode the log-sum-exp keeps it finite.
        assert!(mixture.log_density([50.0, 50.0]).is_finite());
    }
}

// ---------------------------------------------------------------- the other toys

#[test]
fn checkerboard_is_uniform_on_the_eight_even_squares() {
    let samples = Toy2d::Checkerboard.sample(N, 2);
    let mut counts = std::collections::BTreeMap::new();
    let mut sums = std::collections::BTreeMap::new();
    for &[x, y] in &samples {
        assert!((-4.0..4.0).contains(&x) && (-4.0..4.0).contains(&y), "({x}, {y}) outside [−4, 4)²");
        let square = ((x / 2.0).floor() as i32, (y / 2.0).floor() as i32);
        assert_eq!((square.0 + square.1).rem_euclid(2), 0, "({x}, {y}) in an empty square");
        *counts.entry(square).or_insert(0usize) += 1;
        let s = sums.entry(square).or_insert([0.0f64; 2]);
        s[0] += f64::from(x);
        s[1] += f64::from(y);
    }
    assert_eq!(counts.len(), 8);
    for (&(i, j), &m) in &counts {
        assert_near(m as f64 / N as f64, 0.125, 5.0 * (0.125 * 0.875 / N as f64).sqrt(), "square share");
        // Uniform within the square: mean at its centre (std of a coordinate is 2/√12).
        let tol = 5.0 * (2.0 / 12f64.sqrt()) / (m as f64).sqrt();
        assert_near(sums[&(i, j)][0] / m as f64, 2.0 * i as f64 + 1.0, tol, "square mean x");
        assert_near(sums[&(i, j)][1] / m as f64, 2.0 * j as f64 + 1.0, tol, "square mean y");
    }
}

#[test]
fn rings_have_radii_3_2p25_1p5_0p75_with_noise_0p08() {
    let radii = [0.75, 1.5, 2.25, 3.0];
    let mut residuals = vec![Vec::new(); 4];
    let (mut cos, mut sin) = (0.0, 0.0);
    for x in Toy2d::Rings.sample(N, 4) {
        let x = f64s(x);
        let r = x[0].hypot(x[1]);
        let ring = (0..4).min_by(|&a, &b| (r - radii[a]).abs().total_cmp(&(r - radii[b]).abs())).unwrap();
        assert!((r - radii[ring]).abs() < 0.6, "radius {r} far from every ring");
        residuals[ring].push(r - radii[ring]);
        cos += x[1].atan2(x[0]).cos();
        sin += x[1].atan2(x[0]).sin();
    }
    for (ring, res) in residuals.iter().enumerate() {
        let m = res.len() as f64;
        assert_near(m / N as f64, 0.25, 5.0 * (0.1875 / N as f64).sqrt(), "ring share");
        // Radial part of N(0, 0.08²·I): std 0.08 (plus a bias ≈ σ²/2r from the curvature).
        let (mean, sd) = mean_and_std(res.iter().copied());
        assert_near(
            mean,
            0.0,
            0.08f64.powi(2) / (2.0 * radii[ring]) + 5.0 * 0.08 / m.sqrt(),
            "ring radial mean",
        );
        assert_near(sd, 0.08, 0.006, "ring radial std");
    }
    // Uniform angle.
    assert_near(cos / N as f64, 0.0, 0.02, "mean cos");
    assert_near(sin / N as f64, 0.0, 0.02, "mean sin");
}

#[test]
fn moons_have_the_scaled_scikit_learn_shape() {
    let samples: Vec<[f64; 2]> = Toy2d::TwoMoons.sample(N, 5).into_iter().map(f64s).collect();
    // make_moons: the half circles have centroids (0, 2/π) and (1, ½ − 2/π), so the data
    // mean is (½, ¼); times 2, shifted by (−1, −0.2): (0, 0.3).
    let (mx, sx) = mean_and_std(samples.iter().map(|x| x[0]));
    let (my, sy) = mean_and_std(samples.iter().map(|x| x[1]));
    assert_near(mx, 0.0, 5.0 * sx / (N as f64).sqrt(), "mean x");
    assert_near(my, 0.3, 5.0 * sy / (N as f64).sqrt(), "mean y");
    // Every point lies near one of the two circles of radius 2 (centres (−1, −0.2) and
    // (1, 0.8) after the scaling), off by the radial noise, std 0.2.
    let off: Vec<f64> = samples
        .iter()
        .map(|x| {
            let d = |c: [f64; 2]| ((x[0] - c[0]).hypot(x[1] - c[1]) - 2.0).abs();
            d([-1.0, -0.2]).min(d([1.0, 0.8]))
        })
        .collect();
    assert!(off.iter().all(|&o| o < 1.2), "a point far from both moons");
    // E|N(0, 0.2²)| = 0.2·√(2/π) = 0.16, slightly less where the circles come close.
    let mean_off = off.iter().sum::<f64>() / N as f64;
    assert!((0.13..0.17).contains(&mean_off), "mean distance to the moons {mean_off}");
}

#[test]
fn swiss_roll_matches_its_moments() {
    // t ~ U[1.5π, 4.5π], x = (t cos t + ε₁, t sin t + ε₂)/5: E t cos t = 6π/3π = 2,
    // E t sin t = 2/3π, E(t² + ε₁² + ε₂²) = π²·9.75 + 2.
    let samples: Vec<[f64; 2]> = Toy2d::SwissRoll.sample(N, 6).into_iter().map(f64s).collect();
    let (mx, sx) = mean_and_std(samples.iter().map(|x| x[0]));
    let (my, sy) = mean_and_std(samples.iter().map(|x| x[1]));
    assert_near(mx, 2.0 / 5.0, 5.0 * sx / (N as f64).sqrt(), "mean x");
    assert_near(my, 2.0 / (3.0 * PI) / 5.0, 5.0 * sy / (N as f64).sqrt(), "mean y");
    let (r2, sr2) = mean_and_std(samples.iter().map(|x| x[0] * x[0] + x[1] * x[1]));
    assert_near(r2, (PI * PI * 9.75 + 2.0) / 25.0, 5.0 * sr2 / (N as f64).sqrt(), "mean squared radius");
    // The roll spans radii 1.5π/5 = 0.94 to 4.5π/5 = 2.83, blurred by noise 0.2.
    let radii = samples.iter().map(|x| x[0].hypot(x[1]));
    assert!(radii.clone().all(|r| r < 2.83 + 1.2));
    assert!(radii.clone().fold(f64::INFINITY, f64::min) < 1.0);
    assert!(radii.fold(0.0, f64::max) > 2.8);
}

#[test]
fn pinwheel_arms_follow_the_rotation_rule() {
    let samples: Vec<[f64; 2]> = Toy2d::Pinwheel.sample(N, 7).into_iter().map(f64s).collect();
    // E‖x‖² = 4·(E radial² + E tangential²) = 4·(1 + 0.09 + 0.01).
    let (r2, sr2) = mean_and_std(samples.iter().map(|x| x[0] * x[0] + x[1] * x[1]));
    assert_near(r2, 4.4, 5.0 * sr2 / (N as f64).sqrt(), "mean squared radius");
    // The definition: x = 2·R(−a)·(radial, tangential), a = 2πk/5 + 0.25·e^radial. Undo it:
    // start from radial ≈ ‖x‖/2, find the arm k from the polar angle, rotate back by a,
    // and repeat with the recovered radial (the first guess is off by tangential²/2, which
    // would bias the tangential feature by ~0.003).
    let sector = 2.0 * PI / 5.0;
    let mut arms = [0usize; 5];
    let (mut radial, mut tangential) = (Vec::new(), Vec::new());
    for x in &samples {
        let [ox, oy] = [x[0] / 2.0, x[1] / 2.0];
        let (mut r, mut t, mut k) = (ox.hypot(oy), 0.0, 0.0);
        for _ in 0..3 {
            let spin = 0.25 * r.exp();
            k = (-(oy.atan2(ox) + spin) / sector).round();
            let (sin, cos) = (k * sector + spin).sin_cos();
            (r, t) = (cos * ox - sin * oy, sin * ox + cos * oy);
        }
        arms[(k as i64).rem_euclid(5) as usize] += 1;
        radial.push(r);
        tangential.push(t);
    }
    let (r_mean, r_std) = mean_and_std(radial.iter().copied());
    let (t_mean, t_std) = mean_and_std(tangential.iter().copied());
    assert_near(r_mean, 1.0, 0.01, "radial mean");
    assert_near(r_std, 0.3, 0.01, "radial std");
    assert_near(t_mean, 0.0, 0.003, "tangential mean");
    assert_near(t_std, 0.1, 0.005, "tangential std");
    for m in arms {
        assert_near(m as f64 / N as f64, 0.2, 5.0 * (0.16 / N as f64).sqrt(), "arm share");
    }
}

#[test]
fn two_spirals_turn_540_degrees() {
    let samples: Vec<[f64; 2]> = Toy2d::TwoSpirals.sample(N, 8).into_iter().map(f64s).collect();
    // Symmetric under x → −x: mean 0.
    for d in 0..2 {
        let (m, s) = mean_and_std(samples.iter().map(|x| x[d]));
        assert_near(m, 0.0, 5.0 * s / (N as f64).sqrt(), "mean");
    }
    // Unscaled, a point is s·(−cos s, sin s) (polar angle π − s) or its negation (−s), with
    // s = 3π√U up to 3π: radius 3‖x‖ ≈ s. The jitter and noise (~0.35 unscaled) move the
    // radius, and so the predicted angle, by ~0.35 rad.
    let mut on_spiral = 0;
    let mut far = 0;
    for x in &samples {
        let s = 3.0 * x[0].hypot(x[1]);
        if s < 3.0 {
            continue; // near the centre the angle is noise
        }
        far += 1;
        let phi = x[1].atan2(x[0]);
        if wrap(phi + s - PI).abs().min(wrap(phi + s).abs()) < 1.0 {
            on_spiral += 1;
        }
    }
    assert!(on_spiral as f64 > 0.97 * far as f64, "only {on_spiral} of {far} points on a spiral");
    // s ≤ 3π: radius at most π/1 + jitter and noise.
    let max_r = samples.iter().map(|x| x[0].hypot(x[1])).fold(0.0, f64::max);
    assert!((3.0..3.9).contains(&max_r), "largest radius {max_r}");
}

// ---------------------------------------------------------------- the grid evaluator

#[test]
fn grid_points_are_cell_centres_x_fastest() {
    let g = Grid::new([-1.0, 0.0], [1.0, 4.0], 2);
    assert_eq!(g.points(), [-0.5, 1.0, 0.5, 1.0, -0.5, 3.0, 0.5, 3.0]);
    assert_eq!(g.len(), 4);
    assert_near(g.cell_area(), 2.0, 1e-12, "cell area");
    // Cells are closed below; points outside the box go to the nearest edge cell.
    assert_eq!(g.cell_index([0.0, 2.0]), 3);
    assert_eq!(g.cell_index([-0.1, 1.9]), 0);
    assert_eq!(g.cell_index([-9.0, -9.0]), 0);
    assert_eq!(g.cell_index([9.0, 1.0]), 1);
    assert_eq!(g.cell_index([1.0, 4.0]), 3);
    for (i, c) in g.points().chunks(2).enumerate() {
        assert_eq!(g.cell_index([c[0], c[1]]), i);
    }
}

/// Energies at the grid's points.
fn energies(g: &Grid, energy: impl Fn([f64; 2]) -> f64) -> Vec<f32> {
    g.points().chunks(2).map(|p| energy([p[0].into(), p[1].into()]) as f32).collect()
}

#[test]
fn standard_normal_log_z_and_log_likelihood() {
    // E(x) = ‖x‖²/2: Z = 2π, and E_p[log p] = −(1 + log 2π) = −2.8379.
    let g = Grid::new([-8.0, -8.0], [8.0, 8.0], 400);
    let e = energies(&g, |x| (x[0] * x[0] + x[1] * x[1]) / 2.0);
    // The midpoint rule on a Gaussian is accurate far beyond the f32 energies.
    assert_near(grid::log_partition(&g, &e), (2.0 * PI).ln(), 1e-5, "log Z");

    let mut rng = StdRng::seed_from_u64(9);
    let samples: Vec<[f32; 2]> =
        (0..200_000).map(|_| [StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng)]).collect();
    let ll = grid::average_log_likelihood(&g, &e, &samples);
    // Var(log p) = Var(χ²₂/2) = 1: standard error 0.0022.
    eprintln!("standard normal: average log-likelihood {ll:.4} nats (exact −2.8379)");
    assert_near(ll, -(1.0 + (2.0 * PI).ln()), 0.01, "average log-likelihood");
    // Against the exact log-density of the same samples, only the cell discretisation
    // remains: KL = h²/12 = 1.3e-4 for h = 0.04.
    let exact = samples.iter().map(|x| -(f64s(*x)[0].powi(2) + f64s(*x)[1].powi(2)) / 2.0).sum::<f64>()
        / samples.len() as f64
        - (2.0 * PI).ln();
    assert_near(ll, exact, 1e-3, "grid vs exact log-likelihood");
    assert!(ll <= exact + 1e-4, "a proper density beats the truth: {ll} > {exact}");
}

#[test]
fn exact_checkerboard_energy_gives_minus_log_32() {
    // E = 0 on the 8 occupied squares, large outside; 180 cells over [−4.5, 4.5] put cell
    // edges on the squares' edges, so the grid density is the true one: log p = −log 32
    // for every sample, exactly.
    let g = Grid::for_toy(Toy2d::Checkerboard);
    assert_eq!((g.lo, g.hi, g.n), ([-4.5, -4.5], [4.5, 4.5], 180));
    let occupied = |x: [f64; 2]| {
        x.iter().all(|v| v.abs() < 4.0)
            && ((x[0] / 2.0).floor() + (x[1] / 2.0).floor()).rem_euclid(2.0) == 0.0
    };
    let samples = Toy2d::Checkerboard.sample(100_000, 10);
    for outside in [100.0, f64::INFINITY] {
        let e = energies(&g, |x| if occupied(x) { 0.0 } else { outside });
        assert_near(grid::log_partition(&g, &e), 32f64.ln(), 1e-9, "log Z");
        let ll = grid::average_log_likelihood(&g, &e, &samples);
        assert_near(ll, -5.0 * LN_2, 1e-9, "average log-likelihood");
    }
}

#[test]
fn exact_eight_gaussians_energy_gives_the_reference_log_likelihood() {
    // E = −log p of the mixture as defined (not via the crate), so this checks the
    // generator's scaling and the evaluator together. docs/reference.md: E_p[log p] = −2.833
    // (Monte Carlo, 400k); quadrature gives −2.8319. Standard error here 0.0022.
    let (centres, std) = eight_gaussians_definition();
    let (lo, hi) = Toy2d::EightGaussians.domain();
    let g = Grid::new(lo, hi, 360);
    let e = energies(&g, |x| mixture_energy(&centres, std, x));
    // E is normalised, so log Z ≈ 0 (the box misses ~10⁻⁶ of the mass).
    assert_near(grid::log_partition(&g, &e), 0.0, 1e-4, "log Z");
    let samples = Toy2d::EightGaussians.sample(200_000, 12);
    let ll = grid::average_log_likelihood(&g, &e, &samples);
    eprintln!("8 gaussians: average log-likelihood {ll:.4} nats (reference −2.833)");
    assert_near(ll, -2.833, 0.01, "average log-likelihood");
}

#[test]
fn default_grids_cost_little_on_the_mixtures() {
    // At `grid_cells` resolution the grid density loses KL ≈ h²/12σ² against the truth
    // (0.002 for 8 gaussians, 0.008 for 25): compare with the exact log-density of the
    // same samples, so that Monte-Carlo error cancels.
    for (toy, (centres, std), budget) in [
        (Toy2d::EightGaussians, eight_gaussians_definition(), 0.005),
        (Toy2d::TwentyFiveGaussians, twenty_five_gaussians_definition(), 0.015),
    ] {
        let g = Grid::for_toy(toy);
        let e = energies(&g, |x| mixture_energy(&centres, std, x));
        let samples = toy.sample(50_000, 13);
        let ll = grid::average_log_likelihood(&g, &e, &samples);
        let exact = -samples.iter().map(|&x| mixture_energy(&centres, std, f64s(x))).sum::<f64>()
            / samples.len() as f64;
        eprintln!("{toy}: grid {ll:.4} vs exact {exact:.4} nats on the same samples");
        assert!(ll <= exact && exact - ll < budget, "{toy}: grid {ll} vs exact {exact}");
    }
}

#[test]
fn mode_coverage_counts_modes_and_near_samples() {
    for toy in [Toy2d::EightGaussians, Toy2d::TwentyFiveGaussians] {
        let mixture = toy.modes().unwrap();
        let k = mixture.centres.len();
        let samples = toy.sample(N, 14);
        let cover = grid::mode_coverage(&samples, &mixture.centres, mixture.std, 3.0);
        assert_eq!(cover.modes_reached, k, "{toy}");
        assert_eq!(cover.per_mode.iter().sum::<usize>() as f64 / N as f64, cover.near_fraction);
        // P(‖N(0, σ²I)‖ < 3σ) in 2-D = 1 − e^(−9/2) = 0.9889 (8 gaussians: +0.002 of samples
        // that stray 3σ from their own mode but come within 3σ of a neighbour 6σ away).
        assert_near(cover.near_fraction, 1.0 - (-4.5f64).exp(), 0.004, "near fraction");

        // Drop the samples of one mode: one fewer reached, the rest unchanged.
        let c = mixture.centres[0];
        let kept: Vec<[f32; 2]> = samples
            .iter()
            .copied()
            .filter(|x| (x[0] - c[0]).hypot(x[1] - c[1]) > 6.0 * mixture.std)
            .collect();
        let cover = grid::mode_coverage(&kept, &mixture.centres, mixture.std, 3.0);
        assert_eq!(cover.modes_reached, k - 1, "{toy}");
        assert_eq!(cover.per_mode[0], 0);
    }
    // Samples far from every mode are near none; non-finite ones too.
    let mixture = Toy2d::EightGaussians.modes().unwrap();
    let cover = grid::mode_coverage(&[[0.0, 0.0], [f32::NAN, 0.0]], &mixture.centres, mixture.std, 3.0);
    assert_eq!((cover.modes_reached, cover.near_fraction), (0, 0.0));
}
