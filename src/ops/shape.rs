//! The shape of an image batch in NCHW layout, shared by the spatial ops.

/// `[batch, channels, height, width]`, row-major f32 (PyTorch's default NCHW layout):
/// element `(n, c, h, w)` sits at `((n·channels + c)·height + h)·width + w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nchw {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Nchw {
    pub fn new(batch: usize, channels: usize, height: usize, width: usize) -> Self {
        Self { batch, channels, height, width }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.planes() * self.height * self.width
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of `height × width` planes, batch·channels.
    pub fn planes(&self) -> usize {
        self.batch * self.channels
    }

    /// The same batch and channels with another spatial size.
    pub fn with_spatial(&self, height: usize, width: usize) -> Self {
        Self { height, width, ..*self }
    }
}

/// Uniform block shared by `pool.wgsl` and `upsample.wgsl`: the planes and spatial size of
/// the layer's input, and where `src` and `dst` start in their buffers.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct PlaneParams {
    planes: u32,
    in_h: u32,
    in_w: u32,
    src_off: u32,
    dst_off: u32,
    _pad: [u32; 3],
}

/// Records one pass of a plane kernel: one thread per `dst` element. `input` is the layer's
/// input shape (what the WGSL calls in_h × in_w); `src_len`/`dst_len` are the elements the
/// kernel reads/writes, checked against the buffers.
pub(crate) fn encode_planes(
    gpu: &crate::gpu::Gpu,
    kernel: &crate::gpu::Kernel,
    enc: &mut wgpu::CommandEncoder,
    input: Nchw,
    src: (crate::gpu::BufRef, usize),
    dst: (crate::gpu::BufRef, usize),
) {
    let ((src, src_len), (dst, dst_len)) = (src, dst);
    assert!(
        src.available() >= src_len,
        "{}: source has {} elements from offset {}, needs {src_len}",
        kernel.name,
        src.available(),
        src.offset
    );
    assert!(
        dst.available() >= dst_len,
        "{}: destination has {} elements from offset {}, needs {dst_len}",
        kernel.name,
        dst.available(),
        dst.offset
    );
    let p = PlaneParams {
        planes: input.planes() as u32,
        in_h: input.height as u32,
        in_w: input.width as u32,
        src_off: src.offset as u32,
        dst_off: dst.offset as u32,
        _pad: [0; 3],
    };
    let groups = crate::gpu::grid_1d(dst_len, crate::gpu::WORKGROUP_1D);
    kernel.encode(gpu, enc, &p, &[src.buf, dst.buf], groups);
}
