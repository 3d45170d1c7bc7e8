// file: mlp_chain.wgsl
// Whole Langevin chains under an MLP, R = 4 chains per invocation. mlp_chain.rs prepends the
// network's sizes as constants, the uniform bindings of its hidden layers and their
// forward_L / backward_L functions (made from mlp_chain_layer.wgsl), and philox.wgsl:
//   const DIN: u32   values of the chain's state s, ≤ 4 (x for x-chains, z for z-chains)
//   const DOUT: u32  outputs y of the network, ≤ 4
//   const H: u32     hidden width, a multiple of 32, ≤ 128 (a weight matrix fills ≤ 64 KiB)
//   const L: u32     hidden layers (L + 1 linear layers, an activation after each hidden one)
//   const ACT: u32   0 = leaky ReLU (slope p.slope; ReLU is slope 0), 1 = tanh
//   const TARGET: bool  false: U(s) = y (the energy; DOUT = 1); true: U(s) = coef/2 ‖y − target‖²
//   const METROPOLIS: bool  energy chains only: each step is a proposal, accepted or rejected
//                    (below)
//   const WG: u32    invocations per workgroup
//   fn hidden_forward(base: u32): layers 1 … L − 1; fn hidden_backward(base: u32): L − 1 … 1
//
// chain: for t = 0 … steps: y = net(s_t); the row's statistics go to stats[t]; unless t is the
//   last, s ← s − drift·(∇U(s) + prior·s) + noise·N(0, 1), the normal draw for value i of
//   the batch being rng_normal_at(seed, stream, (t, iteration), i): the numbers langevin_step
//   draws with RngDraw::iteration_step(iteration, t), so a chain is a pure function of its
//   seed and counters whichever path runs it.
//   stats[(t·batch + row)·2 + 0] = y (the energy) or ‖y − target‖²; [+ 1] = ‖s_t‖².
//   Afterwards state holds s_steps and outputs holds y(s_steps).
//   METROPOLIS (MALA, as metropolis.wgsl does it layer by layer): the net is evaluated at the
//   proposal y_t = x − drift·∇U(x) + noise·N(0, 1) (the same draw as above), and the chain
//   moves from x to y_t with probability min(1, α), log α = (U(x) − U(y_t))/T + (‖y_t − x +
//   drift·∇U(x)‖² − ‖x − y_t + drift·∇U(y_t)‖²)/(2·noise²), the uniform for row r being
//   rng_uniform_at(seed, stream, (t + 2³¹, iteration), r). stats[t] and the results are
//   those of the accepted states x; accepted[row] counts the accepted proposals. Steps t with
//   (t + 1) % second_every == 0 use the second step size's drift and noise (step_coefficients).
//   With box_half_width = b > 0 a proposal outside [−b, b]^DIN is rejected.
//   U(x) and ∇U(x) of the accepted states go to outputs and grad at the end, for the entries
//   below. (chain always starts at step 0: p.first_step is 0 for it.)
// jump (METROPOLIS, energy chains): a population jump of the rows p.rows.x .. p.rows.y after
//   step k = p.first_step − 1, as jump_propose and metropolis_accept in metropolis.wgsl make
//   it: row r proposes y_r = x_r + (x_j − x_k), j ≠ k two rows of p.rows.z .. p.rows.w drawn
//   from the uniforms 2r, 2r + 1 of the counter (jump_counter, iteration); E(y) and ∇E(y) by
//   the net; accepted with probability min(1, exp((U(x) − U(y))/T)) (the uniform r of the
//   counter (jump_counter | 2³¹, iteration)), never outside the box, U(x) being what outputs
//   holds. An accepted row's y, U(y), ∇U(y) replace x in state, outputs and
//   grad, its count in accepted goes up by 1, and every moving row rewrites stats[first_step].
//   The other rows are only read: one dispatch moves a half while the other stays put.
// mala_step (METROPOLIS, energy chains): step k = p.first_step of every chain, as chain makes
//   it, from the x, U(x) and ∇U(x) in state, outputs and grad (left by chain, a jump or the
//   step before), into the same buffers and stats[k + 1], adding to accepted. A chain with
//   jumps runs its first stretch by chain and every later step by mala_step. Why not chain
//   in stretches: each would evaluate its start state again (a whole step's work), and the
//   variant that loaded it instead ran half as fast on lavapipe; a dispatch per step costs
//   little beside the net.
// chain_trace: one workgroup per t, a fixed-order sum over the rows (deterministic):
//   energy chains: trace[t] = mean energy; target chains: trace[2t] = mean squared error per
//   value, trace[2t + 1] = −(inv_two_var·Σ‖y − target‖² + ½Σ‖s‖²) / batch (the log posterior).
//
// Why this shape (lavapipe from Mesa 22.3, docs/platform.md): every load from memory, uniform
// or storage, is gathered lane by lane, even at an index that is the same for every
// invocation, while arithmetic is nearly free. So what counts is loads per multiply-add:
// each invocation runs R = 4 chains, so that one weight loaded (from a uniform buffer packed
// by mlp_chain_pack.wgsl) serves 4 multiply-adds, and one gathered vec4 of a chain's
// activations serves 32 outputs (held as two mat4x4). The activations live in a storage
// scratch buffer, not in private arrays: lavapipe turns a private array indexed by a loop
// counter into a ladder of branches over all its elements.

// struct Params: mlp_chain_params.wgsl (prepended).


@group(0) @binding(0) var<uniform> p: Params;
// The chains' states [batch, DIN] for chain; the trace it writes for chain_trace.
@group(0) @binding(1) var<storage, read_write> state: array<f32>;
@group(0) @binding(2) var<storage, read> target_: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> outputs: array<f32>;
// Per chain (of the batch rounded up to R·WG): the L hidden activations, then two slots for
// dU/d(pre-activation), H each. The last hidden layer's goes to slot A, and each backward_L
// writes the other slot, so hidden layer i's sits in slot A when L − 1 − i is even.
@group(0) @binding(5) var<storage, read_write> scratch: array<vec4<f32>>;
// The input and output layers and every bias (layout below, packed by pack_small).
@group(0) @binding(6) var<uniform> small: array<vec4<f32>, 4096>;
// METROPOLIS: accepted proposals per chain [batch] (chain writes them, mala_step adds);
// jump: accepted jumps.
@group(0) @binding(7) var<storage, read_write> accepted: array<f32>;
// METROPOLIS: ∇U at each chain's state [batch, DIN].
@group(0) @binding(8) var<storage, read_write> grad: array<f32>;

const R: u32 = 4u;                    // chains per invocation
const H4: u32 = H / 4u;
const H16: u32 = H / 16u;
const STRIDE4: u32 = (L + 2u) * H4;   // vec4s of scratch per row
const SLOT_A: u32 = L * H4;
const SLOT_B: u32 = (L + 1u) * H4;
const SLOT_0: u32 = select(SLOT_B, SLOT_A, (L - 1u) % 2u == 0u);   // hidden layer 0's dU/d(pre-activation)
// small, in vec4s: W0ᵀ [DIN][H]; hidden biases [L][H]; W0 [H][4] (inputs padded to 4);
// W_outᵀ [H][4] (outputs padded to 4); the output bias [4].
const W0T: u32 = 0u;
const BIAS: u32 = DIN * H4;
const W0P: u32 = (DIN + L) * H4;
const WOT: u32 = W0P + H;
const BOUT: u32 = WOT + H;

fn act(v: vec4<f32>) -> vec4<f32> {
    if (ACT == 1u) { return tanh(v); }
    return select(v * p.slope, v, v > vec4<f32>(0.0));
}

// act′ from the activation's output (ReLU, leaky ReLU with slope ≥ 0, tanh).
fn act_grad(out: vec4<f32>) -> vec4<f32> {
    if (ACT == 1u) { return 1.0 - out * out; }
    return select(vec4<f32>(p.slope), vec4<f32>(1.0), out > vec4<f32>(0.0));
}

// 16 pre-activations (a mat4x4) of one chain, activated, to scratch[o …].
fn store_act(o: u32, a: mat4x4<f32>) {
    scratch[o] = act(a[0]);
    scratch[o + 1u] = act(a[1]);
    scratch[o + 2u] = act(a[2]);
    scratch[o + 3u] = act(a[3]);
}

// 16 gradients w.r.t. activations, times act′ of the activations at scratch[a …], to scratch[o …].
fn store_gated(o: u32, a: u32, g: mat4x4<f32>) {
    scratch[o] = g[0] * act_grad(scratch[a]);
    scratch[o + 1u] = g[1] * act_grad(scratch[a + 1u]);
    scratch[o + 2u] = g[2] * act_grad(scratch[a + 2u]);
    scratch[o + 3u] = g[3] * act_grad(scratch[a + 3u]);
}

// Hidden layer 0 from the state s.
fn input_forward(base: u32, s: vec4<f32>) {
    for (var j16 = 0u; j16 < H16; j16++) {
        let b = BIAS + 4u * j16;
        var a0 = small[b];
        var a1 = small[b + 1u];
        var a2 = small[b + 2u];
        var a3 = small[b + 3u];
        for (var d = 0u; d < DIN; d++) {
            let x = s[d];
            let q = W0T + d * H4 + 4u * j16;
            a0 += small[q] * x;
            a1 += small[q + 1u] * x;
            a2 += small[q + 2u] * x;
            a3 += small[q + 3u] * x;
        }
        let o = base + 4u * j16;
        scratch[o] = act(a0);
        scratch[o + 1u] = act(a1);
        scratch[o + 2u] = act(a2);
        scratch[o + 3u] = act(a3);
    }
}

// y (padded to 4 with zeros) from the last hidden layer.
fn output_forward(base: u32) -> vec4<f32> {
    var y = small[BOUT];
    let src = base + (L - 1u) * H4;
    for (var k4 = 0u; k4 < H4; k4++) {
        let x = scratch[src + k4];
        let q = WOT + 4u * k4;
        y += small[q] * x.x + small[q + 1u] * x.y + small[q + 2u] * x.z + small[q + 3u] * x.w;
    }
    return y;
}

// dU/d(pre-activation) of the last hidden layer, into slot A.
fn output_backward(base: u32, dy: vec4<f32>) {
    let src = base + (L - 1u) * H4;
    for (var k4 = 0u; k4 < H4; k4++) {
        let q = WOT + 4u * k4;
        let g = vec4<f32>(dot(small[q], dy), dot(small[q + 1u], dy), dot(small[q + 2u], dy), dot(small[q + 3u], dy));
        scratch[base + SLOT_A + k4] = g * act_grad(scratch[src + k4]);
    }
}

// ∇ₛU (padded) from dU/d(pre-activation) of hidden layer 0, in `slot`.
fn input_backward(base: u32, slot: u32) -> vec4<f32> {
    var g = vec4<f32>(0.0);
    for (var j4 = 0u; j4 < H4; j4++) {
        let d = scratch[base + slot + j4];
        let q = W0P + 4u * j4;
        g += small[q] * d.x + small[q + 1u] * d.y + small[q + 2u] * d.z + small[q + 3u] * d.w;
    }
    return g;
}

// The normal draws of a row's step (counter: the step, the iteration), padded with zeros.
fn normals(counter: vec2<u32>, row: u32) -> vec4<f32> {
    var e = vec4<f32>(0.0);
    for (var d = 0u; d < DIN; d++) { e[d] = rng_normal_at(p.seed, p.stream, counter, row * DIN + d); }
    return e;
}

// METROPOLIS: whether row `row` accepts a proposal y made at step `step` (low counter word) with
// log acceptance ratio log_alpha: the uniform r of (step | 2³¹, iteration), never outside the box.
fn accept(step: u32, row: u32, log_alpha: f32, y: vec4<f32>) -> bool {
    let u = rng_uniform_at(p.seed, p.stream, vec2<u32>(step | 0x80000000u, p.iteration), row);
    let outside = p.box_half_width > 0.0 && any(abs(y) > vec4<f32>(p.box_half_width));
    return -rng_neg_log(u) < log_alpha && !outside;
}

// The net's U (u) and ∇U (g, padded with zeros) at the invocation's R states s, the hidden
// work in scratch at base.
struct Evaluated {
    u: array<f32, R>,
    g: array<vec4<f32>, R>,
}

fn evaluate(base: u32, s: array<vec4<f32>, R>) -> Evaluated {
    var out: Evaluated;
    for (var r = 0u; r < R; r++) { input_forward(base + r * STRIDE4, s[r]); }
    hidden_forward(base);
    for (var r = 0u; r < R; r++) {
        let at = base + r * STRIDE4;
        out.u[r] = output_forward(at).x;
        output_backward(at, vec4<f32>(1.0, 0.0, 0.0, 0.0));
    }
    hidden_backward(base);
    for (var r = 0u; r < R; r++) { out.g[r] = input_backward(base + r * STRIDE4, SLOT_0); }
    return out;
}

// A row's state x and its ∇U, as state and grad hold them.
fn load_x(row: u32) -> vec4<f32> {
    var x = vec4<f32>(0.0);
    for (var d = 0u; d < DIN; d++) { x[d] = state[row * DIN + d]; }
    return x;
}

fn load_grad(row: u32) -> vec4<f32> {
    var g = vec4<f32>(0.0);
    for (var d = 0u; d < DIN; d++) { g[d] = grad[row * DIN + d]; }
    return g;
}

// An accepted move of a row: its new state, U and ∇U.
fn store(row: u32, x: vec4<f32>, u: f32, g: vec4<f32>) {
    for (var d = 0u; d < DIN; d++) {
        state[row * DIN + d] = x[d];
        grad[row * DIN + d] = g[d];
    }
    outputs[row] = u;
}

// METROPOLIS: (drift, noise, 1/(2·noise²)) of step t, the second step size's on every second_every-th.
// Without a branch: a kernel that called the branching form (an early return) before the net
// ran 11 times slower on lavapipe (Mesa 22.3; mala_step, docs/platform.md).
fn step_coefficients(t: u32) -> vec3<f32> {
    let second = (p.second_every > 0u) & ((t + 1u) % max(p.second_every, 1u) == 0u);
    let first = vec3<f32>(p.drift, p.noise, p.inv_two_noise_var);
    return select(first, vec3<f32>(p.second_drift, p.second_noise, p.second_inv_two_noise_var), second);
}

@compute @workgroup_size(WG)
fn chain(@builtin(global_invocation_id) gid: vec3<u32>) {
    let base = gid.x * R * STRIDE4;
    // Chains past the batch run a copy of the last one on scratch of their own and write nothing.
    var s: array<vec4<f32>, R>;
    var tgt: array<vec4<f32>, R>;
    var y: array<vec4<f32>, R>;
    for (var r = 0u; r < R; r++) {
        let row = min(gid.x * R + r, p.batch - 1u);
        for (var d = 0u; d < DIN; d++) { s[r][d] = state[row * DIN + d]; }
        if (TARGET) {
            for (var o = 0u; o < DOUT; o++) { tgt[r][o] = target_[row * DOUT + o]; }
        }
    }
    // METROPOLIS: the accepted state x, U(x), ∇U(x) and the count of accepted proposals.
    var cur: array<vec4<f32>, R>;
    var cur_u: array<f32, R>;
    var cur_g: array<vec4<f32>, R>;
    var acc: array<f32, R>;
    for (var t = 0u; t <= p.steps; t++) {
        for (var r = 0u; r < R; r++) { input_forward(base + r * STRIDE4, s[r]); }
        hidden_forward(base);
        for (var r = 0u; r < R; r++) {
            let at = base + r * STRIDE4;
            y[r] = output_forward(at);
            // Padded outputs are 0 in y and in tgt, padded state values 0 in s.
            var first = y[r].x;
            var dy = vec4<f32>(1.0, 0.0, 0.0, 0.0);
            if (TARGET) {
                let res = y[r] - tgt[r];
                first = dot(res, res);
                dy = p.coef * res;
            }
            let row = gid.x * R + r;
            if (!METROPOLIS && row < p.batch) {
                stats[((p.first_step + t) * p.batch + row) * 2u] = first;
                stats[((p.first_step + t) * p.batch + row) * 2u + 1u] = dot(s[r], s[r]);
            }
            output_backward(at, dy);
        }
        if (!METROPOLIS && t == p.steps) { break; }
        hidden_backward(base);
        let step = p.first_step + t;                  // the step's index in the whole chain
        let counter = vec2<u32>(step, p.iteration);   // (low, high) words: iteration · 2³² + step
        // METROPOLIS: the coefficients of this step's proposal and of the previous one's.
        let c_now = step_coefficients(step);
        let c_prev = step_coefficients(max(step, 1u) - 1u);
        for (var r = 0u; r < R; r++) {
            let g = input_backward(base + r * STRIDE4, SLOT_0);
            let row = min(gid.x * R + r, p.batch - 1u);
            var e = vec4<f32>(0.0);
            if (t < p.steps) { e = normals(counter, row); }
            if (METROPOLIS) {
                if (t == 0u) {
                    cur[r] = s[r];
                    cur_u[r] = y[r].x;
                    cur_g[r] = g;
                } else {
                    // s[r] is the proposal made at step t − 1, with that step's coefficients.
                    let fwd = s[r] - cur[r] + c_prev.x * cur_g[r];
                    let bwd = cur[r] - s[r] + c_prev.x * g;
                    let log_alpha = (cur_u[r] - y[r].x) * p.inv_temp + (dot(fwd, fwd) - dot(bwd, bwd)) * c_prev.z;
                    if (accept(step - 1u, row, log_alpha, s[r])) {
                        cur[r] = s[r];
                        cur_u[r] = y[r].x;
                        cur_g[r] = g;
                        acc[r] += 1.0;
                    }
                }
                if (gid.x * R + r < p.batch) {
                    stats[(step * p.batch + row) * 2u] = cur_u[r];
                    stats[(step * p.batch + row) * 2u + 1u] = dot(cur[r], cur[r]);
                }
                s[r] = cur[r] - c_now.x * cur_g[r] + c_now.y * e;
            } else {
                s[r] = s[r] - p.drift * (g + p.prior * s[r]) + p.noise * e;
            }
        }
        if (t == p.steps) { break; }
    }
    for (var r = 0u; r < R; r++) {
        let row = gid.x * R + r;
        if (row < p.batch) {
            let last = select(s[r], cur[r], METROPOLIS);
            for (var d = 0u; d < DIN; d++) { state[row * DIN + d] = last[d]; }
            if (METROPOLIS) {
                outputs[row] = cur_u[r];
                for (var d = 0u; d < DIN; d++) { grad[row * DIN + d] = cur_g[r][d]; }
                accepted[row] = acc[r];
            } else {
                for (var o = 0u; o < DOUT; o++) { outputs[row * DOUT + o] = y[r][o]; }
            }
        }
    }
}

// METROPOLIS: step p.first_step of every chain (see the top of the file).
@compute @workgroup_size(WG)
fn mala_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let base = gid.x * R * STRIDE4;
    let step = p.first_step;
    let c = step_coefficients(step);
    // Rows past the batch run a copy of the last one and write nothing.
    var s: array<vec4<f32>, R>;
    for (var r = 0u; r < R; r++) {
        let row = min(gid.x * R + r, p.batch - 1u);
        s[r] = load_x(row) - c.x * load_grad(row) + c.y * normals(vec2<u32>(step, p.iteration), row);
    }
    let y = evaluate(base, s);
    for (var r = 0u; r < R; r++) {
        let row = gid.x * R + r;
        if (row >= p.batch) { continue; }
        let x = load_x(row);
        let fwd = s[r] - x + c.x * load_grad(row);
        let bwd = x - s[r] + c.x * y.g[r];
        let log_alpha = (outputs[row] - y.u[r]) * p.inv_temp + (dot(fwd, fwd) - dot(bwd, bwd)) * c.z;
        if (accept(step, row, log_alpha, s[r])) {
            store(row, s[r], y.u[r], y.g[r]);
            accepted[row] += 1.0;
        }
        let kept = load_x(row);
        stats[((step + 1u) * p.batch + row) * 2u] = outputs[row];
        stats[((step + 1u) * p.batch + row) * 2u + 1u] = dot(kept, kept);
    }
}

// METROPOLIS: a population jump of the rows p.rows.x .. p.rows.y (see the top of the file).
@compute @workgroup_size(WG)
fn jump(@builtin(global_invocation_id) gid: vec3<u32>) {
    let base = gid.x * R * STRIDE4;
    let n = p.rows.w - p.rows.z;   // at least 2 (the caller checks)
    let propose = vec2<u32>(p.jump_counter, p.iteration);
    // Rows past the moving ones run a copy of the last one and write nothing.
    var s: array<vec4<f32>, R>;
    for (var r = 0u; r < R; r++) {
        let row = min(p.rows.x + gid.x * R + r, p.rows.y - 1u);
        let j = min(u32(rng_uniform_at(p.seed, p.stream, propose, 2u * row) * f32(n)), n - 1u);
        let k = (j + 1u + min(u32(rng_uniform_at(p.seed, p.stream, propose, 2u * row + 1u) * f32(n - 1u)), n - 2u)) % n;
        s[r] = load_x(row) + (load_x(p.rows.z + j) - load_x(p.rows.z + k));
    }
    let y = evaluate(base, s);
    for (var r = 0u; r < R; r++) {
        let row = p.rows.x + gid.x * R + r;
        if (row >= p.rows.y) { continue; }
        // The proposal is symmetric: the energies alone decide.
        let log_alpha = (outputs[row] - y.u[r]) * p.inv_temp;
        if (accept(p.jump_counter, row, log_alpha, s[r])) {
            store(row, s[r], y.u[r], y.g[r]);
            accepted[row] += 1.0;
        }
        let x = load_x(row);
        stats[(p.first_step * p.batch + row) * 2u] = outputs[row];
        stats[(p.first_step * p.batch + row) * 2u + 1u] = dot(x, x);
    }
}

const TRACE_WG: u32 = 64u;
var<workgroup> part0: array<f32, TRACE_WG>;
var<workgroup> part1: array<f32, TRACE_WG>;

// Bound as chain is, with the trace in state's place.
@compute @workgroup_size(TRACE_WG)
fn chain_trace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) i: u32) {
    let t = p.first_step + wid.x;
    var first = 0.0;
    var ss = 0.0;
    for (var row = i; row < p.batch; row += TRACE_WG) {
        first += stats[(t * p.batch + row) * 2u];
        ss += stats[(t * p.batch + row) * 2u + 1u];
    }
    part0[i] = first;
    part1[i] = ss;
    for (var stride = TRACE_WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (i < stride) {
            part0[i] += part0[i + stride];
            part1[i] += part1[i + stride];
        }
    }
    workgroupBarrier();
    if (i == 0u) {
        let b = f32(p.batch);
        if (TARGET) {
            state[2u * t] = part0[0] / (b * f32(DOUT));
            state[2u * t + 1u] = -(p.inv_two_var * part0[0] + 0.5 * part1[0]) / b;
        } else {
            state[t] = part0[0] / b;
        }
    }
}
