//! The paper's networks built from docs/reference.md: parameter counts within 1% of the
//! reference figures, shapes end to end. Needs no GPU.

use dualmcmc::models::resnet::{ebm, generator, inference};
use dualmcmc::nn::Shape;
use dualmcmc::nn::resample::UpsampleMode::BilinearAlignCorners as Bilinear;

fn within_one_percent(what: &str, got: usize, want: f64) {
    let rel = (got as f64 - want).abs() / want;
    assert!(rel < 0.01, "{what}: {got} parameters, reference ≈ {want} ({:.2}% off)", rel * 100.0);
}

#[test]
fn cifar10_networks_match_the_reference_sizes() {
    let g = generator(128, 4, &[512, 512, 512, 512], 3, Bilinear);
    assert_eq!(g.out_shape(), Shape::image(3, 32, 32));
    within_one_percent("CIFAR-10 generator", g.num_params(), 16.0e6);
    let e = ebm(Shape::image(3, 32, 32), &[512, 512, 512, 512], &[true, true, false, false]);
    assert_eq!(e.out_shape(), Shape::flat(1));
    within_one_percent("CIFAR-10 EBM", e.num_params(), 16.8e6);
    let q = inference(Shape::image(3, 32, 32), &[128, 256, 512, 1024], 128);
    assert_eq!(q.out_shape(), Shape::image(256, 1, 1));
    within_one_percent("CIFAR-10 inference model", q.num_params(), 15.2e6);
}

#[test]
fn celeba64_networks_match_the_reference_sizes() {
    let g = generator(128, 4, &[1024, 512, 256, 128, 64], 3, Bilinear);
    assert_eq!(g.out_shape(), Shape::image(3, 64, 64));
    within_one_percent("CelebA-64 generator", g.num_params(), 12.2e6);
    let e = ebm(Shape::image(3, 64, 64), &[64, 128, 256, 512, 1024], &[true; 5]);
    assert_eq!(e.out_shape(), Shape::flat(1));
    within_one_percent("CelebA-64 EBM", e.num_params(), 19.5e6);
    let q = inference(Shape::image(3, 64, 64), &[128, 256, 512, 1024, 1024], 128);
    assert_eq!(q.out_shape(), Shape::image(256, 1, 1));
}

#[test]
fn parameter_names_follow_pytorch_conventions() {
    let e = ebm(Shape::image(3, 32, 32), &[512, 512, 512, 512], &[true, true, false, false]);
    let names: Vec<&str> = e.layout.tensors.iter().map(|t| t.name.as_str()).collect();
    for want in
        ["blocks.0.c1.weight_orig", "blocks.0.c1.weight_u", "blocks.1.c_sc.weight_orig", "l_out.weight_orig"]
    {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("blocks.2.c_sc")), "block 2 keeps width: identity shortcut");
    let w = e.layout.tensors.iter().find(|t| t.name == "blocks.0.c1.weight_orig").unwrap();
    assert_eq!(w.shape, vec![512, 3, 3, 3], "conv weights are [out, in, kh, kw]");
    let g = generator(128, 4, &[512, 512, 512, 512], 3, Bilinear);
    let l1 = g.layout.tensors.iter().find(|t| t.name == "l1.weight").unwrap();
    assert_eq!(l1.shape, vec![8192, 128], "linear weights are [out, in]");
}
