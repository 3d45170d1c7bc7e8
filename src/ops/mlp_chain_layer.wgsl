// file: mlp_chain_layer.wgsl
// Hidden layer _L_ of mlp_chain.wgsl (1 ≤ _L_ < L): its weight in two uniform buffers, and
// its forward and backward for the invocation's R = 4 chains (scratch rows base,
// base + STRIDE4, …), 32 outputs at a time held as two mat4x4 per chain (a<chain>_<half>:
// each gathered vec4 of activations then feeds 128 multiply-adds); m<half>_<c> is the mat4x4
// of the 16 weights of that half for input c of the 4 in hand. mlp_chain.rs
// copies this text once per hidden layer with _L_, the binding numbers and the scratch
// slots of the backward filled in (WGSL cannot pass a uniform buffer to a function).

// Wᵀ [in k][out j] (forward: 16 consecutive outputs of one input are one mat4x4) and
// W [out j][in k] (backward: 16 consecutive inputs of one output), H × H ≤ 64 KiB each.
@group(0) @binding(_WT_BINDING_) var<uniform> wt_L_: array<mat4x4<f32>, 1024>;
@group(0) @binding(_W_BINDING_) var<uniform> w_L_: array<mat4x4<f32>, 1024>;

fn forward_L_(base: u32) {
    let src = base + (_L_u - 1u) * H4;
    let dst = base + _L_u * H4;
    for (var jb = 0u; jb < H16; jb += 2u) {
        let b = BIAS + _L_u * H4 + 4u * jb;
        let bias0 = mat4x4<f32>(small[b + 0u], small[b + 1u], small[b + 2u], small[b + 3u]);
        let bias1 = mat4x4<f32>(small[b + 4u], small[b + 5u], small[b + 6u], small[b + 7u]);
        var a0_0 = bias0;
        var a0_1 = bias1;
        var a1_0 = bias0;
        var a1_1 = bias1;
        var a2_0 = bias0;
        var a2_1 = bias1;
        var a3_0 = bias0;
        var a3_1 = bias1;
        for (var k4 = 0u; k4 < H4; k4++) {
            let q = 4u * k4 * H16 + jb;
            let m0_0 = wt_L_[q];
            let m0_1 = wt_L_[q + H16];
            let m0_2 = wt_L_[q + 2u * H16];
            let m0_3 = wt_L_[q + 3u * H16];
            let m1_0 = wt_L_[q + 1u];
            let m1_1 = wt_L_[q + H16 + 1u];
            let m1_2 = wt_L_[q + 2u * H16 + 1u];
            let m1_3 = wt_L_[q + 3u * H16 + 1u];
            let x0 = scratch[src + k4];
            a0_0 += m0_0 * x0.x + m0_1 * x0.y + m0_2 * x0.z + m0_3 * x0.w;
            a0_1 += m1_0 * x0.x + m1_1 * x0.y + m1_2 * x0.z + m1_3 * x0.w;
            let x1 = scratch[src + STRIDE4 + k4];
            a1_0 += m0_0 * x1.x + m0_1 * x1.y + m0_2 * x1.z + m0_3 * x1.w;
            a1_1 += m1_0 * x1.x + m1_1 * x1.y + m1_2 * x1.z + m1_3 * x1.w;
            let x2 = scratch[src + 2u * STRIDE4 + k4];
            a2_0 += m0_0 * x2.x + m0_1 * x2.y + m0_2 * x2.z + m0_3 * x2.w;
            a2_1 += m1_0 * x2.x + m1_1 * x2.y + m1_2 * x2.z + m1_3 * x2.w;
            let x3 = scratch[src + 3u * STRIDE4 + k4];
            a3_0 += m0_0 * x3.x + m0_1 * x3.y + m0_2 * x3.z + m0_3 * x3.w;
            a3_1 += m1_0 * x3.x + m1_1 * x3.y + m1_2 * x3.z + m1_3 * x3.w;
        }
        let o = dst + 4u * jb;
        store_act(o, a0_0);
        store_act(o + 4u, a0_1);
        store_act(o + STRIDE4, a1_0);
        store_act(o + STRIDE4 + 4u, a1_1);
        store_act(o + 2u * STRIDE4, a2_0);
        store_act(o + 2u * STRIDE4 + 4u, a2_1);
        store_act(o + 3u * STRIDE4, a3_0);
        store_act(o + 3u * STRIDE4 + 4u, a3_1);
    }
}

// dU/d(pre-activation) of layer _L_ − 1 (into slot _NEXT_, gated by that layer's activations
// at `below`) from that of layer _L_ (slot _CUR_); g<chain>_<half> as a<chain>_<half> above.
fn backward_L_(base: u32) {
    let cur = base + _CUR_;
    for (var kb = 0u; kb < H16; kb += 2u) {
        var g0_0 = mat4x4<f32>();
        var g0_1 = mat4x4<f32>();
        var g1_0 = mat4x4<f32>();
        var g1_1 = mat4x4<f32>();
        var g2_0 = mat4x4<f32>();
        var g2_1 = mat4x4<f32>();
        var g3_0 = mat4x4<f32>();
        var g3_1 = mat4x4<f32>();
        for (var j4 = 0u; j4 < H4; j4++) {
            let q = 4u * j4 * H16 + kb;
            let m0_0 = w_L_[q];
            let m0_1 = w_L_[q + H16];
            let m0_2 = w_L_[q + 2u * H16];
            let m0_3 = w_L_[q + 3u * H16];
            let m1_0 = w_L_[q + 1u];
            let m1_1 = w_L_[q + H16 + 1u];
            let m1_2 = w_L_[q + 2u * H16 + 1u];
            let m1_3 = w_L_[q + 3u * H16 + 1u];
            let d0 = scratch[cur + j4];
            g0_0 += m0_0 * d0.x + m0_1 * d0.y + m0_2 * d0.z + m0_3 * d0.w;
            g0_1 += m1_0 * d0.x + m1_1 * d0.y + m1_2 * d0.z + m1_3 * d0.w;
            let d1 = scratch[cur + STRIDE4 + j4];
            g1_0 += m0_0 * d1.x + m0_1 * d1.y + m0_2 * d1.z + m0_3 * d1.w;
            g1_1 += m1_0 * d1.x + m1_1 * d1.y + m1_2 * d1.z + m1_3 * d1.w;
            let d2 = scratch[cur + 2u * STRIDE4 + j4];
            g2_0 += m0_0 * d2.x + m0_1 * d2.y + m0_2 * d2.z + m0_3 * d2.w;
            g2_1 += m1_0 * d2.x + m1_1 * d2.y + m1_2 * d2.z + m1_3 * d2.w;
            let d3 = scratch[cur + 3u * STRIDE4 + j4];
            g3_0 += m0_0 * d3.x + m0_1 * d3.y + m0_2 * d3.z + m0_3 * d3.w;
            g3_1 += m1_0 * d3.x + m1_1 * d3.y + m1_2 * d3.z + m1_3 * d3.w;
        }
        let o = 4u * kb;
        let below = base + (_L_u - 1u) * H4 + o;
        let next = base + _NEXT_ + o;
        store_gated(next, below, g0_0);
        store_gated(next + 4u, below + 4u, g0_1);
        store_gated(next + STRIDE4, below + STRIDE4, g1_0);
        store_gated(next + STRIDE4 + 4u, below + STRIDE4 + 4u, g1_1);
        store_gated(next + 2u * STRIDE4, below + 2u * STRIDE4, g2_0);
        store_gated(next + 2u * STRIDE4 + 4u, below + 2u * STRIDE4 + 4u, g2_1);
        store_gated(next + 3u * STRIDE4, below + 3u * STRIDE4, g3_0);
        store_gated(next + 3u * STRIDE4 + 4u, below + 3u * STRIDE4 + 4u, g3_1);
    }
}
