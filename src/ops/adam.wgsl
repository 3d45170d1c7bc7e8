// Adam over one network's flat buffers, PyTorch's torch.optim.Adam semantics (coupled L2
// weight decay, not AdamW):
//   g = grad + wd·p;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p = p − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps),  bc_i = 1 − β_i^t
// The bias corrections are computed on the CPU from the step count t.

const WG: u32 = 256u;

struct Params {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias_correction1: f32,
    sqrt_bias_correction2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(WG)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    let g = grad[i] + p.weight_decay * param[i];
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    let denom = sqrt(vi) / p.sqrt_bias_correction2 + p.eps;
    param[i] = param[i] - (p.lr / p.bias_correction1) * mi / denom;
}
