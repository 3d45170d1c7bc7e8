// Random-number kernels over philox.wgsl (compiled with that file prepended; see its header
// for the counter layout). One thread per value i < n (philox_raw: per Philox block t < n):
// fill_uniform: buf1[i] = rng_uniform_at(seed, stream, counter, i)
// fill_normal:  buf1[i] = mean + stddev * rng_normal_at(seed, stream, counter, i)
//               (the same functions samplers call inline, so both give the same numbers)
// philox_raw:   buf1[4t .. 4t + 3] = philox4x32((block0 + t, stream, counter), seed)
//               (known-answer tests of the raw generator)
// mul_hi_lo:    (buf3[i], buf4[i]) = (hi, lo) of the 64-bit product buf1[i] * buf2[i]
//               (tests of the 16-bit-halves product)
// (Not `uniform`/`normal`: `uniform` is an address space name and naga rejects it as a function.)
// Buffers are u32 words, so one declaration per binding serves every entry point; the f32
// outputs are stored with bitcast.
// Dispatch with grid_1d(n, 256): the flat index is gid.x + gid.y * num_workgroups.x * 256.

const WG: u32 = 256u;

struct Params {
    n: u32,
    stream: u32,        // counter word 1
    counter: vec2<u32>, // counter words 2, 3: (lo, hi) of the caller's u64 counter
    seed: vec2<u32>,    // Philox key: (lo, hi) of the u64 seed
    mean: f32,          // normal only
    stddev: f32,        // normal only
    block0: u32,        // philox_raw only: counter word 0 of thread 0
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> buf1: array<u32>;
@group(0) @binding(2) var<storage, read_write> buf2: array<u32>;
@group(0) @binding(3) var<storage, read_write> buf3: array<u32>;
@group(0) @binding(4) var<storage, read_write> buf4: array<u32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn fill_uniform(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) {
        buf1[i] = bitcast<u32>(rng_uniform_at(p.seed, p.stream, p.counter, i));
    }
}

@compute @workgroup_size(WG)
fn fill_normal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) {
        let z = rng_normal_at(p.seed, p.stream, p.counter, i);
        buf1[i] = bitcast<u32>(fma(p.stddev, z, p.mean));
    }
}

@compute @workgroup_size(WG)
fn philox_raw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t < p.n) {
        let x = philox4x32(vec4<u32>(p.block0 + t, p.stream, p.counter.x, p.counter.y), p.seed);
        buf1[4u * t] = x.x;
        buf1[4u * t + 1u] = x.y;
        buf1[4u * t + 2u] = x.z;
        buf1[4u * t + 3u] = x.w;
    }
}

@compute @workgroup_size(WG)
fn mul_hi_lo(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i < p.n) {
        let hl = philox_mul_hi_lo(buf1[i], buf2[i]);
        buf3[i] = hl.x;
        buf4[i] = hl.y;
    }
}
