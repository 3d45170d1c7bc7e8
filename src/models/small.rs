//! Small convolutional networks for 28×28 grey images (Fashion-MNIST), sized so that one
//! training iteration runs in seconds on a CPU adapter. Same roles and conventions as the
//! paper's networks.

use crate::nn::activation::{Act, Activation};
use crate::nn::batchnorm::BatchNormLayer;
use crate::nn::conv::{Conv2d, ConvSpec};
use crate::nn::linear::Linear;
use crate::nn::resample::{Upsample2, UpsampleMode};
use crate::nn::{Init, Network, ParamLayout, Sequential, Shape};

const LRELU: Activation = Activation::LeakyRelu(0.2);

/// conv3×3 c→w, conv4×4 s2 w→2w, conv4×4 s2 2w→4w, with biases, LeakyReLU(0.2) after each:
/// the trunk the EBM and the inference model share in layout (not in weights).
fn conv_trunk(layout: &mut ParamLayout, input: Shape, width: usize, spectral_norm: bool) -> Sequential {
    let mut body = Sequential::new(input);
    let specs = [
        ConvSpec::same(width, 3),
        ConvSpec::same(2 * width, 4).stride(2, 1),
        ConvSpec::same(4 * width, 4).stride(2, 1),
    ];
    for (i, spec) in specs.into_iter().enumerate() {
        let s = body.shape();
        let spec = spec.spectral_norm(spectral_norm).bias(true);
        layout.scoped(&format!("convs.{i}"), |l| body.push(Conv2d::new(l, s, spec)));
        body.push(Act::new(LRELU, body.shape()));
    }
    body
}

/// EBM: the conv trunk, then Linear(4w·(h/4)·(w/4) → 1). `spectral_norm` wraps every layer,
/// as the reference does.
pub fn ebm(input: Shape, width: usize, spectral_norm: bool) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = conv_trunk(&mut layout, input, width, spectral_norm);
    let s = body.shape();
    layout
        .scoped("head", |l| body.push(Linear::with_spectral_norm(l, s, Shape::flat(1), true, spectral_norm)));
    Network::new(layout, body)
}

/// Generator: Linear(nz → 4w·(h/4)·(w/4)) → [BN → ReLU → nearest ×2 → conv3×3] twice (4w →
/// 2w → w) → BN → ReLU → conv3×3 to the image's channels → tanh.
pub fn generator(nz: usize, output: Shape, width: usize) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(nz));
    let first = Shape::image(4 * width, output.h / 4, output.w / 4);
    layout.scoped("l1", |l| body.push(Linear::new(l, Shape::flat(nz), first, true)));
    let gamma = Init::Normal { mean: 0.0, std: 1.0 };
    for (i, out) in [2 * width, width].into_iter().enumerate() {
        let s = body.shape();
        layout.scoped(&format!("ups.{i}.bn"), |l| body.push(BatchNormLayer::new(l, s, gamma)));
        body.push(Act::new(Activation::Relu, s));
        body.push(Upsample2 { input: s, mode: UpsampleMode::Nearest });
        let s = body.shape();
        layout.scoped(&format!("ups.{i}.conv"), |l| {
            body.push(Conv2d::new(l, s, ConvSpec::same(out, 3).bias(true)))
        });
    }
    let s = body.shape();
    layout.scoped("b_out", |l| body.push(BatchNormLayer::new(l, s, gamma)));
    body.push(Act::new(Activation::Relu, s));
    layout.scoped("c_out", |l| body.push(Conv2d::new(l, s, ConvSpec::same(output.c, 3).bias(true))));
    body.push(Act::new(Activation::Tanh, body.shape()));
    assert_eq!(body.shape(), output, "image size must be a multiple of 4");
    Network::new(layout, body)
}

/// Inference model: the EBM's three convolutions (no spectral norm), then a convolution over
/// the whole remaining map giving q = [μ | logvar] `[2·nz, 1, 1]`.
pub fn inference(input: Shape, width: usize, nz: usize) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = conv_trunk(&mut layout, input, width, false);
    let s = body.shape();
    layout.scoped("head", |l| {
        body.push(Conv2d::new(l, s, ConvSpec::same(2 * nz, s.h).stride(1, 0).bias(true)))
    });
    Network::new(layout, body)
}
