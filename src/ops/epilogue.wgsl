// Activations applied as a kernel stores its results (a library composed in front of
// matmul.wgsl and conv2d.wgsl): the activation after a layer, and the derivative of the
// activation before it read from that activation's output. Codes: 0 none, 1 ReLU,
// 2 LeakyReLU (negative slope `slope`), 3 tanh; kernels pass them as override constants, so
// the switch folds away.

fn activate(code: u32, slope: f32, v: vec4<f32>) -> vec4<f32> {
    switch (code) {
        case 1u: { return max(v, vec4(0.0)); }
        case 2u: { return select(slope * v, v, v > vec4(0.0)); }
        // tanh() of large |x| can give NaN on some drivers (exp overflow); clamp first.
        case 3u: { return tanh(clamp(v, vec4(-15.0), vec4(15.0))); }
        default: { return v; }
    }
}

// dy * f'(u) from the output y = f(u): ReLU and LeakyReLU (slope >= 0) have y > 0 exactly
// where u > 0; tanh' = 1 - y^2.
fn gated(code: u32, slope: f32, y: vec4<f32>, dy: vec4<f32>) -> vec4<f32> {
    switch (code) {
        case 1u: { return select(vec4(0.0), dy, y > vec4(0.0)); }
        case 2u: { return select(slope * dy, dy, y > vec4(0.0)); }
        case 3u: { return dy * (1.0 - y * y); }
        default: { return dy; }
    }
}
