// Elementwise kernels over flat buffers of n f32 values.
// fill: y = a;  copy: y = x;  add: z = x + y;  mul: z = x * y;
// scale: y = a * x;  axpy: y = y + a * x;  lerp: y = y + a * (x - y) (moving averages).
// Dispatch with grid_1d(n, 256): the flat index is gid.x + gid.y * num_workgroups.x * 256.

const WG: u32 = 256u;

struct Params {
    n: u32,
    a: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> buf1: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf2: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf3: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// buf1 = a
@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { buf1[i] = p.a; }
}

// buf2 = buf1
@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { buf2[i] = buf1[i]; }
}

// buf2 = a * buf1
@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { buf2[i] = p.a * buf1[i]; }
}

// buf2 = buf2 + a * buf1
@compute @workgroup_size(WG)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { buf2[i] = fma(p.a, buf1[i], buf2[i]); }
}

// buf2 = buf2 + a * (buf1 - buf2)
@compute @workgroup_size(WG)
fn lerp(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { buf2[i] = fma(p.a, buf1[i] - buf2[i], buf2[i]); }
}

// buf3 = buf1 + buf2
@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { buf3[i] = buf1[i] + buf2[i]; }
}

// buf3 = buf1 * buf2
@compute @workgroup_size(WG)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { buf3[i] = buf1[i] * buf2[i]; }
}
