//! Latent interpolation (paper Fig. 4): g(z) along the line between two prior draws
//! (synthesis), and between the inferred latents of two data images (reconstruction: z₀ =
//! μ(x) from the inference model, revised by z-Langevin), with the number of points as a
//! control.

use super::App;
use super::curves::{BLUE, GREEN, ORANGE};
use crate::viz;
use eframe::egui;
use egui_plot::{Legend, Line, Plot, Points};

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    ui.label("z_i = (1 − s)·z_a + s·z_b for s from 0 to 1, decoded by the generator.");
    ui.add(egui::Slider::new(&mut app.state.points, 2..=16).text("points on the line"));
    let Some(view) = app.state.interpolation.clone() else {
        ui.spinner();
        return;
    };
    let d = view.shape.size();
    if d == 2 {
        let pts = |v: &[f32]| -> Vec<[f64; 2]> {
            v.chunks(2).map(|c| [f64::from(c[0]), f64::from(c[1])]).collect()
        };
        Plot::new("interpolation").legend(Legend::default()).data_aspect(1.0).height(420.0).show(ui, |p| {
            p.line(Line::new("between two prior draws", pts(&view.synthesis)).color(BLUE).width(2.0));
            p.points(Points::new("", pts(&view.synthesis)).color(BLUE).radius(3.0));
            p.line(
                Line::new("between two inferred latents", pts(&view.reconstruction)).color(GREEN).width(2.0),
            );
            p.points(Points::new("", pts(&view.reconstruction)).color(GREEN).radius(3.0));
            p.points(Points::new("the two data points", pts(&view.ends)).color(ORANGE).radius(5.0));
        });
        return;
    }
    let version = app.state.version;
    let p = view.synthesis.len() / d;
    ui.add_space(6.0);
    ui.strong("Synthesis: between two prior draws z_a, z_b ~ N(0, I)");
    let synthesis = app.texture(ui.ctx(), "interp synthesis", version, || {
        super::color_image(&viz::tiles(&view.synthesis, view.shape, 1, p, |_, k| Some(k)))
    });
    super::picture(ui, &synthesis, 3.0);
    ui.add_space(10.0);
    ui.strong("Reconstruction: data x_a | between their inferred latents | data x_b");
    let recon = app.texture(ui.ctx(), "interp reconstruction", version, || {
        let strip = [&view.ends[..d], &view.reconstruction[..], &view.ends[d..]].concat();
        super::color_image(&viz::tiles(&strip, view.shape, 1, p + 2, |_, k| Some(k)))
    });
    super::picture(ui, &recon, 3.0);
}
