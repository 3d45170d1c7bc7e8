//! A layer's weight, plain or spectrally normalised (PyTorch `torch.nn.utils.spectral_norm`:
//! parameter `weight_orig`, buffers `weight_u`, `weight_v`; one power iteration per forward;
//! the gradient taken through σ(W) with u and v held constant).

use super::params::{Init, Kind, ParamLayout};
use super::{CpuWeights, Pass, Weights};
use crate::gpu::{BufRef, Gpu, GpuBuffer};
use crate::ops::spectral_norm::{self, SnShape};

/// Where the spectral-norm state and working buffers of one weight live.
struct SpectralState {
    shape: SnShape,
    /// Offset of [u | v | σ | scratch] in the state buffer.
    state: usize,
    /// W / σ(W), `[rows, cols]`.
    w_sn: Option<GpuBuffer>,
    /// dL/d(W_sn), accumulated by the layer's backward, then mapped onto dL/dW.
    g: Option<GpuBuffer>,
}

pub struct Weight {
    /// Offset of W in the parameter buffer.
    pub offset: usize,
    pub len: usize,
    sn: Option<SpectralState>,
}

impl Weight {
    /// Registers a weight of `shape` (rows = shape[0], cols = the rest) as `weight`, or with
    /// `spectral_norm` as `weight_orig` with its state `weight_u`, `weight_v` (+ σ, scratch).
    pub fn new(layout: &mut ParamLayout, shape: &[usize], init: Init, spectral_norm: bool) -> Self {
        let len: usize = shape.iter().product();
        if !spectral_norm {
            let offset = layout.add("weight", shape, Kind::Param, init);
            return Self { offset, len, sn: None };
        }
        let offset = layout.add("weight_orig", shape, Kind::Param, init);
        let s = SnShape::new(shape[0], len / shape[0]);
        let scratch = s.state_len() - s.rows - s.cols - 1;
        let state = layout.add_packed(
            &[
                // u and v are PyTorch's buffers; σ and the scratch vector are ours.
                ("weight_u", &[s.rows], Init::UnitNormal, true),
                ("weight_v", &[s.cols], Init::UnitNormal, true),
                ("weight_sigma", &[1], Init::Constant(1.0), false),
                ("weight_sn_scratch", &[scratch], Init::Constant(0.0), false),
            ],
            Kind::State,
        );
        Self { offset, len, sn: Some(SpectralState { shape: s, state, w_sn: None, g: None }) }
    }

    pub fn allocate(&mut self, gpu: &Gpu) {
        if let Some(sn) = &mut self.sn {
            sn.w_sn = Some(gpu.zeros(self.len));
            sn.g = Some(gpu.zeros(self.len));
        }
    }

    fn sn_buffers(sn: &SpectralState) -> (&GpuBuffer, &GpuBuffer) {
        let msg = "spectral-norm weight used before allocate()";
        (sn.w_sn.as_ref().expect(msg), sn.g.as_ref().expect(msg))
    }

    /// The weight the layer computes with: W, or W/σ(W) after one power iteration.
    pub fn forward<'r, 'a: 'r>(&'r self, p: &mut Pass<'a>) -> BufRef<'r> {
        let orig = BufRef::new(p.w.params, self.offset);
        match &self.sn {
            None => orig,
            Some(sn) => {
                let (w_sn, _) = Self::sn_buffers(sn);
                p.e.spectral_norm.forward(
                    p.enc,
                    sn.shape,
                    orig,
                    BufRef::new(p.w.state, sn.state),
                    w_sn.into(),
                );
                w_sn.into()
            }
        }
    }

    /// W's offset in the parameter buffer when the layer computes with W itself (no
    /// spectral norm).
    pub fn plain_offset(&self) -> Option<usize> {
        self.sn.is_none().then_some(self.offset)
    }

    /// The weight the last forward computed with (for the input gradient).
    pub fn used<'a>(&'a self, w: Weights<'a>) -> BufRef<'a> {
        match &self.sn {
            None => BufRef::new(w.params, self.offset),
            Some(sn) => Self::sn_buffers(sn).0.into(),
        }
    }

    /// Where the layer should add dL/d(weight used): the gradient buffer at W's offset, or
    /// (spectral norm) a zeroed buffer that [`Weight::finish_grad`] maps onto dL/dW.
    pub fn grad_target<'r>(&'r self, p: &mut Pass, grads: &'r GpuBuffer) -> BufRef<'r> {
        match &self.sn {
            None => BufRef::new(grads, self.offset),
            Some(sn) => {
                let (_, g) = Self::sn_buffers(sn);
                p.e.elementwise.fill(p.enc, self.len, g, 0.0);
                g.into()
            }
        }
    }

    /// Spectral norm: dW += G/σ − (Σ G∘W / σ²)·u vᵀ. Nothing to do for a plain weight.
    pub fn finish_grad(&self, p: &mut Pass, grads: &GpuBuffer) {
        if let Some(sn) = &self.sn {
            let (_, g) = Self::sn_buffers(sn);
            let orig = BufRef::new(p.w.params, self.offset);
            let state = BufRef::new(p.w.state, sn.state);
            p.e.spectral_norm.backward(
                p.enc,
                sn.shape,
                orig,
                state,
                g.into(),
                BufRef::new(grads, self.offset),
            );
        }
    }

    /// The weight used, on the CPU in f64: W, or W/σ with σ = uᵀWv from the stored u, v.
    pub fn cpu(&self, w: CpuWeights) -> Vec<f64> {
        let orig = &w.params[self.offset..self.offset + self.len];
        match &self.sn {
            None => orig.to_vec(),
            Some(sn) => {
                let s = sn.shape;
                let u = &w.state[sn.state + s.u_at()..sn.state + s.u_at() + s.rows];
                let v = &w.state[sn.state + s.v_at()..sn.state + s.v_at() + s.cols];
                spectral_norm::cpu::normalized(s, orig, u, v)
            }
        }
    }
}
