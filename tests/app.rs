//! The desktop app under egui_kittest with wgpu rendering (lavapipe in CI): one snapshot per
//! panel with tiny models, and interactions (start, pause, step, sliders, teaching steps,
//! checkpoints, a bad data file) that check the state they change. The training thread is
//! real; tests wait on it with bounded timeouts ([`App::settle`]), so they are deterministic.
//!
//! Snapshots: `tests/snapshots/*.png`; after a deliberate change of the look, rerun with
//! `UPDATE_SNAPSHOTS=1` and commit the new pictures. The adapter's name and the timings are
//! hidden in these tests (`show_machine = false`): they differ between machines and runs.

mod common;

use dualmcmc::app::App;
use dualmcmc::app::setup::{DataChoice, Hyper, PRESETS, Setup, TOY_PRESETS};
use dualmcmc::app::state::{AppState, Tab};
use dualmcmc::app::worker::{Command, WorkerHandle};
use eframe::egui;
use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::SnapshotOptions;
use egui_kittest::kittest::Queryable;
use std::time::Duration;

/// The most a test waits for the training thread at one time.
const WAIT: Duration = Duration::from_secs(180);

/// 8 gaussians with tiny MLPs and short chains.
fn toy() -> Setup {
    let mut s = Setup::preset("toy2d");
    s.overrides = [
        "model.hidden=16",
        "train.batch_size=64",
        "train.x_langevin.steps=6",
        "train.z_langevin.steps=3",
        "schedule.grid=4",
    ]
    .map(String::from)
    .to_vec();
    s
}

/// The embedded Fashion-MNIST with tiny convolutional networks.
fn images() -> Setup {
    let mut s = Setup::preset("fmnist");
    s.overrides = [
        "data.prefer_full=false",
        "model.width=4",
        "train.batch_size=8",
        "train.x_langevin.steps=4",
        "train.z_langevin.steps=3",
        "schedule.grid=2",
    ]
    .map(String::from)
    .to_vec();
    s
}

fn harness(setup: Setup) -> Harness<'static, App> {
    harness_of(App::new(common::engine_arc, None, setup))
}

fn harness_of(mut app: App) -> Harness<'static, App> {
    app.state.show_machine = false;
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .with_context_setup(App::setup_fonts)
        .with_render_cursor(false)
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    settle(&mut h);
    assert!(h.state().state.session.is_some(), "the session starts: {:?}", h.state().state.errors);
    h
}

/// Runs frames and waits for the training thread until two frames in a row send nothing
/// new and no view is pending (so what is drawn is up to date).
fn settle(h: &mut Harness<'static, App>) {
    let mut quiet = 0;
    for _ in 0..40 {
        let before = h.state().worker.sent;
        h.step();
        assert!(h.state_mut().settle(WAIT), "the training thread answers within {WAIT:?}");
        let s = h.state();
        if s.worker.sent == before && s.state.pending_views == 0 {
            quiet += 1;
            if quiet == 2 {
                return;
            }
        } else {
            quiet = 0;
        }
    }
    panic!("the app did not settle");
}

/// `n` training iterations, one command each.
fn train(h: &mut Harness<'static, App>, n: usize) {
    for _ in 0..n {
        h.state_mut().send(Command::Step);
    }
    settle(h);
}

fn show(h: &mut Harness<'static, App>, tab: Tab) {
    h.state_mut().state.tab = tab;
    settle(h);
}

#[test]
fn toy_panels_snapshots() {
    let mut h = harness(toy());
    assert_eq!(h.state().state.tab, Tab::Landscape, "the app opens on the 2-D landscape");
    train(&mut h, 4);
    assert_eq!(h.state().state.iteration, 4);
    h.get_by_label("One Langevin step").click();
    settle(&mut h);
    assert!(h.state().state.landscape.is_some() && h.state().state.teach.is_some());
    // The landscape and the chain are computed on the adapter: another driver's rounding
    // (Mesa 25's lavapipe against CI's 22.3) moves a few hundred of its pixels.
    h.snapshot_options("app_landscape", &SnapshotOptions::new().max_failed_pixels(1_000));
    show(&mut h, Tab::Curves);
    h.snapshot("app_curves");
}

#[test]
fn the_metropolis_switch_trains_and_its_acceptance_rate_is_charted() {
    let mut h = harness(toy());
    show(&mut h, Tab::Curves);
    train(&mut h, 2);
    assert!(
        h.query_by_label("x-chain acceptance rate (Metropolis)").is_none(),
        "no chart without the switch"
    );
    h.get_by_label("MALA").click();
    settle(&mut h);
    h.get_by_label("Apply & reset").click();
    settle(&mut h);
    let cfg = &h.state().state.session.as_ref().unwrap().cfg;
    assert!(cfg.train.x_langevin.metropolis, "the session runs with the switch");
    train(&mut h, 3);
    let rates: Vec<f64> = h.state().state.history.iter().map(|r| r.x_accept).collect();
    assert_eq!(rates.len(), 3, "the reset cleared the curves");
    assert!(rates.iter().all(|r| (0.0..=1.0).contains(r)), "{rates:?}");
    assert!(h.state().state.history.iter().all(|r| r.x_jump_accept.is_nan()), "no jumps, no jump rate");
    h.get_by_label("x-chain acceptance rate (Metropolis)");

    // Population jumps: their acceptance rate reaches the curves too.
    let mut setup = toy();
    setup
        .overrides
        .extend(["train.x_langevin.metropolis=true", "train.x_langevin.jump_every=3"].map(String::from));
    let mut h = harness(setup);
    show(&mut h, Tab::Curves);
    train(&mut h, 2);
    let jumps: Vec<f64> = h.state().state.history.iter().map(|r| r.x_jump_accept).collect();
    assert!(jumps.len() == 2 && jumps.iter().all(|r| (0.0..=1.0).contains(r)), "{jumps:?}");
}

#[test]
fn image_panels_snapshots() {
    let mut h = harness(images());
    assert_ne!(h.state().state.tab, Tab::Landscape, "image data opens on a revision panel");
    train(&mut h, 2);
    show(&mut h, Tab::RevisionX);
    let v = h.state().state.x_view.as_ref().expect("an x-revision view");
    assert_eq!(v.states.len(), 5, "x₀ … x₄");
    h.snapshot("app_revision_x");
    show(&mut h, Tab::RevisionZ);
    let v = h.state().state.z_view.as_ref().expect("a z-revision view");
    assert_eq!(v.decoded.len(), 4, "g(z₀) … g(z₃)");
    assert_eq!(v.mse.len(), 4);
    h.snapshot("app_revision_z");
    show(&mut h, Tab::Interpolation);
    let v = h.state().state.interpolation.as_ref().expect("an interpolation view");
    assert_eq!(v.synthesis.len(), 8 * 784, "8 points by default");
    h.snapshot("app_interpolation");
    // The number of points is a control.
    h.get_by_role_and_label(Role::Slider, "points on the line").set_value_accesskit(4.0);
    settle(&mut h);
    let v = h.state().state.interpolation.as_ref().expect("an interpolation view");
    assert_eq!(v.synthesis.len(), 4 * 784);
}

#[test]
fn start_pause_and_step_change_the_training_state() {
    let mut h = harness(toy());
    assert_eq!(h.state().state.iteration, 0);
    h.get_by_label("Step").click();
    settle(&mut h);
    assert_eq!(h.state().state.iteration, 1, "one step, one iteration");
    assert!(!h.state().state.running);

    h.get_by_label("Start").click();
    h.step();
    assert!(h.state_mut().wait_until(WAIT, |s| s.running && s.iteration >= 4), "training advances");
    h.step();
    h.get_by_label("Pause").click();
    settle(&mut h);
    assert!(!h.state().state.running);
    let paused_at = h.state().state.iteration;
    std::thread::sleep(Duration::from_millis(400));
    settle(&mut h);
    assert_eq!(h.state().state.iteration, paused_at, "paused training does not advance");
    assert_eq!(h.state().state.history.len(), paused_at as usize, "one curve point per iteration");

    h.get_by_label("Reset").click();
    settle(&mut h);
    assert_eq!(h.state().state.iteration, 0, "reset starts over");
    assert!(h.state().state.history.is_empty());
}

/// Loss bits of every iteration so far.
fn loss_bits(h: &Harness<'static, App>) -> Vec<[u64; 3]> {
    h.state().state.history.iter().map(|r| [r.gen_loss, r.inf_loss, r.ebm_loss].map(f64::to_bits)).collect()
}

/// The browser's way of running the worker, on the desktop: no thread, each frame polls it.
#[test]
fn the_worker_driven_by_frames_trains_as_the_thread_does() {
    let mut threaded = harness(toy());
    train(&mut threaded, 3);
    let expected = loss_bits(&threaded);
    drop(threaded);

    let mut framed = harness_of(App::with_worker(WorkerHandle::local(common::engine_arc), None, toy()));
    assert!(framed.state().worker.is_local());
    train(&mut framed, 3);
    assert_eq!(loss_bits(&framed), expected, "the same iterations as the thread's worker, bit for bit");

    // Running, a frame's poll records at most one iteration, and training goes on.
    framed.state_mut().send(Command::Run(true));
    let mut last = framed.state().state.iteration;
    for _ in 0..12 {
        framed.state_mut().drain();
        let now = framed.state().state.iteration;
        assert!(now <= last + 1, "one poll, at most one iteration ({last} → {now})");
        last = now;
    }
    assert!(last >= 3 + 8, "training advances frame by frame: iteration {last}");
    framed.state_mut().send(Command::Run(false));
    settle(&mut framed);
    assert!(!framed.state().state.running);

    // Teaching steps move the chains.
    show(&mut framed, Tab::Landscape);
    let before = framed.state().state.teach.as_ref().expect("teaching chains").clone();
    framed.get_by_label("One Langevin step").click();
    settle(&mut framed);
    let after = framed.state().state.teach.as_ref().expect("teaching chains");
    assert_eq!(after.step, before.step + 1);
    assert_ne!(after.path.last(), before.path.last(), "the chains moved");
}

#[test]
fn sliders_move_the_shown_step_and_teaching_steps_move_the_chains() {
    let mut h = harness(toy());
    show(&mut h, Tab::RevisionX);
    let last = h
        .state()
        .state
        .x_view
        .as_ref()
        .unwrap_or_else(|| panic!("a view: {:?}", h.state().state.errors))
        .states
        .len()
        - 1;
    assert_eq!(h.state().state.x_step, last, "the slider starts at the revised samples");
    h.get_by_role_and_label(Role::Slider, "step").set_value_accesskit(2.0);
    h.step();
    assert_eq!(h.state().state.x_step, 2, "the slider sets the shown step");

    show(&mut h, Tab::Landscape);
    let before = h.state().state.teach.as_ref().expect("teaching chains").clone();
    assert_eq!(before.step, 0);
    h.get_by_label("One Langevin step").click();
    settle(&mut h);
    let after = h.state().state.teach.as_ref().expect("teaching chains");
    assert_eq!(after.step, 1);
    assert_ne!(after.path[1], before.path[0], "the chains moved");
    // Without noise, a small step lowers the mean energy (gradient descent).
    h.state_mut().state.teach_step.noise = 0.0;
    h.state_mut().state.teach_step.step_size = 0.01;
    h.get_by_label("One Langevin step").click();
    settle(&mut h);
    let e = &h.state().state.teach.as_ref().expect("teaching chains").mean_energy;
    assert!(e[2] < e[1], "a noiseless step lowers the energy: {e:?}");
}

#[test]
fn checkpoints_save_and_load_and_bad_files_show_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.safetensors");
    let mut h = harness(toy());
    train(&mut h, 2);
    h.state_mut().state.checkpoint_path = file.display().to_string();
    h.step();
    h.get_by_label("Save").click();
    settle(&mut h);
    assert!(file.is_file(), "saved to the path field");
    train(&mut h, 1);
    assert_eq!(h.state().state.iteration, 3);
    h.get_by_label("Load").click();
    settle(&mut h);
    assert_eq!(h.state().state.iteration, 2, "loading brings back the saved iteration");
    assert!(h.state().state.errors.is_empty(), "{:?}", h.state().state.errors);

    // A file that is not a checkpoint: an error in the window, the session kept.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    h.state_mut().state.checkpoint_path = junk.display().to_string();
    h.step();
    h.get_by_label("Load").click();
    settle(&mut h);
    let errors = &h.state().state.errors;
    assert!(errors.iter().any(|e| e.contains("junk.safetensors")), "{errors:?}");
    assert_eq!(h.state().state.iteration, 2, "the session is kept");

    // A bad data file: the error names it; the app stays up.
    let mut setup = images();
    setup.data = DataChoice::Idx(dir.path().join("missing-images.idx"));
    setup.overrides.retain(|o| !o.starts_with("data."));
    h.state_mut().send(Command::Configure(setup));
    settle(&mut h);
    let errors = &h.state().state.errors;
    assert!(errors.iter().any(|e| e.contains("missing-images.idx")), "{errors:?}");
    assert!(h.query_by_label_contains("missing-images.idx").is_some(), "the error is shown");
}

/// Opens the preset combo box and picks `name` from it.
fn choose_preset(h: &mut Harness<'static, App>, name: &str) {
    h.get_by_label("preset").click();
    h.run_steps(3);
    h.get_by_label(name).click();
    h.run_steps(2);
}

/// The app shows the toy picker for the first `TOY_PRESETS` presets: exactly those train on
/// 2-D toy data.
#[test]
fn the_toy_presets_come_first_in_the_list() {
    for (i, name) in PRESETS.iter().enumerate() {
        let cfg = Setup::preset(name).resolve().unwrap();
        let toy = matches!(cfg.data, dualmcmc::config::DataConfig::Toy2d { .. });
        assert_eq!(toy, i < TOY_PRESETS, "preset {name}");
    }
}

/// The MALA switch turned off on a chain with a second step size (which needs the Metropolis
/// correction) drops the second step size rather than making the settings invalid.
#[test]
fn switching_mala_off_drops_the_second_step_size_the_jumps_and_the_box() {
    let mut setup = Setup::preset("checkerboard");
    setup.overrides = [
        "train.x_langevin.second_step_every=3",
        "train.x_langevin.second_step_size=0.02",
        "train.x_langevin.jump_every=10",
        "train.x_langevin.box_half_width=4.5",
    ]
    .map(String::from)
    .to_vec();
    let with = setup.resolve().unwrap();
    assert_eq!(with.train.x_langevin.second_step_every, 3);
    assert!(with.train.x_langevin.jump_every == 10 && with.train.x_langevin.box_half_width == 4.5);
    setup.hyper = Some(Hyper { x_metropolis: false, ..Hyper::of(&with) });
    let without = setup.resolve().unwrap().train.x_langevin;
    assert!(!without.metropolis && without.second_step_every == 0);
    assert!(without.jump_every == 0 && without.box_half_width == 0.0);
    setup.hyper = Some(Hyper::of(&with));
    assert_eq!(setup.resolve().unwrap().train.x_langevin, with.train.x_langevin, "on, it is kept");
}

#[test]
fn the_population_jumps_and_the_box_set_in_the_controls_reach_the_chain() {
    let mut setup = Setup::preset("toy2d");
    let preset = setup.resolve().unwrap();
    assert!(!preset.train.x_langevin.metropolis && preset.train.x_langevin.jump_every == 0);
    let on = Hyper { x_metropolis: true, x_jump_every: 10, x_box_half_width: 4.5, ..Hyper::of(&preset) };
    setup.hyper = Some(on);
    let cfg = setup.resolve().unwrap();
    let x = cfg.train.x_langevin;
    assert!(x.metropolis && x.jump_every == 10 && x.box_half_width == 4.5);
    assert_eq!(Hyper::of(&cfg), on, "the controls show what the chain runs");
    setup.hyper = Some(Hyper { x_jump_every: x.steps + 1, ..on });
    assert!(setup.resolve().is_err(), "a jump beyond the chain is refused, as on the command line");
}

#[test]
fn the_checkerboard_preset_brings_its_recipe_and_keeps_the_toy_list() {
    let mut h = harness(toy());
    choose_preset(&mut h, "checkerboard");
    let switched = |s: &AppState| {
        s.session.as_ref().is_some_and(|i| i.cfg.train.batch_size == 512) || !s.errors.is_empty()
    };
    assert!(h.state_mut().wait_until(WAIT, switched));
    assert!(h.state().state.errors.is_empty(), "{:?}", h.state().state.errors);
    let info = h.state().state.session.as_ref().unwrap();
    assert_eq!(info.toy.map(|t| t.name()), Some("checkerboard"));
    let x = info.cfg.train.x_langevin;
    assert!(x.metropolis && x.step_size == 0.5 && x.second_step_every == 3 && x.second_step_size == 0.02);
    h.get_by_label("toy"); // a 2-D preset keeps the toy picker
    h.run_steps(2);
    h.get_by_label("steps 3, 6, …: 0.02"); // the second step size is shown beside the MALA switch
}

#[test]
fn switching_to_fashion_mnist_from_the_preset_list() {
    let mut h = harness(toy());
    choose_preset(&mut h, "fmnist");
    assert_eq!(h.state().state.setup.preset, "fmnist");
    // The preset's own settings (no frames run meanwhile: no views of the full-size model).
    let switched = |s: &AppState| s.session.as_ref().is_some_and(|i| i.toy.is_none()) || !s.errors.is_empty();
    assert!(h.state_mut().wait_until(WAIT, switched));
    assert!(h.state().state.errors.is_empty(), "{:?}", h.state().state.errors);
    let info = h.state().state.session.as_ref().unwrap();
    assert!(info.data.contains("Fashion-MNIST") || info.data.contains("fashion"), "{}", info.data);
    assert_eq!((info.shape.c, info.shape.h, info.shape.w), (1, 28, 28));
}

#[test]
fn downsampling_keeps_ends_and_extremes() {
    use dualmcmc::app::state::downsample;
    let points: Vec<[f64; 2]> = (0..100_000).map(|i| [i as f64, ((i * 7919) % 1000) as f64]).collect();
    let mut spiky = points.clone();
    spiky[54_321][1] = 1e6;
    let d = downsample(&spiky, 2000);
    assert!(d.len() <= 2000);
    assert_eq!(d[0], spiky[0]);
    assert_eq!(d[d.len() - 1], spiky[spiky.len() - 1]);
    assert!(d.iter().any(|p| p[1] == 1e6), "a spike survives");
    assert!(d.windows(2).all(|w| w[0][0] < w[1][0]), "x stays ordered");
    assert_eq!(downsample(&points[..10], 2000).len(), 10);
}

#[test]
fn without_a_display_the_app_points_to_no_gui() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dualmcmc"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--no-gui") && err.contains("display"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_divergence_shows_in_the_window_and_pauses() {
    let mut setup = toy();
    // Any energy gap passes this bound: the first iteration "diverges".
    setup.overrides.push("train.energy_gap_bound=1e-12".into());
    let mut h = harness(setup);
    h.get_by_label("Start").click();
    h.step();
    assert!(h.state_mut().wait_until(WAIT, |s| !s.errors.is_empty()), "an error arrives");
    settle(&mut h);
    let s = &h.state().state;
    assert!(s.errors[0].contains("diverged"), "{:?}", s.errors);
    assert!(!s.running, "training paused");
    assert_eq!(s.iteration, 0, "the state from before the iteration is kept");
    assert!(h.query_by_label_contains("diverged").is_some(), "the banner shows it");
}
