//! Layer benchmarks: throughput of the convolution at the shapes the networks use.
//!
//! Timings are medians of repeated submissions, each waited on (`Gpu::wait`), after one
//! warm-up call. The machines are shared and noisy: compare figures from the same run.

use super::median_seconds;
use crate::gpu::{BufRef, Gpu, GpuBuffer};
use crate::ops::conv2d::{Conv2d, Conv2dShape};

/// One benchmarked convolution: what it is in the networks, and its shape.
struct Case {
    name: &'static str,
    shape: Conv2dShape,
    bias: bool,
}

fn conv(
    batch: usize,
    c_in: usize,
    hw: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Conv2dShape {
    Conv2dShape { batch, c_in, h_in: hw, w_in: hw, c_out, kh: k, kw: k, stride, pad }
}

/// The small conv energy net's convolutions on 28×28 images at batch 64 (conv3×3 1→32,
/// conv4×4 s2 32→64, conv4×4 s2 64→128), plus 1×1 shortcuts.
fn small_cases() -> Vec<Case> {
    let case = |name, shape| Case { name, shape, bias: true };
    vec![
        case("conv3x3 s1 1->32 @28", conv(64, 1, 28, 32, 3, 1, 1)),
        case("conv4x4 s2 32->64 @28", conv(64, 32, 28, 64, 4, 2, 1)),
        case("conv4x4 s2 64->128 @14", conv(64, 64, 14, 128, 4, 2, 1)),
        case("conv1x1 32->64 @28", conv(64, 32, 28, 64, 1, 1, 0)),
        case("conv1x1 64->128 @14", conv(64, 64, 14, 128, 1, 1, 0)),
    ]
}

/// The paper's CIFAR-10 networks at batch 100 (docs/reference.md "Architectures"): ResNet
/// blocks at 512 channels, their 1×1 shortcuts, the inference net's 4×4 convolutions.
fn cifar_cases(batch: impl Fn(&Conv2dShape) -> usize) -> Vec<Case> {
    let shapes = [
        ("conv3x3 512->512 @32", conv(100, 512, 32, 512, 3, 1, 1), false),
        ("conv3x3 512->512 @16", conv(100, 512, 16, 512, 3, 1, 1), false),
        ("conv3x3 512->512 @8", conv(100, 512, 8, 512, 3, 1, 1), false),
        ("conv1x1 512->512 @16", conv(100, 512, 16, 512, 1, 1, 0), false),
        ("conv3x3 3->512 @32", conv(100, 3, 32, 512, 3, 1, 1), false),
        ("conv3x3 512->3 @32", conv(100, 512, 32, 3, 3, 1, 1), true),
        ("conv4x4 s2 256->512 @16", conv(100, 256, 16, 512, 4, 2, 1), false),
        ("conv4x4 p0 1024->128 @4", conv(100, 1024, 4, 128, 4, 1, 0), true),
    ];
    shapes
        .into_iter()
        .map(|(name, mut shape, bias)| {
            shape.batch = batch(&shape);
            Case { name, shape, bias }
        })
        .collect()
}

/// Buffers for one case, filled with small nonzero values.
struct Tensors {
    x: GpuBuffer,
    w: GpuBuffer,
    b: GpuBuffer,
    y: GpuBuffer,
    dx: GpuBuffer,
    dw: GpuBuffer,
    db: GpuBuffer,
}

impl Tensors {
    fn new(gpu: &Gpu, s: &Conv2dShape) -> Self {
        let fill = |n: usize| {
            let v: Vec<f32> = (0..n).map(|i| ((i % 17) as f32 - 8.0) / 64.0).collect();
            gpu.upload(&v)
        };
        Self {
            x: fill(s.x_len()),
            w: fill(s.w_len()),
            b: fill(s.c_out),
            y: gpu.zeros(s.y_len()),
            dx: gpu.zeros(s.x_len()),
            dw: gpu.zeros(s.w_len()),
            db: gpu.zeros(s.c_out),
        }
    }
}

/// Seconds per call of: forward; forward + input gradient (one Langevin step's share);
/// forward + input gradient + weight gradient (one training step's share). dy is y's
/// buffer: the values do not matter for timing.
fn time_case(gpu: &Gpu, op: &Conv2d, c: &Case, reps: usize) -> [f64; 3] {
    let s = &c.shape;
    let t = Tensors::new(gpu, s);
    let bias = c.bias.then_some(BufRef::from(&t.b));
    let db = c.bias.then_some(BufRef::from(&t.db));
    let passes = |enc: &mut wgpu::CommandEncoder, n: usize| {
        op.forward(enc, s, (&t.x).into(), (&t.w).into(), bias, (&t.y).into());
        if n > 1 {
            op.backward_input(enc, s, (&t.y).into(), (&t.w).into(), (&t.dx).into());
        }
        if n > 2 {
            op.backward_weight(enc, s, (&t.x).into(), (&t.y).into(), (&t.dw).into(), db);
        }
    };
    [1, 2, 3].map(|n| {
        median_seconds(reps, || {
            gpu.submit(|enc| passes(enc, n));
            gpu.wait();
        })
    })
}

/// Prints one case; returns its three times.
fn print_case(gpu: &Gpu, op: &Conv2d, c: &Case, reps: usize) -> [f64; 3] {
    let s = &c.shape;
    let times = time_case(gpu, op, c, reps);
    let mut line = format!("  {:<24} batch {:>3}", c.name, s.batch);
    for (passes, secs) in [1.0, 2.0, 3.0].iter().zip(times) {
        line += &format!(
            " | {:>8.1} ms {:>6.2} GFLOP/s {:>7.0} ex/s",
            secs * 1e3,
            passes * s.forward_flops() / secs / 1e9,
            s.batch as f64 / secs
        );
    }
    crate::put!("{line}");
    times
}

/// Batch for the CIFAR-10 shapes: the paper's 100 where the tensors fit one storage
/// binding; on a CPU adapter also no more examples than fit about 2 GFLOP of forward work
/// (at least 1), so that a run takes seconds.
fn cifar_batch(gpu: &Gpu) -> impl Fn(&Conv2dShape) -> usize {
    let cpu = gpu.is_cpu();
    let binding = gpu.limits.max_storage_buffer_binding_size as usize / 4;
    move |s: &Conv2dShape| {
        let per_example = s.x_len().max(s.y_len()) / s.batch;
        let mut batch = (binding / per_example).min(100);
        if cpu {
            let flops = s.forward_flops() / s.batch as f64;
            batch = batch.min((2e9 / flops) as usize);
        }
        batch.max(1)
    }
}

/// `bench conv`: throughput of Conv2d's forward, forward + input gradient, and forward +
/// both gradients, at the small network's shapes and at the paper's CIFAR-10 shapes.
/// GFLOP/s count 2 per multiply-add; each gradient costs as many FLOPs as the forward.
pub fn layers(gpu: &Gpu) {
    let peak = super::kernels::matmul_gflops(gpu, 1024);
    crate::put!("matmul 1024³ in this run (the peak to compare with): {peak:.2} GFLOP/s");
    let op = Conv2d::new(gpu);
    crate::put!("conv2d on {}", gpu.describe());
    crate::put!(
        "  columns: forward | forward + input gradient (Langevin step) | \
         forward + input + weight gradients (training step)"
    );
    crate::put!("small conv net, 28x28, batch 64:");
    let mut langevin_step = 0.0;
    for (i, c) in small_cases().iter().enumerate() {
        let [_, fwd_dx, _] = print_case(gpu, &op, c, 5);
        if i < 3 {
            langevin_step += fwd_dx;
        }
    }
    crate::put!(
        "  the three convolutions' share of 30 Langevin steps (forward + input gradient): {:.2} s; \
         `bench compare` measures whole iterations against PyTorch",
        30.0 * langevin_step
    );
    crate::put!("CIFAR-10 shapes (the paper's batch is 100; reduced where shown):");
    for c in cifar_cases(cifar_batch(gpu)) {
        print_case(gpu, &op, &c, 3);
    }
}
