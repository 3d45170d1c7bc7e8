// file: mlp_chain_pack.wgsl
// Packs an MLP's weights from its flat parameter buffer into the uniform buffers
// mlp_chain.wgsl reads (the constants DIN, DOUT, H, L and struct Params are prepended).
//
// pack_small:  dst_a = the input and output layers and every bias, as `small` in
//              mlp_chain.wgsl lays them out (floats here: 4 per vec4 there).
// pack_hidden: dst_a = Wᵀ and dst_b = W of hidden layer p.layer (weight [H, H]).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst_a: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst_b: array<f32>;

fn w_off(i: u32) -> u32 { return p.w_off[i / 4u][i % 4u]; }
fn b_off(i: u32) -> u32 { return p.b_off[i / 4u][i % 4u]; }

// One invocation per hidden unit j.
@compute @workgroup_size(64)
fn pack_small(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= H) { return; }
    let w0 = w_off(0u);
    let bias = DIN * H;
    let w0p = (DIN + L) * H;
    let wot = w0p + 4u * H;
    let bout = wot + 4u * H;
    for (var d = 0u; d < 4u; d++) {
        var v = 0.0;
        if (d < DIN) {
            v = w[w0 + j * DIN + d];
            dst_a[d * H + j] = v;          // W0ᵀ [DIN][H]
        }
        dst_a[w0p + 4u * j + d] = v;       // W0 [H][4]
        var o = 0.0;
        if (d < DOUT) { o = w[w_off(L) + d * H + j]; }
        dst_a[wot + 4u * j + d] = o;       // W_outᵀ [H][4]
    }
    for (var l = 0u; l < L; l++) { dst_a[bias + l * H + j] = w[b_off(l) + j]; }
    if (j < 4u) {
        var b = 0.0;
        if (j < DOUT) { b = w[b_off(L) + j]; }
        dst_a[bout + j] = b;
    }
}

// One invocation per weight (j, k).
@compute @workgroup_size(64)
fn pack_hidden(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= H * H) { return; }
    let j = i / H;
    let k = i % H;
    let v = w[w_off(p.layer) + i];
    dst_a[k * H + j] = v;
    dst_b[i] = v;
}
