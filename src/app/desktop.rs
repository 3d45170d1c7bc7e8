//! The desktop window: eframe's native runner on the adapter the command line picks.

use super::App;
use super::setup::Setup;
use crate::gpu::{AdapterChoice, Gpu};
use crate::nn::Engine;
use eframe::{egui, egui_wgpu};
use std::sync::Arc;

/// Opens the desktop app on the adapter `choice` picks; returns when the window closes.
///
/// One device: eframe creates it with the adapter's own limits (wgpu's defaults are far
/// smaller on lavapipe) or with WebGPU's defaults when `choice.limits` says so, and the
/// compute runs on it through [`Gpu::from_device`].
///
/// Errors: no display (the message points to `--no-gui`), no adapter, or eframe's errors.
pub fn run(choice: &AdapterChoice) -> anyhow::Result<()> {
    if let Some(why) = missing_display() {
        anyhow::bail!("{why}");
    }
    let backends = choice.backends()?;
    let selector = choice.clone();
    let mut setup = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    setup.instance_descriptor.backends = backends;
    setup.native_adapter_selector = Some(Arc::new(move |adapters: &[wgpu::Adapter], _surface| {
        selector.ranked(adapters.iter().cloned()).into_iter().next().ok_or_else(|| {
            let found: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
            crate::gpu::no_adapter_message(&selector, &found)
        })
    }));
    let asked = choice.limits;
    setup.device_descriptor = Arc::new(move |adapter: &wgpu::Adapter| {
        // An adapter short of WebGPU's defaults gets its own limits (and the header says which).
        let limits = asked.request(adapter).unwrap_or_else(|_| adapter.limits());
        wgpu::DeviceDescriptor {
            label: Some("dualmcmc (render and compute)"),
            required_features: wgpu::Features::empty(),
            required_limits: limits,
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }
    });
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: egui::ViewportBuilder::default()
            .with_title("dualmcmc — Dual-MCMC teaching")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([900.0, 600.0]),
        wgpu_options: egui_wgpu::WgpuConfiguration {
            // No vsync: presenting a hidden (minimised) window with AutoVsync can block other
            // threads' device calls (wgpu#8597), which would stall training. The UI repaints
            // only on events, so this does not spin.
            surface: egui_wgpu::SurfaceConfig {
                present_mode: wgpu::PresentMode::AutoNoVsync,
                desired_maximum_frame_latency: Some(2),
            },
            wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(setup),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "dualmcmc",
        options,
        Box::new(|cc| {
            App::setup_fonts(&cc.egui_ctx);
            let rs = cc.wgpu_render_state.as_ref().ok_or("eframe did not start its wgpu renderer")?;
            let gpu = Gpu::from_device(rs.device.clone(), rs.queue.clone(), rs.adapter.get_info());
            gpu.announce();
            let compute = gpu.clone();
            let app = App::new(move || Arc::new(Engine::new(&compute)), Some(&gpu), Setup::default());
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| {
        let text = e.to_string();
        if text.contains("DISPLAY") || text.to_ascii_lowercase().contains("display") {
            anyhow::anyhow!("{}", no_display_message(&text))
        } else {
            anyhow::anyhow!(
                "the desktop app could not start: {text}. Without a usable display, run the \
                 headless commands with --no-gui (see `dualmcmc --no-gui --help`)"
            )
        }
    })
}

/// Why no window can open, when neither X11 nor Wayland is reachable (Linux and the BSDs).
fn missing_display() -> Option<String> {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return None;
    }
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    (!set("DISPLAY") && !set("WAYLAND_DISPLAY"))
        .then(|| no_display_message("neither DISPLAY nor WAYLAND_DISPLAY is set"))
}

fn no_display_message(why: &str) -> String {
    format!(
        "the desktop app needs a display ({why}). Run the headless commands with --no-gui, \
         e.g. `dualmcmc --no-gui train --preset toy2d` (see `dualmcmc --no-gui --help`), \
         or start a virtual display: `Xvfb :99 & DISPLAY=:99 dualmcmc`"
    )
}
