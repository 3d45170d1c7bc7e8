//! Batched matrix multiply C = α·op(A)·op(B) + β·C with either operand transposed
//! (`matmul.wgsl`, composed with a loader per operand, `matmul_{a,b}_{vec4,scalar}.wgsl`, a
//! store file, `matmul_store_{vec4,scalar}.wgsl`, and `epilogue.wgsl`).
//!
//! The kernel is register-blocked: each invocation computes a tile of (4·`row_blocks`) ×
//! (4·`col_blocks`) outputs of C straight from storage, with no workgroup memory. Loads are
//! four-wide (vec4) when A and B are aligned to 4 elements (see [`Matmul::encode`]),
//! element by element otherwise; stores (with the epilogue's reads) likewise, decided by
//! C's own alignment.
//!
//! Measured on lavapipe (llvmpipe 15, 256-bit, 2 shared cores) at 1024³ in GFLOP/s per
//! busy core (CPU time, since the machine was shared): one output per invocation 0.4;
//! 8×8 outputs written as WGSL loops over arrays 1.3 (the driver keeps them in memory);
//! 8×8 written out 4.4, 16×16 written out 7.4 (element loads) and 14–15 (vec4 loads);
//! the same 16×16 tile staged through workgroup memory in k-steps of 16 with 8×8
//! workgroups 11.3; 16×16 with vec4 loads and workgroups of 8×1 or 8×8 invocations 14–15,
//! 1×8 3.7 (8 consecutive invocations are one SIMD vector there; along n they share the
//! rows of A); 8×8 tiles 7.1, 4×4 tiles 4.2. lavapipe compiles a pipeline at its first
//! dispatch in about 0.6 s (4.5 s when the 256 stores were written out), then caches it.
//!
//! Later (2026-12-03, `bench train --preset toy2d` A B pairs): the epilogue's choices are
//! override constants, one pipeline per combination (lavapipe ran the run-time flags as
//! masked code on every path: 0.23 → 0.16 s per iteration); products whose C has at most 4
//! columns run [`MatmulTiles::narrow`]; C is written with vec4 stores when aligned (0.92);
//! each operand picks its own loader, so the first layer's input gradient (N = 2) reads its
//! A as vec4s (0.94).

use super::activation::{Activation, EPILOGUE_SOURCE, epilogue_code};
use crate::gpu::{Access, Gpu, Kernel, Kernels, flag};
use std::sync::Arc;

/// The kernel body; `a_block` and `b_block` come from the loaders below, one per operand,
/// and `store_row` from one of the two store files.
pub const SOURCE: &str = include_str!("matmul.wgsl");
/// Loaders of op(A) and op(B): vec4 loads for an aligned operand, element by element for any.
pub const SOURCE_A_VEC4: &str = include_str!("matmul_a_vec4.wgsl");
pub const SOURCE_A_SCALAR: &str = include_str!("matmul_a_scalar.wgsl");
pub const SOURCE_B_VEC4: &str = include_str!("matmul_b_vec4.wgsl");
pub const SOURCE_B_SCALAR: &str = include_str!("matmul_b_scalar.wgsl");
/// Stores for an aligned C (and bias and gate): a vec4 per row of a block.
pub const SOURCE_STORE_VEC4: &str = include_str!("matmul_store_vec4.wgsl");
/// Stores for any layout: element by element.
pub const SOURCE_STORE_SCALAR: &str = include_str!("matmul_store_scalar.wgsl");

/// How each of A, B and C is accessed: four elements at a time (aligned) or one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Widths {
    pub a_vec4: bool,
    pub b_vec4: bool,
    pub c_vec4: bool,
}

impl Widths {
    pub const ALL_SCALAR: Self = Self { a_vec4: false, b_vec4: false, c_vec4: false };
    pub const ALL_VEC4: Self = Self { a_vec4: true, b_vec4: true, c_vec4: true };
}

/// The WGSL handed to the GPU: the A and B loaders, a store file, `epilogue.wgsl`, then the
/// kernel body.
pub fn composed_source(w: Widths) -> String {
    let pick =
        |vec4: bool, (n4, s4): (&'static str, &'static str), (n1, s1): (&'static str, &'static str)| {
            if vec4 { (n4, s4) } else { (n1, s1) }
        };
    let parts = [
        pick(w.a_vec4, ("matmul_a_vec4.wgsl", SOURCE_A_VEC4), ("matmul_a_scalar.wgsl", SOURCE_A_SCALAR)),
        pick(w.b_vec4, ("matmul_b_vec4.wgsl", SOURCE_B_VEC4), ("matmul_b_scalar.wgsl", SOURCE_B_SCALAR)),
        pick(
            w.c_vec4,
            ("matmul_store_vec4.wgsl", SOURCE_STORE_VEC4),
            ("matmul_store_scalar.wgsl", SOURCE_STORE_SCALAR),
        ),
        ("epilogue.wgsl", EPILOGUE_SOURCE),
        ("matmul.wgsl", SOURCE),
    ];
    parts.iter().map(|(name, src)| format!("// file: {name}\n{src}\n")).collect()
}

/// Tile sizes of the matmul kernel (WGSL override constants). Each invocation computes
/// (4·`row_blocks`) × (4·`col_blocks`) outputs; a workgroup is `workgroup[0]` invocations
/// along n times `workgroup[1]` along m.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatmulTiles {
    /// 4×4 blocks per invocation along m, 1..=4.
    pub row_blocks: u32,
    /// 4×4 blocks per invocation along n, 1..=4.
    pub col_blocks: u32,
    /// Invocations per workgroup along n and along m.
    pub workgroup: [u32; 2],
}

impl Default for MatmulTiles {
    /// The fastest measured on lavapipe: 16×16 outputs per invocation, 8×1 workgroups.
    fn default() -> Self {
        Self { row_blocks: 4, col_blocks: 4, workgroup: [8, 1] }
    }
}

impl MatmulTiles {
    /// For real GPUs: 4×4 outputs per invocation, 16×16 workgroups (64×64 outputs each), a
    /// conventional size that keeps registers low and enough workgroups in flight. Not
    /// measured here (no GPU on the development machines).
    pub const GPU: Self = Self { row_blocks: 1, col_blocks: 1, workgroup: [16, 16] };

    /// [`MatmulTiles::default`] on CPU adapters, [`MatmulTiles::GPU`] otherwise.
    pub fn for_gpu(gpu: &Gpu) -> Self {
        if gpu.is_cpu() { Self::default() } else { Self::GPU }
    }

    /// Rows of C per workgroup.
    pub fn rows_per_group(&self) -> usize {
        4 * self.row_blocks as usize * self.workgroup[1] as usize
    }

    /// Columns of C per workgroup.
    pub fn cols_per_group(&self) -> usize {
        4 * self.col_blocks as usize * self.workgroup[0] as usize
    }

    /// The tiles for products whose C has at most 4 columns (a one-output layer's forward,
    /// the input gradient of a layer on 2-D points): one column block per invocation and
    /// every invocation of the workgroup along m. With the wide tiles, 15 of the 16 columns
    /// an invocation computes and 7 of a CPU workgroup's 8 lanes would be idle, so such a
    /// product cost as much as a 128-column one (`bench train`, toy2d).
    pub fn narrow(&self, max_y: u32) -> Self {
        let lanes = (self.workgroup[0] * self.workgroup[1]).min(max_y);
        Self { row_blocks: self.row_blocks, col_blocks: 1, workgroup: [1, lanes] }
    }
}

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
    bias_off: u32,
    _pad3: u32,
    gate_off: u32,
    _pad4: u32,
    act_slope: f32,
    gate_slope: f32,
    _pad5: [u32; 2],
}

/// What a matmul does to each output of C = op(A)·op(B) on its way to memory, in this
/// order: `y += bias[j]` (a vector over C's n columns: a linear layer's bias), `y = f(y)`
/// (the activation after the layer), `y *= f'(·)` computed from `gate`, the output f(u) of
/// an activation laid out as C (the backward of the activation before a layer, fused into
/// that layer's input gradient). Each saves a dispatch and a pass over C.
#[derive(Clone, Copy, Default)]
pub struct Epilogue<'a> {
    pub bias: Option<MatRef<'a>>,
    pub act: Option<Activation>,
    pub gate: Option<(Activation, MatRef<'a>)>,
}

/// What one matmul pipeline is specialised for (its WGSL override constants besides the
/// tile sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Variant {
    tiles: MatmulTiles,
    widths: Widths,
    trans_a: bool,
    trans_b: bool,
    has_beta: bool,
    has_bias: bool,
    act: u32,
    gate_act: u32,
}

/// The matmul pipelines: tiles × loaders × transposes × epilogues, each specialised by
/// override constants and created on first use (a training run uses a dozen or so).
pub struct Matmul {
    gpu: Gpu,
    tiles: MatmulTiles,
    /// [`MatmulTiles::narrow`] of `tiles`, for C with at most 4 columns.
    narrow: MatmulTiles,
    kernels: Kernels<Variant>,
    /// Bound where an epilogue has no bias or gate.
    unused: crate::gpu::GpuBuffer,
}

impl Matmul {
    /// Matmul with the tiles [`MatmulTiles::for_gpu`] picks for this adapter.
    pub fn new(gpu: &Gpu) -> Self {
        Self::with_tiles(gpu, MatmulTiles::for_gpu(gpu))
    }

    /// Matmul with explicit tile sizes (to tune for an adapter).
    pub fn with_tiles(gpu: &Gpu, tiles: MatmulTiles) -> Self {
        assert!(
            (1..=4).contains(&tiles.row_blocks) && (1..=4).contains(&tiles.col_blocks),
            "matmul: row_blocks and col_blocks must be 1..=4, got {tiles:?}"
        );
        let [x, y] = tiles.workgroup;
        let l = &gpu.limits;
        assert!(
            (1..=l.max_compute_workgroup_size_x).contains(&x)
                && (1..=l.max_compute_workgroup_size_y).contains(&y)
                && x * y <= l.max_compute_invocations_per_workgroup,
            "matmul: workgroup {:?} is empty or exceeds the adapter's limits",
            tiles.workgroup
        );
        let narrow =
            tiles.narrow(l.max_compute_workgroup_size_y.min(l.max_compute_invocations_per_workgroup));
        Self { gpu: gpu.clone(), tiles, narrow, kernels: Kernels::default(), unused: gpu.zeros(4) }
    }

    pub fn tiles(&self) -> MatmulTiles {
        self.tiles
    }

    fn kernel(&self, v: Variant) -> Arc<Kernel> {
        self.kernels.get(v, || {
            let t = v.tiles;
            let constants = [
                ("TRANS_A", flag(v.trans_a)),
                ("TRANS_B", flag(v.trans_b)),
                ("MB", f64::from(t.row_blocks)),
                ("NB", f64::from(t.col_blocks)),
                ("WG_X", f64::from(t.workgroup[0])),
                ("WG_Y", f64::from(t.workgroup[1])),
                ("HAS_BETA", flag(v.has_beta)),
                ("HAS_BIAS", flag(v.has_bias)),
                ("ACT", f64::from(v.act)),
                ("GATE_ACT", f64::from(v.gate_act)),
            ];
            let bufs = [Access::Read, Access::Read, Access::ReadWrite, Access::Read, Access::Read];
            let source = composed_source(v.widths);
            let mut kernel = Kernel::new(&self.gpu, &source, "matmul", &bufs, &constants);
            // Named by loads/stores and transposes for profiles, e.g. `matmul vec4/scalar
            // A·Bᵀ`; the epilogue does not split the name.
            let op = |t: bool, m: &str| if t { format!("{m}ᵀ") } else { m.to_string() };
            let width = |w: bool| if w { "vec4" } else { "scalar" };
            let w = v.widths;
            let loads = if w.a_vec4 == w.b_vec4 {
                width(w.a_vec4).to_string()
            } else {
                format!("{}+{}", width(w.a_vec4), width(w.b_vec4))
            };
            let stores = width(w.c_vec4);
            let thin = if t != self.tiles { " (n ≤ 4)" } else { "" };
            let (a, b) = (op(v.trans_a, "A"), op(v.trans_b, "B"));
            kernel.name = format!("matmul {loads}/{stores} {a}·{b}{thin}");
            kernel
        })
    }

    /// Records C = α·op(A)·op(B) + β·C. With β = 0, C is not read (it may hold NaN).
    ///
    /// Reads an operand with vec4 loads when its offset and batch stride, K, and its
    /// contiguous dimension (M if `trans_a`, N unless `trans_b`) are multiples of 4; writes
    /// C with vec4 stores when N, C's offset and batch stride (and any bias and gate
    /// offsets) are.
    #[allow(clippy::too_many_arguments)] // the layers' API: shape, three matrices, α, β
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
        self.record(enc, s, [a, b, c], (alpha, beta), Epilogue::default());
    }

    /// Records C = epilogue(op(A)·op(B)) (α = 1, β = 0: C is only written).
    ///
    /// Panics when the bias is shorter than n, the gate than C, or an activation whose
    /// derivative is read from its output is a LeakyReLU of negative slope.
    pub fn encode_fused(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: MatmulShape,
        a: MatRef,
        b: MatRef,
        c: MatRef,
        epilogue: Epilogue,
    ) {
        self.record(enc, s, [a, b, c], (1.0, 0.0), epilogue);
    }

    fn record(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: MatmulShape,
        [a, b, c]: [MatRef; 3],
        (alpha, beta): (f32, f32),
        epi: Epilogue,
    ) {
        let last = |off: usize, stride: usize, size: usize| off + stride * (s.batch.max(1) - 1) + size;
        assert!(last(a.offset, s.a_stride, s.m * s.k) <= a.buf.len, "matmul: A out of bounds");
        assert!(last(b.offset, s.b_stride, s.k * s.n) <= b.buf.len, "matmul: B out of bounds");
        assert!(last(c.offset, s.c_stride, s.m * s.n) <= c.buf.len, "matmul: C out of bounds");
        if let Some(bias) = epi.bias {
            assert!(bias.offset + s.n <= bias.buf.len, "matmul: bias out of bounds");
        }
        if let Some((act, gate)) = epi.gate {
            assert!(last(gate.offset, s.c_stride, s.m * s.n) <= gate.buf.len, "matmul: gate out of bounds");
            assert!(act.backward_from_output(), "matmul: {act:?} cannot gate from its output");
        }
        let (act, act_slope) = epilogue_code(epi.act);
        let (gate_act, gate_slope) = epilogue_code(epi.gate.map(|(act, _)| act));
        // Unused epilogue bindings get a buffer of their own, never read.
        let unused = MatRef { buf: &self.unused, offset: 0 };
        let bias = epi.bias.unwrap_or(unused);
        let gate = epi.gate.map_or(unused, |(_, g)| g);
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
            bias_off: bias.offset as u32,
            _pad3: 0,
            gate_off: gate.offset as u32,
            _pad4: 0,
            act_slope,
            gate_slope,
            _pad5: [0; 2],
        };
        let tiles = if s.n <= 4 { self.narrow } else { self.tiles };
        let groups = [
            s.n.div_ceil(tiles.cols_per_group()) as u32,
            s.m.div_ceil(tiles.rows_per_group()) as u32,
            s.batch as u32,
        ];
        if groups.contains(&0) {
            return;
        }
        let max = self.gpu.limits.max_compute_workgroups_per_dimension;
        assert!(
            groups.iter().all(|&g| g <= max),
            "matmul: {groups:?} workgroups for {s:?}, the adapter allows {max} per dimension"
        );
        let kernel = self.kernel(Variant {
            tiles,
            widths: Widths {
                a_vec4: a_vec4_aligned(&s, &a),
                b_vec4: b_vec4_aligned(&s, &b),
                c_vec4: vec4_stores(&s, &c, &epi),
            },
            trans_a: s.trans_a,
            trans_b: s.trans_b,
            has_beta: beta != 0.0,
            has_bias: epi.bias.is_some(),
            act,
            gate_act,
        });
        kernel.encode(&self.gpu, enc, &p, &[a.buf, b.buf, c.buf, bias.buf, gate.buf], groups);
    }
}

/// True when `matmul_a_vec4.wgsl` may read A: every vec4 it loads then starts at a multiple
/// of 4 elements and lies inside the matrix (K > 0 also keeps the binding at least one vec4
/// long). K a multiple of 4 is needed by both vec4 loaders: the element loaders zero the
/// k-steps past K of both operands.
fn a_vec4_aligned(s: &MatmulShape, a: &MatRef) -> bool {
    let four = |x: usize| x.is_multiple_of(4);
    s.k > 0 && four(s.k) && four(a.offset) && (s.batch <= 1 || four(s.a_stride)) && (!s.trans_a || four(s.m))
}

/// True when `matmul_b_vec4.wgsl` may read B (as [`a_vec4_aligned`] for A).
fn b_vec4_aligned(s: &MatmulShape, b: &MatRef) -> bool {
    let four = |x: usize| x.is_multiple_of(4);
    s.k > 0 && four(s.k) && four(b.offset) && (s.batch <= 1 || four(s.b_stride)) && (s.trans_b || four(s.n))
}

/// True when `matmul_store_vec4.wgsl` may write C: each row's columns come in aligned
/// fours (N, C's offset and batch stride multiples of 4), and so do the bias and the gate.
fn vec4_stores(s: &MatmulShape, c: &MatRef, epi: &Epilogue) -> bool {
    let four = |x: usize| x.is_multiple_of(4);
    four(s.n)
        && four(c.offset)
        && (s.batch <= 1 || four(s.c_stride))
        && epi.bias.is_none_or(|b| four(b.offset))
        && epi.gate.is_none_or(|(_, g)| four(g.offset))
}

/// CPU reference in f64: returns α·op(A)·op(B) + β·C for every batch entry.
pub mod cpu {
    use super::MatmulShape;
    use crate::ops::activation::{Activation, cpu as act};

    /// The epilogue on one output `y` at column `j` of C (see [`super::Epilogue`]): the bias
    /// vector, the activation, and the activation derivative read from `gate` (the value
    /// laid out at this output's index).
    pub fn epilogue(
        y: f64,
        bias: Option<f32>,
        activation: Option<Activation>,
        gate: Option<(Activation, f32)>,
    ) -> f64 {
        let mut y = y + bias.map_or(0.0, f64::from);
        if let Some(a) = activation {
            y = f64::from(act::forward(a, y as f32));
        }
        if let Some((a, saved)) = gate {
            // From the output, which gives the same as from the input (Activation::backward_from_output).
            y = f64::from(act::backward(a, saved, y as f32));
        }
        y
    }

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
