//! The controls panel: preset and data, the main hyperparameters, start / pause / step /
//! reset, and checkpoints. File dialogs (rfd) that cannot open count as cancel; the path
//! fields work without them. The page in the browser has no files: it offers the 2-D toys,
//! and says that images and checkpoints need the desktop app.

use super::App;
use super::setup::{DataChoice, PRESETS, Setup, TOY_PRESETS};
use super::worker::Command;
use crate::data::toy2d::Toy2d;
use eframe::egui;
#[cfg(not(target_arch = "wasm32"))]
use std::path::PathBuf;

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    ui.add_space(4.0);
    training(app, ui);
    ui.separator();
    data(app, ui);
    ui.separator();
    hyperparameters(app, ui);
    ui.separator();
    #[cfg(not(target_arch = "wasm32"))]
    checkpoints(app, ui);
    #[cfg(target_arch = "wasm32")]
    ui.label(DESKTOP_ONLY);
    if let Some(info) = &app.state.session {
        ui.separator();
        ui.label(egui::RichText::new("Session").strong());
        if app.state.show_machine {
            ui.label(&info.data);
        }
        let [e, g, i] = info.params;
        ui.label(format!("parameters: EBM {e}, generator {g}, inference {i}"));
        let ema = info.cfg.train.ema_decay;
        if ema > 0.0 {
            ui.label(format!("views use the moving average of the weights (ema_decay {ema})"));
        }
    }
}

fn training(app: &mut App, ui: &mut egui::Ui) {
    ui.heading("Training");
    let ready = app.state.session.is_some();
    ui.horizontal(|ui| {
        if app.state.running {
            if ui.button("Pause").on_hover_text("stop after the current iteration").clicked() {
                app.send(Command::Run(false));
            }
        } else if ui.add_enabled(ready, egui::Button::new("Start")).clicked() {
            app.send(Command::Run(true));
        }
        if ui.add_enabled(ready, egui::Button::new("Step")).on_hover_text("one training iteration").clicked()
        {
            app.send(Command::Step);
        }
        if ui.button("Reset").on_hover_text("fresh networks with the settings below").clicked() {
            apply(app);
        }
    });
    let total = app.state.session.as_ref().map_or(0, |s| s.cfg.schedule.iterations);
    let done = app.state.iteration;
    ui.add(
        egui::ProgressBar::new(if total > 0 { done as f32 / total as f32 } else { 0.0 })
            .text(format!("{done} / {total} iterations")),
    );
}

/// Builds a fresh session with the settings in the controls (the Reset button).
pub(crate) fn apply(app: &mut App) {
    app.state.setup.hyper = Some(app.state.hyper);
    let setup = app.state.setup.clone();
    app.state.errors.clear();
    app.send(Command::Configure(setup));
}

/// What the page in the browser leaves to the desktop app.
#[cfg(target_arch = "wasm32")]
const DESKTOP_ONLY: &str = "Image data (Fashion-MNIST, your own files) and checkpoints need the \
     desktop app: the page holds no files. Build it from the repository: `cargo run --release` \
     (README, 'Quick start').";

/// The presets this build offers: all of them on the desktop, the 2-D ones in the page.
fn presets() -> &'static [&'static str] {
    match cfg!(target_arch = "wasm32") {
        true => &PRESETS[..TOY_PRESETS],
        false => &PRESETS,
    }
}

fn data(app: &mut App, ui: &mut egui::Ui) {
    ui.heading("Data");
    let s = &mut app.state;
    let mut preset = s.setup.preset.clone();
    egui::ComboBox::from_label("preset").selected_text(&preset).show_ui(ui, |ui| {
        for &p in presets() {
            ui.selectable_value(&mut preset, p.to_string(), p);
        }
    });
    if preset != s.setup.preset {
        // A new preset brings its own data and hyperparameters; it applies at once.
        s.setup = Setup::preset(&preset);
        let setup = s.setup.clone();
        s.errors.clear();
        app.send(Command::Configure(setup));
        return;
    }
    if PRESETS[..TOY_PRESETS].contains(&s.setup.preset.as_str()) {
        let current = match &s.setup.data {
            DataChoice::Toy(name) => name.clone(),
            _ => s.session.as_ref().and_then(|i| i.toy).map_or("8gaussians".into(), |t| t.name().to_string()),
        };
        let mut chosen = current.clone();
        egui::ComboBox::from_label("toy").selected_text(&chosen).show_ui(ui, |ui| {
            for toy in Toy2d::ALL {
                ui.selectable_value(&mut chosen, toy.name().to_string(), toy.name());
            }
        });
        if chosen != current {
            choose_toy(app, &chosen);
        }
        return;
    }
    files(app, ui);
}

/// Switches to the 2-D toy `name` (a fresh session).
pub(crate) fn choose_toy(app: &mut App, name: &str) {
    app.state.setup.data = DataChoice::Toy(name.to_string());
    apply(app);
}

/// Data from files: a path field (and dialogs) and what the file holds.
#[cfg(target_arch = "wasm32")]
fn files(_: &mut App, ui: &mut egui::Ui) {
    ui.label(DESKTOP_ONLY);
}

/// Data from files: a path field (and dialogs) and what the file holds.
#[cfg(not(target_arch = "wasm32"))]
fn files(app: &mut App, ui: &mut egui::Ui) {
    let s = &mut app.state;
    ui.label(format!("Using {}", s.data_label()));
    path_field(ui, &mut s.data_path, "a data file or folder", |d| d.pick_file());
    if ui.small_button("choose a folder…").clicked()
        && let Some(path) = rfd::FileDialog::new().pick_folder()
    {
        s.data_path = path.display().to_string();
    }
    let typed = typed_path(&s.data_path);
    let mut picked: Option<DataChoice> = None;
    ui.horizontal_wrapped(|ui| {
        let mut use_as =
            |ui: &mut egui::Ui, label: &str, hint: &str, make: &dyn Fn(PathBuf) -> DataChoice| {
                if ui.add_enabled(typed.is_some(), egui::Button::new(label)).on_hover_text(hint).clicked() {
                    picked = typed.clone().map(make);
                }
            };
        use_as(ui, "IDX file", "MNIST-layout images, .gz or not", &DataChoice::Idx);
        use_as(ui, "image folder", "PNG/JPEG, resized to 32×32 grey", &|path| DataChoice::Folder {
            path,
            resize: 32,
            channels: 1,
        });
        use_as(ui, "CIFAR-10", "a data_batch_*.bin file or their folder", &DataChoice::Cifar10);
        if ui.button("built-in").on_hover_text("the preset's own data").clicked() {
            picked = Some(DataChoice::Preset);
        }
    });
    if let Some(choice) = picked {
        app.state.setup.data = choice;
        apply(app);
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// A path field with a "…" button that fills it from a file dialog; a dialog that cannot
/// open (no desktop portal) or is cancelled leaves the field as it was.
fn path_field(
    ui: &mut egui::Ui,
    text: &mut String,
    hint: &str,
    dialog: impl FnOnce(rfd::FileDialog) -> Option<PathBuf>,
) {
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(text).hint_text(hint).desired_width(200.0));
        if ui.button("…").on_hover_text("choose with a file dialog").clicked()
            && let Some(path) = dialog(rfd::FileDialog::new())
        {
            *text = path.display().to_string();
        }
    });
}

#[cfg(not(target_arch = "wasm32"))]
fn typed_path(text: &str) -> Option<PathBuf> {
    let t = text.trim();
    (!t.is_empty()).then(|| PathBuf::from(t))
}

fn hyperparameters(app: &mut App, ui: &mut egui::Ui) {
    ui.heading("Hyperparameters");
    let x_chain = app.state.session.as_ref().map(|s| s.cfg.train.x_langevin);
    let h = &mut app.state.hyper;
    egui::Grid::new("hyper").num_columns(2).spacing([8.0, 4.0]).show(ui, |ui| {
        let row = |ui: &mut egui::Ui, label: &str, w: egui::DragValue<'_>| {
            let r = super::number(ui, label, w);
            ui.end_row();
            r
        };
        row(ui, "batch size", egui::DragValue::new(&mut h.batch_size).range(1..=1024));
        row(ui, "x-Langevin steps", egui::DragValue::new(&mut h.x_steps).range(0..=200));
        row(ui, "x step size", egui::DragValue::new(&mut h.x_step_size).speed(0.001).range(1e-5..=10.0));
        ui.label("x Metropolis");
        ui.checkbox(&mut h.x_metropolis, "MALA").on_hover_text(
            "accept or reject each x-step (Metropolis–Hastings): exact at any step size, so a large \
             step can jump between modes",
        );
        ui.end_row();
        if let Some(x) = x_chain.filter(|x| h.x_metropolis && x.second_step_every > 0) {
            let k = x.second_step_every;
            ui.label("x second step");
            ui.label(format!("steps {k}, {}, …: {}", 2 * k, x.second_step_size)).on_hover_text(
                "from the preset (train.x_langevin.second_step_every, second_step_size): these steps \
                 propose with a second step size, still Metropolis-adjusted; small ones among large \
                 ones sample sharp edges",
            );
            ui.end_row();
        }
        if h.x_metropolis {
            row(ui, "x population jumps", egui::DragValue::new(&mut h.x_jump_every).range(0..=200))
                .on_hover_text(
                    "a jump after every this many x-steps (0: none): each chain of one half of the batch \
                     proposes x + (x_j − x_k) from two chains of the other half, accepted or rejected \
                     on the energies; carries chains between modes no local step crosses, in the \
                     right proportions; use it with a box",
                );
            row(
                ui,
                "x box half-width",
                egui::DragValue::new(&mut h.x_box_half_width).speed(0.1).range(0.0..=100.0),
            )
            .on_hover_text(
                "proposals with any coordinate outside [−b, b] are rejected (0: no box): keeps \
                 exact moves and jumps from running down a fresh EBM that has no floor; the \
                 data's box (e.g. 4.5 for 8 gaussians, 2.0 for 25)",
            );
        }
        row(ui, "z-Langevin steps", egui::DragValue::new(&mut h.z_steps).range(0..=200));
        row(ui, "z step size", egui::DragValue::new(&mut h.z_step_size).speed(0.001).range(1e-5..=10.0));
        row(ui, "EBM learning rate", learning_rate(&mut h.ebm_lr));
        row(ui, "generator learning rate", learning_rate(&mut h.generator_lr));
        row(ui, "inference learning rate", learning_rate(&mut h.inference_lr));
        row(ui, "iterations", egui::DragValue::new(&mut h.iterations).range(1..=10_000_000));
    });
    let changed =
        app.state.session.as_ref().is_some_and(|s| super::setup::Hyper::of(&s.cfg) != app.state.hyper);
    if ui
        .add_enabled(changed, egui::Button::new("Apply & reset"))
        .on_hover_text("fresh networks with these values")
        .clicked()
    {
        apply(app);
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn checkpoints(app: &mut App, ui: &mut egui::Ui) {
    ui.heading("Checkpoint");
    path_field(ui, &mut app.state.checkpoint_path, "a .safetensors file", |d| {
        d.add_filter("safetensors", &["safetensors"]).set_file_name("checkpoint.safetensors").save_file()
    });
    let typed = typed_path(&app.state.checkpoint_path);
    ui.horizontal(|ui| {
        let ready = app.state.session.is_some() && typed.is_some();
        if ui.add_enabled(ready, egui::Button::new("Save")).clicked() {
            app.send(Command::Save(typed.clone().expect("enabled with a path")));
        }
        if ui.add_enabled(typed.is_some(), egui::Button::new("Load")).clicked() {
            app.send(Command::Load(typed.clone().expect("enabled with a path")));
        }
    });
}

fn learning_rate(v: &mut f32) -> egui::DragValue<'_> {
    egui::DragValue::new(v).speed(1e-5).range(1e-7..=1.0).max_decimals(6)
}
