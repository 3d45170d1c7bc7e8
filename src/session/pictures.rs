//! The PNG pictures a training run writes into `images/` (see [`super::RunFolder`]).

use super::{RunFolder, Session};
use crate::data::grid::Grid;
use crate::viz;
use anyhow::Context;

/// Writes the pictures of iteration `it`: generator samples, revised samples, the x- and
/// z-revision strips and reconstructions (images), or the density map (2-D data).
pub fn write(session: &Session, folder: &RunFolder, it: u64) -> anyhow::Result<()> {
    let (t, shape) = (&session.trainer, session.shape);
    let images = folder.images();
    // A run folder written by another tool (python/train_ddp.py, by hand) may lack it.
    std::fs::create_dir_all(&images).with_context(|| format!("cannot create {}", images.display()))?;
    let save = |name: &str, img: image::RgbImage| -> anyhow::Result<()> {
        let path = images.join(format!("{name}_{it:06}.png"));
        img.save(&path).with_context(|| format!("cannot write {}", path.display()))
    };
    let x_cfg = t.cfg.x_langevin;
    let samples = t.generate(&t.prior_draw(0))?;
    let chain = t.revise_x(&samples, &x_cfg, 0)?;
    let revised = chain.states.last().expect("a chain has states").clone();
    if shape.size() == 2 {
        return match session.toy() {
            Some(_) => save("density", density_maps(session, &[&revised])?.remove(0)),
            None => Ok(()),
        };
    }
    let cols = session.cfg.schedule.grid;
    save("samples", viz::image_grid(&samples, shape, cols))?;
    save("revised", viz::image_grid(&revised, shape, cols))?;
    let steps = viz::shown_steps(x_cfg.steps, 11);
    save("x_chain", viz::chain_strip(&chain.states, shape, cols, &steps))?;
    let n = cols.min(t.cfg.batch_size);
    let data = session.data()?.examples(n, t.cfg.seed);
    let z_cfg = t.cfg.z_langevin;
    let zchain = t.infer_z(&data, &z_cfg, 0, false)?;
    let decoded = t.decode_states(&zchain.states)?;
    let rows: Vec<f32> = [data.clone(), decoded[0].clone(), decoded.last().expect("states").clone()].concat();
    save("recon", viz::tiles(&rows, shape, 3, n, |r, k| Some(r * n + k)))?;
    let steps = viz::shown_steps(z_cfg.steps, 11);
    save("z_chain", viz::chain_strip(&decoded, shape, n, &steps))?;
    Ok(())
}

/// exp(−E) over the toy's box with 500 data points in white and, in red, each set of
/// `points` (`[m, 2]`) in turn: one picture per set, the energies evaluated once.
pub fn density_maps(session: &Session, points: &[&[f32]]) -> anyhow::Result<Vec<image::RgbImage>> {
    let toy = session.toy().context("a density map needs 2-D toy data")?;
    let (lo, hi) = toy.domain();
    let grid = Grid::new(lo, hi, 100);
    let energies = session.trainer.energies(&grid.points())?;
    let data: Vec<[f32; 2]> = toy.sample(500, 3);
    let picture = |set: &&[f32]| {
        let samples: Vec<[f32; 2]> = set.chunks(2).map(|c| [c[0], c[1]]).collect();
        viz::density_map(&energies, grid.n, grid.lo, grid.hi, &data, &samples, 4)
    };
    Ok(points.iter().map(picture).collect())
}
