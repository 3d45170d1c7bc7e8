//! Spectral norm against the f64 CPU reference, against central finite differences (u, v
//! held at the values of the forward, as PyTorch's autograd holds them), and against
//! matrices whose largest singular value is known.

mod common;
use common::{assert_close, central_differences, gpu, random};
use dualmcmc::gpu::{BufRef, GpuBuffer};
use dualmcmc::ops::spectral_norm::{SnShape, SpectralNorm, cpu};

/// From the toy's tiny layers to the paper's 512 × 4608 (512 channels, 512·3·3 inputs).
const SHAPES: [(usize, usize); 8] =
    [(2, 128), (128, 2), (1, 5), (5, 1), (7, 3), (3, 7), (64, 1152), (512, 4608)];

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

const W_OFF: usize = 7;
const STATE_OFF: usize = 3;
const WSN_OFF: usize = 1;

/// A layer laid out as a network lays it out: W at an offset inside the flat parameter
/// buffer, the state at an offset inside a state buffer, W_sn at an offset in its own.
struct Layer {
    shape: SnShape,
    params: GpuBuffer,
    state: GpuBuffer,
    w_sn: GpuBuffer,
}

impl Layer {
    fn new(shape: SnShape, w: &[f32], seed: u64) -> Self {
        let g = gpu();
        let mut params = random(seed, W_OFF, -1.0, 1.0);
        params.extend(w);
        params.extend(random(seed + 1, 5, -1.0, 1.0));
        let mut state = vec![9.0f32; STATE_OFF];
        state.extend(shape.initial_state(
            &random(seed + 2, shape.rows, -1.0, 1.0),
            &random(seed + 3, shape.cols, -1.0, 1.0),
        ));
        state.push(9.0);
        Self {
            shape,
            params: g.upload(&params),
            state: g.upload(&state),
            w_sn: g.zeros(WSN_OFF + shape.len()),
        }
    }
    fn w(&self) -> BufRef<'_> {
        BufRef::new(&self.params, W_OFF)
    }
    fn st(&self) -> BufRef<'_> {
        BufRef::new(&self.state, STATE_OFF)
    }
    fn wsn(&self) -> BufRef<'_> {
        BufRef::new(&self.w_sn, WSN_OFF)
    }
    /// (u, v, σ) as the state holds them.
    fn uvs(&self) -> (Vec<f32>, Vec<f32>, f32) {
        let st = gpu().read::<f32>(&self.state).unwrap();
        let s = self.shape;
        let at = |k: usize| STATE_OFF + k;
        let u = st[at(s.u_at())..at(s.u_at() + s.rows)].to_vec();
        let v = st[at(s.v_at())..at(s.v_at() + s.cols)].to_vec();
        (u, v, st[at(s.sigma_at())])
    }
    fn w_sn(&self) -> Vec<f32> {
        gpu().read::<f32>(&self.w_sn).unwrap()[WSN_OFF..].to_vec()
    }
}

#[test]
fn forward_matches_cpu_power_iteration() {
    let g = gpu();
    let sn = SpectralNorm::new(g);
    for (si, &(rows, cols)) in SHAPES.iter().enumerate() {
        let s = SnShape::new(rows, cols);
        let seed = 10 * si as u64;
        let w = random(seed, s.len(), -1.0, 1.0);
        let layer = Layer::new(s, &w, seed + 1);
        let wd = f64s(&w);
        let (u0, _, _) = layer.uvs();
        let mut u = f64s(&u0);
        // A few forwards in a row on the small shapes: the state carries over.
        let forwards = if s.len() > 100_000 { 1 } else { 3 };
        for f in 0..forwards {
            g.submit(|enc| sn.forward(enc, s, layer.w(), layer.st(), layer.wsn()));
            let (nu, nv) = cpu::power_iteration(s, &wd, &u);
            let sigma = cpu::sigma(s, &wd, &nu, &nv);
            let (gu, gv, gs) = layer.uvs();
            let what = |name: &str| format!("{name} {s:?} forward {f}");
            assert_close(&what("u"), &gu, &nu, 1e-6, 1e-4);
            assert_close(&what("v"), &gv, &nv, 1e-6, 1e-4);
            assert_close(&what("sigma"), &[gs], &[sigma], 0.0, 1e-5);
            let want = cpu::normalized(s, &wd, &nu, &nv);
            assert_close(&what("w_sn"), &layer.w_sn(), &want, 1e-6, 1e-4);
            u = nu;
        }
        // Nothing outside the state was written.
        let st = g.read::<f32>(&layer.state).unwrap();
        assert_eq!(st[..STATE_OFF], [9.0; STATE_OFF], "{s:?}: before the state");
        assert_eq!(st[st.len() - 1], 9.0, "{s:?}: after the state");
    }
}

#[test]
fn eval_forward_uses_stored_vectors_and_leaves_them() {
    let g = gpu();
    let sn = SpectralNorm::new(g);
    for (si, &(rows, cols)) in SHAPES[..7].iter().enumerate() {
        let s = SnShape::new(rows, cols);
        let w = random(50 + si as u64, s.len(), -1.0, 1.0);
        let layer = Layer::new(s, &w, 60 + si as u64);
        // A training forward first, so that u and v are a consistent pair.
        g.submit(|enc| sn.forward(enc, s, layer.w(), layer.st(), layer.wsn()));
        let (u, v, _) = layer.uvs();
        // New weights (as after an optimiser step), then evaluate without power iteration.
        let w2 = random(70 + si as u64, s.len(), -1.0, 1.0);
        let mut params = g.read::<f32>(&layer.params).unwrap();
        params[W_OFF..W_OFF + s.len()].copy_from_slice(&w2);
        g.write(&layer.params, &params);
        g.submit(|enc| sn.forward_eval(enc, s, layer.w(), layer.st(), layer.wsn()));
        let (u2, v2, sigma) = layer.uvs();
        assert_eq!(u, u2, "{s:?}: eval forward moved u");
        assert_eq!(v, v2, "{s:?}: eval forward moved v");
        let (wd, ud, vd) = (f64s(&w2), f64s(&u), f64s(&v));
        let want_sigma = cpu::sigma(s, &wd, &ud, &vd);
        assert_close(&format!("sigma {s:?}"), &[sigma], &[want_sigma], 1e-6, 1e-4);
        let want = cpu::normalized(s, &wd, &ud, &vd);
        assert_close(&format!("w_sn {s:?}"), &layer.w_sn(), &want, 1e-5, 1e-4);
    }
}

/// Central differences of `f` at every coordinate of `at`, in f64.
#[test]
fn backward_matches_finite_differences_and_accumulates() {
    let g = gpu();
    let sn = SpectralNorm::new(g);
    for (si, &(rows, cols)) in SHAPES.iter().enumerate() {
        let s = SnShape::new(rows, cols);
        let w = random(100 + si as u64, s.len(), -1.0, 1.0);
        let gs = random(200 + si as u64, s.len(), -1.0, 1.0);
        let layer = Layer::new(s, &w, 300 + si as u64);
        let gbuf = g.upload(&gs);
        // The gradient buffer mirrors the parameter buffer and already holds gradients.
        let prefill = random(400 + si as u64, layer.params.len, -1.0, 1.0);
        let grads = g.upload(&prefill);
        g.submit(|enc| {
            sn.forward(enc, s, layer.w(), layer.st(), layer.wsn());
            let dw = BufRef::new(&grads, W_OFF);
            sn.backward(enc, s, layer.w(), layer.st(), (&gbuf).into(), dw);
        });
        // u, v as this forward left them: the constants of PyTorch's backward.
        let (u, v, _) = layer.uvs();
        let (wd, gd, ud, vd) = (f64s(&w), f64s(&gs), f64s(&u), f64s(&v));
        let want = if s.len() <= 300 {
            // L(W) = Σ G∘W_sn(W) with W_sn = W / (uᵀWv).
            central_differences(&wd, 1e-6, |w| {
                let w_sn = cpu::normalized(s, w, &ud, &vd);
                w_sn.iter().zip(&gd).map(|(a, b)| a * b).sum()
            })
        } else {
            // Too many coordinates for differences; the closed form checked above.
            cpu::backward(s, &wd, &ud, &vd, &gd)
        };
        let got = g.read::<f32>(&grads).unwrap();
        let want_total: Vec<f64> =
            want.iter().zip(&prefill[W_OFF..]).map(|(d, p)| f64::from(*p) + d).collect();
        let (atol, rtol) = (1e-4, 1e-3);
        assert_close(&format!("dW {s:?}"), &got[W_OFF..W_OFF + s.len()], &want_total, atol, rtol);
        for k in (0..W_OFF).chain(W_OFF + s.len()..got.len()) {
            assert_eq!(got[k].to_bits(), prefill[k].to_bits(), "{s:?}: grads[{k}] moved");
        }
    }
}

/// The closed-form backward of the CPU reference agrees with finite differences too, so
/// the large shapes above are checked against something checked.
#[test]
fn cpu_backward_matches_finite_differences() {
    let s = SnShape::new(4, 6);
    let w = f64s(&random(1, s.len(), -1.0, 1.0));
    let gd = f64s(&random(2, s.len(), -1.0, 1.0));
    let (u, v) = cpu::power_iteration(s, &w, &f64s(&random(3, 4, -1.0, 1.0)));
    let fd = central_differences(&w, 1e-6, |w| {
        let w_sn = cpu::normalized(s, w, &u, &v);
        w_sn.iter().zip(&gd).map(|(a, b)| a * b).sum()
    });
    let closed = cpu::backward(s, &w, &u, &v, &gd);
    for (a, b) in fd.iter().zip(&closed) {
        assert!((a - b).abs() < 1e-7, "{a} vs {b}");
    }
}

/// Orthonormal columns `[n, k]` (row-major) by Gram–Schmidt on uniform draws.
fn orthonormal(n: usize, k: usize, seed: u64) -> Vec<f64> {
    let raw = f64s(&random(seed, n * k, -1.0, 1.0));
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for c in 0..k {
        let mut x: Vec<f64> = (0..n).map(|r| raw[r * k + c]).collect();
        // Twice, for orthogonality to working precision.
        for _ in 0..2 {
            for q in &cols {
                let d: f64 = x.iter().zip(q).map(|(a, b)| a * b).sum();
                x.iter_mut().zip(q).for_each(|(a, b)| *a -= d * b);
            }
        }
        let norm = x.iter().map(|a| a * a).sum::<f64>().sqrt();
        cols.push(x.iter().map(|a| a / norm).collect());
    }
    (0..n * k).map(|i| cols[i % k][i / k]).collect()
}

/// W = U·diag(s)·Vᵀ `[rows, cols]` from random orthonormal factors.
fn with_singular_values(rows: usize, cols: usize, s: &[f64], seed: u64) -> Vec<f32> {
    let k = s.len();
    let (u, v) = (orthonormal(rows, k, seed), orthonormal(cols, k, seed + 1));
    (0..rows * cols)
        .map(|idx| {
            let (i, j) = (idx / cols, idx % cols);
            (0..k).map(|r| u[i * k + r] * s[r] * v[j * k + r]).sum::<f64>() as f32
        })
        .collect()
}

/// Largest singular value by many f64 power iterations.
fn largest_singular_value(s: SnShape, w: &[f64]) -> f64 {
    let mut u = vec![1.0; s.rows];
    for _ in 0..500 {
        u = cpu::power_iteration(s, w, &u).0;
    }
    let v = cpu::normalize(&cpu::mtv(s, w, &u));
    cpu::sigma(s, w, &u, &v)
}

#[test]
fn power_iteration_converges_to_the_largest_singular_value() {
    let g = gpu();
    let sn = SpectralNorm::new(g);
    // A dense matrix with known spectrum (gap 4 : 2.5), and a diagonal one whose largest
    // entry is not first; both awkward sizes.
    let dense = SnShape::new(40, 67);
    let spectrum = [4.0, 2.5, 2.0, 1.0, 0.5, 0.25, 0.1];
    let diag_shape = SnShape::new(5, 9);
    let mut diag = vec![0.0f32; diag_shape.len()];
    for (i, d) in [0.5f32, -1.0, 3.0, 2.0, 0.25].iter().enumerate() {
        diag[i * diag_shape.cols + i] = *d;
    }
    let cases = [(dense, with_singular_values(40, 67, &spectrum, 5), 4.0), (diag_shape, diag, 3.0)];
    for (s, w, top) in cases {
        let layer = Layer::new(s, &w, 11);
        g.submit(|enc| {
            for _ in 0..40 {
                sn.forward(enc, s, layer.w(), layer.st(), layer.wsn());
            }
        });
        let (_, _, sigma) = layer.uvs();
        assert!(
            (f64::from(sigma) - top).abs() < 1e-5 * top,
            "{s:?}: σ = {sigma}, largest singular value {top}"
        );
        // W_sn = W/σ then has spectral norm 1.
        let norm = largest_singular_value(s, &f64s(&layer.w_sn()));
        assert!((norm - 1.0).abs() < 1e-5, "{s:?}: ‖W_sn‖₂ = {norm}");
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn forward_and_backward_are_bit_identical_on_repeat() {
    let g = gpu();
    let sn = SpectralNorm::new(g);
    for (rows, cols) in [(3, 7), (64, 1152)] {
        let s = SnShape::new(rows, cols);
        let w = random(7, s.len(), -1.0, 1.0);
        let gbuf = g.upload(&random(8, s.len(), -1.0, 1.0));
        let run = || {
            let layer = Layer::new(s, &w, 9);
            let grads = g.zeros(layer.params.len);
            g.submit(|enc| {
                for _ in 0..2 {
                    sn.forward(enc, s, layer.w(), layer.st(), layer.wsn());
                    let dw = BufRef::new(&grads, W_OFF);
                    sn.backward(enc, s, layer.w(), layer.st(), (&gbuf).into(), dw);
                }
            });
            [g.read::<f32>(&layer.state).unwrap(), layer.w_sn(), g.read::<f32>(&grads).unwrap()]
        };
        let (a, b) = (run(), run());
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(bits(x), bits(y), "{s:?}: output {k} differs between runs");
        }
    }
}
