//! Every WGSL source parses and validates with naga. Needs no GPU.

#[test]
fn every_shader_parses_and_validates() {
    let sources = dualmcmc::ops::shader_sources();
    // Every WGSL file beside the ops must be reachable from shader_sources().
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ops");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".wgsl") {
            continue;
        }
        assert!(
            sources.iter().any(|(n, _)| *n == name)
                || sources.iter().any(|(_, s)| s.contains(&format!("// file: {name}"))),
            "src/ops/{name} is not listed in ops::shader_sources()"
        );
    }
    for (name, src) in sources {
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
    }
}

#[test]
fn missing_adapter_message_names_the_fix() {
    use dualmcmc::gpu::{AdapterChoice, no_adapter_message};
    let plain = no_adapter_message(&AdapterChoice::default(), &[]);
    assert!(plain.contains("no GPU adapter was found"), "{plain}");
    assert!(plain.contains("mesa-vulkan-drivers"), "{plain}");
    assert!(plain.contains("GPU driver"), "{plain}");
    let narrowed = no_adapter_message(
        &AdapterChoice { backend: Some("metal".into()), name: Some("nvidia".into()), ..Default::default() },
        &[],
    );
    assert!(narrowed.contains("backend 'metal'") && narrowed.contains("'nvidia'"), "{narrowed}");
    assert!(narrowed.contains("DUALMCMC_ADAPTER"), "{narrowed}");
}

#[test]
fn a_choice_no_adapter_matches_is_an_error_not_a_panic() {
    let choice =
        dualmcmc::gpu::AdapterChoice { name: Some("no-such-adapter-xyz".into()), ..Default::default() };
    let err = pollster::block_on(choice.pick()).unwrap_err().to_string();
    assert!(err.contains("no GPU adapter matches name containing 'no-such-adapter-xyz'"), "{err}");
    // The adapters that are there are named, so that the user sees what --adapter may say.
    let here = pollster::block_on(dualmcmc::gpu::AdapterChoice::default().pick()).unwrap().get_info();
    assert!(err.contains(&format!("'{}'", here.name)) && err.contains("Adapters on this machine"), "{err}");
    let bad = dualmcmc::gpu::AdapterChoice { backend: Some("glide".into()), ..Default::default() };
    assert!(pollster::block_on(bad.pick()).unwrap_err().to_string().contains("unknown backend 'glide'"));
}
