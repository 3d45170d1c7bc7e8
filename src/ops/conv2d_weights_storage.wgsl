// The weights of conv2d.wgsl's forward and backward_input on GPUs: the whole packed tensor
// from storage, so a layer is one dispatch (the dispatch's slice covers every block, tap
// and channel, and u is the packed index).

@group(0) @binding(1) var<storage, read> wu: array<mat4x4<f32>>;

fn w_mat(u: u32) -> mat4x4<f32> {
    return wu[u];
}
