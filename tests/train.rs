//! The training iteration: loss gradients of all three nets against finite differences,
//! determinism, the divergence guard, one submission and one readback per iteration.

mod common;
use common::{central_differences, engine_arc, gpu, tiny_config};
use dualmcmc::data::toy2d::Toy2d;
use dualmcmc::models::{Models, mlp::mlp};
use dualmcmc::nn::activation::Activation;
use dualmcmc::ops::loss;
use dualmcmc::sampler::Parameterisation;
use dualmcmc::train::{GeneratorTeaching, TrainConfig, TrainError, Trainer, XInit, ZInit};

fn tiny_trainer(cfg: TrainConfig) -> Trainer {
    let nz = cfg.nz;
    let act = Activation::LeakyRelu(0.2);
    let models = Models {
        ebm: mlp(2, &[6], 1, act),
        generator: mlp(nz, &[5], 2, Activation::Tanh),
        inference: mlp(2, &[4], 2 * nz, act),
    };
    Trainer::new(engine_arc(), cfg, models).unwrap()
}

fn batch(n: usize, seed: u64) -> Vec<f32> {
    Toy2d::EightGaussians.sample(n, seed).into_iter().flatten().collect()
}

fn read64(b: &dualmcmc::gpu::GpuBuffer) -> Vec<f64> {
    gpu().read::<f32>(b).unwrap().into_iter().map(f64::from).collect()
}

/// Central differences of `loss` at `params` for every trainable value, against `grads`.
fn check(what: &str, params: &[f64], grads: &[f64], loss: impl Fn(&[f64]) -> f64) {
    let fd = central_differences(params, 1e-6, loss);
    let max = fd.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(max > 0.0, "{what}: no gradient at all");
    for (i, (g, f)) in grads.iter().zip(&fd).enumerate() {
        assert!(
            (g - f).abs() <= 2e-3 * f.abs() + 2e-4 * max,
            "{what}: parameter {i}: iteration {g:.6e}, finite difference {f:.6e}"
        );
    }
}

#[test]
fn one_iteration_gradients_of_all_three_nets_match_finite_differences() {
    let (bsz, nz) = (5, 3);
    let cfg = tiny_config(bsz, nz);
    let temperature = f64::from(cfg.temperature());
    let (w_data, w_sample, w_inf) = (
        f64::from(cfg.generator_data_weight),
        f64::from(cfg.generator_sample_weight),
        f64::from(cfg.inference_sample_weight),
    );
    let mut t = tiny_trainer(cfg);
    t.iteration(&batch(bsz, 1)).unwrap();
    let b = t.buffers();
    let (x, zp, xt, xe, zt) =
        (read64(&b.x), read64(&b.z_prior), read64(&b.x_teach), read64(&b.x_ebm), read64(&b.z_post));
    let [ebm_before, gen_before, inf_before] = t.params_before().map(read64);
    let m = &t.models;
    let state = |n: &dualmcmc::nn::Network| read64(&n.bufs().state);
    let bf = bsz as f64;

    // Generator (eq. 10): w_d‖g(z̃) − x‖²/B + λ_S‖g(z_p) − x̃‖²/B.
    let gs = state(&m.generator);
    let sq = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| (u - v).powi(2)).sum::<f64>();
    check("generator", &gen_before, &read64(&m.generator.bufs().grads), |p| {
        w_data * sq(&m.generator.cpu_forward(p, &gs, bsz, &zt), &x) / bf
            + w_sample * sq(&m.generator.cpu_forward(p, &gs, bsz, &zp), &xt) / bf
    });
    // Inference (eq. 15): NLL(z̃ | q(x))/B + λ_I·NLL(z_p | q(x̃))/B.
    let is = state(&m.inference);
    check("inference", &inf_before, &read64(&m.inference.bufs().grads), |p| {
        loss::cpu::gauss_nll(bsz, nz, &m.inference.cpu_forward(p, &is, bsz, &x), &zt) / bf
            + w_inf * loss::cpu::gauss_nll(bsz, nz, &m.inference.cpu_forward(p, &is, bsz, &xt), &zp) / bf
    });
    // EBM (eq. 7): (mean E(x) − mean E(x̃′)) / T.
    let es = state(&m.ebm);
    check("EBM", &ebm_before, &read64(&m.ebm.bufs().grads), |p| {
        let mean = |v: Vec<f64>| v.iter().sum::<f64>() / bf;
        (mean(m.ebm.cpu_forward(p, &es, bsz, &x)) - mean(m.ebm.cpu_forward(p, &es, bsz, &xe))) / temperature
    });
}

#[test]
fn an_iteration_is_one_submission_and_one_readback() {
    // A device of its own, so that the other tests' traffic does not count.
    let own = dualmcmc::gpu::Gpu::new(&dualmcmc::gpu::AdapterChoice::from_env()).unwrap();
    let engine = std::sync::Arc::new(dualmcmc::nn::Engine::new(&own));
    let cfg = tiny_config(4, 2);
    let models = Models {
        ebm: mlp(2, &[6], 1, Activation::Relu),
        generator: mlp(2, &[5], 2, Activation::Tanh),
        inference: mlp(2, &[4], 4, Activation::Relu),
    };
    let mut t = Trainer::new(engine, cfg, models).unwrap();
    t.iteration(&batch(4, 1)).unwrap();
    let before = own.traffic();
    t.iteration(&batch(4, 2)).unwrap();
    let d = own.traffic() - before;
    assert_eq!((d.submissions, d.readbacks), (1, 1), "one iteration must be one submission and one readback");
}

#[test]
fn twenty_iterations_are_bit_identical_across_runs() {
    let run = || {
        let mut t = tiny_trainer(tiny_config(8, 2));
        for i in 0..20 {
            t.iteration(&batch(8, i)).unwrap();
        }
        let m = &t.models;
        [&m.ebm, &m.generator, &m.inference].map(|n| gpu().read::<u32>(&n.bufs().params).unwrap())
    };
    assert_eq!(run(), run(), "same seed, same adapter: parameters differ");
}

#[test]
fn a_nan_stops_training_naming_iteration_and_quantity_and_keeps_the_last_good_state() {
    let mut t = tiny_trainer(tiny_config(4, 2));
    for i in 0..3 {
        t.iteration(&batch(4, i)).unwrap();
    }
    let before = gpu().read::<u32>(&t.models.generator.bufs().params).unwrap();
    let mut bad = batch(4, 9);
    bad[3] = f32::NAN;
    let err = t.iteration(&bad).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrainError::Diverged(_)), "{msg}");
    assert!(msg.contains("iteration 3") && msg.contains("not a finite number"), "{msg}");
    assert!(msg.contains("loss") || msg.contains("energy"), "{msg}");
    assert_eq!(gpu().read::<u32>(&t.models.generator.bufs().params).unwrap(), before, "state not restored");
    assert_eq!(t.iteration, 3, "the failed iteration must not count");
    // Training goes on from the kept state.
    t.iteration(&batch(4, 10)).unwrap();
}

#[test]
fn an_energy_gap_beyond_the_bound_stops_training() {
    let cfg = TrainConfig { energy_gap_bound: 1e-12, ..tiny_config(4, 2) };
    let mut t = tiny_trainer(cfg);
    let err = t.iteration(&batch(4, 0)).unwrap_err().to_string();
    assert!(
        err.contains("iteration 0") && err.contains("energy gap") && err.contains("energy_gap_bound"),
        "{err}"
    );
}

#[test]
fn a_metropolis_adjusted_x_chain_trains_in_one_submission_and_reports_its_acceptance() {
    let own = dualmcmc::gpu::Gpu::new(&dualmcmc::gpu::AdapterChoice::from_env()).unwrap();
    let engine = std::sync::Arc::new(dualmcmc::nn::Engine::new(&own));
    let mut cfg = tiny_config(6, 2);
    cfg.parameterisation = Parameterisation::Paper;
    cfg.x_langevin.metropolis = true;
    cfg.x_langevin.steps = 4;
    let models = Models {
        ebm: mlp(2, &[6], 1, Activation::Relu),
        generator: mlp(2, &[5], 2, Activation::Tanh),
        inference: mlp(2, &[4], 4, Activation::Relu),
    };
    let mut t = Trainer::new(engine, cfg.clone(), models).unwrap();
    let first = t.iteration(&batch(6, 1)).unwrap();
    let before = own.traffic();
    let m = t.iteration(&batch(6, 2)).unwrap();
    let d = own.traffic() - before;
    assert_eq!((d.submissions, d.readbacks), (1, 1), "one iteration must be one submission and one readback");
    assert_eq!(m.x_trace.len(), cfg.x_langevin.steps + 1);
    for rate in [first.x_accept, m.x_accept] {
        let rate = rate.expect("a Metropolis-adjusted chain reports its acceptance");
        // Counts of 0 … 4 over 6 chains and 4 steps: a multiple of 1/24.
        assert!((0.0..=1.0).contains(&rate) && (rate * 24.0 - (rate * 24.0).round()).abs() < 1e-4, "{rate}");
    }
    assert_eq!(tiny_trainer(tiny_config(6, 2)).iteration(&batch(6, 1)).unwrap().x_accept, None);
}

#[test]
fn every_ablation_switch_trains() {
    // Short-run EBM from noise; ABP (z from noise); amortised inference (0 z-steps);
    // cooperative learning (generator taught by EBM samples only); the paper's form.
    type Variant = (&'static str, fn(&mut TrainConfig));
    let variants: [Variant; 5] = [
        ("x from noise", |c| c.x_init = XInit::Noise),
        ("z from noise", |c| c.z_init = ZInit::Noise),
        ("inference only", |c| c.z_langevin.steps = 0),
        ("cooperative", |c| c.generator_teaching = GeneratorTeaching::EbmOnly),
        ("paper form", |c| c.parameterisation = Parameterisation::Paper),
    ];
    for (name, change) in variants {
        let mut cfg = tiny_config(4, 2);
        change(&mut cfg);
        let mut t = tiny_trainer(cfg.clone());
        let mut last = None;
        for i in 0..3 {
            last = Some(t.iteration(&batch(4, i)).unwrap_or_else(|e| panic!("{name}: {e}")));
        }
        let m = last.unwrap();
        assert_eq!(m.z_trace.len(), cfg.z_langevin.steps + 1, "{name}");
        assert_eq!(m.x_trace.len(), cfg.x_langevin.steps + 1, "{name}");
        if cfg.generator_teaching == GeneratorTeaching::EbmOnly {
            assert_eq!(
                m.gen_loss,
                cfg.generator_sample_weight * m.gen_sample_loss,
                "{name}: the data term must not count"
            );
        }
        if cfg.z_langevin.steps == 0 {
            assert_eq!(m.recon_mse, m.recon_mse_initial, "{name}");
        }
    }
}

#[test]
fn inference_chains_start_where_training_starts_them() {
    // z_init = inference: z₀ = μ(x) depends on x. z_init = noise: z₀ ~ N(0, I) whatever x is,
    // as in the noise-initialised training the ablation compares (Table 4).
    let chain_cfg = tiny_config(8, 3).z_langevin;
    let (x1, x2) = (batch(8, 1), batch(8, 2));
    let t = tiny_trainer(tiny_config(8, 3));
    let (a, b) = (t.infer_z(&x1, &chain_cfg, 0, true).unwrap(), t.infer_z(&x2, &chain_cfg, 0, true).unwrap());
    assert_ne!(a.states[0], b.states[0]);
    let mut cfg = tiny_config(8, 3);
    cfg.z_init = ZInit::Noise;
    let t = tiny_trainer(cfg);
    let (a, b) = (t.infer_z(&x1, &chain_cfg, 0, true).unwrap(), t.infer_z(&x2, &chain_cfg, 0, true).unwrap());
    assert_eq!(a.states[0], b.states[0]);
    let z0 = &a.states[0];
    let var = z0.iter().map(|&z| f64::from(z).powi(2)).sum::<f64>() / z0.len() as f64;
    assert!(var > 0.2 && var < 3.0, "z₀ should be standard normal draws, mean square {var}");
    assert_ne!(a.states[1], b.states[1], "the chain then moves towards each x's posterior");
}

#[test]
fn x_chains_start_where_training_starts_them() {
    // x_init = generator: g(z) of the prior draw of the key; x_init = noise: N(0, std²).
    let t = tiny_trainer(tiny_config(64, 3));
    assert_eq!(t.x_chain_start(5).unwrap(), t.generate(&t.prior_draw(5)).unwrap());
    let mut cfg = tiny_config(64, 3);
    cfg.x_init = XInit::Noise;
    cfg.x_noise_init_std = 2.0;
    let t = tiny_trainer(cfg);
    let x = t.x_chain_start(5).unwrap();
    assert_eq!(x.len(), 64 * 2);
    let var = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
    assert!((var - 4.0).abs() < 1.2, "mean square {var}, want ≈ 4");
    assert_ne!(x, t.x_chain_start(6).unwrap(), "keys give different draws");
    assert_eq!(x, t.x_chain_start(5).unwrap(), "and the same key the same draws");
}

#[test]
fn the_moving_average_follows_its_rule_never_feeds_back_and_swaps_in() {
    let (bsz, nz) = (5, 2);
    let decay = 0.5;
    let mut averaged = tiny_trainer(TrainConfig { ema_decay: decay, ..tiny_config(bsz, nz) });
    let mut plain = tiny_trainer(tiny_config(bsz, nz));
    let avg = |t: &Trainer| read64(&t.models.ebm.bufs().average.as_ref().unwrap().params);
    let mut want = read64(&averaged.models.ebm.bufs().params);
    assert_eq!(avg(&averaged), want, "the average starts at the initial weights");
    for i in 0..3 {
        averaged.iteration(&batch(bsz, i)).unwrap();
        plain.iteration(&batch(bsz, i)).unwrap();
        let theta = read64(&averaged.models.ebm.bufs().params);
        // Adam step t = i + 1: d_t = min(d, (1 + t)/(10 + t)).
        let t = (i + 1) as f32;
        let rate = f64::from(1.0 - decay.min((1.0 + t) / (10.0 + t)));
        for (w, th) in want.iter_mut().zip(&theta) {
            *w += rate * (th - *w);
        }
        let got: Vec<f32> = gpu().read(&averaged.models.ebm.bufs().average.as_ref().unwrap().params).unwrap();
        common::assert_close(&format!("average after {}", i + 1), &got, &want, 1e-6, 1e-5);
    }
    let trained = read64(&averaged.models.ebm.bufs().params);
    assert_eq!(trained, read64(&plain.models.ebm.bufs().params), "training never uses the average");
    let average = avg(&averaged);
    assert!(averaged.use_averages(true) && !plain.use_averages(true));
    assert_eq!(read64(&averaged.models.ebm.bufs().params), average, "the average is in use");
    let x: Vec<f32> = batch(bsz, 9);
    let (e_avg, _) = averaged.energy(&x, false).unwrap();
    averaged.use_averages(false);
    let (e_trained, _) = averaged.energy(&x, false).unwrap();
    assert_ne!(e_avg, e_trained, "the average is another network");
    assert_eq!(read64(&averaged.models.ebm.bufs().params), trained, "and swapped back");
}
