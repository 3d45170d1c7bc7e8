// op(A)'s 4x4 blocks for matmul.wgsl, read one element at a time: any sizes, offsets and
// strides. Indices are clamped into the matrix (rows past it are never stored), and
// k-steps at or past K read as exactly 0 (in B too, whichever loader reads it: then K is
// not a multiple of 4 and B is read element by element as well), so the last, partial
// group of four k-steps adds nothing (not even 0 * inf).

@group(0) @binding(1) var<storage, read> a: array<f32>;

// op(A)[i, kk], clamped into the matrix; 0 when kk >= K.
fn a_at(base: u32, i: u32, kk: u32) -> f32 {
    let ic = min(i, p.m - 1u);
    let kc = min(kk, p.k - 1u);
    var v: f32;
    if (TRANS_A) { v = a[base + kc * p.m + ic]; } else { v = a[base + ic * p.k + kc]; }
    return select(0.0, v, kk < p.k);
}

// Column s is op(A)[i .. i+3, k0 + s].
fn a_block(base: u32, i: u32, k0: u32) -> mat4x4<f32> {
    return mat4x4(a_col(base, i, k0), a_col(base, i, k0 + 1u),
                  a_col(base, i, k0 + 2u), a_col(base, i, k0 + 3u));
}

fn a_col(base: u32, i: u32, kk: u32) -> vec4<f32> {
    return vec4(a_at(base, i, kk), a_at(base, i + 1u, kk),
                a_at(base, i + 2u, kk), a_at(base, i + 3u, kk));
}
