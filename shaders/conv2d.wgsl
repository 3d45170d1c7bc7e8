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
//   * The 4 input values a tap needs are gathered per lane (one load each).
// No workgroup memory and no barriers (both measured slower here). Every sum runs in a
// fixed order and nothing uses atomics: results are bit-identical across runs.
//
// Out-of-range reads are never relied on: an index that may leave a tensor is replaced by a
// safe one and the value is discarded with `select`.

const WG: u32 = 64u;      // invocations per workgroup
const UBO_MATS: u32 = 1024u; // mat4x4 per uniform slice: 64 KiB

struct Params {
    batch: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, kh: u32,
    kw: u32, stride: u32, pad: u32, has_bias: u32,
    x_off: u32, w_off: u32, b_off: u32, y_off: u32,
    // backward_weight: rows (b, oy) per chunk and number of chunks (partial sums).
    chunk_rows: u32, chunks: u32,
    // forward / backward_input: this dispatch covers channel blocks blk0 + wid.y and the
    // reduction channels [red_lo, red_hi) (input channels for forward, output channels for
    // backward_input); it adds to the output when `accumulate` is 1.
    accumulate: u32, phase: u32,
    blk0: u32, red_lo: u32, red_hi: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---------------------------------------------------------------------------------------
// forward: bindings wu (uniform), x, bias, y. Workgroup (x: 4·WG pixels, y: block of 16
// output channels). wu holds, for each block of this dispatch, the taps (ci, ky, kx) of
// ci in [red_lo, red_hi), each a mat4x4 whose element [g][c] is channel 16·blk + 4g + c.

@group(0) @binding(1) var<uniform> wu: array<mat4x4<f32>, UBO_MATS>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

/// Where an output pixel's window starts: x index of (b, channel 0), top-left tap (iy, ix),
/// and the y index of (b, channel 0, pixel).
struct Window {
    live: bool,
    xb: u32,
    iy: i32,
    ix: i32,
    yb: u32,
}

fn window(n: u32) -> Window {
    let hw_out = p.h_out * p.w_out;
    let npix = p.batch * hw_out;
    let nn = min(n, npix - 1u);
    let b = nn / hw_out;
    let pix = nn % hw_out;
    return Window(
        n < npix,
        p.x_off + b * p.c_in * p.h_in * p.w_in,
        i32((pix / p.w_out) * p.stride) - i32(p.pad),
        i32((pix % p.w_out) * p.stride) - i32(p.pad),
        p.y_off + b * p.c_out * hw_out + pix,
    );
}

/// x at row base `rb` (x index of column 0 of the tap's row), column `ix`; 0 in the padding.
fn x_at(row_ok: bool, rb: u32, ix: i32) -> f32 {
    let inside = row_ok && ix >= 0 && ix < i32(p.w_in);
    return select(0.0, x[select(0u, rb + u32(ix), inside)], inside);
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let hw_in = p.h_in * p.w_in;
    let kk = p.kh * p.kw;
    let n0 = wid.x * 4u * WG + lid.x;
    let p0 = window(n0);
    let p1 = window(n0 + WG);
    let p2 = window(n0 + 2u * WG);
    let p3 = window(n0 + 3u * WG);
    var acc0 = mat4x4<f32>();
    var acc1 = mat4x4<f32>();
    var acc2 = mat4x4<f32>();
    var acc3 = mat4x4<f32>();

    var u = wid.y * (p.red_hi - p.red_lo) * kk;
    for (var ci = p.red_lo; ci < p.red_hi; ci++) {
        let cb = ci * hw_in;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy0 = p0.iy + i32(ky);
            let iy1 = p1.iy + i32(ky);
            let iy2 = p2.iy + i32(ky);
            let iy3 = p3.iy + i32(ky);
            let ok0 = p0.live && iy0 >= 0 && iy0 < i32(p.h_in);
            let ok1 = p1.live && iy1 >= 0 && iy1 < i32(p.h_in);
            let ok2 = p2.live && iy2 >= 0 && iy2 < i32(p.h_in);
            let ok3 = p3.live && iy3 >= 0 && iy3 < i32(p.h_in);
            let rb0 = p0.xb + cb + u32(iy0) * p.w_in;
            let rb1 = p1.xb + cb + u32(iy1) * p.w_in;
            let rb2 = p2.xb + cb + u32(iy2) * p.w_in;
            let rb3 = p3.xb + cb + u32(iy3) * p.w_in;
            for (var kx = 0u; kx < p.kw; kx++) {
                let wm = wu[min(u, UBO_MATS - 1u)];
                acc0 += wm * x_at(ok0, rb0, p0.ix + i32(kx));
                acc1 += wm * x_at(ok1, rb1, p1.ix + i32(kx));
                acc2 += wm * x_at(ok2, rb2, p2.ix + i32(kx));
                acc3 += wm * x_at(ok3, rb3, p3.ix + i32(kx));
                u++;
            }
        }
    }

    let co0 = (p.blk0 + wid.y) * 16u;
    let hw_out = p.h_out * p.w_out;
    store_y(p0, co0, hw_out, acc0);
    store_y(p1, co0, hw_out, acc1);
    store_y(p2, co0, hw_out, acc2);
    store_y(p3, co0, hw_out, acc3);
}

/// y[pixel, co0 + i] = (bias or the earlier slices' sum) + acc[i / 4][i % 4], i < 16.
fn store_y(win: Window, co0: u32, hw_out: u32, acc: mat4x4<f32>) {
    if (!win.live) { return; }
    for (var i = 0u; i < 16u; i++) {
        let co = co0 + i;
        if (co >= p.c_out) { return; }
        let yi = win.yb + co * hw_out;
        var base = 0.0;
        if (p.accumulate != 0u) {
            base = y[yi];
        } else if (p.has_bias != 0u) {
            base = bias[p.b_off + co];
        }
        y[yi] = base + acc[i / 4u][i % 4u];
    }
}

// ---------------------------------------------------------------------------------------
// backward_input: bindings wu (uniform), dy, dx. A transposed convolution. Input pixels are
// split into stride² phase classes (iy mod s, ix mod s), one class per dispatch: inside a
// class only the taps ky ≡ iy + p (mod s) reach an output row, so the tap loops are uniform
// and skip the (s² − 1)/s² taps that would miss, and oy = iy/s + (py + p − ky)/s is a plain
// offset. Workgroup (x: 4·WG pixels of the class, y: block of 16 input channels). wu holds,
// per block, the class's taps (co, ky, kx) for co in [red_lo, red_hi), each a mat4x4 whose
// element [g][c] is w[co, 16·blk + 4g + c, ky, kx].

@group(0) @binding(2) var<storage, read> bi_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bi_dx: array<f32>;

/// An input pixel of the phase class: its (qy, qx) on the class grid, the dy index of
/// (b, channel 0), and the dx index of (b, channel 0, pixel).
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

/// dy at row base `rb` (dy index of column 0 of output row), column `ox`; 0 off the edge.
fn dy_at(row_ok: bool, rb: u32, ox: i32) -> f32 {
    let inside = row_ok && ox >= 0 && ox < i32(p.w_out);
    return select(0.0, bi_dy[select(0u, rb + u32(ox), inside)], inside);
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
    let t0 = input_pixel(n0, py, px, nqy, nqx);
    let t1 = input_pixel(n0 + WG, py, px, nqy, nqx);
    let t2 = input_pixel(n0 + 2u * WG, py, px, nqy, nqx);
    let t3 = input_pixel(n0 + 3u * WG, py, px, nqy, nqx);
    var acc0 = mat4x4<f32>();
    var acc1 = mat4x4<f32>();
    var acc2 = mat4x4<f32>();
    var acc3 = mat4x4<f32>();

    // The class's taps: ky = ky0, ky0 + s, ... (likewise kx).
    let ky0 = (py + p.pad) % s;
    let kx0 = (px + p.pad) % s;
    let taps = ((p.kh + s - 1u - ky0) / s) * ((p.kw + s - 1u - kx0) / s);
    var u = wid.y * (p.red_hi - p.red_lo) * taps;
    for (var co = p.red_lo; co < p.red_hi; co++) {
        let cb = co * hw_out;
        for (var ky = ky0; ky < p.kh; ky += s) {
            let dy_row = (i32(py + p.pad) - i32(ky)) / i32(s);  // exact: divisible by s
            let oy0 = t0.qy + dy_row;
            let oy1 = t1.qy + dy_row;
            let oy2 = t2.qy + dy_row;
            let oy3 = t3.qy + dy_row;
            let ok0 = t0.live && oy0 >= 0 && oy0 < i32(p.h_out);
            let ok1 = t1.live && oy1 >= 0 && oy1 < i32(p.h_out);
            let ok2 = t2.live && oy2 >= 0 && oy2 < i32(p.h_out);
            let ok3 = t3.live && oy3 >= 0 && oy3 < i32(p.h_out);
            let rb0 = t0.dyb + cb + u32(oy0) * p.w_out;
            let rb1 = t1.dyb + cb + u32(oy1) * p.w_out;
            let rb2 = t2.dyb + cb + u32(oy2) * p.w_out;
            let rb3 = t3.dyb + cb + u32(oy3) * p.w_out;
            for (var kx = kx0; kx < p.kw; kx += s) {
                let dx_col = (i32(px + p.pad) - i32(kx)) / i32(s);
                let wm = wu[min(u, UBO_MATS - 1u)];
                acc0 += wm * dy_at(ok0, rb0, t0.qx + dx_col);
                acc1 += wm * dy_at(ok1, rb1, t1.qx + dx_col);
                acc2 += wm * dy_at(ok2, rb2, t2.qx + dx_col);
                acc3 += wm * dy_at(ok3, rb3, t3.qx + dx_col);
                u++;
            }
        }
    }

    let ci0 = (p.blk0 + wid.y) * 16u;
    let hw_in = p.h_in * p.w_in;
    store_dx(t0, ci0, hw_in, acc0);
    store_dx(t1, ci0, hw_in, acc1);
    store_dx(t2, ci0, hw_in, acc2);
    store_dx(t3, ci0, hw_in, acc3);
}

/// dx[pixel, ci0 + i] = (0 or the earlier slices' sum) + acc[i / 4][i % 4], i < 16.
fn store_dx(t: InputPixel, ci0: u32, hw_in: u32, acc: mat4x4<f32>) {
    if (!t.live) { return; }
    for (var i = 0u; i < 16u; i++) {
        let ci = ci0 + i;
        if (ci >= p.c_in) { return; }
        let xi = t.dxb + ci * hw_in;
        var base = 0.0;
        if (p.accumulate != 0u) { base = bi_dx[xi]; }
        bi_dx[xi] = base + acc[i / 4u][i % 4u];
    }
}

// ---------------------------------------------------------------------------------------
// Packing the weights for the uniform slices. bindings w, packed; one invocation per packed
// float (index e, global index x + y·num_workgroups.x·WG); channels past the end are 0.
//   pack_forward: packed[((blk·c_in + ci)·kk + tap)·16 + i] = w[16·blk + i, ci, tap]
//   pack_input:   packed[((blk·c_out + co)·T + t)·16 + i] = w[co, 16·blk + i, ky_t, kx_t]
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
    let tap = m % kk;
    let ci = (m / kk) % p.c_in;
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
    let t = m % taps;
    let co = (m / taps) % p.c_out;
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
// that `reduce_chunks` adds up in chunk order. Workgroup (x: 4·WG weight positions
// k = (ci, ky, kx), y: block of 16 output channels, z: chunk). Each invocation keeps 16
// channels × 4 positions; dy's 16 values per pixel are the same across the workgroup
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

@compute @workgroup_size(WG)
fn backward_weight(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let co0 = wid.y * 16u;
    let rows = p.batch * p.h_out;
    let row_lo = wid.z * p.chunk_rows;
    let row_hi = min(row_lo + p.chunk_rows, rows);
    let k0 = wid.x * 4u * WG + lid.x;
    let q0 = tap_of(k0);
    let q1 = tap_of(k0 + WG);
    let q2 = tap_of(k0 + 2u * WG);
    let q3 = tap_of(k0 + 3u * WG);
    // dy's channel planes for the 16 channels (clamped; extra channels are not stored).
    let last = p.c_out - 1u;
    var dyc: array<u32, 16>;
    for (var i = 0u; i < 16u; i++) {
        dyc[i] = p.y_off + min(co0 + i, last) * hw_out;
    }
    var acc0 = mat4x4<f32>();
    var acc1 = mat4x4<f32>();
    var acc2 = mat4x4<f32>();
    var acc3 = mat4x4<f32>();
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
            acc0 += dm * bw_x_at(q0, xrow, iy0, ix0);
            acc1 += dm * bw_x_at(q1, xrow, iy0, ix0);
            acc2 += dm * bw_x_at(q2, xrow, iy0, ix0);
            acc3 += dm * bw_x_at(q3, xrow, iy0, ix0);
        }
    }
    store_dw(q0, co0, wid.z, acc0);
    store_dw(q1, co0, wid.z, acc1);
    store_dw(q2, co0, wid.z, acc2);
    store_dw(q3, co0, wid.z, acc3);
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
// invocation per channel, summing in order of b then pixel.

@group(0) @binding(1) var<storage, read> bg_dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> bg_db: array<f32>;

@compute @workgroup_size(WG)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let co = gid.x;
    if (co >= p.c_out) { return; }
    let hw_out = p.h_out * p.w_out;
    var acc = 0.0;
    for (var b = 0u; b < p.batch; b++) {
        let base = p.y_off + (b * p.c_out + co) * hw_out;
        for (var i = 0u; i < hw_out; i++) {
            acc += bg_dy[base + i];
        }
    }
    bg_db[p.b_off + co] = bg_db[p.b_off + co] + acc;
}
