//! `bench app`: the app's training speed on this adapter, with both ways of running its
//! worker: on its own thread (the desktop app) and polled by the frames (what the page in
//! the browser does). Frames are run headless at a display's pace (one every 16 ms), with
//! the app on its opening tab (the 2-D landscape, which follows the training), so the
//! figure is comparable with the page's (`web/test_page.sh`).

use crate::app::App;
use crate::app::setup::Setup;
use crate::app::worker::{Command, WorkerHandle};
use crate::gpu::Gpu;
use crate::nn::Engine;
use eframe::egui;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pace of the headless frames (60 Hz).
const FRAME: Duration = Duration::from_millis(16);
/// The most the benchmark waits for one variant.
const TIMEOUT: Duration = Duration::from_secs(1800);

/// Builds a worker on an engine.
type MakeWorker = fn(Arc<Engine>) -> WorkerHandle;

/// Times `iterations` iterations of the app's default session (8 gaussians) with each way
/// of running the worker, and prints iterations per second.
pub fn app(engine: &Arc<Engine>, iterations: u32) -> anyhow::Result<()> {
    let gpu: &Gpu = &engine.gpu;
    crate::put!(
        "app's default session (8 gaussians, toy2d preset), {iterations} iterations, frames every 16 ms"
    );
    let variants: [(&str, MakeWorker); 2] = [
        ("worker on its own thread (desktop app)", |e| WorkerHandle::spawn(move || e)),
        ("worker polled by the frames (the page's way)", |e| WorkerHandle::local(move || e)),
    ];
    for (name, make) in variants {
        let mut app = App::with_worker(make(engine.clone()), Some(gpu), Setup::default());
        let rate = time(&mut app, iterations)?;
        crate::put!("  {name}: {rate:.2} iterations/s ({:.3} s per iteration)", 1.0 / rate);
    }
    Ok(())
}

/// Starts training and runs frames until `iterations` more are done; iterations per second
/// from the first finished iteration to the last.
fn time(app: &mut App, iterations: u32) -> anyhow::Result<f64> {
    let ctx = egui::Context::default();
    let frame = |app: &mut App| {
        let _ = ctx.run_ui(egui::RawInput::default(), |ui| app.show(ui));
        std::thread::sleep(FRAME);
    };
    let began = Instant::now();
    let until = |app: &mut App, what: &str, done: &dyn Fn(&App) -> bool| -> anyhow::Result<()> {
        while !done(app) {
            if let Some(e) = app.state.errors.first() {
                anyhow::bail!("the app shows an error: {e}");
            }
            if began.elapsed() > TIMEOUT {
                anyhow::bail!("timed out waiting for {what}");
            }
            frame(app);
        }
        Ok(())
    };
    until(app, "the session", &|a| a.state.session.is_some())?;
    app.send(Command::Run(true));
    until(app, "the first iteration", &|a| a.state.iteration >= 1)?;
    let (t0, i0) = (Instant::now(), app.state.iteration);
    until(app, "the iterations", &|a| a.state.iteration >= i0 + iterations)?;
    let rate = f64::from(app.state.iteration - i0) / t0.elapsed().as_secs_f64();
    app.send(Command::Run(false));
    Ok(rate)
}
