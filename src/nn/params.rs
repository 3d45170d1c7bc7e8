//! The flat parameter layout of one network (llm.c style): every tensor is a range of one
//! buffer, named as PyTorch would name it, with its initialiser.
//!
//! Trainable tensors live in the parameter buffer (with the gradient and Adam's two moments
//! at the same offsets in three more buffers); non-trainable state (batch-norm running
//! statistics, spectral-norm vectors u and v) lives in a separate state buffer.

use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Normal};

/// Offsets are rounded up to this many elements, so every tensor starts 16-byte aligned.
const ALIGN: usize = 4;

/// How a tensor is initialised (docs/reference.md, "Initialisation").
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// N(0, gain²·2/(fan_in + fan_out)): Xavier/Glorot normal, used for the paper's convs.
    XavierNormal { fan_in: usize, fan_out: usize },
    /// U(−1/√fan_in, 1/√fan_in): PyTorch's default for Linear/Conv weights
    /// (kaiming_uniform with a = √5) and biases.
    PytorchDefault { fan_in: usize },
    /// N(mean, std²).
    Normal { mean: f32, std: f32 },
    /// A constant (batch-norm shift 0, running variance 1).
    Constant(f32),
    /// A random unit vector, N(0, I) normalised (PyTorch's spectral-norm u and v).
    UnitNormal,
}

/// Whether a tensor is trained (parameter buffer) or carried state (state buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Param,
    State,
}

/// One named tensor and where it lives.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    /// PyTorch-style name, e.g. `blocks.0.conv1.weight_orig`.
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: Kind,
    /// Element offset in the parameter buffer (Param) or the state buffer (State).
    pub offset: usize,
    pub init: Init,
    /// Whether PyTorch's module of the same layer has this tensor in its `state_dict`
    /// (false for our own bookkeeping, such as the spectral-norm σ and scratch vector,
    /// which checkpoints keep under a separate prefix: docs/algorithm.md §8).
    pub torch: bool,
}

impl TensorSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The layout of a network's parameters and state. Built on the CPU while the layers are
/// constructed; needs no GPU (parameter counts of the paper's networks come from here).
#[derive(Clone, Debug, Default)]
pub struct ParamLayout {
    pub tensors: Vec<TensorSpec>,
    pub params_len: usize,
    pub state_len: usize,
    prefix: Vec<String>,
}

impl ParamLayout {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` with `name` pushed onto the name prefix (`blocks.0.` …).
    pub fn scoped<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.prefix.push(name.to_string());
        let out = f(self);
        self.prefix.pop();
        out
    }

    /// Registers a tensor and returns its offset.
    pub fn add(&mut self, name: &str, shape: &[usize], kind: Kind, init: Init) -> usize {
        let len = match kind {
            Kind::Param => &mut self.params_len,
            Kind::State => &mut self.state_len,
        };
        let offset = len.next_multiple_of(ALIGN);
        let numel: usize = shape.iter().product();
        *len = offset + numel;
        let full = self.full_name(name);
        self.tensors.push(TensorSpec { name: full, shape: shape.to_vec(), kind, offset, init, torch: true });
        offset
    }

    /// Registers several tensors back to back, with no padding between them (ops that take
    /// one contiguous block, such as the spectral-norm state [u | v | σ | scratch]). Each
    /// part says whether PyTorch has it ([`TensorSpec::torch`]). Returns the offset of the
    /// first.
    pub fn add_packed(&mut self, parts: &[(&str, &[usize], Init, bool)], kind: Kind) -> usize {
        let len = match kind {
            Kind::Param => &mut self.params_len,
            Kind::State => &mut self.state_len,
        };
        let start = len.next_multiple_of(ALIGN);
        *len = start;
        for (name, shape, init, torch) in parts {
            let len = match kind {
                Kind::Param => &mut self.params_len,
                Kind::State => &mut self.state_len,
            };
            let offset = *len;
            *len += shape.iter().product::<usize>();
            let full = self.full_name(name);
            let (shape, init, torch) = (shape.to_vec(), *init, *torch);
            self.tensors.push(TensorSpec { name: full, shape, kind, offset, init, torch });
        }
        start
    }

    fn full_name(&self, name: &str) -> String {
        let mut full = self.prefix.join(".");
        if !full.is_empty() {
            full.push('.');
        }
        full.push_str(name);
        full
    }

    /// Number of trainable values (what PyTorch's `sum(p.numel() for p in parameters())` gives).
    pub fn num_params(&self) -> usize {
        self.tensors.iter().filter(|t| t.kind == Kind::Param).map(TensorSpec::numel).sum()
    }

    /// Initial parameter and state buffers, reproducible from `seed` (CPU, f32).
    pub fn initial_values(&self, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut params = vec![0.0; self.params_len];
        let mut state = vec![0.0; self.state_len];
        let mut rng = StdRng::seed_from_u64(seed);
        for t in &self.tensors {
            let dst = match t.kind {
                Kind::Param => &mut params[t.offset..t.offset + t.numel()],
                Kind::State => &mut state[t.offset..t.offset + t.numel()],
            };
            fill(dst, t.init, &mut rng);
        }
        (params, state)
    }
}

fn fill(dst: &mut [f32], init: Init, rng: &mut StdRng) {
    let normal = |rng: &mut StdRng, mean: f32, std: f32| -> f32 {
        Normal::new(mean, std).expect("finite std").sample(rng)
    };
    match init {
        Init::XavierNormal { fan_in, fan_out } => {
            let std = (2.0 / (fan_in + fan_out) as f32).sqrt();
            dst.iter_mut().for_each(|v| *v = normal(rng, 0.0, std));
        }
        Init::PytorchDefault { fan_in } => {
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            dst.iter_mut().for_each(|v| *v = rng.random_range(-bound..=bound));
        }
        Init::Normal { mean, std } => dst.iter_mut().for_each(|v| *v = normal(rng, mean, std)),
        Init::Constant(c) => dst.fill(c),
        Init::UnitNormal => {
            dst.iter_mut().for_each(|v| *v = normal(rng, 0.0, 1.0));
            let norm = dst.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            dst.iter_mut().for_each(|v| *v /= norm);
        }
    }
}
