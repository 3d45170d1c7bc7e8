//! Batched matrix multiply C = α·op(A)·op(B) + β·C with either operand transposed
//! (`shaders/matmul.wgsl`).

use crate::gpu::{Access, Gpu, Kernel};

pub const SOURCE: &str = include_str!("../../shaders/matmul.wgsl");

/// Sizes and layout of one (batched) product. op(A) is `[m, k]`, op(B) is `[k, n]`, C is
/// `[m, n]`, all row-major; with `trans_a` A is stored `[k, m]`, with `trans_b` B is stored
/// `[n, k]`. Batch strides are in elements; a stride of 0 reuses the same matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub batch: usize,
    pub a_stride: usize,
    pub b_stride: usize,
    pub c_stride: usize,
}

impl MatmulShape {
    /// A single product (batch 1).
    pub fn new(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Self {
        Self { m, n, k, trans_a, trans_b, batch: 1, a_stride: 0, b_stride: 0, c_stride: 0 }
    }
}

/// A matrix inside a buffer: the buffer and the element offset where it starts.
pub use crate::gpu::BufRef as MatRef;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_off: u32,
    b_off: u32,
    c_off: u32,
    _pad0: u32,
    a_stride: u32,
    b_stride: u32,
    c_stride: u32,
    _pad1: u32,
    alpha: f32,
    beta: f32,
    _pad2: [u32; 2],
}

/// The four transpose variants, each a specialised pipeline.
pub struct Matmul {
    gpu: Gpu,
    kernels: [Kernel; 4],
}

impl Matmul {
    pub fn new(gpu: &Gpu) -> Self {
        let bufs = [Access::Read, Access::Read, Access::ReadWrite];
        let k = |ta: bool, tb: bool| {
            let c = [("TRANS_A", f64::from(u8::from(ta))), ("TRANS_B", f64::from(u8::from(tb)))];
            Kernel::new(gpu, SOURCE, "matmul", &bufs, &c)
        };
        Self { gpu: gpu.clone(), kernels: [k(false, false), k(false, true), k(true, false), k(true, true)] }
    }

    /// Records C = α·op(A)·op(B) + β·C. With β = 0, C is not read (it may hold NaN).
    pub fn encode(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: MatmulShape,
        a: MatRef,
        b: MatRef,
        c: MatRef,
        alpha: f32,
        beta: f32,
    ) {
        let last = |off: usize, stride: usize, size: usize| off + stride * (s.batch.max(1) - 1) + size;
        assert!(last(a.offset, s.a_stride, s.m * s.k) <= a.buf.len, "matmul: A out of bounds");
        assert!(last(b.offset, s.b_stride, s.k * s.n) <= b.buf.len, "matmul: B out of bounds");
        assert!(last(c.offset, s.c_stride, s.m * s.n) <= c.buf.len, "matmul: C out of bounds");
        let p = Params {
            m: s.m as u32,
            n: s.n as u32,
            k: s.k as u32,
            batch: s.batch as u32,
            a_off: a.offset as u32,
            b_off: b.offset as u32,
            c_off: c.offset as u32,
            _pad0: 0,
            a_stride: s.a_stride as u32,
            b_stride: s.b_stride as u32,
            c_stride: s.c_stride as u32,
            _pad1: 0,
            alpha,
            beta,
            _pad2: [0; 2],
        };
        let kernel = &self.kernels[usize::from(s.trans_a) * 2 + usize::from(s.trans_b)];
        let groups = [s.n.div_ceil(16) as u32, s.m.div_ceil(16) as u32, s.batch as u32];
        kernel.encode(&self.gpu, enc, &p, &[a.buf, b.buf, c.buf], groups);
    }
}

/// CPU reference in f64: returns α·op(A)·op(B) + β·C for every batch entry.
pub mod cpu {
    use super::MatmulShape;

    pub fn matmul(s: MatmulShape, a: &[f32], b: &[f32], c: &[f32], alpha: f64, beta: f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(s.batch * s.m * s.n);
        for bi in 0..s.batch {
            let (ab, bb, cb) = (bi * s.a_stride, bi * s.b_stride, bi * s.c_stride);
            for i in 0..s.m {
                for j in 0..s.n {
                    let mut acc = 0.0f64;
                    for kk in 0..s.k {
                        let av = if s.trans_a { a[ab + kk * s.m + i] } else { a[ab + i * s.k + kk] };
                        let bv = if s.trans_b { b[bb + j * s.k + kk] } else { b[bb + kk * s.n + j] };
                        acc += f64::from(av) * f64::from(bv);
                    }
                    let prev = if beta == 0.0 { 0.0 } else { f64::from(c[cb + i * s.n + j]) };
                    out.push(alpha * acc + beta * prev);
                }
            }
        }
        out
    }
}
