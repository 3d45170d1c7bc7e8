//! Batch norm (training mode) against the f64 CPU reference and against central finite
//! differences of L = Σ dy∘y computed from the CPU forward in f64.

mod common;
use common::{assert_close, central_differences, gpu, random};
use dualmcmc::gpu::{BufRef, GpuBuffer};
use dualmcmc::ops::batchnorm::{self, BatchNorm, BnConfig, BnGrads, BnShape, BnTensors};

/// (batch, channels, spatial): channels 1, 3, 7; batch 2–5; spatial 1 (BatchNorm1d) and
/// 5×7; the last has more values per channel than the workgroup has threads.
const SHAPES: [(usize, usize, usize); 7] =
    [(2, 1, 1), (5, 3, 1), (3, 7, 1), (2, 3, 35), (5, 7, 35), (4, 1, 35), (3, 2, 333)];

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// One layer's tensors at awkward offsets, the way a network lays them out: γ and β inside
/// a flat parameter buffer between other parameters, running statistics and the saved
/// statistics in a state buffer, x and y at offsets in activation buffers.
struct Layer {
    shape: BnShape,
    params: GpuBuffer,
    state: GpuBuffer,
    x: GpuBuffer,
    y: GpuBuffer,
}

const X_OFF: usize = 5;
const Y_OFF: usize = 2;
const GAMMA_OFF: usize = 3;

impl Layer {
    fn new(shape: BnShape, gamma: &[f32], beta: &[f32], x: &[f32]) -> Self {
        let g = gpu();
        let c = shape.channels;
        let mut params = random(99, GAMMA_OFF, -1.0, 1.0);
        params.extend(gamma);
        params.extend(random(98, 2, -1.0, 1.0));
        params.extend(beta);
        params.extend(random(97, 4, -1.0, 1.0));
        // [junk | running mean (0) | running var (1) | saved], PyTorch's initial values.
        let mut state = vec![7.0f32];
        state.extend(vec![0.0; c]);
        state.extend(vec![1.0; c]);
        state.extend(vec![0.0; 2 * c]);
        let mut xs = vec![0.0f32; X_OFF];
        xs.extend(x);
        Self {
            shape,
            params: g.upload(&params),
            state: g.upload(&state),
            x: g.upload(&xs),
            y: g.zeros(Y_OFF + shape.len() + 3),
        }
    }
    fn beta_off(&self) -> usize {
        GAMMA_OFF + self.shape.channels + 2
    }
    fn tensors(&self) -> BnTensors<'_> {
        let c = self.shape.channels;
        BnTensors {
            gamma: BufRef::new(&self.params, GAMMA_OFF),
            beta: BufRef::new(&self.params, self.beta_off()),
            running_mean: BufRef::new(&self.state, 1),
            running_var: BufRef::new(&self.state, 1 + c),
            saved: BufRef::new(&self.state, 1 + 2 * c),
        }
    }
    fn x(&self) -> BufRef<'_> {
        BufRef::new(&self.x, X_OFF)
    }
    fn set_x(&self, x: &[f32]) {
        let mut xs = vec![0.0f32; X_OFF];
        xs.extend(x);
        gpu().write(&self.x, &xs);
    }
    fn y(&self) -> Vec<f32> {
        gpu().read(&self.y).unwrap()[Y_OFF..Y_OFF + self.shape.len()].to_vec()
    }
    fn state(&self) -> Vec<f32> {
        gpu().read(&self.state).unwrap()
    }
}

/// Test data for a shape: x with a mean far from 0 (the two-pass variance must not
/// cancel), γ around N(0, 1)'s scale with both signs, β nonzero.
fn data(s: BnShape, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let x: Vec<f32> = random(seed, s.len(), -1.0, 1.0).iter().map(|v| 3.0 + 2.0 * v).collect();
    let gamma = random(seed + 1, s.channels, -1.5, 1.5);
    let beta = random(seed + 2, s.channels, -0.5, 0.5);
    (x, gamma, beta)
}

fn shape((batch, channels, spatial): (usize, usize, usize)) -> BnShape {
    BnShape { batch, channels, spatial }
}

#[test]
fn forward_and_running_statistics_match_cpu() {
    let g = gpu();
    let bn = BatchNorm::new(g);
    let cfg = BnConfig::default();
    for (si, &sh) in SHAPES.iter().enumerate() {
        let s = shape(sh);
        let (x1, gamma, beta) = data(s, 10 * si as u64);
        let x2: Vec<f32> = random(10 * si as u64 + 5, s.len(), -4.0, 1.0);
        let layer = Layer::new(s, &gamma, &beta, &x1);
        let t = layer.tensors();
        let y = BufRef::new(&layer.y, Y_OFF);
        g.submit(|enc| bn.forward(enc, s, &t, cfg, layer.x(), y));
        let what = |name: &str| format!("{name} {s:?}");
        let (gm, bt) = (f64s(&gamma), f64s(&beta));
        let want = batchnorm::cpu::forward(s, &f64s(&x1), &gm, &bt, 1e-5);
        assert_close(&what("y (first)"), &layer.y(), &want, 1e-5, 1e-5);

        // Second forward on other data: y, saved statistics and running statistics.
        layer.set_x(&x2);
        g.submit(|enc| bn.forward(enc, s, &t, cfg, layer.x(), y));
        let want = batchnorm::cpu::forward(s, &f64s(&x2), &gm, &bt, 1e-5);
        assert_close(&what("y (second)"), &layer.y(), &want, 1e-5, 1e-5);

        let c = s.channels;
        let state = layer.state();
        assert_eq!(state[0], 7.0, "state before the running mean was overwritten");
        let (mean, var) = batchnorm::cpu::batch_stats(s, &f64s(&x2));
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + 1e-5).sqrt()).collect();
        let saved = &state[1 + 2 * c..1 + 4 * c];
        assert_close(&what("saved mean"), &saved[..c], &mean, 1e-6, 1e-5);
        assert_close(&what("saved invstd"), &saved[c..], &invstd, 1e-6, 1e-5);

        let (mut rm, mut rv) = (vec![0.0; c], vec![1.0; c]);
        batchnorm::cpu::update_running(s, &f64s(&x1), 0.1, &mut rm, &mut rv);
        batchnorm::cpu::update_running(s, &f64s(&x2), 0.1, &mut rm, &mut rv);
        assert_close(&what("running mean"), &state[1..1 + c], &rm, 1e-6, 1e-5);
        assert_close(&what("running var"), &state[1 + c..1 + 2 * c], &rv, 1e-6, 1e-5);
    }
}

#[test]
fn momentum_zero_leaves_running_statistics_alone() {
    let g = gpu();
    let bn = BatchNorm::new(g);
    let s = shape((3, 3, 5));
    let (x, gamma, beta) = data(s, 3);
    let layer = Layer::new(s, &gamma, &beta, &x);
    let before = layer.state();
    let cfg = BnConfig { momentum: 0.0, ..BnConfig::default() };
    let y = BufRef::new(&layer.y, Y_OFF);
    g.submit(|enc| bn.forward(enc, s, &layer.tensors(), cfg, layer.x(), y));
    let after = layer.state();
    assert_eq!(before[..1 + 2 * 3], after[..1 + 2 * 3]);
}

/// L(x, γ, β) = Σ dy∘y from the f64 CPU forward.
fn loss(s: BnShape, x: &[f64], gamma: &[f64], beta: &[f64], dy: &[f64]) -> f64 {
    let y = batchnorm::cpu::forward(s, x, gamma, beta, 1e-5);
    y.iter().zip(dy).map(|(a, b)| a * b).sum()
}

/// Central differences of `f` at every coordinate of `at`, in f64.
#[test]
fn backward_matches_finite_differences_and_accumulates() {
    let g = gpu();
    let bn = BatchNorm::new(g);
    for (si, &sh) in SHAPES.iter().enumerate() {
        let s = shape(sh);
        let (x, gamma, beta) = data(s, 100 + 10 * si as u64);
        let dys = random(200 + si as u64, s.len(), -1.0, 1.0);
        let layer = Layer::new(s, &gamma, &beta, &x);
        let t = layer.tensors();
        let dy = g.upload(&dys);
        let dx = g.zeros(s.len() + 4);
        // The gradient buffer mirrors the parameter buffer and already holds gradients.
        let prefill = random(300 + si as u64, layer.params.len, -1.0, 1.0);
        let grads = g.upload(&prefill);
        g.submit(|enc| {
            bn.forward(enc, s, &t, BnConfig::default(), layer.x(), BufRef::new(&layer.y, Y_OFF));
            bn.backward(
                enc,
                s,
                &t,
                layer.x(),
                (&dy).into(),
                BufRef::new(&dx, 1),
                Some(BnGrads::at_param_offsets(&grads, &t)),
            );
        });

        let (xd, gd, bd, dyd) = (f64s(&x), f64s(&gamma), f64s(&beta), f64s(&dys));
        let want_dx = central_differences(&xd, 1e-5, |x| loss(s, x, &gd, &bd, &dyd));
        let want_dg = central_differences(&gd, 1e-5, |gm| loss(s, &xd, gm, &bd, &dyd));
        let want_db = central_differences(&bd, 1e-5, |bt| loss(s, &xd, &gd, bt, &dyd));
        let (atol, rtol) = (1e-4, 1e-3);
        let what = |name: &str| format!("{name} {s:?}");
        let got_dx = g.read::<f32>(&dx).unwrap();
        assert_close(&what("dx"), &got_dx[1..1 + s.len()], &want_dx, atol, rtol);

        // dγ and dβ were added onto the prefill at γ's and β's offsets; nothing else moved.
        let got = g.read::<f32>(&grads).unwrap();
        let c = s.channels;
        let (go, bo) = (GAMMA_OFF, layer.beta_off());
        let plus = |off: usize, d: &[f64]| -> Vec<f64> {
            (0..c).map(|k| f64::from(prefill[off + k]) + d[k]).collect()
        };
        assert_close(&what("dgamma"), &got[go..go + c], &plus(go, &want_dg), atol, rtol);
        assert_close(&what("dbeta"), &got[bo..bo + c], &plus(bo, &want_db), atol, rtol);
        for k in (0..got.len()).filter(|k| !(go..go + c).contains(k) && !(bo..bo + c).contains(k)) {
            assert_eq!(got[k].to_bits(), prefill[k].to_bits(), "{s:?}: grads[{k}] moved");
        }
    }
}

/// Runs forward + backward on fresh buffers and returns everything written.
fn run_once(bn: &BatchNorm, s: BnShape, param_grads: bool) -> Vec<Vec<f32>> {
    let g = gpu();
    let (x, gamma, beta) = data(s, 42);
    let layer = Layer::new(s, &gamma, &beta, &x);
    let t = layer.tensors();
    let dy = g.upload(&random(43, s.len(), -1.0, 1.0));
    let dx = g.zeros(s.len());
    let prefill = random(44, layer.params.len, -1.0, 1.0);
    let grads = g.upload(&prefill);
    g.submit(|enc| {
        let y = BufRef::new(&layer.y, Y_OFF);
        bn.forward(enc, s, &t, BnConfig::default(), layer.x(), y);
        let pg = param_grads.then(|| BnGrads::at_param_offsets(&grads, &t));
        bn.backward(enc, s, &t, layer.x(), (&dy).into(), (&dx).into(), pg);
    });
    vec![layer.y(), layer.state(), g.read(&dx).unwrap(), g.read(&grads).unwrap(), prefill]
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn forward_and_backward_are_bit_identical_on_repeat() {
    let bn = BatchNorm::new(gpu());
    for sh in [(5, 7, 35), (3, 2, 333)] {
        let (a, b) = (run_once(&bn, shape(sh), true), run_once(&bn, shape(sh), true));
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(bits(x), bits(y), "{sh:?}: output {k} differs between runs");
        }
    }
}

#[test]
fn skipping_parameter_gradients_leaves_the_gradient_buffer_untouched() {
    let bn = BatchNorm::new(gpu());
    let s = shape((4, 3, 35));
    let full = run_once(&bn, s, true);
    let skip = run_once(&bn, s, false);
    // Same dx either way; the gradient buffer still holds exactly its prefill.
    assert_eq!(bits(&full[2]), bits(&skip[2]), "dx depends on the flag");
    assert_eq!(bits(&skip[3]), bits(&skip[4]), "gradient buffer changed");
    assert_ne!(bits(&full[3]), bits(&full[4]), "full backward wrote no gradients");
}

#[test]
#[should_panic(expected = "more than one value per channel")]
fn a_single_value_per_channel_is_refused() {
    let g = gpu();
    let bn = BatchNorm::new(g);
    let s = shape((1, 2, 1));
    let layer = Layer::new(s, &[1.0, 1.0], &[0.0, 0.0], &[0.5, 0.25]);
    let y = BufRef::new(&layer.y, Y_OFF);
    g.submit(|enc| bn.forward(enc, s, &layer.tensors(), BnConfig::default(), layer.x(), y));
}
