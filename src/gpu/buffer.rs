//! Storage buffers of 32-bit elements (f32 or u32), upload and readback.
//!
//! A readback is a future ([`Gpu::read_async`], [`Gpu::map_read_async`]): natively the
//! device is polled until the copy is done, so the future is ready at once and the blocking
//! forms ([`Gpu::read`], [`Gpu::map_read`]) just wait for it; in the browser the mapping
//! completes on a later turn of the page's event loop, so code there awaits it.

use super::Gpu;
use wgpu::util::DeviceExt;

/// A storage buffer of `len` 32-bit elements. Shapes live with the layers, not here.
#[derive(Clone, Debug)]
pub struct GpuBuffer {
    pub buffer: wgpu::Buffer,
    pub len: usize,
}

/// A tensor inside a buffer: the buffer and the element offset where it starts. Layers keep
/// their weights at offsets inside one flat parameter buffer (and their gradients at the same
/// offsets inside one flat gradient buffer), so ops take parameters as `BufRef`s.
#[derive(Clone, Copy, Debug)]
pub struct BufRef<'a> {
    pub buf: &'a GpuBuffer,
    pub offset: usize,
}

impl<'a> BufRef<'a> {
    pub fn new(buf: &'a GpuBuffer, offset: usize) -> Self {
        Self { buf, offset }
    }
    /// Elements available from the offset to the end of the buffer.
    pub fn available(&self) -> usize {
        self.buf.len.saturating_sub(self.offset)
    }
}

impl<'a> From<&'a GpuBuffer> for BufRef<'a> {
    fn from(buf: &'a GpuBuffer) -> Self {
        Self { buf, offset: 0 }
    }
}

/// A readback failed: the device was lost or the mapping was refused.
#[derive(Debug, thiserror::Error)]
#[error("reading a buffer back from the GPU failed: {0}")]
pub struct ReadbackError(String);

/// The size of the stand-in for a buffer refused inside [`Gpu::checked`].
const STAND_IN: u64 = 4;

const USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    /// A zero-filled buffer of `len` elements (at least one element is allocated, since
    /// wgpu refuses empty bindings). Inside [`Gpu::checked`], a buffer that does not fit is
    /// refused there and gets a 4-byte stand-in.
    pub fn zeros(&self, len: usize) -> GpuBuffer {
        self.zeroed(len, USAGE)
    }

    /// As [`Gpu::zeros`], for a buffer that is also bound as a uniform buffer (weights that
    /// kernels pack for lavapipe's cheaper uniform loads, `ops::mlp_chain`, `ops::conv2d`).
    pub fn uniform_zeros(&self, len: usize) -> GpuBuffer {
        self.zeroed(len, USAGE | wgpu::BufferUsages::UNIFORM)
    }

    fn zeroed(&self, len: usize, usage: wgpu::BufferUsages) -> GpuBuffer {
        let admitted = self.admit(len);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: if admitted { (len.max(1) * 4) as u64 } else { STAND_IN },
            usage,
            mapped_at_creation: false,
        });
        GpuBuffer { buffer, len }
    }

    /// A buffer holding `data` (f32 or u32).
    pub fn upload<T: bytemuck::Pod>(&self, data: &[T]) -> GpuBuffer {
        assert_eq!(std::mem::size_of::<T>(), 4, "GpuBuffer holds 32-bit elements");
        if data.is_empty() || !self.fits(data.len()) {
            return self.zeros(data.len());
        }
        self.admit(data.len());
        let buffer = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(data),
            usage: USAGE,
        });
        GpuBuffer { buffer, len: data.len() }
    }

    /// Overwrites the start of `dst` with `data` (applied before the next submission).
    pub fn write<T: bytemuck::Pod>(&self, dst: &GpuBuffer, data: &[T]) {
        assert!(data.len() <= dst.len, "write of {} elements into {}", data.len(), dst.len);
        self.queue.write_buffer(&dst.buffer, 0, bytemuck::cast_slice(data));
    }

    /// Copies the buffer to the CPU, waiting for all submitted work first.
    ///
    /// # Errors
    /// The device was lost, or (in the browser, where a readback cannot block) always: use
    /// [`Gpu::read_async`] there.
    pub fn read<T: bytemuck::Pod>(&self, src: &GpuBuffer) -> Result<Vec<T>, ReadbackError> {
        wait_for(self.read_async(src))
    }

    /// [`Gpu::read`] as a future.
    pub async fn read_async<T: bytemuck::Pod>(&self, src: &GpuBuffer) -> Result<Vec<T>, ReadbackError> {
        let staging = self.staging(src.len);
        let mut enc = self.encoder();
        staging.copy_from(&mut enc, src);
        self.submit_encoder(enc);
        self.map_read_async(&staging).await
    }

    /// Copies several buffers to the CPU in one readback (one staging buffer, one mapping),
    /// waiting for all submitted work first: in the browser every readback costs a turn of
    /// the page's event loop, so views read everything they need at once.
    pub async fn read_many_async<T: bytemuck::Pod>(
        &self,
        srcs: &[&GpuBuffer],
    ) -> Result<Vec<Vec<T>>, ReadbackError> {
        let staging = self.staging(srcs.iter().map(|b| b.len).sum());
        let mut enc = self.encoder();
        let mut at = 0;
        for src in srcs {
            enc.copy_buffer_to_buffer(&src.buffer, 0, &staging.buffer, (at * 4) as u64, (src.len * 4) as u64);
            at += src.len;
        }
        self.submit_encoder(enc);
        let mut all: Vec<T> = self.map_read_async(&staging).await?;
        let mut out = Vec::with_capacity(srcs.len());
        for src in srcs.iter().rev() {
            out.push(all.split_off(all.len() - src.len));
        }
        out.reverse();
        Ok(out)
    }

    /// A mappable buffer for `len` elements, to read results back without an extra
    /// submission: record [`Staging::copy_from`] at the end of an encoder, submit it, then
    /// [`Gpu::map_read`].
    pub fn staging(&self, len: usize) -> Staging {
        let admitted = self.admit(len);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: if admitted { (len.max(1) * 4) as u64 } else { STAND_IN },
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Staging { buffer, len }
    }

    /// Waits for the GPU and returns the staging buffer's contents (one readback).
    ///
    /// # Errors
    /// As [`Gpu::read`].
    pub fn map_read<T: bytemuck::Pod>(&self, staging: &Staging) -> Result<Vec<T>, ReadbackError> {
        wait_for(self.map_read_async(staging))
    }

    /// [`Gpu::map_read`] as a future: one `map_async` of the staging buffer.
    pub async fn map_read_async<T: bytemuck::Pod>(&self, staging: &Staging) -> Result<Vec<T>, ReadbackError> {
        assert_eq!(std::mem::size_of::<T>(), 4, "GpuBuffer holds 32-bit elements");
        if staging.len == 0 {
            return Ok(Vec::new());
        }
        self.counters.readbacks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = futures::channel::oneshot::channel();
        let bytes = (staging.len * 4) as u64;
        staging.buffer.map_async(wgpu::MapMode::Read, ..bytes, move |r| {
            let _ = tx.send(r);
        });
        // Natively this runs the callback above; in the browser it returns at once and the
        // browser runs the callback when the GPU is done.
        self.device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
            .map_err(|e| ReadbackError(e.to_string()))?;
        rx.await.map_err(|e| ReadbackError(e.to_string()))?.map_err(|e| ReadbackError(e.to_string()))?;
        let view = staging.buffer.get_mapped_range(..bytes).map_err(|e| ReadbackError(e.to_string()))?;
        let out = bytemuck::cast_slice(&view).to_vec();
        drop(view);
        staging.buffer.unmap();
        Ok(out)
    }
}

/// The result of a future that reads back from the GPU, waited for: natively it is ready
/// once polled (the device is polled to completion inside each readback). In the browser
/// nothing may block, so a readback that is not ready is an error that says to await it.
pub fn wait_for<T, E: From<ReadbackError>>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    #[cfg(not(target_arch = "wasm32"))]
    return pollster::block_on(f);
    #[cfg(target_arch = "wasm32")]
    {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => Err(ReadbackError(
                "a blocking readback in the browser (this path must await the readback)".into(),
            )
            .into()),
        }
    }
}

/// A CPU-readable copy target (see [`Gpu::staging`]).
#[derive(Debug)]
pub struct Staging {
    buffer: wgpu::Buffer,
    pub len: usize,
}

impl Staging {
    pub(super) fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Records a copy of the first `self.len` elements of `src` into this buffer.
    pub fn copy_from(&self, enc: &mut wgpu::CommandEncoder, src: &GpuBuffer) {
        let n = self.len.min(src.len);
        enc.copy_buffer_to_buffer(&src.buffer, 0, &self.buffer, 0, (n * 4) as u64);
    }
}
