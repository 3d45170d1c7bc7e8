//! 2-D convolution with PyTorch's layouts and its two backward passes (`conv2d.wgsl`).
//!
//! Tensors, row-major f32: x `[batch, c_in, h_in, w_in]`, weight `[c_out, c_in, kh, kw]`,
//! bias `[c_out]`, y `[batch, c_out, h_out, w_out]`. Any kernel size, stride and (symmetric,
//! zero) padding. As for every layer, the input gradient is *written* and the parameter
//! gradients are *added* (the trainer sums several backward passes); the input and weight
//! gradients are separate calls because the Langevin samplers need only the first.
//!
//! # Design, and what it was measured against
//!
//! Direct convolution, one kernel per pass, no im2col buffer and no workgroup memory. Each
//! invocation keeps 16 channels × 4 pixels of sums in four `mat4x4` registers. For the
//! forward pass and the input gradient the 16 weights of a tap come as one `mat4x4` from a
//! *uniform* buffer: the weights are first packed `[16-channel block][tap][channel][16]`
//! into a scratch buffer, then copied 64 KiB at a time into a uniform buffer, one dispatch
//! per slice (later slices add to the output, in order). Taps are the outer loop and
//! channels the inner one, so each tap's bounds checks are paid once for all channels. The
//! input gradient splits the input pixels into stride² phase classes, so a stride-2 kernel
//! visits only the taps that reach each pixel. The weight gradient reads dy from storage
//! (it runs once per training step, not once per Langevin step) and sums rows (b, oy) in
//! chunks whose partial sums are added in a fixed order. Nothing uses atomics: results are
//! bit-identical across runs.
//!
//! Later additions (2026-12-03), each measured with `bench train` A B pairs on `fmnist`:
//! what a pipeline does on its way to memory (add to the earlier slice, start from the
//! bias, the activation after the layer, the derivative of the one before it, read from
//! that activation's output: `epilogue.wgsl`) is fixed by override constants, since lavapipe
//! runs uniform branches as masked code on every path (docs/platform.md); with the
//! activations in the convolutions' stores (as the linear layers have them) an iteration
//! has 2,652 dispatches instead of 2,900 (0.965 of the time). The weight gradient keeps 16
//! positions per invocation where a layer has more than 128 (0.936). Layers with at most 4
//! channels on the block side (an image's first layer's input gradient, its last layer's
//! forward) run `_thin` kernels, 4 channels × 16 pixels per invocation, reading column 0 of
//! the same packed blocks (0.93).
//!
//! Why: on lavapipe (llvmpipe, LLVM 15.0.6, 256-bit, Mesa 22.3.6) each load instruction
//! costs ~30–40 cycles per 8-lane SIMD op, whatever it reads — storage (gathered lane by
//! lane even at a workgroup-uniform address), workgroup memory, or a uniform buffer — while
//! an FMA costs ~1.5 (~3 once the 64 sums spill out of the 16 AVX2 registers). A uniform
//! `mat4x4` load brings 16 weights for the price of about one load, so the block is shaped
//! to minimise loads per multiply-add. Forward pass of conv4×4 s2 32→64 on 28×28, batch 64
//! (0.82 GFLOP), CPU time of the lavapipe threads per call (the machine was shared with
//! other jobs, so wall time was noisy; CPU time was stable to ~5%):
//!
//! | variant (channels × pixels per invocation)                               | CPU ms | GFLOP/CPU-s |
//! |---------------------------------------------------------------------------|-------:|------------:|
//! | first version: storage weights, 8 × 2, sums in arrays indexed in loops     | ~1200 | 0.7 |
//! | storage weights, 8 × 1 unrolled into vec4s (arrays in loops were 2× slower) | 680 | 1.2 |
//! | … the same with the weight loads left out (bound for storage weights)       | 158 | 5.2 |
//! | … weights as vec4 from storage, transposed                                  | 475 | 1.7 |
//! | … weights in workgroup memory, scalar / vec4                                | 597 / 322 | 1.4 / 2.6 |
//! | workgroup-memory vec4 weights with barriers per chunk, 8×4 / 16×4 / 32×4    | 333 / 250 / 237 | 2.5 / 3.3 / 3.5 |
//! | uniform-buffer vec4 weights, 8×1 / 8×4 / 16×2 / 16×4                        | 278 / 167 / 168 / 113 | 3.0 / 4.9 / 4.9 / 7.3 |
//! | uniform, 32×2 / 32×4 / 16×8 (more spills)                                   | 147 / 153 / 158 | 5.6 / 5.4 / 5.2 |
//! | uniform 16×4, loads of x left out (so they are not the limit)               | 118 | 7.0 |
//! | uniform 16×4, kx loop unrolled (kw fixed at 4)                              | 170 | 4.8 |
//! | uniform 16×4, `mat4x4` sums (same speed, clearer)                           | 107 | 7.7 |
//! | **kept**: the same with taps outer and channels inner                      | 90 | 9.1 |
//! | … 16 × 3 pixels                                                             | 103 | 8.0 |
//! | … pixels in row quads sharing a sliding window of x (10 loads for 16 uses)  | 83–143 | 5.7–9.9 |
//! | kept kernel with `LP_NATIVE_VECTOR_WIDTH=512`                               | 90 | 9.1 |
//!
//! The sliding window was not kept: no clear gain, and it needs a pipeline per kernel width
//! and stride. The input gradient went from 190 to 107 CPU ms on the same layer with the
//! same changes (uniform weights, taps outer). im2col + [`crate::ops::matmul`] was not
//! built: the im2col buffer alone is K·N floats (472M at the paper's CIFAR-10 shapes), and
//! a GEMM whose operands both come from storage pays a load per element on both sides
//! (a 4×4 register block: 8 loads per 16 multiply-adds, against 5 per 64 here). The fast
//! matmul was still being written, so that comparison is an estimate, not a measurement.
//! `dualmcmc --no-gui bench layers` prints the figures at the networks' shapes.

use super::activation::{Activation, EPILOGUE_SOURCE, epilogue_code};
use crate::gpu::{Access, BufRef, Gpu, GpuBuffer, Kernel, Kernels, flag, grid_1d};
use std::sync::{Arc, Mutex};

pub const SOURCE: &str = include_str!("conv2d.wgsl");
/// Where forward and backward_input read weights on CPU adapters: 64 KiB uniform slices.
pub const SOURCE_UNIFORM_WEIGHTS: &str = include_str!("conv2d_weights_uniform.wgsl");
/// … and on GPUs: the packed tensor in storage.
pub const SOURCE_STORAGE_WEIGHTS: &str = include_str!("conv2d_weights_storage.wgsl");

/// The WGSL handed to the GPU: a weights reader, `epilogue.wgsl`, then the kernels.
pub fn composed_source(storage_weights: bool) -> String {
    let (name, weights) = if storage_weights {
        ("conv2d_weights_storage.wgsl", SOURCE_STORAGE_WEIGHTS)
    } else {
        ("conv2d_weights_uniform.wgsl", SOURCE_UNIFORM_WEIGHTS)
    };
    format!(
        "// file: {name}\n{weights}\n// file: epilogue.wgsl\n{EPILOGUE_SOURCE}\n// file: conv2d.wgsl\n{SOURCE}"
    )
}

/// Invocations per workgroup; must match `WG` in the WGSL.
const WG: u32 = 64;
/// Output (or input-gradient) channels per invocation and per packed weight block.
const BLOCK: usize = 16;
/// Pixels per invocation.
const PIXELS: usize = 4;
/// Channels up to which the `_thin` kernels run (4 channels × [`THIN_PIXELS`] pixels per
/// invocation): a 16-channel block would compute 12 or more channels for nothing.
const THIN: usize = 4;
const THIN_PIXELS: usize = 16;
/// `mat4x4`s (16 weights each) per uniform slice: 64 KiB, lavapipe's uniform binding limit.
const UBO_MATS: usize = 1024;
/// Output pixels one weight-gradient invocation loops over at most (see `chunking`).
const MAX_CHUNK_PIXELS: usize = 16_384;

/// The weight gradient is split into row chunks until about this many workgroups run.
const WEIGHT_GRAD_GROUPS: usize = 256;

/// Sizes of one convolution. Output size follows PyTorch:
/// `h_out = (h_in + 2·pad − kh) / stride + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    pub batch: usize,
    pub c_in: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Conv2dShape {
    /// Output height; panics if the kernel does not fit the padded input.
    pub fn h_out(&self) -> usize {
        assert!(self.h_in + 2 * self.pad >= self.kh && self.stride > 0, "{self:?}");
        (self.h_in + 2 * self.pad - self.kh) / self.stride + 1
    }
    /// Output width; panics if the kernel does not fit the padded input.
    pub fn w_out(&self) -> usize {
        assert!(self.w_in + 2 * self.pad >= self.kw && self.stride > 0, "{self:?}");
        (self.w_in + 2 * self.pad - self.kw) / self.stride + 1
    }
    /// Elements of x.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in
    }
    /// Elements of the weight.
    pub fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.kh * self.kw
    }
    /// Elements of y.
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out()
    }
    /// Floating-point operations of the forward pass (2 per multiply-add, bias not counted).
    /// The input gradient and the weight gradient cost the same each.
    pub fn forward_flops(&self) -> f64 {
        2.0 * (self.batch * self.c_out * self.h_out() * self.w_out()) as f64
            * (self.c_in * self.kh * self.kw) as f64
    }
    /// Forward + input gradient + weight gradient.
    pub fn training_flops(&self) -> f64 {
        3.0 * self.forward_flops()
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    c_in: u32,
    h_in: u32,
    w_in: u32,
    c_out: u32,
    h_out: u32,
    w_out: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad: u32,
    act_slope: f32,
    x_off: u32,
    w_off: u32,
    b_off: u32,
    y_off: u32,
    chunk_rows: u32,
    chunks: u32,
    gate_slope: f32,
    phase: u32,
    blk0: u32,
    tap_lo: u32,
    tap_hi: u32,
    red_lo: u32,
    red_hi: u32,
    gate_off: u32,
    _pad: [u32; 2],
}

impl Params {
    fn new(s: &Conv2dShape) -> Self {
        let u = |v: usize| v as u32;
        Self {
            batch: u(s.batch),
            c_in: u(s.c_in),
            h_in: u(s.h_in),
            w_in: u(s.w_in),
            c_out: u(s.c_out),
            h_out: u(s.h_out()),
            w_out: u(s.w_out()),
            kh: u(s.kh),
            kw: u(s.kw),
            stride: u(s.stride),
            pad: u(s.pad),
            chunks: 1,
            ..Self::default()
        }
    }

    fn set_slice(&mut self, sl: &Slice) {
        self.blk0 = sl.blk0 as u32;
        self.tap_lo = sl.tap_lo as u32;
        self.tap_hi = sl.tap_hi as u32;
        self.red_lo = sl.red_lo as u32;
        self.red_hi = sl.red_hi as u32;
    }
}

/// One dispatch's share of a packed weight tensor laid out `[block][tap][red]` mat4x4s:
/// blocks `[blk0, blk0 + blocks)`, taps `[tap_lo, tap_hi)`, reduction channels
/// `[red_lo, red_hi)`, a contiguous range of the packed tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slice {
    blk0: usize,
    blocks: usize,
    tap_lo: usize,
    tap_hi: usize,
    red_lo: usize,
    red_hi: usize,
}

impl Slice {
    /// Index of the slice's first mat4x4 in the packed tensor.
    fn first(&self, taps: usize, red: usize) -> usize {
        (self.blk0 * taps + self.tap_lo) * red + self.red_lo
    }
    fn mats(&self) -> usize {
        self.blocks * (self.tap_hi - self.tap_lo) * (self.red_hi - self.red_lo)
    }
    /// Not the first slice of its block: add to what the earlier ones wrote.
    fn accumulates(&self) -> bool {
        self.tap_lo > 0 || self.red_lo > 0
    }
    /// The last slice of its blocks, out of `taps` × `red` per block: the sums are then
    /// complete, and the epilogue's activation may be applied.
    fn is_last(&self, taps: usize, red: usize) -> bool {
        self.tap_hi == taps && self.red_hi == red
    }
}

/// Cuts `[blocks][taps][red]` into uniform-buffer slices of at most [`UBO_MATS`]: several
/// whole blocks when a block fits, else runs of whole taps of one block, else (more than
/// UBO_MATS reduction channels) runs of channels of one tap.
fn slices(blocks: usize, taps: usize, red: usize) -> Vec<Slice> {
    let whole = |blk0, blocks| Slice { blk0, blocks, tap_lo: 0, tap_hi: taps, red_lo: 0, red_hi: red };
    let mut out = Vec::new();
    if taps * red <= UBO_MATS {
        let step = UBO_MATS / (taps * red);
        for blk0 in (0..blocks).step_by(step) {
            out.push(whole(blk0, step.min(blocks - blk0)));
        }
    } else if red <= UBO_MATS {
        let step = UBO_MATS / red;
        for blk0 in 0..blocks {
            for tap_lo in (0..taps).step_by(step) {
                let tap_hi = (tap_lo + step).min(taps);
                out.push(Slice { tap_lo, tap_hi, ..whole(blk0, 1) });
            }
        }
    } else {
        for blk0 in 0..blocks {
            for tap_lo in 0..taps {
                for red_lo in (0..red).step_by(UBO_MATS) {
                    let red_hi = (red_lo + UBO_MATS).min(red);
                    out.push(Slice { tap_lo, tap_hi: tap_lo + 1, red_lo, red_hi, ..whole(blk0, 1) });
                }
            }
        }
    }
    out
}

/// The convolution kernels, compiled once, and their scratch buffers.
pub struct Conv2d {
    gpu: Gpu,
    /// The composed WGSL, for the forward and input-gradient pipelines made on first use.
    source: String,
    /// Those pipelines, by what they are specialised for.
    stores: Kernels<StoreVariant>,
    pack_forward: Kernel,
    pack_input: Kernel,
    /// The tiles of [`weight_grad_tile`]: 8 invocations × 4 positions, 16 × 16.
    backward_weight: [Kernel; 2],
    reduce_chunks: Kernel,
    bias_grad: Kernel,
    /// Weights from storage in one dispatch per pass (GPUs), not from uniform slices.
    storage_weights: bool,
    scratch: Mutex<Scratch>,
}

/// What a forward or input-gradient pipeline is specialised for (override constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct StoreVariant {
    /// `forward` or `backward_input`.
    input_gradient: bool,
    /// The `_thin` entry point: at most [`THIN`] channels in the block (4 × 16 pixels per
    /// invocation instead of 16 × 4).
    thin: bool,
    /// Adds to the output (a later slice) instead of writing it.
    accumulate: bool,
    /// Starts from the bias (forward, first slice).
    has_bias: bool,
    /// epilogue.wgsl's code of the activation after the layer (forward, last slice).
    act: u32,
    /// … of the activation before it, whose derivative gates dx (input gradient, last slice).
    gate_act: u32,
}

impl StoreVariant {
    fn input_gradient(thin: bool, accumulate: bool, gate_act: u32) -> Self {
        Self { input_gradient: true, thin, accumulate, has_bias: false, act: 0, gate_act }
    }
}

/// Buffers reused by every call. Passes within a submission run in order (wgpu inserts the
/// barriers), so one set serves all calls recorded into any number of encoders.
struct Scratch {
    /// Packed weights (forward or input-gradient layout); grown on demand.
    packed: Option<GpuBuffer>,
    /// The 64 KiB uniform slice the forward and input-gradient kernels read weights from.
    uniform: GpuBuffer,
    /// Partial weight gradients of the row chunks; grown on demand.
    partial: Option<GpuBuffer>,
}

impl Conv2d {
    /// The kernels for this adapter: weights from uniform slices on CPU adapters, from
    /// storage on GPUs.
    pub fn new(gpu: &Gpu) -> Self {
        Self::with_storage_weights(gpu, !gpu.is_cpu())
    }

    /// The kernels with the weights read as `storage_weights` says (tests run both).
    pub fn with_storage_weights(gpu: &Gpu, storage_weights: bool) -> Self {
        use Access::{Read, ReadWrite};
        let source = composed_source(storage_weights);
        let k = |entry, bufs: &[Access]| Kernel::new(gpu, &source, entry, bufs, &[]);
        Self {
            gpu: gpu.clone(),
            stores: Kernels::default(),
            pack_forward: k("pack_forward", &[Read, ReadWrite]),
            pack_input: k("pack_input", &[Read, ReadWrite]),
            backward_weight: [WEIGHT_GRAD_SMALL, WEIGHT_GRAD_LARGE].map(|(wg, pos)| {
                let bufs = [Read, Read, ReadWrite];
                let constants = [("WG_DW", wg as f64), ("POS", pos as f64)];
                Kernel::new(gpu, &source, "backward_weight", &bufs, &constants)
            }),
            reduce_chunks: k("reduce_chunks", &[Read, ReadWrite]),
            bias_grad: k("bias_grad", &[Read, ReadWrite]),
            source,
            storage_weights,
            scratch: Mutex::new(Scratch {
                packed: None,
                uniform: gpu.uniform_zeros(UBO_MATS * 16),
                partial: None,
            }),
        }
    }

    /// The forward or input-gradient pipeline for `v`, made on first use.
    fn store_kernel(&self, v: StoreVariant) -> Arc<Kernel> {
        self.stores.get(v, || {
            let weights = if self.storage_weights { Access::Read } else { Access::Uniform };
            let entry = match (v.input_gradient, v.thin) {
                (true, false) => "backward_input",
                (true, true) => "backward_input_thin",
                (false, false) => "forward",
                (false, true) => "forward_thin",
            };
            // backward_input: weights, dy, dx, gate; forward: weights, x, bias, y.
            let bufs = if v.input_gradient {
                [weights, Access::Read, Access::ReadWrite, Access::Read]
            } else {
                [weights, Access::Read, Access::Read, Access::ReadWrite]
            };
            let constants = [
                ("ACCUMULATE", flag(v.accumulate)),
                ("HAS_BIAS", flag(v.has_bias)),
                ("ACT", f64::from(v.act)),
                ("GATE_ACT", f64::from(v.gate_act)),
            ];
            Kernel::new(&self.gpu, &self.source, entry, &bufs, &constants)
        })
    }

    /// The dispatches of a pass over packed weights `[blocks][taps][red]`, each with the
    /// buffer its kernel reads weights from: one over the packed tensor itself (storage
    /// weights), or one per uniform slice, the slice copied in first.
    fn weight_dispatches<'a>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        scratch: &'a Scratch,
        packed: &'a GpuBuffer,
        (blocks, taps, red): (usize, usize, usize),
        mut dispatch: impl FnMut(&mut wgpu::CommandEncoder, &Slice, &'a GpuBuffer),
    ) {
        if self.storage_weights {
            let all = Slice { blk0: 0, blocks, tap_lo: 0, tap_hi: taps, red_lo: 0, red_hi: red };
            dispatch(enc, &all, packed);
            return;
        }
        for sl in slices(blocks, taps, red) {
            copy_mats(enc, packed, sl.first(taps, red), &scratch.uniform, sl.mats());
            dispatch(enc, &sl, &scratch.uniform);
        }
    }

    /// Records y = conv(x, w) + bias. y must not share a buffer with x, w or bias.
    pub fn forward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &Conv2dShape,
        x: BufRef,
        w: BufRef,
        bias: Option<BufRef>,
        y: BufRef,
    ) {
        self.forward_activated(enc, s, x, w, bias, y, None);
    }

    /// Records y = act(conv(x, w) + bias): the activation after the layer applied as its
    /// last slice stores (one pass fewer than a separate activation).
    #[allow(clippy::too_many_arguments)] // forward's arguments and the activation
    pub fn forward_activated(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &Conv2dShape,
        x: BufRef,
        w: BufRef,
        bias: Option<BufRef>,
        y: BufRef,
        act: Option<Activation>,
    ) {
        self.check(s);
        fits("x", x, s.x_len());
        fits("weight", w, s.w_len());
        fits("y", y, s.y_len());
        if let Some(b) = bias {
            fits("bias", b, s.c_out);
        }
        let mut p = Params::new(s);
        p.x_off = x.offset as u32;
        p.w_off = w.offset as u32;
        p.y_off = y.offset as u32;
        // Without a bias the binding still needs a buffer; the shader does not read it.
        let b = bias.unwrap_or(x);
        p.b_off = b.offset as u32;
        let (act_code, act_slope) = epilogue_code(act);
        p.act_slope = act_slope;

        let taps = s.kh * s.kw;
        let blocks = s.c_out.div_ceil(BLOCK);
        let mut scratch = self.scratch.lock().unwrap();
        let packed = scratch.packed(&self.gpu, blocks * s.c_in * taps * BLOCK);
        let grid = grid_1d(blocks * s.c_in * taps * BLOCK, WG);
        self.pack_forward.encode(&self.gpu, enc, &p, &[w.buf, &packed], grid);
        let thin = s.c_out <= THIN;
        let pixel_groups = groups_of(s.batch * s.h_out() * s.w_out(), thin);
        self.weight_dispatches(enc, &scratch, &packed, (blocks, taps, s.c_in), |enc, sl, weights| {
            p.set_slice(sl);
            let groups = [pixel_groups, sl.blocks as u32, 1];
            let kernel = self.store_kernel(StoreVariant {
                input_gradient: false,
                thin,
                accumulate: sl.accumulates(),
                has_bias: bias.is_some() && !sl.accumulates(),
                act: if sl.is_last(taps, s.c_in) { act_code } else { 0 },
                gate_act: 0,
            });
            kernel.encode(&self.gpu, enc, &p, &[weights, x.buf, b.buf, y.buf], groups);
        });
    }

    /// Records dx = ∂L/∂x from dy = ∂L/∂y (dx is written, not added). dx must not share a
    /// buffer with dy.
    pub fn backward_input(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &Conv2dShape,
        dy: BufRef,
        w: BufRef,
        dx: BufRef,
    ) {
        self.backward_input_gated(enc, s, dy, w, dx, None);
    }

    /// Records dx = ∂L/∂x ⊙ act′, with act′ read from `gate`: the output of the activation
    /// `act` in front of the layer (laid out as dx), whose backward this then is, applied
    /// as the last slice stores. Panics for an activation whose derivative is not a
    /// function of its output (LeakyReLU of negative slope).
    pub fn backward_input_gated(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &Conv2dShape,
        dy: BufRef,
        w: BufRef,
        dx: BufRef,
        gate: Option<(Activation, BufRef)>,
    ) {
        self.check(s);
        fits("dy", dy, s.y_len());
        fits("weight", w, s.w_len());
        fits("dx", dx, s.x_len());
        let mut p = Params::new(s);
        p.y_off = dy.offset as u32;
        p.w_off = w.offset as u32;
        p.x_off = dx.offset as u32;
        if let Some((act, g)) = gate {
            fits("gate", g, s.x_len());
            assert!(act.backward_from_output(), "conv2d: {act:?} cannot gate from its output");
        }
        let (gate_code, gate_slope) = epilogue_code(gate.map(|(act, _)| act));
        p.gate_slope = gate_slope;
        // Without a gate the binding still needs a buffer; the shader does not read it.
        let gate_buf = gate.map_or(dy, |(_, g)| g);
        p.gate_off = gate_buf.offset as u32;

        let st = s.stride;
        let blocks = s.c_in.div_ceil(BLOCK);
        let thin = s.c_in <= THIN;
        let mut scratch = self.scratch.lock().unwrap();
        for phase in 0..st * st {
            let (py, px) = (phase / st, phase % st);
            // Pixels of the class: iy ≡ py (mod s); taps of the class: ky ≡ py + pad (mod s).
            let pixels =
                s.batch * s.h_in.saturating_sub(py).div_ceil(st) * s.w_in.saturating_sub(px).div_ceil(st);
            let taps = phase_taps(s, phase);
            p.phase = phase as u32;
            if pixels == 0 {
                continue;
            }
            if taps == 0 {
                // No tap reaches this class (a 1×1 kernel with stride 2, say): its dx is 0.
                let none = Slice { blk0: 0, blocks, tap_lo: 0, tap_hi: 0, red_lo: 0, red_hi: 0 };
                p.set_slice(&none);
                // The weights binding is never read; storage weights need a storage buffer.
                let unread = if self.storage_weights {
                    scratch.packed(&self.gpu, BLOCK)
                } else {
                    scratch.uniform.clone()
                };
                let groups = [groups_of(pixels, thin), blocks as u32, 1];
                // dx = 0 here, and so is 0 · act′: no gate needed.
                let kernel = self.store_kernel(StoreVariant::input_gradient(thin, false, 0));
                kernel.encode(&self.gpu, enc, &p, &[&unread, dy.buf, dx.buf, gate_buf.buf], groups);
                continue;
            }
            let len = blocks * s.c_out * taps * BLOCK;
            let packed = scratch.packed(&self.gpu, len);
            self.pack_input.encode(&self.gpu, enc, &p, &[w.buf, &packed], grid_1d(len, WG));
            self.weight_dispatches(enc, &scratch, &packed, (blocks, taps, s.c_out), |enc, sl, weights| {
                p.set_slice(sl);
                let groups = [groups_of(pixels, thin), sl.blocks as u32, 1];
                let gate_act = if sl.is_last(taps, s.c_out) { gate_code } else { 0 };
                let kernel =
                    self.store_kernel(StoreVariant::input_gradient(thin, sl.accumulates(), gate_act));
                kernel.encode(&self.gpu, enc, &p, &[weights, dy.buf, dx.buf, gate_buf.buf], groups);
            });
        }
    }

    /// Records dw += ∂L/∂w and, if given, db += ∂L/∂bias, from x and dy = ∂L/∂y. dw and db
    /// must not share a buffer with x or dy (they may share one with each other).
    pub fn backward_weight(
        &self,
        enc: &mut wgpu::CommandEncoder,
        s: &Conv2dShape,
        x: BufRef,
        dy: BufRef,
        dw: BufRef,
        db: Option<BufRef>,
    ) {
        self.check(s);
        fits("x", x, s.x_len());
        fits("dy", dy, s.y_len());
        fits("dw", dw, s.w_len());
        let mut p = Params::new(s);
        p.x_off = x.offset as u32;
        p.y_off = dy.offset as u32;
        p.w_off = dw.offset as u32;

        let k_len = s.c_in * s.kh * s.kw;
        let (wg, pos) = weight_grad_tile(s);
        let kernel = &self.backward_weight[usize::from((wg, pos) == WEIGHT_GRAD_LARGE)];
        let (chunk_rows, chunks) = self.chunking(s);
        p.chunk_rows = chunk_rows as u32;
        p.chunks = chunks as u32;
        let groups = [k_len.div_ceil(wg * pos) as u32, s.c_out.div_ceil(BLOCK) as u32, chunks as u32];
        if chunks == 1 {
            kernel.encode(&self.gpu, enc, &p, &[x.buf, dy.buf, dw.buf], groups);
        } else {
            let mut scratch = self.scratch.lock().unwrap();
            let need = chunks * s.w_len();
            if scratch.partial.as_ref().is_none_or(|b| b.len < need) {
                scratch.partial = Some(self.gpu.zeros(need));
            }
            let partial = scratch.partial.as_ref().unwrap();
            kernel.encode(&self.gpu, enc, &p, &[x.buf, dy.buf, partial], groups);
            let grid = grid_1d(s.w_len(), WG);
            self.reduce_chunks.encode(&self.gpu, enc, &p, &[partial, dw.buf], grid);
        }

        if let Some(db) = db {
            fits("db", db, s.c_out);
            p.b_off = db.offset as u32;
            self.bias_grad.encode(&self.gpu, enc, &p, &[dy.buf, db.buf], [s.c_out as u32, 1, 1]);
        }
    }

    /// Uniform-buffer slices (dispatches of the main kernel) of the forward pass and of the
    /// input gradient (summed over the stride phase classes). More than one means the
    /// weights did not fit 64 KiB and later slices add to the output.
    pub fn weight_slices(s: &Conv2dShape) -> [usize; 2] {
        let forward = slices(s.c_out.div_ceil(BLOCK), s.kh * s.kw, s.c_in).len();
        let input = (0..s.stride * s.stride)
            .map(|phase| {
                let taps = phase_taps(s, phase);
                if taps == 0 { 1 } else { slices(s.c_in.div_ceil(BLOCK), taps, s.c_out).len() }
            })
            .sum();
        [forward, input]
    }

    /// Row chunks the weight gradient of `s` is split into (1: no partial sums). Enough
    /// chunks that about 256 workgroups run, as long as the partial sums
    /// fit one storage binding.
    pub fn weight_grad_chunks(&self, s: &Conv2dShape) -> usize {
        self.chunking(s).1
    }

    /// (rows per chunk, chunks) for the weight gradient; rows are (b, oy) pairs.
    fn chunking(&self, s: &Conv2dShape) -> (usize, usize) {
        let (wg, pos) = weight_grad_tile(s);
        let base_groups = (s.c_in * s.kh * s.kw).div_ceil(wg * pos) * s.c_out.div_ceil(BLOCK);
        let rows = s.batch * s.h_out();
        let by_memory = (self.max_binding() / s.w_len()).max(1);
        // llvmpipe stops an invocation's loops after 65,535 iterations in all
        // (docs/platform.md): at most MAX_CHUNK_PIXELS output pixels per chunk.
        let by_loops = rows.div_ceil((MAX_CHUNK_PIXELS / s.w_out()).max(1));
        let wanted = WEIGHT_GRAD_GROUPS.div_ceil(base_groups).max(by_loops).min(by_memory).min(rows);
        let chunk_rows = rows.div_ceil(wanted.max(1));
        (chunk_rows, rows.div_ceil(chunk_rows))
    }

    /// Elements one storage binding may hold.
    fn max_binding(&self) -> usize {
        self.gpu.limits.max_storage_buffer_binding_size as usize / 4
    }

    fn check(&self, s: &Conv2dShape) {
        assert!(
            s.batch > 0 && s.c_in > 0 && s.c_out > 0 && s.kh > 0 && s.kw > 0 && s.stride > 0,
            "conv2d: empty shape {s:?}"
        );
        let (_, _) = (s.h_out(), s.w_out());
        let largest = s.x_len().max(s.y_len()).max(s.w_len().next_multiple_of(BLOCK));
        assert!(
            largest <= self.max_binding(),
            "conv2d: a tensor of {largest} elements exceeds one storage binding \
             ({} elements); split the batch",
            self.max_binding()
        );
    }
}

impl Scratch {
    /// The packed-weights buffer, grown to at least `len` elements.
    fn packed(&mut self, gpu: &Gpu, len: usize) -> GpuBuffer {
        if self.packed.as_ref().is_none_or(|b| b.len < len) {
            self.packed = Some(gpu.zeros(len));
        }
        self.packed.clone().unwrap()
    }
}

/// (invocations per workgroup, weight positions per invocation) of the weight gradient.
const WEIGHT_GRAD_SMALL: (usize, usize) = (8, 4);
const WEIGHT_GRAD_LARGE: (usize, usize) = (16, 16);

/// The weight gradient's tile: 8 × 4 positions per workgroup when there are at most 128
/// weight positions per output channel (conv3×3 on one input channel has 9, and larger
/// workgroups would run idle SIMD vectors), else 16 × 16 (fewer loads per multiply-add:
/// dy's 16 values per pixel serve 16 positions instead of 4).
fn weight_grad_tile(s: &Conv2dShape) -> (usize, usize) {
    if s.c_in * s.kh * s.kw <= 128 { WEIGHT_GRAD_SMALL } else { WEIGHT_GRAD_LARGE }
}

/// Taps (ky, kx) that reach the input pixels of stride phase class `phase` = py·s + px:
/// those with ky ≡ py + pad and kx ≡ px + pad (mod s).
fn phase_taps(s: &Conv2dShape, phase: usize) -> usize {
    let st = s.stride;
    let (ky0, kx0) = ((phase / st + s.pad) % st, (phase % st + s.pad) % st);
    s.kh.saturating_sub(ky0).div_ceil(st) * s.kw.saturating_sub(kx0).div_ceil(st)
}

/// Copies `mats` mat4x4s starting at mat `first` of `packed` to the start of `uniform`.
fn copy_mats(
    enc: &mut wgpu::CommandEncoder,
    packed: &GpuBuffer,
    first: usize,
    uniform: &GpuBuffer,
    mats: usize,
) {
    debug_assert!(mats <= UBO_MATS && (first + mats) * 16 <= packed.len);
    enc.copy_buffer_to_buffer(
        &packed.buffer,
        (first * 64) as u64,
        &uniform.buffer,
        0,
        Some((mats * 64) as u64),
    );
}

/// Workgroups along x for `n` pixels at [`PIXELS`] per invocation ([`THIN_PIXELS`] for the
/// thin kernels).
fn groups_of(n: usize, thin: bool) -> u32 {
    let groups = n.div_ceil(WG as usize * if thin { THIN_PIXELS } else { PIXELS });
    assert!(
        groups <= 65_535,
        "conv2d: {n} pixels need {groups} workgroups along x (max 65,535); split the batch"
    );
    groups as u32
}

fn fits(what: &str, r: BufRef, len: usize) {
    assert!(
        r.offset + len <= r.buf.len,
        "conv2d: {what} needs {len} elements at offset {}, buffer has {}",
        r.offset,
        r.buf.len
    );
}

/// CPU references in f64, plain loops over PyTorch's definition.
pub mod cpu {
    use super::Conv2dShape;

    /// y `[batch, c_out, h_out, w_out]` = conv(x, w) + bias.
    pub fn forward(s: &Conv2dShape, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f64> {
        let wide = |v: &[f32]| v.iter().map(|&e| f64::from(e)).collect::<Vec<f64>>();
        forward_f64(s, &wide(x), &wide(w), bias.map(wide).as_deref())
    }

    /// The forward pass in f64 throughout (the finite-difference checks perturb x and w).
    pub fn forward_f64(s: &Conv2dShape, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
        let (ho, wo) = (s.h_out(), s.w_out());
        let mut y = vec![0.0; s.y_len()];
        for b in 0..s.batch {
            for co in 0..s.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = bias.map_or(0.0, |bv| bv[co]);
                        for ci in 0..s.c_in {
                            for ky in 0..s.kh {
                                for kx in 0..s.kw {
                                    if let Some(xi) = x_index(s, b, ci, oy, ox, ky, kx) {
                                        let wi = ((co * s.c_in + ci) * s.kh + ky) * s.kw + kx;
                                        acc += w[wi] * x[xi];
                                    }
                                }
                            }
                        }
                        y[((b * s.c_out + co) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        y
    }

    /// dx `[batch, c_in, h_in, w_in]` = ∂L/∂x for dy = ∂L/∂y.
    pub fn backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32]) -> Vec<f64> {
        let (ho, wo) = (s.h_out(), s.w_out());
        let mut dx = vec![0.0; s.x_len()];
        for b in 0..s.batch {
            for co in 0..s.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let g = f64::from(dy[((b * s.c_out + co) * ho + oy) * wo + ox]);
                        for ci in 0..s.c_in {
                            for ky in 0..s.kh {
                                for kx in 0..s.kw {
                                    if let Some(xi) = x_index(s, b, ci, oy, ox, ky, kx) {
                                        let wi = ((co * s.c_in + ci) * s.kh + ky) * s.kw + kx;
                                        dx[xi] += f64::from(w[wi]) * g;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        dx
    }

    /// (dw `[c_out, c_in, kh, kw]`, db `[c_out]`) = (∂L/∂w, ∂L/∂bias) for dy = ∂L/∂y.
    pub fn backward_weight(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (ho, wo) = (s.h_out(), s.w_out());
        let mut dw = vec![0.0; s.w_len()];
        let mut db = vec![0.0; s.c_out];
        for b in 0..s.batch {
            for co in 0..s.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let g = f64::from(dy[((b * s.c_out + co) * ho + oy) * wo + ox]);
                        db[co] += g;
                        for ci in 0..s.c_in {
                            for ky in 0..s.kh {
                                for kx in 0..s.kw {
                                    if let Some(xi) = x_index(s, b, ci, oy, ox, ky, kx) {
                                        let wi = ((co * s.c_in + ci) * s.kh + ky) * s.kw + kx;
                                        dw[wi] += f64::from(x[xi]) * g;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (dw, db)
    }

    /// Index of x[b, ci, oy·s − p + ky, ox·s − p + kx], or None in the zero padding.
    fn x_index(
        s: &Conv2dShape,
        b: usize,
        ci: usize,
        oy: usize,
        ox: usize,
        ky: usize,
        kx: usize,
    ) -> Option<usize> {
        let iy = (oy * s.stride + ky).checked_sub(s.pad)?;
        let ix = (ox * s.stride + kx).checked_sub(s.pad)?;
        (iy < s.h_in && ix < s.w_in).then(|| ((b * s.c_in + ci) * s.h_in + iy) * s.w_in + ix)
    }
}
