//! Pooling, upsampling and bias kernels against their f64 CPU references; every backward pass
//! against central finite differences of the CPU forward.
//!
//! Tensors sit at odd offsets inside larger buffers whose other elements hold a sentinel, so
//! the offsets and the index guards are checked too.

mod common;
use common::{assert_close, gpu, random};
use dualmcmc::gpu::{BufRef, Gpu, GpuBuffer};
use dualmcmc::ops::Nchw;
use dualmcmc::ops::bias::{self, Bias, ChannelShape};
use dualmcmc::ops::pool::{self, Pool, avg_pool2_shape};
use dualmcmc::ops::upsample::{self, Upsample, UpsampleMode, upsample2_shape};

/// Awkward NCHW shapes: batch 1–3, channels 1/3/5, odd and even, 1×1 and 1×W.
const SHAPES: [(usize, usize, usize, usize); 7] =
    [(1, 1, 1, 1), (2, 3, 2, 2), (3, 5, 5, 7), (1, 3, 9, 9), (2, 1, 8, 8), (1, 5, 7, 5), (2, 3, 1, 4)];

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
    assert!(before.iter().chain(after).all(|&v| v == SENTINEL), "{what}: wrote outside its tensor");
    data.to_vec()
}

/// ∂/∂x of L(x) = Σ dy ∘ f(x) by central differences in f64.
fn finite_difference(f: impl Fn(&[f64]) -> Vec<f64>, x: &[f64], dy: &[f64]) -> Vec<f64> {
    const H: f64 = 1e-3;
    common::central_differences(x, H, |x| f(x).iter().zip(dy).map(|(y, d)| y * d).sum())
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
    let (y, y2, dx, dx2) =
        (padded_out(g, o.len()), padded_out(g, o.len()), padded_out(g, s.len()), padded_out(g, s.len()));
    g.submit(|enc| {
        (layer.forward)(enc, s, at(&x), at(&y));
        (layer.forward)(enc, s, at(&x), at(&y2));
        (layer.backward)(enc, s, at(&dy), at(&dx));
        (layer.backward)(enc, s, at(&dy), at(&dx2));
    });
    let got_y = read_padded(g, &format!("{what} forward"), &y);
    let want_y = (layer.reference)(s, &f64s(&xs));
    assert_close(&format!("{what} forward"), &got_y, &want_y, FWD_ATOL, FWD_RTOL);

    let got_dx = read_padded(g, &format!("{what} backward"), &dx);
    let want_dx = finite_difference(|x| (layer.reference)(s, x), &f64s(&xs), &f64s(&dys));
    assert_close(&format!("{what} backward"), &got_dx, &want_dx, BWD_ATOL, BWD_RTOL);

    assert_eq!(bits(&got_y), bits(&read_padded(g, &what, &y2)), "{what}: forward repeat");
    assert_eq!(bits(&got_dx), bits(&read_padded(g, &what, &dx2)), "{what}: backward repeat");
}

fn shapes() -> impl Iterator<Item = (u64, Nchw)> {
    SHAPES.iter().enumerate().map(|(i, &(b, c, h, w))| (i as u64 * 10, Nchw::new(b, c, h, w)))
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
    let want: Vec<f64> = (0..16).map(|j| 6.0 * (j / 4) as f64 / 3.0 + 3.0 * (j % 4) as f64 / 3.0).collect();
    assert_close("2×2 → 4×4", &g.read(&y2).unwrap(), &want, 1e-6, 1e-6);
}

/// Bias shapes: Linear and conv views, a 1-element one, and one with more channels.
fn bias_shapes() -> [ChannelShape; 5] {
    [
        ChannelShape { outer: 1, channels: 1, inner: 1 },
        ChannelShape::linear(3, 5),
        ChannelShape::conv(Nchw::new(2, 3, 5, 7)),
        ChannelShape::conv(Nchw::new(3, 5, 9, 9)),
        ChannelShape::conv(Nchw::new(2, 1, 8, 8)),
    ]
}

#[test]
fn bias_add_at_offsets_matches_cpu() {
    let g = gpu();
    let ops = Bias::new(g);
    for (k, s) in bias_shapes().into_iter().enumerate() {
        let seed = 100 + k as u64;
        let ys = random(seed, s.len(), -1.0, 1.0);
        // The bias sits at offset 17 of a 40-element flat parameter buffer.
        let params = random(seed + 1, 40, -1.0, 1.0);
        let pbuf = g.upload(&params);
        let b = BufRef::new(&pbuf, 17);
        let y = padded(g, &ys);
        g.submit(|enc| ops.forward(enc, s, b, at(&y)));
        let want = bias::cpu::add(s, &f64s(&ys), &f64s(&params[17..17 + s.channels]));
        let got = read_padded(g, &format!("bias add {s:?}"), &y);
        assert_close(&format!("bias add {s:?}"), &got, &want, FWD_ATOL, FWD_RTOL);
        assert_eq!(g.read::<f32>(&pbuf).unwrap(), params, "bias add wrote its bias");
    }
}

#[test]
fn bias_grad_accumulates_at_offsets_and_matches_finite_differences() {
    let g = gpu();
    let ops = Bias::new(g);
    for (k, s) in bias_shapes().into_iter().enumerate() {
        let seed = 200 + k as u64;
        let what = format!("bias grad {s:?}");
        let xs = random(seed, s.len(), -1.0, 1.0);
        let dys = random(seed + 1, s.len(), -1.0, 1.0);
        let dy = padded(g, &dys);
        // Gradient buffer: earlier gradients everywhere, this bias's at offset 17.
        let grads0 = random(seed + 2, 40, -1.0, 1.0);
        let (off, c) = (17, s.channels);
        let (acc, once, twice) = (g.upload(&grads0), g.zeros(40), g.zeros(40));
        g.submit(|enc| {
            ops.backward(enc, s, at(&dy), BufRef::new(&acc, off));
            ops.backward(enc, s, at(&dy), BufRef::new(&once, off));
            ops.backward(enc, s, at(&dy), BufRef::new(&twice, off));
            ops.backward(enc, s, at(&dy), BufRef::new(&twice, off));
        });
        // L(b) = Σ dy ∘ (x + b), differentiated in b.
        let fd = finite_difference(|b| bias::cpu::add(s, &f64s(&xs), b), &vec![0.25; c], &f64s(&dys));
        let acc: Vec<f32> = g.read(&acc).unwrap();
        let want: Vec<f64> = fd.iter().zip(&grads0[off..]).map(|(d, &g0)| d + f64::from(g0)).collect();
        let atol = 1e-6 * (s.len() as f64 / c as f64).sqrt() * 4.0;
        assert_close(&what, &acc[off..off + c], &want, atol, BWD_RTOL);
        assert_eq!(acc[..off], grads0[..off], "{what}: wrote before its offset");
        assert_eq!(acc[off + c..], grads0[off + c..], "{what}: wrote after its range");
        // Accumulating twice from zero gives exactly twice the sum (s + s is exact).
        let once: Vec<f32> = g.read(&once).unwrap();
        let twice: Vec<f32> = g.read(&twice).unwrap();
        let doubled: Vec<f32> = once.iter().map(|v| 2.0 * v).collect();
        assert_eq!(bits(&twice), bits(&doubled), "{what}: twice is not double");
    }
}

/// The paper's size class: 102,400 terms per channel (batch 100 of 32×32).
#[test]
fn bias_grad_long_sum_matches_f64_and_repeats_bitwise() {
    let g = gpu();
    let ops = Bias::new(g);
    let s = ChannelShape { outer: 100, channels: 3, inner: 1024 };
    let dys = random(300, s.len(), -1.0, 1.0);
    let dy = g.upload(&dys);
    let (a, b) = (g.zeros(s.channels), g.zeros(s.channels));
    g.submit(|enc| {
        ops.backward(enc, s, &dy, BufRef::from(&a));
        ops.backward(enc, s, &dy, BufRef::from(&b));
    });
    let got: Vec<f32> = g.read(&a).unwrap();
    // f32 rounding of random-sign sums grows like sqrt(terms)·eps.
    let atol = 4e-6 * ((s.outer * s.inner) as f64).sqrt();
    assert_close("bias grad 100×3×1024", &got, &bias::cpu::grad(s, &dys), atol, 1e-5);
    assert_eq!(bits(&got), bits(&g.read(&b).unwrap()), "bias grad repeat");
}
