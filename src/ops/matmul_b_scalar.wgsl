// op(B)'s 4x4 blocks for matmul.wgsl, read one element at a time: any sizes, offsets and
// strides. Indices are clamped into the matrix (columns past it are never stored), and
// k-steps at or past K read as exactly 0 (see matmul_a_scalar.wgsl).

@group(0) @binding(2) var<storage, read> b: array<f32>;

// op(B)[kk, j], clamped into the matrix; 0 when kk >= K.
fn b_at(base: u32, kk: u32, j: u32) -> f32 {
    let jc = min(j, p.n - 1u);
    let kc = min(kk, p.k - 1u);
    var v: f32;
    if (TRANS_B) { v = b[base + jc * p.k + kc]; } else { v = b[base + kc * p.n + jc]; }
    return select(0.0, v, kk < p.k);
}

// Column s is op(B)[k0 + s, j .. j+3].
fn b_block(base: u32, j: u32, k0: u32) -> mat4x4<f32> {
    return mat4x4(b_row(base, k0, j), b_row(base, k0 + 1u, j),
                  b_row(base, k0 + 2u, j), b_row(base, k0 + 3u, j));
}

fn b_row(base: u32, kk: u32, j: u32) -> vec4<f32> {
    return vec4(b_at(base, kk, j), b_at(base, kk, j + 1u),
                b_at(base, kk, j + 2u), b_at(base, kk, j + 3u));
}
