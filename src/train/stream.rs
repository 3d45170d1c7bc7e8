//! Philox streams: each use of noise in an iteration draws from its own stream, so that
//! every noise value is a function of (seed, stream, iteration, step, element).

pub const PRIOR: u32 = 10;
pub const REPARAM: u32 = 11;
pub const X_TEACH: u32 = 12;
pub const X_EBM: u32 = 13;
pub const Z_CHAIN: u32 = 14;
pub const X_NOISE_INIT: u32 = 15;
pub const Z_NOISE_INIT: u32 = 16;
/// Display and the command line, five streams from here: x-chain noise, z-chain noise,
/// prior draws, reparameterisation noise, noise starting points of x-chains.
pub const INSPECT: u32 = 20;
