//! A compute kernel: one WGSL entry point with a fixed binding layout.
//!
//! Binding convention for every shader in `src/ops/`: `@binding(0)` is a uniform block of
//! parameters (a `#[repr(C)]` Pod struct on the Rust side, padded to 16 bytes), and
//! `@binding(1..)` are storage (or uniform, see [`Access`]) buffers in the order the op lists
//! them.

use super::{Gpu, GpuBuffer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// Bind groups a kernel keeps before it starts afresh (a chain's per-step random-number
/// counters make new ones every iteration; everything else repeats).
const MAX_BIND_GROUPS: usize = 1024;

thread_local! {
    /// Whether dispatches recorded on this thread now reuse bind groups (see [`BindGroupScope`]).
    static REUSE_BIND_GROUPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While alive, dispatches recorded on this thread keep and reuse their bind groups. For
/// recordings that repeat with long-lived buffers (a training iteration): a cached bind
/// group keeps its buffers alive, so one-off work with fresh buffers (an evaluation, a
/// picture) must record outside a scope, or the cache would hold its dead buffers.
pub struct BindGroupScope {
    outer: bool,
}

impl BindGroupScope {
    pub fn enter() -> Self {
        Self { outer: REUSE_BIND_GROUPS.with(|r| r.replace(true)) }
    }
}

impl Drop for BindGroupScope {
    fn drop(&mut self) {
        REUSE_BIND_GROUPS.with(|r| r.set(self.outer));
    }
}

/// Workgroup size of the 1-D elementwise kernels; must match `WG` in their WGSL.
pub const WORKGROUP_1D: u32 = 256;

/// How a kernel uses a buffer bound after the params block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `var<storage, read>`
    Read,
    /// `var<storage, read_write>`
    ReadWrite,
    /// `var<uniform>` (the buffer needs `BufferUsages::UNIFORM`; at most
    /// `max_uniform_buffer_binding_size`, 64 KiB on lavapipe). On llvmpipe a uniform load at a
    /// workgroup-uniform index fetches a whole vec4/mat4 per load, where storage loads are
    /// gathered lane by lane; conv2d keeps its weights there.
    Uniform,
}

/// A compiled compute pipeline and its bind group layout.
#[derive(Debug)]
pub struct Kernel {
    pub name: String,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    storage: usize,
    bind_groups: Arc<Mutex<BindGroups>>,
}

/// The pipelines of one kernel family, made on first use and keyed by what each is
/// specialised for (override constants, composed source): the matmul's and the
/// convolutions' variants. A poisoned lock is taken as it is: the map only ever holds
/// finished kernels.
pub struct Kernels<K>(Mutex<HashMap<K, Arc<Kernel>>>);

impl<K> Default for Kernels<K> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<K: Eq + std::hash::Hash> Kernels<K> {
    /// The kernel for `key`, made by `make` the first time it is asked for.
    pub fn get(&self, key: K, make: impl FnOnce() -> Kernel) -> Arc<Kernel> {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry(key).or_insert_with(|| Arc::new(make())))
    }
}

/// A WGSL `override` bool as the value [`Kernel::new`] takes.
pub fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// The bind groups (each with its uniform params block) made for a kernel inside a
/// [`BindGroupScope`], keyed by the params' bytes and the buffers bound: a training
/// iteration repeats the same dispatches, so after the first it creates almost no buffers
/// or bind groups. They keep their buffers
/// alive; [`Gpu::forget_bind_groups`] lets go of them all. A poisoned lock is taken as it
/// is (a wgpu validation error panics inside `create_bind_group`, and the map stays valid).
pub(super) type BindGroups = HashMap<(Vec<u8>, Vec<wgpu::Buffer>), wgpu::BindGroup>;

impl Kernel {
    /// Compiles `entry` of `source`. `constants` set WGSL `override` values (tile sizes,
    /// transposes), so one source gives specialised pipelines.
    pub fn new(gpu: &Gpu, source: &str, entry: &str, storage: &[Access], constants: &[(&str, f64)]) -> Self {
        let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(entry),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let mut entries = vec![layout_entry(0, wgpu::BufferBindingType::Uniform)];
        for (i, access) in storage.iter().enumerate() {
            let ty = match access {
                Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                Access::Uniform => wgpu::BufferBindingType::Uniform,
            };
            entries.push(layout_entry(i as u32 + 1, ty));
        }
        let layout = gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(entry),
            entries: &entries,
        });
        let pipeline_layout = gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let bind_groups = Arc::default();
        gpu.register_bind_groups(&bind_groups);
        Self { name: entry.to_string(), pipeline, layout, storage: storage.len(), bind_groups }
    }

    /// Records one dispatch of `groups` workgroups into `encoder`, with `params` as the
    /// uniform block and `buffers` bound in order.
    pub fn encode<P: bytemuck::Pod>(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        params: &P,
        buffers: &[&GpuBuffer],
        groups: [u32; 3],
    ) {
        assert_eq!(buffers.len(), self.storage, "kernel {} takes {} buffers", self.name, self.storage);
        assert_eq!(std::mem::size_of::<P>() % 16, 0, "params of {} must pad to 16 bytes", self.name);
        if groups.contains(&0) {
            return;
        }
        gpu.count_dispatch();
        let bind_group = self.bind_group(gpu, bytemuck::bytes_of(params), buffers);
        let timed = gpu.profile_slot(&self.name);
        let timestamp_writes = timed.as_ref().map(|(set, i)| wgpu::ComputePassTimestampWrites {
            query_set: set,
            beginning_of_pass_write_index: Some(*i),
            end_of_pass_write_index: Some(i + 1),
        });
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(&self.name), timestamp_writes });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
    }

    /// The bind group of `params` and `buffers`: made once, then reused inside a
    /// [`BindGroupScope`]; made afresh outside one.
    fn bind_group(&self, gpu: &Gpu, params: &[u8], buffers: &[&GpuBuffer]) -> wgpu::BindGroup {
        if !REUSE_BIND_GROUPS.with(std::cell::Cell::get) {
            return self.make_bind_group(gpu, params, buffers);
        }
        let key = (params.to_vec(), buffers.iter().map(|b| b.buffer.clone()).collect::<Vec<_>>());
        let mut cache = self.bind_groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_BIND_GROUPS {
            cache.clear();
        }
        if let Some(group) = cache.get(&key) {
            return group.clone();
        }
        let group = self.make_bind_group(gpu, params, buffers);
        cache.insert(key, group.clone());
        group
    }

    fn make_bind_group(&self, gpu: &Gpu, params: &[u8], buffers: &[&GpuBuffer]) -> wgpu::BindGroup {
        let uniform = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: params,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        for (i, b) in buffers.iter().enumerate() {
            entries
                .push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.buffer.as_entire_binding() });
        }
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.name),
            layout: &self.layout,
            entries: &entries,
        })
    }
}

fn layout_entry(binding: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
        count: None,
    }
}

/// Workgroup grid for `n` threads in groups of `workgroup`: a 2-D grid once one dimension
/// would pass 65,535 groups. Shaders recover the flat index as
/// `gid.x + gid.y * num_workgroups.x * WG`.
pub fn grid_1d(n: usize, workgroup: u32) -> [u32; 3] {
    let groups = n.div_ceil(workgroup as usize) as u32;
    if groups <= 65_535 { [groups, 1, 1] } else { [65_535, groups.div_ceil(65_535), 1] }
}
