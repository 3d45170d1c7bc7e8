//! `ablate`: the variants of each comparison, and a whole (tiny) ablation on a 2-D toy.

mod common;
use common::engine_arc;
use dualmcmc::eval::ablate::{AblateArgs, ablate, variants};

fn names(groups: &[&str], x_steps: usize) -> Vec<String> {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    variants(x_steps, &groups).into_iter().map(|v| v.name).collect()
}

#[test]
fn each_comparison_has_the_papers_variants_with_the_baseline_once() {
    // Table 4: noise + 10, noise + 30, inference + 10 (the baseline), inference + 30.
    assert_eq!(names(&["z"], 30), ["baseline", "z-noise-10", "z-noise-30", "z-inference-30"]);
    // Table 5: 10 / 20 / 30 / 50 x-steps, the preset's own length being the baseline.
    assert_eq!(names(&["x"], 30), ["baseline", "x-10", "x-20", "x-50"]);
    assert_eq!(names(&["x"], 20), ["baseline", "x-10", "x-30", "x-50"]);
    assert_eq!(names(&["teaching"], 20), ["baseline", "cooperative", "short-run-noise"]);
    assert_eq!(names(&["z", "x", "teaching"], 20).len(), 9);
    let all = variants(20, &["teaching".into()]);
    assert!(all[1].set.iter().any(|s| s == "train.generator_teaching=\"ebm-only\""));
    assert!(all[2].set.iter().any(|s| s == "train.x_init=\"noise\""));
}

#[test]
fn a_tiny_toy_ablation_writes_its_tables_and_plot_and_reuses_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let args = AblateArgs {
        preset: "toy2d".into(),
        iterations: 2,
        n: 64,
        groups: vec!["z".into()],
        set: [
            "model.hidden=16",
            "train.batch_size=32",
            "schedule.grid=4",
            "schedule.log_every=1",
            "schedule.images_every=0",
        ]
        .map(String::from)
        .to_vec(),
        out: dir.path().join("ablation"),
        features: None,
        quiet: true,
    };
    let report = ablate(engine_arc(), &args).unwrap();
    let variants = report["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 4);
    for v in variants {
        let r = &v["result"];
        assert_eq!(r["iterations"].as_u64(), Some(2), "{v}");
        for key in ["log_likelihood_nats", "reconstruction_mse_after_z_langevin", "seconds_per_iteration"] {
            assert!(r[key].as_f64().is_some_and(f64::is_finite), "{key} in {v}");
        }
    }
    // The noise-initialised variants did train with noise-initialised z-chains.
    let config = std::fs::read_to_string(args.out.join("z-noise-30/config.toml")).unwrap();
    assert!(config.contains("z_init = \"noise\"") && config.contains("steps = 30"), "{config}");
    let md = std::fs::read_to_string(args.out.join("ablation.md")).unwrap();
    assert!(md.contains("paper Table 4") && md.contains("z: noise + 30 steps"), "{md}");
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| z: ") || l.starts_with("| dual-MCMC")).count(),
        4,
        "{md}"
    );
    let png = image::open(args.out.join("ablation.png")).unwrap();
    assert!(png.width() > 500 && png.height() > 200);

    // A second call finds the runs finished and does not train again.
    let ckpt = args.out.join("baseline/checkpoint.safetensors");
    let before = std::fs::metadata(&ckpt).unwrap().modified().unwrap();
    let again = ablate(engine_arc(), &args).unwrap();
    assert_eq!(std::fs::metadata(&ckpt).unwrap().modified().unwrap(), before);
    assert_eq!(
        again["variants"][0]["result"]["log_likelihood_nats"],
        variants[0]["result"]["log_likelihood_nats"]
    );
}
