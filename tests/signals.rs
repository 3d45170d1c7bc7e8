//! `train` stopped by SIGINT, SIGTERM or SIGHUP finishes its iteration, saves a checkpoint that
//! loads, says how to resume, and exits 0. Runs the real binary.
#![cfg(unix)]

mod common;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a small toy run into `dir`, waits for its first metrics line, sends `signal`.
fn interrupt(dir: &Path, signal: &str) -> (std::process::ExitStatus, String) {
    let (status, stderr, _) = interrupt_ignoring(dir, "", &[signal]);
    (status, stderr)
}

/// [`interrupt`] with the signals in `ignored` (e.g. `"HUP INT"`) ignored by the parent, as
/// `nohup` and a script's background jobs leave them, and `signals` sent one after another
/// (a second apart). Also returns the lines `metrics.jsonl` had at the first signal.
fn interrupt_ignoring(
    dir: &Path,
    ignored: &str,
    signals: &[&str],
) -> (std::process::ExitStatus, String, usize) {
    let mut cmd = Command::new("sh");
    // `trap '' SIG` sets the ignore disposition, which survives exec.
    let trap = if ignored.is_empty() { String::new() } else { format!("trap '' {ignored}; ") };
    cmd.args(["-c", &format!("{trap}exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_dualmcmc")]);
    let mut child = cmd
        .args(["--no-gui", "train", "--preset", "toy2d", "--quiet", "--out"])
        .arg(dir)
        .args(["--set", "model.hidden=32", "--set", "train.batch_size=16", "--set", "schedule.log_every=1"])
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
    let lines_at_first = std::fs::read_to_string(&metrics).unwrap().lines().count();
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
    }
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned(), lines_at_first)
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

/// Under `nohup` (SIGHUP ignored) or as a script's background job (SIGINT ignored) a hangup
/// stays ignored, and SIGTERM still saves a checkpoint.
#[test]
fn signals_the_parent_ignored_stay_ignored_and_sigterm_still_saves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let (status, stderr, lines_at_hup) = interrupt_ignoring(&dir, "HUP INT", &["HUP", "INT", "TERM"]);
    assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
    assert!(stderr.contains("interrupted after iteration"), "stderr:\n{stderr}");
    let meta = dualmcmc::checkpoint::read_metadata(dir.join("checkpoint.safetensors")).unwrap();
    // One line per iteration: a run stopped by HUP would end one iteration after it.
    assert!(
        meta.iteration as usize > lines_at_hup + 2,
        "stopped at {} (HUP at line {lines_at_hup})",
        meta.iteration
    );
}

/// Starts `train` on the tiny toy run in `dir` (a new run, or `--resume`), checkpointing
/// after every iteration.
fn start_toy(dir: &Path, resume: bool) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dualmcmc"));
    cmd.args(["--no-gui", "train", "--quiet"]);
    if resume {
        cmd.arg("--resume").arg(dir);
    } else {
        cmd.args(["--preset", "toy2d", "--out"]).arg(dir);
        for set in [
            "model.hidden=8",
            "train.batch_size=16",
            "schedule.grid=4",
            "schedule.eval_every=0",
            "schedule.log_every=1",
            "schedule.images_every=0",
            "schedule.checkpoint_every=1",
            "schedule.iterations=1000000",
        ] {
            cmd.args(["--set", set]);
        }
    }
    cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir()).stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn().expect("the dualmcmc binary runs")
}

/// The temporary files of checkpoint writes in `dir` (one exists while a write is under way;
/// a kill leaves it behind until the next resume removes it).
fn checkpoint_writes(dir: &Path) -> Vec<std::ffi::OsString> {
    let Ok(d) = std::fs::read_dir(dir) else { return Vec::new() };
    d.flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with(".checkpoint.safetensors."))
        .collect()
}

fn iterations_logged(dir: &Path) -> Vec<u64> {
    let folder = dualmcmc::session::RunFolder { dir: dir.to_path_buf() };
    let lines = folder.read_metrics().expect("metrics.jsonl loads after a kill");
    lines.iter().map(|m| m["iteration"].as_u64().expect("every line has its iteration")).collect()
}

#[test]
fn sigkill_at_twenty_moments_leaves_a_checkpoint_that_loads_and_resumes() {
    use rand::{Rng, SeedableRng};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let checkpoint = dir.join("checkpoint.safetensors");
    let (mut in_writes, mut before) = (0, 0u64);
    for kill in 0..20 {
        let stale = checkpoint_writes(&dir);
        let writing = || checkpoint_writes(&dir).iter().any(|n| !stale.contains(n));
        let mut child = start_toy(&dir, kill > 0);
        let began = Instant::now();
        // Every fifth kill lands at a random moment of the start (loading, resuming); the
        // others once the run has trained on, half of them while a checkpoint is written.
        if kill % 5 == 4 {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
        } else {
            let goal = before + 2 + kill % 3;
            while iterations_logged(&dir).last().is_none_or(|&i| i < goal) || !checkpoint.is_file() {
                assert!(began.elapsed() < Duration::from_secs(300), "kill {kill}: no progress after 300 s");
                std::thread::sleep(Duration::from_millis(1));
            }
            if kill % 2 == 1 {
                let waiting = Instant::now();
                while !writing() && waiting.elapsed() < Duration::from_secs(20) {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::sleep(Duration::from_millis(rng.random_range(0..200)));
            }
        }
        let during_write = writing();
        child.kill().unwrap();
        child.wait().unwrap();
        in_writes += usize::from(during_write);

        let meta = dualmcmc::checkpoint::read_metadata(&checkpoint)
            .unwrap_or_else(|e| panic!("kill {kill}: the checkpoint does not load: {e}"));
        let iteration = u64::from(meta.iteration);
        let logged = iterations_logged(&dir);
        let last = logged.last().copied().unwrap_or(0);
        // Lost: at most the iteration whose checkpoint write was cut (checkpoint_every = 1).
        assert!(iteration + 1 >= last, "kill {kill}: checkpoint at {iteration}, metrics at {last}");
        eprintln!(
            "kill {kill}: checkpoint at {iteration}, metrics at {last}, during a write: {during_write}"
        );
        assert!(iteration >= before, "kill {kill}: the checkpoint went back from {before} to {iteration}");
        before = iteration;
    }
    // The last resume trains on from the checkpoint, and metrics.jsonl then counts every
    // iteration once, in order.
    let mut child = start_toy(&dir, true);
    let began = Instant::now();
    let target = before + 3;
    while iterations_logged(&dir).last().is_none_or(|&i| i < target) {
        assert!(began.elapsed() < Duration::from_secs(300), "the last resume did not go on");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
    let logged = iterations_logged(&dir);
    let expected: Vec<u64> = (1..=*logged.last().unwrap()).collect();
    assert_eq!(logged, expected, "metrics.jsonl holds each iteration once, in order");
    assert!(checkpoint_writes(&dir).is_empty(), "a temporary checkpoint file was left behind");
    let engine = common::engine_arc();
    let session = dualmcmc::session::Session::open(engine, &dir).expect("the checkpoint loads whole");
    assert_eq!(session.iteration(), *logged.last().unwrap());
    eprintln!(
        "20 kills, {in_writes} of them during a checkpoint write; {} iterations in the end",
        logged.len()
    );
    assert!(in_writes >= 3, "only {in_writes} kills landed in a checkpoint write");
}
