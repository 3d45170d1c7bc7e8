//! `train` stopped by SIGINT, SIGTERM or SIGHUP finishes its iteration, saves a checkpoint that
//! loads, says how to resume, and exits 0. Runs the real binary.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a small toy run into `dir`, waits for its first metrics line, sends `signal`.
fn interrupt(dir: &Path, signal: &str) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualmcmc"))
        .args(["--no-gui", "train", "--preset", "toy2d", "--quiet", "--out"])
        .arg(dir)
        .args(["--set", "model.hidden=8", "--set", "train.batch_size=16", "--set", "schedule.log_every=1"])
        .args(["--set", "schedule.grid=4", "--set", "schedule.eval_every=0"])
        .args(["--set", "schedule.iterations=100000", "--set", "schedule.checkpoint_every=0"])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the dualmcmc binary runs");
    let metrics = dir.join("metrics.jsonl");
    let began = Instant::now();
    while !std::fs::read_to_string(&metrics).is_ok_and(|m| m.lines().count() >= 2) {
        assert!(began.elapsed() < Duration::from_secs(300), "no metrics after 300 s");
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!("train exited before the signal: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn sigint_sigterm_and_sighup_save_a_checkpoint_and_exit_cleanly() {
    for signal in ["INT", "TERM", "HUP"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let (status, stderr) = interrupt(&dir, signal);
        assert!(status.success(), "SIG{signal}: exit {status:?}; stderr:\n{stderr}");
        assert!(stderr.contains("interrupted after iteration"), "SIG{signal}: stderr:\n{stderr}");
        let meta = dualmcmc::checkpoint::read_metadata(dir.join("checkpoint.safetensors"))
            .unwrap_or_else(|e| panic!("SIG{signal}: no loadable checkpoint: {e}"));
        assert!(meta.iteration >= 2, "SIG{signal}: checkpoint at iteration {}", meta.iteration);
        let lines = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        for line in lines.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("metrics.jsonl holds whole lines");
        }
    }
}
