//! Pooling and upsampling kernels against their f64 CPU references; every backward pass
//! against central finite differences of the CPU forward.
//!
//! Tensors sit at odd offsets inside larger buffers whose other elements hold a sentinel, so
//! the offsets and the index guards are checked too.

mod common;
use common::{assert_close, gpu, random};
use dualmcmc::gpu::{BufRef, Gpu, GpuBuffer};
use dualmcmc::ops::Nchw;
use dualmcmc::ops::pool::{self, Pool, avg_pool2_shape};
use dualmcmc::ops::upsample::{self, Upsample, UpsampleMode, upsample2_shape};

/// Awkward NCHW shapes: batch 1–3, channels 1/3/5, odd and even, 1×1 and 1×W.
const SHAPES: [(usize, usize, usize, usize); 7] = [
    (1, 1, 1, 1),
    (2, 3, 2, 2),
    (3, 5, 5, 7),
    (1, 3, 9, 9),
    (2, 1, 8, 8),
    (1, 5, 7, 5),
    (2, 3, 1, 4),
];

/// Forward: f32 GPU vs f64 CPU on inputs in [−1, 1).
const FWD_ATOL: f64 = 1e-6;
const FWD_RTOL: f64 = 1e-5;
/// Backward vs finite differences: the GPU sums at most ~36 f32 products; the differences
/// of these linear maps are exact up to f64 rounding.
const BWD_ATOL: f64 = 2e-6;
const BWD_RTOL: f64 = 1e-5;

const SENTINEL: f32 = 777.0;
/// Elements of sentinel before a tensor (its offset) and after it.
const PAD_BEFORE: usize = 5;
const PAD_AFTER: usize = 3;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// `data` at offset PAD_BEFORE inside a buffer otherwise filled with SENTINEL.
fn padded(g: &Gpu, data: &[f32]) -> GpuBuffer {
    let mut all = vec![SENTINEL; PAD_BEFORE];
    all.extend_from_slice(data);
    all.extend_from_slice(&[SENTINEL; PAD_AFTER]);
    g.upload(&all)
}

/// A padded buffer for `len` outputs, prefilled with NaN where the kernel must write.
fn padded_out(g: &Gpu, len: usize) -> GpuBuffer {
    padded(g, &vec![f32::NAN; len])
}

fn at(b: &GpuBuffer) -> BufRef<'_> {
    BufRef::new(b, PAD_BEFORE)
}

/// Reads the tensor back and checks the sentinels around it are untouched.
fn read_padded(g: &Gpu, what: &str, b: &GpuBuffer) -> Vec<f32> {
    let all: Vec<f32> = g.read(b).unwrap();
    let len = all.len() - PAD_BEFORE - PAD_AFTER;
    let (before, rest) = all.split_at(PAD_BEFORE);
    let (data, after) = rest.split_at(len);
    assert!(
        before.iter().chain(after).all(|&v| v == SENTINEL),
        "{what}: wrote outside its tensor"
    );
    data.to_vec()
}

/// ∂/∂x of L(x) = Σ dy ∘ f(x) by central differences in f64.
fn finite_difference(f: impl Fn(&[f64]) -> Vec<f64>, x: &[f64], dy: &[f64]) -> Vec<f64> {
    const H: f64 = 1e-3;
    let loss = |x: &[f64]| -> f64 { f(x).iter().zip(dy).map(|(y, d)| y * d).sum() };
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            xp[i] = x[i] + H;
            let up = loss(&xp);
            xp[i] = x[i] - H;
            let down = loss(&xp);
            xp[i] = x[i];
            (up - down) / (2.0 * H)
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A parameter-free layer under test: GPU forward/backward and the CPU forward reference.
struct Layer<'a> {
    name: &'a str,
    out_shape: fn(Nchw) -> Nchw,
    forward: &'a dyn Fn(&mut wgpu::CommandEncoder, Nchw, BufRef, BufRef),
    backward: &'a dyn Fn(&mut wgpu::CommandEncoder, Nchw, BufRef, BufRef),
    reference: &'a dyn Fn(Nchw, &[f64]) -> Vec<f64>,
}

/// Checks forward against the reference, backward against finite differences (written, so
/// the NaN-prefilled gradient buffer must be fully overwritten), and bit-identical repeats.
fn check_layer(layer: &Layer, s: Nchw, seed: u64) {
    let g = gpu();
    let what = format!("{} {s:?}", layer.name);
    let o = (layer.out_shape)(s);
    let xs = random(seed, s.len(), -1.0, 1.0);
    let dys = random(seed + 1, o.len(), -1.0, 1.0);
    let (x, dy) = (padded(g, &xs), padded(g, &dys));
    let (y, y2, dx, dx2) = (
        padded_out(g, o.len()),
        padded_out(g, o.len()),
        padded_out(g, s.len()),
        padded_out(g, s.len()),
    );
    g.submit(|enc| {
        (layer.forward)(enc, s, at(&x), at(&y));
        (layer.forward)(enc, s, at(&x), at(&y2));
        (layer.backward)(enc, s, at(&dy), at(&dx));
        (layer.backward)(enc, s, at(&dy), at(&dx2));
    });
    let got_y = read_padded(g, &format!("{what} forward"), &y);
    let want_y = (layer.reference)(s, &f64s(&xs));
    assert_close(
        &format!("{what} forward"),
        &got_y,
        &want_y,
        FWD_ATOL,
        FWD_RTOL,
    );

    let got_dx = read_padded(g, &format!("{what} backward"), &dx);
    let want_dx = finite_difference(|x| (layer.reference)(s, x), &f64s(&xs), &f64s(&dys));
    assert_close(
        &format!("{what} backward"),
        &got_dx,
        &want_dx,
        BWD_ATOL,
        BWD_RTOL,
    );

    assert_eq!(
        bits(&got_y),
        bits(&read_padded(g, &what, &y2)),
        "{what}: forward repeat"
    );
    assert_eq!(
        bits(&got_dx),
        bits(&read_padded(g, &what, &dx2)),
        "{what}: backward repeat"
    );
}

fn shapes() -> impl Iterator<Item = (u64, Nchw)> {
    SHAPES
        .iter()
        .enumerate()
        .map(|(i, &(b, c, h, w))| (i as u64 * 10, Nchw::new(b, c, h, w)))
}

#[test]
fn avg_pool2_matches_cpu_and_finite_differences() {
    let ops = Pool::new(gpu());
    let layer = Layer {
        name: "avg_pool2",
        out_shape: avg_pool2_shape,
        forward: &|enc, s, x, y| ops.avg_pool2_forward(enc, s, x, y),
        backward: &|enc, s, dy, dx| ops.avg_pool2_backward(enc, s, dy, dx),
        reference: &pool::cpu::avg_pool2,
    };
    for (seed, s) in shapes() {
        check_layer(&layer, s, seed);
    }
}

#[test]
fn global_avg_pool_matches_cpu_and_finite_differences() {
    let ops = Pool::new(gpu());
    let layer = Layer {
        name: "global_avg",
        out_shape: |s| s.with_spatial(1, 1),
        forward: &|enc, s, x, y| ops.global_avg_forward(enc, s, x, y),
        backward: &|enc, s, dy, dx| ops.global_avg_backward(enc, s, dy, dx),
        reference: &pool::cpu::global_avg,
    };
    for (seed, s) in shapes() {
        check_layer(&layer, s, seed + 1);
    }
}

#[test]
fn upsampling_matches_cpu_and_finite_differences() {
    let ops = Upsample::new(gpu());
    for mode in [UpsampleMode::Nearest, UpsampleMode::BilinearAlignCorners] {
        let reference = move |s: Nchw, x: &[f64]| upsample::cpu::upsample2(mode, s, x);
        let layer = Layer {
            name: &format!("{mode:?}"),
            out_shape: upsample2_shape,
            forward: &|enc, s, x, y| ops.forward(enc, mode, s, x, y),
            backward: &|enc, s, dy, dx| ops.backward(enc, mode, s, dy, dx),
            reference: &reference,
        };
        for (seed, s) in shapes() {
            check_layer(&layer, s, seed + 2);
        }
    }
}

/// Known values from PyTorch's definition: a 1×1 input upsamples to a constant, and a 2×2
/// input's corners are kept with the inside interpolated at thirds.
#[test]
fn bilinear_align_corners_known_values() {
    let g = gpu();
    let ops = Upsample::new(g);
    let mode = UpsampleMode::BilinearAlignCorners;
    let (one, two) = (g.upload(&[3.5f32]), g.upload(&[0.0f32, 3.0, 6.0, 9.0]));
    let (y1, y2) = (g.zeros(4), g.zeros(16));
    g.submit(|enc| {
        ops.forward(enc, mode, Nchw::new(1, 1, 1, 1), &one, &y1);
        ops.forward(enc, mode, Nchw::new(1, 1, 2, 2), &two, &y2);
    });
    assert_close("1×1 → 2×2", &g.read(&y1).unwrap(), &[3.5; 4], 0.0, 0.0);
    // x = [[0, 3], [6, 9]] is 3·col + 6·row, sampled at rows/cols 0, 1/3, 2/3, 1.
    let want: Vec<f64> = (0..16)
        .map(|j| 6.0 * (j / 4) as f64 / 3.0 + 3.0 * (j % 4) as f64 / 3.0)
        .collect();
    assert_close("2×2 → 4×4", &g.read(&y2).unwrap(), &want, 1e-6, 1e-6);
}
