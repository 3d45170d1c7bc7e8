//! The paper's convolutional networks (docs/reference.md, "Architectures"): an SNGAN-style ResNet
//! generator, an SNGAN-discriminator-style EBM, and a strided-convolution inference model.
//! Parameter names follow the module names a PyTorch port of the same layout would have.

use crate::nn::activation::{Act, Activation};
use crate::nn::batchnorm::BatchNormLayer;
use crate::nn::conv::{Conv2d, ConvSpec};
use crate::nn::linear::Linear;
use crate::nn::resample::{AvgPool2, GlobalAvgPool, Upsample2, UpsampleMode};
use crate::nn::residual::Residual;
use crate::nn::{Init, Network, ParamLayout, Sequential, Shape};

/// Batch-norm scale N(0, 1), as the reference code draws it.
const BN_GAMMA: Init = Init::Normal { mean: 0.0, std: 1.0 };

/// Generator: Linear(nz → c₀·b·b) viewed as `[c₀, b, b]`; one up-block per further entry of
/// `channels` (BN → ReLU → bilinear ×2 → conv3×3 → BN → ReLU → conv3×3, shortcut ×2 →
/// conv1×1); then BN → ReLU → conv3×3 to `out_channels` → tanh. Convolutions have biases.
///
/// CIFAR-10: `generator(128, 4, &[512, 512, 512, 512], 3, bilinear)` (~16.0M parameters);
/// CelebA-64: `generator(128, 4, &[1024, 512, 256, 128, 64], 3, bilinear)` (~12.2M).
pub fn generator(
    nz: usize,
    base: usize,
    channels: &[usize],
    out_channels: usize,
    up: UpsampleMode,
) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(nz));
    let first = Shape::image(channels[0], base, base);
    layout.scoped("l1", |l| body.push(Linear::new(l, Shape::flat(nz), first, true)));
    for (i, pair) in channels.windows(2).enumerate() {
        let (input, out) = (body.shape(), pair[1]);
        let block = layout.scoped(&format!("blocks.{i}"), |l| up_block(l, input, out, up));
        body.push(block);
    }
    let s = body.shape();
    layout.scoped("b_out", |l| body.push(BatchNormLayer::new(l, s, BN_GAMMA)));
    body.push(Act::new(Activation::Relu, s));
    layout.scoped("c_out", |l| body.push(Conv2d::new(l, s, ConvSpec::same(out_channels, 3).bias(true))));
    body.push(Act::new(Activation::Tanh, body.shape()));
    Network::new(layout, body)
}

fn up_block(l: &mut ParamLayout, input: Shape, out: usize, up: UpsampleMode) -> Residual {
    let (mut main, mut short) = (Sequential::new(input), Sequential::new(input));
    l.scoped("b1", |l| main.push(BatchNormLayer::new(l, input, BN_GAMMA)));
    main.push(Act::new(Activation::Relu, input));
    main.push(Upsample2 { input, mode: up });
    let s = main.shape();
    l.scoped("c1", |l| main.push(Conv2d::new(l, s, ConvSpec::same(out, 3).bias(true))));
    let s = main.shape();
    l.scoped("b2", |l| main.push(BatchNormLayer::new(l, s, BN_GAMMA)));
    main.push(Act::new(Activation::Relu, s));
    l.scoped("c2", |l| main.push(Conv2d::new(l, s, ConvSpec::same(out, 3).bias(true))));
    short.push(Upsample2 { input, mode: up });
    let s = short.shape();
    l.scoped("c_sc", |l| short.push(Conv2d::new(l, s, ConvSpec::same(out, 1).bias(true))));
    Residual::new(main, Some(short))
}

/// EBM: residual blocks with spectral norm everywhere and no conv biases. Block 0 is the
/// SNGAN "optimized" block (conv3×3 → ReLU → conv3×3 → avgpool, shortcut avgpool → conv1×1);
/// later blocks are pre-activation (ReLU → conv3×3 → ReLU → conv3×3 → [avgpool]) with a
/// conv1×1 shortcut where they downsample or change width; head ReLU → global average
/// pooling → Linear(c → 1, no bias). Outputs the energy E(x).
///
/// CIFAR-10: `ebm(Shape::image(3, 32, 32), &[512, 512, 512, 512], &[true, true, false, false])`
/// (~16.8M); CelebA-64: channels `[64, 128, 256, 512, 1024]`, all downsampling (~19.5M).
pub fn ebm(input: Shape, channels: &[usize], downsample: &[bool]) -> Network {
    assert_eq!(channels.len(), downsample.len());
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(input);
    for (i, (&out, &down)) in channels.iter().zip(downsample).enumerate() {
        let s = body.shape();
        let block = layout.scoped(&format!("blocks.{i}"), |l| down_block(l, s, out, down, i == 0));
        body.push(block);
    }
    let s = body.shape();
    body.push(Act::new(Activation::Relu, s));
    body.push(GlobalAvgPool { input: s });
    layout.scoped("l_out", |l| {
        body.push(Linear::with_spectral_norm(l, Shape::flat(s.c), Shape::flat(1), false, true))
    });
    Network::new(layout, body)
}

fn down_block(l: &mut ParamLayout, input: Shape, out: usize, down: bool, first: bool) -> Residual {
    let sn = |c, k| ConvSpec::same(c, k).spectral_norm(true);
    let (mut main, mut short) = (Sequential::new(input), Sequential::new(input));
    if !first {
        main.push(Act::new(Activation::Relu, input));
    }
    l.scoped("c1", |l| main.push(Conv2d::new(l, input, sn(out, 3))));
    let s = main.shape();
    main.push(Act::new(Activation::Relu, s));
    l.scoped("c2", |l| main.push(Conv2d::new(l, s, sn(out, 3))));
    if down {
        main.push(AvgPool2 { input: main.shape() });
    }
    if first {
        // The optimized block pools before its shortcut convolution.
        short.push(AvgPool2 { input });
        let s = short.shape();
        l.scoped("c_sc", |l| short.push(Conv2d::new(l, s, sn(out, 1))));
        return Residual::new(main, Some(short));
    }
    if !down && input.c == out {
        return Residual::new(main, None);
    }
    l.scoped("c_sc", |l| short.push(Conv2d::new(l, input, sn(out, 1))));
    if down {
        short.push(AvgPool2 { input: short.shape() });
    }
    Residual::new(main, Some(short))
}

/// Inference model: conv3×3 stride 1 to `channels[0]`, then conv4×4 stride 2 to each further
/// entry, each followed by LeakyReLU(0.2), no biases; a k×k convolution without padding
/// (k = the remaining size) with bias gives q = [μ | logvar], `[2·nz, 1, 1]`.
///
/// CIFAR-10: `inference(Shape::image(3, 32, 32), &[128, 256, 512, 1024], 128)` (~15.2M).
pub fn inference(input: Shape, channels: &[usize], nz: usize) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(input);
    let lrelu = Activation::LeakyRelu(0.2);
    for (i, &c) in channels.iter().enumerate() {
        let s = body.shape();
        let spec = if i == 0 { ConvSpec::same(c, 3) } else { ConvSpec::same(c, 4).stride(2, 1) };
        layout.scoped(&format!("convs.{i}"), |l| body.push(Conv2d::new(l, s, spec)));
        body.push(Act::new(lrelu, body.shape()));
    }
    let s = body.shape();
    assert_eq!(s.h, s.w, "the inference head expects a square feature map");
    layout.scoped("head", |l| {
        body.push(Conv2d::new(l, s, ConvSpec::same(2 * nz, s.h).stride(1, 0).bias(true)))
    });
    Network::new(layout, body)
}
