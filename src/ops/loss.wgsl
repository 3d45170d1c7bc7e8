// The training losses of one Dual-MCMC iteration (docs/algorithm.md §3) and their gradients.
//
// sq_err_grad:   dy = coef * (a - b)                       (d/da of coef/2 * ||a - b||^2)
// sq_err_sum:    out[slot] = scale * sum (a - b)^2          (single workgroup, fixed order)
// gauss_nll_grad: q = [mu | logvar] per example ([batch, 2 nz]), target z [batch, nz]:
//   NLL = 1/2 sum logvar + 1/2 sum (z - mu)^2 / (exp(logvar) + 1e-6)   (the reference code's)
//   dq = coef * dNLL/dq
// gauss_nll_sum: out[slot] = scale * sum NLL
// mean_into:     out[slot] = scale * sum a[0..n]           (mean energies, loss terms)
// reparameterise: z = mu + coef * exp(logvar / 2) * eps, eps = rng_normal_at(...)  (philox.wgsl
//                 prepended; coef 1 is the reparameterised draw, 0 gives the mean)

const WG: u32 = 256u;
const VAR_EPS: f32 = 1e-6;

struct Params {
    n: u32,      // values in a/b (or z for the Gaussian kernels)
    nz: u32,     // latent size (Gaussian kernels)
    slot: u32,
    stream: u32,
    coef: f32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
    seed: vec2<u32>,
    counter: vec2<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn sq_err_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) { out[i] = p.coef * (a[i] - b[i]); }
}

var<workgroup> part: array<f32, WG>;

fn reduce_into(t: u32, acc: f32) {
    part[t] = acc;
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (t < stride) { part[t] += part[t + stride]; }
    }
    workgroupBarrier();
    if (t == 0u) { out[p.slot] = p.scale * part[0]; }
}

@compute @workgroup_size(WG)
fn sq_err_sum(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let r = a[i] - b[i];
        acc += r * r;
    }
    reduce_into(t, acc);
}

@compute @workgroup_size(WG)
fn mean_into(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var i = t; i < p.n; i += WG) { acc += a[i]; }
    reduce_into(t, acc);
}

// Index of mu and logvar of latent value i (example i / nz, coordinate i % nz) inside q.
fn q_index(i: u32) -> u32 {
    return (i / p.nz) * 2u * p.nz + i % p.nz;
}

// a = q, b = z (target), out = dq; one thread per latent value, n = batch * nz.
@compute @workgroup_size(WG)
fn gauss_nll_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let qi = q_index(i);
    let mu = a[qi];
    let lv = a[qi + p.nz];
    let v = exp(lv) + VAR_EPS;
    let r = b[i] - mu;
    out[qi] = p.coef * (-r / v);
    out[qi + p.nz] = p.coef * (0.5 - 0.5 * r * r * exp(lv) / (v * v));
}

@compute @workgroup_size(WG)
fn gauss_nll_sum(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let qi = q_index(i);
        let lv = a[qi + p.nz];
        let r = b[i] - a[qi];
        acc += 0.5 * lv + 0.5 * r * r / (exp(lv) + VAR_EPS);
    }
    reduce_into(t, acc);
}

// a = q, out = z; n = batch * nz.
@compute @workgroup_size(WG)
fn reparameterise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let qi = q_index(i);
    let eps = rng_normal_at(p.seed, p.stream, p.counter, i);
    out[i] = a[qi] + p.coef * exp(0.5 * a[qi + p.nz]) * eps;
}
