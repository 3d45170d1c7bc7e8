//! Multi-layer perceptrons for 2-D data (and any flat data).

use crate::nn::activation::{Act, Activation};
use crate::nn::linear::Linear;
use crate::nn::{Network, ParamLayout, Sequential, Shape};

/// in → hidden… → out, with `act` between layers and nothing after the last. Layers are
/// named `net.0`, `net.2`, … as in a PyTorch `nn.Sequential` with activations between.
pub fn mlp(input: usize, hidden: &[usize], output: usize, act: Activation) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(input));
    let sizes: Vec<usize> = hidden.iter().copied().chain([output]).collect();
    for (i, &out) in sizes.iter().enumerate() {
        let shape = body.shape();
        let layer =
            layout.scoped(&format!("net.{}", 2 * i), |l| Linear::new(l, shape, Shape::flat(out), true));
        body.push(layer);
        if i + 1 < sizes.len() {
            body.push(Act::new(act, Shape::flat(out)));
        }
    }
    Network::new(layout, body)
}
