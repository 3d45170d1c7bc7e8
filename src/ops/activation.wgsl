// Activations and their backward passes over flat buffers of n values.
// Forward: y = f(x). Backward: dx = dy * f'(.), from x (ReLU, LeakyReLU) or from y (tanh).
// `slope` is LeakyReLU's negative slope (0.2 in the reference inference net).

const WG: u32 = 256u;

struct Params {
    n: u32,
    slope: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;      // x (forward) or x/y (backward)
@group(0) @binding(2) var<storage, read_write> dst: array<f32>; // y (forward) or dx (backward)
@group(0) @binding(3) var<storage, read> dy: array<f32>;       // upstream gradient

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { dst[i] = max(src[i], 0.0); }
}

// src = x
@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { dst[i] = select(0.0, dy[i], src[i] > 0.0); }
}

@compute @workgroup_size(WG)
fn leaky_relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) {
        let x = src[i];
        dst[i] = select(p.slope * x, x, x > 0.0);
    }
}

// src = x
@compute @workgroup_size(WG)
fn leaky_relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { dst[i] = select(p.slope * dy[i], dy[i], src[i] > 0.0); }
}

@compute @workgroup_size(WG)
fn tanh_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    // tanh() of large |x| can give NaN on some drivers (exp overflow); clamp first.
    if (i < p.n) { dst[i] = tanh(clamp(src[i], -15.0, 15.0)); }
}

// src = y = tanh(x): dx = dy * (1 - y^2)
@compute @workgroup_size(WG)
fn tanh_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) {
        let y = src[i];
        dst[i] = dy[i] * (1.0 - y * y);
    }
}
