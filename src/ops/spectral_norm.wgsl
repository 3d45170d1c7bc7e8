// Spectral normalisation of a weight W viewed as a matrix [rows = out, cols = in·kh·kw],
// with the semantics of PyTorch's torch.nn.utils.spectral_norm (dim 0, one power iteration
// per forward, normalize(x) = x / max(‖x‖, eps)):
//   v = normalize(Wᵀu),  u = normalize(Wv),  σ = uᵀWv,  W_sn = W / σ
// and its backward as PyTorch's autograd computes it, u and v being constants:
//   dL/dW += G/σ − (Σ G∘W / σ²)·u vᵀ,   G = dL/dW_sn
//
// The layer's state lives at `state_off` in one buffer (not a parameter: no gradient, no
// Adam); see SnShape in src/ops/spectral_norm.rs:
//   [ u: rows | v: cols | σ: 1 | scratch: cols + rows ]
//   scratch holds Wᵀu (cols) then Wv (rows) during the forward, and the row sums of G∘W
//   (rows) then their total (1) during the backward.
//
// Dispatches. Training forward: sn_wtu, sn_normalize_v, sn_wv, sn_sigma (POWER = true),
// sn_scale. Evaluation forward (stored u, v; PyTorch's eval mode): sn_wv, sn_sigma
// (POWER = false), sn_scale. Backward: sn_grad_rows, sn_grad_total, sn_grad_apply.
//
// Determinism: every sum is a fixed-order loop, or strided partial sums followed by a
// fixed-order sum of the partials in workgroup memory; no atomics. Global scalars (‖Wᵀu‖,
// ‖Wv‖, σ, Σ G∘W) each come from one single-workgroup dispatch rather than being recomputed
// by every workgroup: on lavapipe each workgroup barrier is costly, and on a GPU a tiny
// dispatch is cheaper than rows × redundant work.

// Reductions: one workgroup of WG threads per row (or one in all).
const WG: u32 = 64u;
// Elementwise kernels and sn_wtu: one thread per element (column).
const WG_1D: u32 = 256u;

// true: the training forward (u = normalize(Wv)); false: evaluation with the stored u.
override POWER: bool = true;

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    w_off: u32,
    state_off: u32,
    wsn_off: u32,
    g_off: u32,
    dw_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;
// Forward: the normalised weight.
@group(0) @binding(3) var<storage, read_write> w_sn: array<f32>;
// Backward: G = dL/dW_sn, and the gradient buffer (dL/dW is added at dw_off).
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;

fn u_at() -> u32 { return p.state_off; }
fn v_at() -> u32 { return p.state_off + p.rows; }
fn sigma_at() -> u32 { return p.state_off + p.rows + p.cols; }
fn scratch_at() -> u32 { return p.state_off + p.rows + p.cols + 1u; }
// Forward scratch: Wᵀu [cols], then Wv [rows].
fn wtu_at() -> u32 { return scratch_at(); }
fn wv_at() -> u32 { return scratch_at() + p.cols; }
// Backward scratch: row sums of G∘W [rows], then their total [1].
fn gw_rows_at() -> u32 { return scratch_at(); }
fn gw_total_at() -> u32 { return scratch_at() + p.rows; }

var<workgroup> partial: array<f32, WG>;

// Sums `v` over the workgroup and returns the total to every thread: each thread adds the
// WG partials in index order (a fixed order; two barriers instead of a tree's log2(WG)+1).
// Must be called in workgroup-uniform control flow.
fn workgroup_sum(t: u32, v: f32) -> f32 {
    partial[t] = v;
    workgroupBarrier();
    var total = 0.0;
    for (var k = 0u; k < WG; k++) {
        total += partial[k];
    }
    // Everyone has read the partials before a following call overwrites them.
    workgroupBarrier();
    return total;
}

// Flat index of a 1-D dispatch (2-D grid past 65,535 workgroups, see grid_1d).
fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG_1D;
}

// Row index of a one-workgroup-per-row dispatch; uniform across the workgroup.
fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Wᵀu [cols] into scratch: one thread per column j, a plain loop down the rows (adjacent
// threads read adjacent elements of each row).
@compute @workgroup_size(WG_1D)
fn sn_wtu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = flat(gid, nwg);
    if (j >= p.cols) { return; }
    var acc = 0.0;
    for (var i = 0u; i < p.rows; i++) {
        acc += w[p.w_off + i * p.cols + j] * state[u_at() + i];
    }
    state[wtu_at() + j] = acc;
}

// v = normalize(Wᵀu) = Wᵀu / max(‖Wᵀu‖, eps). One workgroup.
@compute @workgroup_size(WG)
fn sn_normalize_v(@builtin(local_invocation_index) t: u32) {
    var sq = 0.0;
    for (var j = t; j < p.cols; j += WG) {
        let x = state[wtu_at() + j];
        sq += x * x;
    }
    let denom = max(sqrt(workgroup_sum(t, sq)), p.eps);
    for (var j = t; j < p.cols; j += WG) {
        state[v_at() + j] = state[wtu_at() + j] / denom;
    }
}

// Wv [rows] into scratch, one workgroup per row (rows are contiguous: coalesced reads).
@compute @workgroup_size(WG)
fn sn_wv(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let i = row_of(wid, nwg);
    if (i >= p.rows) { return; }
    let row = p.w_off + i * p.cols;
    var acc = 0.0;
    for (var j = t; j < p.cols; j += WG) {
        acc += w[row + j] * state[v_at() + j];
    }
    let wv = workgroup_sum(t, acc);
    if (t == 0u) {
        state[wv_at() + i] = wv;
    }
}

// σ = uᵀWv, stored for the backward. With POWER, first u = normalize(Wv) (stored);
// otherwise the stored u. One workgroup; each thread writes only the u_k it computed.
@compute @workgroup_size(WG)
fn sn_sigma(@builtin(local_invocation_index) t: u32) {
    var denom = 1.0;
    if (POWER) {
        var sq = 0.0;
        for (var k = t; k < p.rows; k += WG) {
            let x = state[wv_at() + k];
            sq += x * x;
        }
        denom = max(sqrt(workgroup_sum(t, sq)), p.eps);
    }
    var acc = 0.0;
    for (var k = t; k < p.rows; k += WG) {
        let wv = state[wv_at() + k];
        var uk: f32;
        if (POWER) {
            uk = wv / denom;
            state[u_at() + k] = uk;
        } else {
            uk = state[u_at() + k];
        }
        acc += uk * wv;
    }
    let sigma = workgroup_sum(t, acc);
    if (t == 0u) {
        state[sigma_at()] = sigma;
    }
}

// W_sn = W / σ, one thread per element.
@compute @workgroup_size(WG_1D)
fn sn_scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = flat(gid, nwg);
    if (k >= p.rows * p.cols) { return; }
    w_sn[p.wsn_off + k] = w[p.w_off + k] / state[sigma_at()];
}

// Backward 1/3: Σ_j G_ij W_ij for each row i into scratch, one workgroup per row.
@compute @workgroup_size(WG)
fn sn_grad_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let i = row_of(wid, nwg);
    if (i >= p.rows) { return; }
    let row = i * p.cols;
    var acc = 0.0;
    for (var j = t; j < p.cols; j += WG) {
        acc += g[p.g_off + row + j] * w[p.w_off + row + j];
    }
    let total = workgroup_sum(t, acc);
    if (t == 0u) {
        state[gw_rows_at() + i] = total;
    }
}

// Backward 2/3: Σ G∘W, the total of the row sums. One workgroup.
@compute @workgroup_size(WG)
fn sn_grad_total(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var k = t; k < p.rows; k += WG) {
        acc += state[gw_rows_at() + k];
    }
    let total = workgroup_sum(t, acc);
    if (t == 0u) {
        state[gw_total_at()] = total;
    }
}

// Backward 3/3, one thread per element: dW_ij += G_ij/σ − (Σ G∘W / σ²)·u_i v_j
@compute @workgroup_size(WG_1D)
fn sn_grad_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = flat(gid, nwg);
    if (k >= p.rows * p.cols) { return; }
    let i = k / p.cols;
    let j = k - i * p.cols;
    let sigma = state[sigma_at()];
    let coef = state[gw_total_at()] / (sigma * sigma);
    dw[p.dw_off + k] += g[p.g_off + k] / sigma - coef * state[u_at() + i] * state[v_at() + j];
}
