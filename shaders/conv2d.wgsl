// 2-D convolution (cross-correlation, PyTorch's Conv2d) and its two backward passes.
//
// Layouts (row-major f32, offsets in elements):
//   x  [batch, c_in,  h_in,  w_in ]      w [c_out, c_in, kh, kw]      bias [c_out]
//   y  [batch, c_out, h_out, w_out]      h_out = (h_in + 2·pad − kh) / stride + 1
//
//   forward          y[b,co,oy,ox] = bias[co] + Σ_{ci,ky,kx} w[co,ci,ky,kx] · x[b,ci,oy·s−p+ky,ox·s−p+kx]
//   backward_input   dx[b,ci,iy,ix] = Σ_{co,ky,kx} w[co,ci,ky,kx] · dy[b,co,oy,ox], (iy+p−ky) = oy·s, same for x
//   backward_weight  dw[co,ci,ky,kx] += Σ_{b,oy,ox} dy[b,co,oy,ox] · x[b,ci,oy·s−p+ky,ox·s−p+kx]
//   bias_grad        db[co] += Σ_{b,oy,ox} dy[b,co,oy,ox]
//
// Why this shape of kernel (measured on lavapipe, see src/ops/conv2d.rs): every invocation
// keeps a TM × TN block of accumulators in registers. The TM "channel" direction is
// chosen so that its operand's address is the same for the whole workgroup (it depends on
// workgroup_id and loop counters only): llvmpipe then loads it once as a scalar and
// broadcasts it, instead of gathering per SIMD lane. The TN direction runs over pixels
// (or over weight positions), one gather per pixel per step. No workgroup memory, no
// barriers (they are expensive on CPU adapters). Every sum runs in a fixed order: no
// atomics, bit-identical results across runs.
//
// Out-of-range reads are never relied on: an index that may leave a tensor is replaced
// by a safe one and the value is then discarded with `select`.

const TM: u32 = 8u;   // channels per invocation (workgroup-uniform operand)
const TN: u32 = 2u;   // pixels (or weight positions) per invocation (per-lane operand)
const WG: u32 = 64u;  // invocations per workgroup

struct Params {
    batch: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, kh: u32,
    kw: u32, stride: u32, pad: u32, has_bias: u32,
    x_off: u32, w_off: u32, b_off: u32, y_off: u32,
    // backward_weight: rows (b, oy) per chunk and number of chunks (partial sums).
    chunk_rows: u32, chunks: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---------------------------------------------------------------------------------------
// forward: bindings x, w, bias, y. Workgroup (x: pixel block, y: block of TM channels).

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let npix = p.batch * hw_out;
    let k_len = p.c_in * p.kh * p.kw;
    let co0 = wid.y * TM;

    // Per pixel: where its window starts in x, and where its outputs go in y.
    var live: array<bool, TN>;
    var xb: array<u32, TN>;
    var iy0: array<i32, TN>;
    var ix0: array<i32, TN>;
    var yb: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        let n = (wid.x * TN + j) * WG + lid.x;
        live[j] = n < npix;
        let nn = min(n, npix - 1u);
        let b = nn / hw_out;
        let pix = nn % hw_out;
        let oy = pix / p.w_out;
        let ox = pix % p.w_out;
        xb[j] = p.x_off + b * p.c_in * hw_in;
        iy0[j] = i32(oy * p.stride) - i32(p.pad);
        ix0[j] = i32(ox * p.stride) - i32(p.pad);
        yb[j] = p.y_off + b * p.c_out * hw_out + pix;
    }
    // Weight rows of this workgroup's channels (clamped; extra channels are not stored).
    var wrow: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        wrow[i] = p.w_off + min(co0 + i, p.c_out - 1u) * k_len;
    }

    var acc: array<array<f32, TN>, TM>;
    var k = 0u;
    for (var ci = 0u; ci < p.c_in; ci++) {
        let cb = ci * hw_in;
        for (var ky = 0u; ky < p.kh; ky++) {
            for (var kx = 0u; kx < p.kw; kx++) {
                var xv: array<f32, TN>;
                for (var j = 0u; j < TN; j++) {
                    let iy = iy0[j] + i32(ky);
                    let ix = ix0[j] + i32(kx);
                    let inside = live[j] && iy >= 0 && iy < i32(p.h_in) && ix >= 0 && ix < i32(p.w_in);
                    let idx = select(0u, xb[j] + cb + u32(iy) * p.w_in + u32(ix), inside);
                    xv[j] = select(0.0, x[idx], inside);
                }
                for (var i = 0u; i < TM; i++) {
                    let wv = w[wrow[i] + k];
                    for (var j = 0u; j < TN; j++) {
                        acc[i][j] = fma(wv, xv[j], acc[i][j]);
                    }
                }
                k++;
            }
        }
    }

    for (var i = 0u; i < TM; i++) {
        let co = co0 + i;
        if (co >= p.c_out) { break; }
        var bv = 0.0;
        if (p.has_bias != 0u) { bv = bias[p.b_off + co]; }
        for (var j = 0u; j < TN; j++) {
            if (live[j]) { y[yb[j] + co * hw_out] = acc[i][j] + bv; }
        }
    }
}

// ---------------------------------------------------------------------------------------
// backward_input: bindings dy, w, dx. A transposed convolution. The input pixels are split
// into stride² phase classes (iy mod s, ix mod s), one per workgroup z: inside a class only
// the taps ky ≡ iy + p (mod s) reach an output row, so the tap loops are uniform and skip
// the (s² − 1)/s² taps that would miss, and oy = iy/s + (py + p − ky)/s is a plain offset.
// Workgroup (x: pixel block of the class, y: block of TM input channels, z: class).

@group(0) @binding(1) var<storage, read> bi_dy: array<f32>;
@group(0) @binding(2) var<storage, read> bi_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> bi_dx: array<f32>;

@compute @workgroup_size(WG)
fn backward_input(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let s = p.stride;
    let py = wid.z / s;
    let px = wid.z % s;
    // Pixels of this class: iy = py + s·qy for qy < nqy (likewise x).
    let nqy = select(0u, (p.h_in - py + s - 1u) / s, py < p.h_in);
    let nqx = select(0u, (p.w_in - px + s - 1u) / s, px < p.w_in);
    let nq = nqy * nqx;
    let npix = p.batch * nq;
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let kk = p.kh * p.kw;
    let k_len = p.c_in * kk;
    let ci0 = wid.y * TM;

    var live: array<bool, TN>;
    var qy: array<i32, TN>;
    var qx: array<i32, TN>;
    var dyb: array<u32, TN>;
    var dxb: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        let n = (wid.x * TN + j) * WG + lid.x;
        live[j] = n < npix;
        let nn = min(n, max(npix, 1u) - 1u);
        let b = nn / max(nq, 1u);
        let r = nn % max(nq, 1u);
        qy[j] = i32(r / max(nqx, 1u));
        qx[j] = i32(r % max(nqx, 1u));
        dyb[j] = p.y_off + b * p.c_out * hw_out;
        let iy = py + s * u32(qy[j]);
        let ix = px + s * u32(qx[j]);
        dxb[j] = p.x_off + b * p.c_in * hw_in + iy * p.w_in + ix;
    }
    var wcol: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        wcol[i] = p.w_off + min(ci0 + i, p.c_in - 1u) * kk;
    }

    let ky0 = (py + p.pad) % s;
    let kx0 = (px + p.pad) % s;
    var acc: array<array<f32, TN>, TM>;
    for (var co = 0u; co < p.c_out; co++) {
        let cb = co * hw_out;
        let wb = co * k_len;
        for (var ky = ky0; ky < p.kh; ky += s) {
            let dy_row = (i32(py + p.pad) - i32(ky)) / i32(s);  // exact: divisible by s
            for (var kx = kx0; kx < p.kw; kx += s) {
                let dx_col = (i32(px + p.pad) - i32(kx)) / i32(s);
                var dv: array<f32, TN>;
                for (var j = 0u; j < TN; j++) {
                    let oy = qy[j] + dy_row;
                    let ox = qx[j] + dx_col;
                    let inside = live[j] && oy >= 0 && oy < i32(p.h_out) && ox >= 0 && ox < i32(p.w_out);
                    let idx = select(0u, dyb[j] + cb + u32(oy) * p.w_out + u32(ox), inside);
                    dv[j] = select(0.0, bi_dy[idx], inside);
                }
                let tap = wb + ky * p.kw + kx;
                for (var i = 0u; i < TM; i++) {
                    let wv = bi_w[wcol[i] + tap];
                    for (var j = 0u; j < TN; j++) {
                        acc[i][j] = fma(wv, dv[j], acc[i][j]);
                    }
                }
            }
        }
    }

    for (var i = 0u; i < TM; i++) {
        let ci = ci0 + i;
        if (ci >= p.c_in) { break; }
        for (var j = 0u; j < TN; j++) {
            if (live[j]) { bi_dx[dxb[j] + ci * hw_in] = acc[i][j]; }
        }
    }
}

// ---------------------------------------------------------------------------------------
// backward_weight: bindings x, dy, out. A sum over the rows (b, oy) of dy; workgroup z sums
// rows [z·chunk_rows, (z+1)·chunk_rows). With one chunk it adds straight into dw at
// out[y_off + ...]; with several it writes partial sums out[(z·c_out + co)·k_len + k]
// that `reduce_chunks` adds up in chunk order. Workgroup (x: block of weight positions
// k = (ci, ky, kx), y: block of TM output channels, z: chunk).

@group(0) @binding(1) var<storage, read> bw_x: array<f32>;
@group(0) @binding(2) var<storage, read> bw_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bw_out: array<f32>;

@compute @workgroup_size(WG)
fn backward_weight(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let kk = p.kh * p.kw;
    let k_len = p.c_in * kk;
    let co0 = wid.y * TM;
    let rows = p.batch * p.h_out;
    let row_lo = wid.z * p.chunk_rows;
    let row_hi = min(row_lo + p.chunk_rows, rows);

    // Per weight position: its input channel plane and tap offsets.
    var live: array<bool, TN>;
    var xc: array<u32, TN>;
    var ky: array<i32, TN>;
    var kx: array<i32, TN>;
    for (var j = 0u; j < TN; j++) {
        let k = (wid.x * TN + j) * WG + lid.x;
        live[j] = k < k_len;
        let kc = min(k, k_len - 1u);
        xc[j] = p.x_off + (kc / kk) * hw_in;
        ky[j] = i32((kc % kk) / p.kw);
        kx[j] = i32(kc % p.kw);
    }
    var dyc: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        dyc[i] = p.y_off + min(co0 + i, p.c_out - 1u) * hw_out;
    }

    var acc: array<array<f32, TN>, TM>;
    for (var row = row_lo; row < row_hi; row++) {
        let b = row / p.h_out;
        let oy = row % p.h_out;
        let xrow = b * p.c_in * hw_in;
        let dyrow = b * p.c_out * hw_out + oy * p.w_out;
        let iy0 = i32(oy * p.stride) - i32(p.pad);
        for (var ox = 0u; ox < p.w_out; ox++) {
            let ix0 = i32(ox * p.stride) - i32(p.pad);
            var xv: array<f32, TN>;
            for (var j = 0u; j < TN; j++) {
                let iy = iy0 + ky[j];
                let ix = ix0 + kx[j];
                let inside = live[j] && iy >= 0 && iy < i32(p.h_in) && ix >= 0 && ix < i32(p.w_in);
                let idx = select(0u, xc[j] + xrow + u32(iy) * p.w_in + u32(ix), inside);
                xv[j] = select(0.0, bw_x[idx], inside);
            }
            for (var i = 0u; i < TM; i++) {
                let dv = bw_dy[dyc[i] + dyrow + ox];
                for (var j = 0u; j < TN; j++) {
                    acc[i][j] = fma(dv, xv[j], acc[i][j]);
                }
            }
        }
    }

    for (var i = 0u; i < TM; i++) {
        let co = co0 + i;
        if (co >= p.c_out) { break; }
        for (var j = 0u; j < TN; j++) {
            if (!live[j]) { continue; }
            let k = (wid.x * TN + j) * WG + lid.x;
            if (p.chunks == 1u) {
                let o = p.w_off + co * k_len + k;
                bw_out[o] = bw_out[o] + acc[i][j];
            } else {
                bw_out[(wid.z * p.c_out + co) * k_len + k] = acc[i][j];
            }
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
