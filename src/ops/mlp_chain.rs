//! A whole Langevin chain under a multi-layer perceptron in one dispatch
//! (`mlp_chain.wgsl`), after the dispatches that pack the weights into uniform buffers
//! (`mlp_chain_pack.wgsl`: one for the input and output layers and the biases, one per
//! hidden weight matrix) and before one for the chain's trace. Metropolis-adjusted chains with
//! population jumps add a dispatch per later step ([`MlpChain::mala_step`]) and per half of
//! each jump ([`MlpChain::jump`]), which need every chain's state.
//!
//! Each invocation runs one chain through every step: the MLP's forward, its backward to the
//! chain's state, and the Langevin update, with the same noise as the per-layer path
//! (`langevin_step` with [`RngDraw::iteration_step`]). Chains under an MLP are independent
//! row by row, so nothing needs to leave the invocation until the chain ends. Used for the
//! x-chains of an MLP EBM (the energy U = E(x)) and the z-chains of an MLP generator
//! (U = coef/2·‖g(z) − x‖² plus the prior), on the toy presets; convolutional networks keep
//! the per-layer path.
//!
//! Why: on lavapipe a dispatch costs 60–80 µs before any arithmetic, and a `toy2d` x-chain of
//! 30 steps was 8 dispatches a step; the thin products of its first and last layers cost as
//! much as the wide ones (docs/platform.md). The network's sizes are compiled in as
//! constants, with one copy of `mlp_chain_layer.wgsl` per hidden layer, so each MLP shape
//! gets its own pipelines.

use super::activation::Activation;
use super::rng::{PHILOX_SOURCE, RngDraw};
use crate::gpu::{Access, Gpu, GpuBuffer, Kernel, Kernels};
use std::sync::Arc;

pub const SOURCE: &str = include_str!("mlp_chain.wgsl");
pub const SOURCE_LAYER: &str = include_str!("mlp_chain_layer.wgsl");
pub const SOURCE_PACK: &str = include_str!("mlp_chain_pack.wgsl");
pub const SOURCE_PARAMS: &str = include_str!("mlp_chain_params.wgsl");

/// Hidden layers the kernel runs (each past the first adds two uniform bindings, Wᵀ and W).
pub const MAX_HIDDEN_LAYERS: usize = 4;
/// The widest hidden layer: a weight matrix must fit one 64 KiB uniform buffer.
pub const MAX_HIDDEN: usize = 128;
/// The most values of a chain's state or of the network's output (one vec4).
pub const MAX_VALUES: usize = 4;
/// Chains each invocation runs (`R` in `mlp_chain.wgsl`).
const CHAINS_PER_INVOCATION: u32 = 4;
/// Bytes of each uniform buffer (lavapipe's uniform binding limit).
const UNIFORM_BYTES: u64 = 64 * 1024;

/// One fully connected layer's place in a network's flat parameter buffer (PyTorch
/// `nn.Linear`: weight `[out, in]` at `weight`, bias `[out]` at `bias`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    pub in_features: usize,
    pub out_features: usize,
    pub weight: usize,
    pub bias: Option<usize>,
}

/// A layer of a network as far as [`MlpLayout::new`] is concerned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MlpPart {
    Dense(Dense),
    Act(Activation),
}

/// An MLP the chain kernel can run: `input → hidden (×hidden_layers) → output`, one
/// activation after every hidden layer, biases everywhere.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpLayout {
    pub input: usize,
    pub output: usize,
    pub hidden: usize,
    pub hidden_layers: usize,
    pub act: Activation,
    /// Offsets of each linear layer's weight and bias, input layer first.
    pub weights: Vec<usize>,
    pub biases: Vec<usize>,
}

impl MlpLayout {
    /// The layout of `Dense, Act, Dense, …, Act, Dense`, or `None` when the network is not one
    /// the kernel runs: hidden widths that differ, are not multiples of 32 or exceed
    /// [`MAX_HIDDEN`], more than [`MAX_HIDDEN_LAYERS`], more than [`MAX_VALUES`] inputs or
    /// outputs, a missing bias, activations that differ or whose backward needs their input
    /// (leaky slope < 0).
    pub fn new(parts: &[MlpPart]) -> Option<Self> {
        let mut dense = Vec::new();
        let mut acts = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            match (i % 2, part) {
                (0, MlpPart::Dense(d)) => dense.push(*d),
                (1, MlpPart::Act(a)) => acts.push(*a),
                _ => return None,
            }
        }
        let (first, last) = (dense.first()?, dense.last()?);
        let hidden = first.out_features;
        let act = *acts.first()?;
        let ok = !parts.len().is_multiple_of(2)
            && acts.len() <= MAX_HIDDEN_LAYERS
            && hidden.is_multiple_of(32)
            && hidden <= MAX_HIDDEN
            && first.in_features <= MAX_VALUES
            && last.out_features <= MAX_VALUES
            && act.backward_from_output()
            && acts.iter().all(|a| *a == act)
            && dense[1..].iter().all(|d| d.in_features == hidden)
            && dense[..dense.len() - 1].iter().all(|d| d.out_features == hidden)
            && dense.iter().all(|d| d.bias.is_some());
        ok.then(|| Self {
            input: first.in_features,
            output: last.out_features,
            hidden,
            hidden_layers: acts.len(),
            act,
            weights: dense.iter().map(|d| d.weight).collect(),
            biases: dense.iter().filter_map(|d| d.bias).collect(),
        })
    }

    /// `input → 128 → 128 → output` with leaky ReLU (0.2), laid out as `models::mlp` lays
    /// it out (for shader validation).
    pub fn example(input: usize, output: usize) -> Self {
        let h = 128;
        let layer = |in_features, out_features, weight| Dense {
            in_features,
            out_features,
            weight,
            bias: Some(weight + in_features * out_features),
        };
        let l0 = layer(input, h, 0);
        let l1 = layer(h, h, l0.bias.unwrap() + h);
        let l2 = layer(h, output, l1.bias.unwrap() + h);
        let act = MlpPart::Act(Activation::LeakyRelu(0.2));
        Self::new(&[MlpPart::Dense(l0), act, MlpPart::Dense(l1), act, MlpPart::Dense(l2)])
            .expect("the example MLP fits the chain kernel")
    }

    fn slope(&self) -> f32 {
        match self.act {
            Activation::LeakyRelu(s) => s,
            Activation::Relu | Activation::Tanh => 0.0,
        }
    }

    /// The sizes as WGSL constants, and `struct Params`.
    fn header(&self, fit: bool, metropolis: bool, workgroup: u32) -> String {
        format!(
            "const DIN: u32 = {}u;\nconst DOUT: u32 = {}u;\nconst H: u32 = {}u;\nconst L: u32 = {}u;\n\
             const ACT: u32 = {}u;\nconst TARGET: bool = {fit};\nconst METROPOLIS: bool = {metropolis};\n\
             const WG: u32 = {workgroup}u;\n{SOURCE_PARAMS}\n",
            self.input,
            self.output,
            self.hidden,
            self.hidden_layers,
            u32::from(self.act == Activation::Tanh),
        )
    }

    /// Scratch values per chain: the hidden activations and two gradient slots.
    fn scratch_per_chain(&self) -> usize {
        (self.hidden_layers + 2) * self.hidden
    }
}

/// What a chain samples, given the network's output y.
#[derive(Clone, Copy)]
pub enum ChainTarget<'a> {
    /// U(s) = y, the network's output is the energy (x-chains: one output).
    Energy,
    /// U(s) = coef/2·‖y − target‖², target `[batch, output]` (z-chains, with prior 1).
    /// `inv_two_var` = 1/(2σ²) scales the trace's log posterior.
    Fit { target: &'a GpuBuffer, coef: f32, inv_two_var: f32 },
}

/// One chain's settings: s ← s − drift·(∇U(s) + prior·s) + noise·ε for `steps` steps, ε from
/// `seed` and `stream` with the counter of step t at `iteration` ([`RngDraw::iteration_step`]).
#[derive(Clone, Copy, Debug)]
pub struct ChainArgs {
    pub batch: usize,
    pub steps: usize,
    pub drift: f32,
    pub noise: f32,
    pub prior: f32,
    pub seed: u64,
    pub stream: u32,
    pub iteration: u32,
    /// Energy chains with prior 0 only: a Metropolis–Hastings decision after every step
    /// (MALA; `ops::langevin::Langevin::metropolis_accept` is the per-layer form). Needs noise > 0.
    pub metropolis: bool,
    /// With `metropolis`: every `every`-th step (the (t + 1) % every == 0 ones) proposes with
    /// these coefficients instead (`sampler::LangevinConfig::second_step_every`); same temperature.
    pub second_step: Option<SecondStep>,
    /// Where in the chain a dispatch starts: the step [`MlpChain::mala_step`] makes, the slot
    /// after the step a [`MlpChain::jump`] follows, the first slot [`MlpChain::trace`] records.
    /// 0 for [`MlpChain::run`].
    pub first_step: usize,
    /// With `metropolis`: proposals outside [−b, b]^input are rejected (0: no box).
    pub box_half_width: f32,
}

/// The second step size of a Metropolis-adjusted chain: on which steps, and its update's coefficients.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SecondStep {
    pub every: usize,
    pub drift: f32,
    pub noise: f32,
}

/// Mirrors `Params` in `mlp_chain_params.wgsl` (176 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    steps: u32,
    stream: u32,
    iteration: u32,
    seed: [u32; 2],
    drift: f32,
    noise: f32,
    slope: f32,
    coef: f32,
    prior: f32,
    inv_two_var: f32,
    w_off: [u32; 8],
    b_off: [u32; 8],
    layer: u32,
    inv_temp: f32,
    inv_two_noise_var: f32,
    second_every: u32,
    second_drift: f32,
    second_noise: f32,
    second_inv_two_noise_var: f32,
    first_step: u32,
    box_half_width: f32,
    jump_counter: u32,
    _pad: [u32; 2],
    rows: [u32; 4],
}

/// The buffers of chains under one MLP: the packed weights (uniform), the activations of
/// every chain and the per-step statistics. Made by [`MlpChain::buffers`].
pub struct ChainBuffers {
    layout: MlpLayout,
    max_batch: usize,
    max_steps: usize,
    /// Input and output layers and the biases (`small` in `mlp_chain.wgsl`).
    small: GpuBuffer,
    /// Per hidden layer past the first: Wᵀ and W.
    hidden: Vec<[GpuBuffer; 2]>,
    scratch: GpuBuffer,
    stats: GpuBuffer,
    /// Bound in the target's place by energy chains.
    no_target: GpuBuffer,
    /// Accepted proposals per chain `[max_batch]` of the last Metropolis-adjusted run.
    accepted: GpuBuffer,
    /// ∇U at each Metropolis-adjusted chain's state `[max_batch, input]`, handed from one
    /// segment (or jump) to the next.
    grad: GpuBuffer,
}

impl ChainBuffers {
    /// The layout, for a dispatch of `mala_step` or `jump`: checks that `args` is a
    /// Metropolis-adjusted energy chain that fits, writing trace slots up to `last_slot`.
    fn metropolis_energy(&self, args: &ChainArgs, last_slot: usize) -> &MlpLayout {
        assert!(
            args.metropolis && self.layout.output == 1,
            "mlp_chain: steps alone and jumps are for Metropolis-adjusted energy chains"
        );
        assert!(last_slot <= self.max_steps && args.batch <= self.max_batch, "mlp_chain: buffers too small");
        &self.layout
    }

    /// The chain kernels' bindings, in `mlp_chain.wgsl`'s order.
    fn bindings<'a>(
        &'a self,
        state: &'a GpuBuffer,
        target: &'a GpuBuffer,
        outputs: &'a GpuBuffer,
        accepted: &'a GpuBuffer,
    ) -> Vec<&'a GpuBuffer> {
        let mut bound =
            vec![state, target, &self.stats, outputs, &self.scratch, &self.small, accepted, &self.grad];
        bound.extend(self.hidden.iter().flatten());
        bound
    }

    /// The network these buffers were made for.
    pub fn layout(&self) -> &MlpLayout {
        &self.layout
    }

    /// Per step and chain of the last run, `(energy or ‖y − target‖², ‖s‖²)`, packed at the
    /// front as `[steps + 1, batch, 2]` with that run's steps and batch.
    pub fn stats(&self) -> &GpuBuffer {
        &self.stats
    }

    /// Accepted proposals per chain of the last run with [`ChainArgs::metropolis`] (counts, as
    /// f32, `[batch]` at the front).
    pub fn accepted(&self) -> &GpuBuffer {
        &self.accepted
    }
}

/// Which pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Entry {
    Chain,
    Step,
    Jump,
    Trace,
    PackSmall,
    PackHidden,
}

/// What a pipeline is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    input: usize,
    output: usize,
    hidden: usize,
    hidden_layers: usize,
    tanh: bool,
    fit: bool,
    metropolis: bool,
    entry: Entry,
}

/// The chain kernels, one set of pipelines per MLP shape, made on first use.
pub struct MlpChain {
    gpu: Gpu,
    /// Invocations per workgroup (each runs 4 chains): 8 on CPU adapters (one 256-bit SIMD
    /// vector on lavapipe, so a batch of 256 chains makes 8 workgroups for the threads to
    /// share), 64 on GPUs.
    workgroup: u32,
    kernels: Kernels<Key>,
}

impl MlpChain {
    pub fn new(gpu: &Gpu) -> Self {
        let workgroup = if gpu.is_cpu() { 8 } else { 64 };
        Self { gpu: gpu.clone(), workgroup, kernels: Kernels::default() }
    }

    /// The chain's WGSL for an MLP of `mlp`'s shape: its sizes, `struct Params`, one copy of
    /// `mlp_chain_layer.wgsl` per hidden layer past the first, the functions that call them
    /// in order, the Philox library, then `mlp_chain.wgsl`.
    pub fn source(mlp: &MlpLayout, fit: bool, metropolis: bool, workgroup: u32) -> String {
        let l = mlp.hidden_layers;
        let (slot_a, slot_b) = ("SLOT_A", "SLOT_B");
        let mut layers = String::new();
        for layer in 1..l {
            // The gradient of hidden layer i's pre-activation sits in slot A when L − 1 − i is even.
            let slot = |i: usize| if (l - 1 - i).is_multiple_of(2) { slot_a } else { slot_b };
            layers += &SOURCE_LAYER
                .replace("_WT_BINDING_", &(9 + 2 * (layer - 1)).to_string())
                .replace("_W_BINDING_", &(10 + 2 * (layer - 1)).to_string())
                .replace("_CUR_", slot(layer))
                .replace("_NEXT_", slot(layer - 1))
                .replace("_L_", &layer.to_string());
        }
        let calls = |order: Vec<usize>, f: &str| -> String {
            order.iter().map(|i| format!("    {f}{i}(base);\n")).collect()
        };
        format!(
            "{}{layers}\nfn hidden_forward(base: u32) {{\n{}}}\nfn hidden_backward(base: u32) {{\n{}}}\n{PHILOX_SOURCE}\n{SOURCE}",
            mlp.header(fit, metropolis, workgroup),
            calls((1..l).collect(), "forward"),
            calls((1..l).rev().collect(), "backward"),
        )
    }

    /// The packing kernels' WGSL: sizes, `struct Params`, `mlp_chain_pack.wgsl`.
    pub fn pack_source(mlp: &MlpLayout) -> String {
        format!("{}{SOURCE_PACK}", mlp.header(false, false, 64))
    }

    fn kernel(&self, mlp: &MlpLayout, fit: bool, metropolis: bool, entry: Entry) -> Arc<Kernel> {
        use Access::{Read, ReadWrite, Uniform};
        let key = Key {
            input: mlp.input,
            output: mlp.output,
            hidden: mlp.hidden,
            hidden_layers: mlp.hidden_layers,
            tanh: mlp.act == Activation::Tanh,
            fit,
            metropolis,
            entry,
        };
        self.kernels.get(key, || match entry {
            Entry::Chain | Entry::Step | Entry::Jump | Entry::Trace => {
                let mut bufs =
                    vec![ReadWrite, Read, ReadWrite, ReadWrite, ReadWrite, Uniform, ReadWrite, ReadWrite];
                bufs.extend(std::iter::repeat_n(Uniform, 2 * (mlp.hidden_layers - 1)));
                let name = match entry {
                    Entry::Chain => "chain",
                    Entry::Step => "mala_step",
                    Entry::Jump => "jump",
                    _ => "chain_trace",
                };
                let source = Self::source(mlp, fit, metropolis, self.workgroup);
                Kernel::new(&self.gpu, &source, name, &bufs, &[])
            }
            Entry::PackSmall | Entry::PackHidden => {
                let name = if entry == Entry::PackSmall { "pack_small" } else { "pack_hidden" };
                Kernel::new(&self.gpu, &Self::pack_source(mlp), name, &[Read, ReadWrite, ReadWrite], &[])
            }
        })
    }

    /// `batch` rounded up to whole workgroups of chains.
    fn rounded(&self, batch: usize) -> usize {
        let group = (CHAINS_PER_INVOCATION * self.workgroup) as usize;
        batch.div_ceil(group) * group
    }

    /// Buffers for up to `max_batch` chains of up to `max_steps` steps under `mlp`, or `None`
    /// when the scratch or the per-step statistics would pass the device's storage binding
    /// limit (long chains of many samples: the per-layer path needs neither).
    pub fn buffers(&self, mlp: &MlpLayout, max_batch: usize, max_steps: usize) -> Option<ChainBuffers> {
        let (scratch, stats) =
            (self.rounded(max_batch) * mlp.scratch_per_chain(), 2 * max_batch * (max_steps + 1));
        let limit = self.gpu.limits.max_storage_buffer_binding_size.min(self.gpu.limits.max_buffer_size);
        if 4 * scratch.max(stats) as u64 > limit {
            return None;
        }
        let uniform = || self.gpu.uniform_zeros((UNIFORM_BYTES / 4) as usize);
        Some(ChainBuffers {
            layout: mlp.clone(),
            max_batch,
            max_steps,
            small: uniform(),
            hidden: (1..mlp.hidden_layers).map(|_| [uniform(), uniform()]).collect(),
            scratch: self.gpu.zeros(scratch),
            stats: self.gpu.zeros(stats),
            no_target: self.gpu.zeros(4),
            accepted: self.gpu.zeros(max_batch),
            grad: self.gpu.zeros(max_batch * mlp.input),
        })
    }

    /// Records the chain on `state` `[batch, input]` (updated in place) under the MLP whose
    /// parameters are `params`, laid out as `bufs` were made for: the packing dispatches,
    /// one for the chain, one for its trace. `outputs` `[batch, output]` gets y of the last
    /// state; `trace` gets the mean energy of s₀ … s_k ([`ChainTarget::Energy`]) or (mean
    /// squared error per value, mean log posterior) pairs ([`ChainTarget::Fit`]), as the
    /// per-layer samplers write them.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        enc: &mut wgpu::CommandEncoder,
        bufs: &ChainBuffers,
        params: &GpuBuffer,
        state: &GpuBuffer,
        target: ChainTarget,
        outputs: &GpuBuffer,
        trace: &GpuBuffer,
        args: &ChainArgs,
    ) {
        let mlp = &bufs.layout;
        assert!(
            args.batch <= bufs.max_batch && args.first_step + args.steps <= bufs.max_steps,
            "mlp_chain: buffers too small"
        );
        let (fit, target_buf, coef, inv_two_var) = match target {
            ChainTarget::Energy => {
                assert_eq!(mlp.output, 1, "mlp_chain: an energy has one output");
                (false, &bufs.no_target, 0.0, 0.0)
            }
            ChainTarget::Fit { target, coef, inv_two_var } => (true, target, coef, inv_two_var),
        };
        assert!(
            !args.metropolis || (!fit && args.prior == 0.0 && args.noise > 0.0),
            "mlp_chain: a Metropolis step is for energy chains with noise"
        );
        assert_eq!(args.first_step, 0, "mlp_chain: a chain runs from step 0 (later steps: mala_step)");
        let p = Params { coef, inv_two_var, ..Params::of(mlp, args) };
        let g = &self.gpu;
        let h = mlp.hidden as u32;
        let pack = self.kernel(mlp, false, false, Entry::PackSmall);
        pack.encode(g, enc, &p, &[params, &bufs.small, &bufs.no_target], [h.div_ceil(64), 1, 1]);
        for (i, [wt, w]) in bufs.hidden.iter().enumerate() {
            let pack = self.kernel(mlp, false, false, Entry::PackHidden);
            let q = Params { layer: i as u32 + 1, ..p };
            pack.encode(g, enc, &q, &[params, wt, w], [(h * h).div_ceil(64), 1, 1]);
        }
        let bound = bufs.bindings(state, target_buf, outputs, &bufs.accepted);
        let m = args.metropolis;
        self.kernel(mlp, fit, m, Entry::Chain).encode(g, enc, &p, &bound, [self.groups(args.batch), 1, 1]);
        self.trace(enc, bufs, (outputs, trace), target, args);
    }

    /// Records the trace of the chain `args` from its last run (and the Metropolis-adjusted
    /// steps and jumps after it) into `trace`: slots first_step ..= first_step + steps, as
    /// [`MlpChain::run`] describes them (`outputs` as given to it, bound but not read).
    pub fn trace(
        &self,
        enc: &mut wgpu::CommandEncoder,
        bufs: &ChainBuffers,
        (outputs, trace): (&GpuBuffer, &GpuBuffer),
        target: ChainTarget,
        args: &ChainArgs,
    ) {
        let mlp = &bufs.layout;
        let (fit, target_buf, p) = match target {
            ChainTarget::Energy => (false, &bufs.no_target, Params::of(mlp, args)),
            ChainTarget::Fit { target, coef, inv_two_var } => {
                (true, target, Params { coef, inv_two_var, ..Params::of(mlp, args) })
            }
        };
        let bound = bufs.bindings(trace, target_buf, outputs, &bufs.accepted);
        let slots = args.steps as u32 + 1;
        self.kernel(mlp, fit, args.metropolis, Entry::Trace).encode(
            &self.gpu,
            enc,
            &p,
            &bound,
            [slots, 1, 1],
        );
    }

    /// Records Metropolis-adjusted step `args.first_step` of the energy chain `args` on `state`
    /// `[batch, input]` (`mala_step` in `mlp_chain.wgsl`), from the U(x) in `outputs` `[batch]`
    /// and the buffers' ∇U(x) that [`MlpChain::run`], a jump or the step before left: the same
    /// draws and decisions as step `first_step` of a whole chain. Its trace slot is recorded by
    /// a later [`MlpChain::trace`].
    pub fn mala_step(
        &self,
        enc: &mut wgpu::CommandEncoder,
        bufs: &ChainBuffers,
        state: &GpuBuffer,
        outputs: &GpuBuffer,
        args: &ChainArgs,
    ) {
        let mlp = bufs.metropolis_energy(args, args.first_step + 1);
        let bound = bufs.bindings(state, &bufs.no_target, outputs, &bufs.accepted);
        let kernel = self.kernel(mlp, false, true, Entry::Step);
        kernel.encode(&self.gpu, enc, &Params::of(mlp, args), &bound, [self.groups(args.batch), 1, 1]);
    }

    /// Workgroups for `chains` chains.
    fn groups(&self, chains: usize) -> u32 {
        (chains as u32).div_ceil(CHAINS_PER_INVOCATION * self.workgroup)
    }

    /// Records half of a population jump (`jump` in `mlp_chain.wgsl`) after step
    /// `args.first_step − 1` of the Metropolis-adjusted energy chain `args` on `state`
    /// `[batch, input]`, from the U(x) in `outputs` `[batch]` and the buffers' ∇U(x) (as for
    /// [`MlpChain::mala_step`]). The rows of `jump.moving` propose moves by differences of two
    /// rows of `jump.other` and are decided by the energies alone; accepted ones replace their
    /// state, U and ∇U and add 1 to `jump.accepted` `[batch]`. Draws as `Langevin::jump_propose`
    /// and `Langevin::metropolis_accept` make them with the counter `jump.counter` (the
    /// decisions' with its top bit set).
    pub fn jump(
        &self,
        enc: &mut wgpu::CommandEncoder,
        bufs: &ChainBuffers,
        state: &GpuBuffer,
        outputs: &GpuBuffer,
        args: &ChainArgs,
        jump: &Jump,
    ) {
        let mlp = bufs.metropolis_energy(args, args.first_step);
        assert!(jump.other.len() >= 2, "a population jump draws two rows of the other half");
        let (moving, other) = (&jump.moving, &jump.other);
        let p = Params {
            jump_counter: jump.counter,
            rows: [moving.start, moving.end, other.start, other.end].map(|r| r as u32),
            ..Params::of(mlp, args)
        };
        let bound = bufs.bindings(state, &bufs.no_target, outputs, jump.accepted);
        let kernel = self.kernel(mlp, false, true, Entry::Jump);
        kernel.encode(&self.gpu, enc, &p, &bound, [self.groups(moving.len()), 1, 1]);
    }
}

/// One half of a population jump for [`MlpChain::jump`].
pub struct Jump<'a> {
    /// The rows that propose a move.
    pub moving: std::ops::Range<usize>,
    /// The rows whose differences they move by (at least 2, disjoint from `moving`).
    pub other: std::ops::Range<usize>,
    /// The low counter word of the proposals' uniforms (the decisions' has bit 31 set too).
    pub counter: u32,
    /// Accepted jumps per chain `[batch]`, added to.
    pub accepted: &'a GpuBuffer,
}

impl Params {
    /// The uniforms of a chain `args` under `mlp`; an energy chain's (no target), the jump's
    /// rows and counters unset.
    fn of(mlp: &MlpLayout, args: &ChainArgs) -> Self {
        // The Metropolis ratio's factors (unused, and left 0, without it).
        let (inv_temp, inv_two_noise_var) = if args.metropolis {
            let var = args.noise * args.noise;
            (2.0 * args.drift / var, 0.5 / var)
        } else {
            (0.0, 0.0)
        };
        let second = args.second_step; // read by the METROPOLIS kernel only
        assert!(second.is_none_or(|l| l.every > 0 && l.noise > 0.0), "mlp_chain: a second step needs noise");
        let mut p = Params {
            batch: args.batch as u32,
            steps: args.steps as u32,
            stream: args.stream,
            iteration: args.iteration,
            seed: RngDraw::new(args.seed, 0, 0).seed_words(),
            drift: args.drift,
            noise: args.noise,
            slope: mlp.slope(),
            prior: args.prior,
            inv_temp,
            inv_two_noise_var,
            second_every: second.map_or(0, |l| l.every as u32),
            second_drift: second.map_or(0.0, |l| l.drift),
            second_noise: second.map_or(0.0, |l| l.noise),
            second_inv_two_noise_var: second.map_or(0.0, |l| 0.5 / (l.noise * l.noise)),
            first_step: args.first_step as u32,
            box_half_width: args.box_half_width,
            ..Params::default()
        };
        for (i, (&w, &b)) in mlp.weights.iter().zip(&mlp.biases).enumerate() {
            p.w_off[i] = w as u32;
            p.b_off[i] = b as u32;
        }
        p
    }
}

/// CPU reference of the whole chain, in f64 with the kernel's f32 noise.
pub mod cpu {
    use super::{ChainArgs, MlpLayout};
    use crate::ops::activation::Activation;
    use crate::ops::activation::cpu::forward_f64;
    use crate::ops::rng::{RngDraw, cpu as rng_cpu};

    /// What the chain leaves behind: the final states `[batch, input]`, the outputs of the
    /// final states `[batch, output]`, and per step t and row the statistics
    /// (energy or ‖y − target‖², ‖s‖²) as the kernel writes them.
    pub struct ChainResult {
        pub state: Vec<f64>,
        pub outputs: Vec<f64>,
        pub stats: Vec<f64>,
    }

    /// y = net(s) and the hidden activations' outputs.
    fn forward(mlp: &MlpLayout, w: &[f64], s: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
        let mut acts: Vec<Vec<f64>> = Vec::new();
        let mut x = s.to_vec();
        for (l, (&wo, &bo)) in mlp.weights.iter().zip(&mlp.biases).enumerate() {
            let out = if l == mlp.hidden_layers { mlp.output } else { mlp.hidden };
            let mut y: Vec<f64> = (0..out)
                .map(|j| {
                    w[bo + j] + x.iter().enumerate().map(|(k, v)| w[wo + j * x.len() + k] * v).sum::<f64>()
                })
                .collect();
            if l < mlp.hidden_layers {
                for v in &mut y {
                    *v = forward_f64(mlp.act, *v);
                }
                acts.push(y.clone());
            }
            x = y;
        }
        (x, acts)
    }

    fn act_grad(a: Activation, out: f64) -> f64 {
        match a {
            Activation::Relu => f64::from(u8::from(out > 0.0)),
            Activation::LeakyRelu(s) => {
                if out > 0.0 {
                    1.0
                } else {
                    f64::from(s)
                }
            }
            Activation::Tanh => 1.0 - out * out,
        }
    }

    /// ∇ₛU given dU/dy.
    fn backward(mlp: &MlpLayout, w: &[f64], acts: &[Vec<f64>], dy: &[f64]) -> Vec<f64> {
        let mut g = dy.to_vec();
        for l in (0..mlp.weights.len()).rev() {
            let n_in = if l == 0 { mlp.input } else { mlp.hidden };
            let wo = mlp.weights[l];
            let mut below: Vec<f64> = (0..n_in)
                .map(|k| g.iter().enumerate().map(|(j, gj)| w[wo + j * n_in + k] * gj).sum())
                .collect();
            if l > 0 {
                for (v, a) in below.iter_mut().zip(&acts[l - 1]) {
                    *v *= act_grad(mlp.act, *a);
                }
            }
            g = below;
        }
        g
    }

    /// The chain on `state` `[batch, input]` with target `[batch, output]` (z-chains, with
    /// its coef) or none (energy chains).
    pub fn chain(
        mlp: &MlpLayout,
        params: &[f32],
        state: &[f32],
        target: Option<(&[f32], f64)>,
        args: &ChainArgs,
    ) -> ChainResult {
        let w: Vec<f64> = params.iter().map(|&v| f64::from(v)).collect();
        let (din, dout, b) = (mlp.input, mlp.output, args.batch);
        let mut s: Vec<f64> = state.iter().map(|&v| f64::from(v)).collect();
        let mut outputs = vec![0.0; b * dout];
        let mut stats = vec![0.0; 2 * b * (args.steps + 1)];
        for t in 0..=args.steps {
            let draw =
                RngDraw::new(args.seed, args.stream, RngDraw::iteration_step(args.iteration, t as u32));
            let noise = rng_cpu::normal(draw, 0.0, 1.0, b * din);
            for r in 0..b {
                let sr = &mut s[r * din..(r + 1) * din];
                let (y, acts) = forward(mlp, &w, sr);
                let (first, dy): (f64, Vec<f64>) = match target {
                    None => (y[0], vec![1.0]),
                    Some((x, coef)) => {
                        let res: Vec<f64> = (0..dout).map(|o| y[o] - f64::from(x[r * dout + o])).collect();
                        (res.iter().map(|v| v * v).sum(), res.iter().map(|v| coef * v).collect())
                    }
                };
                stats[(t * b + r) * 2] = first;
                stats[(t * b + r) * 2 + 1] = sr.iter().map(|v| v * v).sum();
                outputs[r * dout..(r + 1) * dout].copy_from_slice(&y);
                if t == args.steps {
                    continue;
                }
                let g = backward(mlp, &w, &acts, &dy);
                for d in 0..din {
                    let v = sr[d];
                    sr[d] = v - f64::from(args.drift) * (g[d] + f64::from(args.prior) * v)
                        + f64::from(args.noise) * f64::from(noise[r * din + d]);
                }
            }
        }
        ChainResult { state: s, outputs, stats }
    }
}
