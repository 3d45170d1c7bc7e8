//! Elementwise, activation and reduction kernels against their CPU references.

mod common;
use common::{AWKWARD, assert_close, gpu, random};
use dualmcmc::ops::activation::{self, Activation, Activations};
use dualmcmc::ops::elementwise::{self, Elementwise};
use dualmcmc::ops::reduce::{self, AxisShape, Reduce};

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn elementwise_kernels_match_cpu() {
    let g = gpu();
    let ops = Elementwise::new(g);
    // The last size needs a 2-D grid (more than 65,535 workgroups of 256).
    for &n in AWKWARD.iter().chain(&[65_535 * 256 + 3]) {
        let xs = random(n as u64, n, -2.0, 2.0);
        let ys = random(n as u64 + 1, n, -2.0, 2.0);
        let (x, y) = (g.upload(&xs), g.upload(&ys));
        let (filled, copied, scaled, axpy, sum, prod) =
            (g.zeros(n), g.zeros(n), g.zeros(n), g.upload(&ys), g.zeros(n), g.zeros(n));
        let lerp = g.upload(&ys);
        g.submit(|enc| {
            ops.fill(enc, n, &filled, 0.25);
            ops.copy(enc, n, &x, &copied);
            ops.scale(enc, n, -1.5, &x, &scaled);
            ops.axpy(enc, n, 0.75, &x, &axpy);
            ops.lerp(enc, n, 0.1, &x, &lerp);
            ops.add(enc, n, &x, &y, &sum);
            ops.mul(enc, n, &x, &y, &prod);
        });
        let mut want_axpy = ys.clone();
        elementwise::cpu::axpy(0.75, &xs, &mut want_axpy);
        assert_close("fill", &g.read(&filled).unwrap(), &vec![0.25; n], 0.0, 0.0);
        assert_close("copy", &g.read(&copied).unwrap(), &f64s(&xs), 0.0, 0.0);
        assert_close(
            "scale",
            &g.read(&scaled).unwrap(),
            &f64s(&elementwise::cpu::scale(-1.5, &xs)),
            1e-6,
            1e-6,
        );
        assert_close("axpy", &g.read(&axpy).unwrap(), &f64s(&want_axpy), 1e-6, 1e-6);
        let mut want_lerp = ys.clone();
        elementwise::cpu::lerp(0.1, &xs, &mut want_lerp);
        assert_close("lerp", &g.read(&lerp).unwrap(), &f64s(&want_lerp), 1e-6, 1e-6);
        assert_close("add", &g.read(&sum).unwrap(), &f64s(&elementwise::cpu::add(&xs, &ys)), 1e-6, 1e-6);
        assert_close("mul", &g.read(&prod).unwrap(), &f64s(&elementwise::cpu::mul(&xs, &ys)), 1e-6, 1e-6);
    }
}

#[test]
fn activations_and_backward_match_cpu() {
    let g = gpu();
    let ops = Activations::new(g);
    for act in [Activation::Relu, Activation::LeakyRelu(0.2), Activation::Tanh] {
        for &n in &AWKWARD {
            let xs = random(n as u64 + 10, n, -3.0, 3.0);
            let dys = random(n as u64 + 11, n, -1.0, 1.0);
            let (x, dy, y, dx) = (g.upload(&xs), g.upload(&dys), g.zeros(n), g.zeros(n));
            g.submit(|enc| ops.forward(enc, act, n, &x, &y));
            let ys: Vec<f32> = g.read(&y).unwrap();
            let saved = if act.saves_output() { &y } else { &x };
            g.submit(|enc| ops.backward(enc, act, n, saved, &dy, &dx));
            let saved_cpu = if act.saves_output() { &ys } else { &xs };
            let want_y: Vec<f64> = xs.iter().map(|&v| f64::from(activation::cpu::forward(act, v))).collect();
            let want_dx: Vec<f64> = saved_cpu
                .iter()
                .zip(&dys)
                .map(|(&s, &d)| f64::from(activation::cpu::backward(act, s, d)))
                .collect();
            assert_close(&format!("{act:?} forward n={n}"), &ys, &want_y, 1e-6, 1e-5);
            assert_close(&format!("{act:?} backward n={n}"), &g.read(&dx).unwrap(), &want_dx, 1e-6, 1e-5);
        }
    }
}

#[test]
fn reductions_match_cpu_and_are_deterministic() {
    let g = gpu();
    let ops = Reduce::new(g);
    // Short axes take the per-output loop, long ones the workgroup tree.
    let shapes = [(1, 1, 1), (7, 65, 3), (3, 257, 5), (2, 1000, 1), (1, 65_537, 1), (257, 7, 65)];
    for (outer, axis, inner) in shapes {
        let s = AxisShape { outer, axis, inner };
        let xs = random((outer * axis * inner) as u64, outer * axis * inner, -1.0, 1.0);
        let x = g.upload(&xs);
        let (sum, mean, again) = (g.zeros(outer * inner), g.zeros(outer * inner), g.zeros(outer * inner));
        g.submit(|enc| {
            ops.sum(enc, s, &x, &sum);
            ops.mean(enc, s, &x, &mean);
            ops.sum(enc, s, &x, &again);
        });
        let want = reduce::cpu::sum(s, &xs);
        // f32 accumulation error grows like sqrt(axis)·eps for random signs.
        let atol = 1e-6 * (axis as f64).sqrt() * 4.0;
        let got_sum: Vec<f32> = g.read(&sum).unwrap();
        assert_close(&format!("sum {s:?}"), &got_sum, &want, atol, 1e-5);
        let want_mean: Vec<f64> = want.iter().map(|v| v / axis as f64).collect();
        assert_close(&format!("mean {s:?}"), &g.read(&mean).unwrap(), &want_mean, atol / axis as f64, 1e-5);
        let again: Vec<f32> = g.read(&again).unwrap();
        assert_eq!(
            got_sum.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            again.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "sum {s:?} not bit-identical across two runs"
        );
    }
}
