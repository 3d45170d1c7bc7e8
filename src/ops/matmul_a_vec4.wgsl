// op(A)'s 4x4 blocks for matmul.wgsl, read as vec4s. Only for aligned layouts (the Rust
// side checks): A's offset and batch stride, K, and M if TRANS_A are multiples of 4. Rows
// past the matrix are replaced by its last four (never stored).

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;

// Column s is op(A)[i .. i+3, k0 + s].
fn a_block(base: u32, i: u32, k0: u32) -> mat4x4<f32> {
    if (TRANS_A) {
        // A is [K, M]: rows i..i+3 of op(A) at one k are one vec4.
        let row = p.m / 4u;
        let at = (base + k0 * p.m) / 4u + min(i, p.m - 4u) / 4u;
        return mat4x4(a[at], a[at + row], a[at + 2u * row], a[at + 3u * row]);
    }
    // A is [M, K]: k0..k0+3 of one row is a vec4; four rows, transposed.
    let row = p.k / 4u;
    let at = (base + k0) / 4u;
    let last = p.m - 1u;
    return transpose(mat4x4(a[at + min(i, last) * row], a[at + min(i + 1u, last) * row],
                            a[at + min(i + 2u, last) * row], a[at + min(i + 3u, last) * row]));
}
