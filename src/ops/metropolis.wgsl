// Metropolis–Hastings correction of a Langevin step (MALA), philox.wgsl prepended.
//
// metropolis_accept: one invocation per chain. The proposal y = x − drift·∇E(x) + noise·ε
//   (langevin_step on a copy of x) is accepted with probability min(1, α),
//     log α = (E(x) − E(y)) / T + (‖y − x + drift·∇E(x)‖² − ‖x − y + drift·∇E(y)‖²) / (2·noise²),
//   T = noise² / (2·drift) the chain's temperature (1 in the paper's form). Then exp(−E/T) is
//   the chain's exact stationary law, whatever the step size. An accepted row copies y, E(y)
//   and ∇E(y) over x, E(x) and ∇E(x), and adds 1 to its count of accepted proposals.
//   The uniform for row r is rng_uniform_at(seed, stream, counter, r), the counter drawn by
//   the caller (a word of its own, so it never repeats the proposal's normal draws).

struct Params {
    batch: u32,
    d: u32,          // values per chain
    stream: u32,
    _pad0: u32,
    seed: vec2<u32>,
    counter: vec2<u32>,
    drift: f32,
    inv_two_var: f32,   // 1 / (2·noise²)
    inv_temp: f32,      // 1 / T = 2·drift / noise²
    _pad1: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;        // [batch, d], the chains' states
@group(0) @binding(2) var<storage, read> y: array<f32>;              // [batch, d], the proposals
@group(0) @binding(3) var<storage, read_write> grad_x: array<f32>;   // [batch, d], ∇E(x)
@group(0) @binding(4) var<storage, read> grad_y: array<f32>;         // [batch, d], ∇E(y)
@group(0) @binding(5) var<storage, read_write> energy_x: array<f32>; // [batch]
@group(0) @binding(6) var<storage, read> energy_y: array<f32>;       // [batch]
@group(0) @binding(7) var<storage, read_write> accepted: array<f32>; // [batch], counts

@compute @workgroup_size(64)
fn metropolis_accept(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.batch) { return; }
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
    if (-rng_neg_log(u) < log_alpha) {
        for (var i = r * p.d; i < (r + 1u) * p.d; i++) {
            x[i] = y[i];
            grad_x[i] = grad_y[i];
        }
        energy_x[r] = energy_y[r];
        accepted[r] += 1.0;
    }
}
