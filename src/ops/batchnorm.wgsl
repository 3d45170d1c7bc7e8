// Batch normalisation in training mode, with PyTorch's semantics (nn.BatchNorm1d/2d with
// training=True), over x viewed as [batch, channels, spatial] (spatial = H·W, or 1):
//   N = batch·spatial,  mean_c = (1/N) Σ x,  var_c = (1/N) Σ (x − mean_c)²   (biased)
//   y = γ_c (x − mean_c) / sqrt(var_c + eps) + β_c
//   running_mean_c ← (1 − m) running_mean_c + m mean_c
//   running_var_c  ← (1 − m) running_var_c  + m var_c N/(N − 1)   (unbiased, as PyTorch)
// Backward through the batch statistics, with x̂ = (x − mean)·invstd:
//   dx = γ invstd / N · (N dy − Σ dy − x̂ Σ(dy x̂)),   dγ += Σ dy x̂,   dβ += Σ dy
//
// One workgroup per channel. Every per-channel sum is a strided partial sum per thread
// followed by a fixed-order sum of the partials in workgroup memory: no atomics, so results
// are bit-identical from run to run. All tensors are addressed as (binding, element offset).

// 64 threads: on lavapipe a workgroup barrier costs in proportion to the workgroup's size,
// and 64 threads per channel still stream a channel's values with coalesced reads on a GPU.
const WG: u32 = 64u;

struct Params {
    batch: u32,
    channels: u32,
    spatial: u32,
    momentum: f32,
    eps: f32,
    x_off: u32,
    y_off: u32,
    dy_off: u32,
    dx_off: u32,
    gamma_off: u32,
    beta_off: u32,
    mean_off: u32,
    var_off: u32,
    saved_off: u32,
    dgamma_off: u32,
    dbeta_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// bn_forward's bindings.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> saved: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

// bn_backward's and bn_backward_input's bindings (1 and 2 as above).
@group(0) @binding(3) var<storage, read> saved_in: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read_write> dbeta: array<f32>;

var<workgroup> partial: array<vec2<f32>, WG>;

// Sums `v` over the workgroup and returns the total to every thread: each thread adds the
// WG partials in index order (a fixed order; two barriers instead of a tree's log2(WG)+1).
// Must be called in workgroup-uniform control flow.
fn workgroup_sum(t: u32, v: vec2<f32>) -> vec2<f32> {
    partial[t] = v;
    workgroupBarrier();
    var total = vec2(0.0);
    for (var k = 0u; k < WG; k++) {
        total += partial[k];
    }
    // Everyone has read the partials before a following call overwrites them.
    workgroupBarrier();
    return total;
}

// Thread t visits channel c's values i = t, t + WG, t + 2·WG, … (i < N), held as the pair
// (b, s) = (i / spatial, i % spatial) and advanced without a division per element (integer
// division is scalar, and slow, on lavapipe):
//   for (var at = first(t); at.x < p.batch; at = next(at, step)) { … index(c, at) … }
fn first(t: u32) -> vec2<u32> {
    return vec2(t / p.spatial, t % p.spatial);
}
// The (b, s) increment for WG values; computed once per thread.
fn stride() -> vec2<u32> {
    return vec2(WG / p.spatial, WG % p.spatial);
}
fn next(at: vec2<u32>, step: vec2<u32>) -> vec2<u32> {
    var b = at.x + step.x;
    var s = at.y + step.y;
    if (s >= p.spatial) {
        s -= p.spatial;
        b += 1u;
    }
    return vec2(b, s);
}
// Element offset (relative to the tensor's start) of (b, c, s) in [batch, channels, spatial].
fn index(c: u32, at: vec2<u32>) -> u32 {
    return (at.x * p.channels + c) * p.spatial + at.y;
}

@compute @workgroup_size(WG)
fn bn_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let c = wid.x + wid.y * nwg.x; // uniform across the workgroup
    if (c >= p.channels) { return; }
    let nf = f32(p.batch * p.spatial);
    let step = stride();

    // Two passes (mean, then squared deviations) rather than Σx² − (Σx)²/N, which cancels
    // catastrophically when |mean| ≫ std.
    var acc = 0.0;
    for (var at = first(t); at.x < p.batch; at = next(at, step)) {
        acc += x[p.x_off + index(c, at)];
    }
    let mean = workgroup_sum(t, vec2(acc, 0.0)).x / nf;
    acc = 0.0;
    for (var at = first(t); at.x < p.batch; at = next(at, step)) {
        let d = x[p.x_off + index(c, at)] - mean;
        acc += d * d;
    }
    let var_biased = workgroup_sum(t, vec2(acc, 0.0)).x / nf;
    let invstd = 1.0 / sqrt(var_biased + p.eps);

    let scale = gamma[p.gamma_off + c] * invstd;
    let shift = beta[p.beta_off + c];
    for (var at = first(t); at.x < p.batch; at = next(at, step)) {
        let k = index(c, at);
        y[p.y_off + k] = (x[p.x_off + k] - mean) * scale + shift;
    }

    if (t == 0u) {
        saved[p.saved_off + c] = mean;
        saved[p.saved_off + p.channels + c] = invstd;
        // Momentum 0 leaves the running statistics exactly as they were.
        if (p.momentum != 0.0) {
            let m = p.momentum;
            let var_unbiased = var_biased * nf / (nf - 1.0);
            running_mean[p.mean_off + c] = (1.0 - m) * running_mean[p.mean_off + c] + m * mean;
            running_var[p.var_off + c] = (1.0 - m) * running_var[p.var_off + c] + m * var_unbiased;
        }
    }
}

// Writes dx for channel c and returns (Σ dy, Σ dy·x̂) over the channel.
fn backward_channel(c: u32, t: u32) -> vec2<f32> {
    let nf = f32(p.batch * p.spatial);
    let step = stride();
    let mean = saved_in[p.saved_off + c];
    let invstd = saved_in[p.saved_off + p.channels + c];

    var acc = vec2(0.0);
    for (var at = first(t); at.x < p.batch; at = next(at, step)) {
        let k = index(c, at);
        let g = dy[p.dy_off + k];
        let xhat = (x[p.x_off + k] - mean) * invstd;
        acc += vec2(g, g * xhat);
    }
    let sums = workgroup_sum(t, acc);

    let scale = gamma[p.gamma_off + c] * invstd / nf;
    for (var at = first(t); at.x < p.batch; at = next(at, step)) {
        let k = index(c, at);
        let xhat = (x[p.x_off + k] - mean) * invstd;
        dx[p.dx_off + k] = scale * (nf * dy[p.dy_off + k] - sums.x - xhat * sums.y);
    }
    return sums;
}

// dx, and dγ, dβ added into the gradient buffer (parameter gradients accumulate).
@compute @workgroup_size(WG)
fn bn_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.channels) { return; }
    let sums = backward_channel(c, t);
    // One workgroup owns channel c, so this read-modify-write has no race.
    if (t == 0u) {
        dgamma[p.dgamma_off + c] += sums.y;
        dbeta[p.dbeta_off + c] += sums.x;
    }
}

// dx only (the samplers need the input gradient, never the parameter gradients).
@compute @workgroup_size(WG)
fn bn_backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.channels) { return; }
    backward_channel(c, t);
}
