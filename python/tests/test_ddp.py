"""train_ddp.py on the CPU with gloo: 2 processes against 1, a few iterations, and the run
folder read back by our program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dualmcmc_torch import checkpoint as ckpt

from conftest import ROOT, run_bin



def config(tmp: Path) -> Path:
    text = (ROOT / "assets/presets/toy2d.toml").read_text()
    for k, v in {"batch_size = 256": "batch_size = 32", "hidden = 128": "hidden = 16",
                 "steps = 30": "steps = 4", "steps = 10": "steps = 3", "ema_decay = 0.999": "ema_decay = 0.9",
                 "iterations = 4000": "iterations = 3", "grid = 16": "grid = 4"}.items():
        text = text.replace(k, v)
    p = tmp / "tiny.toml"
    p.write_text(text)
    return p


def torchrun(n: int, *args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           str(ROOT / "python/train_ddp.py"), "--device", "cpu", *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]


def test_two_gloo_processes_train_as_one_and_write_a_run_we_read(tmp_path):
    cfg = config(tmp_path)
    assert "iterations = 3" in cfg.read_text(), "the toy2d preset changed; update this test"
    torchrun(1, "--config", str(cfg), "--out", str(tmp_path / "one"))
    torchrun(2, "--config", str(cfg), "--out", str(tmp_path / "two"))
    one, two = ckpt.read(tmp_path / "one/checkpoint.safetensors"), ckpt.read(tmp_path / "two/checkpoint.safetensors")
    assert one.iteration == two.iteration == 3
    # MLPs have no batch norm: 2 processes compute the 1-process update up to rounding.
    worst = max(float((one.tensors[k] - two.tensors[k]).abs().max() / one.tensors[k].abs().max().clamp_min(1e-30))
                for k in one.tensors if k.split(".")[0] in ckpt.NETS)
    print(f"\nDDP 2 processes against 1 after 3 iterations: parameters relative {worst:.2e}")
    assert worst < 1e-4
    rows = [json.loads(l) for l in (tmp_path / "two/metrics.jsonl").read_text().splitlines()]
    assert rows and rows[-1]["iteration"] == 3 and rows[-1]["processes"] == 2
    # Our program reads the folder: eval, sample, and train --resume continues it.
    out = run_bin("eval", str(tmp_path / "two"), "--n", "200")
    assert "log_likelihood_nats" in out
    run_bin("sample", "--run", str(tmp_path / "two"), "--n", "16", "--out", str(tmp_path / "s"))
    assert np.isfinite(np.load(tmp_path / "s.npy")).all()
    run_bin("train", "--resume", str(tmp_path / "two"), "--set", "schedule.iterations=4", "--quiet")
    assert ckpt.read(tmp_path / "two/checkpoint.safetensors").iteration == 4


def test_two_gloo_processes_train_the_small_convnets_on_fashion_mnist(tmp_path):
    # Spectral norm, batch norm (per-process statistics) and DDP's no_sync on the
    # accumulated losses; our program then samples from the folder and resumes it.
    text = (ROOT / "assets/presets/fmnist.toml").read_text()
    for k, v in {"width = 16": "width = 4", "batch_size = 32": "batch_size = 8", "steps = 20": "steps = 2",
                 "steps = 5": "steps = 1", "iterations = 2000": "iterations = 2", "prefer_full = true": "prefer_full = false",
                 "grid = 5": "grid = 2"}.items():
        assert k in text, f"the fmnist preset changed ({k}); update this test"
        text = text.replace(k, v)
    cfg = tmp_path / "small.toml"
    cfg.write_text(text)
    torchrun(2, "--config", str(cfg), "--out", str(tmp_path / "two"))
    ck = ckpt.read(tmp_path / "two/checkpoint.safetensors")
    assert ck.iteration == 2 and all(t.isfinite().all() for k, t in ck.tensors.items() if t.is_floating_point())
    run_bin("sample", "--run", str(tmp_path / "two"), "--n", "8", "--steps", "1", "--out", str(tmp_path / "s"))
    assert np.load(tmp_path / "s.npy").shape == (8, 1, 28, 28)
    run_bin("train", "--resume", str(tmp_path / "two"), "--set", "schedule.iterations=3", "--quiet")
    assert ckpt.read(tmp_path / "two/checkpoint.safetensors").iteration == 3
