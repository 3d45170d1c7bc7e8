//! Training curves: the three nets' losses, the mean energy of data and of revised samples,
//! the reconstruction error, and seconds per iteration; each series downsampled to at most
//! [`MAX_POINTS`] points (min/max per bucket), so long runs stay smooth.

use super::state::{AppState, Row, downsample};
use eframe::egui;
use egui_plot::{Legend, Line, Plot};

pub const MAX_POINTS: usize = 2000;

/// Colours of the series, used by every panel.
pub const BLUE: egui::Color32 = egui::Color32::from_rgb(80, 160, 255);
pub const ORANGE: egui::Color32 = egui::Color32::from_rgb(255, 150, 60);
pub const GREEN: egui::Color32 = egui::Color32::from_rgb(90, 200, 120);
pub const RED: egui::Color32 = egui::Color32::from_rgb(240, 80, 80);

pub fn show(state: &AppState, ui: &mut egui::Ui) {
    let h = &state.history;
    if h.is_empty() {
        ui.label("No iterations yet: press Start or Step.");
        return;
    }
    let series = |name: &str, pick: fn(&Row) -> f64, colour| {
        let points: Vec<[f64; 2]> = h.iter().map(|r| [r.iteration, pick(r)]).collect();
        Line::new(name.to_string(), downsample(&points, MAX_POINTS)).color(colour)
    };
    let size = ui.available_size();
    let rows = if state.show_machine { 3.0 } else { 2.0 };
    let plot_h = (size.y / rows - 28.0).max(120.0);
    let plot_w = (size.x / 2.0 - 12.0).max(200.0);
    let plot = |id: &str, y: &str| {
        Plot::new(id.to_string())
            .legend(Legend::default())
            .height(plot_h)
            .width(plot_w)
            .x_axis_label("iteration")
            .y_axis_label(y.to_string())
    };
    egui::Grid::new("curves").num_columns(2).show(ui, |ui| {
        ui.vertical(|ui| {
            ui.strong("Generator and inference losses");
            plot("losses", "loss per example").show(ui, |p| {
                p.line(series("generator", |r| r.gen_loss, BLUE));
                p.line(series("inference", |r| r.inf_loss, ORANGE));
            });
        });
        ui.vertical(|ui| {
            ui.strong("EBM loss (mean E(data) − mean E(revised)) / T");
            plot("ebm", "EBM loss").show(ui, |p| p.line(series("EBM", |r| r.ebm_loss, GREEN)));
        });
        ui.end_row();
        ui.vertical(|ui| {
            ui.strong("Mean energy E = −f (lower is more probable)");
            plot("energy", "mean E").show(ui, |p| {
                p.line(series("data", |r| r.energy_data, BLUE));
                p.line(series("revised samples", |r| r.energy_samples, RED));
            });
        });
        ui.vertical(|ui| {
            ui.strong("Reconstruction MSE per value");
            plot("mse", "MSE").show(ui, |p| {
                p.line(series("g(z₀), inference model", |r| r.recon_mse_initial, ORANGE));
                p.line(series("g(z̃), after z-Langevin", |r| r.recon_mse, GREEN));
            });
        });
        ui.end_row();
        if !state.progress.is_empty() {
            ui.vertical(|ui| {
                ui.strong("Held-out log-likelihood (nats, higher is better)");
                plot("loglik", "nats").show(ui, |p| log_likelihood(p, state));
            });
            ui.end_row();
        }
        if state.show_machine {
            ui.vertical(|ui| {
                ui.strong("Seconds per iteration");
                plot("seconds", "s").show(ui, |p| p.line(series("seconds", |r| r.seconds, BLUE)));
            });
            ui.end_row();
        }
    });
}

/// The held-out log-likelihood of the trained weights and of their averages, and the optimum.
fn log_likelihood(p: &mut egui_plot::PlotUi, state: &AppState) {
    let pr = &state.progress;
    let line = |pick: fn(&super::worker::ProgressPoint) -> Option<f64>| -> Vec<[f64; 2]> {
        pr.iter().filter_map(|q| pick(q).map(|v| [f64::from(q.iteration), v])).collect()
    };
    p.line(Line::new("trained weights", line(|q| Some(q.log_likelihood))).color(BLUE));
    let ema = line(|q| q.log_likelihood_ema);
    if !ema.is_empty() {
        p.line(Line::new("weight averages (EMA)", ema).color(GREEN));
    }
    p.line(Line::new("optimum", line(|q| q.optimum)).color(egui::Color32::GRAY));
}
