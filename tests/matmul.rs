//! The matmul kernel against its f64 CPU reference: awkward sizes, all transposes, batches
//! with strides (including a broadcast B), offsets, β = 1 accumulation, β = 0 over NaN, and
//! bit-identical reruns. Both loaders are covered: sizes and offsets that are multiples of
//! 4 take the vec4 path, the others the element-by-element one.
//!
//! Tolerance: |got − want| ≤ 1e-5·√k + 1e-5·|want| for inputs in [−1, 1) (f32 rounding
//! of k products grows about like √k).

mod common;
use common::{AWKWARD, assert_close, gpu, random};
use dualmcmc::ops::matmul::{self, MatRef, Matmul, MatmulShape, MatmulTiles};
use std::sync::OnceLock;

/// One Matmul for the process: its pipelines compile once.
fn default_matmul() -> &'static Matmul {
    static MM: OnceLock<Matmul> = OnceLock::new();
    MM.get_or_init(|| Matmul::new(gpu()))
}

/// Runs one product on the GPU with C initialised to `c0`; returns C and the reference.
#[allow(clippy::too_many_arguments)]
fn run(
    mm: &Matmul,
    s: MatmulShape,
    a: &[f32],
    b: &[f32],
    c0: &[f32],
    offs: [usize; 3],
    alpha: f32,
    beta: f32,
) -> (Vec<f32>, Vec<f64>) {
    let g = gpu();
    // The matrices start `off` elements into their buffers and are followed by 3 more
    // elements (so buffer lengths are rarely multiples of 4); the padding is junk.
    let pad = |off: usize, v: &[f32]| {
        let mut buf = vec![1e30f32; off];
        buf.extend_from_slice(v);
        buf.extend_from_slice(&[1e30; 3]);
        buf
    };
    let (ga, gb, gc) = (g.upload(&pad(offs[0], a)), g.upload(&pad(offs[1], b)), g.upload(&pad(offs[2], c0)));
    let at = |buf, offset| MatRef { buf, offset };
    g.submit(|enc| {
        mm.encode(enc, s, at(&ga, offs[0]), at(&gb, offs[1]), at(&gc, offs[2]), alpha, beta);
    });
    let got: Vec<f32> = g.read(&gc).unwrap();
    let untouched = |r: std::ops::Range<usize>| got[r].iter().all(|&v| v == 1e30);
    assert!(untouched(0..offs[2]), "write before C");
    assert!(untouched(got.len() - 3..got.len()), "write past C");
    let got = got[offs[2]..got.len() - 3].to_vec();
    let want = matmul::cpu::matmul(s, a, b, c0, f64::from(alpha), f64::from(beta));
    (got, want)
}

fn tol(k: usize) -> (f64, f64) {
    (1e-5 * (k.max(1) as f64).sqrt(), 1e-5)
}

/// Element count of a batched operand: the last matrix ends at stride·(batch−1) + size.
fn span(batch: usize, stride: usize, size: usize) -> usize {
    stride * (batch - 1) + size
}

#[test]
fn awkward_sizes_all_transposes_match_cpu() {
    let mm = default_matmul();
    let mut case = 0u64;
    for &m in &AWKWARD {
        for &n in &AWKWARD {
            for &k in &AWKWARD {
                // Every (m, n, k) with no transpose, a rotating transpose otherwise.
                for t in [0, 1 + (case % 3) as usize] {
                    let (ta, tb) = (t & 2 != 0, t & 1 != 0);
                    case += 1;
                    let s = MatmulShape::new(m, n, k, ta, tb);
                    let a = random(case, m * k, -1.0, 1.0);
                    let b = random(case + 1000, k * n, -1.0, 1.0);
                    let c0 = vec![f32::NAN; m * n];
                    let (got, want) = run(mm, s, &a, &b, &c0, [0; 3], 1.0, 0.0);
                    let (atol, rtol) = tol(k);
                    let what = format!("m={m} n={n} k={k} ta={ta} tb={tb}");
                    assert_close(&what, &got, &want, atol, rtol);
                }
            }
        }
    }
}

#[test]
fn vec4_path_all_transposes_match_cpu() {
    // Multiples of 4 (vec4 loads) with edges that are not tile multiples; N = 6 (M = 6)
    // leaves B (A) to the element loader in some transposes while the other operand is
    // read as vec4s.
    let mm = default_matmul();
    let cases =
        [(4, 4, 4), (68, 36, 20), (132, 260, 64), (20, 300, 8), (260, 4, 128), (68, 6, 20), (6, 36, 20)];
    for (case, &(m, n, k)) in cases.iter().enumerate() {
        for t in 0..4 {
            let (ta, tb) = (t & 2 != 0, t & 1 != 0);
            let s = MatmulShape::new(m, n, k, ta, tb);
            let a = random(case as u64 * 4 + t, m * k, -1.0, 1.0);
            let b = random(case as u64 * 4 + t + 500, k * n, -1.0, 1.0);
            let c0 = random(7, m * n, -1.0, 1.0);
            let (got, want) = run(mm, s, &a, &b, &c0, [8, 4, 0], 0.5, 1.0);
            let (atol, rtol) = tol(k);
            let what = format!("vec4 m={m} n={n} k={k} ta={ta} tb={tb}");
            assert_close(&what, &got, &want, atol, rtol);
        }
    }
}

#[test]
fn batches_strides_offsets_and_beta_match_cpu() {
    // (m, n, k, batch): unaligned and aligned; B broadcast with stride 0 in every case.
    let cases = [(7, 65, 33, 3), (65, 7, 1, 2), (16, 20, 12, 4), (20, 32, 16, 2)];
    let mm = default_matmul();
    for (case, &(m, n, k, batch)) in cases.iter().enumerate() {
        for t in 0..4 {
            let (ta, tb) = (t & 2 != 0, t & 1 != 0);
            // A and C strides leave gaps between matrices; B is shared by the whole batch.
            let s = MatmulShape {
                batch,
                a_stride: m * k + 4,
                b_stride: 0,
                c_stride: m * n + 8,
                ..MatmulShape::new(m, n, k, ta, tb)
            };
            let seed = case as u64 * 10 + t as u64;
            let a = random(seed, span(batch, s.a_stride, m * k), -1.0, 1.0);
            let b = random(seed + 100, k * n, -1.0, 1.0);
            let c0 = random(seed + 200, span(batch, s.c_stride, m * n), -1.0, 1.0);
            let (atol, rtol) = tol(k);
            // β = 1 accumulates onto C; the odd offsets force the element-by-element path,
            // the multiples of 4 allow vec4 loads where the sizes do.
            for offs in [[3, 5, 1], [4, 8, 12]] {
                let (full, want) = run(mm, s, &a, &b, &c0, offs, -1.5, 1.0);
                let got: Vec<f32> =
                    (0..batch).flat_map(|bi| full[bi * s.c_stride..][..m * n].iter().copied()).collect();
                let what = format!("batch {batch} m={m} n={n} k={k} ta={ta} tb={tb} {offs:?}");
                assert_close(&what, &got, &want, atol * 1.5, rtol);
                // The gaps between the C matrices are left alone.
                for bi in 1..batch {
                    let gap = bi * s.c_stride - 8..bi * s.c_stride;
                    assert_eq!(full[gap.clone()], c0[gap], "{what}: gap before matrix {bi}");
                }
            }
        }
    }
}

#[test]
fn beta_zero_overwrites_nan_and_results_are_bit_identical() {
    let mm = default_matmul();
    for (m, n, k, off) in [(65, 257, 65, 1), (64, 256, 64, 0)] {
        let s = MatmulShape::new(m, n, k, false, false);
        let a = random(1, m * k, -1.0, 1.0);
        let b = random(2, k * n, -1.0, 1.0);
        let c0 = vec![f32::NAN; m * n];
        let (first, want) = run(mm, s, &a, &b, &c0, [off; 3], 2.0, 0.0);
        assert!(first.iter().all(|v| v.is_finite()), "NaN in C leaked through β = 0");
        assert_close("β = 0 over NaN", &first, &want, 2.0 * tol(k).0, tol(k).1);
        let (second, _) = run(mm, s, &a, &b, &c0, [off; 3], 2.0, 0.0);
        let same = first.iter().zip(&second).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "two runs of the same product differ (m={m} n={n} k={k})");
    }
}

#[test]
fn other_tile_sizes_match_cpu() {
    // The GPU tiles in every variant, and a lopsided tile (3×2 blocks, 4×2 workgroups) on
    // one variant per loader; sizes leave partial tiles in every direction, and n ≤ 4 runs
    // the narrow form of each.
    let g = gpu();
    let lopsided = MatmulTiles { row_blocks: 3, col_blocks: 2, workgroup: [4, 2] };
    let cases = [(65, 33, 7), (36, 68, 16), (300, 1, 36), (70, 3, 9)];
    for (tiles, transposes) in [(MatmulTiles::GPU, 0..4), (lopsided, 3..4)] {
        let mm = Matmul::with_tiles(g, tiles);
        for (t, &(m, n, k)) in cases.iter().enumerate() {
            for tr in transposes.clone() {
                let (ta, tb) = (tr & 2 != 0, tr & 1 != 0);
                let s = MatmulShape::new(m, n, k, ta, tb);
                let a = random(t as u64 + 40, m * k, -1.0, 1.0);
                let b = random(t as u64 + 50, k * n, -1.0, 1.0);
                let c0 = vec![0.0; m * n];
                let (got, want) = run(&mm, s, &a, &b, &c0, [0; 3], 1.0, 0.0);
                let (atol, rtol) = tol(k);
                let what = format!("{tiles:?} m={m} n={n} k={k} ta={ta} tb={tb}");
                assert_close(&what, &got, &want, atol, rtol);
            }
        }
    }
}

#[test]
fn empty_sum_scales_c() {
    let mm = default_matmul();
    // k = 0: C = β·C (the sum over k is empty).
    let s = MatmulShape::new(5, 6, 0, false, false);
    let c0 = random(9, 30, -1.0, 1.0);
    let (got, want) = run(mm, s, &[], &[], &c0, [0; 3], 1.0, 0.5);
    assert_close("k = 0", &got, &want, 1e-7, 1e-7);
}

#[test]
fn fused_epilogues_match_cpu() {
    // Bias, activation and gate (the derivative of an activation read from its output), on
    // both loaders and both store files (C, bias and gate aligned to 4 or not), with
    // offsets, every activation, and the gate at an offset of its own.
    use dualmcmc::ops::activation::Activation;
    use dualmcmc::ops::matmul::Epilogue;
    let g = gpu();
    let mm = default_matmul();
    let acts = [Activation::Relu, Activation::LeakyRelu(0.2), Activation::Tanh];
    for (case, &(m, n, k, off)) in
        [(7, 65, 33, 3), (64, 36, 20, 0), (1, 5, 128, 1), (33, 1, 2, 0), (37, 20, 2, 8), (9, 4, 12, 4)]
            .iter()
            .enumerate()
    {
        // The gate 2 elements past C's offset (unaligned), or 4 where C's offset is aligned,
        // so the vec4 stores see an aligned gate too.
        let gate_off = if off % 4 == 0 && n % 4 == 0 { off + 4 } else { off + 2 };
        for (t, &act) in acts.iter().enumerate() {
            let seed = 300 + case as u64 * 10 + t as u64;
            let s = MatmulShape::new(m, n, k, t == 1, t == 2);
            let a = random(seed, m * k, -1.0, 1.0);
            let b = random(seed + 1, k * n, -1.0, 1.0);
            let bias = random(seed + 2, off + n, -1.0, 1.0);
            // The gate holds outputs of `act` (negative values for LeakyReLU, 0 for ReLU).
            let gate: Vec<f32> = random(seed + 3, gate_off + m * n, -1.0, 1.0)
                .into_iter()
                .map(|u| dualmcmc::ops::activation::cpu::forward(act, u))
                .collect();
            let (ga, gb, gbias, ggate) = (g.upload(&a), g.upload(&b), g.upload(&bias), g.upload(&gate));
            let forward = g.upload(&vec![f32::NAN; off + m * n]);
            let backward = g.upload(&vec![f32::NAN; off + m * n]);
            let at = |buf, offset| MatRef { buf, offset };
            g.submit(|enc| {
                let fwd = Epilogue { bias: Some(at(&gbias, off)), act: Some(act), gate: None };
                mm.encode_fused(enc, s, at(&ga, 0), at(&gb, 0), at(&forward, off), fwd);
                let bwd = Epilogue { bias: None, act: None, gate: Some((act, at(&ggate, gate_off))) };
                mm.encode_fused(enc, s, at(&ga, 0), at(&gb, 0), at(&backward, off), bwd);
            });
            let plain = matmul::cpu::matmul(s, &a, &b, &[], 1.0, 0.0);
            let want_fwd: Vec<f64> = (0..m * n)
                .map(|i| matmul::cpu::epilogue(plain[i], Some(bias[off + i % n]), Some(act), None))
                .collect();
            let want_bwd: Vec<f64> = (0..m * n)
                .map(|i| matmul::cpu::epilogue(plain[i], None, None, Some((act, gate[gate_off + i]))))
                .collect();
            let (atol, rtol) = tol(k);
            let what = format!("{act:?} m={m} n={n} k={k} off={off}");
            let got: Vec<f32> = g.read(&forward).unwrap();
            assert_close(&format!("{what}: bias + activation"), &got[off..], &want_fwd, atol, rtol);
            let got: Vec<f32> = g.read(&backward).unwrap();
            assert_close(&format!("{what}: gate"), &got[off..], &want_bwd, atol, rtol);
        }
    }
}
