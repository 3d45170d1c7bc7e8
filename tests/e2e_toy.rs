//! End to end: Dual-MCMC teaching on 8 gaussians learns a density whose exact grid
//! log-likelihood reaches −3.2 nats (optimum −2.833, docs/reference.md), and EBM-revised samples
//! reach all 8 modes. Sized for CI on lavapipe (about 100 s on 2 cores).

mod common;
use common::engine_arc;
use dualmcmc::config::RunConfig;
use dualmcmc::data::toy2d::Toy2d;
use dualmcmc::eval::grid::{Grid, average_log_likelihood, mode_coverage};
use dualmcmc::session::Session;

#[test]
fn eight_gaussians_reaches_the_stated_log_likelihood_and_all_modes() {
    // The toy2d preset at a CI budget: narrower networks, smaller batches, shorter chains.
    let overrides: Vec<String> = [
        "model.hidden=64",
        "train.batch_size=128",
        "train.x_langevin.steps=20",
        "train.z_langevin.steps=5",
        "schedule.iterations=1000",
        "schedule.grid=8",
    ]
    .map(String::from)
    .to_vec();
    let cfg = RunConfig::resolve(RunConfig::preset("toy2d").unwrap(), &overrides, "toy2d preset").unwrap();
    let iterations = cfg.schedule.iterations;
    // The same session and step as `train` (learning-rate schedule included).
    let mut session = Session::new(engine_arc(), cfg).unwrap();
    for _ in 0..iterations {
        session.step().unwrap();
    }
    let t = &session.trainer;

    let grid = Grid::for_toy(Toy2d::EightGaussians);
    let energies = t.energies(&grid.points()).unwrap();
    let held_out = Toy2d::EightGaussians.sample(5000, 12345);
    let ll = average_log_likelihood(&grid, &energies, &held_out);
    eprintln!(
        "8 gaussians after {} iterations: average log-likelihood {ll:.4} nats (optimum −2.833)",
        iterations
    );
    assert!(ll >= -3.2, "held-out log-likelihood {ll:.4} below −3.2");
    assert!(ll <= -2.80, "log-likelihood {ll:.4} above the optimum −2.833: the evaluation is wrong");

    // EBM-revised samples: generator samples revised by the training x-Langevin.
    let x_cfg = t.cfg.x_langevin;
    let mut revised = Vec::new();
    for key in 0..4 {
        let chain = t.revise_x(&t.generate(&t.prior_draw(key)).unwrap(), &x_cfg, key).unwrap();
        revised.extend(chain.states.last().unwrap().chunks(2).map(|c| [c[0], c[1]]));
    }
    let modes = Toy2d::EightGaussians.modes().unwrap();
    let coverage = mode_coverage(&revised, &modes.centres, modes.std, 3.0);
    eprintln!(
        "revised samples: {} modes reached, {:.3} of samples near a mode",
        coverage.modes_reached, coverage.near_fraction
    );
    assert_eq!(coverage.modes_reached, 8, "revised samples per mode: {:?}", coverage.per_mode);
    assert!(
        coverage.near_fraction > 0.7,
        "only {:.3} of the revised samples lie near a mode",
        coverage.near_fraction
    );
}
