//! The 2-D energy landscape (toy data): exp(−E) or f = −E as a heat map over the toy's box,
//! the data points, and Langevin chains moving on it. Teaching mode: one Langevin step per
//! click (or Play), with the step size and the noise as controls.

use super::App;
use super::state::Surface;
use super::worker::{Command, TeachStep};
use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotImage, PlotPoint, Points};

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    if !app.state.is_toy() {
        ui.label("The energy landscape is drawn for 2-D toy data: choose the toy2d or checkerboard preset.");
        return;
    }
    let s = &mut app.state;
    ui.horizontal(|ui| {
        ui.selectable_value(&mut s.surface, Surface::Density, "density exp(f) = exp(−E)");
        ui.selectable_value(&mut s.surface, Surface::NegEnergy, "f = −E");
        ui.separator();
        super::number(ui, "grid", egui::DragValue::new(&mut s.cells).range(16..=200).suffix(" cells"));
    });
    let mut command = None;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.strong("Teaching mode: Langevin chains on the landscape");
        ui.horizontal(|ui| {
            let t = &mut s.teach_step;
            ui.add(egui::Slider::new(&mut t.step_size, 1e-4..=0.5).logarithmic(true).text("step size s"));
            ui.add(egui::Slider::new(&mut t.noise, 0.0..=1.5).text("noise n"));
            if ui.button("n = √(2s)").on_hover_text("the exact Langevin noise: temperature 1").clicked() {
                t.noise = (2.0 * t.step_size).sqrt();
            }
        });
        ui.label(format!(
            "x ← x − s·∇E(x) + n·ε, ε ~ N(0, I): temperature T = n²/(2s) = {:.2} (T = 1 samples exp(−E); \
             T < 1 sharpens it, n = 0 is gradient descent)",
            s.teach_step.temperature()
        ));
        ui.horizontal(|ui| {
            if ui.button("One Langevin step").clicked() {
                command = Some(Command::TeachStep(s.teach_step));
            }
            let play = if s.teach_playing { "Stop" } else { "Run steps" };
            if ui.button(play).clicked() {
                s.teach_playing = !s.teach_playing;
            }
            ui.separator();
            super::number(ui, "chains", egui::DragValue::new(&mut s.teach_chains).range(1..=256));
            if ui.button("restart from g(z)").clicked() {
                command = Some(Command::TeachReset { chains: s.teach_chains, from_noise: false });
            }
            if ui.button("restart from uniform noise").clicked() {
                command = Some(Command::TeachReset { chains: s.teach_chains, from_noise: true });
            }
        });
        if let Some(v) = &s.teach {
            ui.label(format!(
                "step {} · mean energy of the chains {:.3}",
                v.step,
                v.mean_energy.last().copied().unwrap_or(f32::NAN)
            ));
        }
    });
    if let Some(c) = command {
        app.send(c);
    }
    let Some(view) = app.state.landscape.clone() else {
        ui.spinner();
        return;
    };
    let surface = app.state.surface;
    let key = app.state.version * 2 + u64::from(surface == Surface::NegEnergy);
    let heat = app.texture(ui.ctx(), "landscape", key, || heat_map(&view.energies, view.grid.n, surface));
    let (lo, hi) = (view.grid.lo, view.grid.hi);
    let centre = PlotPoint::new(f64::from(lo[0] + hi[0]) / 2.0, f64::from(lo[1] + hi[1]) / 2.0);
    let size = egui::vec2(hi[0] - lo[0], hi[1] - lo[1]);
    let pts =
        |v: &[[f32; 2]]| -> Vec<[f64; 2]> { v.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect() };
    let teach = app.state.teach.clone();
    let side = ui.available_height().min(ui.available_width() * 0.62).max(240.0);
    ui.horizontal_top(|ui| {
        Plot::new("landscape")
            .legend(Legend::default())
            .data_aspect(1.0)
            .width(side)
            .height(side)
            .include_x(lo[0])
            .include_x(hi[0])
            .include_y(lo[1])
            .include_y(hi[1])
            .show(ui, |p| {
                let name = match surface {
                    Surface::Density => "exp(−E)",
                    Surface::NegEnergy => "f = −E",
                };
                p.image(PlotImage::new(name, heat.id(), centre, size));
                p.points(Points::new("data", pts(&view.data)).color(egui::Color32::WHITE).radius(1.2));
                if let Some(v) = &teach {
                    // Trails of the last few steps, then the chains' positions.
                    let from = v.path.len().saturating_sub(8);
                    for k in 0..v.path[0].len().min(64) {
                        let trail: Vec<[f64; 2]> =
                            v.path[from..].iter().map(|s| [f64::from(s[k][0]), f64::from(s[k][1])]).collect();
                        p.line(
                            Line::new("", trail)
                                .color(egui::Color32::from_rgba_unmultiplied(255, 90, 90, 120)),
                        );
                    }
                    let now = v.path.last().expect("a teaching path has a start");
                    p.points(
                        Points::new(format!("chains, step {}", v.step), pts(now))
                            .color(super::curves::RED)
                            .radius(3.0),
                    );
                }
            });
        ui.vertical(|ui| {
            ui.strong("Mean energy of the chains per step");
            if let Some(v) = &teach {
                Plot::new("teach energy").height(180.0).x_axis_label("step").show(ui, |p| {
                    let line: Vec<[f64; 2]> =
                        v.mean_energy.iter().enumerate().map(|(i, &e)| [i as f64, f64::from(e)]).collect();
                    p.line(Line::new("mean E", line).color(super::curves::BLUE).width(2.0));
                });
            }
            ui.add_space(8.0);
            colour_bar(ui, surface);
            ui.small(format!("networks at iteration {}", view.iteration));
        });
    });
}

/// The heat map: `values` `[n·n]` (x fastest, y up) → an image with y down, through the
/// colour map, scaled to [min, max] of the shown surface.
fn heat_map(energies: &[f32], n: usize, surface: Surface) -> egui::ColorImage {
    let f: Vec<f32> = energies.iter().map(|&e| -e).collect();
    let max = f.iter().copied().filter(|v| v.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    let min = f.iter().copied().filter(|v| v.is_finite()).fold(f32::INFINITY, f32::min);
    let value = |v: f32| -> f32 {
        let u = match surface {
            Surface::Density => (v - max).exp(),
            Surface::NegEnergy => (v - min) / (max - min).max(1e-12),
        };
        if u.is_finite() { u.clamp(0.0, 1.0) } else { 0.0 }
    };
    let mut pixels = Vec::with_capacity(n * n);
    for iy in (0..n).rev() {
        for ix in 0..n {
            pixels.push(colour_map(value(f[iy * n + ix])));
        }
    }
    egui::ColorImage::new([n, n], pixels)
}

/// A perceptually ordered map (an approximation of matplotlib's "magma"): 0 black-purple,
/// 1 pale yellow.
pub fn colour_map(u: f32) -> egui::Color32 {
    const STOPS: [[f32; 3]; 6] = [
        [0.0, 0.0, 0.016],
        [0.23, 0.06, 0.44],
        [0.55, 0.16, 0.51],
        [0.87, 0.29, 0.41],
        [0.99, 0.62, 0.42],
        [0.99, 0.99, 0.75],
    ];
    let x = u.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let t = x - i as f32;
    let c = |k: usize| ((STOPS[i][k] * (1.0 - t) + STOPS[i + 1][k] * t) * 255.0).round() as u8;
    egui::Color32::from_rgb(c(0), c(1), c(2))
}

fn colour_bar(ui: &mut egui::Ui, surface: Surface) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(180.0, 14.0), egui::Sense::hover());
    let steps = 60;
    for i in 0..steps {
        let u0 = i as f32 / steps as f32;
        let x0 = rect.left() + u0 * rect.width();
        let r = egui::Rect::from_min_max(
            egui::pos2(x0, rect.top()),
            egui::pos2(x0 + rect.width() / steps as f32 + 0.5, rect.bottom()),
        );
        ui.painter().rect_filled(r, 0.0, colour_map(u0));
    }
    let text = match surface {
        Surface::Density => "0 → max of exp(−E)",
        Surface::NegEnergy => "min → max of f = −E",
    };
    ui.small(text);
}

impl Default for TeachStep {
    fn default() -> Self {
        Self { step_size: 0.05, noise: 0.1f32.sqrt() }
    }
}
