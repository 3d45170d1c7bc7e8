//! The feature network of the Fréchet distance: a small convolutional classifier, split into
//! its feature trunk (whose output, the penultimate layer, gives the features) and a linear
//! head over the classes. Trained by `train-classifier` (see `eval::feature_net`).

use crate::nn::activation::{Act, Activation};
use crate::nn::conv::{Conv2d, ConvSpec};
use crate::nn::linear::Linear;
use crate::nn::resample::AvgPool2;
use crate::nn::{Network, ParamLayout, Sequential, Shape};

/// Feature trunk: [conv3×3 → ReLU → 2×2 average pool] twice (c → w → 2w channels, h → h/4),
/// then Linear(2w·(h/4)·(w/4) → features) → ReLU. Input `[batch, c, h, w]` with h and w
/// multiples of 4; output `[batch, features]`.
pub fn features(input: Shape, width: usize, features: usize) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(input);
    for (i, out) in [width, 2 * width].into_iter().enumerate() {
        let s = body.shape();
        layout.scoped(&format!("convs.{i}"), |l| {
            body.push(Conv2d::new(l, s, ConvSpec::same(out, 3).bias(true)))
        });
        body.push(Act::new(Activation::Relu, body.shape()));
        body.push(AvgPool2 { input: body.shape() });
    }
    let s = body.shape();
    layout.scoped("fc", |l| body.push(Linear::new(l, s, Shape::flat(features), true)));
    body.push(Act::new(Activation::Relu, body.shape()));
    Network::new(layout, body)
}

/// Head: Linear(features → classes), the class scores (logits).
pub fn head(features: usize, classes: usize) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(features));
    layout.scoped("fc", |l| body.push(Linear::new(l, Shape::flat(features), Shape::flat(classes), true)));
    Network::new(layout, body)
}
