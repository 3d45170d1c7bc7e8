//! Conv2d: forward against the f64 CPU reference, both backward passes against central
//! finite differences of the CPU forward, accumulation, offsets, determinism.
//!
//! Finite differences: L(x, w, b) = Σ dy ∘ y for a random dy; ∂L/∂v ≈ (L(v + h) − L(v − h))/2h
//! in f64 with h = 1e-3. L is linear in each of x, w, b, so the difference quotient is exact
//! up to f64 rounding (~1e-12 here) and the tolerance only has to absorb the GPU's f32 sums:
//! |gpu − fd| ≤ 1e-5 + 1e-4·|fd| for every element.

mod common;
use common::{assert_close, gpu, random};
use dualmcmc::gpu::{BufRef, Gpu, GpuBuffer};
use dualmcmc::ops::conv2d::{Conv2d, Conv2dShape, cpu};
use std::sync::OnceLock;

/// Tolerance of GPU results against f64 references (absolute floor, relative).
const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-4;

/// The kernel configurations the networks use: (kh, kw, stride, pad).
const CONFIGS: [(usize, usize, usize, usize); 7] = [
    (1, 1, 1, 0), // shortcut 1×1
    (3, 3, 1, 1), // ResNet blocks
    (4, 4, 2, 1), // downsampling (inference net)
    (4, 4, 1, 0), // μ / logvar heads (4×4 → 1×1)
    (3, 3, 2, 1),
    (1, 1, 2, 0), // taps that miss whole stride phases
    (2, 3, 2, 1), // non-square kernel
];

fn conv() -> &'static Conv2d {
    static CONV: OnceLock<Conv2d> = OnceLock::new();
    CONV.get_or_init(|| Conv2d::new(gpu()))
}

/// Both ways of reading the weights, whatever this adapter's default: 64 KiB uniform
/// slices (CPU adapters) and the packed tensor from storage in one dispatch (GPUs).
fn both_weight_readers() -> [&'static Conv2d; 2] {
    static UNIFORM: OnceLock<Conv2d> = OnceLock::new();
    static STORAGE: OnceLock<Conv2d> = OnceLock::new();
    [
        UNIFORM.get_or_init(|| Conv2d::with_storage_weights(gpu(), false)),
        STORAGE.get_or_init(|| Conv2d::with_storage_weights(gpu(), true)),
    ]
}

fn shape(
    batch: usize,
    c_in: usize,
    hw: (usize, usize),
    c_out: usize,
    cfg: (usize, usize, usize, usize),
) -> Conv2dShape {
    let (kh, kw, stride, pad) = cfg;
    Conv2dShape { batch, c_in, h_in: hw.0, w_in: hw.1, c_out, kh, kw, stride, pad }
}

fn seed(s: &Conv2dShape, salt: u64) -> u64 {
    (s.batch * 1_000_003
        + s.c_in * 10_007
        + s.h_in * 1009
        + s.w_in * 101
        + s.c_out * 11
        + s.kh * 7
        + s.stride * 3
        + s.pad) as u64
        * 31
        + salt
}

/// A buffer holding `data` at `offset`, surrounded by `sentinel` values.
fn padded(g: &Gpu, data: &[f32], offset: usize, after: usize, sentinel: f32) -> GpuBuffer {
    let mut v = vec![sentinel; offset];
    v.extend_from_slice(data);
    v.extend(std::iter::repeat_n(sentinel, after));
    g.upload(&v)
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&e| f64::from(e)).collect()
}

/// Reads `len` elements at `offset` and checks the sentinels around them are untouched.
fn read_region(g: &Gpu, buf: &GpuBuffer, offset: usize, len: usize, sentinel: f32, what: &str) -> Vec<f32> {
    let all: Vec<f32> = g.read(buf).unwrap();
    for (i, v) in all.iter().enumerate() {
        if i < offset || i >= offset + len {
            assert_eq!(v.to_bits(), sentinel.to_bits(), "{what}: element {i} outside the tensor was written");
        }
    }
    all[offset..offset + len].to_vec()
}

/// GPU forward with every operand at a nonzero offset inside a larger buffer (weight and
/// bias share one "parameter" buffer, as in the flat parameter store).
fn gpu_forward(c: &Conv2d, s: &Conv2dShape, xs: &[f32], ws: &[f32], bs: Option<&[f32]>) -> Vec<f32> {
    let g = gpu();
    let x = padded(g, xs, 5, 3, 0.0);
    let mut params = vec![9.0; 13];
    params.extend_from_slice(ws);
    let b_off = params.len() + 3;
    params.extend_from_slice(&[9.0; 3]);
    params.extend_from_slice(bs.unwrap_or(&[]));
    params.extend_from_slice(&[9.0; 2]);
    let params = g.upload(&params);
    let y = padded(g, &vec![f32::NAN; s.y_len()], 7, 4, -7.0);
    g.submit(|enc| {
        c.forward(
            enc,
            s,
            BufRef::new(&x, 5),
            BufRef::new(&params, 13),
            bs.map(|_| BufRef::new(&params, b_off)),
            BufRef::new(&y, 7),
        )
    });
    let all: Vec<f32> = g.read(&y).unwrap();
    assert!(all[..7].iter().chain(&all[7 + s.y_len()..]).all(|&v| v == -7.0), "forward wrote outside y");
    all[7..7 + s.y_len()].to_vec()
}

#[test]
fn forward_matches_cpu_on_awkward_shapes() {
    for cfg in CONFIGS {
        for (batch, c_in, hw, c_out) in
            [(1, 1, (5, 7), 1), (2, 3, (9, 9), 5), (3, 7, (5, 7), 9), (1, 5, (4, 4), 7)]
        {
            let s = shape(batch, c_in, hw, c_out, cfg);
            let xs = random(seed(&s, 1), s.x_len(), -1.0, 1.0);
            let ws = random(seed(&s, 2), s.w_len(), -1.0, 1.0);
            let bs = random(seed(&s, 3), s.c_out, -1.0, 1.0);
            for (c, with_bias) in both_weight_readers().into_iter().flat_map(|c| [(c, false), (c, true)]) {
                let bias = with_bias.then_some(&bs[..]);
                let got = gpu_forward(c, &s, &xs, &ws, bias);
                let want = cpu::forward(&s, &xs, &ws, bias);
                assert_close(&format!("forward {s:?} bias {with_bias}"), &got, &want, ATOL, RTOL);
            }
        }
    }
}

/// Shapes for the backward checks against finite differences, every element checked.
fn small_shapes() -> Vec<Conv2dShape> {
    let mut v = Vec::new();
    for cfg in CONFIGS {
        v.push(shape(2, 3, (5, 7), 5, cfg));
        v.push(shape(1, 1, (4, 4), 1, cfg));
    }
    // More channels than one register block (8) and a second pixel workgroup.
    v.push(shape(3, 9, (9, 9), 10, (4, 4, 2, 1)));
    v
}

/// L = Σ dy ∘ y in f64.
fn loss(s: &Conv2dShape, x: &[f64], w: &[f64], b: &[f64], dy: &[f64]) -> f64 {
    cpu::forward_f64(s, x, w, Some(b)).iter().zip(dy).map(|(y, d)| y * d).sum()
}

/// Central differences of L with respect to every element of `which` (0: x, 1: w, 2: b).
fn finite_differences(
    s: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dy: &[f32],
    which: usize,
) -> Vec<f64> {
    const H: f64 = 1e-3;
    let mut vars = [f64s(x), f64s(w), f64s(b)];
    let dy = f64s(dy);
    (0..vars[which].len())
        .map(|i| {
            let v0 = vars[which][i];
            vars[which][i] = v0 + H;
            let plus = loss(s, &vars[0], &vars[1], &vars[2], &dy);
            vars[which][i] = v0 - H;
            let minus = loss(s, &vars[0], &vars[1], &vars[2], &dy);
            vars[which][i] = v0;
            (plus - minus) / (2.0 * H)
        })
        .collect()
}

#[test]
fn backward_input_matches_finite_differences() {
    let g = gpu();
    for s in small_shapes() {
        let xs = random(seed(&s, 11), s.x_len(), -1.0, 1.0);
        let ws = random(seed(&s, 12), s.w_len(), -1.0, 1.0);
        let bs = random(seed(&s, 13), s.c_out, -1.0, 1.0);
        let dys = random(seed(&s, 14), s.y_len(), -1.0, 1.0);
        let fd = finite_differences(&s, &xs, &ws, &bs, &dys, 0);
        // The CPU reference is itself checked against the differences (tightly).
        assert_close(&format!("cpu dx {s:?}"), &to_f32(&cpu::backward_input(&s, &dys, &ws)), &fd, 1e-6, 1e-6);

        for c in both_weight_readers() {
            let dy = padded(g, &dys, 3, 2, 0.0);
            let params = padded(g, &ws, 11, 1, 9.0);
            let dx = padded(g, &vec![f32::NAN; s.x_len()], 6, 5, -3.0);
            g.submit(|enc| {
                c.backward_input(enc, &s, BufRef::new(&dy, 3), BufRef::new(&params, 11), BufRef::new(&dx, 6))
            });
            let got = read_region(g, &dx, 6, s.x_len(), -3.0, "dx");
            assert_close(&format!("dx {s:?}"), &got, &fd, ATOL, RTOL);
        }
    }
}

#[test]
fn backward_weight_matches_finite_differences_and_accumulates() {
    let g = gpu();
    let mut chunk_counts = Vec::new();
    for s in small_shapes() {
        chunk_counts.push(conv().weight_grad_chunks(&s));
        let xs = random(seed(&s, 21), s.x_len(), -1.0, 1.0);
        let ws = random(seed(&s, 22), s.w_len(), -1.0, 1.0);
        let bs = random(seed(&s, 23), s.c_out, -1.0, 1.0);
        let dys = random(seed(&s, 24), s.y_len(), -1.0, 1.0);
        let fd_w = finite_differences(&s, &xs, &ws, &bs, &dys, 1);
        let fd_b = finite_differences(&s, &xs, &ws, &bs, &dys, 2);
        let (cpu_w, cpu_b) = cpu::backward_weight(&s, &xs, &dys);
        assert_close(&format!("cpu dw {s:?}"), &to_f32(&cpu_w), &fd_w, 1e-6, 1e-6);
        assert_close(&format!("cpu db {s:?}"), &to_f32(&cpu_b), &fd_b, 1e-6, 1e-6);

        // Gradients land in one flat buffer, dw and db at offsets, starting from nonzero
        // values: they are added to, twice.
        let dw0 = random(seed(&s, 25), s.w_len(), -1.0, 1.0);
        let db0 = random(seed(&s, 26), s.c_out, -1.0, 1.0);
        let mut flat = vec![4.0; 9];
        flat.extend_from_slice(&dw0);
        flat.extend_from_slice(&[4.0; 2]);
        let db_off = flat.len();
        flat.extend_from_slice(&db0);
        flat.extend_from_slice(&[4.0; 3]);
        let grads = g.upload(&flat);
        let x = padded(g, &xs, 2, 2, 0.0);
        let dy = padded(g, &dys, 4, 1, 0.0);
        let run = |enc: &mut wgpu::CommandEncoder| {
            conv().backward_weight(
                enc,
                &s,
                BufRef::new(&x, 2),
                BufRef::new(&dy, 4),
                BufRef::new(&grads, 9),
                Some(BufRef::new(&grads, db_off)),
            )
        };
        g.submit(run);
        let once: Vec<f32> = g.read(&grads).unwrap();
        g.submit(run);
        let twice: Vec<f32> = g.read(&grads).unwrap();
        let want = |start: &[f32], fd: &[f64], k: f64| -> Vec<f64> {
            start.iter().zip(fd).map(|(&a, g)| f64::from(a) + k * g).collect()
        };
        assert_close(&format!("dw {s:?}"), &once[9..9 + s.w_len()], &want(&dw0, &fd_w, 1.0), ATOL, RTOL);
        assert_close(
            &format!("db {s:?}"),
            &once[db_off..db_off + s.c_out],
            &want(&db0, &fd_b, 1.0),
            ATOL,
            RTOL,
        );
        assert_close(
            &format!("dw twice {s:?}"),
            &twice[9..9 + s.w_len()],
            &want(&dw0, &fd_w, 2.0),
            ATOL,
            RTOL,
        );
        assert_close(
            &format!("db twice {s:?}"),
            &twice[db_off..db_off + s.c_out],
            &want(&db0, &fd_b, 2.0),
            ATOL,
            RTOL,
        );
        for (i, v) in twice.iter().enumerate() {
            let inside = (9..9 + s.w_len()).contains(&i) || (db_off..db_off + s.c_out).contains(&i);
            assert!(inside || *v == 4.0, "gradient buffer element {i} outside dw/db was written");
        }
    }
    // Both the direct path and the chunked partial sums were exercised.
    assert!(chunk_counts.contains(&1) && chunk_counts.iter().any(|&c| c > 1), "{chunk_counts:?}");
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&e| e as f32).collect()
}

/// Larger shapes than finite differences can afford, against the (checked) CPU backward.
#[test]
fn backward_matches_cpu_on_larger_shapes() {
    let g = gpu();
    for s in [
        shape(2, 20, (12, 10), 17, (3, 3, 1, 1)),
        shape(3, 16, (14, 14), 24, (4, 4, 2, 1)),
        shape(5, 33, (1, 1), 9, (1, 1, 1, 0)),
    ] {
        let xs = random(seed(&s, 31), s.x_len(), -1.0, 1.0);
        let ws = random(seed(&s, 32), s.w_len(), -1.0, 1.0);
        let dys = random(seed(&s, 34), s.y_len(), -1.0, 1.0);
        let (x, w, dy) = (g.upload(&xs), g.upload(&ws), g.upload(&dys));
        let (dx, dw, db) = (g.zeros(s.x_len()), g.zeros(s.w_len()), g.zeros(s.c_out));
        g.submit(|enc| {
            conv().backward_input(enc, &s, (&dy).into(), (&w).into(), (&dx).into());
            conv().backward_weight(enc, &s, (&x).into(), (&dy).into(), (&dw).into(), Some((&db).into()));
        });
        let (want_w, want_b) = cpu::backward_weight(&s, &xs, &dys);
        assert_close(
            &format!("dx {s:?}"),
            &g.read(&dx).unwrap(),
            &cpu::backward_input(&s, &dys, &ws),
            ATOL,
            RTOL,
        );
        assert_close(&format!("dw {s:?}"), &g.read(&dw).unwrap(), &want_w, ATOL, RTOL);
        assert_close(&format!("db {s:?}"), &g.read(&db).unwrap(), &want_b, ATOL, RTOL);
    }
}

/// Gradients that sum over more than 65,535 output pixels per channel (batch 100 of 28×28):
/// llvmpipe stops an invocation's loops after 65,535 iterations in all (docs/platform.md),
/// so no invocation may loop over all of them.
#[test]
fn gradients_over_more_than_65535_pixels_per_channel_match_cpu() {
    let g = gpu();
    let s = shape(100, 1, (28, 28), 2, (3, 3, 1, 1));
    let xs = random(seed(&s, 41), s.x_len(), -1.0, 1.0);
    let dys = random(seed(&s, 44), s.y_len(), -1.0, 1.0);
    let (x, dy) = (g.upload(&xs), g.upload(&dys));
    let (dw, db) = (g.zeros(s.w_len()), g.zeros(s.c_out));
    g.submit(|enc| {
        conv().backward_weight(enc, &s, (&x).into(), (&dy).into(), (&dw).into(), Some((&db).into()))
    });
    let (want_w, want_b) = cpu::backward_weight(&s, &xs, &dys);
    // Sums of 78,400 terms of size ~1: f32 rounding grows with √n.
    assert_close("db", &g.read(&db).unwrap(), &want_b, 0.05, 1e-4);
    assert_close("dw", &g.read(&dw).unwrap(), &want_w, 0.05, 1e-4);
}

/// Layers whose packed weights exceed one 64 KiB uniform slice (1024 taps × channels per
/// 16-channel block): the forward pass and the input gradient run in several dispatches
/// that add up: whole blocks per slice, runs of taps of one block, or (over 1024 reduction
/// channels) runs of channels of one tap; read from storage, in one dispatch.
#[test]
fn weights_beyond_one_uniform_slice_match_cpu() {
    let g = gpu();
    let shapes = [
        // forward: 16 taps × 70 channels > 1024: runs of taps, for each of 3 blocks.
        shape(2, 70, (5, 6), 40, (4, 4, 1, 1)),
        // forward: 16 × 25 = 400 per block, 2 blocks per slice, 9 blocks.
        shape(1, 25, (6, 5), 130, (4, 4, 2, 1)),
        // input: 9 taps × 120 output channels > 1024: runs of taps.
        shape(2, 20, (5, 5), 120, (3, 3, 1, 1)),
        // forward / input: over 1024 input / output channels: runs of channels.
        shape(1, 1030, (2, 3), 3, (1, 1, 1, 0)),
        shape(2, 2, (2, 3), 1030, (1, 1, 1, 0)),
        // the inference net's heads: a 4×4 kernel without padding onto 4×4 (1×1 output).
        shape(3, 70, (4, 4), 20, (4, 4, 1, 0)),
    ];
    for s in shapes {
        let [fwd, inp] = Conv2d::weight_slices(&s);
        let blocks = [s.c_out.div_ceil(16), s.c_in.div_ceil(16) * s.stride * s.stride];
        assert!(fwd > 1 || inp > blocks[1], "{s:?} fits one slice: {fwd} {inp}");
        let xs = random(seed(&s, 51), s.x_len(), -1.0, 1.0);
        let ws = random(seed(&s, 52), s.w_len(), -1.0, 1.0);
        let bs = random(seed(&s, 53), s.c_out, -1.0, 1.0);
        let dys = random(seed(&s, 54), s.y_len(), -1.0, 1.0);
        for c in both_weight_readers() {
            let got = gpu_forward(c, &s, &xs, &ws, Some(&bs));
            let want = cpu::forward(&s, &xs, &ws, Some(&bs));
            assert_close(&format!("forward {s:?}"), &got, &want, 1e-4, RTOL);
            let (dy, w, dx) = (g.upload(&dys), g.upload(&ws), g.zeros(s.x_len()));
            g.submit(|enc| c.backward_input(enc, &s, (&dy).into(), (&w).into(), (&dx).into()));
            let want = cpu::backward_input(&s, &dys, &ws);
            assert_close(&format!("dx {s:?}"), &g.read(&dx).unwrap(), &want, 1e-4, RTOL);
        }
    }
}

#[test]
fn repeat_runs_are_bit_identical() {
    let g = gpu();
    let s = shape(3, 16, (14, 14), 24, (4, 4, 2, 1));
    assert!(conv().weight_grad_chunks(&s) > 1, "exercise the partial sums");
    let x = g.upload(&random(41, s.x_len(), -1.0, 1.0));
    let w = g.upload(&random(42, s.w_len(), -1.0, 1.0));
    let b = g.upload(&random(43, s.c_out, -1.0, 1.0));
    let dy = g.upload(&random(44, s.y_len(), -1.0, 1.0));
    let run = || {
        let (y, dx, dw, db) = (g.zeros(s.y_len()), g.zeros(s.x_len()), g.zeros(s.w_len()), g.zeros(s.c_out));
        g.submit(|enc| {
            conv().forward(enc, &s, (&x).into(), (&w).into(), Some((&b).into()), (&y).into());
            conv().backward_input(enc, &s, (&dy).into(), (&w).into(), (&dx).into());
            conv().backward_weight(enc, &s, (&x).into(), (&dy).into(), (&dw).into(), Some((&db).into()));
        });
        [y, dx, dw, db].map(|buf| g.read::<u32>(&buf).unwrap())
    };
    let (first, second) = (run(), run());
    for (name, (a, b)) in ["y", "dx", "dw", "db"].iter().zip(first.iter().zip(&second)) {
        assert!(a == b, "{name} differs between two identical runs");
    }
}

/// The activation after the layer and the derivative of the one before it, applied as the
/// convolution stores (`forward_activated`, `backward_input_gated`): against the CPU
/// convolution followed by the CPU activation, on awkward shapes and on layers split into
/// several uniform slices (only the last applies them), both weight readers.
#[test]
fn fused_activation_and_gate_match_cpu() {
    use dualmcmc::ops::activation::{Activation, cpu as act};
    use dualmcmc::ops::matmul::cpu::epilogue;
    let g = gpu();
    let acts = [Activation::Relu, Activation::LeakyRelu(0.2), Activation::Tanh];
    let shapes = [
        shape(2, 3, (9, 9), 5, (3, 3, 1, 1)),
        shape(3, 7, (5, 7), 17, (4, 4, 2, 1)),
        shape(1, 1, (6, 5), 1, (3, 3, 1, 1)),
        // Several slices: runs of taps (forward), runs of taps (input gradient).
        shape(2, 70, (5, 6), 40, (4, 4, 1, 1)),
        shape(2, 20, (5, 5), 120, (3, 3, 1, 1)),
    ];
    for (i, s) in shapes.into_iter().enumerate() {
        let a = acts[i % acts.len()];
        let xs = random(seed(&s, 61), s.x_len(), -1.0, 1.0);
        let ws = random(seed(&s, 62), s.w_len(), -1.0, 1.0);
        let bs = random(seed(&s, 63), s.c_out, -1.0, 1.0);
        let dys = random(seed(&s, 64), s.y_len(), -1.0, 1.0);
        // The gate holds outputs of the activation (negative for LeakyReLU, 0 for ReLU).
        let gate: Vec<f32> =
            random(seed(&s, 65), s.x_len(), -1.0, 1.0).into_iter().map(|u| act::forward(a, u)).collect();
        for c in both_weight_readers() {
            let what = format!("{a:?} {s:?}");
            let (x, w, b, y) =
                (g.upload(&xs), g.upload(&ws), g.upload(&bs), g.upload(&vec![f32::NAN; s.y_len()]));
            g.submit(|enc| {
                c.forward_activated(
                    enc,
                    &s,
                    (&x).into(),
                    (&w).into(),
                    Some((&b).into()),
                    (&y).into(),
                    Some(a),
                )
            });
            let want: Vec<f64> = cpu::forward(&s, &xs, &ws, Some(&bs))
                .into_iter()
                .map(|v| epilogue(v, None, Some(a), None))
                .collect();
            assert_close(&format!("forward {what}"), &g.read(&y).unwrap(), &want, 1e-4, RTOL);

            // The gate 3 elements into its buffer, dx 2 into its own.
            let gate_buf = padded(g, &gate, 3, 1, 0.0);
            let (dy, dx) = (g.upload(&dys), padded(g, &vec![f32::NAN; s.x_len()], 2, 1, 5.0));
            g.submit(|enc| {
                let gate = Some((a, BufRef::new(&gate_buf, 3)));
                c.backward_input_gated(enc, &s, (&dy).into(), (&w).into(), BufRef::new(&dx, 2), gate)
            });
            let want: Vec<f64> = cpu::backward_input(&s, &dys, &ws)
                .into_iter()
                .zip(&gate)
                .map(|(v, &y)| epilogue(v, None, None, Some((a, y))))
                .collect();
            let got = read_region(g, &dx, 2, s.x_len(), 5.0, &what);
            assert_close(&format!("gated dx {what}"), &got, &want, 1e-4, RTOL);
        }
    }
}
