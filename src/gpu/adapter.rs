//! Choosing an adapter: prefer a real GPU, fall back to a CPU adapter, let the user choose.

use anyhow::bail;

/// Which adapter to use. Both fields narrow the choice; empty means "any".
///
/// Set from the command line (`--backend`, `--adapter`) or from the environment
/// (`DUALMCMC_BACKEND`, `DUALMCMC_ADAPTER`).
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    /// Backends to consider, e.g. `vulkan`, `metal`, `dx12`, `gl` (comma separated).
    pub backend: Option<String>,
    /// A case-insensitive substring of the adapter's name, e.g. `llvmpipe` or `nvidia`.
    pub name: Option<String>,
    /// The limits the device is created with.
    pub limits: DeviceLimits,
}

/// The limits a device is requested with (`--limits`, `DUALMCMC_LIMITS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceLimits {
    /// Everything the adapter offers (lavapipe: 1,024 invocations per workgroup, 2 GiB
    /// buffers; wgpu's defaults would be far smaller).
    #[default]
    Adapter,
    /// WebGPU's defaults, which every WebGPU device grants (browsers, and GPUs smaller than
    /// this machine's): 8 storage buffers per stage, 256 invocations per workgroup, 16 KiB
    /// of workgroup memory, 64 KiB uniform bindings, 128 MiB storage bindings, 256 MiB
    /// buffers. What runs under them runs anywhere.
    Webgpu,
}

impl DeviceLimits {
    /// Reads `DUALMCMC_LIMITS` (`adapter` or `webgpu`; unset or empty: `adapter`).
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("DUALMCMC_LIMITS").ok().filter(|s| !s.is_empty()) {
            None => Ok(Self::Adapter),
            Some(v) => <Self as clap::ValueEnum>::from_str(&v, true)
                .map_err(|_| anyhow::anyhow!("DUALMCMC_LIMITS={v}: expected `adapter` or `webgpu`")),
        }
    }

    /// The limits to request from `adapter`.
    ///
    /// Errors: WebGPU's defaults asked of an adapter that offers less (naming the limit).
    pub fn request(self, adapter: &wgpu::Adapter) -> anyhow::Result<wgpu::Limits> {
        let offered = adapter.limits();
        match self {
            Self::Adapter => Ok(offered),
            Self::Webgpu => {
                let webgpu = wgpu::Limits::defaults();
                let mut short = Vec::new();
                webgpu.check_limits_with_fail_fn(&offered, false, |name, wanted, got| {
                    short.push(format!("{name} {got} < {wanted}"))
                });
                anyhow::ensure!(
                    short.is_empty(),
                    "adapter '{}' offers less than WebGPU's default limits: {}",
                    adapter.get_info().name,
                    short.join(", ")
                );
                Ok(webgpu)
            }
        }
    }
}

impl AdapterChoice {
    /// Reads `DUALMCMC_BACKEND`, `DUALMCMC_ADAPTER` and `DUALMCMC_LIMITS` (a value of the last
    /// that is neither `adapter` nor `webgpu` panics: this is for tests and tools).
    pub fn from_env() -> Self {
        Self {
            backend: std::env::var("DUALMCMC_BACKEND").ok().filter(|s| !s.is_empty()),
            name: std::env::var("DUALMCMC_ADAPTER").ok().filter(|s| !s.is_empty()),
            limits: DeviceLimits::from_env().unwrap_or_else(|e| panic!("{e}")),
        }
    }

    /// The backends this choice allows (all when unset).
    pub fn backends(&self) -> anyhow::Result<wgpu::Backends> {
        let Some(list) = &self.backend else {
            return Ok(wgpu::Backends::all());
        };
        let mut backends = wgpu::Backends::empty();
        for word in list.split(',').map(|w| w.trim().to_ascii_lowercase()) {
            backends |= match word.as_str() {
                "vulkan" | "vk" => wgpu::Backends::VULKAN,
                "metal" | "mtl" => wgpu::Backends::METAL,
                "dx12" | "d3d12" => wgpu::Backends::DX12,
                "gl" | "gles" | "opengl" => wgpu::Backends::GL,
                other => {
                    bail!("unknown backend '{other}' in the adapter choice; use vulkan, metal, dx12 or gl")
                }
            };
        }
        Ok(backends)
    }

    /// Lists the adapters that match, best first: discrete GPU, integrated, virtual, CPU;
    /// Vulkan/Metal/DX12 before GL at equal type (a GL compute instance beside eframe's GL
    /// renderer panicked here, see docs/platform.md §1).
    pub async fn candidates(&self) -> anyhow::Result<Vec<wgpu::Adapter>> {
        let backends = self.backends()?;
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        Ok(self.ranked(instance.enumerate_adapters(backends).await))
    }

    /// `adapters` that match the name, best first (see [`AdapterChoice::candidates`]).
    pub fn ranked(&self, adapters: impl IntoIterator<Item = wgpu::Adapter>) -> Vec<wgpu::Adapter> {
        let wanted = self.name.as_ref().map(|n| n.to_ascii_lowercase());
        let mut adapters: Vec<wgpu::Adapter> = adapters
            .into_iter()
            .filter(|a| match &wanted {
                Some(w) => a.get_info().name.to_ascii_lowercase().contains(w),
                None => true,
            })
            .collect();
        adapters.sort_by_key(|a| rank(&a.get_info()));
        adapters
    }

    /// The best matching adapter, or an error that names the fix and the adapters there are.
    pub async fn pick(&self) -> anyhow::Result<wgpu::Adapter> {
        if let Some(adapter) = self.candidates().await?.into_iter().next() {
            return Ok(adapter);
        }
        let everything = AdapterChoice::default().candidates().await?;
        let found: Vec<wgpu::AdapterInfo> = everything.iter().map(|a| a.get_info()).collect();
        bail!("{}", no_adapter_message(self, &found))
    }
}

fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let backend = u8::from(info.backend == wgpu::Backend::Gl);
    (kind, backend)
}

/// The error shown when no adapter matches: what was asked for, the adapters `found` on
/// this machine under any backend and name (so a user sees what `--adapter` may name), and
/// how to fix it.
pub fn no_adapter_message(choice: &AdapterChoice, found: &[wgpu::AdapterInfo]) -> String {
    let mut asked = Vec::new();
    if let Some(b) = &choice.backend {
        asked.push(format!("backend '{b}'"));
    }
    if let Some(n) = &choice.name {
        asked.push(format!("name containing '{n}'"));
    }
    let asked = if asked.is_empty() {
        "no GPU adapter was found".to_string()
    } else {
        format!("no GPU adapter matches {}", asked.join(" and "))
    };
    if !found.is_empty() {
        let names: Vec<String> = found.iter().map(describe).collect();
        return format!(
            "{asked}. Adapters on this machine: {}. Name one with --adapter (a part of its name) \
             and/or --backend, or unset DUALMCMC_ADAPTER/DUALMCMC_BACKEND.",
            names.join("; ")
        );
    }
    format!(
        "{asked}. Install a GPU driver (Vulkan, Metal or DX12), or the software Vulkan driver: \
         on Debian/Ubuntu `sudo apt-get install mesa-vulkan-drivers libvulkan1`. \
         To widen the choice, unset DUALMCMC_ADAPTER/DUALMCMC_BACKEND or drop --adapter/--backend."
    )
}

/// `'name' (Backend, DeviceType)`, the `adapter:` line's words with the name quoted.
fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("'{}' ({:?}, {:?})", name(info), info.backend, info.device_type)
}

/// The adapter's name, or what it is when the driver gives none (browsers keep it to themselves).
pub(super) fn name(info: &wgpu::AdapterInfo) -> &str {
    match (info.name.as_str(), info.backend) {
        ("", wgpu::Backend::BrowserWebGpu) => "the browser's WebGPU adapter",
        ("", _) => "an unnamed adapter",
        (name, _) => name,
    }
}
