//! Checkpoints: round trip, exact resume, atomic writes, PyTorch-style names, and clear
//! errors for other architectures and broken files.

mod common;
use common::{engine_arc, gpu, random, tiny_config};
use dualmcmc::checkpoint::{self, CheckpointError};
use dualmcmc::data::toy2d::Toy2d;
use dualmcmc::models::resnet;
use dualmcmc::models::{Models, mlp::mlp};
use dualmcmc::nn::Shape;
use dualmcmc::nn::activation::Activation;
use dualmcmc::nn::resample::UpsampleMode;
use dualmcmc::train::Trainer;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::path::Path;

/// MLPs on 2-D data; `ebm_hidden` varies the architecture.
fn mlp_trainer(ebm_hidden: usize) -> Trainer {
    let cfg = tiny_config(8, 2);
    let act = Activation::LeakyRelu(0.2);
    let models = Models {
        ebm: mlp(2, &[ebm_hidden], 1, act),
        generator: mlp(2, &[5], 2, Activation::Tanh),
        inference: mlp(2, &[4], 4, act),
    };
    Trainer::new(engine_arc(), cfg, models).unwrap()
}

fn mlp_batch(t: &Trainer, i: u32) -> Vec<f32> {
    Toy2d::EightGaussians.sample(t.cfg.batch_size, u64::from(i)).into_iter().flatten().collect()
}

/// The paper's networks at toy size on 1×4×4 images: spectral norm (state u, v, σ) in the
/// EBM, batch norm (running statistics) in the generator.
/// It keeps moving averages of the weights, so that they round-trip too.
fn conv_trainer() -> Trainer {
    let cfg = dualmcmc::train::TrainConfig { ema_decay: 0.99, ..tiny_config(3, 2) };
    let image = Shape::image(1, 4, 4);
    let models = Models {
        ebm: resnet::ebm(image, &[3], &[true]),
        generator: resnet::generator(2, 2, &[3, 2], 1, UpsampleMode::BilinearAlignCorners),
        inference: resnet::inference(image, &[2, 3], 2),
    };
    Trainer::new(engine_arc(), cfg, models).unwrap()
}

fn conv_batch(t: &Trainer, i: u32) -> Vec<f32> {
    random(1000 + u64::from(i), t.cfg.batch_size * t.data_size(), -1.0, 1.0)
}

/// The data batch of iteration `i`: the same whether a run was resumed or not.
type Batch = fn(&Trainer, u32) -> Vec<f32>;

fn train(t: &mut Trainer, batch: Batch, iterations: u32) {
    for _ in 0..iterations {
        let x = batch(t, t.iteration);
        t.iteration(&x).unwrap();
    }
}

/// One network's parameters, Adam moments m and v, state and average as bits, and its Adam
/// steps.
type NetBits = (Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>, Option<Vec<u32>>, u64);

/// Every saved buffer of the three networks.
fn snapshot(t: &Trainer) -> Vec<NetBits> {
    let m = &t.models;
    [&m.ebm, &m.generator, &m.inference]
        .into_iter()
        .map(|n| {
            let b = n.bufs();
            let read = |buf| gpu().read::<u32>(buf).unwrap();
            let average = b.average.as_ref().map(|a| read(&a.params));
            (read(&b.params), read(&b.adam_m), read(&b.adam_v), read(&b.state), average, b.adam_t)
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn round_trip(build: fn() -> Trainer, batch: Batch) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let mut t = build();
    train(&mut t, batch, 3);
    t.set_epoch(2);
    let extra = serde_json::json!({ "model": "tiny", "preset": "test" });
    checkpoint::save(&path, &t, &extra).unwrap();

    let meta = checkpoint::read_metadata(&path).unwrap();
    assert_eq!(meta.config, t.cfg);
    assert_eq!((meta.iteration, meta.epoch, meta.adam_t), (3, 2, [3, 3, 3]));
    assert_eq!(meta.extra, extra);

    let mut fresh = build();
    assert_ne!(snapshot(&fresh), snapshot(&t), "the test needs a trainer that differs before loading");
    checkpoint::load(&path, &mut fresh).unwrap();
    assert_eq!(snapshot(&fresh), snapshot(&t), "parameters, moments, state or adam_t differ after loading");
    assert_eq!((fresh.iteration, fresh.epoch), (3, 2));
}

#[test]
fn round_trip_restores_every_buffer_bit_for_bit() {
    round_trip(|| mlp_trainer(6), mlp_batch);
}

#[test]
fn round_trip_restores_spectral_norm_and_batch_norm_state() {
    round_trip(conv_trainer, conv_batch);
}

/// 2N iterations straight, against N, save, load into a fresh trainer, N more.
fn resume_is_exact(build: fn() -> Trainer, batch: Batch) {
    const N: u32 = 5;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.safetensors");

    let mut straight = build();
    train(&mut straight, batch, N);
    straight.set_epoch(1); // the learning-rate schedule must come back too
    train(&mut straight, batch, N);

    let mut first = build();
    train(&mut first, batch, N);
    first.set_epoch(1);
    checkpoint::save(&path, &first, &serde_json::Value::Null).unwrap();
    drop(first);
    let mut resumed = build();
    checkpoint::load(&path, &mut resumed).unwrap();
    train(&mut resumed, batch, N);

    assert_eq!(resumed.iteration, 2 * N);
    assert_eq!(snapshot(&resumed), snapshot(&straight), "a resumed run differs from a straight one");
}

#[test]
fn a_resumed_run_is_bit_identical_to_a_straight_one() {
    resume_is_exact(|| mlp_trainer(6), mlp_batch);
}

#[test]
fn a_resumed_run_of_the_convolutional_networks_is_bit_identical() {
    resume_is_exact(conv_trainer, conv_batch);
}

#[test]
fn tensors_carry_pytorch_names_and_shapes_under_the_network_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("names.safetensors");
    let t = conv_trainer();
    checkpoint::save(&path, &t, &serde_json::Value::Null).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let shape =
        |name: &str| st.tensor(name).unwrap_or_else(|_| panic!("no tensor `{name}`")).shape().to_vec();
    assert_eq!(shape("ebm.blocks.0.c1.weight_orig"), [3, 1, 3, 3]);
    assert_eq!(shape("ebm.blocks.0.c1.weight_u"), [3]);
    assert_eq!(shape("ebm.blocks.0.c1.weight_v"), [9]);
    assert_eq!(shape("ebm.l_out.weight_orig"), [1, 3]);
    assert_eq!(shape("generator.l1.weight"), [3 * 2 * 2, 2]);
    assert_eq!(shape("generator.blocks.0.b1.running_var"), [3]);
    assert_eq!(shape("inference.convs.1.weight"), [3, 2, 4, 4]);
    assert_eq!(shape("inference.head.bias"), [4]);
    assert_eq!(shape("optim.ebm.blocks.0.c1.weight_orig.exp_avg"), [3, 1, 3, 3]);
    assert_eq!(shape("optim.generator.l1.weight.exp_avg_sq"), [12, 2]);
    assert!(st.tensor("optim.ebm.blocks.0.c1.weight_u.exp_avg").is_err(), "state has no optimiser moments");
    assert_eq!(shape("ema.ebm.blocks.0.c1.weight_orig"), [3, 1, 3, 3]);
    assert!(st.tensor("ema.ebm.blocks.0.c1.weight_u").is_err(), "state is not averaged");

    // Version 2: our bookkeeping under its own prefix, PyTorch's batch-norm counter as I64.
    assert_eq!(shape("dualmcmc.ebm.blocks.0.c1.weight_sigma"), [1]);
    assert_eq!(shape("dualmcmc.ebm.blocks.0.c1.weight_sn_scratch"), [3 + 9]);
    assert!(st.tensor("ebm.blocks.0.c1.weight_sigma").is_err(), "σ is not PyTorch's");
    let count = st.tensor("generator.blocks.0.b1.num_batches_tracked").unwrap();
    assert_eq!((count.dtype(), count.shape()), (Dtype::I64, &[][..]));
    assert_eq!(count.data(), 0i64.to_le_bytes(), "a fresh trainer has taken no steps");

    // Exactly the layouts' tensors, every one F32 but the counters, and nothing else.
    let m = &t.models;
    let mut want: Vec<String> = Vec::new();
    for (net, n) in [("ebm", &m.ebm), ("generator", &m.generator), ("inference", &m.inference)] {
        for spec in &n.layout.tensors {
            match spec.torch {
                true => want.push(format!("{net}.{}", spec.name)),
                false => want.push(format!("dualmcmc.{net}.{}", spec.name)),
            }
            if let Some(bn) = spec.name.strip_suffix(".running_mean") {
                want.push(format!("{net}.{bn}.num_batches_tracked"));
            }
            if spec.kind == dualmcmc::nn::Kind::Param {
                want.push(format!("optim.{net}.{}.exp_avg", spec.name));
                want.push(format!("optim.{net}.{}.exp_avg_sq", spec.name));
                want.push(format!("ema.{net}.{}", spec.name));
            }
        }
    }
    want.sort();
    let mut got: Vec<String> = st.names().into_iter().map(String::from).collect();
    got.sort();
    assert_eq!(got, want);
    for (name, v) in st.tensors() {
        let want = if name.ends_with("num_batches_tracked") { Dtype::I64 } else { Dtype::F32 };
        assert_eq!(v.dtype(), want, "{name}");
    }
}

/// `path` rewritten as format version 1 wrote it: our bookkeeping among the network's
/// tensors, no `num_batches_tracked`.
fn as_version_1(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
        .map(|(n, v)| (n.strip_prefix("dualmcmc.").map(String::from).unwrap_or(n), v))
        .collect();
    let mut meta = header.metadata().clone().unwrap();
    meta.insert("format_version".into(), "1".into());
    std::fs::write(path, safetensors::serialize(tensors, Some(meta)).unwrap()).unwrap();
}

#[test]
fn a_version_1_checkpoint_still_loads_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.safetensors");
    let mut t = conv_trainer();
    train(&mut t, conv_batch, 2);
    checkpoint::save(&path, &t, &serde_json::Value::Null).unwrap();
    as_version_1(&path);
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.tensor("ebm.blocks.0.c1.weight_sigma").is_ok(), "the rewrite made a version 1 file");
    assert_eq!(checkpoint::read_metadata(&path).unwrap().format_version, 1);
    let mut fresh = conv_trainer();
    checkpoint::load(&path, &mut fresh).unwrap();
    assert_eq!(snapshot(&fresh), snapshot(&t));
}

#[test]
fn a_version_2_checkpoint_without_our_bookkeeping_loads_and_resumes_exactly() {
    // What a writer that knows only PyTorch's state_dicts produces (python/dualmcmc_torch).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torch.safetensors");
    let (mut straight, mut first) = (conv_trainer(), conv_trainer());
    train(&mut straight, conv_batch, 4);
    train(&mut first, conv_batch, 2);
    checkpoint::save(&path, &first, &serde_json::Value::Null).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    rewrite(&path, &bytes, |name, v| match name.starts_with("dualmcmc.") {
        true => vec![],
        false => vec![(name.into(), v)],
    });
    let mut resumed = conv_trainer();
    checkpoint::load(&path, &mut resumed).unwrap();
    train(&mut resumed, conv_batch, 2);
    assert_eq!(snapshot(&resumed), snapshot(&straight), "σ and scratch are working values only");
}

#[test]
fn a_version_2_checkpoint_without_a_batch_norm_counter_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nocount.safetensors");
    checkpoint::save(&path, &conv_trainer(), &serde_json::Value::Null).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    rewrite(&path, &bytes, |name, v| match name == "generator.b_out.num_batches_tracked" {
        true => vec![],
        false => vec![(name.into(), v)],
    });
    let err = checkpoint::load(&path, &mut conv_trainer()).unwrap_err().to_string();
    assert!(
        err.contains("nocount.safetensors") && err.contains("`generator.b_out.num_batches_tracked`"),
        "{err}"
    );
}

#[test]
fn saving_over_a_checkpoint_replaces_it_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let mut t = mlp_trainer(6);
    checkpoint::save(&path, &t, &serde_json::Value::Null).unwrap();
    train(&mut t, mlp_batch, 2);
    checkpoint::save(&path, &t, &serde_json::Value::Null).unwrap();
    assert_eq!(
        checkpoint::read_metadata(&path).unwrap().iteration,
        2,
        "the new checkpoint did not replace the old"
    );
    assert_eq!(files_in(dir.path()), ["run.safetensors"]);

    // A relative path in the working directory works too (its parent is "").
    let rel = format!("checkpoint-test-{}.safetensors", std::process::id());
    checkpoint::save(&rel, &t, &serde_json::Value::Null).unwrap();
    assert_eq!(checkpoint::read_metadata(&rel).unwrap().iteration, 2);
    std::fs::remove_file(&rel).unwrap();
}

#[test]
fn a_failed_save_leaves_nothing_behind_and_the_old_checkpoint_intact() {
    let dir = tempfile::tempdir().unwrap();
    let t = mlp_trainer(6);

    let missing = dir.path().join("no-such-dir").join("run.safetensors");
    let err = checkpoint::save(&missing, &t, &serde_json::Value::Null).unwrap_err();
    assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
    assert!(err.to_string().contains("no-such-dir"), "the error must name the file: {err}");
    assert!(files_in(dir.path()).is_empty(), "a failed save left {:?}", files_in(dir.path()));

    // The target is a directory: the rename fails, the temporary file goes, the old stays.
    let target = dir.path().join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"old").unwrap();
    let err = checkpoint::save(&target, &t, &serde_json::Value::Null).unwrap_err();
    assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
    assert_eq!(files_in(dir.path()), ["taken"]);
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"old");
}

#[test]
fn loading_another_architecture_names_the_tensor_and_both_shapes_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("six.safetensors");
    checkpoint::save(&path, &mlp_trainer(6), &serde_json::Value::Null).unwrap();

    let mut other = mlp_trainer(8);
    let before = snapshot(&other);
    let err = checkpoint::load(&path, &mut other).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CheckpointError::Architecture { .. }), "{msg}");
    assert!(msg.contains("six.safetensors") && msg.contains("different architecture"), "{msg}");
    assert!(msg.contains("`ebm.net.0.weight` has shape [8, 2] here, [6, 2] in the file"), "{msg}");
    assert_eq!(snapshot(&other), before, "a failed load must leave the trainer as it was");
    assert_eq!(other.iteration, 0);

    // Another architecture entirely: the first tensor of the layout is missing from the file.
    let err = checkpoint::load(&path, &mut conv_trainer()).unwrap_err().to_string();
    assert!(err.contains("tensor `ebm.blocks.0.c1.weight_orig` is missing from the file"), "{err}");
}

#[test]
fn a_checkpoint_with_a_tensor_too_many_is_another_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    checkpoint::save(&path, &mlp_trainer(6), &serde_json::Value::Null).unwrap();
    let extra = [0u8; 8];
    let bytes = std::fs::read(&path).unwrap();
    rewrite(&path, &bytes, |name, v| match name {
        "ebm.net.0.bias" => {
            vec![
                (name.into(), v),
                ("ebm.net.9.bias".into(), TensorView::new(Dtype::F32, vec![2], &extra).unwrap()),
            ]
        }
        _ => vec![(name.into(), v)],
    });
    let err = checkpoint::load(&path, &mut mlp_trainer(6)).unwrap_err().to_string();
    assert!(err.contains("the file has tensor `ebm.net.9.bias`, which this `ebm` lacks"), "{err}");
}

#[test]
fn a_tensor_of_another_dtype_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    checkpoint::save(&path, &mlp_trainer(6), &serde_json::Value::Null).unwrap();
    // ebm.net.0.bias [6] as F64.
    let f64_bias = [0u8; 6 * 8];
    let bytes = std::fs::read(&path).unwrap();
    rewrite(&path, &bytes, |name, v| match name {
        "ebm.net.0.bias" => vec![(name.into(), TensorView::new(Dtype::F64, vec![6], &f64_bias).unwrap())],
        _ => vec![(name.into(), v)],
    });
    let err = checkpoint::load(&path, &mut mlp_trainer(6)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CheckpointError::Dtype { .. }), "{msg}");
    assert!(
        msg.contains("run.safetensors") && msg.contains("`ebm.net.0.bias`") && msg.contains("F64"),
        "{msg}"
    );
}

/// Rewrites the safetensors file `path` (whose content is `bytes`) tensor by tensor through
/// `f`, keeping its metadata.
fn rewrite<'a>(
    path: &Path,
    bytes: &'a [u8],
    f: impl Fn(&str, TensorView<'a>) -> Vec<(String, TensorView<'a>)>,
) {
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let st = SafeTensors::deserialize(bytes).unwrap();
    let tensors: Vec<(String, TensorView)> = st.tensors().into_iter().flat_map(|(n, v)| f(&n, v)).collect();
    let out = safetensors::serialize(tensors, header.metadata().clone()).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn missing_truncated_and_foreign_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    checkpoint::save(&good, &mlp_trainer(6), &serde_json::Value::Null).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let mut t = mlp_trainer(6);

    let missing = dir.path().join("absent.safetensors");
    for err in
        [checkpoint::load(&missing, &mut t).unwrap_err(), checkpoint::read_metadata(&missing).unwrap_err()]
    {
        assert!(matches!(err, CheckpointError::Read { .. }), "{err}");
        assert!(err.to_string().contains("absent.safetensors"), "{err}");
    }

    let cases: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("truncated-header", bytes[..20].to_vec()),
        ("truncated-data", bytes[..bytes.len() - 5].to_vec()),
        ("garbage", random(3, 1000, 0.0, 1.0).iter().flat_map(|v| v.to_le_bytes()).collect()),
        ("text", b"{\"not\": \"a checkpoint\"}\n".to_vec()),
    ];
    for (name, content) in cases {
        let p = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&p, content).unwrap();
        for err in [checkpoint::load(&p, &mut t).unwrap_err(), checkpoint::read_metadata(&p).unwrap_err()] {
            let msg = err.to_string();
            assert!(matches!(err, CheckpointError::NotSafetensors { .. }), "{name}: {msg}");
            assert!(
                msg.contains(&format!("{name}.safetensors")) && msg.contains("truncated"),
                "{name}: {msg}"
            );
        }
    }

    // A valid safetensors file that is not one of ours.
    let foreign = dir.path().join("foreign.safetensors");
    let data = [0u8; 16];
    let tensors = [("w", TensorView::new(Dtype::F32, vec![2, 2], &data).unwrap())];
    std::fs::write(&foreign, safetensors::serialize(tensors, None).unwrap()).unwrap();
    let err = checkpoint::load(&foreign, &mut t).unwrap_err();
    assert!(matches!(err, CheckpointError::Metadata { .. }), "{err}");
    assert!(
        err.to_string().contains("foreign.safetensors") && err.to_string().contains("no metadata"),
        "{err}"
    );

    assert_eq!(t.iteration, 0, "failed loads must not touch the trainer");
}

#[test]
fn a_checkpoint_of_another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.safetensors");
    checkpoint::save(&path, &mlp_trainer(6), &serde_json::Value::Null).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.insert("format_version".into(), "3".into());
    std::fs::write(&path, safetensors::serialize(st.tensors(), Some(meta)).unwrap()).unwrap();
    let err = checkpoint::read_metadata(&path).unwrap_err().to_string();
    assert!(err.contains("v3.safetensors") && err.contains("format version 3"), "{err}");
}
