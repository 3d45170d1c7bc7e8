//! Pictures of what the model does: image grids, revision strips (paper Fig. 2), and 2-D
//! density maps with samples. Pixels only; PNG encoding is the `image` crate's.

mod progress;

pub use progress::progress_chart;

use crate::nn::Shape;
use image::{Rgb, RgbImage};

/// Gap between tiles, in pixels.
const PAD: u32 = 2;
const BACKGROUND: Rgb<u8> = Rgb([40, 40, 40]);

/// [−1, 1] → 0…255.
fn to_byte(v: f32) -> u8 {
    (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8
}

/// Draws example `i` of `x` (`[n, c, h, w]`, values in [−1, 1]; 1 or 3 channels) at (x0, y0).
fn blit(img: &mut RgbImage, x: &[f32], shape: Shape, i: usize, x0: u32, y0: u32) {
    let (c, h, w) = (shape.c, shape.h, shape.w);
    let base = i * shape.size();
    for yy in 0..h {
        for xx in 0..w {
            let at = |ch: usize| to_byte(x[base + (ch.min(c - 1) * h + yy) * w + xx]);
            img.put_pixel(x0 + xx as u32, y0 + yy as u32, Rgb([at(0), at(1), at(2)]));
        }
    }
}

/// A grid of `rows × cols` tiles, tile (r, k) showing `pick(r, k)` (an index into `x`), or
/// nothing when `pick` gives None.
pub fn tiles(
    x: &[f32],
    shape: Shape,
    rows: usize,
    cols: usize,
    pick: impl Fn(usize, usize) -> Option<usize>,
) -> RgbImage {
    let (tw, th) = (shape.w as u32 + PAD, shape.h as u32 + PAD);
    let mut img = RgbImage::from_pixel(cols as u32 * tw + PAD, rows as u32 * th + PAD, BACKGROUND);
    for r in 0..rows {
        for k in 0..cols {
            if let Some(i) = pick(r, k) {
                blit(&mut img, x, shape, i, PAD + k as u32 * tw, PAD + r as u32 * th);
            }
        }
    }
    img
}

/// The first `cols²` examples of `x` `[n, c, h, w]` as a square grid.
pub fn image_grid(x: &[f32], shape: Shape, cols: usize) -> RgbImage {
    let n = x.len() / shape.size();
    tiles(x, shape, cols, cols, |r, k| Some(r * cols + k).filter(|&i| i < n))
}

/// A revision strip: one row per chain, one column per shown step. `states[t]` is the batch
/// at step t; `steps` picks the columns.
pub fn chain_strip(states: &[Vec<f32>], shape: Shape, chains: usize, steps: &[usize]) -> RgbImage {
    let flat: Vec<f32> =
        steps.iter().flat_map(|&t| states[t][..chains * shape.size()].iter().copied()).collect();
    tiles(&flat, shape, chains, steps.len(), |r, k| Some(k * chains + r))
}

/// About `count` evenly spread steps of a chain of `last + 1` states, first and last included.
pub fn shown_steps(last: usize, count: usize) -> Vec<usize> {
    if last < count {
        return (0..=last).collect();
    }
    let mut steps: Vec<usize> = (0..count).map(|i| (i * last + (count - 1) / 2) / (count - 1)).collect();
    steps.dedup();
    steps
}

/// A 2-D density map: exp(−E) on an `n × n` grid over [lo, hi]² (energies `[n·n]`, x fastest,
/// y up), scaled to its maximum, with `data` drawn white and `samples` red. `scale` pixels
/// per cell.
pub fn density_map(
    energies: &[f32],
    n: usize,
    lo: [f32; 2],
    hi: [f32; 2],
    data: &[[f32; 2]],
    samples: &[[f32; 2]],
    scale: u32,
) -> RgbImage {
    let size = n as u32 * scale;
    let mut img = RgbImage::new(size, size);
    let max = energies.iter().map(|&e| -e).fold(f32::NEG_INFINITY, f32::max);
    for iy in 0..n {
        for ix in 0..n {
            let p = (-energies[iy * n + ix] - max).exp();
            let v = if p.is_finite() { p } else { 0.0 };
            // A dark-blue to yellow ramp.
            let colour = Rgb([(255.0 * v.sqrt()) as u8, (220.0 * v) as u8, (90.0 * (1.0 - v) + 40.0) as u8]);
            for dy in 0..scale {
                for dx in 0..scale {
                    img.put_pixel(ix as u32 * scale + dx, size - 1 - (iy as u32 * scale + dy), colour);
                }
            }
        }
    }
    let mut dot = |p: [f32; 2], colour: Rgb<u8>| {
        let fx = (p[0] - lo[0]) / (hi[0] - lo[0]) * size as f32;
        let fy = (p[1] - lo[1]) / (hi[1] - lo[1]) * size as f32;
        // A 2×2 dot, clipped to the picture.
        for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
            let (px, py) = (fx + dx, fy + dy);
            if px >= 0.0 && py >= 0.0 && px < size as f32 && py < size as f32 {
                img.put_pixel(px as u32, size - 1 - py as u32, colour);
            }
        }
    };
    data.iter().for_each(|&p| dot(p, Rgb([255, 255, 255])));
    samples.iter().for_each(|&p| dot(p, Rgb([255, 60, 60])));
    img
}

/// Makes plotters' "sans-serif" the Hack font that egui ships (`epaint_default_fonts`), so
/// that charts need no system font (monospaced: plotters' ab_glyph text drew a proportional
/// font with uneven letter spacing). Once per process; charts call it before drawing.
pub fn register_chart_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in; it parses, or the build's fonts are broken. (Charts are
        // drawn on the desktop only; plotters registers no fonts in the browser build.)
        #[cfg(not(target_arch = "wasm32"))]
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        );
    });
}
