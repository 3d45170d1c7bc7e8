// Average pooling over NCHW tensors, seen as `planes` = batch·channels planes of in_h × in_w
// (always the shape of the pooled INPUT x). Every entry point reads `src` from element
// src_off and writes `dst` from element dst_off, one thread per dst element, dispatched with
// grid_1d(n, 256): the flat index is gid.x + gid.y * num_workgroups.x * 256.
//
// avg_pool2_forward   src = x  [planes, in_h, in_w]      dst = y  [planes, in_h/2, in_w/2]
// avg_pool2_backward  src = dy [planes, in_h/2, in_w/2]  dst = dx [planes, in_h, in_w]
// global_avg_forward  src = x  [planes, in_h, in_w]      dst = y  [planes]
// global_avg_backward src = dy [planes]                  dst = dx [planes, in_h, in_w]

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

// PyTorch AvgPool2d(2): y[q, i, j] = mean of x[q, 2i..2i+2, 2j..2j+2]; an odd last row or
// column is dropped (floor).
@compute @workgroup_size(WG)
fn avg_pool2_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = p.in_h / 2u;
    let ow = p.in_w / 2u;
    let j = flat(gid, nwg);
    if (j >= p.planes * oh * ow) { return; }
    let q = j / (oh * ow);
    let r = j % (oh * ow);
    let top = p.src_off + (q * p.in_h + 2u * (r / ow)) * p.in_w + 2u * (r % ow);
    let bottom = top + p.in_w;
    let sum = (src[top] + src[top + 1u]) + (src[bottom] + src[bottom + 1u]);
    dst[p.dst_off + j] = 0.25 * sum;
}

// dx[q, h, w] = dy[q, h/2, w/2] / 4; zero in a dropped odd last row or column. Each input
// pixel belongs to at most one window, so this is a plain gather.
@compute @workgroup_size(WG)
fn avg_pool2_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = p.in_h / 2u;
    let ow = p.in_w / 2u;
    let j = flat(gid, nwg);
    if (j >= p.planes * p.in_h * p.in_w) { return; }
    let q = j / (p.in_h * p.in_w);
    let r = j % (p.in_h * p.in_w);
    let h = r / p.in_w;
    let w = r % p.in_w;
    var g = 0.0;
    if (h / 2u < oh && w / 2u < ow) {
        g = 0.25 * src[p.src_off + (q * oh + h / 2u) * ow + w / 2u];
    }
    dst[p.dst_off + j] = g;
}

// y[q] = (sum of the plane, in row-major order) / (in_h·in_w). One thread per plane: the
// planes are many and short (8×8 at the EBM head).
@compute @workgroup_size(WG)
fn global_avg_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = flat(gid, nwg);
    if (q >= p.planes) { return; }
    let hw = p.in_h * p.in_w;
    let base = p.src_off + q * hw;
    var acc = 0.0;
    for (var k = 0u; k < hw; k++) {
        acc += src[base + k];
    }
    dst[p.dst_off + q] = acc / f32(hw);
}

// dx[q, h, w] = dy[q] / (in_h·in_w)
@compute @workgroup_size(WG)
fn global_avg_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let hw = p.in_h * p.in_w;
    let j = flat(gid, nwg);
    if (j >= p.planes * hw) { return; }
    dst[p.dst_off + j] = src[p.src_off + j / hw] / f32(hw);
}
