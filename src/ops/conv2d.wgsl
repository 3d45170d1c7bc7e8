// 2-D convolution (cross-correlation, PyTorch's Conv2d) and its two backward passes.
//
// Layouts (row-major f32, offsets in elements):
//   x  [batch, c_in,  h_in,  w_in ]      w [c_out, c_in, kh, kw]      bias [c_out]
//   y  [batch, c_out, h_out, w_out]      h_out = (h_in + 2·pad − kh) / stride + 1
//
//   forward          y[b,co,oy,ox] = bias[co] + Σ_{ci,ky,kx} w[co,ci,ky,kx] · x[b,ci,oy·s−p+ky, ox·s−p+kx]
//   backward_input   dx[b,ci,iy,ix] = Σ_{co,ky,kx : iy+p−ky = oy·s, ix+p−kx = ox·s} w[co,ci,ky,kx] · dy[b,co,oy,ox]
//   backward_weight  dw[co,ci,ky,kx] += Σ_{b,oy,ox} dy[b,co,oy,ox] · x[b,ci,oy·s−p+ky, ox·s−p+kx]
//   bias_grad        db[co] += Σ_{b,oy,ox} dy[b,co,oy,ox]
//
// Why the kernels look like this (measured on lavapipe; figures in src/ops/conv2d.rs): on
// llvmpipe every load instruction costs ~30–40 cycles per 8-lane SIMD op, whether it reads a
// storage buffer, workgroup memory or a uniform buffer, and whether or not its address is
// the same across lanes. Arithmetic is cheap. So the kernels minimise load instructions
// per multiply-add:
//   * Each invocation keeps a 16-channel × 4-pixel block of sums in four mat4x4 registers.
//   * The 16 weights a tap needs are one mat4x4 from a *uniform* buffer (`wu`), which the
//     host fills with weights packed [channel block][tap][16 channels] (pack_* below),
//     at most 64 KiB per dispatch; larger layers take several dispatches that add up.
//     On GPUs (where a uniform slice per dispatch would mean hundreds of dispatches per
//     layer) the same kernels read the packed tensor from storage in one dispatch.
//   * The 4 input values a tap needs are gathered per lane (one load each).
// No workgroup memory and no barriers (both measured slower here). Every sum runs in a
// fixed order and nothing uses atomics: results are bit-identical across runs.
//
// Out-of-range reads are never relied on: an index that may leave a tensor is replaced by a
// safe one and the value is discarded with `select`.

const WG: u32 = 64u;      // invocations per workgroup

// forward / backward_input: whether this pipeline adds to the output (a later uniform
// slice) or writes it, and whether forward starts its sums from the bias. As override
// constants the unused code folds away: lavapipe runs a branch on a uniform value as masked
// code on every lane, so a run-time flag cost a load per output even when off.
override ACCUMULATE: bool = false;
override HAS_BIAS: bool = false;
// The activation after the layer (forward) and the derivative of the activation before it
// (backward_input, read from that activation's output `bi_gate`), applied as the last
// slice stores (epilogue.wgsl's codes; 0 none). Each saves a dispatch and a pass.
override ACT: u32 = 0u;
override GATE_ACT: u32 = 0u;

struct Params {
    batch: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, kh: u32,
    kw: u32, stride: u32, pad: u32, act_slope: f32,
    x_off: u32, w_off: u32, b_off: u32, y_off: u32,
    // backward_weight: rows (b, oy) per chunk and number of chunks (partial sums).
    chunk_rows: u32, chunks: u32,
    // forward / backward_input: this dispatch covers channel blocks blk0 + wid.y, taps
    // [tap_lo, tap_hi) and reduction channels [red_lo, red_hi) (input channels for forward,
    // output channels for backward_input); it adds to the output when ACCUMULATE.
    gate_slope: f32, phase: u32,
    blk0: u32, tap_lo: u32, tap_hi: u32, red_lo: u32,
    // backward_input: where the gate (laid out as dx) starts.
    red_hi: u32, gate_off: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---------------------------------------------------------------------------------------
// forward: bindings wu (uniform), x, bias, y. Workgroup (x: 4·WG pixels, y: block of 16
// output channels). wu holds, for each block of this dispatch, its taps t = (ky, kx) in
// [tap_lo, tap_hi), for each the input channels ci in [red_lo, red_hi): a mat4x4 whose
// element [g][c] is w[16·blk + 4g + c, ci, ky, kx]. Taps are the outer loop and channels
// the inner one, so the bounds checks of a tap are paid once for all channels.

// `w_mat(u)`, the u-th mat4x4 of this dispatch's weights, comes from the file composed in
// front of this one: conv2d_weights_uniform.wgsl (a 64 KiB uniform slice, CPU adapters) or
// conv2d_weights_storage.wgsl (the whole packed tensor in storage, GPUs: one dispatch).
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

/// An output pixel: whether it exists, the x index of (b, channel 0), its window's top-left
/// tap (iy, ix) (may be in the padding), and the y index of (b, channel 0, pixel).
struct OutputPixel {
    live: bool,
    xb: u32,
    iy: i32,
    ix: i32,
    yb: u32,
}

fn output_pixel(n: u32) -> OutputPixel {
    let hw_out = p.h_out * p.w_out;
    let npix = p.batch * hw_out;
    let nn = min(n, npix - 1u);
    let b = nn / hw_out;
    let pix = nn % hw_out;
    return OutputPixel(
        n < npix,
        p.x_off + b * p.c_in * p.h_in * p.w_in,
        i32((pix / p.w_out) * p.stride) - i32(p.pad),
        i32((pix % p.w_out) * p.stride) - i32(p.pad),
        p.y_off + b * p.c_out * hw_out + pix,
    );
}

/// One pixel's operand for one tap: the index of channel 0 and whether it is inside the
/// tensor (outside, the index is a safe in-range one and the value is replaced by 0).
struct Operand {
    ok: bool,
    base: u32,
}

/// x for output pixel `o` at tap (ky, kx).
fn x_operand(o: OutputPixel, ky: u32, kx: u32) -> Operand {
    let iy = o.iy + i32(ky);
    let ix = o.ix + i32(kx);
    let ok = o.live && iy >= 0 && iy < i32(p.h_in) && ix >= 0 && ix < i32(p.w_in);
    return Operand(ok, select(o.xb, o.xb + u32(iy) * p.w_in + u32(ix), ok));
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let hw_in = p.h_in * p.w_in;
    let n0 = wid.x * 4u * WG + lid.x;
    let o0 = output_pixel(n0);
    let o1 = output_pixel(n0 + WG);
    let o2 = output_pixel(n0 + 2u * WG);
    let o3 = output_pixel(n0 + 3u * WG);
    // The sums start from the bias (first slice only), loaded once for the four pixels.
    let co0 = (p.blk0 + wid.y) * 16u;
    var b = mat4x4<f32>();
    if (HAS_BIAS && !ACCUMULATE) {
        for (var i = 0u; i < 16u; i++) {
            b[i / 4u][i % 4u] = bias[p.b_off + min(co0 + i, p.c_out - 1u)];
        }
    }
    var acc0 = b;
    var acc1 = b;
    var acc2 = b;
    var acc3 = b;

    var u = wid.y * (p.tap_hi - p.tap_lo) * (p.red_hi - p.red_lo);
    for (var t = p.tap_lo; t < p.tap_hi; t++) {
        let ky = t / p.kw;
        let kx = t % p.kw;
        let a0 = x_operand(o0, ky, kx);
        let a1 = x_operand(o1, ky, kx);
        let a2 = x_operand(o2, ky, kx);
        let a3 = x_operand(o3, ky, kx);
        for (var ci = p.red_lo; ci < p.red_hi; ci++) {
            let wm = w_mat(u);
            let c = ci * hw_in;
            acc0 += wm * select(0.0, x[a0.base + c], a0.ok);
            acc1 += wm * select(0.0, x[a1.base + c], a1.ok);
            acc2 += wm * select(0.0, x[a2.base + c], a2.ok);
            acc3 += wm * select(0.0, x[a3.base + c], a3.ok);
            u++;
        }
    }

    let hw_out = p.h_out * p.w_out;
    store_y(o0, co0, hw_out, acc0);
    store_y(o1, co0, hw_out, acc1);
    store_y(o2, co0, hw_out, acc2);
    store_y(o3, co0, hw_out, acc3);
}

// forward_thin: the same for layers with at most 4 output channels (an image's last layer),
// where 12 of the 16 channels of a block would be computed for nothing: each invocation
// keeps 4 channels × 16 pixels (pixels n0 + i·WG), the 4 channels' weights being column 0
// of the block's packed mat4x4s. Sums in `quad`s of 4 pixels: column c of the mat4x4 is
// pixel c's 4 channels. One dispatch covers the single block (wid.y = 0).

/// Four pixels' operands at one tap.
struct Quad {
    ok: vec4<bool>,
    base: vec4<u32>,
}

fn quad(a0: Operand, a1: Operand, a2: Operand, a3: Operand) -> Quad {
    return Quad(vec4(a0.ok, a1.ok, a2.ok, a3.ok), vec4(a0.base, a1.base, a2.base, a3.base));
}

fn x_quad(q: Quad, c: u32) -> vec4<f32> {
    return select(vec4(0.0), vec4(x[q.base.x + c], x[q.base.y + c], x[q.base.z + c], x[q.base.w + c]), q.ok);
}

/// The 4 × 4 sums of 4 channels (weights w) times 4 pixels' values v: column c is w · v[c].
fn outer(w: vec4<f32>, v: vec4<f32>) -> mat4x4<f32> {
    return mat4x4(w * v.x, w * v.y, w * v.z, w * v.w);
}

@compute @workgroup_size(WG)
fn forward_thin(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let hw_in = p.h_in * p.w_in;
    let n0 = wid.x * 16u * WG + lid.x;
    let o0 = output_pixel(n0); let o1 = output_pixel(n0 + WG);
    let o2 = output_pixel(n0 + 2u * WG); let o3 = output_pixel(n0 + 3u * WG);
    let o4 = output_pixel(n0 + 4u * WG); let o5 = output_pixel(n0 + 5u * WG);
    let o6 = output_pixel(n0 + 6u * WG); let o7 = output_pixel(n0 + 7u * WG);
    let o8 = output_pixel(n0 + 8u * WG); let o9 = output_pixel(n0 + 9u * WG);
    let o10 = output_pixel(n0 + 10u * WG); let o11 = output_pixel(n0 + 11u * WG);
    let o12 = output_pixel(n0 + 12u * WG); let o13 = output_pixel(n0 + 13u * WG);
    let o14 = output_pixel(n0 + 14u * WG); let o15 = output_pixel(n0 + 15u * WG);
    var b = vec4(0.0);
    if (HAS_BIAS && !ACCUMULATE) {
        let last = p.c_out - 1u;
        b = vec4(bias[p.b_off], bias[p.b_off + min(1u, last)], bias[p.b_off + min(2u, last)],
                 bias[p.b_off + min(3u, last)]);
    }
    var acc0 = mat4x4(b, b, b, b);
    var acc1 = acc0;
    var acc2 = acc0;
    var acc3 = acc0;

    var u = 0u;
    for (var t = p.tap_lo; t < p.tap_hi; t++) {
        let ky = t / p.kw;
        let kx = t % p.kw;
        let q0 = quad(x_operand(o0, ky, kx), x_operand(o1, ky, kx), x_operand(o2, ky, kx), x_operand(o3, ky, kx));
        let q1 = quad(x_operand(o4, ky, kx), x_operand(o5, ky, kx), x_operand(o6, ky, kx), x_operand(o7, ky, kx));
        let q2 = quad(x_operand(o8, ky, kx), x_operand(o9, ky, kx), x_operand(o10, ky, kx), x_operand(o11, ky, kx));
        let q3 = quad(x_operand(o12, ky, kx), x_operand(o13, ky, kx), x_operand(o14, ky, kx), x_operand(o15, ky, kx));
        for (var ci = p.red_lo; ci < p.red_hi; ci++) {
            let w = w_mat(u)[0];
            let c = ci * hw_in;
            acc0 += outer(w, x_quad(q0, c));
            acc1 += outer(w, x_quad(q1, c));
            acc2 += outer(w, x_quad(q2, c));
            acc3 += outer(w, x_quad(q3, c));
            u++;
        }
    }

    let hw_out = p.h_out * p.w_out;
    store_y_thin(o0, hw_out, acc0[0]); store_y_thin(o1, hw_out, acc0[1]);
    store_y_thin(o2, hw_out, acc0[2]); store_y_thin(o3, hw_out, acc0[3]);
    store_y_thin(o4, hw_out, acc1[0]); store_y_thin(o5, hw_out, acc1[1]);
    store_y_thin(o6, hw_out, acc1[2]); store_y_thin(o7, hw_out, acc1[3]);
    store_y_thin(o8, hw_out, acc2[0]); store_y_thin(o9, hw_out, acc2[1]);
    store_y_thin(o10, hw_out, acc2[2]); store_y_thin(o11, hw_out, acc2[3]);
    store_y_thin(o12, hw_out, acc3[0]); store_y_thin(o13, hw_out, acc3[1]);
    store_y_thin(o14, hw_out, acc3[2]); store_y_thin(o15, hw_out, acc3[3]);
}

/// y[pixel, 0 .. 3] (those below c_out) = (the earlier slices' sum, if any) + v.
fn store_y_thin(o: OutputPixel, hw_out: u32, v: vec4<f32>) {
    if (o.live) { store_y4(o.yb, 0u, hw_out, v); }
}

/// y[pixel, co0 + i] = (the earlier slices' sum, if any) + acc[i / 4][i % 4], i < 16.
/// Written out, not looped: a loop indexing the matrix at run time keeps it in memory.
fn store_y(o: OutputPixel, co0: u32, hw_out: u32, acc: mat4x4<f32>) {
    if (!o.live) { return; }
    let yi = o.yb + co0 * hw_out;
    store_y4(yi, co0, hw_out, acc[0]);
    store_y4(yi + 4u * hw_out, co0 + 4u, hw_out, acc[1]);
    store_y4(yi + 8u * hw_out, co0 + 8u, hw_out, acc[2]);
    store_y4(yi + 12u * hw_out, co0 + 12u, hw_out, acc[3]);
}

fn store_y4(yi: u32, co: u32, hw_out: u32, v: vec4<f32>) {
    store_y1(yi, co, v.x);
    store_y1(yi + hw_out, co + 1u, v.y);
    store_y1(yi + 2u * hw_out, co + 2u, v.z);
    store_y1(yi + 3u * hw_out, co + 3u, v.w);
}

fn store_y1(yi: u32, co: u32, v: f32) {
    if (co < p.c_out) {
        var out = v;
        if (ACCUMULATE) { out = y[yi] + v; }
        if (ACT != 0u) { out = activate(ACT, p.act_slope, vec4(out)).x; }
        y[yi] = out;
    }
}

// ---------------------------------------------------------------------------------------
// backward_input: bindings wu (uniform), dy, dx, gate. A transposed convolution. Input pixels are
// split into stride² phase classes (iy mod s, ix mod s), one class per dispatch: inside a
// class only the taps ky ≡ iy + p (mod s) reach an output row, so the tap loop is uniform
// and skips the (s² − 1)/s² taps that would miss, and oy = iy/s + (py + p − ky)/s is a
// plain offset. Workgroup (x: 4·WG pixels of the class, y: block of 16 input channels).
// wu holds, per block, the class's taps t in [tap_lo, tap_hi) (ky-major), for each the
// output channels co in [red_lo, red_hi): a mat4x4 whose element [g][c] is
// w[co, 16·blk + 4g + c, ky_t, kx_t].

@group(0) @binding(2) var<storage, read> bi_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bi_dx: array<f32>;
// The output of the activation in front of the layer, laid out as dx (unused unless
// GATE_ACT != 0; then any read-only buffer).
@group(0) @binding(4) var<storage, read> bi_gate: array<f32>;

/// An input pixel of the phase class: whether it exists, its (qy, qx) on the class grid,
/// the dy index of (b, channel 0), and the dx index of (b, channel 0, pixel).
struct InputPixel {
    live: bool,
    qy: i32,
    qx: i32,
    dyb: u32,
    dxb: u32,
}

fn input_pixel(n: u32, py: u32, px: u32, nqy: u32, nqx: u32) -> InputPixel {
    let nq = max(nqy * nqx, 1u);
    let npix = p.batch * nqy * nqx;
    let nn = min(n, max(npix, 1u) - 1u);
    let b = nn / nq;
    let r = nn % nq;
    let qy = r / max(nqx, 1u);
    let qx = r % max(nqx, 1u);
    let iy = py + p.stride * qy;
    let ix = px + p.stride * qx;
    return InputPixel(
        n < npix,
        i32(qy),
        i32(qx),
        p.y_off + b * p.c_out * p.h_out * p.w_out,
        p.x_off + b * p.c_in * p.h_in * p.w_in + iy * p.w_in + ix,
    );
}

/// dy for input pixel `q` at the output offset (dy_row, dy_col) of a tap.
fn dy_operand(q: InputPixel, dy_row: i32, dy_col: i32) -> Operand {
    let oy = q.qy + dy_row;
    let ox = q.qx + dy_col;
    let ok = q.live && oy >= 0 && oy < i32(p.h_out) && ox >= 0 && ox < i32(p.w_out);
    return Operand(ok, select(q.dyb, q.dyb + u32(oy) * p.w_out + u32(ox), ok));
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let s = p.stride;
    let py = p.phase / s;
    let px = p.phase % s;
    // Pixels of this class: iy = py + s·qy for qy < nqy (likewise x).
    let nqy = select(0u, (p.h_in - py + s - 1u) / s, py < p.h_in);
    let nqx = select(0u, (p.w_in - px + s - 1u) / s, px < p.w_in);
    let hw_out = p.h_out * p.w_out;
    let n0 = wid.x * 4u * WG + lid.x;
    let q0 = input_pixel(n0, py, px, nqy, nqx);
    let q1 = input_pixel(n0 + WG, py, px, nqy, nqx);
    let q2 = input_pixel(n0 + 2u * WG, py, px, nqy, nqx);
    let q3 = input_pixel(n0 + 3u * WG, py, px, nqy, nqx);
    var acc0 = mat4x4<f32>();
    var acc1 = mat4x4<f32>();
    var acc2 = mat4x4<f32>();
    var acc3 = mat4x4<f32>();

    // The class's taps: ky = ky0, ky0 + s, ... (likewise kx), nkx of them per row.
    let ky0 = (py + p.pad) % s;
    let kx0 = (px + p.pad) % s;
    let nkx = (p.kw + s - 1u - kx0) / s;
    var u = wid.y * (p.tap_hi - p.tap_lo) * (p.red_hi - p.red_lo);
    for (var t = p.tap_lo; t < p.tap_hi; t++) {
        let ky = ky0 + (t / nkx) * s;
        let kx = kx0 + (t % nkx) * s;
        // Exact divisions: py + p − ky is a multiple of s.
        let dy_row = (i32(py + p.pad) - i32(ky)) / i32(s);
        let dy_col = (i32(px + p.pad) - i32(kx)) / i32(s);
        let a0 = dy_operand(q0, dy_row, dy_col);
        let a1 = dy_operand(q1, dy_row, dy_col);
        let a2 = dy_operand(q2, dy_row, dy_col);
        let a3 = dy_operand(q3, dy_row, dy_col);
        for (var co = p.red_lo; co < p.red_hi; co++) {
            let wm = w_mat(u);
            let c = co * hw_out;
            acc0 += wm * select(0.0, bi_dy[a0.base + c], a0.ok);
            acc1 += wm * select(0.0, bi_dy[a1.base + c], a1.ok);
            acc2 += wm * select(0.0, bi_dy[a2.base + c], a2.ok);
            acc3 += wm * select(0.0, bi_dy[a3.base + c], a3.ok);
            u++;
        }
    }

    let ci0 = (p.blk0 + wid.y) * 16u;
    let hw_in = p.h_in * p.w_in;
    store_dx(q0, ci0, hw_in, acc0);
    store_dx(q1, ci0, hw_in, acc1);
    store_dx(q2, ci0, hw_in, acc2);
    store_dx(q3, ci0, hw_in, acc3);
}

// backward_input_thin: the same for layers with at most 4 input channels (an image's first
// layer), 4 channels × 16 pixels per invocation as forward_thin does.

fn dy_quad(q: Quad, c: u32) -> vec4<f32> {
    let v = vec4(bi_dy[q.base.x + c], bi_dy[q.base.y + c], bi_dy[q.base.z + c], bi_dy[q.base.w + c]);
    return select(vec4(0.0), v, q.ok);
}

@compute @workgroup_size(WG)
fn backward_input_thin(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let s = p.stride;
    let py = p.phase / s;
    let px = p.phase % s;
    let nqy = select(0u, (p.h_in - py + s - 1u) / s, py < p.h_in);
    let nqx = select(0u, (p.w_in - px + s - 1u) / s, px < p.w_in);
    let hw_out = p.h_out * p.w_out;
    let n0 = wid.x * 16u * WG + lid.x;
    let i0 = input_pixel(n0, py, px, nqy, nqx); let i1 = input_pixel(n0 + WG, py, px, nqy, nqx);
    let i2 = input_pixel(n0 + 2u * WG, py, px, nqy, nqx); let i3 = input_pixel(n0 + 3u * WG, py, px, nqy, nqx);
    let i4 = input_pixel(n0 + 4u * WG, py, px, nqy, nqx); let i5 = input_pixel(n0 + 5u * WG, py, px, nqy, nqx);
    let i6 = input_pixel(n0 + 6u * WG, py, px, nqy, nqx); let i7 = input_pixel(n0 + 7u * WG, py, px, nqy, nqx);
    let i8 = input_pixel(n0 + 8u * WG, py, px, nqy, nqx); let i9 = input_pixel(n0 + 9u * WG, py, px, nqy, nqx);
    let i10 = input_pixel(n0 + 10u * WG, py, px, nqy, nqx); let i11 = input_pixel(n0 + 11u * WG, py, px, nqy, nqx);
    let i12 = input_pixel(n0 + 12u * WG, py, px, nqy, nqx); let i13 = input_pixel(n0 + 13u * WG, py, px, nqy, nqx);
    let i14 = input_pixel(n0 + 14u * WG, py, px, nqy, nqx); let i15 = input_pixel(n0 + 15u * WG, py, px, nqy, nqx);
    var acc0 = mat4x4<f32>();
    var acc1 = mat4x4<f32>();
    var acc2 = mat4x4<f32>();
    var acc3 = mat4x4<f32>();

    let ky0 = (py + p.pad) % s;
    let kx0 = (px + p.pad) % s;
    let nkx = (p.kw + s - 1u - kx0) / s;
    var u = 0u;
    for (var t = p.tap_lo; t < p.tap_hi; t++) {
        let ky = ky0 + (t / nkx) * s;
        let kx = kx0 + (t % nkx) * s;
        let r = (i32(py + p.pad) - i32(ky)) / i32(s);
        let c = (i32(px + p.pad) - i32(kx)) / i32(s);
        let q0 = quad(dy_operand(i0, r, c), dy_operand(i1, r, c), dy_operand(i2, r, c), dy_operand(i3, r, c));
        let q1 = quad(dy_operand(i4, r, c), dy_operand(i5, r, c), dy_operand(i6, r, c), dy_operand(i7, r, c));
        let q2 = quad(dy_operand(i8, r, c), dy_operand(i9, r, c), dy_operand(i10, r, c), dy_operand(i11, r, c));
        let q3 = quad(dy_operand(i12, r, c), dy_operand(i13, r, c), dy_operand(i14, r, c), dy_operand(i15, r, c));
        for (var co = p.red_lo; co < p.red_hi; co++) {
            let w = w_mat(u)[0];
            let off = co * hw_out;
            acc0 += outer(w, dy_quad(q0, off));
            acc1 += outer(w, dy_quad(q1, off));
            acc2 += outer(w, dy_quad(q2, off));
            acc3 += outer(w, dy_quad(q3, off));
            u++;
        }
    }

    let hw_in = p.h_in * p.w_in;
    store_dx_thin(i0, hw_in, acc0[0]); store_dx_thin(i1, hw_in, acc0[1]);
    store_dx_thin(i2, hw_in, acc0[2]); store_dx_thin(i3, hw_in, acc0[3]);
    store_dx_thin(i4, hw_in, acc1[0]); store_dx_thin(i5, hw_in, acc1[1]);
    store_dx_thin(i6, hw_in, acc1[2]); store_dx_thin(i7, hw_in, acc1[3]);
    store_dx_thin(i8, hw_in, acc2[0]); store_dx_thin(i9, hw_in, acc2[1]);
    store_dx_thin(i10, hw_in, acc2[2]); store_dx_thin(i11, hw_in, acc2[3]);
    store_dx_thin(i12, hw_in, acc3[0]); store_dx_thin(i13, hw_in, acc3[1]);
    store_dx_thin(i14, hw_in, acc3[2]); store_dx_thin(i15, hw_in, acc3[3]);
}

/// dx[pixel, 0 .. 3] (those below c_in) = (0 or the earlier slices' sum) + v.
fn store_dx_thin(q: InputPixel, hw_in: u32, v: vec4<f32>) {
    if (q.live) { store_dx4(q.dxb, 0u, hw_in, v); }
}

/// dx[pixel, ci0 + i] = (0 or the earlier slices' sum) + acc[i / 4][i % 4], i < 16,
/// written out as `store_y` is.
fn store_dx(q: InputPixel, ci0: u32, hw_in: u32, acc: mat4x4<f32>) {
    if (!q.live) { return; }
    let xi = q.dxb + ci0 * hw_in;
    store_dx4(xi, ci0, hw_in, acc[0]);
    store_dx4(xi + 4u * hw_in, ci0 + 4u, hw_in, acc[1]);
    store_dx4(xi + 8u * hw_in, ci0 + 8u, hw_in, acc[2]);
    store_dx4(xi + 12u * hw_in, ci0 + 12u, hw_in, acc[3]);
}

fn store_dx4(xi: u32, ci: u32, hw_in: u32, v: vec4<f32>) {
    store_dx1(xi, ci, v.x);
    store_dx1(xi + hw_in, ci + 1u, v.y);
    store_dx1(xi + 2u * hw_in, ci + 2u, v.z);
    store_dx1(xi + 3u * hw_in, ci + 3u, v.w);
}

fn store_dx1(xi: u32, ci: u32, v: f32) {
    if (ci < p.c_in) {
        var out = v;
        if (ACCUMULATE) { out = bi_dx[xi] + v; }
        if (GATE_ACT != 0u) {
            let y = bi_gate[xi - p.x_off + p.gate_off];
            out = gated(GATE_ACT, p.gate_slope, vec4(y), vec4(out)).x;
        }
        bi_dx[xi] = out;
    }
}

// ---------------------------------------------------------------------------------------
// Packing the weights for the uniform slices. bindings w, packed; one invocation per packed
// float (index e, global index x + y·num_workgroups.x·WG); channels past the end are 0.
//   pack_forward: packed[((blk·kk + tap)·c_in + ci)·16 + i] = w[16·blk + i, ci, tap]
//   pack_input:   packed[((blk·T + t)·c_out + co)·16 + i] = w[co, 16·blk + i, ky_t, kx_t]
//                 for the T taps (ky_t, kx_t) of phase class `phase`, ky-major.

@group(0) @binding(1) var<storage, read> pk_w: array<f32>;
@group(0) @binding(2) var<storage, read_write> pk_out: array<f32>;

@compute @workgroup_size(WG)
fn pack_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * WG;
    let kk = p.kh * p.kw;
    let blocks = (p.c_out + 15u) / 16u;
    if (e >= blocks * p.c_in * kk * 16u) { return; }
    let i = e % 16u;
    let m = e / 16u;
    let ci = m % p.c_in;
    let tap = (m / p.c_in) % kk;
    let co = (m / (kk * p.c_in)) * 16u + i;
    let inside = co < p.c_out;
    let wi = select(0u, p.w_off + (co * p.c_in + ci) * kk + tap, inside);
    pk_out[e] = select(0.0, pk_w[wi], inside);
}

@compute @workgroup_size(WG)
fn pack_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * WG;
    let s = p.stride;
    let ky0 = (p.phase / s + p.pad) % s;
    let kx0 = (p.phase % s + p.pad) % s;
    let nkx = (p.kw + s - 1u - kx0) / s;
    let taps = ((p.kh + s - 1u - ky0) / s) * nkx;
    let blocks = (p.c_in + 15u) / 16u;
    if (e >= blocks * p.c_out * taps * 16u) { return; }
    let i = e % 16u;
    let m = e / 16u;
    let co = m % p.c_out;
    let t = (m / p.c_out) % taps;
    let ci = (m / (taps * p.c_out)) * 16u + i;
    let ky = ky0 + (t / nkx) * s;
    let kx = kx0 + (t % nkx) * s;
    let inside = ci < p.c_in;
    let wi = select(0u, p.w_off + ((co * p.c_in + ci) * p.kh + ky) * p.kw + kx, inside);
    pk_out[e] = select(0.0, pk_w[wi], inside);
}

// ---------------------------------------------------------------------------------------
// backward_weight: bindings x, dy, out. A sum over the rows (b, oy) of dy; workgroup z sums
// rows [z·chunk_rows, (z+1)·chunk_rows). With one chunk it adds straight into dw at
// out[w_off + ...]; with several it writes partial sums out[(z·c_out + co)·k_len + k]
// that `reduce_chunks` adds up in chunk order. Workgroup (x: POS·WG_DW weight positions
// k = (ci, ky, kx), y: block of 16 output channels, z: chunk). Each invocation keeps 16
// channels × POS positions; dy's 16 values per pixel are the same across the workgroup
// (but on llvmpipe still cost a load each, which is why this pass is the slowest).

@group(0) @binding(1) var<storage, read> bw_x: array<f32>;
@group(0) @binding(2) var<storage, read> bw_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bw_out: array<f32>;

/// A weight position k = (ci, ky, kx): x index of its input channel plane and its tap.
struct Tap {
    live: bool,
    k: u32,
    xc: u32,
    ky: i32,
    kx: i32,
}

fn tap_of(k: u32) -> Tap {
    let kk = p.kh * p.kw;
    let k_len = p.c_in * kk;
    let kc = min(k, k_len - 1u);
    return Tap(
        k < k_len,
        k,
        p.x_off + (kc / kk) * p.h_in * p.w_in,
        i32((kc % kk) / p.kw),
        i32(kc % p.kw),
    );
}

/// x of tap `t` at the output pixel whose window starts at (iy0, ix0), in row `xrow`.
fn bw_x_at(t: Tap, xrow: u32, iy0: i32, ix0: i32) -> f32 {
    let iy = iy0 + t.ky;
    let ix = ix0 + t.kx;
    let inside = t.live && iy >= 0 && iy < i32(p.h_in) && ix >= 0 && ix < i32(p.w_in);
    return select(0.0, bw_x[select(0u, t.xc + xrow + u32(iy) * p.w_in + u32(ix), inside)], inside);
}

// Invocations per workgroup of backward_weight, and weight positions per invocation (4 or
// 16): 8 x 4 for layers with few weight positions (conv3x3 on one channel has 9), 16 x 16
// for the others. A position costs one gathered load of x per pixel, and dy's 16 values
// per pixel cost 16 loads whatever the number of positions, so 16 positions make 32 loads
// per 256 multiply-adds where 4 made 20 per 64.
override WG_DW: u32 = 8u;
override POS: u32 = 4u;

@compute @workgroup_size(WG_DW)
fn backward_weight(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let co0 = wid.y * 16u;
    let rows = p.batch * p.h_out;
    let row_lo = wid.z * p.chunk_rows;
    let row_hi = min(row_lo + p.chunk_rows, rows);
    // Positions k0 + i * WG_DW, i < POS (consecutive lanes hold consecutive positions).
    let k0 = wid.x * POS * WG_DW + lid.x;
    // (Those past POS are computed but unused: integer work once per invocation.)
    let q0 = tap_of(k0); let q1 = tap_of(k0 + WG_DW); let q2 = tap_of(k0 + 2u * WG_DW); let q3 = tap_of(k0 + 3u * WG_DW);
    let q4 = tap_of(k0 + 4u * WG_DW); let q5 = tap_of(k0 + 5u * WG_DW); let q6 = tap_of(k0 + 6u * WG_DW); let q7 = tap_of(k0 + 7u * WG_DW);
    let q8 = tap_of(k0 + 8u * WG_DW); let q9 = tap_of(k0 + 9u * WG_DW); let q10 = tap_of(k0 + 10u * WG_DW); let q11 = tap_of(k0 + 11u * WG_DW);
    let q12 = tap_of(k0 + 12u * WG_DW); let q13 = tap_of(k0 + 13u * WG_DW); let q14 = tap_of(k0 + 14u * WG_DW); let q15 = tap_of(k0 + 15u * WG_DW);
    // dy's channel planes for the 16 channels (clamped; extra channels are not stored).
    let last = p.c_out - 1u;
    var dyc: array<u32, 16>;
    for (var i = 0u; i < 16u; i++) {
        dyc[i] = p.y_off + min(co0 + i, last) * hw_out;
    }
    var acc0 = mat4x4<f32>(); var acc1 = mat4x4<f32>(); var acc2 = mat4x4<f32>(); var acc3 = mat4x4<f32>();
    var acc4 = mat4x4<f32>(); var acc5 = mat4x4<f32>(); var acc6 = mat4x4<f32>(); var acc7 = mat4x4<f32>();
    var acc8 = mat4x4<f32>(); var acc9 = mat4x4<f32>(); var acc10 = mat4x4<f32>(); var acc11 = mat4x4<f32>();
    var acc12 = mat4x4<f32>(); var acc13 = mat4x4<f32>(); var acc14 = mat4x4<f32>(); var acc15 = mat4x4<f32>();
    for (var row = row_lo; row < row_hi; row++) {
        let b = row / p.h_out;
        let oy = row % p.h_out;
        let xrow = b * p.c_in * hw_in;
        let dyrow = b * p.c_out * hw_out + oy * p.w_out;
        let iy0 = i32(oy * p.stride) - i32(p.pad);
        for (var ox = 0u; ox < p.w_out; ox++) {
            let ix0 = i32(ox * p.stride) - i32(p.pad);
            let d = dyrow + ox;
            let dm = mat4x4<f32>(
                bw_dy[dyc[0] + d], bw_dy[dyc[1] + d], bw_dy[dyc[2] + d], bw_dy[dyc[3] + d],
                bw_dy[dyc[4] + d], bw_dy[dyc[5] + d], bw_dy[dyc[6] + d], bw_dy[dyc[7] + d],
                bw_dy[dyc[8] + d], bw_dy[dyc[9] + d], bw_dy[dyc[10] + d], bw_dy[dyc[11] + d],
                bw_dy[dyc[12] + d], bw_dy[dyc[13] + d], bw_dy[dyc[14] + d], bw_dy[dyc[15] + d],
            );
            // Written out: the sums must stay in registers (see matmul.wgsl); the `if`s on
            // POS fold away when the pipeline is made.
            acc0 += dm * bw_x_at(q0, xrow, iy0, ix0);
            acc1 += dm * bw_x_at(q1, xrow, iy0, ix0);
            acc2 += dm * bw_x_at(q2, xrow, iy0, ix0);
            acc3 += dm * bw_x_at(q3, xrow, iy0, ix0);
            if (POS > 4u) {
                acc4 += dm * bw_x_at(q4, xrow, iy0, ix0);
                acc5 += dm * bw_x_at(q5, xrow, iy0, ix0);
                acc6 += dm * bw_x_at(q6, xrow, iy0, ix0);
                acc7 += dm * bw_x_at(q7, xrow, iy0, ix0);
                acc8 += dm * bw_x_at(q8, xrow, iy0, ix0);
                acc9 += dm * bw_x_at(q9, xrow, iy0, ix0);
                acc10 += dm * bw_x_at(q10, xrow, iy0, ix0);
                acc11 += dm * bw_x_at(q11, xrow, iy0, ix0);
                acc12 += dm * bw_x_at(q12, xrow, iy0, ix0);
                acc13 += dm * bw_x_at(q13, xrow, iy0, ix0);
                acc14 += dm * bw_x_at(q14, xrow, iy0, ix0);
                acc15 += dm * bw_x_at(q15, xrow, iy0, ix0);
            }
        }
    }
    store_dw(q0, co0, wid.z, acc0);
    store_dw(q1, co0, wid.z, acc1);
    store_dw(q2, co0, wid.z, acc2);
    store_dw(q3, co0, wid.z, acc3);
    if (POS > 4u) {
        store_dw(q4, co0, wid.z, acc4);
        store_dw(q5, co0, wid.z, acc5);
        store_dw(q6, co0, wid.z, acc6);
        store_dw(q7, co0, wid.z, acc7);
        store_dw(q8, co0, wid.z, acc8);
        store_dw(q9, co0, wid.z, acc9);
        store_dw(q10, co0, wid.z, acc10);
        store_dw(q11, co0, wid.z, acc11);
        store_dw(q12, co0, wid.z, acc12);
        store_dw(q13, co0, wid.z, acc13);
        store_dw(q14, co0, wid.z, acc14);
        store_dw(q15, co0, wid.z, acc15);
    }
}

/// Adds (one chunk) or writes (partial sums of chunk z) the 16 channels of tap t.
fn store_dw(t: Tap, co0: u32, z: u32, acc: mat4x4<f32>) {
    if (!t.live) { return; }
    let k_len = p.c_in * p.kh * p.kw;
    for (var i = 0u; i < 16u; i++) {
        let co = co0 + i;
        if (co >= p.c_out) { return; }
        let v = acc[i / 4u][i % 4u];
        if (p.chunks == 1u) {
            let o = p.w_off + co * k_len + t.k;
            bw_out[o] = bw_out[o] + v;
        } else {
            bw_out[(z * p.c_out + co) * k_len + t.k] = v;
        }
    }
}

// ---------------------------------------------------------------------------------------
// reduce_chunks: bindings partial, dw. dw[w_off + e] += Σ_z partial[z·n + e] in order of z,
// e < n = c_out·k_len. One invocation per weight; global index x + y·(num_workgroups.x·WG).

@group(0) @binding(1) var<storage, read> rc_partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> rc_dw: array<f32>;

@compute @workgroup_size(WG)
fn reduce_chunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = p.c_out * p.c_in * p.kh * p.kw;
    let e = gid.x + gid.y * nwg.x * WG;
    if (e >= n) { return; }
    var acc = 0.0;
    for (var z = 0u; z < p.chunks; z++) {
        acc += rc_partial[z * n + e];
    }
    rc_dw[p.w_off + e] = rc_dw[p.w_off + e] + acc;
}

// ---------------------------------------------------------------------------------------
// bias_grad: bindings dy, db. db[b_off + co] += Σ_{b, pixel} dy[b, co, pixel], one
// workgroup per channel: invocation t sums elements t, t + WG, … of the channel's (b, pixel)
// sequence, then a fixed-order tree adds the WG partial sums. (One invocation per channel
// looping over every element would pass llvmpipe's 65,535 loop iterations per invocation at
// batch 84 of 28×28 images, and its loops would silently stop.)

@group(0) @binding(1) var<storage, read> bg_dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> bg_db: array<f32>;

var<workgroup> bg_part: array<f32, WG>;

@compute @workgroup_size(WG)
fn bias_grad(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let co = wid.x;
    let hw_out = p.h_out * p.w_out;
    var acc = 0.0;
    for (var j = t; j < p.batch * hw_out; j += WG) {
        let b = j / hw_out;
        acc += bg_dy[p.y_off + (b * p.c_out + co) * hw_out + j % hw_out];
    }
    bg_part[t] = acc;
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (t < stride) { bg_part[t] += bg_part[t + stride]; }
    }
    if (t == 0u) { bg_db[p.b_off + co] = bg_db[p.b_off + co] + bg_part[0]; }
}
