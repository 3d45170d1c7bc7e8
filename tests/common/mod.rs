//! Shared test helpers: one GPU per test process, seeded random data, tolerance checks.
#![allow(dead_code)]

use dualmcmc::gpu::{AdapterChoice, Gpu};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::sync::OnceLock;

/// The process-wide device (lavapipe in CI). Honours DUALMCMC_ADAPTER / DUALMCMC_BACKEND.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::new(&AdapterChoice::from_env()).expect("tests need a wgpu adapter");
        eprintln!("tests run on {}", gpu.describe());
        gpu
    })
}

/// `n` uniform values in [lo, hi), reproducible from `seed`.
pub fn random(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Asserts |got - want| <= atol + rtol·|want| elementwise, naming the first failure.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(*g) - w).abs();
        assert!(
            err <= atol + rtol * w.abs(),
            "{what}: element {i}: got {g}, want {w} (|err| {err:.3e} > {atol:e} + {rtol:e}·|want|)"
        );
    }
}

/// The sizes the kernels are checked on: not multiples of any workgroup.
pub const AWKWARD: [usize; 4] = [1, 7, 65, 257];

/// The process-wide compiled kernels.
pub fn engine() -> &'static dualmcmc::nn::Engine {
    static ENGINE: OnceLock<dualmcmc::nn::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| dualmcmc::nn::Engine::new(gpu()))
}

/// Checks a network's GPU forward against its f64 CPU reference, and its GPU input and
/// parameter gradients against central finite differences of the f64 CPU forward of
/// L = Σ dy∘y (dy random). At most `max_checks` inputs and parameters are checked (chosen
/// at random; all of them when there are fewer).
///
/// Tolerance: |gpu − fd| ≤ 1e-3·|fd| + 1e-4·max|fd| (+ the same for the forward against the
/// reference), which f32 arithmetic on the GPU meets and a wrong gradient does not.
pub fn check_gradients(
    what: &str,
    net: &mut dualmcmc::nn::Network,
    batch: usize,
    seed: u64,
    max_checks: usize,
) {
    let (g, e) = (gpu(), engine());
    net.allocate(g, batch, seed);
    let (n_in, n_out) = (batch * net.in_shape().size(), batch * net.out_shape().size());
    let xs = random(seed + 1, n_in, -1.0, 1.0);
    let dys = random(seed + 2, n_out, -1.0, 1.0);
    let (x, dy, y, dx) = (g.upload(&xs), g.upload(&dys), g.zeros(n_out), g.zeros(n_in));
    g.submit(|enc| {
        net.zero_grads(e, enc);
        net.forward(e, enc, batch, &x, &y);
        net.backward(e, enc, batch, (&x, &y), dualmcmc::nn::Grad { dy: &dy, dx: Some(&dx), params: true });
    });
    let b = net.bufs();
    let to64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    let params = to64(g.read(&b.params).unwrap());
    let state = to64(g.read(&b.state).unwrap());
    let grads: Vec<f32> = g.read(&b.grads).unwrap();
    let (y_gpu, dx_gpu): (Vec<f32>, Vec<f32>) = (g.read(&y).unwrap(), g.read(&dx).unwrap());
    let x64 = to64(xs);
    let dy64 = to64(dys);

    let y_ref = net.cpu_forward(&params, &state, batch, &x64);
    let scale = y_ref.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert_close(&format!("{what}: forward"), &y_gpu, &y_ref, 1e-4 * scale.max(1e-3), 1e-3);

    let loss = |p: &[f64], x: &[f64]| -> f64 {
        net.cpu_forward(p, &state, batch, x).iter().zip(&dy64).map(|(a, b)| a * b).sum()
    };
    let h = 1e-6;
    let pick = |n: usize, salt: u64| -> Vec<usize> {
        if n <= max_checks {
            (0..n).collect()
        } else {
            let mut rng = StdRng::seed_from_u64(seed ^ salt);
            (0..max_checks).map(|_| rng.random_range(0..n)).collect()
        }
    };
    // Input gradient.
    let idx = pick(n_in, 0xA);
    let fd: Vec<f64> = idx
        .iter()
        .map(|&i| {
            let (mut xp, mut xm) = (x64.clone(), x64.clone());
            xp[i] += h;
            xm[i] -= h;
            (loss(&params, &xp) - loss(&params, &xm)) / (2.0 * h)
        })
        .collect();
    compare_fd(&format!("{what}: dL/dx"), &idx, &dx_gpu, &fd);
    // Parameter gradients (only trainable values: the parameter buffer also has padding).
    let trainable: Vec<usize> = net
        .layout
        .tensors
        .iter()
        .filter(|t| t.kind == dualmcmc::nn::Kind::Param)
        .flat_map(|t| t.offset..t.offset + t.numel())
        .collect();
    let idx: Vec<usize> = pick(trainable.len(), 0xB).into_iter().map(|i| trainable[i]).collect();
    let fd: Vec<f64> = idx
        .iter()
        .map(|&i| {
            let (mut pp, mut pm) = (params.clone(), params.clone());
            pp[i] += h;
            pm[i] -= h;
            (loss(&pp, &x64) - loss(&pm, &x64)) / (2.0 * h)
        })
        .collect();
    compare_fd(&format!("{what}: dL/dθ"), &idx, &grads, &fd);
}

fn compare_fd(what: &str, idx: &[usize], gpu: &[f32], fd: &[f64]) {
    let max = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max > 0.0, "{what}: all finite differences are zero; the check would prove nothing");
    for (&i, &want) in idx.iter().zip(fd) {
        let got = f64::from(gpu[i]);
        let err = (got - want).abs();
        assert!(
            err <= 1e-3 * want.abs() + 1e-4 * max,
            "{what}: index {i}: gpu {got:.6e}, finite difference {want:.6e} (|err| {err:.2e}, max|fd| {max:.2e})"
        );
    }
}

/// The compiled kernels behind an Arc, as the trainer holds them.
pub fn engine_arc() -> std::sync::Arc<dualmcmc::nn::Engine> {
    static ENGINE: OnceLock<std::sync::Arc<dualmcmc::nn::Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| std::sync::Arc::new(dualmcmc::nn::Engine::new(gpu()))).clone()
}

/// A training configuration for tiny test networks: short chains, the reference
/// parameterisation, β1 = 0.5 and a fast learning-rate decay so that moments and schedule
/// matter in resume tests.
pub fn tiny_config(batch: usize, nz: usize) -> dualmcmc::train::TrainConfig {
    use dualmcmc::sampler::LangevinConfig;
    use dualmcmc::train::config::OptimConfig;
    use dualmcmc::train::{GeneratorTeaching, XInit, ZInit};
    let opt = OptimConfig { lr: 1e-3, beta1: 0.5, beta2: 0.9, weight_decay: 0.0 };
    dualmcmc::train::TrainConfig {
        batch_size: batch,
        nz,
        sigma: 0.3,
        parameterisation: dualmcmc::sampler::Parameterisation::Reference,
        x_langevin: LangevinConfig { steps: 3, step_size: 0.1, noise_scale: 0.01, ..Default::default() },
        z_langevin: LangevinConfig { steps: 2, step_size: 0.1, noise_scale: 0.1, ..Default::default() },
        x_init: XInit::Generator,
        x_noise_init_std: 1.0,
        z_init: ZInit::Inference,
        generator_teaching: GeneratorTeaching::Dual,
        ebm_optim: opt,
        generator_optim: OptimConfig { weight_decay: 5e-4, ..opt },
        inference_optim: OptimConfig { weight_decay: 5e-4, ..opt },
        lr_decay: 0.9,
        generator_data_weight: 1.0,
        generator_sample_weight: 3.0,
        inference_sample_weight: 0.1,
        energy_gap_bound: 1e4,
        ema_decay: 0.0,
        divergence_lr_factor: 0.0,
        seed: 7,
    }
}

/// Central differences of `f` at every coordinate of `at`, step `h`, in f64.
pub fn central_differences(at: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut p = at.to_vec();
    (0..at.len())
        .map(|k| {
            p[k] = at[k] + h;
            let up = f(&p);
            p[k] = at[k] - h;
            let down = f(&p);
            p[k] = at[k];
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// The bytes of a `.npy` file of `values` in `shape` (C or Fortran order).
pub fn npy_bytes<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    shape: &[u64],
    values: &[T],
    fortran: bool,
) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut bytes = Vec::new();
    let order = if fortran { npyz::Order::Fortran } else { npyz::Order::C };
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .order(order)
        .writer(&mut bytes)
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
    bytes
}
