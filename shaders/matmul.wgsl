// Batched matrix multiply: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b]
// op(A) is [M, K]: A stored row-major as [M, K], or as [K, M] when TRANS_A.
// op(B) is [K, N]: B stored row-major as [K, N], or as [N, K] when TRANS_B.
// C is [M, N] row-major. Offsets and batch strides are in elements (stride 0 broadcasts).
// NOTE: a plain one-output-per-thread version; the register-blocked one replaces it.

override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, b_off: u32, c_off: u32, _pad0: u32,
    a_stride: u32, b_stride: u32, c_stride: u32, _pad1: u32,
    alpha: f32, beta: f32, _pad2: u32, _pad3: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

fn a_at(base: u32, i: u32, kk: u32) -> f32 {
    if (TRANS_A) { return a[base + kk * p.m + i]; }
    return a[base + i * p.k + kk];
}

fn b_at(base: u32, kk: u32, j: u32) -> f32 {
    if (TRANS_B) { return b[base + j * p.k + kk]; }
    return b[base + kk * p.n + j];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let i = gid.y;
    let bi = gid.z;
    if (i >= p.m || j >= p.n || bi >= p.batch) { return; }
    let a_base = p.a_off + bi * p.a_stride;
    let b_base = p.b_off + bi * p.b_stride;
    var acc = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        acc = fma(a_at(a_base, i, kk), b_at(b_base, kk, j), acc);
    }
    let ci = p.c_off + bi * p.c_stride + i * p.n + j;
    var out = p.alpha * acc;
    if (p.beta != 0.0) { out += p.beta * c[ci]; }
    c[ci] = out;
}
