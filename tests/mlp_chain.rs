//! The whole-chain kernel (`ops::mlp_chain`): its gradient against central finite differences
//! of the network's own CPU forward, whole chains against the kernel's f64 CPU reference on
//! awkward sizes, against the per-layer samplers it replaces, against a posterior known in
//! closed form, and run to run bit for bit.

mod common;
use common::{assert_close, engine, gpu, random};
use dualmcmc::models::mlp::mlp;
use dualmcmc::nn::activation::Act;
use dualmcmc::nn::linear::Linear;
use dualmcmc::nn::{Engine, Network, ParamLayout, Sequential, Shape};
use dualmcmc::ops::activation::Activation;
use dualmcmc::ops::mlp_chain::{ChainArgs, ChainTarget, MlpLayout, cpu};
use dualmcmc::sampler::{ChainNoise, LangevinConfig, Parameterisation, XLangevin, ZLangevin};
use std::sync::OnceLock;

/// Kernels that run chains under an MLP as one dispatch (`fused`, what CPU adapters do) or
/// layer by layer (what GPUs do), whatever adapter the tests run on.
fn engine_with(fused: bool) -> &'static Engine {
    static ENGINES: [OnceLock<Engine>; 2] = [OnceLock::new(), OnceLock::new()];
    ENGINES[usize::from(fused)].get_or_init(|| {
        let mut e = Engine::new(gpu());
        e.fused_chains = fused;
        e
    })
}

fn network(
    input: usize,
    hidden: &[usize],
    output: usize,
    act: Activation,
    batch: usize,
    seed: u64,
) -> Network {
    let mut net = mlp(input, hidden, output, act);
    net.allocate(gpu(), batch, seed);
    net
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Runs the kernel directly and compares state, outputs and trace with `cpu::chain`.
fn check_against_cpu(what: &str, net: &Network, batch: usize, steps: usize, fit: Option<f32>) {
    let (g, e) = (gpu(), engine());
    let mlp = net.mlp_layout().expect("a plain MLP");
    let (din, dout) = (mlp.input, mlp.output);
    let s0 = random(11, batch * din, -1.5, 1.5);
    let xs = random(12, batch * dout, -1.0, 1.0);
    let (state, target) = (g.upload(&s0), g.upload(&xs));
    let bufs = e.mlp_chain.buffers(&mlp, batch, steps).expect("small buffers");
    let (outputs, trace) = (g.zeros(batch * dout), g.zeros(2 * steps + 2));
    let args = ChainArgs {
        batch,
        steps,
        drift: 0.05,
        noise: 0.3,
        prior: if fit.is_some() { 1.0 } else { 0.0 },
        seed: 7,
        stream: 3,
        iteration: 5,
        metropolis: false,
        second_step: None,
        first_step: 0,
        box_half_width: 0.0,
    };
    let kind = match fit {
        Some(coef) => ChainTarget::Fit { target: &target, coef, inv_two_var: 0.5 * coef },
        None => ChainTarget::Energy,
    };
    let params = &net.bufs().params;
    g.submit(|enc| e.mlp_chain.run(enc, &bufs, params, &state, kind, &outputs, &trace, &args));
    let p: Vec<f32> = g.read(params).unwrap();
    let want = cpu::chain(&mlp, &p, &s0, fit.map(|c| (&xs[..], f64::from(c))), &args);
    let tol = 2e-4;
    assert_close(&format!("{what}: final state"), &g.read(&state).unwrap(), &want.state, tol, tol);
    assert_close(&format!("{what}: outputs"), &g.read(&outputs).unwrap(), &want.outputs, tol, tol);
    assert_close(&format!("{what}: statistics"), &g.read(bufs.stats()).unwrap(), &want.stats, tol, tol);
    // The trace: means over the rows of the statistics.
    let b = batch as f64;
    let tr: Vec<f32> = g.read(&trace).unwrap();
    for t in 0..=steps {
        let rows = &want.stats[2 * t * batch..2 * (t + 1) * batch];
        let first: f64 = rows.iter().step_by(2).sum();
        let ss: f64 = rows.iter().skip(1).step_by(2).sum();
        match fit {
            None => assert_close(&format!("{what}: trace[{t}]"), &tr[t..=t], &[first / b], tol, tol),
            Some(coef) => {
                let lp = -(0.5 * f64::from(coef) * first + 0.5 * ss) / b;
                let got = &tr[2 * t..2 * t + 2];
                assert_close(&format!("{what}: trace[{t}]"), got, &[first / (b * dout as f64), lp], tol, tol);
            }
        }
    }
}

/// One step with drift 1 and no noise or prior moves s to s − ∇U(s): the kernel's gradient,
/// read off that step, against central finite differences (in f64) of U computed from the
/// network's CPU forward (`Network::cpu_forward`, independent of the kernel's reference).
fn check_gradient_by_finite_differences(what: &str, net: &Network, batch: usize, coef: Option<f64>) {
    let (g, e) = (gpu(), engine());
    let mlp = net.mlp_layout().expect("a plain MLP");
    let (din, dout) = (mlp.input, mlp.output);
    let s0 = random(61, batch * din, -1.5, 1.5);
    let xs = random(62, batch * dout, -1.0, 1.0);
    let (state, target) = (g.upload(&s0), g.upload(&xs));
    let bufs = e.mlp_chain.buffers(&mlp, batch, 1).expect("small buffers");
    let (outputs, trace) = (g.zeros(batch * dout), g.zeros(4));
    let args = ChainArgs {
        batch,
        steps: 1,
        drift: 1.0,
        noise: 0.0,
        prior: 0.0,
        seed: 1,
        stream: 1,
        iteration: 0,
        metropolis: false,
        second_step: None,
        first_step: 0,
        box_half_width: 0.0,
    };
    let kind = match coef {
        Some(c) => ChainTarget::Fit { target: &target, coef: c as f32, inv_two_var: 0.0 },
        None => ChainTarget::Energy,
    };
    let params = &net.bufs().params;
    g.submit(|enc| e.mlp_chain.run(enc, &bufs, params, &state, kind, &outputs, &trace, &args));
    let s1: Vec<f32> = g.read(&state).unwrap();
    let grad: Vec<f32> = s0.iter().zip(&s1).map(|(a, b)| a - b).collect();
    let p64 = to64(&g.read::<f32>(params).unwrap());
    let state64 = to64(&g.read::<f32>(&net.bufs().state).unwrap());
    // U of one row from the CPU forward.
    let u = |row: usize, s: &[f64]| -> f64 {
        let y = net.cpu_forward(&p64, &state64, 1, s);
        match coef {
            None => y[0],
            Some(c) => (0..dout).map(|o| 0.5 * c * (y[o] - f64::from(xs[row * dout + o])).powi(2)).sum(),
        }
    };
    let h = 1e-4;
    let mut want = Vec::new();
    for row in 0..batch {
        let s: Vec<f64> = to64(&s0[row * din..(row + 1) * din]);
        for d in 0..din {
            let (mut up, mut down) = (s.clone(), s.clone());
            up[d] += h;
            down[d] -= h;
            want.push((u(row, &up) - u(row, &down)) / (2.0 * h));
        }
    }
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert_close(&format!("{what}: ∇U by finite differences"), &grad, &want, 1e-4 * scale + 1e-5, 1e-3);
}

#[test]
fn chain_gradients_equal_finite_differences() {
    let net = network(3, &[32, 32, 32], 1, Activation::LeakyRelu(0.2), 11, 71);
    check_gradient_by_finite_differences("energy, leaky 3→32×3→1", &net, 11, None);
    let net = network(2, &[64], 1, Activation::Tanh, 5, 72);
    check_gradient_by_finite_differences("energy, tanh 2→64→1", &net, 5, None);
    let net = network(4, &[32, 32], 3, Activation::LeakyRelu(0.2), 7, 73);
    check_gradient_by_finite_differences("fit, leaky 4→32×2→3", &net, 7, Some(2.5));
}

#[test]
fn energy_chain_equals_the_cpu_reference_on_awkward_sizes() {
    // 3 inputs, 3 hidden layers of 32, batch 13 (not a multiple of any workgroup), 6 steps.
    let net = network(3, &[32, 32, 32], 1, Activation::LeakyRelu(0.2), 13, 4);
    check_against_cpu("leaky 3→32×3→1", &net, 13, 6, None);
    let net = network(2, &[32], 1, Activation::Tanh, 9, 5);
    check_against_cpu("tanh 2→32→1", &net, 9, 4, None);
    let net = network(4, &[64, 64, 64, 64], 1, Activation::LeakyRelu(0.1), 3, 7);
    check_against_cpu("leaky 4→64×4→1", &net, 3, 2, None);
}

#[test]
fn fit_chain_equals_the_cpu_reference_on_awkward_sizes() {
    let net = network(3, &[32, 32], 4, Activation::LeakyRelu(0.2), 11, 6);
    check_against_cpu("leaky 3→32×2→4", &net, 11, 5, Some(4.0));
    let net = network(1, &[32, 32, 32], 3, Activation::Relu, 17, 8);
    check_against_cpu("relu 1→32×3→3", &net, 17, 3, Some(2.0));
}

#[test]
fn layouts_the_kernel_takes_and_refuses() {
    let plain = mlp(2, &[128, 128], 1, Activation::LeakyRelu(0.2)).mlp_layout().expect("toy2d's EBM");
    assert_eq!((plain.input, plain.hidden, plain.hidden_layers, plain.output), (2, 128, 2, 1));
    assert_eq!(plain, MlpLayout::example(2, 1), "the shader-validation example is laid out as models::mlp");
    // Widths that are not multiples of 32 or exceed 128, widths that differ, more than 4 hidden
    // layers, more than 4 inputs, no hidden layer, a negative slope.
    assert!(mlp(2, &[16, 16], 1, Activation::Relu).mlp_layout().is_none());
    assert!(mlp(2, &[48, 48], 1, Activation::Relu).mlp_layout().is_none());
    assert!(mlp(2, &[256, 256], 1, Activation::Relu).mlp_layout().is_none());
    assert!(mlp(2, &[32, 64], 1, Activation::Relu).mlp_layout().is_none());
    assert!(mlp(2, &[32; 5], 1, Activation::Relu).mlp_layout().is_none());
    assert!(mlp(5, &[32], 1, Activation::Relu).mlp_layout().is_none());
    assert!(mlp(2, &[], 1, Activation::Relu).mlp_layout().is_none());
    assert!(mlp(2, &[32], 1, Activation::LeakyRelu(-0.5)).mlp_layout().is_none());
    // A spectrally normalised layer keeps the per-layer path.
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(2));
    let sn = layout
        .scoped("net.0", |l| Linear::with_spectral_norm(l, Shape::flat(2), Shape::flat(32), true, true));
    body.push(sn);
    body.push(Act::new(Activation::Relu, Shape::flat(32)));
    body.push(layout.scoped("net.2", |l| Linear::new(l, Shape::flat(32), Shape::flat(1), true)));
    assert!(Network::new(layout, body).mlp_layout().is_none());
}

#[test]
fn chain_buffers_past_the_device_limit_are_refused() {
    let net = mlp(2, &[32, 32], 1, Activation::Relu);
    let limit = gpu().limits.max_storage_buffer_binding_size.min(gpu().limits.max_buffer_size);
    // 2 values per chain and step: this many steps of 1,024 chains pass the limit (the
    // samplers then run the chain layer by layer).
    let steps = (limit / (4 * 2 * 1024)) as usize + 1;
    let layout = net.mlp_layout().unwrap();
    assert!(engine().mlp_chain.buffers(&layout, 1024, steps).is_none());
    assert!(engine().mlp_chain.buffers(&layout, 1024, 100).is_some());
}

/// The fused samplers against the per-layer samplers on the same network, noise and start.
#[test]
fn fused_samplers_equal_the_per_layer_samplers() {
    let g = gpu();
    let (batch, nz, d) = (37, 2, 3);
    let ebm = network(d, &[32, 32], 1, Activation::LeakyRelu(0.2), batch, 21);
    let gen_net = network(nz, &[32, 32], d, Activation::LeakyRelu(0.2), batch, 22);
    assert!(ebm.mlp_layout().is_some() && gen_net.mlp_layout().is_some(), "both take the fused path");
    let x_cfg = LangevinConfig { steps: 7, step_size: 0.02, ..Default::default() };
    let z_cfg = LangevinConfig { steps: 5, step_size: 0.05, ..Default::default() };
    let noise = ChainNoise { seed: 9, stream: 4, iteration: 3 };
    let x0 = random(31, batch * d, -1.0, 1.0);
    let z0 = random(32, batch * nz, -1.0, 1.0);
    let run = |e: &Engine| {
        let p = Parameterisation::Paper;
        let xs = XLangevin::new(g, ebm.in_shape(), batch, x_cfg.steps, p);
        let zs = ZLangevin::new(g, &gen_net, batch, z_cfg.steps, 0.3, p);
        let (x, z, data) = (g.upload(&x0), g.upload(&z0), g.upload(&x0));
        g.submit(|enc| {
            xs.run(e, enc, &ebm, batch, &x, &x_cfg, noise, &[]);
            zs.run(e, enc, &gen_net, batch, &z, &data, &z_cfg, noise, &[]);
        });
        let read = |b| g.read::<f32>(b).unwrap();
        [read(&x), read(&xs.trace), read(&z), read(&zs.trace), read(&zs.g)]
    };
    let (fused, per_layer) = (run(engine_with(true)), run(engine_with(false)));
    let names = ["x", "x trace", "z", "z trace", "g(z)"];
    for ((name, f), p) in names.iter().zip(&fused).zip(&per_layer) {
        assert_close(&format!("fused vs per-layer: {name}"), f, &to64(p), 1e-4, 1e-4);
    }
}

/// The Metropolis-adjusted x-chain (MALA) in the whole-chain kernel against the per-layer
/// path (itself checked against a CPU recomputation in tests/sampler.rs): same draws, so the
/// same decisions, states and counts; with one step size, with every third step at a second,
/// larger one, and in stretches of 4 steps (or 1) with population jumps between (and after) them
/// and a box.
#[test]
fn fused_metropolis_chain_equals_the_per_layer_chain() {
    let plain = LangevinConfig { steps: 9, step_size: 0.3, metropolis: true, ..Default::default() };
    check_fused_metropolis(&plain);
    check_fused_metropolis(&LangevinConfig { jump_every: 4, box_half_width: 1.5, ..plain });
    // A jump after the last step too (4 divides 8).
    check_fused_metropolis(&LangevinConfig { steps: 8, jump_every: 4, box_half_width: 1.5, ..plain });
    // A jump after every step: every step starts from the U and ∇U the jump left.
    check_fused_metropolis(&LangevinConfig { jump_every: 1, box_half_width: 1.5, ..plain });
    // Jumps and a second step size: the steps after the first stretch take it too.
    check_fused_metropolis(&LangevinConfig {
        step_size: 0.02,
        second_step_every: 3,
        second_step_size: 3.0,
        jump_every: 2,
        box_half_width: 1.5,
        ..plain
    });
    check_fused_metropolis(&LangevinConfig {
        step_size: 0.02,
        second_step_every: 3,
        second_step_size: 3.0,
        ..plain
    });
}

fn check_fused_metropolis(cfg: &LangevinConfig) {
    let g = gpu();
    let (batch, d) = (37, 2);
    let ebm = network(d, &[32, 32], 1, Activation::LeakyRelu(0.2), batch, 61);
    let noise = ChainNoise { seed: 4, stream: 13, iteration: 8 };
    let x0 = random(62, batch * d, -1.4, 1.4);
    let run = |e: &Engine| {
        let sampler = XLangevin::new(g, ebm.in_shape(), batch, cfg.steps, Parameterisation::Paper);
        let x = g.upload(&x0);
        g.submit(|enc| sampler.run(e, enc, &ebm, batch, &x, cfg, noise, &[]));
        let read = |b| g.read::<f32>(b).unwrap();
        [read(&x), read(&sampler.trace), read(sampler.accepted()), read(sampler.jumps_accepted())]
    };
    let (fused, per_layer) = (run(engine_with(true)), run(engine_with(false)));
    assert_eq!(fused[2], per_layer[2], "accepted proposals per chain ({cfg:?})");
    assert_eq!(fused[3], per_layer[3], "accepted jumps per chain ({cfg:?})");
    let jumps: f32 = fused[3].iter().sum();
    assert!(cfg.jumps() == 0 || (jumps > 0.0 && jumps < (batch * cfg.jumps()) as f32), "jumps: {jumps}");
    if cfg.box_half_width > 0.0 {
        assert!(fused[0].iter().all(|v| v.abs() <= cfg.box_half_width), "a state outside the box");
    }
    let total: f32 = fused[2].iter().sum();
    assert!(total > 0.0 && total < (batch * cfg.steps) as f32, "some accepted, some rejected: {total}");
    for (name, i) in [("x", 0), ("x trace", 1)] {
        assert_close(
            &format!("fused vs per-layer: {name} ({cfg:?})"),
            &fused[i],
            &to64(&per_layer[i]),
            1e-4,
            1e-4,
        );
    }
}

/// With slope-1 activations the MLP generator is linear, g(z) = Az + c, and the posterior
/// of z given x is Gaussian in closed form: the fused z-chain must sample it.
#[test]
fn fused_z_chain_recovers_a_gaussian_posterior() {
    let g = gpu();
    let (nz, d, chains) = (2, 3, 2000);
    let gen_net = network(nz, &[32], d, Activation::LeakyRelu(1.0), chains, 41);
    let mlp = gen_net.mlp_layout().unwrap();
    let params: Vec<f32> = g.read(&gen_net.bufs().params).unwrap();
    let p64 = to64(&params);
    // A = W2 W1 [d, nz], c = W2 b1 + b2.
    let (w1, b1, w2, b2) = (mlp.weights[0], mlp.biases[0], mlp.weights[1], mlp.biases[1]);
    let h = 32;
    let a = |i: usize, j: usize| (0..h).map(|k| p64[w2 + i * h + k] * p64[w1 + k * nz + j]).sum::<f64>();
    let c = |i: usize| p64[b2 + i] + (0..h).map(|k| p64[w2 + i * h + k] * p64[b1 + k]).sum::<f64>();
    let x_one = [0.7f32, -0.4, 0.2];
    let sigma = 0.5f32;
    let s = 0.02f32;
    let cfg = LangevinConfig { steps: 600, step_size: s, ..Default::default() };
    let sampler = ZLangevin::new(g, &gen_net, chains, cfg.steps, sigma, Parameterisation::Paper);
    let (z, x) = (g.zeros(chains * nz), g.upload(&x_one.repeat(chains)));
    let noise = ChainNoise { seed: 3, stream: 2, iteration: 0 };
    g.submit(|enc| sampler.run(engine_with(true), enc, &gen_net, chains, &z, &x, &cfg, noise, &[]));
    let zs: Vec<f32> = g.read(&z).unwrap();
    // Λ = I + AᵀA/σ², μ = Λ⁻¹ Aᵀ(x − c)/σ²; the unadjusted chain's covariance (Λ(I − sΛ/2))⁻¹.
    let var = f64::from(sigma * sigma);
    let lam = |i: usize, j: usize| {
        f64::from(u8::from(i == j)) + (0..d).map(|k| a(k, i) * a(k, j)).sum::<f64>() / var
    };
    let inv2 = |m: [[f64; 2]; 2]| {
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        [[m[1][1] / det, -m[0][1] / det], [-m[1][0] / det, m[0][0] / det]]
    };
    let l = [[lam(0, 0), lam(0, 1)], [lam(1, 0), lam(1, 1)]];
    let post = inv2(l);
    let rhs: Vec<f64> =
        (0..2).map(|j| (0..d).map(|k| a(k, j) * (f64::from(x_one[k]) - c(k))).sum::<f64>() / var).collect();
    let mu: Vec<f64> = (0..2).map(|i| (0..2).map(|j| post[i][j] * rhs[j]).sum()).collect();
    let sf = f64::from(s);
    let ll = |i: usize, j: usize| l[i][j] - 0.5 * sf * (0..2).map(|k| l[i][k] * l[k][j]).sum::<f64>();
    let cov = inv2([[ll(0, 0), ll(0, 1)], [ll(1, 0), ll(1, 1)]]);
    let n = chains as f64;
    let mean = |i: usize| zs.iter().skip(i).step_by(nz).map(|&v| f64::from(v)).sum::<f64>() / n;
    let m = [mean(0), mean(1)];
    for i in 0..2 {
        let se = (cov[i][i] / n).sqrt();
        assert!((m[i] - mu[i]).abs() < 5.0 * se, "posterior mean[{i}]: {} vs {} (se {se})", m[i], mu[i]);
        for j in 0..2 {
            let cij =
                zs.chunks(nz).map(|r| (f64::from(r[i]) - m[i]) * (f64::from(r[j]) - m[j])).sum::<f64>() / n;
            let se = ((cov[i][i] * cov[j][j] + cov[i][j].powi(2)) / n).sqrt();
            assert!((cij - cov[i][j]).abs() < 5.0 * se, "cov[{i}][{j}]: {cij} vs {}", cov[i][j]);
        }
    }
}

#[test]
fn fused_chains_are_bit_identical_run_to_run() {
    let g = gpu();
    let batch = 29;
    let ebm = network(2, &[32, 32], 1, Activation::LeakyRelu(0.2), batch, 51);
    let cfg = LangevinConfig { steps: 9, step_size: 0.02, ..Default::default() };
    let sampler = XLangevin::new(g, ebm.in_shape(), batch, cfg.steps, Parameterisation::Paper);
    let x0 = random(52, batch * 2, -2.0, 2.0);
    let run = || {
        let x = g.upload(&x0);
        let noise = ChainNoise { seed: 1, stream: 1, iteration: 17 };
        g.submit(|enc| sampler.run(engine_with(true), enc, &ebm, batch, &x, &cfg, noise, &[]));
        (g.read::<f32>(&x).unwrap(), g.read::<f32>(&sampler.trace).unwrap())
    };
    let (a, b) = (run(), run());
    assert!(a.0.iter().zip(&b.0).all(|(p, q)| p.to_bits() == q.to_bits()), "states differ run to run");
    assert!(a.1.iter().zip(&b.1).all(|(p, q)| p.to_bits() == q.to_bits()), "traces differ run to run");
    assert!(a.0 != x0, "the chain moved");
}
