// 4x4 blocks of op(A) and op(B) for shaders/matmul.wgsl, read as vec4s.
// Only for aligned layouts (the Rust side checks): offsets and batch strides are multiples
// of 4, and so are K and the contiguous dimension of each operand (M if TRANS_A, N unless
// TRANS_B). Rows or columns past the matrix are replaced by its last four (never stored).

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;

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

// Column s is op(B)[k0 + s, j .. j+3].
fn b_block(base: u32, j: u32, k0: u32) -> mat4x4<f32> {
    if (TRANS_B) {
        // B is [N, K]: k0..k0+3 of one column of op(B) is a vec4; four columns, transposed.
        let row = p.k / 4u;
        let at = (base + k0) / 4u;
        let last = p.n - 1u;
        return transpose(mat4x4(b[at + min(j, last) * row], b[at + min(j + 1u, last) * row],
                                b[at + min(j + 2u, last) * row], b[at + min(j + 3u, last) * row]));
    }
    // B is [K, N]: columns j..j+3 at one k are one vec4.
    let row = p.n / 4u;
    let at = (base + k0 * p.n) / 4u + min(j, p.n - 4u) / 4u;
    return mat4x4(b[at], b[at + row], b[at + 2u * row], b[at + 3u * row]);
}
