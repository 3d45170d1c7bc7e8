// Sum (or mean, via `scale`) along the middle axis of x viewed as [outer, axis, inner]:
//   out[o, i] = scale * sum_a x[o, a, i]
// Both entry points add in a fixed order (no atomics), so results are deterministic.
// reduce_rows: one thread per output, a plain loop over the axis (short axes, many outputs).
// reduce_tree: one workgroup of TREE threads per output, strided partial sums, then a fixed
//              binary tree in workgroup memory (long axes, few outputs).

const WG: u32 = 256u;
const TREE: u32 = 64u;

struct Params {
    outer: u32,
    axis: u32,
    inner: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn reduce_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = gid.x + gid.y * nwg.x * WG;
    if (j >= p.outer * p.inner) { return; }
    let o = j / p.inner;
    let i = j % p.inner;
    var acc = 0.0;
    var idx = o * p.axis * p.inner + i;
    for (var a = 0u; a < p.axis; a++) {
        acc += x[idx];
        idx += p.inner;
    }
    out[j] = p.scale * acc;
}

var<workgroup> partial: array<f32, TREE>;

@compute @workgroup_size(TREE)
fn reduce_tree(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let j = wid.x + wid.y * nwg.x; // uniform across the workgroup
    let in_range = j < p.outer * p.inner;
    var acc = 0.0;
    if (in_range) {
        let o = j / p.inner;
        let i = j % p.inner;
        let base = o * p.axis * p.inner + i;
        for (var a = t; a < p.axis; a += TREE) {
            acc += x[base + a * p.inner];
        }
    }
    partial[t] = acc;
    workgroupBarrier();
    for (var stride = TREE / 2u; stride > 0u; stride /= 2u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    if (in_range && t == 0u) {
        out[j] = p.scale * partial[0];
    }
}
