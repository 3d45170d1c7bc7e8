//! The samplers against targets whose answer is known in closed form, and step by step
//! against a CPU re-computation of the same update with the same noise.
#![allow(clippy::needless_range_loop)]

mod common;
use common::{engine, gpu};
use dualmcmc::gpu::{Access, GpuBuffer, Kernel};
use dualmcmc::nn::linear::Linear;
use dualmcmc::nn::{Engine, Network, ParamLayout, Sequential, Shape};
use dualmcmc::ops::rng::{self, RngDraw};
use dualmcmc::sampler::{ChainNoise, EnergyFn, LangevinConfig, Parameterisation, XLangevin, ZLangevin};

/// A test energy made of one WGSL kernel that writes E and ∇E of every example x `[batch, d]`,
/// bound as (params, x, [constants,] energy, grad).
struct KernelEnergy {
    kernel: Kernel,
    constants: Option<GpuBuffer>,
    scratch: GpuBuffer,
    d: usize,
}

/// E(x) = ½ Σᵢ (xᵢ − mᵢ)² / vᵢ: π = N(m, diag v).
struct GaussianEnergy {
    f: KernelEnergy,
    mean: Vec<f64>,
    var: Vec<f64>,
}

const GAUSS_WGSL: &str = r#"
struct P { batch: u32, d: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mv: array<f32>;
@group(0) @binding(3) var<storage, read_write> energy: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@compute @workgroup_size(64)
fn gauss(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= p.batch) { return; }
    var e = 0.0;
    for (var i = 0u; i < p.d; i++) {
        let r = x[b * p.d + i] - mv[i];
        e += 0.5 * r * r / mv[p.d + i];
        grad[b * p.d + i] = r / mv[p.d + i];
    }
    energy[b] = e;
}
"#;

impl GaussianEnergy {
    fn new(mean: &[f32], var: &[f32], max_batch: usize) -> Self {
        let g = gpu();
        use Access::{Read, ReadWrite};
        let kernel = Kernel::new(g, GAUSS_WGSL, "gauss", &[Read, Read, ReadWrite, ReadWrite], &[]);
        let mv: Vec<f32> = mean.iter().chain(var).copied().collect();
        let d = mean.len();
        Self {
            f: KernelEnergy { kernel, constants: Some(g.upload(&mv)), scratch: g.zeros(max_batch * d), d },
            mean: mean.iter().map(|&v| f64::from(v)).collect(),
            var: var.iter().map(|&v| f64::from(v)).collect(),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct P {
    batch: u32,
    d: u32,
    _pad: [u32; 2],
}

impl EnergyFn for KernelEnergy {
    fn example_shape(&self) -> Shape {
        Shape::flat(self.d)
    }
    fn energy(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        x: &GpuBuffer,
        energy: &GpuBuffer,
    ) {
        self.energy_and_grad(e, enc, batch, x, energy, &self.scratch);
    }
    fn energy_and_grad(
        &self,
        e: &Engine,
        enc: &mut wgpu::CommandEncoder,
        batch: usize,
        x: &GpuBuffer,
        energy: &GpuBuffer,
        grad: &GpuBuffer,
    ) {
        let p = P { batch: batch as u32, d: self.d as u32, _pad: [0; 2] };
        let buffers: Vec<&GpuBuffer> =
            [Some(x), self.constants.as_ref(), Some(energy), Some(grad)].into_iter().flatten().collect();
        self.kernel.encode(&e.gpu, enc, &p, &buffers, [batch.div_ceil(64) as u32, 1, 1]);
    }
}

fn moments(xs: &[f32], d: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = xs.len() / d;
    let mut mean = vec![0.0; d];
    for row in xs.chunks(d) {
        for i in 0..d {
            mean[i] += f64::from(row[i]) / n as f64;
        }
    }
    let mut cov = vec![vec![0.0; d]; d];
    for row in xs.chunks(d) {
        for i in 0..d {
            for j in 0..d {
                cov[i][j] += (f64::from(row[i]) - mean[i]) * (f64::from(row[j]) - mean[j]) / (n - 1) as f64;
            }
        }
    }
    (mean, cov)
}

const MEAN: [f32; 2] = [1.0, -2.0];
const VAR: [f32; 2] = [0.5, 2.0];
const CHAINS: usize = 5000;

/// Runs `cfg` from 0 on E(x) = Σ (x_i − MEAN_i)² / (2·VAR_i) in CHAINS chains: the sample
/// means and covariance, and the acceptance rate (Metropolis-adjusted chains).
fn sample_the_gaussian(cfg: &LangevinConfig, seed: u64) -> (Vec<f32>, Vec<f64>, Vec<Vec<f64>>, f64) {
    let (g, e) = (gpu(), engine());
    let energy = GaussianEnergy::new(&MEAN, &VAR, CHAINS);
    let sampler = XLangevin::new(g, Shape::flat(2), CHAINS, cfg.steps, Parameterisation::Paper);
    let x = g.zeros(CHAINS * 2);
    let noise = ChainNoise { seed, stream: 0, iteration: 0 };
    g.submit(|enc| sampler.run(e, enc, &energy.f, CHAINS, &x, cfg, noise, &[]));
    let xs: Vec<f32> = g.read(&x).unwrap();
    assert!(xs.iter().all(|v| v.is_finite()));
    let (m, c) = moments(&xs, 2);
    let accepted: Vec<f32> = g.read(sampler.accepted()).unwrap();
    let rate = accepted.iter().map(|&a| f64::from(a)).sum::<f64>() / (CHAINS * cfg.steps) as f64;
    (xs, m, c, rate)
}

/// Means and variances within 5 standard errors of the Gaussian's own (variance `var_of(v)`).
fn assert_moments(m: &[f64], c: &[Vec<f64>], var_of: impl Fn(f64) -> f64) {
    for i in 0..2 {
        let (v, want) = (f64::from(VAR[i]), var_of(f64::from(VAR[i])));
        let (se_mean, se_var) = ((want / CHAINS as f64).sqrt(), want * (2.0 / CHAINS as f64).sqrt());
        assert!((m[i] - f64::from(MEAN[i])).abs() < 5.0 * se_mean, "mean[{i}] {} vs {}", m[i], MEAN[i]);
        assert!((c[i][i] - want).abs() < 5.0 * se_var, "var[{i}] {} vs {want} (target {v})", c[i][i]);
    }
}

#[test]
fn x_langevin_with_proper_noise_samples_a_gaussian_energy() {
    let s = 0.05f32;
    let cfg = LangevinConfig { steps: 600, step_size: s, ..Default::default() };
    let (_, m, c, _) = sample_the_gaussian(&cfg, 9);
    // Unadjusted Langevin on a Gaussian is stationary at variance v / (1 − s/(2v)).
    assert_moments(&m, &c, |v| v / (1.0 - f64::from(s) / (2.0 * v)));
    for i in 0..2 {
        let v = f64::from(VAR[i]);
        assert!((c[i][i] / v - 1.0).abs() < 0.1, "var[{i}] {} far from the target {v}", c[i][i]);
    }
}

#[test]
fn metropolis_adjusted_x_langevin_samples_a_gaussian_energy_exactly_at_a_large_step() {
    // s = 0.5: the unadjusted chain's variance would be v / (1 − s/(2v)), twice the target's in
    // the first coordinate.
    let cfg = LangevinConfig { steps: 200, step_size: 0.5, metropolis: true, ..Default::default() };
    let (_, m, c, rate) = sample_the_gaussian(&cfg, 11);
    assert_moments(&m, &c, |v| v);
    assert!((0.2..0.95).contains(&rate), "acceptance rate {rate}");
}

/// A second, large step size mixed in (every 4th step at 1.5, where an unadjusted step would diverge:
/// 1 − s/(2v) < 0 for v = 0.5) still sample the target exactly.
#[test]
fn metropolis_adjusted_x_langevin_with_a_second_step_size_samples_a_gaussian_energy_exactly() {
    let cfg = LangevinConfig {
        steps: 200,
        step_size: 0.2,
        metropolis: true,
        second_step_every: 4,
        second_step_size: 1.5,
        ..Default::default()
    };
    let (_, m, c, rate) = sample_the_gaussian(&cfg, 12);
    assert_moments(&m, &c, |v| v);
    assert!((0.2..0.95).contains(&rate), "acceptance rate {rate}");
}

/// In a box the chain samples the Gaussian truncated to it: every state inside, and the
/// truncated law's moments (computed by quadrature).
#[test]
fn a_box_restricts_the_metropolis_adjusted_chain_to_the_truncated_gaussian() {
    let b = 0.75f32;
    let cfg = LangevinConfig {
        steps: 200,
        step_size: 0.3,
        metropolis: true,
        box_half_width: b,
        ..Default::default()
    };
    let (xs, m, c, _) = sample_the_gaussian(&cfg, 13);
    assert!(xs.iter().all(|v| v.abs() <= b), "a state outside the box");
    for i in 0..2 {
        // Moments of N(MEAN_i, VAR_i) on [−b, b] by the midpoint rule.
        let (mu, var, n) = (f64::from(MEAN[i]), f64::from(VAR[i]), 100_000);
        let h = 2.0 * f64::from(b) / n as f64;
        let pts: Vec<(f64, f64)> = (0..n)
            .map(|k| -f64::from(b) + (k as f64 + 0.5) * h)
            .map(|x| (x, (-(x - mu).powi(2) / (2.0 * var)).exp()))
            .collect();
        let z: f64 = pts.iter().map(|p| p.1).sum();
        let mean = pts.iter().map(|p| p.0 * p.1).sum::<f64>() / z;
        let want = pts.iter().map(|p| (p.0 - mean).powi(2) * p.1).sum::<f64>() / z;
        let (se_mean, se_var) = ((want / CHAINS as f64).sqrt(), want * (2.0 / CHAINS as f64).sqrt());
        assert!((m[i] - mean).abs() < 5.0 * se_mean, "mean[{i}] {} vs the truncated law's {mean}", m[i]);
        assert!((c[i][i] - want).abs() < 5.0 * se_var, "var[{i}] {} vs the truncated law's {want}", c[i][i]);
    }
}

/// E(x) = −log(w·N(x; −A, S²) + (1 − w)·N(x; A, S²)) in one dimension: two modes 20 standard
/// deviations apart, which no local step crosses.
const MIXTURE_WGSL: &str = r#"
struct P { batch: u32, d: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> energy: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
const A = 3.0;
const S2 = 0.09;
const W = 0.8;
@compute @workgroup_size(64)
fn mixture(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= p.batch) { return; }
    let l = log(W) - 0.5 * (x[b] + A) * (x[b] + A) / S2;
    let r = log(1.0 - W) - 0.5 * (x[b] - A) * (x[b] - A) / S2;
    let m = max(l, r);
    energy[b] = -(m + log(exp(l - m) + exp(r - m)));
    let left = 1.0 / (1.0 + exp(r - l));   // responsibility of the left mode
    grad[b] = (left * (x[b] + A) + (1.0 - left) * (x[b] - A)) / S2;
}
"#;

/// Chains started half on each mode of [`MIXTURE_WGSL`] (alternating rows, so each half of the
/// batch holds both): the share that ends on the left mode, and that of accepted jumps.
fn mixture_left_share(cfg: &LangevinConfig) -> (f64, f64) {
    let (g, e) = (gpu(), engine());
    use Access::ReadWrite;
    let kernel = Kernel::new(g, MIXTURE_WGSL, "mixture", &[Access::Read, ReadWrite, ReadWrite], &[]);
    let energy = KernelEnergy { kernel, constants: None, scratch: g.zeros(CHAINS), d: 1 };
    let sampler = XLangevin::new(g, Shape::flat(1), CHAINS, cfg.steps, Parameterisation::Paper);
    let x = g.upload(&(0..CHAINS).map(|r| if r % 2 == 0 { -3.0f32 } else { 3.0 }).collect::<Vec<_>>());
    let noise = ChainNoise { seed: 21, stream: 0, iteration: 0 };
    g.submit(|enc| sampler.run(e, enc, &energy, CHAINS, &x, cfg, noise, &[]));
    let xs: Vec<f32> = g.read(&x).unwrap();
    assert!(xs.iter().all(|v| v.is_finite() && v.abs() < 5.0), "a chain left both modes");
    let jumps: f32 = g.read::<f32>(sampler.jumps_accepted()).unwrap().iter().sum();
    let left = xs.iter().filter(|&&v| v < 0.0).count() as f64 / CHAINS as f64;
    (left, f64::from(jumps) / (CHAINS * cfg.jumps().max(1)) as f64)
}

/// Population jumps carry chains between two modes 20 standard deviations apart and give
/// them the target's weights (0.8 and 0.2); local Metropolis-adjusted steps alone keep the
/// starting split (0.5).
#[test]
fn population_jumps_give_two_distant_modes_their_weights() {
    let local = LangevinConfig { steps: 100, step_size: 0.02, metropolis: true, ..Default::default() };
    let (left, _) = mixture_left_share(&local);
    assert_eq!(left, 0.5, "without jumps no chain crosses");
    let (left, rate) = mixture_left_share(&LangevinConfig { jump_every: 5, ..local });
    let se = (0.8f64 * 0.2 / CHAINS as f64).sqrt();
    assert!((left - 0.8).abs() < 5.0 * se, "share on the left mode {left}, target 0.8");
    assert!((0.05..0.95).contains(&rate), "jump acceptance {rate}");
}

#[test]
fn metropolis_adjusted_x_langevin_equals_cpu_recomputation_step_by_step() {
    let cfg = LangevinConfig { steps: 5, step_size: 0.6, metropolis: true, ..Default::default() };
    check_metropolis_steps(&cfg, |_| 0.6f32);
    // A second step size on every second step: step t (0-based) proposes with 1.2 when t is odd.
    let mixed =
        LangevinConfig { steps: 6, step_size: 0.1, second_step_every: 2, second_step_size: 1.2, ..cfg };
    check_metropolis_steps(&mixed, |t| if t % 2 == 1 { 1.2f32 } else { 0.1 });
    // Population jumps after steps 2, 4 and 6, and a box that rejects some proposals.
    let jumps = LangevinConfig { steps: 6, step_size: 0.3, jump_every: 2, box_half_width: 1.6, ..cfg };
    check_metropolis_steps(&jumps, |_| 0.3f32);
}

/// Runs `cfg` on a Gaussian energy and recomputes each step on the CPU, step t proposing with
/// step size `step_of(t)` (drift s, noise √(2s)).
fn check_metropolis_steps(cfg: &LangevinConfig, step_of: impl Fn(usize) -> f32) {
    let (g, e) = (gpu(), engine());
    let (batch, steps, d) = (9, cfg.steps, 3);
    let energy = GaussianEnergy::new(&[0.3, -0.7, 1.1], &[0.4, 1.5, 0.9], batch);
    let sampler = XLangevin::new(g, Shape::flat(d), batch, steps, Parameterisation::Paper);
    // Inside the box, where there is one (a chain in a box starts in it).
    let x0: Vec<f32> = common::random(8, batch * d, -2.0, 2.0).iter().map(|v| v.clamp(-1.5, 1.5)).collect();
    let x = g.upload(&x0);
    let snaps: Vec<GpuBuffer> = (0..=steps).map(|_| g.zeros(batch * d)).collect();
    let keep: Vec<Option<&GpuBuffer>> = snaps.iter().map(Some).collect();
    let noise = ChainNoise { seed: 5, stream: 3, iteration: 4 };
    g.submit(|enc| sampler.run(e, enc, &energy.f, batch, &x, cfg, noise, &keep));
    let e_of = |r: &[f64]| (0..d).map(|i| 0.5 * (r[i] - energy.mean[i]).powi(2) / energy.var[i]).sum::<f64>();
    let g_of = |r: &[f64]| (0..d).map(|i| (r[i] - energy.mean[i]) / energy.var[i]).collect::<Vec<f64>>();
    let mut cur: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
    let mut accepted = vec![0.0f32; batch];
    let mut jumps_accepted = vec![0.0f32; batch];
    let in_box =
        |y: &[f64]| cfg.box_half_width <= 0.0 || y.iter().all(|v| v.abs() <= f64::from(cfg.box_half_width));
    for t in 0..steps {
        let (drift, sd) = (f64::from(step_of(t)), f64::from(2.0 * step_of(t)).sqrt());
        let eps =
            rng::cpu::normal(RngDraw::new(5, 3, RngDraw::iteration_step(4, t as u32)), 0.0, 1.0, batch * d);
        let uniforms =
            rng::cpu::uniform(RngDraw::new(5, 3, RngDraw::iteration_step(4, t as u32 | 1 << 31)), batch);
        for r in 0..batch {
            let xr = &cur[r * d..(r + 1) * d];
            let gx = g_of(xr);
            let y: Vec<f64> =
                (0..d).map(|i| xr[i] - drift * gx[i] + sd * f64::from(eps[r * d + i])).collect();
            let gy = g_of(&y);
            let fwd: f64 = (0..d).map(|i| (y[i] - xr[i] + drift * gx[i]).powi(2)).sum();
            let bwd: f64 = (0..d).map(|i| (xr[i] - y[i] + drift * gy[i]).powi(2)).sum();
            let log_alpha = e_of(xr) - e_of(&y) + (fwd - bwd) / (2.0 * sd * sd);
            if f64::from(uniforms[r]).ln() < log_alpha && in_box(&y) {
                cur[r * d..(r + 1) * d].copy_from_slice(&y);
                accepted[r] += 1.0;
            }
        }
        if cfg.jump_every > 0 && (t + 1) % cfg.jump_every == 0 {
            let half = batch / 2;
            for (h, (moving, other)) in
                [(0..half, half..batch), (half..batch, 0..half)].into_iter().enumerate()
            {
                let counter = t as u32 | 1 << 30 | (h as u32) << 29;
                let pick =
                    rng::cpu::uniform(RngDraw::new(5, 3, RngDraw::iteration_step(4, counter)), 2 * batch);
                let decide = rng::cpu::uniform(
                    RngDraw::new(5, 3, RngDraw::iteration_step(4, counter | 1 << 31)),
                    batch,
                );
                let before = cur.clone();
                let n = other.len() as u32;
                for r in moving {
                    // The shader's draw of j ≠ k among the other half.
                    let j = ((pick[2 * r] * n as f32) as u32).min(n - 1);
                    let k = (j + 1 + ((pick[2 * r + 1] * (n - 1) as f32) as u32).min(n - 2)) % n;
                    let (j, k) = (other.start + j as usize, other.start + k as usize);
                    let y: Vec<f64> =
                        (0..d).map(|i| before[r * d + i] + before[j * d + i] - before[k * d + i]).collect();
                    let log_alpha = e_of(&before[r * d..(r + 1) * d]) - e_of(&y);
                    if f64::from(decide[r]).ln() < log_alpha && in_box(&y) {
                        cur[r * d..(r + 1) * d].copy_from_slice(&y);
                        jumps_accepted[r] += 1.0;
                    }
                }
            }
        }
        let got: Vec<f32> = g.read(&snaps[t + 1]).unwrap();
        for i in 0..batch * d {
            assert!(
                (f64::from(got[i]) - cur[i]).abs() < 1e-4,
                "step {t} element {i}: {} vs {}",
                got[i],
                cur[i]
            );
        }
    }
    assert_eq!(
        g.read::<f32>(sampler.accepted()).unwrap(),
        accepted,
        "accepted proposals per chain ({cfg:?})"
    );
    let total: f32 = accepted.iter().sum();
    assert!(total > 0.0 && total < (batch * steps) as f32, "some proposals accepted, some not: {total}");
    assert_eq!(g.read::<f32>(sampler.jumps_accepted()).unwrap(), jumps_accepted, "accepted jumps per chain");
    if cfg.jump_every > 0 {
        let total: f32 = jumps_accepted.iter().sum();
        assert!(
            total > 0.0 && total < (batch * cfg.jumps()) as f32,
            "some jumps accepted, some not: {total}"
        );
    }
    assert!(cur.iter().all(|v| in_box(&[*v])), "every state in the box");
    let trace: Vec<f32> = g.read(&sampler.trace).unwrap();
    let mean_energy = cur.chunks(d).map(e_of).sum::<f64>() / batch as f64;
    assert!((f64::from(trace[steps]) - mean_energy).abs() < 1e-4 * mean_energy.max(1.0), "trace[{steps}]");
}

/// A generator g(z) = Wz + b: one Linear layer with the given weights.
fn linear_generator(w: &[f32], b: &[f32], nz: usize, d: usize, max_batch: usize) -> Network {
    let mut layout = ParamLayout::new();
    let mut body = Sequential::new(Shape::flat(nz));
    body.push(Linear::new(&mut layout, Shape::flat(nz), Shape::flat(d), true));
    let mut net = Network::new(layout, body);
    net.allocate(gpu(), max_batch, 0);
    let mut params = vec![0.0f32; net.layout.params_len];
    let (wt, bt) = (&net.layout.tensors[0], &net.layout.tensors[1]);
    params[wt.offset..wt.offset + w.len()].copy_from_slice(w);
    params[bt.offset..bt.offset + b.len()].copy_from_slice(b);
    gpu().write(&net.bufs().params, &params);
    net
}

/// Inverse of a symmetric 2×2 matrix.
fn inv2(a: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    [[a[1][1] / det, -a[0][1] / det], [-a[1][0] / det, a[0][0] / det]]
}

#[test]
fn z_langevin_with_a_linear_generator_recovers_the_gaussian_posterior() {
    let (g, e) = (gpu(), engine());
    let (nz, d, chains) = (2, 3, 4000);
    let w = [0.8f32, -0.3, 0.2, 0.9, -0.5, 0.4]; // [d, nz]
    let b = [0.1f32, -0.2, 0.3];
    let x_one = [0.7f32, -0.4, 0.2];
    let sigma = 0.5f32;
    let gen_net = linear_generator(&w, &b, nz, d, chains);
    let s = 0.02f32;
    let cfg = LangevinConfig { steps: 800, step_size: s, ..Default::default() };
    let sampler = ZLangevin::new(g, &gen_net, chains, cfg.steps, sigma, Parameterisation::Paper);
    let z = g.zeros(chains * nz);
    let x = g.upload(&x_one.repeat(chains));
    g.submit(|enc| {
        sampler.run(
            e,
            enc,
            &gen_net,
            chains,
            &z,
            &x,
            &cfg,
            ChainNoise { seed: 3, stream: 2, iteration: 0 },
            &[],
        )
    });
    let zs: Vec<f32> = g.read(&z).unwrap();
    let (m, c) = moments(&zs, nz);
    // Closed form: Λ = I + WᵀW/σ², Σ = Λ⁻¹, μ = Σ Wᵀ(x − b)/σ².
    let var = f64::from(sigma * sigma);
    let wf = |i: usize, j: usize| f64::from(w[i * nz + j]);
    let mut lam = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            lam[i][j] = f64::from(u8::from(i == j)) + (0..d).map(|k| wf(k, i) * wf(k, j)).sum::<f64>() / var;
        }
    }
    let sigma_post = inv2(lam);
    let rhs: Vec<f64> =
        (0..2).map(|j| (0..d).map(|k| wf(k, j) * f64::from(x_one[k] - b[k])).sum::<f64>() / var).collect();
    let mu: Vec<f64> = (0..2).map(|i| (0..2).map(|j| sigma_post[i][j] * rhs[j]).sum()).collect();
    // Unadjusted Langevin's own stationary covariance: (Λ (I − sΛ/2))⁻¹.
    let sf = f64::from(s);
    let mut a = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            a[i][j] = lam[i][j] - 0.5 * sf * (0..2).map(|k| lam[i][k] * lam[k][j]).sum::<f64>();
        }
    }
    let cov_ula = inv2(a);
    for i in 0..2 {
        let se_mean = (cov_ula[i][i] / chains as f64).sqrt();
        assert!((m[i] - mu[i]).abs() < 5.0 * se_mean, "posterior mean[{i}]: {} vs {}", m[i], mu[i]);
        for j in 0..2 {
            let se = ((cov_ula[i][i] * cov_ula[j][j] + cov_ula[i][j].powi(2)) / chains as f64).sqrt();
            assert!(
                (c[i][j] - cov_ula[i][j]).abs() < 5.0 * se,
                "cov[{i}][{j}]: {} vs {}",
                c[i][j],
                cov_ula[i][j]
            );
            let scale = (sigma_post[i][i] * sigma_post[j][j]).sqrt();
            assert!(
                (c[i][j] - sigma_post[i][j]).abs() < 0.08 * scale,
                "cov[{i}][{j}] {} far from {}",
                c[i][j],
                sigma_post[i][j]
            );
        }
    }
}

fn cpu_noise(seed: u64, stream: u32, t: usize, n: usize) -> Vec<f32> {
    rng::cpu::normal(RngDraw::new(seed, stream, RngDraw::iteration_step(4, t as u32)), 0.0, 1.0, n)
}

#[test]
fn x_langevin_reference_form_equals_cpu_recomputation_step_by_step() {
    let (g, e) = (gpu(), engine());
    let (batch, steps) = (7, 4);
    let energy = GaussianEnergy::new(&[0.3, -0.7, 1.1], &[0.4, 1.5, 0.9], batch);
    let cfg = LangevinConfig { steps, step_size: 0.5, noise_scale: 0.01, ..Default::default() };
    let sampler = XLangevin::new(g, Shape::flat(3), batch, steps, Parameterisation::Reference);
    let x0 = common::random(5, batch * 3, -2.0, 2.0);
    let x = g.upload(&x0);
    let snaps: Vec<GpuBuffer> = (0..=steps).map(|_| g.zeros(batch * 3)).collect();
    let keep: Vec<Option<&GpuBuffer>> = snaps.iter().map(Some).collect();
    let noise = ChainNoise { seed: 77, stream: 1, iteration: 4 };
    g.submit(|enc| sampler.run(e, enc, &energy.f, batch, &x, &cfg, noise, &keep));
    let trace: Vec<f32> = g.read(&sampler.trace).unwrap();
    let (drift, n) = (0.5 * 0.5 * 0.5, 0.01f64);
    let energy_of = |xs: &[f32]| -> f64 {
        xs.chunks(3)
            .map(|r| {
                (0..3).map(|i| 0.5 * (f64::from(r[i]) - energy.mean[i]).powi(2) / energy.var[i]).sum::<f64>()
            })
            .sum::<f64>()
            / batch as f64
    };
    for t in 0..steps {
        let before: Vec<f32> = g.read(&snaps[t]).unwrap();
        let after: Vec<f32> = g.read(&snaps[t + 1]).unwrap();
        let eps = cpu_noise(77, 1, t, batch * 3);
        for i in 0..batch * 3 {
            let grad = (f64::from(before[i]) - energy.mean[i % 3]) / energy.var[i % 3];
            let want = f64::from(before[i]) - drift * grad + n * f64::from(eps[i]);
            assert!(
                (f64::from(after[i]) - want).abs() < 1e-5,
                "step {t} element {i}: {} vs {want}",
                after[i]
            );
        }
        assert!(
            (f64::from(trace[t]) - energy_of(&before)).abs() < 1e-4 * energy_of(&before).max(1.0),
            "trace[{t}]"
        );
    }
    let last: Vec<f32> = g.read(&snaps[steps]).unwrap();
    assert_eq!(g.read::<f32>(&x).unwrap(), last, "x holds the last state");
    assert!((f64::from(trace[steps]) - energy_of(&last)).abs() < 1e-4 * energy_of(&last).max(1.0));
}

#[test]
fn z_langevin_reference_form_equals_cpu_recomputation_step_by_step() {
    let (g, e) = (gpu(), engine());
    let (nz, d, batch, steps) = (2, 3, 5, 3);
    let w = [0.8f32, -0.3, 0.2, 0.9, -0.5, 0.4];
    let b = [0.1f32, -0.2, 0.3];
    let sigma = 0.3f32;
    let gen_net = linear_generator(&w, &b, nz, d, batch);
    let cfg = LangevinConfig { steps, step_size: 0.1, noise_scale: 0.1, ..Default::default() };
    let sampler = ZLangevin::new(g, &gen_net, batch, steps, sigma, Parameterisation::Reference);
    let xs = common::random(8, batch * d, -1.0, 1.0);
    let (x, z) = (g.upload(&xs), g.upload(&common::random(9, batch * nz, -1.0, 1.0)));
    let snaps: Vec<GpuBuffer> = (0..=steps).map(|_| g.zeros(batch * nz)).collect();
    let keep: Vec<Option<&GpuBuffer>> = snaps.iter().map(Some).collect();
    let noise = ChainNoise { seed: 21, stream: 2, iteration: 4 };
    g.submit(|enc| sampler.run(e, enc, &gen_net, batch, &z, &x, &cfg, noise, &keep));
    let trace: Vec<f32> = g.read(&sampler.trace).unwrap();
    let var = f64::from(sigma * sigma);
    let g_of = |zr: &[f32], k: usize| -> f64 {
        f64::from(b[k]) + (0..nz).map(|j| f64::from(w[k * nz + j]) * f64::from(zr[j])).sum::<f64>()
    };
    for t in 0..steps {
        let before: Vec<f32> = g.read(&snaps[t]).unwrap();
        let after: Vec<f32> = g.read(&snaps[t + 1]).unwrap();
        let eps = cpu_noise(21, 2, t, batch * nz);
        let mut se = 0.0;
        for bi in 0..batch {
            let zr = &before[bi * nz..(bi + 1) * nz];
            let resid: Vec<f64> = (0..d).map(|k| g_of(zr, k) - f64::from(xs[bi * d + k])).collect();
            se += resid.iter().map(|r| r * r).sum::<f64>();
            for j in 0..nz {
                // Reference form: ∇ = (2/σ²) Wᵀ(g − x) + z;  z ← z − (s²/2)∇ + n·ε.
                let grad = (0..d).map(|k| f64::from(w[k * nz + j]) * resid[k]).sum::<f64>() * 2.0 / var
                    + f64::from(zr[j]);
                let want = f64::from(zr[j]) - 0.005 * grad + 0.1 * f64::from(eps[bi * nz + j]);
                let got = f64::from(after[bi * nz + j]);
                assert!((got - want).abs() < 1e-5, "step {t} chain {bi} z[{j}]: {got} vs {want}");
            }
        }
        let mse = se / (batch * d) as f64;
        assert!(
            (f64::from(trace[2 * t]) - mse).abs() < 1e-5 * mse.max(1.0),
            "MSE trace[{t}]: {} vs {mse}",
            trace[2 * t]
        );
    }
}
