// file: mlp_chain_layer.wgsl
// Hidden layer _L_ of mlp_chain.wgsl (1 ≤ _L_ < L): its weight in two uniform buffers, and
// its forward and backward for the invocation's R = 4 chains (scratch rows base,
// base + STRIDE4, …), 16 outputs at a time held as a mat4x4 per chain. mlp_chain.rs
// copies this text once per hidden layer with _L_, the binding numbers and the scratch
// slots of the backward filled in (WGSL cannot pass a uniform buffer to a function).

// Wᵀ [in k][out j] (forward: 16 consecutive outputs of one input are one mat4x4) and
// W [out j][in k] (backward: 16 consecutive inputs of one output), H × H ≤ 64 KiB each.
@group(0) @binding(_WT_BINDING_) var<uniform> wt_L_: array<mat4x4<f32>, 1024>;
@group(0) @binding(_W_BINDING_) var<uniform> w_L_: array<mat4x4<f32>, 1024>;

fn forward_L_(base: u32) {
    let src = base + (_L_u - 1u) * H4;
    let dst = base + _L_u * H4;
    for (var j16 = 0u; j16 < H16; j16++) {
        let b = BIAS + _L_u * H4 + 4u * j16;
        let bias = mat4x4<f32>(small[b], small[b + 1u], small[b + 2u], small[b + 3u]);
        var a0 = bias;
        var a1 = bias;
        var a2 = bias;
        var a3 = bias;
        for (var k4 = 0u; k4 < H4; k4++) {
            let q = 4u * k4 * H16 + j16;
            let m0 = wt_L_[q];
            let m1 = wt_L_[q + H16];
            let m2 = wt_L_[q + 2u * H16];
            let m3 = wt_L_[q + 3u * H16];
            let x0 = scratch[src + k4];
            let x1 = scratch[src + STRIDE4 + k4];
            let x2 = scratch[src + 2u * STRIDE4 + k4];
            let x3 = scratch[src + 3u * STRIDE4 + k4];
            a0 += m0 * x0.x + m1 * x0.y + m2 * x0.z + m3 * x0.w;
            a1 += m0 * x1.x + m1 * x1.y + m2 * x1.z + m3 * x1.w;
            a2 += m0 * x2.x + m1 * x2.y + m2 * x2.z + m3 * x2.w;
            a3 += m0 * x3.x + m1 * x3.y + m2 * x3.z + m3 * x3.w;
        }
        let o = dst + 4u * j16;
        store_act(o, a0);
        store_act(o + STRIDE4, a1);
        store_act(o + 2u * STRIDE4, a2);
        store_act(o + 3u * STRIDE4, a3);
    }
}

// dU/d(pre-activation) of layer _L_ − 1 (slot _NEXT_) from that of layer _L_ (slot _CUR_).
fn backward_L_(base: u32) {
    let cur = base + _CUR_;
    for (var k16 = 0u; k16 < H16; k16++) {
        var g0 = mat4x4<f32>();
        var g1 = mat4x4<f32>();
        var g2 = mat4x4<f32>();
        var g3 = mat4x4<f32>();
        for (var j4 = 0u; j4 < H4; j4++) {
            let q = 4u * j4 * H16 + k16;
            let m0 = w_L_[q];
            let m1 = w_L_[q + H16];
            let m2 = w_L_[q + 2u * H16];
            let m3 = w_L_[q + 3u * H16];
            let d0 = scratch[cur + j4];
            let d1 = scratch[cur + STRIDE4 + j4];
            let d2 = scratch[cur + 2u * STRIDE4 + j4];
            let d3 = scratch[cur + 3u * STRIDE4 + j4];
            g0 += m0 * d0.x + m1 * d0.y + m2 * d0.z + m3 * d0.w;
            g1 += m0 * d1.x + m1 * d1.y + m2 * d1.z + m3 * d1.w;
            g2 += m0 * d2.x + m1 * d2.y + m2 * d2.z + m3 * d2.w;
            g3 += m0 * d3.x + m1 * d3.y + m2 * d3.z + m3 * d3.w;
        }
        let o = 4u * k16;
        let below = base + (_L_u - 1u) * H4 + o;
        let next = base + _NEXT_ + o;
        store_gated(next, below, g0);
        store_gated(next + STRIDE4, below + STRIDE4, g1);
        store_gated(next + 2u * STRIDE4, below + 2u * STRIDE4, g2);
        store_gated(next + 3u * STRIDE4, below + 3u * STRIDE4, g3);
    }
}
