// file: mlp_chain_layer.wgsl
// Hidden layer _L_ of mlp_chain.wgsl (1 ≤ _L_ < L): its weight in two uniform buffers, and
// its forward and backward for one row. mlp_chain.rs copies this text once per hidden
// layer with _L_, the binding numbers and the scratch slots of the backward filled in
// (WGSL cannot pass a uniform buffer to a function).

// Wᵀ [in k][out j] (forward: 16 consecutive outputs of one input are one mat4x4) and
// W [out j][in k] (backward: 16 consecutive inputs of one output), H × H ≤ 64 KiB each.
@group(0) @binding(_WT_BINDING_) var<uniform> wt_L_: array<mat4x4<f32>, 1024>;
@group(0) @binding(_W_BINDING_) var<uniform> w_L_: array<mat4x4<f32>, 1024>;

fn forward_L_(base: u32) {
    let src = base + (_L_u - 1u) * H4;
    let dst = base + _L_u * H4;
    for (var j16 = 0u; j16 < H16; j16++) {
        let b = BIAS + _L_u * H4 + 4u * j16;
        var a0 = small[b];
        var a1 = small[b + 1u];
        var a2 = small[b + 2u];
        var a3 = small[b + 3u];
        for (var k4 = 0u; k4 < H4; k4++) {
            let x = scratch[src + k4];
            let q = 4u * k4 * H16 + j16;
            let m0 = wt_L_[q];
            let m1 = wt_L_[q + H16];
            let m2 = wt_L_[q + 2u * H16];
            let m3 = wt_L_[q + 3u * H16];
            a0 += m0[0] * x.x + m1[0] * x.y + m2[0] * x.z + m3[0] * x.w;
            a1 += m0[1] * x.x + m1[1] * x.y + m2[1] * x.z + m3[1] * x.w;
            a2 += m0[2] * x.x + m1[2] * x.y + m2[2] * x.z + m3[2] * x.w;
            a3 += m0[3] * x.x + m1[3] * x.y + m2[3] * x.z + m3[3] * x.w;
        }
        let o = dst + 4u * j16;
        scratch[o] = act(a0);
        scratch[o + 1u] = act(a1);
        scratch[o + 2u] = act(a2);
        scratch[o + 3u] = act(a3);
    }
}

// dU/d(pre-activation) of layer _L_ − 1 (slot _NEXT_) from that of layer _L_ (slot _CUR_).
fn backward_L_(base: u32) {
    let cur = base + _CUR_;
    let below = base + (_L_u - 1u) * H4;
    for (var k16 = 0u; k16 < H16; k16++) {
        var g0 = vec4<f32>(0.0);
        var g1 = vec4<f32>(0.0);
        var g2 = vec4<f32>(0.0);
        var g3 = vec4<f32>(0.0);
        for (var j4 = 0u; j4 < H4; j4++) {
            let d = scratch[cur + j4];
            let q = 4u * j4 * H16 + k16;
            let m0 = w_L_[q];
            let m1 = w_L_[q + H16];
            let m2 = w_L_[q + 2u * H16];
            let m3 = w_L_[q + 3u * H16];
            g0 += m0[0] * d.x + m1[0] * d.y + m2[0] * d.z + m3[0] * d.w;
            g1 += m0[1] * d.x + m1[1] * d.y + m2[1] * d.z + m3[1] * d.w;
            g2 += m0[2] * d.x + m1[2] * d.y + m2[2] * d.z + m3[2] * d.w;
            g3 += m0[3] * d.x + m1[3] * d.y + m2[3] * d.z + m3[3] * d.w;
        }
        let o = 4u * k16;
        scratch[base + _NEXT_ + o] = g0 * act_grad(scratch[below + o]);
        scratch[base + _NEXT_ + o + 1u] = g1 * act_grad(scratch[below + o + 1u]);
        scratch[base + _NEXT_ + o + 2u] = g2 * act_grad(scratch[below + o + 2u]);
        scratch[base + _NEXT_ + o + 3u] = g3 * act_grad(scratch[below + o + 3u]);
    }
}
