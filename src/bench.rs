//! Benchmarks behind `dualmcmc --no-gui bench ...`. Figures are printed together with a
//! reference measured in the same run, since these machines are shared and noisy.

use crate::gpu::Gpu;
use crate::ops::elementwise::Elementwise;
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

/// `bench kernels`: elementwise bandwidth (matmul figures are added by the matmul op).
pub fn kernels(gpu: &Gpu) -> anyhow::Result<()> {
    let ops = Elementwise::new(gpu);
    let n = 1 << 22;
    let (x, y) = (gpu.zeros(n), gpu.zeros(n));
    let secs = median_seconds(5, || {
        gpu.submit(|enc| ops.axpy(enc, n, 0.5, &x, &y));
        gpu.wait();
    });
    // axpy reads x and y and writes y: 12 bytes per element.
    println!("elementwise axpy, {n} f32: {:.2} GB/s", 12.0 * n as f64 / secs / 1e9);
    Ok(())
}
