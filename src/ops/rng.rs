//! Counter-based random numbers on the GPU: Philox4x32-10 (Salmon, Moraes, Dror & Shaw,
//! "Parallel random numbers: as easy as 1, 2, 3", SC 2011) with uniform and Box–Muller normal
//! transforms (`philox.wgsl`, a library, + `rng.wgsl`, its kernels).
//!
//! Value `i` of a draw is a pure function of `(seed, stream, counter, i)` (an [`RngDraw`] and
//! the index), never of the dispatch shape, so a resumed run replays its noise exactly:
//!
//! ```text
//! key  = (seed_lo, seed_hi)
//! ctr  = (i / 4, stream, counter_lo, counter_hi)
//! lane = i % 4            value i uses word `lane` of philox4x32(ctr, key)
//! ```
//!
//! Kernels that draw noise inline (the Langevin samplers) compile [`PHILOX_SOURCE`] prepended
//! to their own WGSL and call `rng_normal_at(seed, stream, counter, i)` with the words from
//! [`RngDraw::seed_words`] / [`RngDraw::counter_words`]; [`Rng`] fills whole buffers with the
//! same values.

use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, WORKGROUP_1D, grid_1d};

/// The Philox library (functions only, no bindings), for other shaders to prepend.
pub const PHILOX_SOURCE: &str = include_str!("philox.wgsl");

/// The kernels of this op: the library followed by `rng.wgsl`.
pub const SOURCE: &str = concat!(include_str!("philox.wgsl"), include_str!("rng.wgsl"));

/// Which random numbers: value `i` of the draw is a function of these three fields and `i`
/// alone. Two draws that differ in any field are independent streams of numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RngDraw {
    /// The run's seed (the Philox key).
    pub seed: u64,
    /// Separates independent uses within a run (e.g. x-chain and z-chain noise).
    pub stream: u32,
    /// Where in the run: callers put iteration and step here ([`RngDraw::iteration_step`]).
    pub counter: u64,
}

impl RngDraw {
    pub fn new(seed: u64, stream: u32, counter: u64) -> Self {
        Self { seed, stream, counter }
    }

    /// The counter for step `step` of training iteration `iteration`:
    /// `iteration · 2^32 + step`, so each (iteration, step) pair has its own numbers.
    pub const fn iteration_step(iteration: u32, step: u32) -> u64 {
        ((iteration as u64) << 32) | step as u64
    }

    /// The seed as WGSL's `vec2<u32>(lo, hi)` (the Philox key).
    pub fn seed_words(&self) -> [u32; 2] {
        split(self.seed)
    }

    /// The counter as WGSL's `vec2<u32>(lo, hi)` (Philox counter words 2 and 3).
    pub fn counter_words(&self) -> [u32; 2] {
        split(self.counter)
    }
}

fn split(x: u64) -> [u32; 2] {
    [x as u32, (x >> 32) as u32]
}

/// Mirrors `Params` in `rng.wgsl` (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    stream: u32,
    counter: [u32; 2],
    seed: [u32; 2],
    mean: f32,
    std: f32,
    block0: u32,
    _pad: [u32; 3],
}

impl Params {
    fn new(n: usize, draw: RngDraw) -> Self {
        Self {
            n: u32::try_from(n).expect("random draws are indexed by u32"),
            stream: draw.stream,
            counter: draw.counter_words(),
            seed: draw.seed_words(),
            mean: 0.0,
            std: 1.0,
            block0: 0,
            _pad: [0; 3],
        }
    }
}

/// The random-number kernels, compiled once.
pub struct Rng {
    gpu: Gpu,
    uniform: Kernel,
    normal: Kernel,
    philox_raw: Kernel,
    mul_hi_lo: Kernel,
}

impl Rng {
    pub fn new(gpu: &Gpu) -> Self {
        let rw = Access::ReadWrite;
        let k = |entry, n| Kernel::new(gpu, SOURCE, entry, &[rw; 4][..n], &[]);
        Self {
            gpu: gpu.clone(),
            uniform: k("fill_uniform", 1),
            normal: k("fill_normal", 1),
            philox_raw: k("philox_raw", 1),
            mul_hi_lo: k("mul_hi_lo", 4),
        }
    }

    /// `out[i]` = value `i` of the uniform draw, in the open interval (0, 1), for every
    /// element of `out` (f32). Bit-identical to [`cpu::uniform`].
    pub fn uniform(&self, enc: &mut wgpu::CommandEncoder, out: &GpuBuffer, draw: RngDraw) {
        let p = Params::new(out.len, draw);
        let groups = grid_1d(out.len, WORKGROUP_1D);
        self.uniform.encode(&self.gpu, enc, &p, &[out], groups);
    }

    /// `out[i]` = mean + std · (value `i` of the standard normal draw), for every element of
    /// `out` (f32). Equal to [`cpu::normal`] up to the GPU's log/sin/cos rounding (~1e-6).
    pub fn normal(
        &self,
        enc: &mut wgpu::CommandEncoder,
        out: &GpuBuffer,
        mean: f32,
        std: f32,
        draw: RngDraw,
    ) {
        let p = Params { mean, std, ..Params::new(out.len, draw) };
        let groups = grid_1d(out.len, WORKGROUP_1D);
        self.normal.encode(&self.gpu, enc, &p, &[out], groups);
    }

    /// The raw generator, for known-answer tests: `out[4t .. 4t + 4]` =
    /// philox4x32((ctr[0] + t, ctr[1], ctr[2], ctr[3]), key) for t < out.len / 4 (u32;
    /// `out.len` a multiple of 4; the first counter word wraps).
    pub fn philox_raw(&self, enc: &mut wgpu::CommandEncoder, out: &GpuBuffer, ctr: [u32; 4], key: [u32; 2]) {
        assert_eq!(out.len % 4, 0, "philox_raw writes blocks of 4 words");
        let threads = out.len / 4;
        let p = Params {
            block0: ctr[0],
            ..Params::new(
                threads,
                RngDraw {
                    seed: u64::from(key[0]) | (u64::from(key[1]) << 32),
                    stream: ctr[1],
                    counter: u64::from(ctr[2]) | (u64::from(ctr[3]) << 32),
                },
            )
        };
        let groups = grid_1d(threads, WORKGROUP_1D);
        self.philox_raw.encode(&self.gpu, enc, &p, &[out], groups);
    }

    /// `(hi[i], lo[i])` = the 64-bit product `a[i] · b[i]` as computed by the shader's
    /// 16-bit-halves multiply (u32 buffers of equal length), for testing it.
    pub fn mul_hi_lo(
        &self,
        enc: &mut wgpu::CommandEncoder,
        a: &GpuBuffer,
        b: &GpuBuffer,
        hi: &GpuBuffer,
        lo: &GpuBuffer,
    ) {
        let n = a.len;
        for buf in [b, hi, lo] {
            assert!(buf.len >= n, "mul_hi_lo: buffer of {} words, need {n}", buf.len);
        }
        let p = Params::new(n, RngDraw::new(0, 0, 0));
        let groups = grid_1d(n, WORKGROUP_1D);
        self.mul_hi_lo.encode(&self.gpu, enc, &p, &[a, b, hi, lo], groups);
    }
}

/// CPU references, with u64 arithmetic for the products, following the shader step by step
/// in f32 (the uniforms are bit-identical; normals differ only by the transcendentals).
pub mod cpu {
    use super::RngDraw;

    pub const M0: u32 = 0xD251_1F53;
    pub const M1: u32 = 0xCD9E_8D57;
    pub const W0: u32 = 0x9E37_79B9;
    pub const W1: u32 = 0xBB67_AE85;

    /// (hi, lo) words of the 64-bit product.
    pub fn mul_hi_lo(a: u32, b: u32) -> (u32, u32) {
        let p = u64::from(a) * u64::from(b);
        ((p >> 32) as u32, p as u32)
    }

    /// Philox4x32-10 (Salmon et al. 2011; Random123's `philox4x32_R(10, ctr, key)`).
    pub fn philox4x32(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
        let (mut c, mut k) = (ctr, key);
        for round in 0..10 {
            if round > 0 {
                k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
            }
            let (hi0, lo0) = mul_hi_lo(M0, c[0]);
            let (hi1, lo1) = mul_hi_lo(M1, c[2]);
            c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        }
        c
    }

    /// The 4 words behind values `4·block .. 4·block + 3` of `draw`.
    pub fn block(draw: RngDraw, block: u32) -> [u32; 4] {
        let [c2, c3] = draw.counter_words();
        philox4x32([block, draw.stream, c2, c3], draw.seed_words())
    }

    /// (k + 0.5) · 2^-23 with k the top 23 bits: in (0, 1), exact in f32.
    pub fn uniform_from_bits(x: u32) -> f32 {
        ((x >> 9) as f32 + 0.5) * (1.0 / 8_388_608.0)
    }

    /// -ln(u), as the shader computes it (series near 1; see `rng_neg_log`).
    pub fn neg_log(u: f32) -> f32 {
        if u > 0.9375 {
            let s = (u - 1.0) / (u + 1.0);
            let s2 = s * s;
            -2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * 0.2))
        } else {
            -u.ln()
        }
    }

    /// Box–Muller: (r cos θ, r sin θ) with r = sqrt(-2 ln u1), θ = π (2 u2 - 1).
    pub fn box_muller(u1: f32, u2: f32) -> [f32; 2] {
        let r = (2.0 * neg_log(u1)).sqrt();
        let theta = std::f32::consts::PI * (2.0 * u2 - 1.0);
        [r * theta.cos(), r * theta.sin()]
    }

    /// 4 standard normals from one Philox output: lanes (0, 1) from words 0, 1, lanes
    /// (2, 3) from words 2, 3.
    pub fn normal4(bits: [u32; 4]) -> [f32; 4] {
        let u = bits.map(uniform_from_bits);
        let [a, b] = box_muller(u[0], u[1]);
        let [c, d] = box_muller(u[2], u[3]);
        [a, b, c, d]
    }

    /// Values 0..n of the uniform draw.
    pub fn uniform(draw: RngDraw, n: usize) -> Vec<f32> {
        by_block(draw, n, |bits| bits.map(uniform_from_bits))
    }

    /// Values 0..n of the normal draw with this mean and standard deviation.
    pub fn normal(draw: RngDraw, mean: f32, std: f32, n: usize) -> Vec<f32> {
        by_block(draw, n, |bits| normal4(bits).map(|z| std.mul_add(z, mean)))
    }

    fn by_block(draw: RngDraw, n: usize, f: impl Fn([u32; 4]) -> [f32; 4]) -> Vec<f32> {
        let blocks = u32::try_from(n.div_ceil(4)).expect("random draws are indexed by u32");
        let mut out: Vec<f32> = (0..blocks).flat_map(|b| f(block(draw, b))).collect();
        out.truncate(n);
        out
    }
}
