// Metropolis–Hastings moves of an x-chain, philox.wgsl prepended.
//
// metropolis_accept: one invocation per deciding chain (rows first_row .. end_row). The proposal
//   y (a Langevin step on a copy of x, or a population jump) is accepted with probability
//   min(1, α),
//     log α = (E(x) − E(y)) / T + (‖y − x + drift·∇E(x)‖² − ‖x − y + drift·∇E(y)‖²) / (2·noise²),
//   (MALA; for a jump drift = 0 and the second term vanishes: the proposal is symmetric), and
//   always rejected outside the box [−b, b]^d when b = box_half_width > 0. Then exp(−E/T) (on
//   the box) is the chain's exact stationary law, whatever the step size. An accepted row
//   copies y, E(y) and ∇E(y) over x, E(x) and ∇E(x), and adds 1 to its count of accepted
//   proposals. The uniform for row r is rng_uniform_at(seed, stream, counter, r), the counter
//   drawn by the caller (a word of its own, so it never repeats the proposal's draws).
//
// jump_propose: one invocation per value of the moving rows (first_row .. end_row). A
//   differential-evolution jump (ter Braak 2006): row r proposes y_r = x_r + (x_j − x_k), j ≠ k
//   two rows of the other half (other_first .. other_end), drawn from uniforms 2r and 2r + 1.
//   While the other half stays put the proposal is symmetric, so metropolis_accept with
//   drift = 0 keeps exp(−E/T) invariant. Chains spread over several modes make differences
//   that are vectors between modes: a chain can move to a mode no local step reaches.

struct Params {
    end_row: u32,       // rows first_row .. end_row decide (or move)
    d: u32,             // values per chain
    stream: u32,
    first_row: u32,
    seed: vec2<u32>,
    counter: vec2<u32>,
    drift: f32,
    inv_two_var: f32,   // 1 / (2·noise²); 0 for a jump
    inv_temp: f32,      // 1 / T
    box_half_width: f32, // 0: no box
    other_first: u32,   // jump_propose: the rows the differences come from
    other_end: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;        // [batch, d], the chains' states
@group(0) @binding(2) var<storage, read_write> y: array<f32>;        // [batch, d], the proposals (jump_propose writes them)
@group(0) @binding(3) var<storage, read_write> grad_x: array<f32>;   // [batch, d], ∇E(x)
@group(0) @binding(4) var<storage, read> grad_y: array<f32>;         // [batch, d], ∇E(y)
@group(0) @binding(5) var<storage, read_write> energy_x: array<f32>; // [batch]
@group(0) @binding(6) var<storage, read> energy_y: array<f32>;       // [batch]
@group(0) @binding(7) var<storage, read_write> accepted: array<f32>; // [batch], counts

// Whether row r's proposal lies in the box (always, without one).
fn in_box(r: u32) -> bool {
    var inside = true;
    if (p.box_half_width > 0.0) {
        for (var i = r * p.d; i < (r + 1u) * p.d; i++) {
            inside = inside && abs(y[i]) <= p.box_half_width;
        }
    }
    return inside;
}

@compute @workgroup_size(64)
fn metropolis_accept(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = p.first_row + gid.x;
    if (r >= p.end_row) { return; }
    var forward = 0.0;    // ‖y − x + drift·∇E(x)‖², the proposal x → y
    var backward = 0.0;   // ‖x − y + drift·∇E(y)‖², the reverse move y → x
    for (var i = r * p.d; i < (r + 1u) * p.d; i++) {
        let f = y[i] - x[i] + p.drift * grad_x[i];
        let b = x[i] - y[i] + p.drift * grad_y[i];
        forward += f * f;
        backward += b * b;
    }
    let log_alpha = (energy_x[r] - energy_y[r]) * p.inv_temp + (forward - backward) * p.inv_two_var;
    let u = rng_uniform_at(p.seed, p.stream, p.counter, r);
    // log(u) < log α, with −ln u from rng_neg_log (accurate as u → 1).
    if (-rng_neg_log(u) < log_alpha && in_box(r)) {
        for (var i = r * p.d; i < (r + 1u) * p.d; i++) {
            x[i] = y[i];
            grad_x[i] = grad_y[i];
        }
        energy_x[r] = energy_y[r];
        accepted[r] += 1.0;
    }
}

@compute @workgroup_size(64)
fn jump_propose(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = p.first_row + gid.x / p.d;
    if (r >= p.end_row) { return; }
    let c = gid.x % p.d;
    let n = p.other_end - p.other_first;   // at least 2 (the caller checks)
    let uj = rng_uniform_at(p.seed, p.stream, p.counter, 2u * r);
    let uk = rng_uniform_at(p.seed, p.stream, p.counter, 2u * r + 1u);
    let j = min(u32(uj * f32(n)), n - 1u);
    let k = (j + 1u + min(u32(uk * f32(n - 1u)), n - 2u)) % n;   // any other row than j
    let xj = x[(p.other_first + j) * p.d + c];
    let xk = x[(p.other_first + k) * p.d + c];
    y[r * p.d + c] = x[r * p.d + c] + (xj - xk);
}
