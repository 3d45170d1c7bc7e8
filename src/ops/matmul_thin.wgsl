// Thin products for matmul.wgsl (composed after matmul_scalar.wgsl and matmul.wgsl): one
// output of C per invocation, neighbouring invocations along a row of C, for shapes where
// the register-blocked tile would be mostly empty: few rows or columns (a layer with one
// output, the input gradient of a 2-D input, a bias gradient) or a short K (a 2-D input's
// first layer). Dispatch [ceil(m * n / WG_THIN), 1, batch] (the Rust side caps K: llvmpipe
// stops an invocation's loops after 65,535 iterations).

const WG_THIN: u32 = 64u;

@compute @workgroup_size(WG_THIN)
fn matmul_thin(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let at = gid.x + gid.y * nwg.x * WG_THIN;
    let bi = gid.z;
    if (at >= p.m * p.n || bi >= p.batch) { return; }
    let i = at / p.n;
    let j = at % p.n;
    let a_base = p.a_off + bi * p.a_stride;
    let b_base = p.b_off + bi * p.b_stride;
    var acc = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        acc = fma(a_at(a_base, i, kk), b_at(b_base, kk, j), acc);
    }
    store_at(p.c_off + bi * p.c_stride, i, j, acc);
}
