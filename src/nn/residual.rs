//! A residual block y = main(x) + shortcut(x), the shortcut being the identity when absent.

use super::{Backward, CpuWeights, Layer, Pass, Sequential, Shape};
use crate::gpu::{Gpu, GpuBuffer};

pub struct Residual {
    pub main: Sequential,
    pub shortcut: Option<Sequential>,
    main_out: Option<GpuBuffer>,
    short_out: Option<GpuBuffer>,
    d_main: Option<GpuBuffer>,
    d_short: Option<GpuBuffer>,
}

impl Residual {
    /// Both paths must produce the same shape.
    pub fn new(main: Sequential, shortcut: Option<Sequential>) -> Self {
        let short_shape = shortcut.as_ref().map_or(main.input_shape(), |s| s.shape());
        assert_eq!(short_shape, main.shape(), "residual paths disagree on the output shape");
        Self { main, shortcut, main_out: None, short_out: None, d_main: None, d_short: None }
    }

    fn buf(b: &Option<GpuBuffer>) -> &GpuBuffer {
        b.as_ref().expect("Residual used before allocate()")
    }
}

impl Layer for Residual {
    fn out_shape(&self) -> Shape {
        self.main.shape()
    }

    fn allocate(&mut self, gpu: &Gpu, max_batch: usize) {
        let out = max_batch * self.out_shape().size();
        let input = max_batch * self.main_input_size();
        self.main.allocate(gpu, max_batch);
        self.main_out = Some(gpu.zeros(out));
        self.d_main = Some(gpu.zeros(input));
        if let Some(s) = &mut self.shortcut {
            s.allocate(gpu, max_batch);
            self.short_out = Some(gpu.zeros(out));
            self.d_short = Some(gpu.zeros(input));
        }
    }

    fn forward(&self, p: &mut Pass, x: &GpuBuffer, y: &GpuBuffer) {
        let n = p.batch * self.out_shape().size();
        let main_out = Self::buf(&self.main_out);
        self.main.forward(p, x, main_out);
        match &self.shortcut {
            Some(s) => {
                let short_out = Self::buf(&self.short_out);
                s.forward(p, x, short_out);
                p.e.elementwise.add(p.enc, n, main_out, short_out, y);
            }
            None => p.e.elementwise.add(p.enc, n, main_out, x, y),
        }
    }

    fn backward(&self, p: &mut Pass, x: &GpuBuffer, _y: &GpuBuffer, b: Backward) {
        // dL/d(main_out) = dL/d(short_out) = dy.
        let n_in = p.batch * self.main_input_size();
        let d_main = b.dx.map(|_| Self::buf(&self.d_main));
        self.main.backward(
            p,
            x,
            Self::buf(&self.main_out),
            Backward { dy: b.dy, dx: d_main, grads: b.grads },
        );
        match &self.shortcut {
            Some(s) => {
                let d_short = b.dx.map(|_| Self::buf(&self.d_short));
                s.backward(
                    p,
                    x,
                    Self::buf(&self.short_out),
                    Backward { dy: b.dy, dx: d_short, grads: b.grads },
                );
                if let (Some(dx), Some(dm), Some(ds)) = (b.dx, d_main, d_short) {
                    p.e.elementwise.add(p.enc, n_in, dm, ds, dx);
                }
            }
            None => {
                if let (Some(dx), Some(dm)) = (b.dx, d_main) {
                    p.e.elementwise.add(p.enc, n_in, dm, b.dy, dx);
                }
            }
        }
    }

    fn cpu_forward(&self, w: CpuWeights, batch: usize, x: &[f64]) -> Vec<f64> {
        let main = self.main.cpu_forward(w, batch, x);
        let short = match &self.shortcut {
            Some(s) => s.cpu_forward(w, batch, x),
            None => x.to_vec(),
        };
        main.iter().zip(&short).map(|(a, b)| a + b).collect()
    }

    fn macs(&self) -> usize {
        self.main.macs() + self.shortcut.as_ref().map_or(0, |s| s.macs())
    }
}

impl Residual {
    fn main_input_size(&self) -> usize {
        self.main.input_shape().size()
    }
}
