//! Shared test helpers: one GPU per test process, seeded random data, tolerance checks.
#![allow(dead_code)]

use dualmcmc::gpu::{AdapterChoice, Gpu};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::sync::OnceLock;

/// The process-wide device (lavapipe in CI). Honours DUALMCMC_ADAPTER / DUALMCMC_BACKEND.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::new(&AdapterChoice::from_env()).expect("tests need a wgpu adapter");
        eprintln!("tests run on {}", gpu.describe());
        gpu
    })
}

/// `n` uniform values in [lo, hi), reproducible from `seed`.
pub fn random(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Asserts |got - want| <= atol + rtol·|want| elementwise, naming the first failure.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(*g) - w).abs();
        assert!(
            err <= atol + rtol * w.abs(),
            "{what}: element {i}: got {g}, want {w} (|err| {err:.3e} > {atol:e} + {rtol:e}·|want|)"
        );
    }
}

/// The sizes the kernels are checked on: not multiples of any workgroup.
pub const AWKWARD: [usize; 4] = [1, 7, 65, 257];
