//! Buffer sizes checked against the device before wgpu sees them.
//!
//! wgpu panics when a buffer is larger than the device allows, and memory that is not there
//! aborts the process. [`Gpu::checked`] runs a construction (a trainer's networks and
//! buffers) with every buffer request checked:
//! - against `max_buffer_size`;
//! - against `max_storage_buffer_binding_size` (kernels bind whole buffers as storage);
//! - summed, against the memory there is: system memory for a CPU adapter, which allocates
//!   there. wgpu reports no memory size for GPUs; there the device's own out-of-memory
//!   error, caught in an error scope, is the check.
//!
//! A request that does not fit is recorded and gets a 4-byte stand-in, so the construction
//! runs to its end without allocating; the caller then gets the first refusal as an error that
//! names what asked for the buffer, the settings that size it, the size and the limit.

use super::Gpu;
use std::cell::RefCell;

/// A construction's buffers did not fit the device.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error(
        "{what} needs a buffer of {}, more than the {} this device allows (its {limit}); lower {settings}",
        bytes(*size), bytes(*max)
    )]
    BufferTooLarge { what: String, settings: String, size: u64, max: u64, limit: &'static str },
    #[error(
        "{what} would bring this run's buffers to {}, more than the {} of memory available \
         ({why}); lower {settings}",
        bytes(*total), bytes(*available)
    )]
    OutOfMemory { what: String, settings: String, total: u64, available: u64, why: &'static str },
    #[error("the device refused the buffers of {what}: {message}; lower {settings}")]
    Device { what: String, settings: String, message: String },
}

/// `n` bytes in words: `4000000084 bytes (3.7 GiB)`.
fn bytes(n: u64) -> String {
    let (mib, gib) = (n as f64 / f64::from(1u32 << 20), n as f64 / f64::from(1u32 << 30));
    match n {
        _ if gib >= 1.0 => format!("{n} bytes ({gib:.1} GiB)"),
        _ if mib >= 1.0 => format!("{n} bytes ({mib:.0} MiB)"),
        _ => format!("{n} bytes"),
    }
}

/// What is being allocated (for errors): the buffers, and the settings that size them.
#[derive(Clone, Debug, Default)]
struct Purpose {
    what: String,
    settings: String,
}

/// The requests of one [`Gpu::checked`] construction.
#[derive(Debug)]
pub(super) struct Ledger {
    purpose: Purpose,
    total: u64,
    /// Memory the buffers may take, and why that much; `None` where it is not known.
    available: Option<(u64, &'static str)>,
    refused: Option<ResourceError>,
}

thread_local! {
    /// The requests being checked on this thread, with the device they are for (its
    /// identity, see [`Gpu::id`]). Per thread, as wgpu's error scopes are: a check covers
    /// what the calling thread allocates.
    static LEDGER: RefCell<Option<(usize, Ledger)>> = const { RefCell::new(None) };
}

impl Gpu {
    /// Runs `f` (which allocates buffers through this `Gpu`) with every buffer request checked
    /// against the device's limits and the memory there is; see the module docs. Name what
    /// is allocated with [`Gpu::allocating`] as `f` goes.
    ///
    /// # Errors
    /// The first request that does not fit, or an error the device raised while `f` ran.
    pub fn checked<T>(&self, f: impl FnOnce() -> T) -> Result<T, ResourceError> {
        let why = "a CPU adapter's buffers are system memory";
        let available = self.is_cpu().then(system_memory_available).flatten().map(|m| (m, why));
        let ledger = Ledger { purpose: Purpose::default(), total: 0, available, refused: None };
        let outer = LEDGER.replace(Some((self.id(), ledger)));
        let (out, device_error) = self.scoped(f);
        let (_, ledger) = LEDGER.replace(outer).expect("the ledger stays while f runs");
        if let Some(refused) = ledger.refused {
            return Err(refused);
        }
        match device_error {
            Some(e) => Err(ResourceError::Device {
                what: ledger.purpose.what,
                settings: ledger.purpose.settings,
                message: e.to_string(),
            }),
            None => Ok(out),
        }
    }

    /// Runs `f` inside OutOfMemory and Validation error scopes and returns the first error
    /// the device raised. In the browser a scope's result arrives on a later turn of the
    /// event loop and nothing may wait for it: there the limit checks above are the check,
    /// and the browser reports any device error in its console.
    fn scoped<T>(&self, f: impl FnOnce() -> T) -> (T, Option<wgpu::Error>) {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
            let invalid = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let out = f();
            let invalid = pollster::block_on(invalid.pop());
            let oom = pollster::block_on(oom.pop());
            (out, oom.or(invalid))
        }
        #[cfg(target_arch = "wasm32")]
        (f(), None)
    }

    /// Names the buffers that the next requests inside [`Gpu::checked`] are for, and the
    /// settings that size them (no effect outside it).
    pub fn allocating(&self, what: impl Into<String>, settings: impl Into<String>) {
        self.with_ledger(|ledger| ledger.purpose = Purpose { what: what.into(), settings: settings.into() });
    }

    /// Whether a buffer of `len` 32-bit elements fits, without recording it (to skip building
    /// its contents on the CPU when it won't).
    pub fn fits(&self, len: usize) -> bool {
        self.with_ledger(|ledger| self.refusal(ledger, buffer_size(len)).is_none()).unwrap_or(true)
    }

    /// Records a request for `len` elements; `false` if it does not fit (inside
    /// [`Gpu::checked`] only; outside, every request is let through to wgpu).
    pub(super) fn admit(&self, len: usize) -> bool {
        let size = buffer_size(len);
        self.with_ledger(|ledger| {
            if ledger.refused.is_some() {
                return false;
            }
            match self.refusal(ledger, size) {
                Some(e) => {
                    ledger.refused = Some(e);
                    false
                }
                None => {
                    ledger.total += size;
                    true
                }
            }
        })
        .unwrap_or(true)
    }

    fn refusal(&self, ledger: &Ledger, size: u64) -> Option<ResourceError> {
        let Purpose { what, settings } = ledger.purpose.clone();
        let limits = [
            (self.limits.max_buffer_size, "max_buffer_size"),
            (self.limits.max_storage_buffer_binding_size, "max_storage_buffer_binding_size"),
        ];
        if let Some(&(max, limit)) = limits.iter().filter(|(max, _)| size > *max).min_by_key(|(max, _)| *max)
        {
            return Some(ResourceError::BufferTooLarge { what, settings, size, max, limit });
        }
        match ledger.available {
            Some((available, why)) if ledger.total + size > available => Some(ResourceError::OutOfMemory {
                what,
                settings,
                total: ledger.total + size,
                available,
                why,
            }),
            _ => None,
        }
    }

    /// Runs `f` on this thread's ledger if it is for this device (`None` if there is none).
    fn with_ledger<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> Option<T> {
        LEDGER.with_borrow_mut(|slot| match slot {
            Some((id, ledger)) if *id == self.id() => Some(f(ledger)),
            _ => None,
        })
    }
}

/// Bytes of a buffer of `len` 32-bit elements (at least one, see [`Gpu::zeros`]).
fn buffer_size(len: usize) -> u64 {
    (len.max(1) as u64).saturating_mul(4)
}

/// Memory the system can give now without swapping (`None` where the system won't say).
fn system_memory_available() -> Option<u64> {
    let mut system = sysinfo::System::new().ok()?;
    system.refresh_memory();
    Some(system.available_memory()).filter(|&m| m > 0)
}
