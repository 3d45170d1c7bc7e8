//! The Fréchet distance's feature network: its features against the CPU reference, training
//! on a task with a known answer, determinism, the file round trip, and the accuracy of the
//! shipped Fashion-MNIST weights on the shipped test set.

mod common;
use common::{assert_close, engine_arc, random};
use dualmcmc::data::ImageSet;
use dualmcmc::eval::feature_net::{
    ClassifierTraining, FeatureNet, FeatureNetInfo, FeatureNetSpec, train_classifier,
};
use std::path::Path;

const SPEC: FeatureNetSpec = FeatureNetSpec { input: [1, 8, 8], width: 4, features: 12, classes: 3 };

/// 3 classes of 8×8 pictures: a horizontal bar, a vertical bar, a diagonal, at varying
/// positions and with noise; `n` images.
fn bars(n: usize, seed: u64) -> ImageSet {
    let noise = random(seed, n * 64, 0.0, 60.0);
    let mut pixels = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (class, at) = (i % 3, (i / 3) % 6 + 1);
        for r in 0..8 {
            for c in 0..8 {
                let on = match class {
                    0 => r == at,
                    1 => c == at,
                    _ => (r + 8 - c) % 8 == at % 3,
                };
                pixels.push(if on { 230 } else { noise[i * 64 + r * 8 + c] as u8 });
            }
        }
        labels.push(class as u8);
    }
    ImageSet::new(1, 8, 8, pixels, Some(labels))
}

#[test]
fn features_match_the_cpu_reference() {
    let net = FeatureNet::new(engine_arc(), SPEC, 16, 7).unwrap();
    let x = random(3, 5 * 64, -1.0, 1.0);
    let got = net.features(&x).unwrap();
    let trunk = net.trunk();
    let v = trunk.read_values(&engine_arc().gpu).unwrap();
    let f64s = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
    let want = trunk.cpu_forward(&f64s(&v.params), &f64s(&v.state), 5, &f64s(&x));
    assert_eq!(got.len(), 5 * SPEC.features);
    assert_close("features", &got, &want, 1e-5, 1e-4);
}

#[test]
fn training_learns_a_separable_task_deterministically_and_the_file_round_trips() {
    let (train, test) = (bars(96, 1), bars(60, 2));
    let cfg = ClassifierTraining { epochs: 30, batch_size: 16, lr: 3e-3, lr_decay: 0.95, seed: 5 };
    let trained = |seed| {
        let mut net = FeatureNet::new(engine_arc(), SPEC, 16, seed).unwrap();
        let mut losses = Vec::new();
        train_classifier(&mut net, &train, &cfg, |_, _, loss, _| losses.push(loss)).unwrap();
        (net, (losses[0], losses[losses.len() - 1]))
    };
    let (mut net, (first, loss)) = trained(11);
    // ln 3 ≈ 1.1 at the start; the mean of the last 50 batches well below.
    assert!(first > 0.9 && loss < 0.3, "mean loss {first} at the start, {loss} at the end");
    let here = Path::new("bars");
    let before = net.accuracy(&test, here).unwrap();
    assert!(before >= 0.95, "held-out accuracy {before}, final loss {loss}");

    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let info =
        FeatureNetInfo { trained_on: "bars".into(), test_accuracy: Some(before), training: "test".into() };
    net.save(&a, &info).unwrap();
    let gpu = &engine_arc().gpu;
    let again = trained(11).0;
    let same = net.trunk().read_values(gpu).unwrap() == again.trunk().read_values(gpu).unwrap();
    assert!(same, "the same seed gave different weights");

    let (mut loaded, got_info) = FeatureNet::load(engine_arc(), &a, 8).unwrap();
    assert_eq!(loaded.spec, SPEC);
    assert_eq!(got_info.test_accuracy.map(|x| (x * 1e4).round()), Some((before * 1e4).round()));
    let x = random(4, 20 * 64, -1.0, 1.0);
    assert_eq!(loaded.features(&x).unwrap(), net.features(&x).unwrap());
    assert_eq!(loaded.accuracy(&test, &a).unwrap(), before);
}

#[test]
fn bad_feature_network_files_are_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file").unwrap();
    let err = FeatureNet::load(engine_arc(), &junk, 4).err().unwrap().to_string();
    assert!(err.contains("junk.safetensors"), "{err}");
    let missing = dir.path().join("missing.safetensors");
    let err = FeatureNet::load(engine_arc(), &missing, 4).err().unwrap().to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
    // Images of another shape than the network takes.
    let net = FeatureNet::new(engine_arc(), SPEC, 4, 1).unwrap();
    let err = net.features_checked(&[0.0; 2 * 64], [2, 8, 4], &junk).unwrap_err().to_string();
    assert!(err.contains("[1, 8, 8]") && err.contains("junk.safetensors"), "{err}");
}

#[test]
fn the_shipped_fashion_mnist_classifier_reaches_88_percent_on_the_shipped_test_set() {
    let path = dualmcmc::eval::feature_net::shipped_path().expect("assets/feature-net/ ships the weights");
    let (mut net, info) = FeatureNet::load(engine_arc(), &path, 500).unwrap();
    let (test, _) = dualmcmc::data::fashion_mnist(false).unwrap();
    assert_eq!(test.len(), 10_000);
    let accuracy = net.accuracy(&test, &path).unwrap();
    assert!(accuracy >= 0.88, "test accuracy {accuracy}");
    // The accuracy recorded in the file is the one measured here (same adapter kind: up to
    // a handful of images whose top two scores are within rounding).
    let recorded = info.test_accuracy.expect("the file records its test accuracy");
    assert!((recorded - accuracy).abs() <= 0.002, "recorded {recorded}, measured {accuracy}");
}
