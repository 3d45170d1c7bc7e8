//! MCMC revision on x (paper Fig. 2, left): generator samples x₀ = g(z), z ~ N(0, I),
//! revised by x-Langevin under the EBM to xₖ; a strip over the steps for a few chains, a
//! slider (or Play) over the steps, and the energy profile beside it.

use super::App;
use super::curves::{BLUE, RED};
use crate::viz;
use eframe::egui;
use egui_plot::{Legend, Line, Plot, Points, VLine};

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    ui.label(
        "x-Langevin revises generator samples x₀ = g(z) towards lower energy under the EBM: \
         x ← x − s·∇E(x) + noise. The same revision teaches the generator during training.",
    );
    ui.horizontal(|ui| {
        super::number(ui, "chains", egui::DragValue::new(&mut app.state.x_chains).range(1..=8));
    });
    let Some(view) = app.state.x_view.clone() else {
        ui.spinner();
        return;
    };
    let last = view.states.len() - 1;
    step_slider(ui, &mut app.state.x_step, &mut app.state.x_playing, last);
    let t = app.state.x_step.min(last);
    ui.add_space(4.0);
    let version = app.state.version;
    let flat = view.shape.size() == 2;
    ui.horizontal_top(|ui| {
        let width = ui.available_width();
        ui.vertical(|ui| {
            ui.set_width(if flat { width * 0.5 } else { width * 0.58 });
            if flat {
                points_plot(ui, &view.states[0], &view.states[t], t);
            } else {
                let chains = view.chain_energy.len();
                let steps = viz::shown_steps(last, 11);
                ui.strong(format!("x₀ = g(z) → x{} (columns: steps {:?})", subscript(last), steps));
                let strip = app.texture(ui.ctx(), "x strip", version, || {
                    super::color_image(&viz::chain_strip(&view.states, view.shape, chains, &steps))
                });
                super::picture(ui, &strip, 2.0);
                ui.add_space(6.0);
                ui.strong(format!("step t = {t}"));
                let now = app.texture(ui.ctx(), "x now", version * 10_000 + t as u64, || {
                    super::color_image(&viz::tiles(&view.states[t], view.shape, 1, chains, |_, k| Some(k)))
                });
                super::picture(ui, &now, 4.0);
            }
        });
        ui.vertical(|ui| {
            ui.strong("Energy profile over the Langevin steps");
            Plot::new("x energy")
                .legend(Legend::default())
                .height(ui.available_height().clamp(160.0, 360.0))
                .x_axis_label("Langevin step")
                .y_axis_label("E(x)")
                .show(ui, |p| {
                    let line = |v: &[f32]| -> Vec<[f64; 2]> {
                        v.iter().enumerate().map(|(i, &e)| [i as f64, f64::from(e)]).collect()
                    };
                    p.line(Line::new("mean over the batch", line(&view.mean_energy)).color(BLUE).width(2.5));
                    for (k, e) in view.chain_energy.iter().enumerate() {
                        p.line(Line::new(format!("chain {}", k + 1), line(e)).width(1.0));
                    }
                    p.vline(VLine::new("step t", t as f64).color(RED));
                });
        });
    });
}

/// A slider over steps 0…last with a play button.
pub fn step_slider(ui: &mut egui::Ui, step: &mut usize, playing: &mut bool, last: usize) {
    ui.horizontal(|ui| {
        let label = if *playing { "Stop" } else { "Play" };
        if ui.button(label).clicked() {
            *playing = !*playing;
        }
        ui.add(egui::Slider::new(step, 0..=last).text("step"));
    });
}

/// Samples at step 0 and step t on the plane.
fn points_plot(ui: &mut egui::Ui, start: &[f32], now: &[f32], t: usize) {
    let pts =
        |v: &[f32]| -> Vec<[f64; 2]> { v.chunks(2).map(|c| [f64::from(c[0]), f64::from(c[1])]).collect() };
    Plot::new("x points")
        .legend(Legend::default())
        .data_aspect(1.0)
        .height(ui.available_height().clamp(200.0, 420.0))
        .show(ui, |p| {
            p.points(Points::new("x₀ = g(z)", pts(start)).color(egui::Color32::GRAY).radius(2.0));
            p.points(Points::new(format!("x at step {t}"), pts(now)).color(RED).radius(2.5));
        });
}

/// `n` as subscript digits (x₁₀).
pub fn subscript(n: usize) -> String {
    n.to_string().chars().map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c)).collect()
}
