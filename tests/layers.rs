//! Layer compositions: forward against the f64 CPU reference, gradients against central
//! finite differences; Adam against its CPU reference.

mod common;
use common::{check_gradients, engine, gpu, random};
use dualmcmc::nn::activation::{Act, Activation};
use dualmcmc::nn::linear::Linear;
use dualmcmc::nn::residual::Residual;
use dualmcmc::nn::{Grad, Network, ParamLayout, Sequential, Shape};
use dualmcmc::ops::adam::{self, AdamConfig};

fn mlp(sizes: &[usize], act: Activation) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(sizes[0]));
    for (i, &out) in sizes[1..].iter().enumerate() {
        let lin =
            layout.scoped(&format!("{}", 2 * i), |l| Linear::new(l, body.shape(), Shape::flat(out), i != 1));
        body.push(lin);
        if i + 2 < sizes.len() {
            body.push(Act::new(act, Shape::flat(out)));
        }
    }
    Network::new(layout, body)
}

#[test]
fn mlp_gradients_match_finite_differences() {
    for (i, act) in [Activation::Relu, Activation::LeakyRelu(0.2), Activation::Tanh].into_iter().enumerate() {
        let mut net = mlp(&[5, 7, 9, 3], act);
        check_gradients(&format!("mlp {act:?}"), &mut net, 3, 100 + i as u64, 400);
    }
}

#[test]
fn activations_fused_into_linear_layers_at_every_position_match_finite_differences() {
    // Sequential fuses an activation into the Linear before it (forward) and the Linear after
    // it (backward). Here: an activation first (its backward fused, dx of the network), one
    // fused forward whose backward is not (a batch norm follows), and one the other way round.
    use dualmcmc::nn::Init;
    use dualmcmc::nn::batchnorm::BatchNormLayer;
    for (i, act) in [Activation::LeakyRelu(0.2), Activation::Tanh].into_iter().enumerate() {
        let mut layout = ParamLayout::new();
        let mut body = Sequential::new(Shape::flat(5));
        body.push(Act::new(act, Shape::flat(5)));
        layout.scoped("1", |l| body.push(Linear::new(l, Shape::flat(5), Shape::flat(6), true)));
        body.push(Act::new(act, Shape::flat(6)));
        layout.scoped("3", |l| {
            body.push(BatchNormLayer::new(l, Shape::flat(6), Init::Normal { mean: 0.0, std: 1.0 }))
        });
        body.push(Act::new(act, Shape::flat(6)));
        layout.scoped("5", |l| body.push(Linear::new(l, Shape::flat(6), Shape::flat(3), true)));
        let mut net = Network::new(layout, body);
        check_gradients(&format!("fusion positions {act:?}"), &mut net, 4, 40 + i as u64, 400);
    }
}

#[test]
fn residual_blocks_gradients_match_finite_differences() {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(6));
    // Identity shortcut.
    let mut main = Sequential::new(Shape::flat(6));
    layout.scoped("0.main", |l| {
        main.push(Linear::new(l, Shape::flat(6), Shape::flat(6), true));
        main.push(Act::new(Activation::LeakyRelu(0.2), Shape::flat(6)));
        main.push(Linear::new(l, Shape::flat(6), Shape::flat(6), true));
    });
    body.push(Residual::new(main, None));
    // Learned shortcut changing width.
    let mut main = Sequential::new(Shape::flat(6));
    let mut short = Sequential::new(Shape::flat(6));
    layout.scoped("1", |l| {
        main.push(Act::new(Activation::Tanh, Shape::flat(6)));
        main.push(Linear::new(l, Shape::flat(6), Shape::flat(4), false));
        short.push(Linear::new(l, Shape::flat(6), Shape::flat(4), true));
    });
    body.push(Residual::new(main, Some(short)));
    // Flatten/reshape between layers: [4] seen as [1, 2, 2] and back.
    body.push(dualmcmc::nn::activation::Reshape { to: Shape::image(1, 2, 2) });
    body.push(dualmcmc::nn::activation::Reshape { to: Shape::flat(4) });
    let mut net = Network::new(layout, body);
    check_gradients("residual blocks", &mut net, 4, 7, 400);
}

#[test]
fn skipping_parameter_gradients_leaves_them_untouched() {
    let (g, e) = (gpu(), engine());
    let mut net = mlp(&[4, 8, 2], Activation::Relu);
    net.allocate(g, 5, 1);
    let (x, y, dy, dx) =
        (g.upload(&random(1, 20, -1.0, 1.0)), g.zeros(10), g.upload(&random(2, 10, -1.0, 1.0)), g.zeros(20));
    g.submit(|enc| {
        net.zero_grads(e, enc);
        net.forward(e, enc, 5, &x, &y);
        net.backward(e, enc, 5, (&x, &y), Grad::input(&dy, &dx));
    });
    let grads: Vec<f32> = g.read(&net.bufs().grads).unwrap();
    assert!(grads.iter().all(|&v| v == 0.0), "parameter gradients written despite the skip flag");
    let dx: Vec<f32> = g.read(&dx).unwrap();
    assert!(dx.iter().any(|&v| v != 0.0), "input gradient missing");
}

#[test]
fn adam_steps_match_cpu_reference() {
    let (g, e) = (gpu(), engine());
    let n = 1031;
    let cfg = AdamConfig { lr: 3e-4, beta1: 0.0, beta2: 0.9, eps: 1e-8, weight_decay: 5e-4 };
    let mut p = random(1, n, -1.0, 1.0);
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    let (pb, gb, mb, vb) = (g.upload(&p), g.zeros(n), g.zeros(n), g.zeros(n));
    for t in 1..=5u64 {
        let grad = random(10 + t, n, -2.0, 2.0);
        g.write(&gb, &grad);
        g.submit(|enc| e.adam.step(enc, &cfg, t, &pb, &gb, &mb, &vb));
        adam::cpu::step(&cfg, t, &mut p, &grad, &mut m, &mut v);
    }
    let got: Vec<f32> = g.read(&pb).unwrap();
    for (i, (a, b)) in got.iter().zip(&p).enumerate() {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "param {i}: gpu {a}, cpu {b}");
    }
    let got_v: Vec<f32> = g.read(&vb).unwrap();
    for (a, b) in got_v.iter().zip(&v) {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-6));
    }
}

#[test]
fn spectral_norm_and_batch_norm_layers_gradients_match_finite_differences() {
    use dualmcmc::nn::Init;
    use dualmcmc::nn::batchnorm::BatchNormLayer;
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(5));
    layout.scoped("0", |l| {
        body.push(Linear::with_spectral_norm(l, Shape::flat(5), Shape::flat(6), true, true))
    });
    layout.scoped("1", |l| {
        body.push(BatchNormLayer::new(l, Shape::flat(6), Init::Normal { mean: 0.0, std: 1.0 }))
    });
    body.push(Act::new(Activation::LeakyRelu(0.2), Shape::flat(6)));
    layout.scoped("3", |l| {
        body.push(Linear::with_spectral_norm(l, Shape::flat(6), Shape::flat(2), false, true))
    });
    let mut net = Network::new(layout, body);
    let names: Vec<&str> = net.layout.tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"0.weight_orig") && names.contains(&"0.weight_u") && names.contains(&"1.running_var"),
        "{names:?}"
    );
    check_gradients("spectral norm + batch norm", &mut net, 4, 11, 400);
}

mod conv_nets {
    use super::*;
    use dualmcmc::nn::Init;
    use dualmcmc::nn::batchnorm::BatchNormLayer;
    use dualmcmc::nn::conv::{Conv2d, ConvSpec};
    use dualmcmc::nn::resample::{AvgPool2, GlobalAvgPool, Upsample2, UpsampleMode};

    #[test]
    fn three_layer_conv_network_gradients_match_finite_differences() {
        let mut layout = ParamLayout::new();
        let mut body = Sequential::new(Shape::image(2, 8, 8));
        layout.scoped("0", |l| {
            body.push(Conv2d::new(l, Shape::image(2, 8, 8), ConvSpec::same(3, 3).bias(true)))
        });
        body.push(Act::new(Activation::LeakyRelu(0.2), body.shape()));
        let s = body.shape();
        layout.scoped("2", |l| {
            body.push(Conv2d::new(l, s, ConvSpec::same(4, 4).stride(2, 1).spectral_norm(true)))
        });
        body.push(Act::new(Activation::Relu, body.shape()));
        let s = body.shape();
        layout.scoped("4", |l| body.push(Conv2d::new(l, s, ConvSpec::same(1, 4).stride(1, 0).bias(true))));
        assert_eq!(body.shape(), Shape::image(1, 1, 1));
        let mut net = Network::new(layout, body);
        check_gradients("3-layer conv net", &mut net, 2, 21, 300);
    }

    #[test]
    fn generator_up_block_gradients_match_finite_differences() {
        // BN → ReLU → bilinear ×2 → conv3×3 → BN → ReLU → conv3×3, shortcut ×2 → conv1×1.
        let input = Shape::image(3, 3, 3);
        let mut layout = ParamLayout::new();
        let (mut main, mut short) = (Sequential::new(input), Sequential::new(input));
        layout.scoped("block", |l| {
            main.push(BatchNormLayer::new(l, input, Init::Normal { mean: 0.0, std: 1.0 }));
            main.push(Act::new(Activation::Relu, input));
            main.push(Upsample2 { input, mode: UpsampleMode::BilinearAlignCorners });
            let s = main.shape();
            main.push(Conv2d::new(l, s, ConvSpec::same(4, 3).bias(true)));
            let s = main.shape();
            main.push(BatchNormLayer::new(l, s, Init::Normal { mean: 0.0, std: 1.0 }));
            main.push(Act::new(Activation::Relu, s));
            main.push(Conv2d::new(l, s, ConvSpec::same(4, 3).bias(true)));
            short.push(Upsample2 { input, mode: UpsampleMode::BilinearAlignCorners });
            let s = short.shape();
            short.push(Conv2d::new(l, s, ConvSpec::same(4, 1).bias(true)));
        });
        let mut body = Sequential::new(input);
        body.push(Residual::new(main, Some(short)));
        body.push(Act::new(Activation::Tanh, Shape::image(4, 6, 6)));
        let mut net = Network::new(layout, body);
        check_gradients("generator up-block", &mut net, 3, 22, 300);
    }

    #[test]
    fn ebm_down_block_and_head_gradients_match_finite_differences() {
        // ReLU → SN conv3×3 → ReLU → SN conv3×3 → avgpool, shortcut SN conv1×1 → avgpool;
        // head ReLU → global average pooling → SN linear.
        let input = Shape::image(2, 6, 6);
        let mut layout = ParamLayout::new();
        let (mut main, mut short) = (Sequential::new(input), Sequential::new(input));
        let sn = |c| ConvSpec::same(c, 3).spectral_norm(true);
        layout.scoped("block", |l| {
            main.push(Act::new(Activation::Relu, input));
            main.push(Conv2d::new(l, input, sn(3)));
            let s = main.shape();
            main.push(Act::new(Activation::Relu, s));
            main.push(Conv2d::new(l, s, sn(3)));
            main.push(AvgPool2 { input: main.shape() });
            short.push(Conv2d::new(l, input, ConvSpec::same(3, 1).spectral_norm(true)));
            short.push(AvgPool2 { input: short.shape() });
        });
        let mut body = Sequential::new(input);
        body.push(Residual::new(main, Some(short)));
        let s = body.shape();
        body.push(Act::new(Activation::Relu, s));
        body.push(GlobalAvgPool { input: s });
        layout.scoped("head", |l| {
            body.push(Linear::with_spectral_norm(l, Shape::flat(3), Shape::flat(1), false, true))
        });
        let mut net = Network::new(layout, body);
        check_gradients("EBM down-block + head", &mut net, 2, 23, 300);
    }
}
