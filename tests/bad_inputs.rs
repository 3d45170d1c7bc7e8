//! A corpus of bad inputs run through the real binary, as a user would meet them: flags,
//! `--set` overrides, configuration files, sizes the device cannot hold, run folders,
//! checkpoints, `.npy` files, IDX files, image folders and CIFAR-10 batches.
//!
//! For each input: exit code 2 for usage errors (the command line or a configuration) and 1
//! for the rest, an error that names the file or key, no panic, and no file written or
//! changed anywhere under the test's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::npy_bytes;

/// Exit code of a usage error (the command line or a configuration is wrong).
const USAGE: i32 = 2;
/// Exit code of the other errors (data, checkpoints, run folders, the device, resources).
const RUNTIME: i32 = 1;

struct Case {
    args: Vec<String>,
    code: i32,
    /// What the error message must contain (a file, a key, a flag).
    says: Vec<String>,
}

fn case(args: &[&str], code: i32, says: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        says: says.iter().map(|s| s.to_string()).collect(),
    }
}

/// Every file under `dir` with its contents (what no failed command may change).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.insert(path.clone(), Vec::new());
                todo.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn run(root: &Path, args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dualmcmc"))
        .current_dir(root)
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env_remove("DUALMCMC_ADAPTER")
        .env_remove("DUALMCMC_BACKEND")
        .output()
        .expect("the dualmcmc binary runs")
}

/// The bytes of an IDX file: `magic` (0x803 images, 0x801 labels), dimensions, `body`.
fn idx(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(body);
    bytes
}

/// A PNG that says it is `side`×`side` grey pixels and holds only its first row: an image
/// too large to decode has to be refused from its header.
fn png_header_only(side: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        c.extend(crc.sum().to_be_bytes());
        c
    };
    let mut ihdr = side.to_be_bytes().to_vec();
    ihdr.extend(side.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut row = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut row, &vec![0u8; side as usize + 1]).unwrap();
    let idat = row.finish().unwrap();
    [b"\x89PNG\r\n\x1a\n".to_vec(), chunk(b"IHDR", &ihdr), chunk(b"IDAT", &idat), chunk(b"IEND", &[])]
        .concat()
}

fn png(path: &Path, side: u32) {
    image::GrayImage::from_pixel(side, side, image::Luma([128])).save(path).unwrap();
}

/// The Fashion-MNIST preset with its `[data]` table replaced.
fn image_config(data: &str) -> String {
    let preset = include_str!("../assets/presets/fmnist.toml");
    let model = &preset[preset.find("[model]").unwrap()..];
    format!("[data]\n{data}\n\n{model}")
}

/// The fixtures: a trained toy run, broken copies of it, and bad data files.
fn fixtures(root: &Path) {
    let write = |name: &str, bytes: &[u8]| {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    let toy = [
        "--no-gui",
        "train",
        "--preset",
        "toy2d",
        "--quiet",
        "--out",
        "runs/toy",
        "--set",
        "model.hidden=8",
        "--set",
        "train.batch_size=16",
        "--set",
        "schedule.grid=4",
        "--set",
        "schedule.eval_every=0",
        "--set",
        "schedule.iterations=2",
        "--set",
        "schedule.images_every=0",
    ];
    let out = run(root, &toy.map(String::from));
    assert!(out.status.success(), "the toy run trains: {}", String::from_utf8_lossy(&out.stderr));
    let config = std::fs::read(root.join("runs/toy/config.toml")).unwrap();
    let checkpoint = std::fs::read(root.join("runs/toy/checkpoint.safetensors")).unwrap();

    write("runs/no-config/checkpoint.safetensors", &checkpoint);
    write("runs/no-checkpoint/config.toml", &config);
    write("runs/bad-config/config.toml", b"[train\nbatch_size = ");
    write("runs/bad-config/checkpoint.safetensors", &checkpoint);
    write("runs/short-checkpoint/config.toml", &config);
    write("runs/short-checkpoint/checkpoint.safetensors", &checkpoint[..checkpoint.len() / 2]);
    write("runs/garbage-checkpoint/config.toml", &config);
    write("runs/garbage-checkpoint/checkpoint.safetensors", &[0x5a; 4096]);
    write("runs/empty-checkpoint/config.toml", &config);
    write("runs/empty-checkpoint/checkpoint.safetensors", b"");
    let wider = String::from_utf8(config.clone()).unwrap().replace("hidden = 8", "hidden = 16");
    write("runs/other-architecture/config.toml", wider.as_bytes());
    write("runs/other-architecture/checkpoint.safetensors", &checkpoint);
    std::fs::create_dir_all(root.join("runs/empty")).unwrap();

    let good = npy_bytes(&[3, 2], &[0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6], false);
    write("in/good.npy", &good);
    write("in/one.npy", &npy_bytes(&[1, 2], &[0.1f32, 0.2], false));
    write("in/text.npy", b"0.1, 0.2\n0.3, 0.4\n");
    write("in/fortran.npy", &npy_bytes(&[3, 2], &[0.1f32; 6], true));
    write("in/ints.npy", &npy_bytes(&[3, 2], &[1i32; 6], false));
    write("in/three.npy", &npy_bytes(&[2, 3], &[0.1f32; 6], false));
    write("in/nan.npy", &npy_bytes(&[3, 2], &[0.1f32, f32::NAN, 0.3, 0.4, 0.5, 0.6], false));
    write("in/inf.npy", &npy_bytes(&[3, 2], &[0.1f32, 0.2, f32::INFINITY, 0.4, 0.5, 0.6], false));
    write("in/empty.npy", &npy_bytes::<f32>(&[0, 2], &[], false));
    write("in/short.npy", &good[..good.len() - 3]);
    write("in/empty-file.npy", b"");
    write("in/images-255.npy", &npy_bytes(&[2, 1, 28, 28], &[255.0f32; 2 * 784], false));
    std::fs::create_dir_all(root.join("in/a-folder.npy")).unwrap();

    write("cfg/syntax.toml", b"[train]\nbatch_size = = 3\n");
    write("cfg/empty.toml", b"");
    write("cfg/binary.toml", &[0xff, 0xfe, 0x00, 0x81, 0x13]);
    let toy_preset = include_str!("../assets/presets/toy2d.toml");
    write("cfg/unknown-key.toml", format!("{toy_preset}\n[extra]\nfoo = 1\n").as_bytes());
    write(
        "cfg/wrong-type.toml",
        toy_preset.replacen("batch_size = ", "batch_size = \"many\" #", 1).as_bytes(),
    );
    write(
        "cfg/unknown-toy.toml",
        toy_preset.replacen("toy = \"8gaussians\"", "toy = \"9gaussians\"", 1).as_bytes(),
    );
    write("cfg/unknown-kind.toml", image_config("kind = \"mnist-ish\"").as_bytes());

    let images = |n: u32, side: u32| idx(0x803, &[n, side, side], &vec![7u8; (n * side * side) as usize]);
    write("data/ok-images.idx", &images(40, 28));
    write("data/short-images.idx", &images(40, 28)[..1000]);
    write("data/bad-magic.idx", &idx(0x1234, &[40, 28, 28], &[0; 40 * 784]));
    write("data/labels-10.idx", &idx(0x801, &[10], &[1; 10]));
    write("data/corrupt.idx.gz", b"\x1f\x8b\x08\x00this is not deflate");
    write("data/not-28.idx", &images(40, 30));
    write("data/cifar/data_batch_1.bin", &[0u8; 3073 * 2 + 5]);
    std::fs::create_dir_all(root.join("data/cifar-empty")).unwrap();
    std::fs::create_dir_all(root.join("data/folder-empty")).unwrap();
    std::fs::create_dir_all(root.join("data/folder-corrupt")).unwrap();
    write("data/folder-corrupt/broken.png", b"\x89PNG\r\n\x1a\nnot really");
    write("data/folder-huge/huge.png", &png_header_only(20_000));
    std::fs::create_dir_all(root.join("data/folder-mixed")).unwrap();
    png(&root.join("data/folder-mixed/a.png"), 28);
    png(&root.join("data/folder-mixed/b.png"), 32);
    std::fs::create_dir_all(root.join("data/folder-ok")).unwrap();
    for i in 0..4 {
        png(&root.join(format!("data/folder-ok/{i}.png")), 28);
    }

    let data_config =
        |name: &str, data: &str| write(&format!("cfg/{name}.toml"), image_config(data).as_bytes());
    data_config("idx-missing", "kind = \"idx\"\nimages = \"data/no-such.idx\"");
    data_config("idx-short", "kind = \"idx\"\nimages = \"data/short-images.idx\"");
    data_config("idx-magic", "kind = \"idx\"\nimages = \"data/bad-magic.idx\"");
    data_config("idx-gz", "kind = \"idx\"\nimages = \"data/corrupt.idx.gz\"");
    data_config(
        "idx-labels",
        "kind = \"idx\"\nimages = \"data/ok-images.idx\"\nlabels = \"data/labels-10.idx\"",
    );
    data_config("idx-30", "kind = \"idx\"\nimages = \"data/not-28.idx\"");
    data_config("cifar-missing", "kind = \"cifar10\"\npath = \"data/no-cifar\"");
    data_config("cifar-size", "kind = \"cifar10\"\npath = \"data/cifar/data_batch_1.bin\"");
    data_config("cifar-empty", "kind = \"cifar10\"\npath = \"data/cifar-empty\"");
    data_config("folder-missing", "kind = \"image-folder\"\npath = \"data/no-folder\"\nchannels = 1");
    data_config("folder-empty", "kind = \"image-folder\"\npath = \"data/folder-empty\"\nchannels = 1");
    data_config("folder-corrupt", "kind = \"image-folder\"\npath = \"data/folder-corrupt\"\nchannels = 1");
    data_config("folder-huge", "kind = \"image-folder\"\npath = \"data/folder-huge\"\nchannels = 1");
    data_config("folder-mixed", "kind = \"image-folder\"\npath = \"data/folder-mixed\"\nchannels = 1");
    data_config(
        "folder-crop",
        "kind = \"image-folder\"\npath = \"data/folder-ok\"\nchannels = 1\ncrop = [0, 0, 40, 40]",
    );
    data_config("folder-channels", "kind = \"image-folder\"\npath = \"data/folder-ok\"\nchannels = 2");
}

/// `train` with the toy preset at a tiny size and `set` overrides, into a folder that must
/// not appear.
fn toy_train(set: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["--no-gui", "train", "--preset", "toy2d", "--quiet", "--out", "runs/new"].map(String::from).to_vec();
    for s in set {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args
}

fn train_config(file: &str) -> Vec<String> {
    ["--no-gui", "train", "--quiet", "--config", file, "--out", "runs/new"].map(String::from).to_vec()
}

fn corpus() -> Vec<Case> {
    let strings = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let t = |set: &[&str], code: i32, says: &[&str]| Case { args: toy_train(set), code, says: strings(says) };
    let c =
        |file: &str, code: i32, says: &[&str]| Case { args: train_config(file), code, says: strings(says) };
    let a = case;
    let energy = |run: &str, input: &str| {
        a(&["--no-gui", "energy", "--run", run, "--input", input, "--out", "out/e.npy"], RUNTIME, &[])
    };
    let mut cases = vec![
        // The command line.
        a(&["--no-gui"], USAGE, &["needs a command"]),
        a(&["train"], USAGE, &["--no-gui"]),
        a(&["--no-gui", "frobnicate"], USAGE, &["frobnicate"]),
        a(&["--no-gui", "train", "--preset", "nope"], USAGE, &["nope", "toy2d"]),
        a(&["--no-gui", "--backend", "vulcan", "train"], USAGE, &["vulcan"]),
        a(
            &["--no-gui", "--adapter", "no-such-gpu", "sample", "--run", "runs/toy"],
            RUNTIME,
            &["no-such-gpu", "Adapters on this machine"],
        ),
        a(&["--no-gui", "sample", "--run", "runs/toy", "--n", "0", "--out", "out/s"], USAGE, &["--n"]),
        a(&["--no-gui", "sample", "--run", "runs/toy", "--n", "-3"], USAGE, &["'-3'"]),
        a(
            &["--no-gui", "sample", "--run", "runs/toy", "--steps", "100000000000", "--out", "out/s"],
            USAGE,
            &["--steps"],
        ),
        a(
            &["--no-gui", "interpolate", "--run", "runs/toy", "--points", "1", "--out", "out/i"],
            USAGE,
            &["--points"],
        ),
        a(
            &[
                "--no-gui",
                "energy",
                "--run",
                "runs/toy",
                "--input",
                "in/good.npy",
                "--out",
                "out/x.npy",
                "--grad",
                "out/x.npy",
            ],
            USAGE,
            &["out/x.npy"],
        ),
        a(
            &["--no-gui", "train-classifier", "--epochs", "0", "--out", "out/c.safetensors"],
            USAGE,
            &["--epochs"],
        ),
        a(&["--no-gui", "train-classifier", "--lr", "NaN", "--out", "out/c.safetensors"], USAGE, &["--lr"]),
        a(
            &["--no-gui", "train-classifier", "--width", "0", "--out", "out/c.safetensors"],
            USAGE,
            &["--width"],
        ),
        a(&["--no-gui", "eval", "in"], RUNTIME, &["eval needs a run folder", "in is not a run folder"]),
        a(&["--no-gui", "eval", "runs/toy", "--n", "0"], USAGE, &["--n"]),
        a(&["--no-gui", "eval", "runs/toy", "--n", "1000000000"], USAGE, &["--n"]),
        a(&["--no-gui", "eval", "runs/toy", "--features", "in/text.npy"], USAGE, &["--features"]),
        a(
            &["--no-gui", "ablate", "--preset", "toy2d", "--iterations", "0", "--out", "out/ab"],
            USAGE,
            &["--iterations"],
        ),
        a(&["--no-gui", "ablate", "--preset", "toy2d", "--n", "0", "--out", "out/ab"], USAGE, &["--n"]),
        a(&["--no-gui", "ablate", "--preset", "toy2d", "--groups", "q", "--out", "out/ab"], USAGE, &["`q`"]),
        a(&["--no-gui", "ablate", "--preset", "nope", "--out", "out/ab"], USAGE, &["nope"]),
        // --set overrides.
        t(&["nokey"], USAGE, &["nokey", "KEY=VALUE"]),
        t(&["train.nokey=1"], USAGE, &["train.nokey"]),
        t(&["train.batch_size=abc"], USAGE, &["batch_size"]),
        t(&["train.batch_size=-1"], USAGE, &["batch_size"]),
        t(&["train.batch_size=0"], USAGE, &["batch_size"]),
        t(&["train.sigma=0"], USAGE, &["sigma"]),
        t(&["train.x_langevin.step_size=nan"], USAGE, &["x_langevin.step_size"]),
        t(&["train.x_langevin.steps=1000000000"], USAGE, &["train.x_langevin.steps"]),
        t(&["train.z_langevin.steps=1000000000"], USAGE, &["train.z_langevin.steps"]),
        t(&["train.ema_decay=1.5"], USAGE, &["ema_decay"]),
        t(&["train.ebm_optim.beta1=1"], USAGE, &["ebm_optim.beta1"]),
        t(&["train.generator_optim.lr=-0.1"], USAGE, &["generator_optim.lr"]),
        t(&["schedule.iterations=0"], USAGE, &["schedule.iterations"]),
        t(&["schedule.grid=100"], USAGE, &["schedule.grid"]),
        t(&["model.hidden=0"], USAGE, &["model.hidden"]),
        t(&["model.kind=resnet"], USAGE, &["resnet"]),
        t(&["train.parameterisation=magic"], USAGE, &["magic"]),
        t(&["data.toy=9gaussians"], USAGE, &["9gaussians"]),
        // Sizes the device cannot hold.
        t(&["model.hidden=1000000"], RUNTIME, &["model.", "bytes"]),
        t(&["model.layers=1000000"], USAGE, &["model.layers"]),
        t(&["model.layers=900", "model.hidden=2000"], RUNTIME, &["model.", "bytes"]),
        t(&["train.batch_size=1000000000"], RUNTIME, &["train.batch_size", "bytes"]),
        a(
            &["--no-gui", "train", "--quiet", "--out", "runs/new", "--set", "model.width=2048"],
            RUNTIME,
            &["model.", "bytes"],
        ),
        a(
            &["--no-gui", "train", "--quiet", "--out", "runs/new", "--set", "model.width=100000"],
            RUNTIME,
            &["model.", "bytes"],
        ),
        a(
            &[
                "--no-gui",
                "train-classifier",
                "--images",
                "data/ok-images.idx",
                "--labels",
                "data/labels-10.idx",
                "--batch-size",
                "1000000000",
                "--out",
                "out/c.safetensors",
            ],
            RUNTIME,
            &["labels-10.idx"],
        ),
        // Configuration files.
        c("cfg/missing.toml", USAGE, &["cfg/missing.toml"]),
        c("cfg/syntax.toml", USAGE, &["cfg/syntax.toml"]),
        c("cfg/empty.toml", USAGE, &["cfg/empty.toml"]),
        c("cfg/binary.toml", USAGE, &["cfg/binary.toml"]),
        c("cfg/unknown-key.toml", USAGE, &["cfg/unknown-key.toml", "extra"]),
        c("cfg/wrong-type.toml", USAGE, &["cfg/wrong-type.toml", "batch_size"]),
        c("cfg/unknown-kind.toml", USAGE, &["cfg/unknown-kind.toml", "mnist-ish"]),
        c("cfg/unknown-toy.toml", USAGE, &["9gaussians"]),
        // Data files.
        c("cfg/idx-missing.toml", RUNTIME, &["data/no-such.idx"]),
        c("cfg/idx-short.toml", RUNTIME, &["data/short-images.idx"]),
        c("cfg/idx-magic.toml", RUNTIME, &["data/bad-magic.idx"]),
        c("cfg/idx-gz.toml", RUNTIME, &["data/corrupt.idx.gz"]),
        c("cfg/idx-labels.toml", RUNTIME, &["data/labels-10.idx"]),
        c("cfg/idx-30.toml", RUNTIME, &["data/not-28.idx", "1×30×30", "model.kind"]),
        c("cfg/cifar-missing.toml", RUNTIME, &["data/no-cifar"]),
        c("cfg/cifar-size.toml", RUNTIME, &["data_batch_1.bin"]),
        c("cfg/cifar-empty.toml", RUNTIME, &["data/cifar-empty"]),
        c("cfg/folder-missing.toml", RUNTIME, &["data/no-folder"]),
        c("cfg/folder-empty.toml", RUNTIME, &["data/folder-empty"]),
        c("cfg/folder-corrupt.toml", RUNTIME, &["broken.png"]),
        c("cfg/folder-huge.toml", RUNTIME, &["huge.png", "20000"]),
        c("cfg/folder-mixed.toml", RUNTIME, &["data/folder-mixed"]),
        c("cfg/folder-crop.toml", RUNTIME, &["crop"]),
        c("cfg/folder-channels.toml", USAGE, &["channels"]),
        a(
            &[
                "--no-gui",
                "train-classifier",
                "--images",
                "data/no-such.idx",
                "--labels",
                "data/labels-10.idx",
                "--out",
                "out/c.safetensors",
            ],
            RUNTIME,
            &["data/no-such.idx"],
        ),
        a(
            &[
                "--no-gui",
                "train-classifier",
                "--images",
                "data/ok-images.idx",
                "--labels",
                "data/labels-10.idx",
                "--out",
                "out/c.safetensors",
            ],
            RUNTIME,
            &["labels-10.idx"],
        ),
        // Run folders and checkpoints.
        a(&["--no-gui", "sample", "--run", "runs/nowhere"], RUNTIME, &["runs/nowhere"]),
        a(&["--no-gui", "sample", "--run", "runs/empty"], RUNTIME, &["runs/empty"]),
        a(&["--no-gui", "sample", "--run", "runs/no-config"], RUNTIME, &["runs/no-config"]),
        a(
            &["--no-gui", "sample", "--run", "runs/no-checkpoint"],
            RUNTIME,
            &["runs/no-checkpoint/checkpoint.safetensors"],
        ),
        a(&["--no-gui", "sample", "--run", "runs/bad-config"], USAGE, &["runs/bad-config/config.toml"]),
        a(
            &["--no-gui", "sample", "--run", "runs/short-checkpoint"],
            RUNTIME,
            &["runs/short-checkpoint/checkpoint.safetensors"],
        ),
        a(
            &["--no-gui", "sample", "--run", "runs/garbage-checkpoint"],
            RUNTIME,
            &["runs/garbage-checkpoint/checkpoint.safetensors"],
        ),
        a(
            &["--no-gui", "sample", "--run", "runs/empty-checkpoint"],
            RUNTIME,
            &["runs/empty-checkpoint/checkpoint.safetensors"],
        ),
        a(
            &["--no-gui", "sample", "--run", "runs/other-architecture"],
            RUNTIME,
            &["runs/other-architecture/checkpoint.safetensors"],
        ),
        a(
            &["--no-gui", "eval", "runs/garbage-checkpoint"],
            RUNTIME,
            &["runs/garbage-checkpoint/checkpoint.safetensors"],
        ),
        a(&["--no-gui", "train", "--resume", "runs/no-checkpoint"], RUNTIME, &["runs/no-checkpoint"]),
        // A wrong run folder is reported before the adapter is opened: with an adapter that
        // does not exist, the error is still the folder's.
        a(
            &["--no-gui", "--adapter", "no-such-gpu", "sample", "--run", "runs/no-checkpoint"],
            RUNTIME,
            &["sample needs a run folder", "runs/no-checkpoint/checkpoint.safetensors"],
        ),
        a(
            &[
                "--no-gui",
                "--adapter",
                "no-such-gpu",
                "reconstruct",
                "--run",
                "runs/empty",
                "--input",
                "in/good.npy",
            ],
            RUNTIME,
            &["reconstruct needs a run folder", "runs/empty"],
        ),
        a(
            &["--no-gui", "--adapter", "no-such-gpu", "interpolate", "--run", "runs/garbage-checkpoint"],
            RUNTIME,
            &["runs/garbage-checkpoint/checkpoint.safetensors"],
        ),
        a(
            &[
                "--no-gui",
                "--adapter",
                "no-such-gpu",
                "energy",
                "--run",
                "runs/nowhere",
                "--input",
                "in/good.npy",
                "--out",
                "out/e.npy",
            ],
            RUNTIME,
            &["energy needs a run folder", "runs/nowhere"],
        ),
        a(
            &[
                "--no-gui",
                "--adapter",
                "no-such-gpu",
                "forward",
                "--run",
                "runs/bad-config",
                "--net",
                "ebm",
                "--input",
                "in/good.npy",
                "--out",
                "out/f.npy",
            ],
            USAGE,
            &["runs/bad-config/config.toml"],
        ),
        a(
            &["--no-gui", "--adapter", "no-such-gpu", "eval", "runs/empty-checkpoint"],
            RUNTIME,
            &["eval needs a run folder", "runs/empty-checkpoint/checkpoint.safetensors"],
        ),
        a(&["--no-gui", "train", "--resume", "runs/nowhere"], RUNTIME, &["runs/nowhere"]),
        a(
            &["--no-gui", "train", "--resume", "runs/toy/config.toml"],
            RUNTIME,
            &["runs/toy/config.toml", "is a file", "the run folder (e.g. runs/toy)"],
        ),
        a(
            &["--no-gui", "train", "--resume", "runs/short-checkpoint", "--quiet"],
            RUNTIME,
            &["runs/short-checkpoint/checkpoint.safetensors"],
        ),
        a(
            &["--no-gui", "train", "--resume", "runs/toy", "--set", "model.hidden=16", "--quiet"],
            RUNTIME,
            &["runs/toy/checkpoint.safetensors"],
        ),
        a(
            &["--no-gui", "train", "--preset", "toy2d", "--out", "runs/toy"],
            RUNTIME,
            &["runs/toy", "--resume"],
        ),
        // .npy inputs.
        a(
            &[
                "--no-gui",
                "energy",
                "--run",
                "runs/toy",
                "--input",
                "in/good.npy",
                "--out",
                "out/e.npy",
                "--grad",
                "in/good.npy/g.npy",
            ],
            RUNTIME,
            &["in/good.npy"],
        ),
        a(&["--no-gui", "sample", "--run", "runs/toy", "--n", "1000000000"], USAGE, &["--n"]),
        energy("runs/toy", "in/missing.npy"),
        energy("runs/toy", "in/text.npy"),
        energy("runs/toy", "in/fortran.npy"),
        energy("runs/toy", "in/ints.npy"),
        energy("runs/toy", "in/three.npy"),
        energy("runs/toy", "in/nan.npy"),
        energy("runs/toy", "in/inf.npy"),
        energy("runs/toy", "in/empty.npy"),
        energy("runs/toy", "in/short.npy"),
        energy("runs/toy", "in/empty-file.npy"),
        energy("runs/toy", "in/a-folder.npy"),
        a(
            &["--no-gui", "energy", "--run", "runs/toy", "--input", "in/good.npy", "--out", "in/good.npy"],
            RUNTIME,
            &["in/good.npy"],
        ),
        a(
            &["--no-gui", "reconstruct", "--run", "runs/toy", "--input", "in/three.npy", "--out", "out/r"],
            RUNTIME,
            &["in/three.npy"],
        ),
        a(
            &["--no-gui", "interpolate", "--run", "runs/toy", "--input", "in/one.npy", "--out", "out/i"],
            RUNTIME,
            &["in/one.npy"],
        ),
    ];
    // eval --samples: samples from another tool.
    // The file's errors name the file; the configuration's name the setting.
    let samples = |source: &[&str], file: &str, code: i32, says: &[&str]| {
        let mut args = vec!["--no-gui", "eval"];
        args.extend_from_slice(source);
        args.extend_from_slice(&["--samples", file]);
        let mut says = says.to_vec();
        if code == RUNTIME {
            says.push(file);
        }
        a(&args, code, &says)
    };
    cases.extend([
        samples(&["runs/toy"], "in/missing.npy", RUNTIME, &[]),
        samples(&["runs/toy"], "in/three.npy", RUNTIME, &["[N, 2]"]),
        samples(&["runs/toy"], "in/nan.npy", RUNTIME, &["NaN"]),
        samples(&["runs/toy"], "in/one.npy", RUNTIME, &["at least 2"]),
        samples(&["runs/toy"], "in/empty.npy", RUNTIME, &[]),
        samples(&["--preset", "fmnist"], "in/good.npy", RUNTIME, &["[N, 1, 28, 28]"]),
        samples(&["--preset", "fmnist"], "in/images-255.npy", RUNTIME, &["[−1, 1]"]),
        samples(&["--preset", "toy2d", "--set", "data.toy=nine"], "in/good.npy", USAGE, &["nine"]),
        samples(&["--preset", "no-such-preset"], "in/good.npy", USAGE, &["no-such-preset"]),
        samples(&["runs/toy", "--features", "in/good.npy"], "in/good.npy", USAGE, &["--features"]),
        a(&["--no-gui", "eval", "--preset", "toy2d"], USAGE, &["--samples"]),
    ]);
    // The .npy cases name their input.
    for c in &mut cases {
        if c.args.get(1).is_some_and(|a| a == "energy") && c.says.is_empty() {
            c.says.push(c.args[5].clone());
        }
    }
    cases
}

#[test]
fn every_bad_input_gets_a_clear_error_its_exit_code_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fixtures(root);
    let cases = corpus();
    assert!(cases.len() >= 60, "the corpus holds {} inputs", cases.len());
    let before = snapshot(root);
    let mut failures = Vec::new();
    for Case { args, code, says } in &cases {
        let began = std::time::Instant::now();
        let out = run(root, args);
        eprintln!("{:5.2} s  dualmcmc {}", began.elapsed().as_secs_f64(), args.join(" "));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut wrong = Vec::new();
        if out.status.code() != Some(*code) {
            wrong.push(format!("exit {:?}, want {code}", out.status.code()));
        }
        if stderr.contains("panicked") || stderr.contains("internal error") {
            wrong.push("a panic".into());
        }
        for s in says {
            if !stderr.contains(s.as_str()) {
                wrong.push(format!("the error does not name '{s}'"));
            }
        }
        let after = snapshot(root);
        if after != before {
            let changed: Vec<_> = after
                .keys()
                .chain(before.keys())
                .filter(|p| after.get(*p) != before.get(*p))
                .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                .collect();
            wrong.push(format!("files written or changed: {changed:?}"));
            for p in after.keys().filter(|p| !before.contains_key(*p)) {
                let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "dualmcmc {}\n  {}\n  stderr: {}",
                args.join(" "),
                wrong.join("; "),
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn a_closed_stderr_and_stdout_do_not_stop_a_run() {
    // `dualmcmc … 2>&1 | head -1`: the reader goes away, writes fail with EPIPE.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualmcmc"))
        .args(["--no-gui", "train", "--preset", "toy2d", "--out"])
        .arg(&dir)
        .args(["--set", "model.hidden=8", "--set", "train.batch_size=16", "--set", "schedule.grid=4"])
        .args(["--set", "schedule.eval_every=0", "--set", "schedule.iterations=5"])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status:?}");
    let meta = dualmcmc::checkpoint::read_metadata(dir.join("checkpoint.safetensors")).unwrap();
    assert_eq!(meta.iteration, 5);
}
