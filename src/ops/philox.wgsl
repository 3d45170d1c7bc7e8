// file: philox.wgsl
// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011), its uniform and normal (Box–Muller) transforms.
//
// A library: functions and constants only, no bindings. Shaders that need noise are compiled
// with this file's text prepended (Rust: `ops::rng::PHILOX_SOURCE`), so every name here is
// prefixed `philox_`, `PHILOX_`, `rng_` or `RNG_`.
//
// Counter layout. Random value number i of a draw is a pure function of
//   (seed: u64, stream: u32, counter: u64, i: u32)
// and nothing else (not the dispatch shape, not the thread that computes it):
//   key  = (seed_lo, seed_hi)
//   ctr  = (i / 4, stream, counter_lo, counter_hi)
//   lane = i % 4     (which of the 4 words of philox4x32(ctr, key) value i uses)
// `stream` separates independent uses (e.g. x-chain noise from z-chain noise); `counter` is
// where callers put iteration and step (ops::rng::RngDraw::iteration_step packs them as
// iteration * 2^32 + step). Normals pair lanes (0, 1) and (2, 3) through one Box–Muller
// transform each, so a Philox call gives 4 uniforms or 4 normals.
//
// WGSL has no 64-bit integers: u64 values travel as vec2<u32>(lo, hi) and the 32x32 -> 64
// products of the Philox rounds are built from 16-bit halves (philox_mul_hi_lo).

const PHILOX_M0: u32 = 0xD2511F53u; // round multipliers (Salmon et al. 2011, Table 2)
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u; // Weyl key increments: golden ratio, sqrt(3) - 1
const PHILOX_W1: u32 = 0xBB67AE85u;
const RNG_PI: f32 = 3.1415927f; // pi rounded to f32 (0x40490FDB), as Rust's f32::consts::PI

// The full 64-bit product a * b as (hi, lo). u32 multiplication in WGSL wraps, so lo is
// simply a * b; hi comes from the four 16x16 -> 32 partial products, none of which can
// overflow: with a = ah*2^16 + al and b = bh*2^16 + bl,
//   a*b = hh*2^32 + (lh + hl)*2^16 + ll,
// and the carry into the high word is collected in `mid` (< 3*2^16, no overflow).
fn philox_mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let al = a & 0xFFFFu;
    let ah = a >> 16u;
    let bl = b & 0xFFFFu;
    let bh = b >> 16u;
    let ll = al * bl;
    let lh = al * bh;
    let hl = ah * bl;
    let hh = ah * bh;
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

// One Philox4x32 round (Random123's philox4x32round).
fn philox_round(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
    let p0 = philox_mul_hi_lo(PHILOX_M0, c.x);
    let p1 = philox_mul_hi_lo(PHILOX_M1, c.z);
    return vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}

// Philox4x32-10: 10 rounds, the key bumped by the Weyl increments between rounds.
// Known answers (Random123 kat_vectors): ctr 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8.
fn philox4x32(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    for (var r = 0u; r < 9u; r++) {
        c = philox_round(c, k);
        k += vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return philox_round(c, k);
}

// The 4 words of the block holding values 4*block .. 4*block + 3 of a draw (layout above).
// seed and counter are (lo, hi) pairs.
fn rng_block(seed: vec2<u32>, stream: u32, counter: vec2<u32>, block: u32) -> vec4<u32> {
    return philox4x32(vec4<u32>(block, stream, counter.x, counter.y), seed);
}

// Uniform in the open interval (0, 1) from 32 random bits: the top 23 bits k give
// (k + 0.5) * 2^-23. Every step is exact in f32 (k + 0.5 < 2^23 needs 24 significant bits),
// so the result is bit-identical on every adapter; min 2^-24 > 0, max 1 - 2^-24 < 1, so
// log(u) is always finite.
fn rng_uniform(x: u32) -> f32 {
    return (f32(x >> 9u) + 0.5) * 0x1p-23f;
}

// -ln(u) for u in (0, 1), accurate relative to its (small) value as u -> 1. GPU log is
// specified with an absolute error near 1 (Vulkan: 2^-21 on [0.5, 2]), which would swamp
// -ln(u) ~ 1e-7 and give Box–Muller radii near 0 that are wrong by ~1e-3. Above 15/16 we use
// ln(u) = 2 atanh(s), s = (u - 1)/(u + 1), |s| < 1/31: u - 1 is exact (Sterbenz) and the
// series s + s^3/3 + s^5/5 leaves out < 2e-10 relative.
fn rng_neg_log(u: f32) -> f32 {
    if (u > 0.9375) {
        let s = (u - 1.0) / (u + 1.0);
        let s2 = s * s;
        return -2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * 0.2));
    }
    return -log(u);
}

// Box–Muller: two independent N(0, 1) values from two uniforms in (0, 1),
//   r = sqrt(-2 ln u1), theta = pi (2 u2 - 1),   (r cos theta, r sin theta).
// theta spans (-pi, pi) rather than (0, 2 pi) (same distribution, the sign of both values
// flips) because that is the range where GPU sin/cos are accurate; 2 u2 - 1 is exact.
fn rng_box_muller(u1: f32, u2: f32) -> vec2<f32> {
    let r = sqrt(2.0 * rng_neg_log(u1));
    let theta = RNG_PI * (2.0 * u2 - 1.0);
    return vec2<f32>(r * cos(theta), r * sin(theta));
}

// 4 uniforms in (0, 1) from one Philox output.
fn rng_uniform4(bits: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(rng_uniform(bits.x), rng_uniform(bits.y), rng_uniform(bits.z), rng_uniform(bits.w));
}

// 4 standard normals from one Philox output: lanes (0, 1) from words (x, y), lanes (2, 3)
// from words (z, w).
fn rng_normal4(bits: vec4<u32>) -> vec4<f32> {
    let a = rng_box_muller(rng_uniform(bits.x), rng_uniform(bits.y));
    let b = rng_box_muller(rng_uniform(bits.z), rng_uniform(bits.w));
    return vec4<f32>(a, b);
}

// Value i of the uniform draw (seed, stream, counter): what a shader calls to draw noise
// inline, one value per thread. Computes the whole Philox block (4x the work of a
// block-per-thread kernel) so that the value depends on i alone.
fn rng_uniform_at(seed: vec2<u32>, stream: u32, counter: vec2<u32>, i: u32) -> f32 {
    let bits = rng_block(seed, stream, counter, i >> 2u);
    return rng_uniform(bits[i & 3u]);
}

// Value i of the standard normal draw (seed, stream, counter), equal to lane i % 4 of
// rng_normal4 on block i / 4; only the Box–Muller pair holding lane i is transformed.
fn rng_normal_at(seed: vec2<u32>, stream: u32, counter: vec2<u32>, i: u32) -> f32 {
    let bits = rng_block(seed, stream, counter, i >> 2u);
    let lane = i & 3u;
    let pair = select(bits.xy, bits.zw, lane >= 2u);
    let z = rng_box_muller(rng_uniform(pair.x), rng_uniform(pair.y));
    return select(z.x, z.y, (lane & 1u) == 1u);
}
