//! The GPU context: adapter choice, device creation, buffers and kernel dispatch.
//!
//! Everything numeric in dualmcmc runs as WGSL compute shaders on a [`Gpu`]. A `Gpu` is
//! created headlessly with [`Gpu::new`] (the command line), or from a device that the
//! desktop app's renderer already owns with [`Gpu::from_device`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod adapter;
mod budget;
mod buffer;
mod kernel;
mod profile;

pub use adapter::{AdapterChoice, DeviceLimits, no_adapter_message};
pub use budget::ResourceError;
pub use buffer::{BufRef, GpuBuffer, ReadbackError, Staging, wait_for};
pub use kernel::{Access, BindGroupScope, Kernel, Kernels, WORKGROUP_1D, flag, grid_1d};
pub use profile::KernelTimes;

/// A device, its queue, and what the adapter is.
#[derive(Clone, Debug)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    counters: Arc<Counters>,
    /// The dispatches being timed, see [`Gpu::start_profile`].
    profile: Arc<std::sync::Mutex<Option<profile::Profile>>>,
    /// Every kernel's bind groups, see [`Gpu::forget_bind_groups`].
    bind_groups: Arc<std::sync::Mutex<Vec<std::sync::Weak<std::sync::Mutex<kernel::BindGroups>>>>>,
}

/// How often the CPU handed work to the GPU and waited for results (shared by clones).
#[derive(Debug, Default)]
struct Counters {
    submissions: AtomicU64,
    readbacks: AtomicU64,
    dispatches: AtomicU64,
}

/// Submissions, readbacks and recorded dispatches so far, see [`Gpu::traffic`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub submissions: u64,
    pub readbacks: u64,
    pub dispatches: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    fn sub(self, rhs: Traffic) -> Traffic {
        Traffic {
            submissions: self.submissions - rhs.submissions,
            readbacks: self.readbacks - rhs.readbacks,
            dispatches: self.dispatches - rhs.dispatches,
        }
    }
}

impl Gpu {
    /// Picks an adapter as `choice` says, requests a device with the limits it says: the
    /// adapter's own by default (wgpu's defaults are far smaller on lavapipe: 256
    /// invocations, 8 storage buffers), or WebGPU's defaults ([`DeviceLimits`]).
    ///
    /// Errors: no adapter matches (the message names the fix), the adapter offers less than
    /// the limits asked for, or the device request fails.
    pub fn new(choice: &AdapterChoice) -> anyhow::Result<Self> {
        let adapter = pollster::block_on(choice.pick())?;
        let limits = choice.limits.request(&adapter)?;
        // Timestamp queries where there are any: `bench train` times each kernel with them.
        let features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("dualmcmc compute"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| {
            anyhow::anyhow!("could not open a device on adapter '{}': {e}", adapter.get_info().name)
        })?;
        Ok(Self::from_device(device, queue, adapter.get_info()))
    }

    /// Wraps a device created elsewhere (eframe's renderer shares its device this way).
    /// The device's limits are taken as granted; request the adapter's limits when creating it.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Self {
        let limits = device.limits();
        Self {
            device,
            queue,
            info,
            limits,
            counters: Arc::default(),
            profile: Arc::default(),
            bind_groups: Arc::default(),
        }
    }

    /// Tells devices apart (clones of one `Gpu` share it).
    fn id(&self) -> usize {
        Arc::as_ptr(&self.counters) as usize
    }

    /// True for software adapters such as Mesa's lavapipe (llvmpipe).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// One line naming the adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`, and
    /// `, WebGPU's default limits` when the device was created with them.
    pub fn describe(&self) -> String {
        let limits = if self.limits == wgpu::Limits::defaults() { ", WebGPU's default limits" } else { "" };
        let name = adapter::name(&self.info);
        // The driver's version matters on CPU adapters: lavapipe from Mesa 25 runs the
        // per-layer kernels 1.8–2.5× faster than Mesa 22.3's (docs/platform.md).
        let driver = match self.info.driver_info.as_str() {
            "" => String::new(),
            info => format!(", {info}"),
        };
        format!("{name} ({:?}, {:?}{driver}{limits})", self.info.backend, self.info.device_type)
    }

    /// Prints the adapter to stderr, with a warning for CPU adapters.
    pub fn announce(&self) {
        crate::say!("adapter: {}", self.describe());
        if self.is_cpu() {
            crate::say!(
                "warning: this is a software (CPU) adapter; it works, but far slower than a GPU. \
                 Install a GPU driver for real speed."
            );
        }
    }

    /// Records commands with `record`, submits them in one submission and returns.
    pub fn submit(&self, record: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let mut encoder = self.encoder();
        record(&mut encoder);
        self.submit_encoder(encoder);
    }

    pub fn encoder(&self) -> wgpu::CommandEncoder {
        self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
    }

    /// Submits a recorded encoder (counted, see [`Gpu::traffic`]).
    pub fn submit_encoder(&self, encoder: wgpu::CommandEncoder) {
        self.counters.submissions.fetch_add(1, Ordering::Relaxed);
        self.queue.submit([encoder.finish()]);
    }

    /// Submissions and readbacks made through this device so far (benchmarks report them;
    /// a test checks that a training iteration makes one of each).
    pub fn traffic(&self) -> Traffic {
        Traffic {
            submissions: self.counters.submissions.load(Ordering::Relaxed),
            readbacks: self.counters.readbacks.load(Ordering::Relaxed),
            dispatches: self.counters.dispatches.load(Ordering::Relaxed),
        }
    }

    /// Makes every kernel drop the bind groups it keeps, and so the buffers they hold: call
    /// when the networks and buffers of a run go away (a trainer does when dropped).
    pub fn forget_bind_groups(&self) {
        let mut caches = self.bind_groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        caches.retain(|weak| weak.upgrade().is_some());
        for cache in caches.iter().filter_map(std::sync::Weak::upgrade) {
            cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
    }

    /// Lists a kernel's bind groups for [`Gpu::forget_bind_groups`].
    pub(super) fn register_bind_groups(&self, cache: &Arc<std::sync::Mutex<kernel::BindGroups>>) {
        let mut caches = self.bind_groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        caches.retain(|weak| weak.upgrade().is_some());
        caches.push(Arc::downgrade(cache));
    }

    /// Counts one recorded dispatch (see [`Kernel::encode`]).
    pub(crate) fn count_dispatch(&self) {
        self.counters.dispatches.fetch_add(1, Ordering::Relaxed);
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) {
        // An error here means the device was lost; the next readback reports it.
        let _ = self.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None });
    }
}
