// How matmul.wgsl writes C for any layout: element by element, each guarded. Reads of
// columns past C are clamped to its last column and their results never stored.

@group(0) @binding(3) var<storage, read_write> c: array<f32>;
// A vector over the n columns of C (unused unless HAS_BIAS; then any read-only buffer).
@group(0) @binding(4) var<storage, read> epi_bias: array<f32>;
// A layer's activation output f(u), laid out as C (unused unless GATE_ACT != 0).
@group(0) @binding(5) var<storage, read> epi_gate: array<f32>;

// Columns j .. j+3 of row i, those inside C.
fn store_row(base: u32, i: u32, j: u32, v: vec4<f32>) {
    if (i >= p.m || j >= p.n) { return; }
    let last = p.n - 1u;
    let cols = vec4(min(j, last), min(j + 1u, last), min(j + 2u, last), min(j + 3u, last));
    let at = vec4(i * p.n) + cols;
    var old = vec4(0.0);
    var bias = vec4(0.0);
    var gate = vec4(0.0);
    if (HAS_BETA) { old = vec4(c[base + at.x], c[base + at.y], c[base + at.z], c[base + at.w]); }
    if (HAS_BIAS) {
        let b = p.bias_off;
        bias = vec4(epi_bias[b + cols.x], epi_bias[b + cols.y], epi_bias[b + cols.z], epi_bias[b + cols.w]);
    }
    if (GATE_ACT != 0u) {
        let g = base - p.c_off + p.gate_off;
        gate = vec4(epi_gate[g + at.x], epi_gate[g + at.y], epi_gate[g + at.z], epi_gate[g + at.w]);
    }
    let out = epilogue(v, old, bias, gate);
    c[base + at.x] = out.x;
    if (j + 1u < p.n) { c[base + at.y] = out.y; }
    if (j + 2u < p.n) { c[base + at.z] = out.z; }
    if (j + 3u < p.n) { c[base + at.w] = out.w; }
}
