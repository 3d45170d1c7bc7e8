//! Per-kernel GPU time from timestamp queries: [`Gpu::start_profile`] makes every following
//! dispatch write a timestamp at the start and end of its pass; [`Gpu::finish_profile`]
//! reads them back and sums the time per kernel. Only for benchmarks: it needs the adapter's
//! `TIMESTAMP_QUERY` feature, and it adds a readback.

use super::Gpu;
use std::collections::BTreeMap;

/// Timestamp queries per query set (wgpu's maximum is 4,096): 2,048 dispatches.
const QUERIES_PER_SET: u32 = 4096;

/// The dispatches recorded while a profile is on: their kernel names, and query sets with
/// a begin and an end query per dispatch.
#[derive(Debug, Default)]
pub(super) struct Profile {
    sets: Vec<wgpu::QuerySet>,
    names: Vec<String>,
}

/// GPU time per kernel over the profiled dispatches, in seconds.
#[derive(Clone, Debug, Default)]
pub struct KernelTimes {
    /// Kernel name → (dispatches, seconds inside them), sorted by name.
    pub per_kernel: BTreeMap<String, (usize, f64)>,
    /// From the first dispatch's start to the last one's end.
    pub span: f64,
}

impl KernelTimes {
    /// Seconds inside dispatches; `span` minus this is the time between them (barriers,
    /// the driver's work per dispatch).
    pub fn inside(&self) -> f64 {
        self.per_kernel.values().map(|v| v.1).sum()
    }

    /// The kernels, most time first.
    pub fn ranked(&self) -> Vec<(&str, usize, f64)> {
        let mut v: Vec<_> = self.per_kernel.iter().map(|(k, &(n, s))| (k.as_str(), n, s)).collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }
}

impl Gpu {
    /// Whether [`Gpu::start_profile`] can time kernels on this device.
    pub fn can_profile(&self) -> bool {
        self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Times every dispatch recorded from now on until [`Gpu::finish_profile`]. Returns
    /// false (and times nothing) when the device lacks timestamp queries.
    pub fn start_profile(&self) -> bool {
        if !self.can_profile() {
            return false;
        }
        *self.profile.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Profile::default());
        true
    }

    /// The query set and index pair for the next dispatch of `kernel`, when profiling.
    pub(super) fn profile_slot(&self, kernel: &str) -> Option<(wgpu::QuerySet, u32)> {
        let mut guard = self.profile.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let p = guard.as_mut()?;
        let slot = p.names.len() as u32 * 2;
        let (set, index) = ((slot / QUERIES_PER_SET) as usize, slot % QUERIES_PER_SET);
        if set == p.sets.len() {
            p.sets.push(self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile"),
                ty: wgpu::QueryType::Timestamp,
                count: QUERIES_PER_SET,
            }));
        }
        p.names.push(kernel.to_string());
        Some((p.sets[set].clone(), index))
    }

    /// Stops profiling and, after the GPU has finished the profiled work, returns the time
    /// per kernel. None when no profile was started or its readback fails.
    pub fn finish_profile(&self) -> Option<KernelTimes> {
        let p = self.profile.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()?;
        let n = p.names.len() as u64 * 2;
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile resolve"),
            size: n.max(1) * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = self.staging((n * 2) as usize);
        let mut enc = self.encoder();
        for (i, set) in p.sets.iter().enumerate() {
            let first = i as u64 * u64::from(QUERIES_PER_SET);
            let count = (n - first).min(u64::from(QUERIES_PER_SET)) as u32;
            enc.resolve_query_set(set, 0..count, &resolve, first * 8);
        }
        enc.copy_buffer_to_buffer(&resolve, 0, staging.buffer(), 0, n * 8);
        self.submit_encoder(enc);
        let words: Vec<u32> = self.map_read(&staging).ok()?;
        let ticks: Vec<u64> = words.chunks(2).map(|w| u64::from(w[0]) | (u64::from(w[1]) << 32)).collect();
        let tick = f64::from(self.queue.get_timestamp_period()) * 1e-9;
        let mut times = KernelTimes::default();
        for (k, name) in p.names.iter().enumerate() {
            let (start, end) = (ticks[2 * k], ticks[2 * k + 1]);
            let entry = times.per_kernel.entry(name.clone()).or_default();
            entry.0 += 1;
            entry.1 += end.saturating_sub(start) as f64 * tick;
        }
        if let (Some(first), Some(last)) = (ticks.first(), ticks.last()) {
            times.span = last.saturating_sub(*first) as f64 * tick;
        }
        Some(times)
    }
}
