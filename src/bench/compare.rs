//! `bench compare`: our iteration against the same iteration in PyTorch
//! (`bench/torch_reference.py`, built from the same resolved preset), timed alternately
//! A B A B in one session, so that the ratio is measured under one load.

use crate::nn::Engine;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The Python that runs the reference: `DUALMCMC_PYTHON`, else the repository's
/// `.venv-torch`, else `python3`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("DUALMCMC_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-torch/bin/python");
    if venv.is_file() { venv } else { "python3".into() }
}

/// One timing of the PyTorch reference: (seconds per iteration, threads it used).
fn torch_seconds(
    python: &Path,
    script: &Path,
    preset: &str,
    overrides: &[String],
    iterations: usize,
    threads: usize,
) -> anyhow::Result<(f64, u64)> {
    let out = Command::new(python)
        .arg(script)
        .args(["time", "--preset", preset, "--iterations", &iterations.to_string()])
        .args(overrides.iter().flat_map(|o| ["--set", o.as_str()]))
        .args(["--threads", &threads.to_string(), "--quiet"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| anyhow::anyhow!("unexpected output of {}: {e}: {line}", script.display()))?;
    let secs = v["seconds_per_iteration"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no seconds_per_iteration in {line}"))?;
    Ok((secs, v["threads"].as_u64().unwrap_or(threads as u64)))
}

/// `bench compare --preset P [--set K=V]… [--rounds R] [--threads T]`: R rounds of (ours,
/// PyTorch), each a median over a few iterations of the preset with the same overrides on
/// both sides; prints each round and the median ratio ours/PyTorch. Without PyTorch it says
/// how to install it and returns.
pub fn compare(
    engine: &Arc<Engine>,
    preset: &str,
    overrides: &[String],
    rounds: usize,
    threads: usize,
) -> anyhow::Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/torch_reference.py");
    let py = python();
    let has_torch = Command::new(&py).args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success());
    if !has_torch || !script.is_file() {
        crate::put!(
            "PyTorch is not available to {} (or {} is missing): skipping the comparison.\n\
             Install it with `python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy`\n\
             in the repository (or point DUALMCMC_PYTHON at a Python with torch), then run this again.",
            py.display(),
            script.display()
        );
        return Ok(());
    }
    let iterations = if preset == "toy2d" { 10 } else { 3 };
    let mut session = super::train::session(engine, preset, overrides)?;
    crate::put!(
        "preset {preset}: ours on {}, PyTorch on the CPU; {iterations} iterations per timing",
        engine.gpu.describe()
    );
    if !overrides.is_empty() {
        crate::put!("  with {}", overrides.join(", "));
    }
    let mut ratios = Vec::new();
    for round in 1..=rounds.max(1) {
        let ours = super::train::seconds_per_iteration(&mut session, iterations);
        let (torch, used) = torch_seconds(&py, &script, preset, overrides, iterations, threads)?;
        crate::put!(
            "  round {round}: ours {ours:.4} s, PyTorch {torch:.4} s ({used} threads): ours/PyTorch {:.2}",
            ours / torch
        );
        ratios.push(ours / torch);
    }
    ratios.sort_by(f64::total_cmp);
    let median = super::median(&ratios);
    crate::put!("  median ours/PyTorch over {} rounds: {median:.2}", ratios.len());
    Ok(())
}
