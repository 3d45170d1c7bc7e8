//! 2-D convolution with PyTorch's layouts and its two backward passes (`shaders/conv2d.wgsl`).
//!
//! Tensors, row-major f32: x `[batch, c_in, h_in, w_in]`, weight `[c_out, c_in, kh, kw]`,
//! bias `[c_out]`, y `[batch, c_out, h_out, w_out]`. Any kernel size, stride and (symmetric,
//! zero) padding. As for every layer, the input gradient is *written* and the parameter
//! gradients are *added* (the trainer sums several backward passes); the input and weight
//! gradients are separate calls because the Langevin samplers need only the first.
//!
//! Design (measured on lavapipe, llvmpipe 15.0.6 256-bit, see [`crate::bench_layers`]):
//! direct convolution kernels, one per pass, in which each invocation keeps a block of
//! TM channels × TN pixels in registers. The channel operand's address is the same across
//! the workgroup, which llvmpipe turns into one scalar load and a broadcast; only the
//! pixel operand is gathered per lane. No workgroup memory and no barriers. The input
//! gradient splits the pixels by stride phase so that stride-2 kernels visit only the taps
//! that hit. The weight gradient sums over rows (b, oy) in chunks when its output alone
//! would give too few workgroups, then adds the chunks in a fixed order: deterministic.

use crate::gpu::{Access, BufRef, Gpu, GpuBuffer, Kernel, grid_1d};
use std::sync::Mutex;

pub const SOURCE: &str = include_str!("../../shaders/conv2d.wgsl");

/// Invocations per workgroup; must match `WG` in the WGSL.
const WG: u32 = 64;

/// The weight gradient is split into row chunks until about this many workgroups run.
const WEIGHT_GRAD_GROUPS: usize = 256;

/// Sizes of one convolution. Output size follows PyTorch:
/// `h_out = (h_in + 2·pad − kh) / stride + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    pub batch: usize,
    pub c_in: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Conv2dShape {
    /// Output height; panics if the kernel does not fit the padded input.
    pub fn h_out(&self) -> usize {
        assert!(self.h_in + 2 * self.pad >= self.kh && self.stride > 0, "{self:?}");
        (self.h_in + 2 * self.pad - self.kh) / self.stride + 1
    }
    /// Output width; panics if the kernel does not fit the padded input.
    pub fn w_out(&self) -> usize {
        assert!(self.w_in + 2 * self.pad >= self.kw && self.stride > 0, "{self:?}");
        (self.w_in + 2 * self.pad - self.kw) / self.stride + 1
    }
    /// Elements of x.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in
    }
    /// Elements of the weight.
    pub fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.kh * self.kw
    }
    /// Elements of y.
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out()
    }
    /// Floating-point operations of the forward pass (2 per multiply-add, bias not counted).
    /// The input gradient and the weight gradient cost the same each.
    pub fn forward_flops(&self) -> f64 {
        2.0 * (self.batch * self.c_out * self.h_out() * self.w_out()) as f64
            * (self.c_in * self.kh * self.kw) as f64
    }
    /// Forward + input gradient + weight gradient.
    pub fn training_flops(&self) -> f64 {
        3.0 * self.forward_flops()
    }

    fn check(&self) {
        assert!(
            self.batch > 0 && self.c_in > 0 && self.c_out > 0 && self.kh > 0 && self.kw > 0,
            "conv2d: empty shape {self:?}"
        );
        let (_, _) = (self.h_out(), self.w_out());
        assert!(
            self.x_len().max(self.y_len()).max(self.w_len()) < u32::MAX as usize,
            "conv2d: tensor too large for 32-bit indices {self:?}"
        );
    }
}

/// Register block of one kernel: `tm` channels × `tn` pixels per invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub tm: usize,
    pub tn: usize,
}

/// Register blocks of the three passes (forward, input gradient, weight gradient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    pub forward: Block,
    pub input: Block,
    pub weight: Block,
}

impl Default for Blocking {
    /// The blocks that measured fastest on lavapipe (see the module docs).
    fn default() -> Self {
        Self {
            forward: Block { tm: 8, tn: 2 },
            input: Block { tm: 8, tn: 2 },
            weight: Block { tm: 8, tn: 2 },
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    c_in: u32,
    h_in: u32,
    w_in: u32,
    c_out: u32,
    h_out: u32,
    w_out: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad: u32,
    has_bias: u32,
    x_off: u32,
    w_off: u32,
    b_off: u32,
    y_off: u32,
    chunk_rows: u32,
    chunks: u32,
    _pad: [u32; 2],
}

impl Params {
    fn new(s: &Conv2dShape) -> Self {
        let u = |v: usize| v as u32;
        Self {
            batch: u(s.batch),
            c_in: u(s.c_in),
            h_in: u(s.h_in),
            w_in: u(s.w_in),
            c_out: u(s.c_out),
            h_out: u(s.h_out()),
            w_out: u(s.w_out()),
            kh: u(s.kh),
            kw: u(s.kw),
            stride: u(s.stride),
            pad: u(s.pad),
            chunks: 1,
            ..Self::default()
        }
    }
}

/// The WGSL source with the register block set to `b`.
fn source_with(b: Block) -> String {
    let src = SOURCE
        .replace("const TM: u32 = 8u;", &format!("const TM: u32 = {}u;", b.tm))
        .replace("const TN: u32 = 2u;", &format!("const TN: u32 = {}u;", b.tn));
    assert!(src.contains(&format!("const TM: u32 = {}u;", b.tm)));
    src
}

/// The convolution kernels, compiled once.
pub struct Conv2d {
    gpu: Gpu,
    blocking: Blocking,
    forward: Kernel,
    backward_input: Kernel,
    backward_weight: Kernel,
    reduce_chunks: Kernel,
    bias_grad: Kernel,
    /// Partial weight gradients of the row chunks; grown on demand and reused (passes
    /// within one submission run in order, so reuse is safe).
    scratch: Mutex<Option<GpuBuffer>>,
}

impl Conv2d {
    pub fn new(gpu: &Gpu) -> Self {
        Self::with_blocking(gpu, Blocking::default())
    }

    /// Kernels with other register blocks (for benchmarks of the variants).
    pub fn with_blocking(gpu: &Gpu, blocking: Blocking) -> Self {
        use Access::{Read, ReadWrite};
        let fwd = source_with(blocking.forward);
        let inp = source_with(blocking.input);
        let wgt = source_with(blocking.weight);
        Self {
            gpu: gpu.clone(),
            blocking,
            forward: Kernel::new(gpu, &fwd, "forward", &[Read, Read, Read, ReadWrite], &[]),
            backward_input: Kernel::new(gpu, &inp, "backward_input", &[Read, Read, ReadWrite], &[]),
            backward_weight: Kernel::new(gpu, &wgt, "backward_weight", &[Read, Read, ReadWrite], &[]),
            reduce_chunks: Kernel::new(gpu, SOURCE, "reduce_chunks", &[Read, ReadWrite], &[]),
            bias_grad: Kernel::new(gpu, SOURCE, "bias_grad", &[Read, ReadWrite], &[]),
            scratch: Mutex::new(None),
        }
    }

    /// Records y = conv(x, w) + bias. y must not share a buffer with x, w or bias.
    pub fn forward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &Conv2dShape,
        x: BufRef,
        w: BufRef,
        bias: Option<BufRef>,
        y: BufRef,
    ) {
        s.check();
        fits("x", x, s.x_len());
        fits("weight", w, s.w_len());
        fits("y", y, s.y_len());
        if let Some(b) = bias {
            fits("bias", b, s.c_out);
        }
        let mut p = Params::new(s);
        p.x_off = x.offset as u32;
        p.w_off = w.offset as u32;
        p.y_off = y.offset as u32;
        // Without a bias the binding still needs a buffer; the shader does not read it.
        let b = bias.unwrap_or(w);
        p.has_bias = u32::from(bias.is_some());
        p.b_off = b.offset as u32;
        let blk = self.blocking.forward;
        let npix = s.batch * s.h_out() * s.w_out();
        let groups = [groups_of(npix, blk.tn), s.c_out.div_ceil(blk.tm) as u32, 1];
        self.forward.encode(&self.gpu, enc, &p, &[x.buf, w.buf, b.buf, y.buf], groups);
    }

    /// Records dx = ∂L/∂x from dy = ∂L/∂y (dx is written, not added). dx must not share a
    /// buffer with dy or w.
    pub fn backward_input(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &Conv2dShape,
        dy: BufRef,
        w: BufRef,
        dx: BufRef,
    ) {
        s.check();
        fits("dy", dy, s.y_len());
        fits("weight", w, s.w_len());
        fits("dx", dx, s.x_len());
        let mut p = Params::new(s);
        p.y_off = dy.offset as u32;
        p.w_off = w.offset as u32;
        p.x_off = dx.offset as u32;
        let blk = self.blocking.input;
        // The largest stride phase class has ceil(h/s)·ceil(w/s) pixels per example.
        let npix = s.batch * s.h_in.div_ceil(s.stride) * s.w_in.div_ceil(s.stride);
        let groups = [groups_of(npix, blk.tn), s.c_in.div_ceil(blk.tm) as u32, (s.stride * s.stride) as u32];
        self.backward_input.encode(&self.gpu, enc, &p, &[dy.buf, w.buf, dx.buf], groups);
    }

    /// Records dw += ∂L/∂w and, if given, db += ∂L/∂bias, from x and dy = ∂L/∂y. dw and db
    /// must not share a buffer with x or dy (they may share one with each other).
    pub fn backward_weight(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &Conv2dShape,
        x: BufRef,
        dy: BufRef,
        dw: BufRef,
        db: Option<BufRef>,
    ) {
        s.check();
        fits("x", x, s.x_len());
        fits("dy", dy, s.y_len());
        fits("dw", dw, s.w_len());
        let mut p = Params::new(s);
        p.x_off = x.offset as u32;
        p.y_off = dy.offset as u32;
        p.w_off = dw.offset as u32;

        let blk = self.blocking.weight;
        let k_len = s.c_in * s.kh * s.kw;
        let base = [groups_of(k_len, blk.tn), s.c_out.div_ceil(blk.tm) as u32];
        let (chunk_rows, chunks) = self.chunking(s);
        p.chunk_rows = chunk_rows as u32;
        p.chunks = chunks as u32;
        let groups = [base[0], base[1], chunks as u32];
        if chunks == 1 {
            self.backward_weight.encode(&self.gpu, enc, &p, &[x.buf, dy.buf, dw.buf], groups);
        } else {
            let mut scratch = self.scratch.lock().unwrap();
            let need = chunks * s.w_len();
            if scratch.as_ref().is_none_or(|b| b.len < need) {
                *scratch = Some(self.gpu.zeros(need));
            }
            let partial = scratch.as_ref().unwrap();
            self.backward_weight.encode(&self.gpu, enc, &p, &[x.buf, dy.buf, partial], groups);
            let grid = grid_1d(s.w_len(), WG);
            self.reduce_chunks.encode(&self.gpu, enc, &p, &[partial, dw.buf], grid);
        }

        if let Some(db) = db {
            fits("db", db, s.c_out);
            p.b_off = db.offset as u32;
            let grid = [s.c_out.div_ceil(WG as usize) as u32, 1, 1];
            self.bias_grad.encode(&self.gpu, enc, &p, &[dy.buf, db.buf], grid);
        }
    }

    /// Row chunks the weight gradient of `s` is split into (1: no partial sums). Enough
    /// chunks that about [`WEIGHT_GRAD_GROUPS`] workgroups run, as long as the partial sums
    /// fit one storage binding.
    pub fn weight_grad_chunks(&self, s: &Conv2dShape) -> usize {
        self.chunking(s).1
    }

    /// (rows per chunk, chunks) for the weight gradient; rows are (b, oy) pairs.
    fn chunking(&self, s: &Conv2dShape) -> (usize, usize) {
        let blk = self.blocking.weight;
        let base_groups = (s.c_in * s.kh * s.kw).div_ceil(WG as usize * blk.tn) * s.c_out.div_ceil(blk.tm);
        let rows = s.batch * s.h_out();
        let max_binding = self.gpu.limits.max_storage_buffer_binding_size as usize / 4;
        let by_memory = (max_binding / s.w_len()).max(1);
        let wanted = WEIGHT_GRAD_GROUPS.div_ceil(base_groups).min(by_memory).min(rows);
        let chunk_rows = rows.div_ceil(wanted.max(1));
        (chunk_rows, rows.div_ceil(chunk_rows))
    }
}

/// Workgroups along x for `n` items at `tn` per invocation.
fn groups_of(n: usize, tn: usize) -> u32 {
    let groups = n.div_ceil(WG as usize * tn);
    assert!(
        groups <= 65_535,
        "conv2d: {n} pixels need {groups} workgroups along x (max 65,535); split the batch"
    );
    groups as u32
}

fn fits(what: &str, r: BufRef, len: usize) {
    assert!(
        r.offset + len <= r.buf.len,
        "conv2d: {what} needs {len} elements at offset {}, buffer has {}",
        r.offset,
        r.buf.len
    );
}

/// CPU references in f64, plain loops over PyTorch's definition.
pub mod cpu {
    use super::Conv2dShape;

    /// y `[batch, c_out, h_out, w_out]` = conv(x, w) + bias.
    pub fn forward(s: &Conv2dShape, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f64> {
        let wide = |v: &[f32]| v.iter().map(|&e| f64::from(e)).collect::<Vec<f64>>();
        forward_f64(s, &wide(x), &wide(w), bias.map(wide).as_deref())
    }

    /// The forward pass in f64 throughout (the finite-difference checks perturb x and w).
    pub fn forward_f64(s: &Conv2dShape, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
        let (ho, wo) = (s.h_out(), s.w_out());
        let mut y = vec![0.0; s.y_len()];
        for b in 0..s.batch {
            for co in 0..s.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = bias.map_or(0.0, |bv| bv[co]);
                        for ci in 0..s.c_in {
                            for ky in 0..s.kh {
                                for kx in 0..s.kw {
                                    if let Some(xi) = x_index(s, b, ci, oy, ox, ky, kx) {
                                        let wi = ((co * s.c_in + ci) * s.kh + ky) * s.kw + kx;
                                        acc += w[wi] * x[xi];
                                    }
                                }
                            }
                        }
                        y[((b * s.c_out + co) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        y
    }

    /// dx `[batch, c_in, h_in, w_in]` = ∂L/∂x for dy = ∂L/∂y.
    pub fn backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32]) -> Vec<f64> {
        let (ho, wo) = (s.h_out(), s.w_out());
        let mut dx = vec![0.0; s.x_len()];
        for b in 0..s.batch {
            for co in 0..s.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let g = f64::from(dy[((b * s.c_out + co) * ho + oy) * wo + ox]);
                        for ci in 0..s.c_in {
                            for ky in 0..s.kh {
                                for kx in 0..s.kw {
                                    if let Some(xi) = x_index(s, b, ci, oy, ox, ky, kx) {
                                        let wi = ((co * s.c_in + ci) * s.kh + ky) * s.kw + kx;
                                        dx[xi] += f64::from(w[wi]) * g;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        dx
    }

    /// (dw `[c_out, c_in, kh, kw]`, db `[c_out]`) = (∂L/∂w, ∂L/∂bias) for dy = ∂L/∂y.
    pub fn backward_weight(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (ho, wo) = (s.h_out(), s.w_out());
        let mut dw = vec![0.0; s.w_len()];
        let mut db = vec![0.0; s.c_out];
        for b in 0..s.batch {
            for co in 0..s.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let g = f64::from(dy[((b * s.c_out + co) * ho + oy) * wo + ox]);
                        db[co] += g;
                        for ci in 0..s.c_in {
                            for ky in 0..s.kh {
                                for kx in 0..s.kw {
                                    if let Some(xi) = x_index(s, b, ci, oy, ox, ky, kx) {
                                        let wi = ((co * s.c_in + ci) * s.kh + ky) * s.kw + kx;
                                        dw[wi] += f64::from(x[xi]) * g;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (dw, db)
    }

    /// Index of x[b, ci, oy·s − p + ky, ox·s − p + kx], or None in the zero padding.
    fn x_index(
        s: &Conv2dShape,
        b: usize,
        ci: usize,
        oy: usize,
        ox: usize,
        ky: usize,
        kx: usize,
    ) -> Option<usize> {
        let iy = (oy * s.stride + ky).checked_sub(s.pad)?;
        let ix = (ox * s.stride + kx).checked_sub(s.pad)?;
        (iy < s.h_in && ix < s.w_in).then(|| ((b * s.c_in + ci) * s.h_in + iy) * s.w_in + ix)
    }
}
