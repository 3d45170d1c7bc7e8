// Langevin kernels for both samplers (philox.wgsl is prepended by the Rust side).
//
// langevin_step:  state <- state - drift * (grad + prior * state) + noise * N(0, 1)
//   The normal draw for element i is rng_normal_at(seed, stream, counter, i), so a chain is
//   a pure function of its seed and counters. `prior` is 1 for z (the N(0, I) prior's
//   gradient z), 0 for x.
// energy_trace:   trace[slot] = mean of values[0..n] (mean energy of the batch).
// z_residual:     dy = coef * (g - x), the gradient of the likelihood term w.r.t. g(z).
// z_trace:        trace[slot] = mean squared error per value of (g - x);
//                 trace[slot + 1] = mean over the batch of the log posterior
//                 -sum (g - x)^2 / (2 sigma^2) - sum z^2 / 2 (up to its constant).
// The traces are single-workgroup fixed-order reductions: deterministic, and they stay on
// the GPU until the caller reads the whole trace once.

const WG: u32 = 256u;

struct Params {
    n: u32,          // values in state / values / g
    nz: u32,         // values in z (z_trace)
    batch: u32,
    slot: u32,       // trace index
    drift: f32,
    noise: f32,
    prior: f32,
    coef: f32,       // z_residual: likelihood-gradient factor; z_trace: 1 / (2 sigma^2)
    seed: vec2<u32>,
    counter: vec2<u32>,
    stream: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// a = state (updated in place), b = gradient
@compute @workgroup_size(WG)
fn langevin_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    let s = a[i];
    let noise = rng_normal_at(p.seed, p.stream, p.counter, i);
    a[i] = s - p.drift * (b[i] + p.prior * s) + p.noise * noise;
}

var<workgroup> part0: array<f32, WG>;
var<workgroup> part1: array<f32, WG>;

fn tree(t: u32) {
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (t < stride) {
            part0[t] += part0[t + stride];
            part1[t] += part1[t + stride];
        }
    }
    workgroupBarrier();
}

// a = trace, b = values
@compute @workgroup_size(WG)
fn energy_trace(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var i = t; i < p.n; i += WG) { acc += b[i]; }
    part0[t] = acc;
    part1[t] = 0.0;
    tree(t);
    if (t == 0u) { a[p.slot] = part0[0] / f32(p.n); }
}

// a = dy (written), b = x (data), c = g (generator output, read only here)
@compute @workgroup_size(WG)
fn z_residual(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    a[i] = p.coef * (c[i] - b[i]);
}

@group(0) @binding(4) var<storage, read> zbuf: array<f32>;

// a = trace, b = x (data), c = g, zbuf = z

@compute @workgroup_size(WG)
fn z_trace(@builtin(local_invocation_index) t: u32) {
    var se = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let r = c[i] - b[i];
        se += r * r;
    }
    var zz = 0.0;
    for (var i = t; i < p.nz; i += WG) { zz += zbuf[i] * zbuf[i]; }
    part0[t] = se;
    part1[t] = zz;
    tree(t);
    if (t == 0u) {
        a[p.slot] = part0[0] / f32(p.n);
        a[p.slot + 1u] = -(p.coef * part0[0] + 0.5 * part1[0]) / f32(p.batch);
    }
}
