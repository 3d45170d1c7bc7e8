// Batched matrix multiply: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b]
// op(A) is [M, K]: A stored row-major as [M, K], or as [K, M] when TRANS_A.
// op(B) is [K, N]: B stored row-major as [K, N], or as [N, K] when TRANS_B.
// C is [M, N] row-major. Offsets and batch strides are in elements (stride 0 broadcasts).
// An epilogue is fused into the store (a layer's bias and activation, or the derivative of
// the activation before it; see `store_at`): y = alpha * AB + beta * C, then y += bias[j],
// then y = f(y), then y *= f'(.) read from `gate` at C's index.
//
// Register-blocked: each invocation computes a (4*MB) x (4*NB) tile of C, held as MB x NB
// blocks of 4x4 (a mat4x4 whose column q is column q of the block), and reads op(A) and
// op(B) straight from storage, 4 k-steps per loop iteration. How a 4x4 block of op(A) or
// op(B) is read is left to `a_block`/`b_block`, defined by the loaders composed in front of
// this file, one per operand: matmul_a_vec4.wgsl (aligned, vec4 loads) or
// matmul_a_scalar.wgsl (any layout), and likewise for B.
// How a row of 4 outputs reaches C is left to `store_row`, defined by the store file
// composed in front too: matmul_store_vec4.wgsl (C, bias and gate aligned to 4 elements:
// one vec4 store per row) or matmul_store_scalar.wgsl (any layout).
//
// Why this shape (measured on lavapipe, see src/ops/matmul.rs): a CPU driver runs 8
// invocations as one SIMD vector and gathers every storage load lane by lane, so the cost
// is in loads; a 16x16 tile does 32 multiply-adds per vec4 loaded (one output per
// invocation: half a multiply-add per element loaded). Staging tiles in workgroup memory
// was slower (barriers are expensive there, and its reads are gathered lane by lane too).
// The blocks are written out rather than looped over: lavapipe does not unroll such loops
// and then keeps the accumulators in memory (4x slower). The `if`s on MB and NB test
// override constants and fold away when the pipeline is created.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// Row and column blocks per invocation, each 1..4 (tile 4*MB x 4*NB).
override MB: u32 = 4u;
override NB: u32 = 4u;
// Invocations per workgroup along n (x) and m (y).
override WG_X: u32 = 8u;
override WG_Y: u32 = 1u;
// The epilogue, fixed per pipeline: whether beta * C is added, whether the bias is, and
// the activation codes (0 none, 1 ReLU, 2 LeakyReLU with the slope in Params, 3 tanh).
// As override constants the unused parts fold away: lavapipe runs a branch on a uniform
// value as masked SIMD code on every path, and the epilogue then cost more than the
// product itself for thin matrices (a 4096x1x4 product: 1.8 ms with run-time flags, 0.3 ms
// without them).
override HAS_BETA: bool = false;
override HAS_BIAS: bool = false;
override ACT: u32 = 0u;
override GATE_ACT: u32 = 0u;

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, b_off: u32, c_off: u32, _pad0: u32,
    a_stride: u32, b_stride: u32, c_stride: u32, _pad1: u32,
    alpha: f32, beta: f32, _pad2: u32, _pad3: u32,
    bias_off: u32, _pad3b: u32, gate_off: u32, _pad4: u32,
    // The LeakyReLU slopes of ACT and GATE_ACT.
    act_slope: f32, gate_slope: f32, _pad5: u32, _pad6: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// The epilogue of four outputs v of one row: old C, the bias and the gate at the same
// places (each read only where its override says so).
fn epilogue(v: vec4<f32>, old: vec4<f32>, bias: vec4<f32>, gate: vec4<f32>) -> vec4<f32> {
    var out = p.alpha * v;
    if (HAS_BETA) { out += p.beta * old; }
    if (HAS_BIAS) { out += bias; }
    if (ACT != 0u) { out = activate(ACT, p.act_slope, out); }
    if (GATE_ACT != 0u) { out = gated(GATE_ACT, p.gate_slope, gate, out); }
    return out;
}

// Writes the epilogue of alpha * blk + beta * C to the 4x4 block of C at row i, column j
// (`base` is where C starts), skipping elements outside C. Without HAS_BETA, C is not read
// (it may hold NaN).
fn store_block(base: u32, i: u32, j: u32, blk: mat4x4<f32>) {
    let rows = transpose(blk);
    store_row(base, i, j, rows[0]);
    store_row(base, i + 1u, j, rows[1]);
    store_row(base, i + 2u, j, rows[2]);
    store_row(base, i + 3u, j, rows[3]);
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = gid.y * 4u * MB;
    let j0 = gid.x * 4u * NB;
    let bi = gid.z;
    if (i0 >= p.m || j0 >= p.n || bi >= p.batch) { return; }
    let a_base = p.a_off + bi * p.a_stride;
    let b_base = p.b_off + bi * p.b_stride;

    // c<g><h>: the block at rows i0 + 4g, columns j0 + 4h.
    var c00 = mat4x4<f32>(); var c01 = mat4x4<f32>(); var c02 = mat4x4<f32>(); var c03 = mat4x4<f32>();
    var c10 = mat4x4<f32>(); var c11 = mat4x4<f32>(); var c12 = mat4x4<f32>(); var c13 = mat4x4<f32>();
    var c20 = mat4x4<f32>(); var c21 = mat4x4<f32>(); var c22 = mat4x4<f32>(); var c23 = mat4x4<f32>();
    var c30 = mat4x4<f32>(); var c31 = mat4x4<f32>(); var c32 = mat4x4<f32>(); var c33 = mat4x4<f32>();
    // a<g>: column s is op(A)[i0+4g .. +3, k0+s]; b<h>: column s is op(B)[k0+s, j0+4h .. +3].
    var a0: mat4x4<f32>; var a1: mat4x4<f32>; var a2: mat4x4<f32>; var a3: mat4x4<f32>;
    var b0: mat4x4<f32>; var b1: mat4x4<f32>; var b2: mat4x4<f32>; var b3: mat4x4<f32>;

    for (var k0 = 0u; k0 < p.k; k0 += 4u) {
        a0 = a_block(a_base, i0, k0);
        if (MB > 1u) { a1 = a_block(a_base, i0 + 4u, k0); }
        if (MB > 2u) { a2 = a_block(a_base, i0 + 8u, k0); }
        if (MB > 3u) { a3 = a_block(a_base, i0 + 12u, k0); }
        b0 = b_block(b_base, j0, k0);
        if (NB > 1u) { b1 = b_block(b_base, j0 + 4u, k0); }
        if (NB > 2u) { b2 = b_block(b_base, j0 + 8u, k0); }
        if (NB > 3u) { b3 = b_block(b_base, j0 + 12u, k0); }
        // Block (g, h) += a<g> * transpose(b<h>): the sum over s of column s of a<g> times
        // column s of b<h>, i.e. four k-steps of op(A) * op(B).
        let t0 = transpose(b0); let t1 = transpose(b1); let t2 = transpose(b2); let t3 = transpose(b3);
        c00 += a0 * t0;
        if (NB > 1u) { c01 += a0 * t1; }
        if (NB > 2u) { c02 += a0 * t2; }
        if (NB > 3u) { c03 += a0 * t3; }
        if (MB > 1u) {
            c10 += a1 * t0;
            if (NB > 1u) { c11 += a1 * t1; }
            if (NB > 2u) { c12 += a1 * t2; }
            if (NB > 3u) { c13 += a1 * t3; }
        }
        if (MB > 2u) {
            c20 += a2 * t0;
            if (NB > 1u) { c21 += a2 * t1; }
            if (NB > 2u) { c22 += a2 * t2; }
            if (NB > 3u) { c23 += a2 * t3; }
        }
        if (MB > 3u) {
            c30 += a3 * t0;
            if (NB > 1u) { c31 += a3 * t1; }
            if (NB > 2u) { c32 += a3 * t2; }
            if (NB > 3u) { c33 += a3 * t3; }
        }
    }

    // Stored one block per iteration of loops with run-time bounds (so the driver does not
    // unroll them): written out, the 256 guarded stores made the compile 8x slower.
    let c_base = p.c_off + bi * p.c_stride;
    let g_end = min(MB, (p.m - i0 + 3u) / 4u);
    let h_end = min(NB, (p.n - j0 + 3u) / 4u);
    for (var g = 0u; g < g_end; g++) {
        for (var h = 0u; h < h_end; h++) {
            var blk: mat4x4<f32>;
            switch (4u * g + h) {
                case 0u: { blk = c00; } case 1u: { blk = c01; } case 2u: { blk = c02; } case 3u: { blk = c03; }
                case 4u: { blk = c10; } case 5u: { blk = c11; } case 6u: { blk = c12; } case 7u: { blk = c13; }
                case 8u: { blk = c20; } case 9u: { blk = c21; } case 10u: { blk = c22; } case 11u: { blk = c23; }
                case 12u: { blk = c30; } case 13u: { blk = c31; } case 14u: { blk = c32; } default: { blk = c33; }
            }
            store_block(c_base, i0 + 4u * g, j0 + 4u * h, blk);
        }
    }
}
