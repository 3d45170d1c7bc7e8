mod common;
use dualmcmc::models::{Models, mlp::mlp};
use dualmcmc::nn::activation::Activation;
use dualmcmc::sampler::Parameterisation;
use dualmcmc::train::Trainer;
use dualmcmc::train::config::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Normal};
use std::sync::Arc;

fn eight(n: usize, rng: &mut StdRng) -> Vec<f32> {
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let c = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (s, s), (s, -s), (-s, s), (-s, -s)];
    let nd = Normal::new(0.0f32, 0.5).unwrap();
    let mut v = Vec::new();
    for _ in 0..n {
        let (a, b) = c[rng.random_range(0..8)];
        v.push((4.0 * a + nd.sample(rng)) / 1.414);
        v.push((4.0 * b + nd.sample(rng)) / 1.414);
    }
    v
}

#[test]
#[ignore]
fn scratch() {
    let g = common::gpu();
    let engine = Arc::new(dualmcmc::nn::Engine::new(g));
    let h: usize = std::env::var("H").ok().and_then(|s| s.parse().ok()).unwrap_or(128);
    let iters: usize = std::env::var("ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let xs: f32 = std::env::var("XS").ok().and_then(|s| s.parse().ok()).unwrap_or(0.02);
    let nz = 2;
    let act = Activation::LeakyRelu(0.2);
    let models = Models {
        ebm: mlp(2, &[h, h], 1, act),
        generator: mlp(nz, &[h, h], 2, act),
        inference: mlp(2, &[h, h], 2 * nz, act),
    };
    let opt = |lr: f32, wd: f32| OptimConfig { lr, beta1: 0.0, beta2: 0.9, weight_decay: wd };
    let cfg = TrainConfig {
        batch_size: 256,
        nz,
        sigma: 0.3,
        parameterisation: Parameterisation::Paper,
        x_langevin: ChainConfig { steps: 30, step_size: xs, noise_scale: 0.0 },
        z_langevin: ChainConfig { steps: 10, step_size: 0.01, noise_scale: 0.0 },
        x_init: XInit::Generator,
        x_noise_init_std: 1.0,
        z_init: ZInit::Inference,
        generator_teaching: GeneratorTeaching::Dual,
        ebm_optim: opt(1e-3, 0.0),
        generator_optim: opt(1e-3, 0.0),
        inference_optim: opt(1e-3, 0.0),
        lr_decay: 1.0,
        generator_data_weight: 1.0,
        generator_sample_weight: 1.0,
        inference_sample_weight: 0.1,
        energy_gap_bound: 1e4,
        seed: 1,
    };
    let mut t = Trainer::new(engine.clone(), cfg, models).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let start = std::time::Instant::now();
    for i in 0..iters {
        let batch = eight(256, &mut rng);
        let m = t.iteration(&batch).unwrap();
        if i % 50 == 0 || i + 1 == iters {
            println!(
                "{i}: gen {:.3} inf {:.3} Ed {:.3} Es {:.3} mse0 {:.4} mse {:.4} xtr {:.3}->{:.3} t {:.1}s",
                m.gen_loss,
                m.inf_loss,
                m.energy_data,
                m.energy_samples,
                m.recon_mse_initial,
                m.recon_mse,
                m.x_trace[0],
                m.x_trace.last().unwrap(),
                start.elapsed().as_secs_f32()
            );
        }
    }
    // grid LL
    let n = 200;
    let (lo, hi) = (-4.5f32, 4.5f32);
    let cell = (hi - lo) / n as f32;
    let mut pts = Vec::new();
    for i in 0..n {
        for j in 0..n {
            pts.push(lo + (i as f32 + 0.5) * cell);
            pts.push(lo + (j as f32 + 0.5) * cell);
        }
    }
    let ebm = &t.models.ebm;
    let bs = 256;
    let mut energies = Vec::new();
    let xb = g.zeros(bs * 2);
    let eb = g.zeros(bs);
    for chunk in pts.chunks(bs * 2) {
        let mut c = chunk.to_vec();
        c.resize(bs * 2, 0.0);
        g.write(&xb, &c);
        g.submit(|enc| ebm.forward(&engine, enc, bs, &xb, &eb));
        let e: Vec<f32> = g.read(&eb).unwrap();
        energies.extend_from_slice(&e[..chunk.len() / 2]);
    }
    let m = energies.iter().map(|&e| -(e as f64)).fold(f64::MIN, f64::max);
    let logz =
        m + energies.iter().map(|&e| (-(e as f64) - m).exp()).sum::<f64>().ln() + ((cell * cell) as f64).ln();
    let test = eight(5000, &mut rng);
    let mut ll = 0.0;
    for p in test.chunks(2) {
        let i = (((p[0] - lo) / cell).floor() as i64).clamp(0, n as i64 - 1) as usize;
        let j = (((p[1] - lo) / cell).floor() as i64).clamp(0, n as i64 - 1) as usize;
        ll += -(energies[i * n + j] as f64) - logz;
    }
    println!("LL = {:.4}", ll / 5000.0);
}
