"""Fixtures of the parity tests: run folders trained by our binary, one per architecture.

The binary is $DUALMCMC_BIN, else target/release/dualmcmc, else target/debug/dualmcmc of the
repository (build it first: ``cargo build --release``). Runs are made once per session in a
temporary folder, with tiny settings (one or two iterations, short chains).
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
# The package without installing it (`pip install -e python` works too).
sys.path.insert(0, str(ROOT / "python"))


def binary() -> Path:
    for p in (os.environ.get("DUALMCMC_BIN"), ROOT / "target/release/dualmcmc", ROOT / "target/debug/dualmcmc"):
        if p and Path(p).is_file():
            return Path(p)
    pytest.skip("no dualmcmc binary: run `cargo build --release` first (or set DUALMCMC_BIN)")


def run_bin(*args: str, cwd: Path | None = None) -> str:
    env = dict(os.environ)
    env.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    out = subprocess.run([str(binary()), "--no-gui", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"dualmcmc {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
    return out.stdout


def write_png(path: Path, rgb: np.ndarray) -> None:
    """An 8-bit RGB PNG of ``rgb`` [h, w, 3] (uint8), without an imaging library."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def preset_with_data(preset: str, data_table: str) -> str:
    text = (ROOT / "assets/presets" / f"{preset}.toml").read_text()
    new, n = re.subn(r"^\[data\]\n.*?(?=^\[model\])", lambda _: "[data]\n" + data_table + "\n\n", text, count=1,
                     flags=re.S | re.M)
    assert n == 1, f"the {preset} preset has no [data] table before [model]"
    return new


# Tiny settings shared by every run: short chains, no moving averages, nothing extra written.
COMMON = ["train.x_langevin.steps=2", "train.z_langevin.steps=2", "train.ema_decay=0.0",
          "schedule.images_every=0", "schedule.eval_every=0", "schedule.log_every=1", "schedule.grid=1"]

RUNS = {
    "mlp": (["--preset", "toy2d"], ["model.hidden=16", "train.batch_size=16", "schedule.iterations=2"]),
    "small": (["--preset", "fmnist"], ["model.width=4", "train.batch_size=8", "train.nz=8", "schedule.iterations=2"]),
    "cifar10": ("cifar10", ["train.batch_size=2", "train.x_langevin.steps=1", "train.z_langevin.steps=1",
                            "schedule.iterations=1"]),
    "celeba64": ("celeba64", ["train.batch_size=2", "train.x_langevin.steps=1", "train.z_langevin.steps=1",
                              "schedule.iterations=1"]),
}


@pytest.fixture(scope="session")
def workdir() -> Path:
    with tempfile.TemporaryDirectory(prefix="dualmcmc-parity-") as d:
        yield Path(d)


def make_run(workdir: Path, name: str) -> Path:
    out = workdir / name
    if (out / "checkpoint.safetensors").exists():
        return out
    source, extra = RUNS[name]
    if isinstance(source, str):  # the paper's networks on a few random images of their size
        side = 32 if source == "cifar10" else 64
        images = workdir / f"images-{side}"
        images.mkdir(exist_ok=True)
        rng = np.random.default_rng(side)
        for i in range(4):
            write_png(images / f"{i}.png", rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
        cfg = workdir / f"{source}.toml"
        cfg.write_text(preset_with_data(source, f'kind = "image-folder"\npath = "{images}"\nchannels = 3'))
        source = ["--config", str(cfg)]
    sets = [a for s in COMMON + extra for a in ("--set", s)]
    run_bin("train", *source, *sets, "--quiet", "--out", str(out))
    return out


@pytest.fixture(scope="session")
def runs(workdir):
    cache = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = make_run(workdir, name)
        return cache[name]

    return get
