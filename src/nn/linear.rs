//! Fully connected layer y = x·Wᵀ + b (PyTorch `nn.Linear`: weight `[out, in]`, bias `[out]`),
//! the weight optionally spectrally normalised. The bias, the activation after the layer
//! and the backward of the activation before it ride in the matmul's epilogue (see
//! [`Layer::fuses_activations`]).

use super::params::{Init, Kind, ParamLayout};
use super::weight::Weight;
use super::{Backward, CpuWeights, Layer, Pass, Shape};
use crate::gpu::{BufRef, Gpu, GpuBuffer};
use crate::ops::activation::Activation;
use crate::ops::matmul::{Epilogue, MatmulShape};
use crate::ops::mlp_chain::Dense;

pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    out_shape: Shape,
    weight: Weight,
    bias: Option<usize>,
}

impl Linear {
    /// Registers `weight` (and `bias`) with PyTorch's default initialisation. The output can
    /// be seen as an image (`out_shape`), e.g. the generator's first layer to `[512, 4, 4]`.
    pub fn new(layout: &mut ParamLayout, input: Shape, out_shape: Shape, bias: bool) -> Self {
        Self::with_spectral_norm(layout, input, out_shape, bias, false)
    }

    /// As [`Linear::new`], the weight spectrally normalised when `sn` (the EBM's layers).
    pub fn with_spectral_norm(
        layout: &mut ParamLayout,
        input: Shape,
        out_shape: Shape,
        bias: bool,
        sn: bool,
    ) -> Self {
        let (fan_in, out) = (input.size(), out_shape.size());
        let weight = Weight::new(layout, &[out, fan_in], Init::PytorchDefault { fan_in }, sn);
        let bias = bias.then(|| layout.add("bias", &[out], Kind::Param, Init::PytorchDefault { fan_in }));
        Self { in_features: fan_in, out_features: out, out_shape, weight, bias }
    }
}

impl Linear {
    /// y [B, out] = act(x [B, in] · Wᵀ + b): one matmul, the bias and the activation in its
    /// epilogue.
    fn forward_with(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer, act: Option<Activation>) {
        let (n_in, n_out) = (self.in_features, self.out_features);
        let wt = self.weight.forward(p);
        let bias = self.bias.map(|b| BufRef::new(p.w.params, b));
        let s = MatmulShape::new(p.batch, n_out, n_in, false, true);
        p.e.matmul.encode_fused(p.enc, s, x.into(), wt, y.into(), Epilogue { bias, act, gate: None });
    }

    /// dx [B, in] = dy [B, out] · W, times act′ of `gate` when given (the activation in
    /// front of this layer); dW [out, in] += dyᵀ · x and db += Σ_B dy when asked.
    fn backward_with(
        &self,
        p: &mut Pass,
        x: &GpuBuffer,
        _y: &GpuBuffer,
        b: Backward,
        gate: Option<(Activation, &GpuBuffer)>,
    ) {
        let (n_in, n_out) = (self.in_features, self.out_features);
        if let Some(dx) = b.dx {
            let s = MatmulShape::new(p.batch, n_in, n_out, false, false);
            let epilogue = Epilogue { bias: None, act: None, gate: gate.map(|(a, g)| (a, g.into())) };
            p.e.matmul.encode_fused(p.enc, s, b.dy.into(), self.weight.used(p.w), dx.into(), epilogue);
        }
        if let Some(grads) = b.grads {
            // dW [out, in] += dyᵀ · x
            let s = MatmulShape::new(n_out, n_in, p.batch, true, false);
            let dw = self.weight.grad_target(p, grads);
            p.e.matmul.encode(p.enc, s, b.dy.into(), x.into(), dw, 1.0, 1.0);
            self.weight.finish_grad(p, grads);
            if let Some(bias) = self.bias {
                // db [1, out] += onesᵀ [1, B] · dy [B, out]
                let s = MatmulShape::new(1, n_out, p.batch, false, false);
                p.e.matmul.encode(
                    p.enc,
                    s,
                    (&p.e.ones(p.batch)).into(),
                    b.dy.into(),
                    BufRef::new(grads, bias),
                    1.0,
                    1.0,
                );
            }
        }
    }
}

impl Layer for Linear {
    fn out_shape(&self) -> Shape {
        self.out_shape
    }

    fn allocate(&mut self, gpu: &Gpu, _max_batch: usize) {
        self.weight.allocate(gpu);
    }

    fused_activation_methods!();

    fn cpu_forward(&self, w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64> {
        let (n_in, n_out) = (self.in_features, self.out_features);
        let wt = self.weight.cpu(w);
        let mut y = vec![0.0; batch * n_out];
        for b in 0..batch {
            for o in 0..n_out {
                let bias = self.bias.map_or(0.0, |off| w.params[off + o]);
                let row = &wt[o * n_in..(o + 1) * n_in];
                y[b * n_out + o] =
                    bias + row.iter().zip(&x[b * n_in..(b + 1) * n_in]).map(|(a, c)| a * c).sum::<f64>();
            }
        }
        y
    }

    fn macs(&self) -> usize {
        self.in_features * self.out_features
    }

    fn dense(&self) -> Option<Dense> {
        self.weight.plain_offset().map(|weight| Dense {
            in_features: self.in_features,
            out_features: self.out_features,
            weight,
            bias: self.bias,
        })
    }
}
