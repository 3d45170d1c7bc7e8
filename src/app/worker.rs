//! The worker: it owns the data, the trainer and the teaching chains, and answers the UI's
//! [`Command`]s with [`Event`]s over channels. The UI never waits on it (and so never on the
//! GPU); the worker wakes the UI with `request_repaint` after every event it sends.
//!
//! The worker is one future, [`Worker::run`], driven one of two ways:
//! - on the desktop, by its own thread ([`WorkerHandle::spawn`]), which blocks on it;
//! - in the browser, which has no threads, by the UI loop ([`WorkerHandle::local`]): every
//!   frame polls it once. It runs until its next readback, which completes on a later turn
//!   of the page's event loop, so one frame records at most one iteration (or one view's
//!   next dispatch) and never waits for the GPU.
//!
//! While running, the worker does one training iteration at a time (one submission and one
//! readback each, as the headless loop) and looks at its commands between iterations, so a
//! pause or a request for a view is answered within one iteration.

use super::setup::Setup;
use crate::config::RunConfig;
use crate::data::grid::Grid;
use crate::data::toy2d::Toy2d;
use crate::eval::run_eval::Progress;
use crate::nn::{Engine, Shape};
use crate::sampler::{LangevinConfig, Parameterisation};
use crate::session::Session;
use crate::train::{IterMetrics, TrainError, Trainer};
use eframe::egui;
use futures::channel::mpsc::{TryRecvError, UnboundedReceiver, UnboundedSender, unbounded};
use futures::{FutureExt, StreamExt};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::task::{Context, Poll, Wake, Waker};

/// What the UI asks of the training thread.
#[derive(Clone, Debug)]
pub enum Command {
    /// Wake this context after every event (the UI sends it on its first frame).
    Repaint(egui::Context),
    /// Build a fresh session (data, networks at their initial values) from these settings.
    Configure(Setup),
    /// Train continuously, or stop after the current iteration.
    Run(bool),
    /// One training iteration (pauses first).
    Step,
    /// Save / load a checkpoint (a load rebuilds the networks from its recorded config).
    Save(PathBuf),
    Load(PathBuf),
    /// Compute a view for a panel.
    View(ViewRequest),
    /// Teaching mode (2-D data): new chains, or one Langevin step of them.
    TeachReset {
        chains: usize,
        from_noise: bool,
    },
    TeachStep(TeachStep),
}

/// The panels' views, computed from the current networks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ViewRequest {
    /// x-Langevin from generator samples, all states kept; `chains` shown.
    RevisionX { chains: usize },
    /// Inference model, z-Langevin and g(z_t) for `examples` data examples.
    RevisionZ { examples: usize },
    /// `points` latents between two prior draws and between two inferred latents.
    Interpolation { points: usize },
    /// E on a `cells × cells` grid over the toy's box (2-D data only).
    Landscape { cells: usize },
}

/// One teaching step: x ← x − s·∇E(x) + n·ε, ε ~ N(0, I). With n = √(2s) this is the paper's
/// Langevin step (temperature 1); the temperature is T = n²/(2s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TeachStep {
    pub step_size: f32,
    pub noise: f32,
}

impl TeachStep {
    /// The same update in the reference parameterisation x ← x − (s'²/2)·∇E + n·ε: s' = √(2s).
    fn langevin(self) -> LangevinConfig {
        LangevinConfig {
            steps: 1,
            step_size: (2.0 * self.step_size).sqrt(),
            noise_scale: self.noise,
            ..LangevinConfig::default()
        }
    }

    /// T = n²/(2s).
    pub fn temperature(self) -> f32 {
        self.noise * self.noise / (2.0 * self.step_size)
    }
}

/// What the training thread tells the UI.
#[derive(Clone, Debug)]
pub enum Event {
    /// A session is ready (after Configure, a reset or a checkpoint load).
    Ready(Box<SessionInfo>),
    /// Training runs or stopped.
    Running(bool),
    /// An iteration finished.
    Iteration(IterSnapshot),
    /// Held-out measurements at an iteration (every `schedule.eval_every`).
    Progress(ProgressPoint),
    RevisionX(XChainView),
    RevisionZ(ZChainView),
    Interpolation(InterpolationView),
    Landscape(LandscapeView),
    Teach(TeachView),
    /// A message for the status line (e.g. "saved …").
    Note(String),
    /// Something failed; the session is unchanged (or absent, if it could not be built).
    Error(String),
    /// A command was handled (tests wait on this).
    Handled,
}

/// The session the thread holds.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub cfg: RunConfig,
    /// Which data, in words.
    pub data: String,
    pub shape: Shape,
    /// The toy, for 2-D data.
    pub toy: Option<Toy2d>,
    /// Parameters of (EBM, generator, inference model).
    pub params: [usize; 3],
    /// Iterations done (non-zero after a checkpoint load).
    pub iteration: u32,
}

/// Held-out measurements at one iteration: the log-likelihood for 2-D data, the Fréchet
/// distances for 28×28 grey images.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressPoint {
    pub iteration: u32,
    pub measured: Progress,
}

#[derive(Clone, Debug)]
pub struct IterSnapshot {
    pub metrics: IterMetrics,
    /// Wall-clock seconds of the iteration.
    pub seconds: f64,
}

/// x-Langevin from generator output x₀ to xₖ (paper Fig. 2, left).
#[derive(Clone, Debug)]
pub struct XChainView {
    pub shape: Shape,
    /// Iteration of the networks.
    pub iteration: u32,
    /// `states[t]`: the shown chains at step t, `[chains, example]` (2-D: every chain).
    pub states: Vec<Vec<f32>>,
    /// Mean energy over the whole batch per step.
    pub mean_energy: Vec<f32>,
    /// Energy per shown chain per step: `[chain][t]`.
    pub chain_energy: Vec<Vec<f32>>,
}

/// z-Langevin from the inference model's z₀ to z̃, decoded (paper Fig. 2, right).
#[derive(Clone, Debug)]
pub struct ZChainView {
    pub shape: Shape,
    pub iteration: u32,
    /// The data examples `[n, example]`.
    pub data: Vec<f32>,
    /// `decoded[t]` = g(z_t) `[n, example]`.
    pub decoded: Vec<Vec<f32>>,
    /// Mean squared reconstruction error per value, per step.
    pub mse: Vec<f32>,
    /// Mean log posterior per step.
    pub log_posterior: Vec<f32>,
}

/// Latent interpolation (paper Fig. 4).
#[derive(Clone, Debug)]
pub struct InterpolationView {
    pub shape: Shape,
    pub iteration: u32,
    /// g(z_i) between two prior draws `[points, example]`.
    pub synthesis: Vec<f32>,
    /// The two data examples `[2, example]`.
    pub ends: Vec<f32>,
    /// g(z_i) between their inferred latents `[points, example]`.
    pub reconstruction: Vec<f32>,
}

/// E on a grid over the toy's box, with data points.
#[derive(Clone, Debug)]
pub struct LandscapeView {
    pub iteration: u32,
    pub grid: Grid,
    /// `[cells²]`, x fastest, y up.
    pub energies: Vec<f32>,
    pub data: Vec<[f32; 2]>,
}

/// The teaching chains on the landscape.
#[derive(Clone, Debug)]
pub struct TeachView {
    pub step: usize,
    /// Current positions, and every earlier position (`path[t]`), for trails.
    pub path: Vec<Vec<[f32; 2]>>,
    /// Mean energy per step.
    pub mean_energy: Vec<f32>,
}

/// The UI's end of the channels, and the worker itself when the UI loop drives it.
pub struct WorkerHandle {
    tx: UnboundedSender<Command>,
    pub rx: Receiver<Event>,
    /// Commands sent so far (compare with the `Handled` events received).
    pub sent: u64,
    /// The worker, when no thread runs it ([`WorkerHandle::local`]).
    local: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

impl WorkerHandle {
    /// Starts a thread that runs the worker; `engine` runs on it (compiling the kernels
    /// takes a moment).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn spawn(engine: impl FnOnce() -> Arc<Engine> + Send + 'static) -> Self {
        let (tx, commands) = unbounded();
        let (events, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("dualmcmc training".into())
            .spawn(move || pollster::block_on(Worker::new(engine(), events).run(commands)))
            .expect("a thread can be started");
        Self { tx, rx, sent: 0, local: None }
    }

    /// The worker without a thread: [`WorkerHandle::poll`] drives it, once per frame (the
    /// browser; the tests drive it this way on the desktop too). `engine` runs on the first
    /// poll.
    pub fn local(engine: impl FnOnce() -> Arc<Engine> + 'static) -> Self {
        let (tx, commands) = unbounded();
        let (events, rx) = std::sync::mpsc::channel();
        let run = async move { Worker::new(engine(), events).run(commands).await };
        Self { tx, rx, sent: 0, local: Some(Box::pin(run)) }
    }

    /// Lets a local worker run until it next waits (for a readback, a command or the next
    /// frame); `ctx` is repainted when it can go on. Nothing to do for a thread's worker.
    pub fn poll(&mut self, ctx: Option<&egui::Context>) {
        let Some(run) = self.local.as_mut() else { return };
        let waker = match ctx {
            Some(ctx) => Waker::from(Arc::new(Repaint(ctx.clone()))),
            None => Waker::noop().clone(),
        };
        if run.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
            self.local = None;
        }
    }

    /// Whether the UI loop drives the worker ([`WorkerHandle::local`]).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Sends a command. Dropping the handle closes the channel: the worker ends after its
    /// current iteration (a thread is not joined, so closing the window never waits for the
    /// GPU).
    pub fn send(&mut self, command: Command) {
        // A send fails only when the worker has ended: nothing to do then.
        if self.tx.unbounded_send(command).is_ok() {
            self.sent += 1;
        }
    }
}

/// Wakes a local worker by asking egui for a frame (whose update polls it).
struct Repaint(egui::Context);

impl Wake for Repaint {
    fn wake(self: Arc<Self>) {
        self.0.request_repaint();
    }
}

/// Gives the loop that polls the worker its turn once (the UI's frame in the browser): a
/// future that is pending once, waking itself.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// The session the worker trains, and its teaching chains.
struct Held {
    session: Session,
    /// Teaching chains: positions per step so far.
    teach: Vec<Vec<[f32; 2]>>,
    teach_energy: Vec<f32>,
}

struct Worker {
    engine: Arc<Engine>,
    events: Sender<Event>,
    repaint: Option<egui::Context>,
    session: Option<Held>,
    running: bool,
}

impl Worker {
    fn new(engine: Arc<Engine>, events: Sender<Event>) -> Self {
        Self { engine, events, repaint: None, session: None, running: false }
    }

    async fn run(mut self, mut commands: UnboundedReceiver<Command>) {
        loop {
            // Every waiting command first, then one iteration when running.
            let command = if self.running {
                match commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Closed) => return,
                }
            } else {
                match commands.next().await {
                    Some(c) => Some(c),
                    None => return,
                }
            };
            // A panic (a bug) becomes an error in the window instead of a silent dead worker.
            let handled = command.is_some();
            let step = async {
                match command {
                    Some(c) => self.handle(c).await,
                    None => self.train_one().await,
                }
            };
            if let Err(panic) = std::panic::AssertUnwindSafe(step).catch_unwind().await {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.running = false;
                self.send(Event::Running(false));
                self.send(Event::Error(format!("internal error in the training worker: {what}")));
            }
            if handled {
                self.send(Event::Handled);
            } else {
                // Between iterations the frame goes on (a local worker's readbacks may be
                // ready at once, as on the desktop).
                yield_now().await;
            }
        }
    }

    fn send(&self, event: Event) {
        let _ = self.events.send(event);
        if let Some(ctx) = &self.repaint {
            ctx.request_repaint();
        }
    }

    fn set_running(&mut self, on: bool) {
        if self.running != on {
            self.running = on;
            self.send(Event::Running(on));
        }
    }

    async fn handle(&mut self, command: Command) {
        let result = match command {
            Command::Repaint(ctx) => {
                self.repaint = Some(ctx);
                Ok(())
            }
            Command::Configure(setup) => {
                self.set_running(false);
                setup.resolve().map_err(anyhow::Error::from).and_then(|cfg| self.configure(cfg))
            }
            Command::Run(on) => {
                if on && self.session.is_none() {
                    Err(anyhow::anyhow!("no session to train: fix the settings first"))
                } else {
                    self.set_running(on);
                    Ok(())
                }
            }
            Command::Step => {
                self.set_running(false);
                self.train_one().await;
                Ok(())
            }
            Command::Save(path) => self.save(&path),
            Command::Load(path) => {
                self.set_running(false);
                self.load(&path)
            }
            Command::View(request) => self.view(request).await,
            Command::TeachReset { chains, from_noise } => self.teach_reset(chains, from_noise).await,
            Command::TeachStep(step) => self.teach_step(step).await,
        };
        if let Err(e) = result {
            self.send(Event::Error(format!("{e:#}")));
        }
    }

    /// Holds `session` (after Configure, a reset or a load) and tells the UI.
    fn hold(&mut self, session: Session) {
        let info = SessionInfo {
            cfg: session.cfg.clone(),
            data: session.data.as_ref().map(|d| d.description.clone()).unwrap_or_default(),
            shape: session.shape,
            toy: session.toy(),
            params: session.num_params(),
            iteration: session.trainer.iteration,
        };
        self.session = Some(Held { session, teach: Vec::new(), teach_energy: Vec::new() });
        self.send(Event::Ready(Box::new(info)));
    }

    /// A new session from `cfg`, with fresh networks.
    fn configure(&mut self, cfg: RunConfig) -> anyhow::Result<()> {
        let session = Session::new(self.engine.clone(), cfg)?;
        self.hold(session);
        Ok(())
    }

    fn session(&self) -> anyhow::Result<&Session> {
        match &self.session {
            Some(h) => Ok(&h.session),
            None => Err(anyhow::anyhow!("no session: fix the settings first")),
        }
    }

    async fn train_one(&mut self) {
        let Some(held) = self.session.as_mut() else {
            self.set_running(false);
            return;
        };
        let s = &mut held.session;
        let began = web_time::Instant::now();
        match s.step_async().await {
            Ok(metrics) => {
                let seconds = began.elapsed().as_secs_f64();
                let done = u64::from(s.trainer.iteration);
                let every = s.cfg.schedule.eval_every;
                let measured = match every > 0 && done % every == 0 {
                    true => Some(progress(s).await),
                    false => None,
                };
                let finished = done >= s.cfg.schedule.iterations;
                if finished {
                    self.set_running(false);
                }
                self.send(Event::Iteration(IterSnapshot { metrics, seconds }));
                match measured {
                    Some(Ok(Some(point))) => self.send(Event::Progress(point)),
                    Some(Err(e)) => self.send(Event::Error(format!("held-out measurement: {e:#}"))),
                    _ => {}
                }
            }
            Err(e) => {
                let jumps_without_box = s.cfg.train.x_langevin.jumps_without_box();
                self.set_running(false);
                let hint = match e {
                    TrainError::Diverged(_) if jumps_without_box => format!(
                        " {}: set \"x box half-width\" to the data's box (the landscape's axes show \
                         it), then Apply & reset.",
                        crate::sampler::LangevinConfig::NO_FLOOR
                    ),
                    TrainError::Diverged(_) => {
                        " Lower the learning rates or the Langevin step size, then continue or reset."
                            .to_string()
                    }
                    TrainError::Device(_) | TrainError::NoData => String::new(),
                };
                self.send(Event::Error(format!("{e}.{hint}")));
            }
        }
    }

    fn save(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let s = self.session()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        s.save(path)?;
        self.send(Event::Note(format!("saved {} (iteration {})", path.display(), s.trainer.iteration)));
        Ok(())
    }

    /// Loads a checkpoint: into a session rebuilt from the configuration it records (else the
    /// current one). On error the current session is kept.
    fn load(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
        let current = self.session.as_ref().map(|h| &h.session.cfg);
        let session = Session::load(self.engine.clone(), path, current)?;
        let iteration = session.trainer.iteration;
        self.hold(session);
        self.send(Event::Note(format!("loaded {} (iteration {iteration})", path.display())));
        Ok(())
    }

    /// Computes a view with the networks on their moving averages when the run keeps them.
    async fn view(&mut self, request: ViewRequest) -> anyhow::Result<()> {
        let held =
            self.session.as_mut().ok_or_else(|| anyhow::anyhow!("no session: fix the settings first"))?;
        let event = held.session.with_averages_async(async |s, _| view_of(s, request).await).await?;
        self.send(event);
        Ok(())
    }

    async fn teach_reset(&mut self, chains: usize, from_noise: bool) -> anyhow::Result<()> {
        let h = self.session.as_mut().ok_or_else(|| anyhow::anyhow!("no session"))?;
        let toy = h.session.toy().ok_or_else(|| anyhow::anyhow!("teaching mode needs 2-D toy data"))?;
        let (start, energy) = h
            .session
            .with_averages_async(async |s, _| -> anyhow::Result<_> {
                let t = &s.trainer;
                let n = chains.clamp(1, t.cfg.batch_size);
                let start: Vec<[f32; 2]> = if from_noise {
                    let (lo, hi) = toy.domain();
                    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(t.cfg.seed);
                    (0..n).map(|_| [0, 1].map(|k| rand::Rng::random_range(&mut rng, lo[k]..hi[k]))).collect()
                } else {
                    t.generate_async(&t.prior_draw(1))
                        .await?
                        .chunks(2)
                        .take(n)
                        .map(|c| [c[0], c[1]])
                        .collect()
                };
                let flat: Vec<f32> = start.iter().flatten().copied().collect();
                Ok((start, mean(&t.energy_async(&flat, false).await?.0)))
            })
            .await?;
        h.teach = vec![start];
        h.teach_energy = vec![energy];
        self.send_teach();
        Ok(())
    }

    async fn teach_step(&mut self, step: TeachStep) -> anyhow::Result<()> {
        let s = self.session.as_mut().ok_or_else(|| anyhow::anyhow!("no session"))?;
        let Some(now) = s.teach.last() else { anyhow::bail!("start the chains first") };
        let x: Vec<f32> = now.iter().flatten().copied().collect();
        // Key: the step number, far from the keys the other views use.
        let key = 1_000_000 + s.teach.len() as u32;
        let chain = s
            .session
            .with_averages_async(async |session, _| {
                session.trainer.revise_x_async(&x, &step.langevin(), Parameterisation::Reference, key).await
            })
            .await?;
        let next: Vec<[f32; 2]> = chain.states[1].chunks(2).map(|c| [c[0], c[1]]).collect();
        s.teach.push(next);
        s.teach_energy.push(chain.trace[1]);
        self.send_teach();
        Ok(())
    }

    fn send_teach(&self) {
        if let Some(s) = &self.session {
            let view = TeachView {
                step: s.teach.len().saturating_sub(1),
                path: s.teach.clone(),
                mean_energy: s.teach_energy.clone(),
            };
            self.send(Event::Teach(view));
        }
    }
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

/// The view `request` asks for, computed with `s`'s networks as they are.
async fn view_of(s: &Session, request: ViewRequest) -> anyhow::Result<Event> {
    let t = &s.trainer;
    let (shape, iteration, b) = (s.shape, t.iteration, t.cfg.batch_size);
    let d = shape.size();
    let event = match request {
        ViewRequest::RevisionX { chains } => {
            let x_cfg = t.cfg.x_langevin;
            let x0 = t.generate_async(&t.prior_draw(0)).await?;
            let chain = t.revise_x_async(&x0, &x_cfg, t.cfg.parameterisation, 0).await?;
            let n = if d == 2 { b } else { chains.clamp(1, b) };
            let states: Vec<Vec<f32>> = chain.states.iter().map(|x| x[..n * d].to_vec()).collect();
            // Every state's energies in one readback (the EBM has no batch statistics).
            let energies = t.energies_async(&states.concat()).await?;
            let mut chain_energy = vec![Vec::with_capacity(states.len()); n];
            for x in energies.chunks(n) {
                for (k, &e) in x.iter().enumerate() {
                    chain_energy[k].push(e);
                }
            }
            if d == 2 {
                chain_energy.truncate(chains);
            }
            Event::RevisionX(XChainView { shape, iteration, states, mean_energy: chain.trace, chain_energy })
        }
        ViewRequest::RevisionZ { examples } => {
            let n = examples.clamp(1, b);
            let data = s.data()?.examples(n, t.cfg.seed);
            let z_cfg = t.cfg.z_langevin;
            let chain = t.infer_z_async(&data, &z_cfg, 0, false).await?;
            let decoded = t.decode_states_async(&chain.states).await?;
            Event::RevisionZ(ZChainView {
                shape,
                iteration,
                data,
                decoded,
                mse: chain.trace,
                log_posterior: chain.log_posterior,
            })
        }
        ViewRequest::Interpolation { points } => {
            let (p, nz) = (points.max(2), t.cfg.nz);
            let context = t.prior_draw(0);
            let second = if b >= 2 { context[nz..2 * nz].to_vec() } else { t.prior_draw(1)[..nz].to_vec() };
            let zs = Trainer::lerp_latents(&context[..nz], &second, p);
            let synthesis = t.decode_in_context_async(&zs, &context).await?;
            let ends = s.data()?.examples(2, t.cfg.seed);
            let z_cfg = t.cfg.z_langevin;
            let z = t.inferred_latents_async(&ends, &z_cfg).await?;
            let zs = Trainer::lerp_latents(&z[..nz], &z[nz..], p);
            let reconstruction = t.decode_in_context_async(&zs, &context).await?;
            Event::Interpolation(InterpolationView { shape, iteration, synthesis, ends, reconstruction })
        }
        ViewRequest::Landscape { cells } => {
            let toy = s.toy().ok_or_else(|| anyhow::anyhow!("the landscape needs 2-D toy data"))?;
            let (lo, hi) = toy.domain();
            let grid = Grid::new(lo, hi, cells.clamp(8, 256));
            let energies = t.energies_async(&grid.points()).await?;
            Event::Landscape(LandscapeView { iteration, grid, energies, data: toy.sample(500, 3) })
        }
    };
    Ok(event)
}

/// The session's held-out measurements now, if its data has any.
async fn progress(s: &mut Session) -> anyhow::Result<Option<ProgressPoint>> {
    let measured = crate::eval::run_eval::measure_progress_async(s).await?;
    let iteration = s.trainer.iteration;
    Ok((measured != Progress::default()).then_some(ProgressPoint { iteration, measured }))
}
