// How matmul.wgsl writes C when C, the bias and the gate are aligned to 4 elements (the
// Rust side checks: N, C's offset and batch stride, and the bias and gate offsets are
// multiples of 4): a row of four outputs is one vec4 store, its bias and gate one vec4
// load each. On lavapipe every memory instruction costs about the same whatever its width,
// so this is a quarter of the scalar file's.

@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
// A vector over the n columns of C (unused unless HAS_BIAS; then any read-only buffer).
@group(0) @binding(4) var<storage, read> epi_bias: array<vec4<f32>>;
// A layer's activation output f(u), laid out as C (unused unless GATE_ACT != 0).
@group(0) @binding(5) var<storage, read> epi_gate: array<vec4<f32>>;

// Columns j .. j+3 of row i; j is a multiple of 4, so the four are inside C or all past it.
fn store_row(base: u32, i: u32, j: u32, v: vec4<f32>) {
    if (i >= p.m || j >= p.n) { return; }
    let at = i * p.n + j;
    let ci = (base + at) / 4u;
    var old = vec4(0.0);
    var bias = vec4(0.0);
    var gate = vec4(0.0);
    if (HAS_BETA) { old = c[ci]; }
    if (HAS_BIAS) { bias = epi_bias[(p.bias_off + j) / 4u]; }
    if (GATE_ACT != 0u) { gate = epi_gate[(base - p.c_off + p.gate_off + at) / 4u]; }
    c[ci] = epilogue(v, old, bias, gate);
}
