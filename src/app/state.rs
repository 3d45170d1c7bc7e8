//! The app's state, apart from drawing: settings being edited, what the training thread
//! reported, and what each panel shows. [`AppState::apply`] folds in one [`Event`].

use super::setup::{DataChoice, Hyper, Setup};
use super::worker::{
    Event, InterpolationView, LandscapeView, ProgressPoint, SessionInfo, TeachStep, TeachView, XChainView,
    ZChainView,
};

/// The panels, as tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Curves,
    RevisionX,
    RevisionZ,
    Interpolation,
    Landscape,
}

impl Tab {
    pub const ALL: [Tab; 5] =
        [Tab::Curves, Tab::RevisionX, Tab::RevisionZ, Tab::Interpolation, Tab::Landscape];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Curves => "Training curves",
            Tab::RevisionX => "MCMC revision on x",
            Tab::RevisionZ => "MCMC revision on z",
            Tab::Interpolation => "Latent interpolation",
            Tab::Landscape => "2-D energy landscape",
        }
    }
}

/// One row of the training curves.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Row {
    pub iteration: f64,
    pub gen_loss: f64,
    pub inf_loss: f64,
    pub ebm_loss: f64,
    pub energy_data: f64,
    pub energy_samples: f64,
    pub recon_mse_initial: f64,
    pub recon_mse: f64,
    /// Share of the EBM chain's proposals accepted (Metropolis-adjusted chains; NaN without).
    pub x_accept: f64,
    /// Share of its population jumps accepted (chains with jumps; NaN without).
    pub x_jump_accept: f64,
    pub seconds: f64,
}

/// Show exp(−E) (the density, up to Z) or f = −E on the landscape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    Density,
    NegEnergy,
}

/// The app's state.
pub struct AppState {
    /// What the controls edit (applied with "Apply & reset").
    pub setup: Setup,
    /// The hyperparameters shown in the controls.
    pub hyper: Hyper,
    /// Path fields (for when no file dialog can open).
    pub data_path: String,
    pub checkpoint_path: String,
    pub tab: Tab,
    pub session: Option<SessionInfo>,
    pub running: bool,
    /// Iterations done.
    pub iteration: u32,
    pub history: Vec<Row>,
    /// Held-out log-likelihoods of a 2-D run (every `schedule.eval_every` iterations).
    pub progress: Vec<ProgressPoint>,
    /// Shown in a banner until dismissed.
    pub errors: Vec<String>,
    pub note: String,
    /// Whether to show machine-specific text: the adapter, timings, data file paths (tests
    /// turn it off: it is not reproducible in snapshot images).
    pub show_machine: bool,
    pub x_view: Option<XChainView>,
    pub x_step: usize,
    pub x_playing: bool,
    pub x_chains: usize,
    pub z_view: Option<ZChainView>,
    pub z_step: usize,
    pub z_playing: bool,
    pub z_examples: usize,
    pub interpolation: Option<InterpolationView>,
    pub points: usize,
    pub landscape: Option<LandscapeView>,
    pub surface: Surface,
    pub cells: usize,
    pub teach: Option<TeachView>,
    pub teach_step: TeachStep,
    pub teach_chains: usize,
    pub teach_playing: bool,
    /// Bumped on every new view (texture caches compare it).
    pub version: u64,
    /// View requests sent and not yet answered (no new request while one is pending).
    pub pending_views: usize,
    /// Commands the worker has handled.
    pub handled: u64,
}

impl AppState {
    pub fn new(setup: Setup) -> Self {
        let hyper = setup.hyper.unwrap_or_else(|| setup.resolve().map(|c| Hyper::of(&c)).unwrap_or(FALLBACK));
        Self {
            setup,
            hyper,
            data_path: String::new(),
            checkpoint_path: "runs/app/checkpoint.safetensors".into(),
            tab: Tab::Landscape,
            session: None,
            running: false,
            iteration: 0,
            history: Vec::new(),
            progress: Vec::new(),
            errors: Vec::new(),
            note: String::new(),
            show_machine: true,
            x_view: None,
            x_step: 0,
            x_playing: false,
            x_chains: 4,
            z_view: None,
            z_step: 0,
            z_playing: false,
            z_examples: 6,
            interpolation: None,
            points: 8,
            landscape: None,
            surface: Surface::Density,
            cells: 80,
            teach: None,
            teach_step: TeachStep { step_size: 0.05, noise: 0.1f32.sqrt() },
            teach_chains: 64,
            teach_playing: false,
            version: 0,
            pending_views: 0,
            handled: 0,
        }
    }

    /// Whether the session has 2-D toy data.
    pub fn is_toy(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.toy.is_some())
    }

    /// Folds in one event from the training thread.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Ready(info) => {
                self.iteration = info.iteration;
                self.hyper = Hyper::of(&info.cfg);
                if info.toy.is_none() && self.tab == Tab::Landscape {
                    self.tab = Tab::RevisionX;
                }
                self.session = Some(*info);
                self.history.clear();
                self.progress.clear();
                self.x_view = None;
                self.z_view = None;
                self.interpolation = None;
                self.landscape = None;
                self.teach = None;
                self.teach_playing = false;
                self.x_playing = false;
                self.z_playing = false;
                self.version += 1;
            }
            Event::Running(on) => self.running = on,
            Event::Iteration(snap) => {
                let m = &snap.metrics;
                self.iteration = m.iteration + 1;
                self.history.push(Row {
                    iteration: f64::from(m.iteration + 1),
                    gen_loss: f64::from(m.gen_loss),
                    inf_loss: f64::from(m.inf_loss),
                    ebm_loss: f64::from(m.ebm_loss),
                    energy_data: f64::from(m.energy_data),
                    energy_samples: f64::from(m.energy_samples),
                    recon_mse_initial: f64::from(m.recon_mse_initial),
                    recon_mse: f64::from(m.recon_mse),
                    x_accept: m.x_accept.map_or(f64::NAN, f64::from),
                    x_jump_accept: m.x_jump_accept.map_or(f64::NAN, f64::from),
                    seconds: snap.seconds,
                });
            }
            Event::Progress(point) => self.progress.push(point),
            Event::RevisionX(v) => {
                self.x_step = self.x_step.min(v.states.len() - 1);
                if self.x_view.is_none() {
                    self.x_step = v.states.len() - 1;
                }
                self.x_view = Some(v);
                self.view_arrived();
            }
            Event::RevisionZ(v) => {
                self.z_step = if self.z_view.is_none() {
                    v.decoded.len() - 1
                } else {
                    self.z_step.min(v.decoded.len() - 1)
                };
                self.z_view = Some(v);
                self.view_arrived();
            }
            Event::Interpolation(v) => {
                self.interpolation = Some(v);
                self.view_arrived();
            }
            Event::Landscape(v) => {
                self.landscape = Some(v);
                self.view_arrived();
            }
            Event::Teach(v) => {
                self.teach = Some(v);
                self.view_arrived();
            }
            Event::Note(text) => self.note = text,
            Event::Error(text) => {
                // A failed view request still counts as answered.
                self.pending_views = 0;
                if !self.errors.contains(&text) {
                    self.errors.push(text);
                }
            }
            Event::Handled => self.handled += 1,
        }
    }

    fn view_arrived(&mut self) {
        self.pending_views = self.pending_views.saturating_sub(1);
        self.version += 1;
    }

    /// The data choice shown in the controls, in words.
    pub fn data_label(&self) -> String {
        match &self.setup.data {
            DataChoice::Preset => "the preset's data".into(),
            DataChoice::Toy(name) => format!("toy {name}"),
            DataChoice::Idx(p) => format!("IDX file {}", p.display()),
            DataChoice::Cifar10(p) => format!("CIFAR-10 {}", p.display()),
            DataChoice::Folder { path, .. } => format!("folder {}", path.display()),
        }
    }
}

/// Shown when the preset cannot be resolved (never for the built-in presets).
const FALLBACK: Hyper = Hyper {
    batch_size: 64,
    x_steps: 20,
    x_step_size: 0.05,
    x_metropolis: false,
    x_jump_every: 0,
    x_box_half_width: 0.0,
    z_steps: 5,
    z_step_size: 0.01,
    ebm_lr: 1e-3,
    generator_lr: 1e-3,
    inference_lr: 1e-3,
    iterations: 2000,
};

/// At most `max` points of the series (x sorted): the first and last kept, and in between
/// the minimum and maximum of each of `max / 2` equal buckets, in x order — so long runs
/// draw quickly and spikes stay visible.
pub fn downsample(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
    if points.len() <= max || max < 4 {
        return points.to_vec();
    }
    let buckets = (max - 2) / 2;
    let inner = &points[1..points.len() - 1];
    let mut out = Vec::with_capacity(max);
    out.push(points[0]);
    for b in 0..buckets {
        let lo = b * inner.len() / buckets;
        let hi = ((b + 1) * inner.len() / buckets).max(lo + 1).min(inner.len());
        let chunk = &inner[lo..hi];
        let by_y = |a: &&[f64; 2], b: &&[f64; 2]| a[1].total_cmp(&b[1]);
        let (imin, min) = chunk.iter().enumerate().min_by(|a, b| by_y(&a.1, &b.1)).expect("a bucket");
        let (imax, max) = chunk.iter().enumerate().max_by(|a, b| by_y(&a.1, &b.1)).expect("a bucket");
        match imin.cmp(&imax) {
            std::cmp::Ordering::Less => out.extend([*min, *max]),
            std::cmp::Ordering::Greater => out.extend([*max, *min]),
            std::cmp::Ordering::Equal => out.push(*min),
        }
    }
    out.push(points[points.len() - 1]);
    out
}
