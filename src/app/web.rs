//! The page: the same app, panels and kernels in the browser, on WebGPU (built by
//! `web/build.sh`; see docs/web.md).
//!
//! - eframe's web runner draws into the page's canvas `#dualmcmc_canvas`.
//! - The device is eframe's, requested with the limits the browser's adapter reports; the
//!   compute runs on it through [`Gpu::from_device`], as on the desktop.
//! - No threads: the frames poll the worker ([`WorkerHandle::local`]); its readbacks are
//!   awaited, never waited for.
//! - For tests and for people who script the page, a few functions are exported to
//!   JavaScript: [`status`] (what the app shows, as JSON), [`command`] (what the buttons
//!   send). The page's script puts them on `window.dualmcmc`.

use super::App;
use super::setup::Setup;
use super::state::AppState;
use super::worker::{Command, WorkerHandle};
use crate::gpu::Gpu;
use crate::nn::Engine;
use eframe::{egui, egui_wgpu};
use std::cell::RefCell;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// The id of the canvas the page gives the app.
const CANVAS_ID: &str = "dualmcmc_canvas";

thread_local! {
    /// Commands from JavaScript, taken by the next frame.
    static FROM_PAGE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// What the last frame showed, as JSON.
    static STATUS: RefCell<String> = RefCell::new(r#"{"ready":false}"#.into());
    /// The app's context, to ask for the frame that takes a command.
    static CONTEXT: RefCell<Option<egui::Context>> = const { RefCell::new(None) };
    /// eframe's runner: it knows whether the app panicked (a panic stops the page's app).
    static RUNNER: RefCell<Option<eframe::WebRunner>> = const { RefCell::new(None) };
}

/// Starts the app in the page's canvas (called once the module is loaded).
#[wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = run().await {
            let text = e.as_string().unwrap_or_else(|| format!("{e:?}"));
            show_failure(&text);
        }
    });
}

/// What the app shows now, as JSON: whether a session is ready, the tab, the points of the
/// training curves, the revision and interpolation views (their iteration and steps), the
/// adapter, the iteration,
/// whether training runs, seconds per iteration, the last losses, the landscape (its
/// iteration and the sum of its energies) and the teaching chains (step and mean position),
/// the errors shown, and the frames drawn with the CPU time of one (a moving average, in
/// seconds; the worker's recording runs inside frames).
#[wasm_bindgen]
pub fn status() -> String {
    let panic = RUNNER.with(|r| r.borrow().as_ref().and_then(eframe::WebRunner::panic_summary));
    match panic {
        Some(p) => {
            serde_json::json!({ "ready": false, "failure": format!("the app panicked: {}", p.message()) })
                .to_string()
        }
        None => STATUS.with(|s| s.borrow().clone()),
    }
}

/// Does what a button does: `start`, `pause`, `step`, `reset`, `teach_step`, `teach_reset`,
/// `tab:curves|x|z|interpolation|landscape`, or `toy:NAME`. Taken by the next frame.
#[wasm_bindgen]
pub fn command(what: &str) {
    FROM_PAGE.with(|c| c.borrow_mut().push(what.to_string()));
    CONTEXT.with(|c| c.borrow().as_ref().map(egui::Context::request_repaint));
}

async fn run() -> Result<(), JsValue> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas = document
        .get_element_by_id(CANVAS_ID)
        .ok_or_else(|| format!("the page has no canvas with id '{CANVAS_ID}'"))?
        .dyn_into::<web_sys::HtmlCanvasElement>()?;
    let mut setup = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    // Compute shaders need WebGPU (WebGL has none).
    setup.instance_descriptor.backends = wgpu::Backends::BROWSER_WEBGPU;
    setup.device_descriptor = Arc::new(|adapter: &wgpu::Adapter| wgpu::DeviceDescriptor {
        label: Some("dualmcmc (render and compute)"),
        required_limits: adapter.limits(),
        ..Default::default()
    });
    let options = eframe::WebOptions {
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(setup),
            ..Default::default()
        },
        ..Default::default()
    };
    let runner = eframe::WebRunner::new();
    RUNNER.with(|r| *r.borrow_mut() = Some(runner.clone()));
    runner
        .start(
            canvas,
            options,
            Box::new(|cc| {
                App::setup_fonts(&cc.egui_ctx);
                CONTEXT.with(|c| *c.borrow_mut() = Some(cc.egui_ctx.clone()));
                let rs = cc.wgpu_render_state.as_ref().ok_or("eframe did not start its wgpu renderer")?;
                let gpu = Gpu::from_device(rs.device.clone(), rs.queue.clone(), rs.adapter.get_info());
                let compute = gpu.clone();
                let worker = WorkerHandle::local(move || Arc::new(Engine::new(&compute)));
                let app = App::with_worker(worker, Some(&gpu), Setup::default());
                Ok(Box::new(Page { app, frames: 0, frame_seconds: 0.0 }))
            }),
        )
        .await
}

/// Replaces the canvas with a message when the app cannot start (no WebGPU, most often).
fn show_failure(text: &str) {
    let message = format!(
        "The app could not start: {text}. It needs a browser with WebGPU (see the README's \
         'In the browser' section), or the desktop app."
    );
    if let Some(el) =
        web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("failure"))
    {
        el.set_text_content(Some(&message));
    }
    STATUS.with(|s| *s.borrow_mut() = serde_json::json!({ "ready": false, "failure": message }).to_string());
}

/// The app, with the page's commands and status around each frame.
struct Page {
    app: App,
    /// Frames drawn, and the CPU time of the last ones (seconds, a moving average).
    frames: u64,
    frame_seconds: f64,
}

impl eframe::App for Page {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let began = web_time::Instant::now();
        for what in FROM_PAGE.with(|c| std::mem::take(&mut *c.borrow_mut())) {
            self.page_command(&what);
        }
        self.app.show(ui);
        self.frames += 1;
        let weight = if self.frames == 1 { 1.0 } else { 0.1 };
        self.frame_seconds += weight * (began.elapsed().as_secs_f64() - self.frame_seconds);
        let mut status = status_of(&self.app.state, self.app.adapter_name());
        status["frames"] = self.frames.into();
        status["frame_seconds"] = self.frame_seconds.into();
        STATUS.with(|s| *s.borrow_mut() = status.to_string());
    }
}

impl Page {
    fn page_command(&mut self, what: &str) {
        use super::state::Tab;
        let app = &mut self.app;
        match what {
            "start" => app.send(Command::Run(true)),
            "pause" => app.send(Command::Run(false)),
            "step" => app.send(Command::Step),
            "reset" => super::controls::apply(app),
            "teach_step" => {
                let step = app.state.teach_step;
                app.send(Command::TeachStep(step));
            }
            "teach_reset" => {
                let chains = app.state.teach_chains;
                app.send(Command::TeachReset { chains, from_noise: false });
            }
            "tab:curves" => app.state.tab = Tab::Curves,
            "tab:x" => app.state.tab = Tab::RevisionX,
            "tab:z" => app.state.tab = Tab::RevisionZ,
            "tab:interpolation" => app.state.tab = Tab::Interpolation,
            "tab:landscape" => app.state.tab = Tab::Landscape,
            other => match other.strip_prefix("toy:") {
                Some(name) => super::controls::choose_toy(app, name),
                None => app.state.errors.push(format!("unknown page command '{other}'")),
            },
        }
    }
}

/// The page's status: see [`status`].
fn status_of(s: &AppState, adapter: Option<&str>) -> serde_json::Value {
    let last = s.history.last();
    let recent = &s.history[s.history.len().saturating_sub(20)..];
    let seconds = recent.iter().map(|r| r.seconds).sum::<f64>() / recent.len().max(1) as f64;
    let landscape = s.landscape.as_ref().map(|l| {
        let sum: f64 = l.energies.iter().map(|&e| f64::from(e)).sum();
        serde_json::json!({ "iteration": l.iteration, "cells": l.energies.len(), "energy_sum": sum })
    });
    let teach = s.teach.as_ref().map(|t| {
        let now = t.path.last().map(Vec::as_slice).unwrap_or_default();
        let n = now.len().max(1) as f64;
        let mean = [0, 1].map(|k| now.iter().map(|p| f64::from(p[k])).sum::<f64>() / n);
        serde_json::json!({ "step": t.step, "chains": now.len(), "mean_position": mean })
    });
    let views = serde_json::json!({
        "x": s.x_view.as_ref().map(|v| serde_json::json!({ "iteration": v.iteration, "states": v.states.len() })),
        "z": s.z_view.as_ref().map(|v| serde_json::json!({ "iteration": v.iteration, "states": v.decoded.len() })),
        "interpolation": s.interpolation.as_ref().map(|v| serde_json::json!({ "iteration": v.iteration })),
    });
    serde_json::json!({
        "ready": s.session.is_some(),
        "tab": format!("{:?}", s.tab),
        "curve_points": s.history.len(),
        "views": views,
        "adapter": adapter,
        "data": s.session.as_ref().map(|i| i.data.clone()),
        "iteration": s.iteration,
        "running": s.running,
        "seconds_per_iteration": (!recent.is_empty()).then_some(seconds),
        "losses": last.map(|r| serde_json::json!({
            "generator": r.gen_loss, "inference": r.inf_loss, "ebm": r.ebm_loss,
        })),
        "landscape": landscape,
        "teach": teach,
        "errors": s.errors,
    })
}
