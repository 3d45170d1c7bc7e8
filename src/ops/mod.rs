//! GPU ops: one Rust type per WGSL kernel family in `shaders/`, each with a plain CPU
//! reference (module `cpu` beside it) that the tests compare against.

pub mod activation;
pub mod elementwise;
pub mod matmul;
pub mod reduce;

/// Every WGSL source the crate compiles, by file name, as it is handed to the GPU (sources
/// that include a shared library file are shown composed). Used by the naga validation test.
pub fn shader_sources() -> Vec<(&'static str, String)> {
    vec![
        ("activation.wgsl", activation::SOURCE.to_string()),
        ("elementwise.wgsl", elementwise::SOURCE.to_string()),
        ("matmul_scalar.wgsl", matmul::composed_source(false)),
        ("matmul_vec4.wgsl", matmul::composed_source(true)),
        ("reduce.wgsl", reduce::SOURCE.to_string()),
    ]
}
