//! GPU ops: one Rust type per WGSL kernel family, its `.wgsl` file beside it, each with a plain CPU
//! reference (module `cpu` beside it) that the tests compare against.

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod bias;
pub mod conv2d;
pub mod cross_entropy;
pub mod elementwise;
pub mod langevin;
pub mod loss;
pub mod matmul;
pub mod mlp_chain;
pub mod pool;
pub mod reduce;
pub mod rng;
mod shape;
pub mod spectral_norm;
pub mod upsample;

pub use shape::Nchw;

/// Every WGSL source the crate compiles, by file name, as it is handed to the GPU (sources
/// that include a shared library file are shown composed). Used by the naga validation test.
pub fn shader_sources() -> Vec<(&'static str, String)> {
    vec![
        ("activation.wgsl", activation::SOURCE.to_string()),
        ("adam.wgsl", adam::SOURCE.to_string()),
        ("batchnorm.wgsl", batchnorm::SOURCE.to_string()),
        ("bias.wgsl", bias::SOURCE.to_string()),
        // Composed: a weights reader (uniform slices or storage) + conv2d.wgsl.
        ("conv2d_weights_uniform.wgsl", conv2d::composed_source(false)),
        ("conv2d_weights_storage.wgsl", conv2d::composed_source(true)),
        ("cross_entropy.wgsl", cross_entropy::SOURCE.to_string()),
        ("elementwise.wgsl", elementwise::SOURCE.to_string()),
        // Composed: philox.wgsl + langevin.wgsl.
        ("langevin.wgsl", langevin::Langevin::source()),
        // Composed: philox.wgsl + metropolis.wgsl.
        ("metropolis.wgsl", langevin::Langevin::metropolis_source()),
        // Composed: philox.wgsl + loss.wgsl.
        ("loss.wgsl", loss::Loss::source()),
        // Composed: A and B loaders (matmul_{a,b}_{vec4,scalar}.wgsl), a store file
        // (matmul_store_{vec4,scalar}.wgsl), epilogue.wgsl + matmul.wgsl; every file once.
        ("matmul.wgsl (element loads and stores)", matmul::composed_source(matmul::Widths::ALL_SCALAR)),
        ("matmul.wgsl (vec4 loads and stores)", matmul::composed_source(matmul::Widths::ALL_VEC4)),
        // Composed: the MLP's sizes as constants, philox.wgsl + mlp_chain.wgsl (an x-chain
        // and a z-chain of the toy2d networks).
        (
            "mlp_chain.wgsl (energy)",
            mlp_chain::MlpChain::source(&mlp_chain::MlpLayout::example(2, 1), false, false, 8),
        ),
        (
            "mlp_chain.wgsl (fit)",
            mlp_chain::MlpChain::source(&mlp_chain::MlpLayout::example(2, 2), true, false, 64),
        ),
        (
            "mlp_chain.wgsl (metropolis)",
            mlp_chain::MlpChain::source(&mlp_chain::MlpLayout::example(2, 1), false, true, 8),
        ),
        ("mlp_chain_pack.wgsl", mlp_chain::MlpChain::pack_source(&mlp_chain::MlpLayout::example(2, 1))),
        ("pool.wgsl", pool::SOURCE.to_string()),
        ("reduce.wgsl", reduce::SOURCE.to_string()),
        // Composed: philox.wgsl (a library, listed by its `// file:` line) + rng.wgsl.
        ("rng.wgsl", rng::SOURCE.to_string()),
        ("spectral_norm.wgsl", spectral_norm::SOURCE.to_string()),
        ("upsample.wgsl", upsample::SOURCE.to_string()),
    ]
}
