// op(B)'s 4x4 blocks for matmul.wgsl, read as vec4s. Only for aligned layouts (the Rust
// side checks): B's offset and batch stride, K, and N unless TRANS_B are multiples of 4.
// Columns past the matrix are replaced by its last four (never stored).

@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;

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
