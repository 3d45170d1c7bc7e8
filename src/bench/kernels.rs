//! `bench kernels`: matmul GFLOP/s at 256, 512 and 1024 against a plain single-threaded CPU
//! loop in the same run, and the bandwidth of an elementwise op.

use super::{median_seconds, median_seconds_pair};
use crate::gpu::Gpu;
use crate::ops::elementwise::Elementwise;
use crate::ops::matmul::{MatRef, Matmul, MatmulShape};

/// `bench kernels`: matmul GFLOP/s against a single-threaded CPU loop measured in the same
/// run, then elementwise bandwidth.
pub fn kernels(gpu: &Gpu) -> anyhow::Result<()> {
    let mm = Matmul::new(gpu);
    crate::put!("matmul tiles: {:?}", mm.tiles());
    let mut cpu_1024 = 0.0;
    for n in [256, 512, 1024] {
        let reps = if n < 1024 { 9 } else { 5 };
        // GPU and CPU reps alternate, so both see the same load on a shared machine.
        let gpu_run = gpu_matmul(gpu, &mm, n, false, false, 0);
        let (gpu_secs, cpu_secs) = median_seconds_pair(reps, gpu_run, cpu_matmul(n));
        let (g, c) = (gflops(n, gpu_secs), gflops(n, cpu_secs));
        crate::put!(
            "matmul {n}x{n}x{n}: GPU {g:.2} GFLOP/s, CPU loop (1 thread) {c:.2} GFLOP/s, \
             GPU/CPU {:.2}",
            g / c
        );
        cpu_1024 = c;
    }
    // The transposed products of weight gradients, and a layout that rules out vec4 loads,
    // against the CPU loop measured above.
    for (label, ta, tb, offset) in
        [("A^T*B", true, false, 0), ("A*B^T", false, true, 0), ("unaligned (offset 1)", false, false, 1)]
    {
        let g = gflops(1024, median_seconds(5, gpu_matmul(gpu, &mm, 1024, ta, tb, offset)));
        crate::put!("matmul 1024x1024x1024 {label}: GPU {g:.2} GFLOP/s, GPU/CPU {:.2}", g / cpu_1024);
    }

    let ops = Elementwise::new(gpu);
    let n = 1 << 22;
    let (x, y) = (gpu.zeros(n), gpu.zeros(n));
    let secs = median_seconds(5, || {
        gpu.submit(|enc| ops.axpy(enc, n, 0.5, &x, &y));
        gpu.wait();
    });
    // axpy reads x and y and writes y: 12 bytes per element.
    crate::put!("elementwise axpy, {n} f32: {:.2} GB/s", 12.0 * n as f64 / secs / 1e9);
    Ok(())
}

fn gflops(n: usize, secs: f64) -> f64 {
    2.0 * (n as f64).powi(3) / secs / 1e9
}

/// Values in [-1, 1) that are cheap to make and not all equal.
fn test_values(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0).collect()
}

/// GFLOP/s of an n×n×n product on the GPU (median of 5).
pub fn matmul_gflops(gpu: &Gpu, n: usize) -> f64 {
    let mm = Matmul::new(gpu);
    gflops(n, median_seconds(5, gpu_matmul(gpu, &mm, n, false, false, 0)))
}

/// One n×n×n product on the GPU, waiting for it; A and B start `offset` elements into
/// their buffers.
fn gpu_matmul<'a>(
    gpu: &'a Gpu,
    mm: &'a Matmul,
    n: usize,
    ta: bool,
    tb: bool,
    offset: usize,
) -> impl FnMut() + 'a {
    let a = gpu.upload(&test_values(n * n + offset, 1));
    let b = gpu.upload(&test_values(n * n + offset, 2));
    let c = gpu.zeros(n * n);
    let shape = MatmulShape::new(n, n, n, ta, tb);
    move || {
        let (a, b) = (MatRef { buf: &a, offset }, MatRef { buf: &b, offset });
        gpu.submit(|enc| mm.encode(enc, shape, a, b, (&c).into(), 1.0, 0.0));
        gpu.wait();
    }
}

/// One n×n×n product by [`cpu_matmul_loop`] on this thread.
fn cpu_matmul(n: usize) -> impl FnMut() {
    let (a, b) = (test_values(n * n, 1), test_values(n * n, 2));
    let mut c = vec![0.0f32; n * n];
    move || {
        cpu_matmul_loop(n, &a, &b, &mut c);
        std::hint::black_box(&mut c);
    }
}

/// The reference CPU figure: C = A·B for row-major n×n matrices, a plain i-k-j loop (the
/// compiler may vectorise the inner loop; no intrinsics, no threads).
pub fn cpu_matmul_loop(n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    c.fill(0.0);
    for i in 0..n {
        let c_row = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let a_ik = a[i * n + k];
            for (c_ij, b_kj) in c_row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *c_ij += a_ik * b_kj;
            }
        }
    }
}
