// Softmax cross-entropy of class scores, for the feature-network classifier.
//
// softmax_xent  logits [batch, classes], labels [batch] (class index as f32)
//               → dlogits [batch, classes] = coef·(softmax(logits) − onehot(label)),
//                 stats [batch, 2] = (−log softmax(logits)[label], 1 if argmax = label else 0).
//               One thread per example; the max is subtracted before exp (log-sum-exp).
//               Ties in argmax go to the lowest index, as the CPU reference does.

const WG: u32 = 64u;

struct Params {
    batch: u32,
    classes: u32,
    coef: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(WG)
fn softmax_xent(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = gid.x + gid.y * nwg.x * WG;
    if (b >= p.batch) { return; }
    let row = b * p.classes;
    let label = u32(labels[b]);
    var top = logits[row];
    var arg = 0u;
    for (var k = 1u; k < p.classes; k++) {
        let v = logits[row + k];
        if (v > top) { top = v; arg = k; }
    }
    var total = 0.0;
    for (var k = 0u; k < p.classes; k++) {
        total += exp(logits[row + k] - top);
    }
    let log_total = log(total);
    for (var k = 0u; k < p.classes; k++) {
        let prob = exp(logits[row + k] - top - log_total);
        dlogits[row + k] = p.coef * (prob - select(0.0, 1.0, k == label));
    }
    let in_range = label < p.classes;
    stats[2u * b] = select(0.0, log_total + top - logits[row + min(label, p.classes - 1u)], in_range);
    stats[2u * b + 1u] = select(0.0, 1.0, in_range && arg == label);
}
