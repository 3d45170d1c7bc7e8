//! MCMC revision on z (paper Fig. 2, right): for a few data images x, the inference model's
//! z₀ ~ q(z|x) revised by z-Langevin on the generator posterior to z̃; the reconstructions
//! g(z_t) step by step, and the reconstruction error over the steps.

use super::App;
use super::curves::{BLUE, GREEN, RED};
use super::revision_x::{step_slider, subscript};
use crate::viz;
use eframe::egui;
use egui_plot::{Legend, Line, Plot, Points, VLine};

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    ui.label(
        "z-Langevin revises the inference model's latent z₀ ~ q(z|x) towards the generator's \
         posterior p(z|x): the reconstructions g(z) move closer to the data x.",
    );
    ui.horizontal(|ui| {
        super::number(ui, "examples", egui::DragValue::new(&mut app.state.z_examples).range(1..=12));
    });
    let Some(view) = app.state.z_view.clone() else {
        ui.spinner();
        return;
    };
    let last = view.decoded.len() - 1;
    step_slider(ui, &mut app.state.z_step, &mut app.state.z_playing, last);
    let t = app.state.z_step.min(last);
    let version = app.state.version;
    let flat = view.shape.size() == 2;
    let n = view.data.len() / view.shape.size();
    ui.horizontal_top(|ui| {
        let width = ui.available_width();
        ui.vertical(|ui| {
            ui.set_width(width * 0.55);
            if flat {
                let pts = |v: &[f32]| -> Vec<[f64; 2]> {
                    v.chunks(2).map(|c| [f64::from(c[0]), f64::from(c[1])]).collect()
                };
                Plot::new("z points").legend(Legend::default()).data_aspect(1.0).height(360.0).show(
                    ui,
                    |p| {
                        p.points(Points::new("data x", pts(&view.data)).color(BLUE).radius(2.5));
                        p.points(
                            Points::new(format!("g(z) at step {t}"), pts(&view.decoded[t]))
                                .color(RED)
                                .radius(2.5),
                        );
                    },
                );
                return;
            }
            let steps = viz::shown_steps(last, 11);
            ui.strong(format!("data x | g(z₀) → g(z{}) (columns: steps {:?})", subscript(last), steps));
            let strip = app.texture(ui.ctx(), "z strip", version, || {
                let data = viz::tiles(&view.data, view.shape, n, 1, |r, _| Some(r));
                let chain = viz::chain_strip(&view.decoded, view.shape, n, &steps);
                super::color_image(&side_by_side(&data, &chain))
            });
            super::picture(ui, &strip, 2.0);
            ui.add_space(6.0);
            ui.strong(format!("data (top) and g(z) at step t = {t} (bottom)"));
            let now = app.texture(ui.ctx(), "z now", version * 10_000 + t as u64, || {
                let rows = [view.data.as_slice(), view.decoded[t].as_slice()].concat();
                super::color_image(&viz::tiles(&rows, view.shape, 2, n, |r, k| Some(r * n + k)))
            });
            super::picture(ui, &now, 3.0);
        });
        ui.vertical(|ui| {
            let line = |v: &[f32]| -> Vec<[f64; 2]> {
                v.iter().enumerate().map(|(i, &e)| [i as f64, f64::from(e)]).collect()
            };
            let h = (ui.available_height() / 2.0 - 30.0).clamp(120.0, 260.0);
            ui.strong("Reconstruction MSE over the steps");
            Plot::new("z mse").legend(Legend::default()).height(h).x_axis_label("Langevin step").show(
                ui,
                |p| {
                    p.line(Line::new("MSE of g(z), per value", line(&view.mse)).color(GREEN).width(2.5));
                    p.vline(VLine::new("step t", t as f64).color(RED));
                },
            );
            ui.strong("Mean log posterior log p(z|x) + const");
            Plot::new("z logpost").legend(Legend::default()).height(h).x_axis_label("Langevin step").show(
                ui,
                |p| {
                    p.line(Line::new("log posterior", line(&view.log_posterior)).color(BLUE).width(2.5));
                    p.vline(VLine::new("step t", t as f64).color(RED));
                },
            );
        });
    });
}

/// Two pictures of the same height next to each other, with a gap.
fn side_by_side(a: &image::RgbImage, b: &image::RgbImage) -> image::RgbImage {
    let gap = 6;
    let mut out = image::RgbImage::from_pixel(
        a.width() + gap + b.width(),
        a.height().max(b.height()),
        image::Rgb([27, 27, 27]),
    );
    image::imageops::replace(&mut out, a, 0, 0);
    image::imageops::replace(&mut out, b, i64::from(a.width() + gap), 0);
    out
}
