//! Philox4x32-10 and its uniform/normal transforms: known answers, the 32x32 -> 64 product,
//! GPU against the CPU reference, distribution moments, determinism and independence from
//! the dispatch shape.

mod common;
use common::{AWKWARD, gpu};
use dualmcmc::gpu::{Gpu, GpuBuffer, WORKGROUP_1D};
use dualmcmc::ops::rng::{Rng, RngDraw, cpu};
use rand::{Rng as _, SeedableRng, rngs::StdRng};

/// Random123's kat_vectors for philox4x32 10: (counter, key, expected output).
const KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    ([0; 4], [0; 2], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([u32::MAX; 4], [u32::MAX; 2], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

const DRAW: RngDraw =
    RngDraw { seed: 0x0123_4567_89ab_cdef, stream: 3, counter: RngDraw::iteration_step(17, 5) };

fn uniform(g: &Gpu, rng: &Rng, n: usize, draw: RngDraw) -> Vec<f32> {
    let out = g.zeros(n);
    g.submit(|enc| rng.uniform(enc, &out, draw));
    g.read(&out).unwrap()
}

fn normal(g: &Gpu, rng: &Rng, n: usize, mean: f32, std: f32, draw: RngDraw) -> Vec<f32> {
    let out = g.zeros(n);
    g.submit(|enc| rng.normal(enc, &out, mean, std, draw));
    g.read(&out).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn philox_known_answers_on_cpu() {
    for (ctr, key, want) in KNOWN_ANSWERS {
        assert_eq!(cpu::philox4x32(ctr, key), want, "ctr {ctr:08x?} key {key:08x?}");
    }
}

#[test]
fn philox_known_answers_on_gpu() {
    let g = gpu();
    let rng = Rng::new(g);
    // 257 blocks: thread 0 is the known answer, the others (counter word 0 + t, wrapping
    // for the all-ones counter) must match the CPU reference.
    let threads = 257;
    for (ctr, key, want) in KNOWN_ANSWERS {
        let out: GpuBuffer = g.zeros(4 * threads);
        g.submit(|enc| rng.philox_raw(enc, &out, ctr, key));
        let got: Vec<u32> = g.read(&out).unwrap();
        assert_eq!(got[..4], want, "ctr {ctr:08x?} key {key:08x?}");
        for t in 0..threads {
            let c = [ctr[0].wrapping_add(t as u32), ctr[1], ctr[2], ctr[3]];
            assert_eq!(got[4 * t..4 * t + 4], cpu::philox4x32(c, key), "thread {t}");
        }
    }
}

#[test]
fn gpu_mul_hi_lo_matches_u64_product() {
    let g = gpu();
    let rng = Rng::new(g);
    let edges = [0, 1, 0xFFFF, 0x1_0000, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF];
    let (mut a, mut b): (Vec<u32>, Vec<u32>) =
        edges.iter().flat_map(|&x| edges.iter().map(move |&y| (x, y))).unzip();
    let mut r = StdRng::seed_from_u64(7);
    for _ in 0..100_000 {
        a.push(r.random());
        b.push(r.random());
    }
    let n = a.len();
    let (ga, gb, hi, lo) = (g.upload(&a), g.upload(&b), g.zeros(n), g.zeros(n));
    g.submit(|enc| rng.mul_hi_lo(enc, &ga, &gb, &hi, &lo));
    let (hi, lo): (Vec<u32>, Vec<u32>) = (g.read(&hi).unwrap(), g.read(&lo).unwrap());
    for i in 0..n {
        assert_eq!((hi[i], lo[i]), cpu::mul_hi_lo(a[i], b[i]), "{:#x} * {:#x}", a[i], b[i]);
    }
}

#[test]
fn uniform_map_is_open_and_exact() {
    let (min, max) = (cpu::uniform_from_bits(0), cpu::uniform_from_bits(u32::MAX));
    assert_eq!(min, 2f32.powi(-24));
    assert_eq!(max, 1.0 - 2f32.powi(-24));
    assert!(min > 0.0 && max < 1.0);
    // Exact: the f32 value is (k + 0.5) / 2^23 computed in f64.
    for x in [0, 511, 512, 0x8000_0000, 0xFFFF_FE00, u32::MAX] {
        let want = (f64::from(x >> 9) + 0.5) / 8_388_608.0;
        assert_eq!(f64::from(cpu::uniform_from_bits(x)), want);
    }
}

#[test]
fn cpu_box_muller_is_accurate_in_f32() {
    // The f32 reference (series for -ln u near 1) against Box–Muller in f64 on the same
    // uniforms, including u1 next to 1 where a plain f32 log would be far off.
    let near_one = [u32::MAX, u32::MAX - 512, 0xFFF0_0000, 0xF000_0000, 0xEFFF_FFFF];
    let mut r = StdRng::seed_from_u64(11);
    let words: Vec<u32> = near_one.into_iter().chain((0..100_000).map(|_| r.random())).collect();
    for (i, &w1) in words.iter().enumerate() {
        let w2: u32 = words[(i * 7 + 3) % words.len()];
        let (u1, u2) = (cpu::uniform_from_bits(w1), cpu::uniform_from_bits(w2));
        let rr = (-2.0 * f64::from(u1).ln()).sqrt();
        let theta = std::f64::consts::PI * (2.0 * f64::from(u2) - 1.0);
        let got = cpu::box_muller(u1, u2);
        for (g, want) in got.iter().zip([rr * theta.cos(), rr * theta.sin()]) {
            let err = (f64::from(*g) - want).abs();
            assert!(err <= 2e-6 * want.abs().max(1.0), "u1 {u1} u2 {u2}: got {g}, want {want}");
        }
    }
}

#[test]
fn gpu_uniforms_are_bit_identical_to_cpu_and_in_open_interval() {
    let g = gpu();
    let rng = Rng::new(g);
    for &n in AWKWARD.iter().chain(&[1000]) {
        let got = uniform(g, &rng, n, DRAW);
        assert_eq!(bits(&got), bits(&cpu::uniform(DRAW, n)), "n={n}");
        assert!(got.iter().all(|&u| u > 0.0 && u < 1.0), "n={n}");
    }
    // More threads than 65,535 workgroups of 256: a 2-D grid; check the tail and a sample.
    let n = 65_535 * WORKGROUP_1D as usize + 5;
    let got = uniform(g, &rng, n, DRAW);
    assert!(got.iter().all(|&u| u > 0.0 && u < 1.0));
    for i in (0..n).step_by(9_973).chain(n - 300..n) {
        let block = cpu::block(DRAW, (i / 4) as u32);
        let want = cpu::uniform_from_bits(block[i % 4]);
        assert_eq!(got[i].to_bits(), want.to_bits(), "n={n} i={i}");
    }
}

#[test]
fn gpu_normals_match_cpu() {
    let g = gpu();
    let rng = Rng::new(g);
    let mut worst = 0f32;
    for &n in AWKWARD.iter().chain(&[100_000]) {
        for (mean, std) in [(0.0, 1.0), (2.0, 0.5)] {
            let got = normal(g, &rng, n, mean, std, DRAW);
            let want = cpu::normal(DRAW, mean, std, n);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                worst = worst.max((a - b).abs());
                assert!((a - b).abs() <= 1e-5, "n={n} mean={mean} std={std} i={i}: gpu {a}, cpu {b}");
            }
        }
    }
    eprintln!("normals: max |gpu - cpu| = {worst:.2e}");
}

#[test]
fn gpu_normals_have_standard_moments() {
    let g = gpu();
    let rng = Rng::new(g);
    let n = 1_000_000;
    let z = normal(g, &rng, n, 0.0, 1.0, DRAW);
    assert!(z.iter().all(|v| v.is_finite()), "NaN or Inf among normals");
    let nf = n as f64;
    let mean = z.iter().map(|&v| f64::from(v)).sum::<f64>() / nf;
    let central = |k: i32| z.iter().map(|&v| (f64::from(v) - mean).powi(k)).sum::<f64>() / nf;
    let var = central(2);
    let kurtosis = central(4) / (var * var);
    eprintln!("n={n}: mean {mean:.5}, variance {var:.5}, kurtosis {kurtosis:.4}");
    // Within 5 standard errors of N(0, 1)'s 0, 1 and 3.
    assert!(mean.abs() < 5.0 / nf.sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(), "variance {var}");
    assert!((kurtosis - 3.0).abs() < 5.0 * (24.0 / nf).sqrt(), "kurtosis {kurtosis}");
}

#[test]
fn same_draw_is_reproducible_and_other_draws_differ() {
    let g = gpu();
    let rng = Rng::new(g);
    let n = 4099;
    let base = bits(&normal(g, &rng, n, 0.0, 1.0, DRAW));
    assert_eq!(base, bits(&normal(g, &rng, n, 0.0, 1.0, DRAW)));
    assert_eq!(bits(&uniform(g, &rng, n, DRAW)), bits(&uniform(g, &rng, n, DRAW)));
    let others = [
        RngDraw { seed: DRAW.seed + 1, ..DRAW },
        RngDraw { seed: DRAW.seed ^ (1 << 63), ..DRAW },
        RngDraw { stream: DRAW.stream + 1, ..DRAW },
        RngDraw { counter: DRAW.counter + 1, ..DRAW },
        RngDraw { counter: RngDraw::iteration_step(18, 5), ..DRAW },
    ];
    for other in others {
        let z = bits(&normal(g, &rng, n, 0.0, 1.0, other));
        let same = z.iter().zip(&base).filter(|(a, b)| a == b).count();
        assert_eq!(same, 0, "{other:?} shares {same} of {n} values with {DRAW:?}");
    }
}

#[test]
fn values_do_not_depend_on_dispatch_shape() {
    let g = gpu();
    let rng = Rng::new(g);
    let long_u = bits(&uniform(g, &rng, 1_000_000, DRAW));
    let long_z = bits(&normal(g, &rng, 1_000_000, 0.0, 1.0, DRAW));
    for &n in AWKWARD.iter().chain(&[1000]) {
        assert_eq!(bits(&uniform(g, &rng, n, DRAW)), long_u[..n], "uniform n={n}");
        assert_eq!(bits(&normal(g, &rng, n, 0.0, 1.0, DRAW)), long_z[..n], "normal n={n}");
    }
}
