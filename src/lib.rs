//! dualmcmc: energy-based models learned by Dual-MCMC teaching (Cui & Han, NeurIPS 2023),
//! with every network and both Langevin samplers as WGSL compute shaders on wgpu.

/// `eprintln!` that never panics: with stderr closed (`dualmcmc … 2>&1 | head -1`) a message
/// is dropped, and the run goes on to its end rather than aborting half-way.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that never panics: results on a closed stdout are dropped (see [`say!`]).
#[macro_export]
macro_rules! put {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod app;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod checkpoint;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod config;
pub mod data;
pub mod eval;
pub mod gpu;
pub mod models;
pub mod nn;
pub mod ops;
pub mod progress;
pub mod sampler;
pub mod session;
pub mod train;
pub mod viz;
