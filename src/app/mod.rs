//! The desktop app (eframe/egui, wgpu renderer): live training, the MCMC revision on x and
//! on z step by step, latent interpolation and, for 2-D data, the energy landscape with
//! Langevin chains moving on it.
//!
//! The UI draws and keeps [`AppState`]; the [`worker`] owns the trainer and answers commands
//! with events over channels. On the desktop the worker has its own thread; in the browser
//! (no threads) each frame polls it ([`worker::WorkerHandle::local`]). Both use one wgpu
//! device: eframe's, created with the adapter's own limits ([`desktop::run`]) or with the
//! limits the browser's adapter reports ([`web`]).
//!
//! [`desktop`] opens the window, [`web`] starts the page (the browser build). One file per
//! panel: [`controls`], [`curves`], [`revision_x`], [`revision_z`],
//! [`interpolation`], [`landscape`].

pub mod controls;
pub mod curves;
#[cfg(not(target_arch = "wasm32"))]
pub mod desktop;
pub mod interpolation;
pub mod landscape;
pub mod revision_x;
pub mod revision_z;
pub mod setup;
pub mod state;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod worker;

use crate::gpu::Gpu;
use eframe::egui;
use setup::Setup;
use state::{AppState, Tab};
use std::collections::HashMap;
use std::time::Duration;
use web_time::Instant;
use worker::{Command, ViewRequest, WorkerHandle};

/// The header's warning on a CPU adapter.
const CPU_WARNING: &str = match cfg!(target_arch = "wasm32") {
    true => {
        "Warning: the browser gave a software (CPU) adapter: it works, but far slower than a GPU; \
             a browser with hardware acceleration on a GPU is much faster"
    }
    false => {
        "Warning: a software (CPU) adapter: it works, but far slower than a GPU; install a GPU driver for speed"
    }
};

/// How often views follow a running training, at most (and at most every three iterations).
const VIEW_REFRESH: Duration = Duration::from_millis(1500);

/// The app: its state, the training thread, and the textures it draws.
pub struct App {
    pub state: AppState,
    pub worker: WorkerHandle,
    /// Textures by name, with the state version they were made for.
    textures: HashMap<String, (u64, egui::TextureHandle)>,
    /// The adapter in words, and whether it is a CPU adapter.
    adapter: Option<(String, bool)>,
    repaint_sent: bool,
    /// (tab, iteration, parameters) of the last view request, and when.
    last_view: Option<(Tab, u32, usize)>,
    last_view_at: Option<Instant>,
    last_play: Instant,
}

impl App {
    /// Starts the training thread (it builds `engine`, then the session of `setup`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(
        engine: impl FnOnce() -> std::sync::Arc<crate::nn::Engine> + Send + 'static,
        adapter: Option<&Gpu>,
        setup: Setup,
    ) -> Self {
        Self::with_worker(WorkerHandle::spawn(engine), adapter, setup)
    }

    /// The app on `worker` (a thread's, or one the frames drive: [`WorkerHandle::local`]),
    /// which it asks for the session of `setup`.
    pub fn with_worker(mut worker: WorkerHandle, adapter: Option<&Gpu>, setup: Setup) -> Self {
        worker.send(Command::Configure(setup.clone()));
        Self {
            state: AppState::new(setup),
            worker,
            textures: HashMap::new(),
            adapter: adapter.map(|g| (g.describe(), g.is_cpu())),
            repaint_sent: false,
            last_view: None,
            last_view_at: None,
            last_play: Instant::now(),
        }
    }

    /// The fonts: egui's defaults, with Hack behind Ubuntu in the proportional family for
    /// the mathematical signs (∇, →, z̃) that Ubuntu Light lacks. Call before the first frame.
    pub fn setup_fonts(ctx: &egui::Context) {
        let mut fonts = egui::FontDefinitions::default();
        fonts.families.entry(egui::FontFamily::Proportional).or_default().push("Hack".into());
        ctx.set_fonts(fonts);
    }

    /// The adapter in words.
    pub fn adapter_name(&self) -> Option<&str> {
        self.adapter.as_ref().map(|(name, _)| name.as_str())
    }

    /// Sends a command to the training thread.
    pub fn send(&mut self, command: Command) {
        if matches!(command, Command::View(_) | Command::TeachStep(_) | Command::TeachReset { .. }) {
            self.state.pending_views += 1;
        }
        self.worker.send(command);
    }

    /// Lets a local worker run until it next waits (`ctx` is repainted when it can go on),
    /// then folds in every event the worker has sent.
    pub fn drain_with(&mut self, ctx: Option<&egui::Context>) {
        self.worker.poll(ctx);
        while let Ok(event) = self.worker.rx.try_recv() {
            self.state.apply(event);
        }
    }

    /// Folds in every event the worker has sent (polling a local worker first).
    pub fn drain(&mut self) {
        self.drain_with(None);
    }

    /// Waits (at most `timeout`) until `done` holds, folding in events; whether it held.
    pub fn wait_until(&mut self, timeout: Duration, done: impl Fn(&AppState) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            self.drain();
            if done(&self.state) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            if self.worker.is_local() {
                continue; // the next drain polls it on
            }
            match self.worker.rx.recv_timeout(Duration::from_millis(20)) {
                Ok(event) => self.state.apply(event),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Waits until every command sent so far has been handled (tests use this).
    pub fn settle(&mut self, timeout: Duration) -> bool {
        let sent = self.worker.sent;
        self.wait_until(timeout, |s| s.handled >= sent)
    }

    /// Draws the whole window.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        if !self.repaint_sent {
            self.worker.send(Command::Repaint(ui.ctx().clone()));
            self.repaint_sent = true;
        }
        self.drain_with(Some(ui.ctx()));
        self.follow_views();
        egui::Panel::top("header").show(ui, |ui| self.header(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status(ui));
        egui::Panel::left("controls").resizable(false).exact_size(270.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| controls::show(self, ui));
        });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                for tab in Tab::ALL {
                    ui.selectable_value(&mut self.state.tab, tab, tab.title());
                }
            });
            ui.separator();
            match self.state.tab {
                Tab::Curves => curves::show(&self.state, ui),
                Tab::RevisionX => revision_x::show(self, ui),
                Tab::RevisionZ => revision_z::show(self, ui),
                Tab::Interpolation => interpolation::show(self, ui),
                Tab::Landscape => landscape::show(self, ui),
            }
        });
        if self.state.x_playing || self.state.z_playing || self.state.teach_playing {
            ui.ctx().request_repaint_after(Duration::from_millis(120));
        }
    }

    fn header(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Dual-MCMC teaching");
            ui.label("an EBM, a generator and an inference model, trained together");
        });
        if self.state.show_machine
            && let Some((name, cpu)) = &self.adapter
        {
            ui.horizontal(|ui| {
                ui.label(format!("Adapter: {name}"));
                if *cpu {
                    ui.colored_label(ui.visuals().warn_fg_color, CPU_WARNING);
                }
            });
        }
        let mut dismiss = None;
        for (i, e) in self.state.errors.iter().enumerate() {
            egui::Frame::new()
                .fill(ui.visuals().error_fg_color.gamma_multiply(0.15))
                .inner_margin(6.0)
                .corner_radius(4.0)
                .show(ui, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        if ui.small_button("Dismiss").on_hover_text("dismiss").clicked() {
                            dismiss = Some(i);
                        }
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    });
                });
        }
        if let Some(i) = dismiss {
            self.state.errors.remove(i);
        }
        ui.add_space(2.0);
    }

    fn status(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let s = &self.state;
            let what = match (&s.session, s.running) {
                (None, _) => "starting…".to_string(),
                (Some(_), true) => "training".into(),
                (Some(_), false) => "paused".into(),
            };
            ui.label(format!("Iteration {} · {what}", s.iteration));
            if s.show_machine
                && let Some(row) = s.history.last()
            {
                ui.separator();
                ui.label(format!("{:.3} s per iteration", row.seconds));
            }
            if !s.note.is_empty() {
                ui.separator();
                ui.label(&s.note);
            }
        });
    }

    /// Asks for the current tab's view when it is missing or stale: at once after a step or
    /// a change of settings; while training runs, at most every [`VIEW_REFRESH`] and every
    /// three iterations.
    fn follow_views(&mut self) {
        if self.last_play.elapsed() >= Duration::from_millis(120) {
            self.last_play = Instant::now();
            let s = &mut self.state;
            match (&s.x_view, &s.z_view) {
                (Some(v), _) if s.x_playing && s.tab == Tab::RevisionX => {
                    s.x_step = (s.x_step + 1) % v.states.len()
                }
                (_, Some(v)) if s.z_playing && s.tab == Tab::RevisionZ => {
                    s.z_step = (s.z_step + 1) % v.decoded.len()
                }
                _ => {}
            }
        }
        let s = &self.state;
        if s.session.is_none() || s.pending_views > 0 {
            return;
        }
        let (request, param) = match s.tab {
            Tab::Curves => return,
            Tab::RevisionX => (ViewRequest::RevisionX { chains: s.x_chains }, s.x_chains),
            Tab::RevisionZ => (ViewRequest::RevisionZ { examples: s.z_examples }, s.z_examples),
            Tab::Interpolation => (ViewRequest::Interpolation { points: s.points }, s.points),
            Tab::Landscape if s.is_toy() => (ViewRequest::Landscape { cells: s.cells }, s.cells),
            Tab::Landscape => return,
        };
        let key = (s.tab, s.iteration, param);
        let stale = self.last_view != Some(key);
        // While training, views take at most about a quarter of the device's time.
        let iteration = Duration::from_secs_f64(s.history.last().map_or(0.0, |r| r.seconds));
        let every = VIEW_REFRESH.max(3 * iteration);
        let waited = self.last_view_at.is_none_or(|t| t.elapsed() >= every);
        if stale && (!s.running || waited) {
            self.last_view = Some(key);
            self.last_view_at = Some(Instant::now());
            self.send(Command::View(request));
            return;
        }
        if s.tab == Tab::Landscape && s.teach.is_none() {
            let chains = s.teach_chains;
            self.send(Command::TeachReset { chains, from_noise: false });
        } else if s.tab == Tab::Landscape && s.teach_playing {
            let step = s.teach_step;
            self.send(Command::TeachStep(step));
        }
    }

    /// A texture made by `make` for (`key`, `version`), reused while the version holds;
    /// drawn with nearest-neighbour filtering so small pictures stay crisp.
    pub fn texture(
        &mut self,
        ctx: &egui::Context,
        key: &str,
        version: u64,
        make: impl FnOnce() -> egui::ColorImage,
    ) -> egui::TextureHandle {
        match self.textures.get(key) {
            Some((v, t)) if *v == version => t.clone(),
            _ => {
                let t = ctx.load_texture(key, make(), egui::TextureOptions::NEAREST);
                self.textures.insert(key.into(), (version, t.clone()));
                t
            }
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// `label` and a number field named by it (for screen readers and tests).
pub fn number(ui: &mut egui::Ui, label: &str, field: egui::DragValue<'_>) -> egui::Response {
    let l = ui.label(label);
    ui.add(field).labelled_by(l.id)
}

/// An `image` picture as an egui image.
pub fn color_image(img: &image::RgbImage) -> egui::ColorImage {
    egui::ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

/// Shows a texture at `scale` screen points per pixel, or smaller to fit the width left.
pub fn picture(ui: &mut egui::Ui, texture: &egui::TextureHandle, scale: f32) -> egui::Response {
    let size = texture.size_vec2();
    let scale = scale.min(ui.available_width() / size.x).max(0.5);
    ui.image(egui::load::SizedTexture::new(texture.id(), size * scale))
}
