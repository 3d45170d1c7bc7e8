//! Spectral normalisation of a weight (`spectral_norm.wgsl`), with the semantics of
//! PyTorch's `torch.nn.utils.spectral_norm` (dim 0, `n_power_iterations = 1`, eps 1e-12).
//!
//! The reference EBM wraps every convolution and linear layer in spectral norm, one power
//! iteration per forward pass (docs/reference.md). A weight `[out, in, kh, kw]` (or `[out, in]`)
//! is viewed as the matrix W `[rows = out, cols = in·kh·kw]`; the layer then convolves with
//! W_sn = W/σ, written to a separate buffer, where σ ≈ the largest singular value of W.
//!
//! The persistent vectors u `[rows]` and v `[cols]` are state, not parameters: they are
//! updated in place by the forward, never by the optimiser, and the backward treats them as
//! constants, as PyTorch's autograd does (its hook computes u, v under `no_grad`).

use crate::gpu::{Access, BufRef, Gpu, Kernel, grid_1d};

pub const SOURCE: &str = include_str!("spectral_norm.wgsl");

/// PyTorch's `eps` in normalize(x) = x / max(‖x‖, eps).
pub const EPS: f32 = 1e-12;

/// Workgroup size of the elementwise kernels and `sn_wtu`; must match `WG_1D` in the WGSL.
const WG_1D: u32 = 256;

/// The weight viewed as a matrix `[rows, cols]`, row-major (rows = output channels).
///
/// Its state, at an offset in a state buffer, is `[u: rows | v: cols | σ: 1 | scratch:
/// rows + cols]` ([`SnShape::state_len`] elements): σ is the value the last forward divided
/// by (the backward needs it); scratch is working space of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnShape {
    pub rows: usize,
    pub cols: usize,
}

impl SnShape {
    pub fn new(rows: usize, cols: usize) -> Self {
        Self { rows, cols }
    }
    /// Elements of W (and of W_sn, G, dW).
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Elements of a layer's state.
    pub fn state_len(&self) -> usize {
        2 * (self.rows + self.cols) + 1
    }
    /// Where u, v and σ start, relative to the start of the state.
    pub fn u_at(&self) -> usize {
        0
    }
    pub fn v_at(&self) -> usize {
        self.rows
    }
    pub fn sigma_at(&self) -> usize {
        self.rows + self.cols
    }

    /// A fresh state as PyTorch makes it: u = normalize(u0), v = normalize(v0) for draws
    /// u0 `[rows]`, v0 `[cols]` from N(0, 1) supplied by the caller (our RNG, not torch's);
    /// σ = 1 until the first forward.
    pub fn initial_state(&self, u0: &[f32], v0: &[f32]) -> Vec<f32> {
        assert_eq!(u0.len(), self.rows, "u0 must have `rows` elements");
        assert_eq!(v0.len(), self.cols, "v0 must have `cols` elements");
        let normalize = |x: &[f32]| {
            let norm = x.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt();
            let denom = norm.max(f64::from(EPS));
            x.iter().map(|a| (f64::from(*a) / denom) as f32).collect::<Vec<_>>()
        };
        let mut state = normalize(u0);
        state.extend(normalize(v0));
        state.push(1.0);
        state.resize(self.state_len(), 0.0);
        state
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    w_off: u32,
    state_off: u32,
    wsn_off: u32,
    g_off: u32,
    dw_off: u32,
}

/// The spectral-norm kernels, compiled once.
pub struct SpectralNorm {
    gpu: Gpu,
    wtu: Kernel,
    normalize_v: Kernel,
    wv: Kernel,
    /// `[training (u = normalize(Wv)), evaluation (stored u)]`
    sigma: [Kernel; 2],
    scale: Kernel,
    grad_rows: Kernel,
    grad_total: Kernel,
    grad_apply: Kernel,
}

impl SpectralNorm {
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, ReadWrite};
        // W, state, W_sn (forward); W, state, G, dW (backward)
        let fwd = [Read, ReadWrite, ReadWrite];
        let bwd = [Read, ReadWrite, Read, ReadWrite];
        let k = |entry: &str, bufs: &[Access]| Kernel::new(gpu, SOURCE, entry, bufs, &[]);
        let sigma = |power: bool| {
            let c = [("POWER", f64::from(u8::from(power)))];
            Kernel::new(gpu, SOURCE, "sn_sigma", &fwd[..2], &c)
        };
        Self {
            gpu: gpu.clone(),
            wtu: k("sn_wtu", &fwd[..2]),
            normalize_v: k("sn_normalize_v", &fwd[..2]),
            wv: k("sn_wv", &fwd[..2]),
            sigma: [sigma(true), sigma(false)],
            scale: k("sn_scale", &fwd),
            grad_rows: k("sn_grad_rows", &bwd[..3]),
            grad_total: k("sn_grad_total", &bwd[..2]),
            grad_apply: k("sn_grad_apply", &bwd),
        }
    }

    /// Training forward: one power iteration, v = normalize(Wᵀu), u = normalize(Wv) (u and
    /// v updated in the state), then σ = uᵀWv (stored in the state) and W_sn = W/σ.
    ///
    /// w, w_sn: `[rows, cols]`; state: [`SnShape::state_len`] elements. Five dispatches:
    /// Wᵀu, normalize, Wv, σ (with u), W/σ. Panics if a tensor runs past its buffer, or if W
    /// shares a buffer with the state or W_sn.
    pub fn forward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        shape: SnShape,
        w: BufRef,
        state: BufRef,
        w_sn: BufRef,
    ) {
        self.encode_forward(enc, shape, w, state, w_sn, true);
    }

    /// Evaluation forward (PyTorch's eval mode): no power iteration; σ = uᵀWv with the
    /// stored u and v (σ is stored for the backward; u and v are left as they are), then
    /// W_sn = W/σ. Three dispatches: Wv, σ, W/σ.
    pub fn forward_eval(
        &self,
        enc: &mut wgpu::CommandEncoder,
        shape: SnShape,
        w: BufRef,
        state: BufRef,
        w_sn: BufRef,
    ) {
        self.encode_forward(enc, shape, w, state, w_sn, false);
    }

    fn encode_forward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        shape: SnShape,
        w: BufRef,
        state: BufRef,
        w_sn: BufRef,
        power: bool,
    ) {
        check_shape(shape);
        fits("w", w, shape.len());
        fits("w_sn", w_sn, shape.len());
        fits("state", state, shape.state_len());
        distinct("w", w, "state", state);
        distinct("w", w, "w_sn", w_sn);
        let p = Params { w_off: off(w), state_off: off(state), wsn_off: off(w_sn), ..sizes(shape) };
        let (gpu, one, rows) = (&self.gpu, [1, 1, 1], grid_1d(shape.rows, 1));
        let ws = [w.buf, state.buf];
        if power {
            let cols = grid_1d(shape.cols, WG_1D);
            self.wtu.encode(gpu, enc, &p, &ws, cols);
            self.normalize_v.encode(gpu, enc, &p, &ws, one);
        }
        self.wv.encode(gpu, enc, &p, &ws, rows);
        self.sigma[usize::from(!power)].encode(gpu, enc, &p, &ws, one);
        let all = grid_1d(shape.len(), WG_1D);
        self.scale.encode(gpu, enc, &p, &[w.buf, state.buf, w_sn.buf], all);
    }

    /// Backward with u, v and σ taken from the state as the last forward left them
    /// (constants, as in PyTorch): given G = dL/dW_sn, adds
    /// dL/dW = G/σ − (Σ G∘W / σ²)·u vᵀ into `dw` (normally W's offset in the gradient
    /// buffer). w, g, dw: `[rows, cols]`. Three dispatches: row sums of G∘W, their total,
    /// the update.
    pub fn backward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        shape: SnShape,
        w: BufRef,
        state: BufRef,
        g: BufRef,
        dw: BufRef,
    ) {
        check_shape(shape);
        fits("w", w, shape.len());
        fits("g", g, shape.len());
        fits("dw", dw, shape.len());
        fits("state", state, shape.state_len());
        for (name, read) in [("w", w), ("g", g)] {
            distinct(name, read, "state", state);
            distinct(name, read, "dw", dw);
        }
        let p =
            Params { w_off: off(w), state_off: off(state), g_off: off(g), dw_off: off(dw), ..sizes(shape) };
        let gpu = &self.gpu;
        let (w, st, g, dw) = (w.buf, state.buf, g.buf, dw.buf);
        self.grad_rows.encode(gpu, enc, &p, &[w, st, g], grid_1d(shape.rows, 1));
        self.grad_total.encode(gpu, enc, &p, &[w, st], [1, 1, 1]);
        self.grad_apply.encode(gpu, enc, &p, &[w, st, g, dw], grid_1d(shape.len(), WG_1D));
    }
}

fn sizes(s: SnShape) -> Params {
    Params { rows: s.rows as u32, cols: s.cols as u32, eps: EPS, ..Params::default() }
}

fn check_shape(s: SnShape) {
    assert!(!s.is_empty(), "spectral norm: empty weight {s:?}");
    assert!(s.len() <= u32::MAX as usize, "spectral norm: {s:?} too large for 32-bit indices");
}

fn off(r: BufRef) -> u32 {
    u32::try_from(r.offset).expect("spectral norm: offset past 32 bits")
}

fn fits(name: &str, r: BufRef, len: usize) {
    assert!(
        r.available() >= len,
        "spectral norm: {name} needs {len} elements at offset {}, buffer has {}",
        r.offset,
        r.buf.len
    );
}

/// wgpu refuses one buffer bound read-only and read-write in the same dispatch; say so here
/// with the operands' names rather than as a validation error from deep inside wgpu.
fn distinct(read_name: &str, read: BufRef, written_name: &str, written: BufRef) {
    assert!(
        read.buf.buffer != written.buf.buffer,
        "spectral norm: {read_name} (read) and {written_name} (written) must be in different buffers"
    );
}

/// CPU reference in f64, PyTorch's `_SpectralNorm.compute_weight` written out plainly.
pub mod cpu {
    use super::SnShape;

    /// x / max(‖x‖, eps) with PyTorch's eps.
    pub fn normalize(x: &[f64]) -> Vec<f64> {
        let norm = x.iter().map(|a| a * a).sum::<f64>().sqrt();
        let denom = norm.max(f64::from(super::EPS));
        x.iter().map(|a| a / denom).collect()
    }

    /// Wv `[rows]`.
    pub fn mv(s: SnShape, w: &[f64], v: &[f64]) -> Vec<f64> {
        (0..s.rows).map(|i| (0..s.cols).map(|j| w[i * s.cols + j] * v[j]).sum()).collect()
    }

    /// Wᵀu `[cols]`.
    pub fn mtv(s: SnShape, w: &[f64], u: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; s.cols];
        for i in 0..s.rows {
            for j in 0..s.cols {
                out[j] += w[i * s.cols + j] * u[i];
            }
        }
        out
    }

    /// σ = uᵀWv.
    pub fn sigma(s: SnShape, w: &[f64], u: &[f64], v: &[f64]) -> f64 {
        mv(s, w, v).iter().zip(u).map(|(a, b)| a * b).sum()
    }

    /// One power iteration from u: returns the new (u, v).
    pub fn power_iteration(s: SnShape, w: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let v = normalize(&mtv(s, w, u));
        let u = normalize(&mv(s, w, &v));
        (u, v)
    }

    /// W/σ with σ = uᵀWv for the given (fixed) u and v.
    pub fn normalized(s: SnShape, w: &[f64], u: &[f64], v: &[f64]) -> Vec<f64> {
        let sigma = sigma(s, w, u, v);
        w.iter().map(|a| a / sigma).collect()
    }

    /// dL/dW = G/σ − (Σ G∘W / σ²)·u vᵀ, u and v fixed.
    pub fn backward(s: SnShape, w: &[f64], u: &[f64], v: &[f64], g: &[f64]) -> Vec<f64> {
        let sigma = sigma(s, w, u, v);
        let gw: f64 = g.iter().zip(w).map(|(a, b)| a * b).sum();
        (0..s.len()).map(|k| g[k] / sigma - gw / (sigma * sigma) * u[k / s.cols] * v[k % s.cols]).collect()
    }
}
