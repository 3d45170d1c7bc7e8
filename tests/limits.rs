//! Resource limits: buffer requests checked against the device before wgpu sees them
//! (`Gpu::checked`), and every kernel and preset on a device created with WebGPU's default
//! limits (`--limits webgpu`), which every WebGPU device grants.

mod common;
use common::{gpu, random};
use dualmcmc::config::RunConfig;
use dualmcmc::gpu::{AdapterChoice, DeviceLimits, Gpu, ResourceError};
use dualmcmc::nn::{Engine, Shape};
use dualmcmc::session::Session;
use std::sync::{Arc, OnceLock};

/// The test adapter again, with WebGPU's default limits.
fn webgpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let choice = AdapterChoice { limits: DeviceLimits::Webgpu, ..AdapterChoice::from_env() };
        Gpu::new(&choice).expect("the test adapter grants WebGPU's default limits")
    })
}

#[test]
fn a_buffer_over_a_limit_is_refused_with_what_asked_for_it_and_the_limit() {
    let g = webgpu();
    assert_eq!(g.limits, wgpu::Limits::defaults());
    let max = g.limits.max_storage_buffer_binding_size as usize / 4;
    let err = g
        .checked(|| {
            g.allocating("the test's activations", "test.batch_size");
            let fits = g.zeros(1000);
            let too_large = g.zeros(max + 1);
            let after = g.zeros(10);
            (fits, too_large, after)
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ResourceError::BufferTooLarge { .. }), "{err:?}");
    for s in
        ["the test's activations", "test.batch_size", "max_storage_buffer_binding_size", "134217732 bytes"]
    {
        assert!(msg.contains(s), "'{s}' missing from: {msg}");
    }
    // Exactly at the limit is fine, and so is anything after a failed check.
    let ok = g.checked(|| g.zeros(max)).unwrap();
    assert_eq!(ok.len, max);
    assert_eq!(ok.buffer.size(), g.limits.max_storage_buffer_binding_size);
    let data = random(1, 300, -1.0, 1.0);
    let up = g.checked(|| g.upload(&data)).unwrap();
    assert_eq!(g.read::<f32>(&up).unwrap(), data);
}

#[test]
fn buffers_beyond_the_memory_of_a_cpu_adapter_are_refused_before_they_are_allocated() {
    let g = gpu();
    if !g.is_cpu() {
        eprintln!(
            "skipped: wgpu reports no memory size for GPUs (their own out-of-memory error is the check)"
        );
        return;
    }
    let step = g.limits.max_storage_buffer_binding_size.min(g.limits.max_buffer_size) as usize / 4;
    let mut system = sysinfo::System::new().unwrap();
    system.refresh_memory();
    let needed = (system.available_memory() / (4 * step as u64)) as usize + 2;
    assert!(needed < 100_000, "this machine has more memory than the test can ask for");
    let err = g
        .checked(|| {
            g.allocating("a pile of buffers", "test.count");
            (0..needed).map(|_| g.zeros(step)).collect::<Vec<_>>()
        })
        .unwrap_err();
    assert!(matches!(err, ResourceError::OutOfMemory { .. }), "{err:?}");
    assert!(err.to_string().contains("test.count") && err.to_string().contains("memory available"), "{err}");
}

#[test]
fn every_kernel_compiles_within_webgpus_default_limits() {
    // Pipelines are validated against the device's limits when created: workgroup sizes,
    // storage buffers per stage, workgroup memory. Both sets of variants.
    let g = webgpu();
    let _lavapipe_variants = Engine::with_gpu_variants(g, false);
    let _gpu_variants = Engine::with_gpu_variants(g, true);
}

/// A preset's configuration with `set` overrides.
fn preset(name: &str, set: &[&str]) -> RunConfig {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    RunConfig::resolve(RunConfig::preset(name).unwrap(), &set, name).unwrap()
}

fn shape_of(name: &str) -> Shape {
    match name {
        "toy2d" => Shape::flat(2),
        "fmnist" => Shape::image(1, 28, 28),
        "cifar10" => Shape::image(3, 32, 32),
        "celeba64" => Shape::image(3, 64, 64),
        other => panic!("no shape for {other}"),
    }
}

#[test]
fn every_preset_builds_within_webgpus_default_limits_or_refuses_naming_the_limit() {
    let engine = Arc::new(Engine::with_gpu_variants(webgpu(), !webgpu().is_cpu()));
    for name in ["toy2d", "fmnist", "cifar10", "celeba64"] {
        let cfg = preset(name, &[]);
        let batch = cfg.train.batch_size;
        match Session::untrained(engine.clone(), cfg, shape_of(name)) {
            Ok(_) => eprintln!("{name} at batch {batch}: fits WebGPU's default limits"),
            Err(e) => {
                let msg = format!("{e:#}");
                eprintln!("{name} at batch {batch}: {msg}");
                assert!(!["toy2d", "fmnist"].contains(&name), "the small presets must fit: {msg}");
                assert!(
                    msg.contains("max_storage_buffer_binding_size") || msg.contains("max_buffer_size"),
                    "{name}: the refusal names no limit: {msg}"
                );
                assert!(msg.contains("train.batch_size"), "{name}: the refusal names no setting: {msg}");
            }
        }
    }
}

#[test]
fn a_training_iteration_under_webgpus_limits_matches_the_adapters() {
    // The small presets at a test size: the same kernels, so the same numbers.
    let cases = [
        ("toy2d", vec!["model.hidden=16", "train.batch_size=16", "schedule.grid=4"]),
        (
            "fmnist",
            vec!["model.width=4", "train.batch_size=4", "schedule.grid=2", "train.x_langevin.steps=3"],
        ),
    ];
    let adapter = Arc::new(Engine::new(gpu()));
    let limited = Arc::new(Engine::new(webgpu()));
    for (name, set) in cases {
        let cfg = preset(name, &set);
        let batch = random(7, cfg.train.batch_size * shape_of(name).size(), -1.0, 1.0);
        let run = |e: &Arc<Engine>| {
            let mut s = Session::untrained(e.clone(), cfg.clone(), shape_of(name)).unwrap();
            (0..2).map(|_| s.trainer.iteration(&batch).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(&adapter), run(&limited), "{name}: the iterations differ");
    }
}
