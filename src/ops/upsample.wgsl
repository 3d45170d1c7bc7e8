// ×2 upsampling of NCHW tensors, seen as `planes` = batch·channels planes of in_h × in_w
// (always the shape of the layer's INPUT x; the output is 2·in_h × 2·in_w). Every entry point
// reads `src` from element src_off and writes `dst` from element dst_off, one thread per dst
// element, dispatched with grid_1d(n, 256): the flat index is gid.x + gid.y * nwg.x * 256.
//
// nearest_forward    src = x  [planes, in_h, in_w]      dst = y  [planes, 2in_h, 2in_w]
// nearest_backward   src = dy [planes, 2in_h, 2in_w]    dst = dx [planes, in_h, in_w]
// bilinear_forward   as nearest_forward
// bilinear_backward  as nearest_backward
//
// Both backward passes are gathers: each input pixel sums the output pixels that read it, in
// a fixed order, so no atomics are needed and the result is deterministic.

const WG: u32 = 256u;

struct Params {
    planes: u32,
    in_h: u32,
    in_w: u32,
    src_off: u32,
    dst_off: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// PyTorch F.interpolate(scale_factor=2, mode='nearest'): y[q, h, w] = x[q, h/2, w/2].
@compute @workgroup_size(WG)
fn nearest_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = 2u * p.in_h;
    let ow = 2u * p.in_w;
    let j = flat(gid, nwg);
    if (j >= p.planes * oh * ow) { return; }
    let q = j / (oh * ow);
    let r = j % (oh * ow);
    dst[p.dst_off + j] = src[p.src_off + (q * p.in_h + (r / ow) / 2u) * p.in_w + (r % ow) / 2u];
}

// dx[q, h, w] = sum of the 2×2 block of dy that copied x[q, h, w].
@compute @workgroup_size(WG)
fn nearest_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let ow = 2u * p.in_w;
    let j = flat(gid, nwg);
    if (j >= p.planes * p.in_h * p.in_w) { return; }
    let q = j / (p.in_h * p.in_w);
    let r = j % (p.in_h * p.in_w);
    let top = p.src_off + (q * 2u * p.in_h + 2u * (r / p.in_w)) * ow + 2u * (r % p.in_w);
    let bottom = top + ow;
    dst[p.dst_off + j] = (src[top] + src[top + 1u]) + (src[bottom] + src[bottom + 1u]);
}

// Bilinear with align_corners = true, along one axis of n_in inputs and 2·n_in outputs:
// output o reads inputs i0 and i1 with weights 1 − l1 and l1, where the source coordinate is
// o·(n_in − 1)/(n_out − 1) = i0 + l1 (PyTorch's area_pixel_compute_scale with
// align_corners). i0 and the fraction come from exact integer arithmetic, so the forward
// pass and the gather in the backward pass agree on which outputs read which input.
// n_in = 1 gives i0 = i1 = 0, l1 = 0: a constant, as in PyTorch.
struct Tap {
    i0: u32,
    i1: u32,
    l1: f32,
}

fn tap(o: u32, n_in: u32) -> Tap {
    let num = o * (n_in - 1u);
    let den = 2u * n_in - 1u;
    let i0 = num / den;
    // PyTorch: i1 = i0 + (i0 < n_in - 1 ? 1 : 0)
    return Tap(i0, min(i0 + 1u, n_in - 1u), f32(num % den) / f32(den));
}

// Weight with which output o reads input i (both taps may land on i at the border).
fn weight(o: u32, i: u32, n_in: u32) -> f32 {
    let t = tap(o, n_in);
    var w = 0.0;
    if (t.i0 == i) { w += 1.0 - t.l1; }
    if (t.i1 == i) { w += t.l1; }
    return w;
}

// The outputs that can read input i: those whose source coordinate lies in [i − 1, i + 1],
// as an inclusive range [lo, hi]. A few at the ends get weight 0, which is harmless.
fn readers(i: u32, n_in: u32) -> vec2<u32> {
    let den = 2u * n_in - 1u;
    if (n_in == 1u) { return vec2<u32>(0u, den); }
    var lo = 0u;
    if (i > 0u) { lo = ((i - 1u) * den + n_in - 2u) / (n_in - 1u); } // ceil
    let hi = min(((i + 1u) * den) / (n_in - 1u), den);               // floor
    return vec2<u32>(lo, hi);
}

// PyTorch F.interpolate(scale_factor=2, mode='bilinear', align_corners=True).
@compute @workgroup_size(WG)
fn bilinear_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = 2u * p.in_h;
    let ow = 2u * p.in_w;
    let j = flat(gid, nwg);
    if (j >= p.planes * oh * ow) { return; }
    let q = j / (oh * ow);
    let r = j % (oh * ow);
    let th = tap(r / ow, p.in_h);
    let tw = tap(r % ow, p.in_w);
    let row0 = p.src_off + (q * p.in_h + th.i0) * p.in_w;
    let row1 = p.src_off + (q * p.in_h + th.i1) * p.in_w;
    // Same association as PyTorch's CPU kernel: rows first, then columns.
    let top = (1.0 - tw.l1) * src[row0 + tw.i0] + tw.l1 * src[row0 + tw.i1];
    let bottom = (1.0 - tw.l1) * src[row1 + tw.i0] + tw.l1 * src[row1 + tw.i1];
    dst[p.dst_off + j] = (1.0 - th.l1) * top + th.l1 * bottom;
}

// dx[q, h, w] = Σ_{oy, ox} wy(oy, h)·wx(ox, w)·dy[q, oy, ox] over the (at most ~6×6) outputs
// that read x[q, h, w], rows in increasing oy, each row summed in increasing ox.
@compute @workgroup_size(WG)
fn bilinear_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let ow = 2u * p.in_w;
    let j = flat(gid, nwg);
    if (j >= p.planes * p.in_h * p.in_w) { return; }
    let q = j / (p.in_h * p.in_w);
    let r = j % (p.in_h * p.in_w);
    let h = r / p.in_w;
    let w = r % p.in_w;
    let rows = readers(h, p.in_h);
    let cols = readers(w, p.in_w);
    var acc = 0.0;
    for (var oy = rows.x; oy <= rows.y; oy++) {
        let wy = weight(oy, h, p.in_h);
        let base = p.src_off + (q * 2u * p.in_h + oy) * ow;
        var row = 0.0;
        for (var ox = cols.x; ox <= cols.y; ox++) {
            row += weight(ox, w, p.in_w) * src[base + ox];
        }
        acc += wy * row;
    }
    dst[p.dst_off + j] = acc;
}
