// file: mlp_chain_params.wgsl
// The uniform block of mlp_chain.wgsl and mlp_chain_pack.wgsl (`Params` in mlp_chain.rs).

struct Params {
    batch: u32,
    steps: u32,
    stream: u32,
    iteration: u32,
    seed: vec2<u32>,
    drift: f32,
    noise: f32,
    slope: f32,
    coef: f32,          // TARGET: dU/dy = coef·(y − target)
    prior: f32,         // 1 for z (the N(0, I) prior's gradient), 0 for x
    inv_two_var: f32,   // chain_trace, TARGET: 1 / (2σ²)
    w_off: array<vec4<u32>, 2>,   // mlp_chain_pack.wgsl: where linear layer i's weight starts
    b_off: array<vec4<u32>, 2>,   // … and its bias
    layer: u32,                   // pack_hidden: which hidden layer
    inv_temp: f32,                // METROPOLIS: 1/T = 2·drift/noise²
    inv_two_noise_var: f32,       // METROPOLIS: 1/(2·noise²)
    second_every: u32,             // METROPOLIS: steps t with (t + 1) % second_every == 0 (0: none)
    second_drift: f32,             //   propose with these instead (the same temperature)
    second_noise: f32,
    second_inv_two_noise_var: f32,
    first_step: u32,               // mala_step: its step; jump: the slot after its step; chain_trace: the first slot
    box_half_width: f32,           // METROPOLIS: proposals outside [−b, b]^DIN are rejected (0: no box)
    jump_counter: u32,             // jump: the low counter word of the proposals' uniforms
    _pad0: u32,
    _pad1: u32,
    rows: vec4<u32>,               // jump: the moving rows first .. end, the other half's first .. end
}
