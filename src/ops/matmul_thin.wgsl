// Thin products for matmul.wgsl (composed after matmul_scalar.wgsl and matmul.wgsl): each
// invocation computes TN neighbouring outputs of one row of C (TN = 1 or 4), neighbouring
// invocations along the row, for shapes where the register-blocked tile would be mostly
// empty: few rows or columns (a layer with one output, the input gradient of a 2-D input, a
// bias gradient) or a short K (a 2-D input's first layer). Dispatch
// [ceil(m * ceil(n / TN) / WG_THIN), 1, batch] (2-D when that passes 65,535 groups; the Rust
// side caps K: llvmpipe stops an invocation's loops after 65,535 iterations).

const WG_THIN: u32 = 64u;
override TN: u32 = 1u;

@compute @workgroup_size(WG_THIN)
fn matmul_thin(@builtin(global_invocation_id) gid: vec3<u32>) {
    // grid_1d: 65,535 groups along x whenever there is more than one row of groups.
    let at = gid.x + gid.y * 65535u * WG_THIN;
    let strips = (p.n + TN - 1u) / TN;
    let bi = gid.z;
    if (at >= p.m * strips || bi >= p.batch) { return; }
    let i = at / strips;
    let j = (at % strips) * TN;
    let a_base = p.a_off + bi * p.a_stride;
    let b_base = p.b_off + bi * p.b_stride;
    let c_base = p.c_off + bi * p.c_stride;
    if (TN == 1u) {
        var acc = 0.0;
        for (var kk = 0u; kk < p.k; kk++) {
            acc = fma(a_at(a_base, i, kk), b_at(b_base, kk, j), acc);
        }
        store_at(c_base, i, j, acc);
        return;
    }
    // b_row clamps columns past n into the matrix; store_at skips them.
    var acc = vec4<f32>(0.0);
    for (var kk = 0u; kk < p.k; kk++) {
        acc = fma(vec4<f32>(a_at(a_base, i, kk)), b_row(b_base, kk, j), acc);
    }
    store_at(c_base, i, j, acc.x);
    store_at(c_base, i, j + 1u, acc.y);
    store_at(c_base, i, j + 2u, acc.z);
    store_at(c_base, i, j + 3u, acc.w);
}
