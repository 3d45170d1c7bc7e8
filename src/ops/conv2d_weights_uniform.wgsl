// The weights of conv2d.wgsl's forward and backward_input on CPU adapters: a 64 KiB
// uniform slice of the packed tensor, copied in before each dispatch (llvmpipe loads a
// uniform mat4x4 at a workgroup-uniform index in about one load; from storage, 16).

const UBO_MATS: u32 = 1024u; // mat4x4 per uniform slice: 64 KiB

@group(0) @binding(1) var<uniform> wu: array<mat4x4<f32>, UBO_MATS>;

fn w_mat(u: u32) -> mat4x4<f32> {
    return wu[min(u, UBO_MATS - 1u)];
}
