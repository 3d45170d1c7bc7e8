//! The inspection commands (`sample`, `reconstruct`, `interpolate`, `energy`) on two tiny
//! runs trained here: a 2-D toy run (MLPs) and an 8×8 image run (the small conv nets, whose
//! generator has batch norm). Shapes, agreement with the trainer, gradients against finite
//! differences taken through the command itself, and a clear error for each bad input.

mod common;
use common::{engine_arc, npy_bytes};
use dualmcmc::cli::npy::{Array, read_npy, write_npy};
use dualmcmc::cli::{self as commands, ChainArgs, EnergyArgs, InterpolateArgs, ReconstructArgs, SampleArgs};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A trained run folder that lives as long as the test process.
struct Run {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// 2-D toy: preset toy2d at tiny sizes (batch 16, MLPs of 16 units), 5 iterations.
fn toy_run() -> &'static Path {
    static RUN: OnceLock<Run> = OnceLock::new();
    &RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let set = [
            "train.batch_size=16",
            "model.hidden=16",
            "train.x_langevin.steps=4",
            "train.z_langevin.steps=3",
            "schedule.iterations=5",
            "schedule.log_every=1",
            "schedule.images_every=0",
            "schedule.checkpoint_every=0",
            "schedule.grid=4",
        ];
        let args = dualmcmc::session::RunSpec {
            preset: Some("toy2d".into()),
            set: set.map(String::from).to_vec(),
            out: Some(dir.path().join("run")),
            ..Default::default()
        };
        let path =
            dualmcmc::session::train(engine_arc(), &args, true, dualmcmc::eval::run_eval::progress).unwrap();
        Run { _dir: dir, path }
    })
    .path
}

const SIDE: usize = 8;
const IMAGES: usize = 12;

/// The image run's data: 12 images of 8×8 grey bytes (a bright square that moves).
fn idx_pixels() -> Vec<u8> {
    let mut pixels = vec![20u8; IMAGES * SIDE * SIDE];
    for i in 0..IMAGES {
        let (r0, c0) = (i % 5, (i * 3) % 5);
        for r in r0..r0 + 3 {
            for c in c0..c0 + 3 {
                pixels[(i * SIDE + r) * SIDE + c] = 230;
            }
        }
    }
    pixels
}

/// The image data in the data scale, `[12, 1, 8, 8]`.
fn image_data() -> Vec<f32> {
    idx_pixels().into_iter().map(dualmcmc::data::scale_pixel).collect()
}

/// Images: an IDX file written here, the small nets at width 2, batch 4, 5 iterations.
fn image_run() -> &'static Path {
    static RUN: OnceLock<Run> = OnceLock::new();
    &RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = 0x803u32.to_be_bytes().to_vec();
        for d in [IMAGES, SIDE, SIDE] {
            idx.extend_from_slice(&(d as u32).to_be_bytes());
        }
        idx.extend(idx_pixels());
        let images = dir.path().join("images-idx3-ubyte");
        std::fs::write(&images, idx).unwrap();
        let preset = dualmcmc::config::PRESETS.iter().find(|p| p.0 == "fmnist").unwrap().1;
        let data = format!("kind = \"idx\"\nimages = {:?}", images.display().to_string());
        let text = preset.replace("kind = \"fashion-mnist\"\nprefer_full = true", &data);
        assert_ne!(text, preset, "the fmnist preset's [data] table changed; update this test");
        let config = dir.path().join("tiny.toml");
        std::fs::write(&config, text).unwrap();
        let set = [
            "model.width=2",
            "train.batch_size=4",
            "train.nz=3",
            "train.x_langevin.steps=3",
            "train.z_langevin.steps=2",
            "schedule.iterations=5",
            "schedule.log_every=1",
            "schedule.images_every=0",
            "schedule.checkpoint_every=0",
            "schedule.grid=2",
        ];
        let args = dualmcmc::session::RunSpec {
            config: Some(config),
            set: set.map(String::from).to_vec(),
            out: Some(dir.path().join("run")),
            ..Default::default()
        };
        let path =
            dualmcmc::session::train(engine_arc(), &args, true, dualmcmc::eval::run_eval::progress).unwrap();
        Run { _dir: dir, path }
    })
    .path
}

fn sample_args(run: &Path, n: usize, out: PathBuf) -> SampleArgs {
    SampleArgs { chain: ChainArgs { run: run.into(), steps: None, seed: 5, out: Some(out) }, n }
}

fn energy_args(run: &Path, input: &Path, out: PathBuf, grad: Option<PathBuf>) -> EnergyArgs {
    EnergyArgs { run: run.into(), input: input.into(), out, grad }
}

fn all_finite(a: &Array) -> bool {
    a.values.iter().all(|v| v.is_finite())
}

fn rows(a: &Array, range: std::ops::Range<usize>) -> &[f32] {
    let d = a.values.len() / a.shape[0];
    &a.values[range.start * d..range.end * d]
}

/// The error's text (with its causes), asserted to name `what`.
fn error_naming(err: anyhow::Error, what: &Path) -> String {
    let msg = format!("{err:#}");
    assert!(msg.contains(&what.display().to_string()), "the error does not name {}: {msg}", what.display());
    msg
}

#[test]
fn sample_writes_revised_and_generator_samples_of_the_run_shape() {
    let dir = tempfile::tempdir().unwrap();
    // 2-D: 37 samples (not a multiple of the batch of 16).
    let out = commands::sample(engine_arc(), &sample_args(toy_run(), 37, dir.path().join("toy"))).unwrap();
    let (revised, generated) = (
        read_npy(&dir.path().join("toy.npy")).unwrap(),
        read_npy(&dir.path().join("toy_generator.npy")).unwrap(),
    );
    assert_eq!((revised.shape.clone(), generated.shape.clone()), (vec![37, 2], vec![37, 2]));
    assert!(all_finite(&revised) && all_finite(&generated));
    assert_ne!(revised, generated, "x-Langevin moved nothing");
    assert!(dir.path().join("toy.png").is_file() && dir.path().join("toy_generator.png").is_file());
    assert_eq!(out.files.len(), 4, "{:?}", out.files);

    // The generator samples are g(z) for the prior draws of the seed, batch by batch.
    let mut s = dualmcmc::session::Session::open(engine_arc(), toy_run()).unwrap();
    let t = &mut s.trainer;
    t.cfg.seed = 5;
    for k in 0..3u32 {
        let g = t.generate(&t.prior_draw(k)).unwrap();
        let m = (37 - 16 * k as usize).min(16);
        let k = k as usize;
        assert_eq!(rows(&generated, 16 * k..16 * k + m), &g[..2 * m], "batch {k}");
    }

    // 0 steps: the revision is the identity; the same seed gives the same arrays.
    let mut args = sample_args(toy_run(), 37, dir.path().join("zero.npy"));
    args.chain.steps = Some(0);
    commands::sample(engine_arc(), &args).unwrap();
    assert_eq!(read_npy(&dir.path().join("zero.npy")).unwrap(), generated);
    assert_eq!(read_npy(&dir.path().join("zero_generator.npy")).unwrap(), generated);

    // Images: [5, 1, 8, 8], generator values in tanh's range, PNG grids.
    commands::sample(engine_arc(), &sample_args(image_run(), 5, dir.path().join("img"))).unwrap();
    let revised = read_npy(&dir.path().join("img.npy")).unwrap();
    let generated = read_npy(&dir.path().join("img_generator.npy")).unwrap();
    assert_eq!(revised.shape, vec![5, 1, SIDE, SIDE]);
    assert_eq!(generated.shape, vec![5, 1, SIDE, SIDE]);
    assert!(all_finite(&revised) && generated.values.iter().all(|v| (-1.0..=1.0).contains(v)));
    let png = image::open(dir.path().join("img.png")).unwrap();
    assert!(png.width() >= 3 * SIDE as u32 && png.height() >= 2 * SIDE as u32, "a 3×2 grid of 8×8 tiles");
    assert!(dir.path().join("img_generator.png").is_file());
}

#[test]
fn reconstruct_gives_the_input_shape_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    // 6 examples: two chunks of 3 with the batch of 4.
    let data = image_data();
    let input = dir.path().join("x.npy");
    write_npy(&input, &[6, 1, SIDE, SIDE], &data[..6 * SIDE * SIDE]).unwrap();
    let args = ReconstructArgs {
        chain: ChainArgs { run: image_run().into(), steps: None, seed: 1, out: Some(dir.path().join("r")) },
        input: input.clone(),
    };
    let r = commands::reconstruct(engine_arc(), &args).unwrap();
    let revised = read_npy(&dir.path().join("r.npy")).unwrap();
    let initial = read_npy(&dir.path().join("r_initial.npy")).unwrap();
    assert_eq!(
        (revised.shape.clone(), initial.shape.clone()),
        (vec![6, 1, SIDE, SIDE], vec![6, 1, SIDE, SIDE])
    );
    assert!(all_finite(&revised) && all_finite(&initial));
    assert!(dir.path().join("r.png").is_file());
    // The printed errors are those of the written arrays. (Whether z-Langevin lowers the
    // error is not asserted: it samples the posterior, whose prior term and noise can raise
    // it, and 5 iterations of training prove nothing either way.)
    let mse = |g: &Array| {
        g.values.iter().zip(&data).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>() / g.values.len() as f64
    };
    assert!((r.mse_initial - mse(&initial)).abs() < 1e-9 && (r.mse_revised - mse(&revised)).abs() < 1e-9);
    assert!(r.mse_initial.is_finite() && r.mse_revised.is_finite() && r.mse_initial > 0.0);
    assert!(r.outcome.lines.iter().any(|l| l.contains("MSE")), "{:?}", r.outcome.lines);

    // 0 z-Langevin steps: g(z̃) = g(z₀) exactly, and the errors agree.
    let args = ReconstructArgs {
        chain: ChainArgs { steps: Some(0), out: Some(dir.path().join("r0")), ..args.chain.clone() },
        ..args
    };
    let r0 = commands::reconstruct(engine_arc(), &args).unwrap();
    assert_eq!(
        read_npy(&dir.path().join("r0.npy")).unwrap(),
        read_npy(&dir.path().join("r0_initial.npy")).unwrap()
    );
    assert_eq!(r0.mse_initial, r0.mse_revised);
    assert_eq!(r0.mse_initial, r.mse_initial, "the same seed gives the same z₀");

    // 2-D, 20 examples (chunks of 10), no PNG.
    let toy: Vec<f32> =
        dualmcmc::data::toy2d::Toy2d::EightGaussians.sample(20, 9).into_iter().flatten().collect();
    let input = dir.path().join("toy.npy");
    write_npy(&input, &[20, 2], &toy).unwrap();
    let args = ReconstructArgs {
        chain: ChainArgs { run: toy_run().into(), steps: None, seed: 0, out: Some(dir.path().join("t")) },
        input,
    };
    let r = commands::reconstruct(engine_arc(), &args).unwrap();
    let revised = read_npy(&dir.path().join("t.npy")).unwrap();
    assert_eq!(revised.shape, vec![20, 2]);
    assert!(all_finite(&revised) && r.mse_revised.is_finite());
    assert!(!dir.path().join("t.png").exists());
}

#[test]
fn interpolation_ends_are_the_generator_samples_of_the_two_prior_draws() {
    let dir = tempfile::tempdir().unwrap();
    let args = |run: &Path, points: usize, out: &str| InterpolateArgs {
        chain: ChainArgs { run: run.into(), steps: None, seed: 5, out: Some(dir.path().join(out)) },
        points,
        input: None,
    };
    // 2-D (MLP generator, no batch statistics): 7 points.
    commands::sample(engine_arc(), &sample_args(toy_run(), 2, dir.path().join("s"))).unwrap();
    let g = read_npy(&dir.path().join("s_generator.npy")).unwrap();
    commands::interpolate(engine_arc(), &args(toy_run(), 7, "i")).unwrap();
    let x = read_npy(&dir.path().join("i.npy")).unwrap();
    let z = read_npy(&dir.path().join("i_z.npy")).unwrap();
    assert_eq!((x.shape.clone(), z.shape.clone()), (vec![7, 2], vec![7, 2]));
    assert_eq!(rows(&x, 0..1), rows(&g, 0..1), "first end: g(z_a)");
    assert_eq!(rows(&x, 6..7), rows(&g, 1..2), "last end: g(z_b)");
    let mut s = dualmcmc::session::Session::open(engine_arc(), toy_run()).unwrap();
    let t = &mut s.trainer;
    t.cfg.seed = 5;
    let prior = t.prior_draw(0);
    assert_eq!((rows(&z, 0..1), rows(&z, 6..7)), (&prior[..2], &prior[2..4]), "ends are the prior draws");
    for i in 1..6 {
        let s = i as f32 / 6.0;
        for j in 0..2 {
            let want = (1.0 - s) * prior[j] + s * prior[2 + j];
            assert!((z.values[2 * i + j] - want).abs() < 1e-6, "point {i} is not on the line");
        }
    }

    // Images (batch norm in the generator): 2 points decode exactly sample's first batch.
    commands::sample(engine_arc(), &sample_args(image_run(), 2, dir.path().join("si"))).unwrap();
    let g = read_npy(&dir.path().join("si_generator.npy")).unwrap();
    commands::interpolate(engine_arc(), &args(image_run(), 2, "ii")).unwrap();
    assert_eq!(read_npy(&dir.path().join("ii.npy")).unwrap(), g);
    // 9 points (more than a batch of 4): shapes, a PNG strip.
    commands::interpolate(engine_arc(), &args(image_run(), 9, "i9")).unwrap();
    let x = read_npy(&dir.path().join("i9.npy")).unwrap();
    assert_eq!(x.shape, vec![9, 1, SIDE, SIDE]);
    assert!(all_finite(&x));
    assert_eq!(image::open(dir.path().join("i9.png")).unwrap().width(), 9 * (SIDE as u32 + 2) + 2);

    // Between two examples' inferred latents.
    let input = dir.path().join("two.npy");
    write_npy(&input, &[2, 1, SIDE, SIDE], &image_data()[..2 * SIDE * SIDE]).unwrap();
    let posterior = InterpolateArgs { input: Some(input), ..args(image_run(), 5, "p") };
    let out = commands::interpolate(engine_arc(), &posterior).unwrap();
    let x = read_npy(&dir.path().join("p.npy")).unwrap();
    assert_eq!(x.shape, vec![5, 1, SIDE, SIDE]);
    assert!(all_finite(&x) && all_finite(&read_npy(&dir.path().join("p_z.npy")).unwrap()));
    assert!(out.lines.iter().any(|l| l.contains("inferred")), "{:?}", out.lines);
    // The strip shows the two examples at its ends: 5 + 2 tiles.
    assert_eq!(image::open(dir.path().join("p.png")).unwrap().width(), 7 * (SIDE as u32 + 2) + 2);
}

/// Central differences of E through the command: one input file holding, for each checked
/// coordinate (example i, value j), x + h·e_ij and x − h·e_ij.
fn check_gradient(run: &Path, shape: &[usize], x: &[f32], coords: &[(usize, usize)], h: f32) {
    let dir = tempfile::tempdir().unwrap();
    let d = x.len() / shape[0];
    let input = dir.path().join("x.npy");
    write_npy(&input, shape, x).unwrap();
    let (e_path, g_path) = (dir.path().join("e.npy"), dir.path().join("g.npy"));
    commands::energy(engine_arc(), &energy_args(run, &input, e_path.clone(), Some(g_path.clone()))).unwrap();
    let (e, g) = (read_npy(&e_path).unwrap(), read_npy(&g_path).unwrap());
    assert_eq!(e.shape, vec![shape[0]]);
    assert_eq!(g.shape, shape.to_vec());

    // The command agrees with the trainer, chunk by chunk.
    let s = dualmcmc::session::Session::open(engine_arc(), run).unwrap();
    let t = &s.trainer;
    let b = t.cfg.batch_size;
    for (k, chunk) in x.chunks(b * d).enumerate() {
        let (te, tg) = t.energy(chunk, true).unwrap();
        let n = chunk.len() / d;
        assert_eq!(&e.values[k * b..k * b + n], &te[..], "energies of chunk {k}");
        assert_eq!(&g.values[k * b * d..(k * b + n) * d], &tg.unwrap()[..], "gradients of chunk {k}");
    }

    let mut shifted = Vec::new();
    for &(i, j) in coords {
        for sign in [1.0, -1.0] {
            let mut row = x[i * d..(i + 1) * d].to_vec();
            row[j] += sign * h;
            shifted.extend(row);
        }
    }
    let mut fd_shape = shape.to_vec();
    fd_shape[0] = 2 * coords.len();
    let fd_input = dir.path().join("fd.npy");
    write_npy(&fd_input, &fd_shape, &shifted).unwrap();
    let fd_out = dir.path().join("fd_e.npy");
    commands::energy(engine_arc(), &energy_args(run, &fd_input, fd_out.clone(), None)).unwrap();
    let fe = read_npy(&fd_out).unwrap().values;
    // The step is rounded in f32: divide by the step actually taken.
    let fd: Vec<f64> = coords
        .iter()
        .enumerate()
        .map(|(c, &(_, j))| {
            let taken = f64::from(shifted[2 * c * d + j]) - f64::from(shifted[(2 * c + 1) * d + j]);
            (f64::from(fe[2 * c]) - f64::from(fe[2 * c + 1])) / taken
        })
        .collect();
    let max = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max > 0.0, "all finite differences are zero");
    for (&(i, j), &want) in coords.iter().zip(&fd) {
        let got = f64::from(g.values[i * d + j]);
        assert!(
            (got - want).abs() <= 1e-2 * want.abs() + 2e-3 * max,
            "∂E/∂x[{i}, {j}]: command {got:.6e}, finite difference {want:.6e} (max |fd| {max:.2e})"
        );
    }
}

#[test]
fn energy_matches_the_trainer_and_its_gradient_matches_finite_differences() {
    // 2-D: 20 examples (two chunks of the batch of 16), every coordinate of 5 of them.
    let x: Vec<f32> =
        dualmcmc::data::toy2d::Toy2d::EightGaussians.sample(20, 4).into_iter().flatten().collect();
    let coords: Vec<(usize, usize)> = (0..5).flat_map(|i| [(i, 0), (i, 1)]).collect();
    check_gradient(toy_run(), &[20, 2], &x, &coords, 1e-3);
    // Images: 6 examples, 10 pixels spread over them.
    let x = &image_data()[..6 * SIDE * SIDE];
    let coords: Vec<(usize, usize)> = (0..10).map(|c| (c % 6, (c * 37 + 5) % (SIDE * SIDE))).collect();
    check_gradient(image_run(), &[6, 1, SIDE, SIDE], x, &coords, 1e-2);
}

#[test]
fn energy_reads_float64_and_writes_the_same_as_for_float32() {
    use npyz::WriterBuilder;
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f32> = dualmcmc::data::toy2d::Toy2d::Rings.sample(7, 2).into_iter().flatten().collect();
    let (f32_in, f64_in) = (dir.path().join("x32.npy"), dir.path().join("x64.npy"));
    write_npy(&f32_in, &[7, 2], &x).unwrap();
    let mut bytes = Vec::new();
    let mut w =
        npyz::WriteOptions::new().default_dtype().shape(&[7, 2]).writer(&mut bytes).begin_nd().unwrap();
    w.extend(x.iter().map(|&v| f64::from(v))).unwrap();
    w.finish().unwrap();
    std::fs::write(&f64_in, bytes).unwrap();
    let (e32, e64) = (dir.path().join("e32.npy"), dir.path().join("e64.npy"));
    commands::energy(engine_arc(), &energy_args(toy_run(), &f32_in, e32.clone(), None)).unwrap();
    let out = commands::energy(engine_arc(), &energy_args(toy_run(), &f64_in, e64.clone(), None)).unwrap();
    assert_eq!(read_npy(&e32).unwrap(), read_npy(&e64).unwrap());
    assert_eq!(out.files, vec![e64]);
}

#[test]
fn each_bad_input_gets_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let energy = |input: &Path| {
        let out = dir.path().join("e.npy");
        commands::energy(engine_arc(), &energy_args(toy_run(), input, out, None)).unwrap_err()
    };
    let good = npy_bytes(&[3, 2], &[0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6], false);

    let missing = dir.path().join("missing.npy");
    error_naming(energy(&missing), &missing);
    let p = file("garbage.npy", b"this is not an array");
    assert!(error_naming(energy(&p), &p).contains("not a .npy file"));
    let p = file("fortran.npy", &npy_bytes(&[3, 2], &[0.1f32; 6], true));
    assert!(error_naming(energy(&p), &p).contains("Fortran"));
    let p = file("ints.npy", &npy_bytes(&[3, 2], &[1i32; 6], false));
    assert!(error_naming(energy(&p), &p).contains("float32 or float64"));
    let p = file("short.npy", &good[..good.len() - 3]);
    assert!(error_naming(energy(&p), &p).contains("truncated"));
    let p = file("long.npy", &[&good[..], &[0u8; 4]].concat());
    assert!(error_naming(energy(&p), &p).contains("longer"));
    let p = file("nan.npy", &npy_bytes(&[3, 2], &[0.1f32, 0.2, f32::NAN, 0.4, 0.5, 0.6], false));
    assert!(error_naming(energy(&p), &p).contains("value 2"));
    let p = file("empty.npy", &npy_bytes::<f32>(&[0, 2], &[], false));
    assert!(error_naming(energy(&p), &p).contains("no examples"));
    // Wrong shapes: both shapes are named.
    let p = file("three.npy", &npy_bytes(&[2, 3], &[0.1f32; 6], false));
    let msg = error_naming(energy(&p), &p);
    assert!(msg.contains("[2, 3]") && msg.contains("[N, 2]"), "{msg}");
    let p = file("big.npy", &npy_bytes(&[1, 1, 28, 28], &[0.0f32; 784], false));
    let args = ReconstructArgs {
        chain: ChainArgs { run: image_run().into(), steps: None, seed: 0, out: None },
        input: p.clone(),
    };
    let msg = error_naming(commands::reconstruct(engine_arc(), &args).unwrap_err(), &p);
    assert!(msg.contains("[1, 1, 28, 28]") && msg.contains("[N, 1, 8, 8]"), "{msg}");

    // Folders that are not run folders.
    let not_run = dir.path().join("not-a-run");
    std::fs::create_dir(&not_run).unwrap();
    let good_input = file("good.npy", &good);
    for run in [not_run.clone(), dir.path().join("nowhere")] {
        let args = energy_args(&run, &good_input, dir.path().join("e.npy"), None);
        assert!(
            error_naming(commands::energy(engine_arc(), &args).unwrap_err(), &run)
                .contains("not a run folder")
        );
    }
    let no_checkpoint = dir.path().join("no-checkpoint");
    std::fs::create_dir(&no_checkpoint).unwrap();
    std::fs::copy(toy_run().join("config.toml"), no_checkpoint.join("config.toml")).unwrap();
    let args = energy_args(&no_checkpoint, &good_input, dir.path().join("e.npy"), None);
    error_naming(
        commands::energy(engine_arc(), &args).unwrap_err(),
        &no_checkpoint.join("checkpoint.safetensors"),
    );

    // The input is never overwritten.
    let args = energy_args(toy_run(), &good_input, good_input.clone(), None);
    error_naming(commands::energy(engine_arc(), &args).unwrap_err(), &good_input);
    let args = energy_args(toy_run(), &good_input, dir.path().join("e2.npy"), Some(good_input.clone()));
    error_naming(commands::energy(engine_arc(), &args).unwrap_err(), &good_input);
    let args =
        energy_args(toy_run(), &good_input, dir.path().join("same.npy"), Some(dir.path().join("same.npy")));
    assert!(commands::energy(engine_arc(), &args).unwrap_err().to_string().contains("both name"));
    let args = ReconstructArgs {
        chain: ChainArgs { run: toy_run().into(), steps: None, seed: 0, out: Some(dir.path().join("good")) },
        input: good_input.clone(),
    };
    error_naming(commands::reconstruct(engine_arc(), &args).unwrap_err(), &good_input);
    assert_eq!(std::fs::read(&good_input).unwrap(), good, "the input was changed");

    // Counts.
    let err = commands::sample(engine_arc(), &sample_args(toy_run(), 0, dir.path().join("s"))).unwrap_err();
    assert!(err.to_string().contains("--n"), "{err}");
    let mut args = sample_args(toy_run(), 4, dir.path().join("s"));
    args.chain.steps = Some(usize::MAX / 8);
    assert!(commands::sample(engine_arc(), &args).unwrap_err().to_string().contains("--steps"));
    let interpolate = |points: usize, input: Option<PathBuf>| InterpolateArgs {
        chain: ChainArgs { run: toy_run().into(), steps: None, seed: 0, out: Some(dir.path().join("i")) },
        points,
        input,
    };
    let err = commands::interpolate(engine_arc(), &interpolate(1, None)).unwrap_err();
    assert!(err.to_string().contains("--points"), "{err}");
    let err = commands::interpolate(engine_arc(), &interpolate(4, Some(good_input.clone()))).unwrap_err();
    assert!(error_naming(err, &good_input).contains("exactly 2"));
}

#[test]
fn the_binary_names_a_missing_input_and_exits_non_zero_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-input.npy");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dualmcmc"))
        .arg("--no-gui")
        .arg("energy")
        .arg("--run")
        .arg(toy_run())
        .arg("--input")
        .arg(&missing)
        .arg("--out")
        .arg(dir.path().join("e.npy"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit status {:?}; stderr: {stderr}", out.status);
    assert!(stderr.contains(&missing.display().to_string()), "stderr does not name the file: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("e.npy").exists());
}

#[test]
fn eval_measures_toy_and_image_runs_and_writes_json_and_markdown() {
    let run = toy_run();
    let report = dualmcmc::eval::run_eval::eval(engine_arc(), run, Some(300), None).unwrap();
    let m = &report["metrics"];
    let (ll, opt) =
        (m["log_likelihood_nats"].as_f64().unwrap(), m["optimum_log_likelihood_nats"].as_f64().unwrap());
    assert!(ll.is_finite() && ll < opt + 0.1, "log-likelihood {ll} against the optimum {opt}");
    assert!((opt + 2.833).abs() < 0.2, "8 gaussians' E_p[log p] ≈ −2.833, got {opt}");
    assert!(m["modes_reached_by_revised_samples"].as_u64().unwrap() <= 8);
    assert!(run.join("eval.json").is_file());
    let md = std::fs::read_to_string(run.join("eval.md")).unwrap();
    assert!(md.contains("| log_likelihood_nats |"), "{md}");
    assert!(md.contains("`optimum_log_likelihood_nats`") && !md.contains("frechet"), "2-D legend: {md}");

    // By default a 2-D run is scored on the held-out points `train` measured it on, with
    // the weights it reported (the averages): the same figure as its last metrics line.
    let report = dualmcmc::eval::run_eval::eval(engine_arc(), run, None, None).unwrap();
    let m = &report["metrics"];
    assert_eq!(m["held_out_samples"].as_u64(), Some(10_000));
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    let trained = last["log_likelihood_ema"].as_f64().unwrap();
    let (ll, opt) =
        (m["log_likelihood_nats"].as_f64().unwrap(), m["optimum_log_likelihood_nats"].as_f64().unwrap());
    assert!((ll - trained).abs() < 1e-9, "eval {ll}, train's last measurement {trained}");
    assert!((opt - last["optimum_log_likelihood"].as_f64().unwrap()).abs() < 1e-9, "optimum {opt}: {last}");

    let run = image_run();
    let report = dualmcmc::eval::run_eval::eval(engine_arc(), run, Some(8), None).unwrap();
    let m = &report["metrics"];
    assert_eq!(m["examples"].as_u64(), Some(8));
    for key in ["reconstruction_mse_inference_only", "reconstruction_mse_after_z_langevin"] {
        let mse = m[key].as_f64().unwrap();
        assert!(mse.is_finite() && mse > 0.0 && mse <= 4.0, "{key} = {mse} (values in [−1, 1])");
    }
    let (mse, psnr) = (
        m["reconstruction_mse_after_z_langevin"].as_f64().unwrap(),
        m["psnr_db_after_z_langevin"].as_f64().unwrap(),
    );
    assert!(
        (psnr - 10.0 * (4.0 / mse).log10()).abs() < 1e-9,
        "PSNR of [0, 1] images from the MSE in [−1, 1]"
    );
    assert!(m["mean_energy_data"].as_f64().unwrap().is_finite());
    // SSIM's 11×11 window does not fit 8×8 images: null, not a made-up number.
    assert!(m["ssim_inference_only"].is_null() && m["ssim_after_z_langevin"].is_null(), "{m}");
    // No feature network fits 8×8 images by default: said, not guessed.
    assert!(m["frechet_distance"].as_str().unwrap().contains("--features"), "{m}");

    // With a feature network for 8×8 images (untrained: the distance is still defined).
    use dualmcmc::eval::feature_net::{FeatureNet, FeatureNetInfo, FeatureNetSpec};
    let dir = tempfile::tempdir().unwrap();
    let features = dir.path().join("features.safetensors");
    let spec = FeatureNetSpec { input: [1, 8, 8], width: 2, features: 5, classes: 2 };
    let net = FeatureNet::new(engine_arc(), spec, 4, 3).unwrap();
    net.save(&features, &FeatureNetInfo::default()).unwrap();
    let report = dualmcmc::eval::run_eval::eval(engine_arc(), run, Some(12), Some(&features)).unwrap();
    let m = &report["metrics"];
    for key in ["frechet_distance_generator_samples", "frechet_distance_revised_samples"] {
        let d = m[key].as_f64().unwrap();
        assert!(d.is_finite() && d >= 0.0, "{key} = {d}");
    }
    assert_eq!(m["frechet_examples"].as_u64(), Some(12));
    // A feature network for other images is an error naming it.
    let other = dir.path().join("other.safetensors");
    let spec = FeatureNetSpec { input: [3, 8, 8], ..spec };
    FeatureNet::new(engine_arc(), spec, 4, 3).unwrap().save(&other, &FeatureNetInfo::default()).unwrap();
    let err = dualmcmc::eval::run_eval::eval(engine_arc(), run, Some(12), Some(&other)).unwrap_err();
    assert!(format!("{err:#}").contains("other.safetensors"), "{err:#}");
}

#[test]
fn forward_gives_what_the_trainer_computes_for_each_network() {
    use dualmcmc::cli::{ForwardArgs, NetChoice};
    let run = image_run();
    let dir = tempfile::tempdir().unwrap();
    let session = dualmcmc::session::Session::open(engine_arc(), run).unwrap();
    let t = &session.trainer;
    let x = &image_data()[..4 * SIDE * SIDE];
    let z = common::random(9, 4 * t.cfg.nz, -1.5, 1.5);
    let input = |name: &str, shape: &[usize], v: &[f32]| {
        let p = dir.path().join(name);
        write_npy(&p, shape, v).unwrap();
        p
    };
    let xs = input("x.npy", &[4, 1, SIDE, SIDE], x);
    let zs = input("z.npy", &[4, t.cfg.nz], &z);
    let go = |net, input: &Path, name: &str| {
        let out = dir.path().join(name);
        commands::forward(
            engine_arc(),
            &ForwardArgs { run: run.into(), net, input: input.into(), out: out.clone() },
        )
        .unwrap();
        read_npy(&out).unwrap()
    };
    let g = go(NetChoice::Generator, &zs, "g.npy");
    assert_eq!(g.shape, [4, 1, SIDE, SIDE]);
    assert_eq!(g.values, t.generate(&z).unwrap(), "g(z) differs from the trainer's");
    let e = go(NetChoice::Ebm, &xs, "e.npy");
    assert_eq!(e.shape, [4]);
    assert_eq!(e.values, t.energy(x, false).unwrap().0, "E(x) differs from the trainer's");
    let q = go(NetChoice::Inference, &xs, "q.npy");
    assert_eq!(q.shape, [4, 2 * t.cfg.nz]);
    // μ is z₀ of a chain started from the mean with no steps.
    let z_cfg = dualmcmc::sampler::LangevinConfig { steps: 0, ..t.cfg.z_langevin };
    let mu = t.infer_z(x, &z_cfg, 0, true).unwrap().states[0].clone();
    let nz = t.cfg.nz;
    let q_mu: Vec<f32> = q.values.chunks(2 * nz).flat_map(|r| r[..nz].to_vec()).collect();
    assert_eq!(q_mu, mu, "μ of q(x) differs from the trainer's");
    // The generator takes latents only.
    let err = commands::forward(
        engine_arc(),
        &ForwardArgs {
            run: run.into(),
            net: NetChoice::Generator,
            input: xs.clone(),
            out: dir.path().join("n.npy"),
        },
    )
    .unwrap_err();
    assert!(error_naming(err, &xs).contains(&format!("[N, {nz}]")));
}

#[test]
fn eval_samples_scores_data_near_its_floor_and_a_collapsed_sampler_far_from_it() {
    use dualmcmc::data::toy2d::Toy2d;
    use dualmcmc::eval::samples::eval_samples;
    let cfg = dualmcmc::config::RunConfig::resolve(
        dualmcmc::config::RunConfig::preset("toy2d").unwrap(),
        &[],
        "preset toy2d",
    )
    .unwrap();
    let path = Path::new("samples.npy");
    let measure = |points: Vec<[f32; 2]>| {
        let v: Vec<f32> = points.iter().flatten().copied().collect();
        eval_samples(engine_arc(), &cfg, path, &[points.len(), 2], &v, 2000, None).unwrap()
    };
    let good = measure(Toy2d::EightGaussians.sample(2000, 77));
    let f = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or_else(|| panic!("no {k} in {r}"));
    assert_eq!(good["modes_reached"], 8);
    assert!(f(&good, "samples_near_a_mode") > 0.97, "{good}");
    let floor = f(&good, "histogram_total_variation_held_out_data");
    assert!(f(&good, "histogram_total_variation") < 1.5 * floor + 0.02, "{good}");
    assert!(f(&good, "frechet_distance_points") < 0.05, "{good}");
    // Every sample on one mode.
    let one = Toy2d::EightGaussians.modes().unwrap().centres[0];
    let collapsed = measure(vec![one; 2000]);
    assert_eq!(collapsed["modes_reached"], 1);
    assert!(f(&collapsed, "histogram_total_variation") > 0.8, "{collapsed}");
    assert!(f(&collapsed, "frechet_distance_points") > 1.0, "{collapsed}");
}

#[test]
fn eval_samples_of_real_images_is_near_the_floor_and_of_noise_far_above() {
    use dualmcmc::eval::samples::eval_samples;
    let cfg = dualmcmc::config::RunConfig::resolve(
        dualmcmc::config::RunConfig::preset("fmnist").unwrap(),
        &[],
        "preset fmnist",
    )
    .unwrap();
    let (set, _) = dualmcmc::data::fashion_mnist(false).unwrap();
    let n = 300;
    // Test images other than the floor's (eval takes the first n of the test set).
    let real = set.batch(&(n..2 * n).collect::<Vec<_>>());
    let path = Path::new("samples.npy");
    let shape = [n, 1, 28, 28];
    let r = eval_samples(engine_arc(), &cfg, path, &shape, &real, n, None).unwrap();
    let f = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or_else(|| panic!("no {k} in {r}"));
    let floor = f(&r, "frechet_distance_held_out_data");
    assert!(f(&r, "frechet_distance_samples") < 2.0 * floor, "{r}");
    let noise = common::random(3, n * 784, -1.0, 1.0);
    let r = eval_samples(engine_arc(), &cfg, path, &shape, &noise, n, None).unwrap();
    assert!(f(&r, "frechet_distance_samples") > 20.0 * floor, "{r}");
}
