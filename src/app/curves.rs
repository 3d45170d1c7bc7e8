//! Training curves: the three nets' losses, the mean energy of data and of revised samples,
//! the reconstruction error, the acceptance rate of Metropolis-adjusted x-chains (when they
//! are), and seconds per iteration; each series downsampled to at most
//! [`MAX_POINTS`] points (min/max per bucket), so long runs stay smooth.

use super::state::{AppState, Row, downsample};
use super::worker::ProgressPoint;
use crate::eval::run_eval::Progress;
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
    let metropolis = h.iter().any(|r| r.x_accept.is_finite());
    let rows = 2.0
        + f32::from(u8::from(state.show_machine || metropolis))
        + f32::from(u8::from(!state.progress.is_empty()));
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
        let pr = &state.progress;
        let ll: &[Series] = &[
            ("trained weights", |q| q.log_likelihood, BLUE),
            ("weight averages (EMA)", |q| q.log_likelihood_ema, GREEN),
            ("optimum", |q| q.optimum_log_likelihood, egui::Color32::GRAY),
        ];
        let fd: &[Series] = &[
            ("generator samples", |q| q.frechet_generator_samples, BLUE),
            ("revised samples", |q| q.frechet_revised_samples, RED),
        ];
        let panels = [
            ("Held-out log-likelihood (nats, higher is better)", "loglik", "nats", ll),
            (
                "Fréchet distance to training images (our features, lower is better)",
                "frechet",
                "squared distance",
                fd,
            ),
        ];
        let shown: Vec<_> =
            panels.iter().filter(|p| pr.iter().any(|q| (p.3[0].1)(&q.measured).is_some())).collect();
        for (title, id, y, lines) in &shown {
            ui.vertical(|ui| {
                ui.strong(*title);
                plot(id, y).show(ui, |p| {
                    for l in lines.iter() {
                        let points = progress_points(l, pr);
                        // Markers as well: the first measurement is a single point.
                        p.points(egui_plot::Points::new(l.0, points.clone()).radius(3.0).color(l.2));
                        p.line(Line::new(l.0, points).color(l.2));
                    }
                });
            });
        }
        if !shown.is_empty() {
            ui.end_row();
        }
        if metropolis {
            ui.vertical(|ui| {
                ui.strong("x-chain acceptance rate (Metropolis)");
                // The whole range: short tick labels, and rates compare across runs.
                plot("accept", "accepted share").include_y(0.0).include_y(1.0).show(ui, |p| {
                    p.line(series("EBM chain", |r| r.x_accept, GREEN));
                    if h.iter().any(|r| r.x_jump_accept.is_finite()) {
                        p.line(series("its population jumps", |r| r.x_jump_accept, ORANGE));
                    }
                });
            });
        }
        if state.show_machine {
            ui.vertical(|ui| {
                ui.strong("Seconds per iteration");
                plot("seconds", "s").show(ui, |p| p.line(series("seconds", |r| r.seconds, BLUE)));
            });
        }
        if state.show_machine || metropolis {
            ui.end_row();
        }
    });
}

/// A held-out measurement's name, where it is in a [`Progress`], and its colour.
type Series = (&'static str, fn(&Progress) -> Option<f64>, egui::Color32);

/// One held-out measurement over the iterations (where it was measured).
fn progress_points((_, pick, _): &Series, pr: &[ProgressPoint]) -> Vec<[f64; 2]> {
    pr.iter().filter_map(|q| pick(&q.measured).map(|v| [f64::from(q.iteration), v])).collect()
}
