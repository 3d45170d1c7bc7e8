//! Benchmarks behind `dualmcmc --no-gui bench ...`. Figures are printed together with a
//! reference measured in the same run, since these machines are shared and noisy.

mod app;
mod compare;
mod kernels;
mod layers;
mod train;

pub use app::app;
pub use compare::compare;
pub use kernels::{cpu_matmul_loop, kernels};
pub use layers::layers;
pub use train::train;

use std::time::Instant;

/// Seconds per call of `f`, median of `reps` timed calls after one warm-up call.
pub fn median_seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The median of sorted `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) { 0.5 * (values[mid - 1] + values[mid]) } else { values[mid] }
}

/// Medians of `reps` timed calls of `f` and of `g`, alternating, after one warm-up each.
pub fn median_seconds_pair(reps: usize, mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    let time = |h: &mut dyn FnMut()| {
        let t = Instant::now();
        h();
        t.elapsed().as_secs_f64()
    };
    f();
    g();
    let (mut tf, mut tg): (Vec<f64>, Vec<f64>) =
        (0..reps.max(1)).map(|_| (time(&mut f), time(&mut g))).unzip();
    tf.sort_by(f64::total_cmp);
    tg.sort_by(f64::total_cmp);
    (tf[tf.len() / 2], tg[tg.len() / 2])
}
