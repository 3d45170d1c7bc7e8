// Per-channel bias over a tensor viewed as [outer, channels, inner] (Linear: [batch,
// features, 1]; conv: [batch, channels, H·W]).
//
// bias_add   src = b  [channels] from src_off    dst = y [outer, channels, inner] from dst_off
//            y[o, c, i] += b[c]; one thread per element of y, grid_1d(n, 256).
// bias_grad  src = dy [outer, channels, inner]   dst = db [channels]
//            db[c] += Σ_{o, i} dy[o, c, i]; one workgroup of WG threads per channel, grid_1d(channels, 1).
//            Thread t sums the flattened (o, i) terms t, t + WG, t + 2·WG, ... in order, then
//            a fixed binary tree in workgroup memory adds the WG partial sums: deterministic,
//            no atomics.

const WG: u32 = 256u;

struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    src_off: u32,
    dst_off: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn bias_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = gid.x + gid.y * nwg.x * WG;
    if (j >= p.outer * p.channels * p.inner) { return; }
    let c = (j / p.inner) % p.channels;
    dst[p.dst_off + j] += src[p.src_off + c];
}

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn bias_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let c = wid.x + wid.y * nwg.x; // uniform across the workgroup
    let n = p.outer * p.inner;
    var acc = 0.0;
    if (c < p.channels) {
        for (var k = t; k < n; k += WG) {
            let o = k / p.inner;
            let i = k % p.inner;
            acc += src[p.src_off + (o * p.channels + c) * p.inner + i];
        }
    }
    partial[t] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    if (c < p.channels && t == 0u) {
        dst[p.dst_off + c] += partial[0];
    }
}
