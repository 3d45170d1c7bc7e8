//! The headless `train` command: the run folder it writes, resume equality through the run
//! folder, and bad input that loses nothing.

mod common;
use common::engine_arc;
use dualmcmc::session::{CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, RunSpec, Session};

fn train(engine: std::sync::Arc<dualmcmc::nn::Engine>, spec: &RunSpec) -> anyhow::Result<std::path::PathBuf> {
    dualmcmc::session::train(engine, spec, true, dualmcmc::eval::run_eval::progress)
}

fn tiny(out: &std::path::Path, iterations: u64) -> RunSpec {
    RunSpec {
        preset: Some("toy2d".into()),
        set: [
            "model.hidden=8",
            "train.batch_size=16",
            "train.x_langevin.steps=3",
            "train.z_langevin.steps=2",
            "schedule.grid=4",
            "schedule.log_every=2",
            "schedule.images_every=3",
            "schedule.checkpoint_every=2",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("schedule.iterations={iterations}")])
        .collect(),
        out: Some(out.to_path_buf()),
        ..RunSpec::default()
    }
}

fn params(dir: &std::path::Path) -> Vec<Vec<u32>> {
    let s = Session::open(engine_arc(), dir).unwrap();
    let t = &s.trainer;
    let m = &t.models;
    [&m.ebm, &m.generator, &m.inference].map(|n| t.engine.gpu.read::<u32>(&n.bufs().params).unwrap()).to_vec()
}

#[test]
fn train_writes_a_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    train(engine_arc(), &tiny(&dir, 6)).unwrap();
    assert!(dir.join(CONFIG_FILE).is_file() && dir.join(CHECKPOINT_FILE).is_file());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().map(|l| l["iteration"].as_u64().unwrap()).collect::<Vec<_>>(), [2, 4, 6]);
    for key in ["gen_loss", "inf_loss", "ebm_loss", "energy_data", "energy_samples", "recon_mse", "seconds"] {
        assert!(lines[0][key].as_f64().unwrap().is_finite(), "{key} missing or not finite");
    }
    // The preset measures every 500 iterations and at the end; it keeps weight averages.
    assert!(lines[0].get("log_likelihood").is_none());
    let (ll, ll_ema, optimum) = ["log_likelihood", "log_likelihood_ema", "optimum_log_likelihood"]
        .map(|k| lines[2][k].as_f64().unwrap_or_else(|| panic!("{k} missing at the end")))
        .into();
    assert!(ll < optimum && ll_ema < optimum && ll != ll_ema, "{ll} {ll_ema} {optimum}");
    assert!(
        dir.join("images/density_000003.png").is_file() && dir.join("images/density_000006.png").is_file()
    );
    // The measurements' chart over training time, drawn at the measurement.
    let chart = image::open(dir.join("progress.png")).expect("progress.png after a measurement");
    assert_eq!((chart.width(), chart.height()), (900, 520));
    let s = Session::open(engine_arc(), &dir).unwrap();
    assert_eq!((s.trainer.iteration, s.cfg.train.batch_size), (6, 16));
}

#[test]
fn resuming_a_run_folder_equals_training_straight_through() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    train(engine_arc(), &tiny(&a, 4)).unwrap();
    let resume =
        RunSpec { resume: Some(a.clone()), set: vec!["schedule.iterations=8".into()], ..RunSpec::default() };
    train(engine_arc(), &resume).unwrap();
    train(engine_arc(), &tiny(&b, 8)).unwrap();
    assert_eq!(params(&a), params(&b), "4 + 4 iterations with a resume differ from 8 straight");
    let lines = dualmcmc::session::RunFolder::open(&a).unwrap().read_metrics().unwrap();
    assert_eq!(lines.len(), 4, "the resumed run appends to metrics.jsonl");
    // The wall-clock time goes on counting from the first part's last line.
    let elapsed: Vec<f64> = lines.iter().map(|l| l["elapsed"].as_f64().unwrap()).collect();
    assert!(elapsed.windows(2).all(|w| w[0] < w[1]), "elapsed restarted on resume: {elapsed:?}");
}

/// A run folder written by another tool may lack `images/` (python/train_ddp.py makes one,
/// a hand-made folder may not): resuming makes it.
#[test]
fn resuming_a_folder_without_images_makes_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    train(engine_arc(), &tiny(&a, 2)).unwrap();
    std::fs::remove_dir_all(a.join("images")).unwrap();
    let resume =
        RunSpec { resume: Some(a.clone()), set: vec!["schedule.iterations=4".into()], ..RunSpec::default() };
    train(engine_arc(), &resume).unwrap();
    assert!(std::fs::read_dir(a.join("images")).unwrap().next().is_some(), "pictures written again");
}

#[test]
fn an_existing_run_folder_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("precious.txt"), "keep me").unwrap();
    let err = train(engine_arc(), &tiny(&dir, 2)).unwrap_err().to_string();
    assert!(err.contains("exists and is not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("precious.txt")).unwrap(), "keep me");
}

#[test]
fn bad_data_is_a_clear_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere/train-images.gz");
    let args = RunSpec {
        preset: Some("fmnist".into()),
        set: vec!["data={ kind = \"idx\", images = \"".to_string() + &missing.display().to_string() + "\" }"],
        out: Some(tmp.path().join("run")),
        ..RunSpec::default()
    };
    let err = format!("{:#}", train(engine_arc(), &args).unwrap_err());
    assert!(err.contains("train-images.gz") && err.contains("not found"), "{err}");
    let err = format!(
        "{:#}",
        train(engine_arc(), &RunSpec { resume: Some(tmp.path().join("nothing")), ..RunSpec::default() })
            .unwrap_err()
    );
    assert!(err.contains("nothing") && err.contains(CONFIG_FILE), "{err}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_saves_a_checkpoint_before_exiting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut args: Vec<String> =
        vec!["--no-gui".into(), "train".into(), "--quiet".into(), "--out".into(), dir.display().to_string()];
    for s in tiny(&dir, 1_000_000).set {
        args.extend(["--set".into(), s]);
    }
    args.extend(["--preset".into(), "toy2d".into(), "--set".into(), "schedule.checkpoint_every=0".into()]);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dualmcmc"))
        .args(&args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training is under way (the metrics file has a line), then interrupt.
    let start = std::time::Instant::now();
    while std::fs::read_to_string(dir.join(METRICS_FILE)).map_or(true, |s| s.is_empty()) {
        assert!(start.elapsed().as_secs() < 120, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // checkpoint_every = 0: only the one from before the first iteration is there.
    let before = dualmcmc::checkpoint::read_metadata(dir.join(CHECKPOINT_FILE)).unwrap();
    assert_eq!(before.iteration, 0, "a checkpoint after iteration 0 before the interrupt");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit status {:?}: {stderr}", out.status);
    assert!(stderr.contains("interrupted after iteration"), "{stderr}");
    assert!(dir.join(CHECKPOINT_FILE).is_file(), "Ctrl-C did not save a checkpoint");
    let s = Session::open(engine_arc(), &dir).unwrap();
    assert!(s.trainer.iteration >= 2);
}

#[test]
fn image_runs_log_frechet_distances_every_eval_every_iterations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let set = [
        "model.width=2",
        "train.batch_size=20",
        "train.x_langevin.steps=2",
        "train.z_langevin.steps=1",
        "schedule.iterations=2",
        "schedule.log_every=1",
        "schedule.eval_every=2",
        "schedule.images_every=0",
        "schedule.checkpoint_every=0",
        "schedule.grid=2",
    ];
    let spec = RunSpec {
        preset: Some("fmnist".into()),
        set: set.iter().map(|s| s.to_string()).collect(),
        out: Some(dir.clone()),
        ..RunSpec::default()
    };
    train(engine_arc(), &spec).unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines[0].get("frechet_revised_samples").is_none(), "measured at iteration 2 only");
    for key in ["frechet_generator_samples", "frechet_revised_samples"] {
        let fd = lines[1][key].as_f64().unwrap_or_else(|| panic!("{key} missing"));
        assert!(fd.is_finite() && fd > 0.0, "{key} = {fd}");
    }
    assert_eq!(lines[1]["frechet_examples"], 500);
    assert!(dir.join("progress.png").is_file(), "the Fréchet distances' chart");
    assert_eq!(lines[1]["frechet_weights"], "trained");
}

/// A toy run whose learning rates (1.0 for all three networks) diverge within a few
/// iterations, with the energy gap bound at 5.
fn diverging(out: &std::path::Path, factor: f32) -> RunSpec {
    let mut spec = tiny(out, 60);
    spec.set.extend(
        [
            "model.hidden=16",
            "train.batch_size=64",
            "train.ebm_optim.lr=1",
            "train.generator_optim.lr=1",
            "train.inference_optim.lr=1",
            "train.energy_gap_bound=5",
            "schedule.log_every=1",
            "schedule.checkpoint_every=1000",
        ]
        .map(String::from),
    );
    spec.set.push(format!("train.divergence_lr_factor={factor}"));
    spec
}

#[test]
fn a_divergence_stops_training_by_default_and_rolls_back_with_lower_learning_rates_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let stopped = tmp.path().join("stopped");
    let err = train(engine_arc(), &diverging(&stopped, 0.0)).unwrap_err().to_string();
    assert!(err.contains("diverged at iteration"), "{err}");

    let dir = tmp.path().join("rolled-back");
    train(engine_arc(), &diverging(&dir, 0.3)).expect("the run recovers by lowering its learning rates");
    let cfg = dualmcmc::session::RunFolder::open(&dir).unwrap().config(&[]).unwrap();
    let lr = cfg.train.ebm_optim.lr;
    let rollbacks = (lr.ln() / 0.3f32.ln()).round() as i32;
    assert!(rollbacks >= 1, "no rollback happened (EBM lr {lr})");
    for o in [cfg.train.ebm_optim, cfg.train.generator_optim, cfg.train.inference_optim] {
        assert!(
            (o.lr / 0.3f32.powi(rollbacks) - 1.0).abs() < 1e-4,
            "lr {} after {rollbacks} rollbacks",
            o.lr
        );
    }
    // Rolled back to a checkpoint: metrics.jsonl holds every iteration once, in order.
    let lines = dualmcmc::session::RunFolder::open(&dir).unwrap().read_metrics().unwrap();
    let its: Vec<u64> = lines.iter().map(|m| m["iteration"].as_u64().unwrap()).collect();
    assert_eq!(its, (1..=60).collect::<Vec<u64>>());
    assert_eq!(Session::open(engine_arc(), &dir).unwrap().iteration(), 60);
}

/// Looking at the model between iterations (what the app's views and the held-out
/// measurements do) leaves the training as it would have been: every forward pass advances
/// spectral norm's power iteration, and `Session::with_averages` puts that state back.
#[test]
fn looking_at_the_model_does_not_change_the_training() {
    let set: Vec<String> =
        ["data.prefer_full=false", "model.width=4", "train.batch_size=8", "schedule.grid=2"]
            .map(String::from)
            .to_vec();
    let cfg = dualmcmc::config::RunConfig::resolve(
        dualmcmc::config::RunConfig::preset("fmnist").unwrap(),
        &set,
        "test",
    )
    .unwrap();
    assert!(cfg.to_toml().contains("spectral_norm = true"), "the EBM has spectral norm");
    let run = |look: bool| {
        let mut s = Session::new(engine_arc(), cfg.clone()).unwrap();
        let mut losses = Vec::new();
        for _ in 0..3 {
            let m = s.step().unwrap();
            losses.push([m.ebm_loss, m.gen_loss, m.inf_loss, m.energy_samples].map(f32::to_bits));
            if look {
                s.with_averages(|s, _| {
                    let t = &s.trainer;
                    let x = t.generate(&t.prior_draw(0)).unwrap();
                    t.energies(&x).unwrap();
                    t.revise_x(&x, &t.cfg.x_langevin, 0).unwrap();
                });
            }
        }
        losses
    };
    assert_eq!(run(true), run(false), "the same iterations, bit for bit, whether or not we looked");
}
