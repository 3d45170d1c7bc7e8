//! The iteration's loss kernels: values against f64 references, gradients against central
//! finite differences, the reparameterised draw against the CPU Philox reference.

mod common;
use common::{assert_close, engine, gpu, random};
use dualmcmc::ops::loss;
use dualmcmc::ops::rng::{self, RngDraw};

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn gaussian_nll_value_and_gradient() {
    let (g, e) = (gpu(), engine());
    let (batch, nz) = (5, 7);
    let q = random(1, batch * 2 * nz, -1.5, 1.5);
    let z = random(2, batch * nz, -2.0, 2.0);
    let (qb, zb, dq, out) = (g.upload(&q), g.upload(&z), g.zeros(batch * 2 * nz), g.zeros(3));
    g.submit(|enc| {
        e.loss.gauss_nll_grad(enc, batch, nz, 0.5, &qb, &zb, &dq);
        e.loss.gauss_nll_sum(enc, batch, nz, 0.5, &qb, &zb, &out, 1);
    });
    let (q64, z64) = (f64s(&q), f64s(&z));
    let want = 0.5 * loss::cpu::gauss_nll(batch, nz, &q64, &z64);
    let got: Vec<f32> = g.read(&out).unwrap();
    assert_close("NLL", &got[1..2], &[want], 1e-4, 1e-5);
    let h = 1e-6;
    let fd: Vec<f64> = (0..q.len())
        .map(|i| {
            let (mut qp, mut qm) = (q64.clone(), q64.clone());
            qp[i] += h;
            qm[i] -= h;
            0.5 * (loss::cpu::gauss_nll(batch, nz, &qp, &z64) - loss::cpu::gauss_nll(batch, nz, &qm, &z64))
                / (2.0 * h)
        })
        .collect();
    assert_close("dNLL/dq", &g.read::<f32>(&dq).unwrap(), &fd, 1e-5, 1e-4);
}

#[test]
fn squared_error_value_gradient_and_sums() {
    let (g, e) = (gpu(), engine());
    let n = 1000;
    let (a, b) = (random(3, n, -1.0, 1.0), random(4, n, -1.0, 1.0));
    let (ab, bb, dy, out) = (g.upload(&a), g.upload(&b), g.zeros(n), g.zeros(4));
    g.submit(|enc| {
        e.loss.sq_err_grad(enc, n, 2.0 / 8.0, &ab, &bb, &dy);
        e.loss.sq_err_sum(enc, n, 1.0 / 8.0, &ab, &bb, &out, 0);
        e.loss.sum_into(enc, n, 0.25, &ab, &out, 3);
    });
    // d/da of (1/8)·‖a − b‖² is (2/8)(a − b).
    let want_dy: Vec<f64> = a.iter().zip(&b).map(|(x, y)| 0.25 * (f64::from(*x) - f64::from(*y))).collect();
    assert_close("dy", &g.read::<f32>(&dy).unwrap(), &want_dy, 1e-6, 1e-5);
    let got: Vec<f32> = g.read(&out).unwrap();
    let sse: f64 = a.iter().zip(&b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    let sum: f64 = a.iter().map(|&x| f64::from(x)).sum();
    assert_close("sum of squares", &got[0..1], &[sse / 8.0], 1e-4, 1e-5);
    assert_close("sum", &got[3..4], &[0.25 * sum], 1e-4, 1e-5);
}

#[test]
fn reparameterised_draw_matches_cpu_noise() {
    let (g, e) = (gpu(), engine());
    let (batch, nz) = (9, 5);
    let q = random(5, batch * 2 * nz, -1.0, 1.0);
    let (qb, z) = (g.upload(&q), g.zeros(batch * nz));
    let draw = RngDraw::new(11, 3, RngDraw::iteration_step(2, 0));
    g.submit(|enc| e.loss.reparameterise(enc, batch, nz, &qb, &z, draw));
    let eps = rng::cpu::normal(draw, 0.0, 1.0, batch * nz);
    let want: Vec<f64> = (0..batch * nz)
        .map(|i| {
            let (b, j) = (i / nz, i % nz);
            let (mu, lv) = (f64::from(q[b * 2 * nz + j]), f64::from(q[b * 2 * nz + nz + j]));
            mu + (0.5 * lv).exp() * f64::from(eps[i])
        })
        .collect();
    assert_close("z", &g.read::<f32>(&z).unwrap(), &want, 1e-5, 1e-5);
}

#[test]
fn softmax_cross_entropy_value_gradient_and_accuracy() {
    use dualmcmc::ops::cross_entropy::cpu;
    let (g, e) = (gpu(), engine());
    let (batch, classes) = (70, 10);
    // Large logits check the log-sum-exp; row 3 is a tie (first index wins).
    let mut logits = random(5, batch * classes, -30.0, 30.0);
    logits[3 * classes..4 * classes].fill(1.5);
    let labels: Vec<usize> = (0..batch).map(|i| (i * 7) % classes).collect();
    let label_values: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
    let (lb, yb, dl, st) =
        (g.upload(&logits), g.upload(&label_values), g.zeros(batch * classes), g.zeros(batch * 2));
    g.submit(|enc| e.cross_entropy.softmax_xent(enc, batch, classes, 0.5, &lb, &yb, &dl, &st));
    let l64 = f64s(&logits);
    let stats: Vec<f32> = g.read(&st).unwrap();
    let want_loss = cpu::losses(classes, &l64, &labels);
    let got_loss: Vec<f32> = stats.chunks(2).map(|s| s[0]).collect();
    assert_close("loss", &got_loss, &want_loss, 1e-4, 1e-5);
    let arg = cpu::argmax(classes, &l64);
    let want_correct: Vec<f64> = arg.iter().zip(&labels).map(|(a, l)| f64::from(u8::from(a == l))).collect();
    let got_correct: Vec<f32> = stats.chunks(2).map(|s| s[1]).collect();
    assert_close("correct", &got_correct, &want_correct, 0.0, 0.0);
    assert!(want_correct.contains(&1.0) && want_correct.contains(&0.0));
    let h = 1e-5;
    let fd: Vec<f64> = (0..logits.len())
        .map(|i| {
            let (mut p, mut m) = (l64.clone(), l64.clone());
            p[i] += h;
            m[i] -= h;
            let total = |v: &[f64]| cpu::losses(classes, v, &labels).iter().sum::<f64>();
            0.5 * (total(&p) - total(&m)) / (2.0 * h)
        })
        .collect();
    assert_close("dloss/dlogits", &g.read::<f32>(&dl).unwrap(), &fd, 1e-5, 1e-4);
}
