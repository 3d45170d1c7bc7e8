//! Presets and overrides: every preset resolves; an unknown key or an out-of-range value is
//! an error that names it. Needs no GPU.

use dualmcmc::config::{PRESETS, RunConfig};

fn resolve(preset: &str, overrides: &[&str]) -> Result<RunConfig, String> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunConfig::resolve(RunConfig::preset(preset).map_err(|e| e.to_string())?, &o, preset)
        .map_err(|e| e.to_string())
}

#[test]
fn every_preset_resolves_and_validates() {
    for (name, _) in PRESETS {
        let cfg = resolve(name, &[]).unwrap_or_else(|e| panic!("preset {name}: {e}"));
        // The resolved configuration round-trips through its TOML form.
        let again = RunConfig::resolve(cfg.to_toml().parse().unwrap(), &[], "round trip").unwrap();
        assert_eq!(cfg, again, "preset {name} does not round-trip");
    }
}

/// The `checkerboard` preset is the `toy2d` preset with the overrides docs/convergence.md
/// measured as `cb_best_mala_xs0.5` (bench/toy2d_convergence.py: CB_BEST + MALA + step 0.5).
#[test]
fn the_checkerboard_preset_is_the_measured_recipe() {
    let recipe = [
        "data.toy=checkerboard",
        "model.layers=3",
        "train.batch_size=512",
        "train.x_langevin.steps=60",
        "train.lr_decay=0.8",
        "train.ebm_optim.lr=1e-3",
        "train.generator_optim.lr=1e-3",
        "train.inference_optim.lr=1e-3",
        "train.x_langevin.metropolis=true",
        "train.x_langevin.step_size=0.5",
        "train.x_langevin.second_step_every=3",
        "train.x_langevin.second_step_size=0.02",
        "schedule.iterations=10000",
    ];
    assert_eq!(resolve("checkerboard", &[]).unwrap(), resolve("toy2d", &recipe).unwrap());
}

#[test]
fn the_paper_presets_carry_the_reference_values() {
    let c = resolve("cifar10", &[]).unwrap().train;
    assert_eq!((c.batch_size, c.nz, c.sigma, c.seed), (100, 128, 0.3, 1234));
    assert_eq!((c.x_langevin.steps, c.x_langevin.step_size, c.x_langevin.noise_scale), (30, 0.5, 0.001));
    assert_eq!((c.z_langevin.steps, c.z_langevin.step_size, c.z_langevin.noise_scale), (10, 0.1, 0.1));
    assert_eq!((c.ebm_optim.lr, c.generator_optim.lr, c.inference_optim.lr), (1e-4, 3e-4, 1e-4));
    assert_eq!(
        (c.generator_optim.weight_decay, c.inference_optim.weight_decay, c.ebm_optim.weight_decay),
        (5e-4, 5e-4, 0.0)
    );
    assert_eq!((c.ebm_optim.beta1, c.ebm_optim.beta2, c.lr_decay), (0.0, 0.9, 0.998));
    assert_eq!(
        (c.generator_sample_weight, c.generator_data_weight, c.inference_sample_weight),
        (50.0, 1.0, 0.1)
    );
    let t = (c.x_langevin.noise_scale / c.x_langevin.step_size).powi(2);
    assert!((c.x_langevin.temperature(c.parameterisation) - t).abs() < 1e-12);
    let celeba = resolve("celeba64", &[]).unwrap().train;
    assert_eq!((celeba.x_langevin.step_size, celeba.generator_sample_weight), (0.3, 70.0));
}

#[test]
fn overrides_set_values_by_key() {
    let cfg = resolve(
        "toy2d",
        &["train.x_langevin.steps=7", "train.sigma=1", "data.toy=checkerboard", "train.x_init=noise"],
    )
    .unwrap();
    assert_eq!(cfg.train.x_langevin.steps, 7);
    assert_eq!(cfg.train.sigma, 1.0, "an integer given for a float key becomes a float");
    assert_eq!(cfg.data, dualmcmc::config::DataConfig::Toy2d { toy: "checkerboard".into() });
    assert_eq!(cfg.train.x_init, dualmcmc::train::XInit::Noise);
}

#[test]
fn an_unknown_key_is_an_error_that_names_it() {
    let e = resolve("toy2d", &["train.x_langevin.stepz=7"]).unwrap_err();
    assert!(e.contains("train.x_langevin.stepz") && e.contains("steps"), "{e}");
    let e = resolve("toy2d", &["nonsense.key=1"]).unwrap_err();
    assert!(e.contains("nonsense.key"), "{e}");
    let e = resolve("toy2d", &["no_equals_sign"]).unwrap_err();
    assert!(e.contains("KEY=VALUE"), "{e}");
    // A key of another preset says which presets have it.
    let e = resolve("fmnist", &["data.toy=rings"]).unwrap_err();
    assert!(e.contains("'data.toy'") && e.contains("presets that have it: toy2d"), "{e}");
    let e = resolve("toy2d", &["train.x_langevin.stepz=7"]).unwrap_err();
    assert!(!e.contains("presets that have it"), "{e}");
    let e = resolve("no-such-preset", &[]).unwrap_err();
    assert!(e.contains("no-such-preset") && e.contains("fmnist"), "{e}");
}

#[test]
fn an_out_of_range_or_mistyped_value_is_an_error_that_names_it() {
    let e = resolve("toy2d", &["train.sigma=-1"]).unwrap_err();
    assert!(e.contains("train.sigma") && e.contains("positive"), "{e}");
    let e = resolve("toy2d", &["train.ebm_optim.beta2=1.5"]).unwrap_err();
    assert!(e.contains("ebm_optim.beta"), "{e}");
    let e = resolve("toy2d", &["schedule.iterations=0"]).unwrap_err();
    assert!(e.contains("schedule.iterations"), "{e}");
    let e = resolve("toy2d", &["train.sigma=abc"]).unwrap_err();
    assert!(e.contains("sigma"), "{e}");
    // A word where a number belongs names the whole key, not only its section.
    let e = resolve("fmnist", &["model.width=abc"]).unwrap_err();
    assert!(e.contains("model.width takes a number") && e.contains("has 8"), "{e}");
    let e = resolve("toy2d", &["train.x_init=3"]).unwrap_err();
    assert!(e.contains("train.x_init takes a string"), "{e}");
    let e = resolve("toy2d", &["train.x_init=sideways"]).unwrap_err();
    assert!(e.contains("sideways") || e.contains("x_init"), "{e}");
    let e = resolve("toy2d", &["train.z_langevin.metropolis=true"]).unwrap_err();
    assert!(e.contains("z_langevin.metropolis"), "{e}");
    // A second step size only on Metropolis-adjusted x-chains, and a positive one.
    let e =
        resolve("toy2d", &["train.x_langevin.second_step_every=3", "train.x_langevin.second_step_size=0.5"])
            .unwrap_err();
    assert!(e.contains("second_step_every") && e.contains("metropolis"), "{e}");
    let e = resolve("checkerboard", &["train.x_langevin.second_step_every=1"]).unwrap_err();
    assert!(e.contains("second_step_every = 1") && e.contains("step_size=0.02"), "{e}");
    let e = resolve("checkerboard", &["train.x_langevin.second_step_size=0"]).unwrap_err();
    assert!(e.contains("second_step_size"), "{e}");
    let e = resolve("toy2d", &["train.z_langevin.second_step_every=2"]).unwrap_err();
    assert!(e.contains("z_langevin.second_step_every"), "{e}");
    // Population jumps and a box: Metropolis-adjusted x-chains only, a box of positive size,
    // and enough chains for two halves.
    for bad in ["train.x_langevin.jump_every=10", "train.x_langevin.box_half_width=2"] {
        let e = resolve("toy2d", &[bad]).unwrap_err();
        assert!(e.contains("jump_every and box_half_width need") && e.contains("metropolis"), "{bad}: {e}");
    }
    let e = resolve("checkerboard", &["train.x_langevin.box_half_width=-1"]).unwrap_err();
    assert!(e.contains("box_half_width must be 0 (no box) or positive"), "{e}");
    let e = resolve("checkerboard", &["train.x_langevin.jump_every=5", "train.batch_size=3"]).unwrap_err();
    assert!(e.contains("batch_size ≥ 4"), "{e}");
    let e = resolve("toy2d", &["train.z_langevin.jump_every=5"]).unwrap_err();
    assert!(e.contains("z_langevin.jump_every") && e.contains("set them to 0"), "{e}");
    let e = resolve("checkerboard", &["train.x_langevin.jump_every=61"]).unwrap_err();
    assert!(e.contains("no jump would happen"), "{e}");
}

#[test]
fn jumps_without_a_box_are_named_as_the_likely_cause_of_a_divergence() {
    let x = |sets: &[&str]| resolve("checkerboard", sets).unwrap().train.x_langevin;
    assert!(x(&["train.x_langevin.jump_every=10"]).jumps_without_box());
    assert!(
        !x(&["train.x_langevin.jump_every=10", "train.x_langevin.box_half_width=4.5"]).jumps_without_box()
    );
    assert!(!x(&[]).jumps_without_box(), "no jumps");
}

#[test]
fn the_metropolis_correction_is_off_unless_set_and_round_trips_when_set() {
    let plain = resolve("toy2d", &[]).unwrap();
    assert!(!plain.train.x_langevin.metropolis);
    // A configuration written before the switch existed reads as off.
    let old: String = plain
        .to_toml()
        .lines()
        .filter(|l| {
            !["metropolis", "second_step", "jump_every", "box_half_width"].iter().any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!old.contains("metropolis") && !old.contains("second_step") && !old.contains("jump_every"));
    assert_eq!(RunConfig::resolve(old.parse().unwrap(), &[], "older file").unwrap(), plain);
    let set = resolve(
        "toy2d",
        &[
            "train.x_langevin.metropolis=true",
            "train.x_langevin.second_step_every=3",
            "train.x_langevin.second_step_size=0.5",
            "train.x_langevin.jump_every=10",
            "train.x_langevin.box_half_width=4.5",
        ],
    )
    .unwrap();
    let x = set.train.x_langevin;
    assert!(x.metropolis && x.second_step_every == 3 && x.second_step_size == 0.5);
    assert!(x.jump_every == 10 && x.box_half_width == 4.5 && x.jumps() == 3 && x.is_jump_after(9));
    assert!(!x.is_second_step(0) && !x.is_second_step(1) && x.is_second_step(2) && x.is_second_step(5));
    assert_eq!(RunConfig::resolve(set.to_toml().parse().unwrap(), &[], "round trip").unwrap(), set);
}
