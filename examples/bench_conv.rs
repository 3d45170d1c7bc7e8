//! Conv2d throughput at the networks' shapes: `cargo run --release --example bench_conv`.

use dualmcmc::gpu::{AdapterChoice, Gpu};

fn main() -> anyhow::Result<()> {
    let gpu = Gpu::new(&AdapterChoice::from_env())?;
    dualmcmc::bench_layers::conv_bench(&gpu);
    Ok(())
}
