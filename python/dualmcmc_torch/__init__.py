"""dualmcmc's networks, checkpoints, noise and training iteration in PyTorch.

>>> import dualmcmc_torch as dm
>>> run = dm.open_run("runs/fmnist-1")          # config.toml + checkpoint.safetensors
>>> x = run.generator(torch.randn(64, run.nz))   # the same networks, strictly loaded

See the README section "PyTorch" of the repository.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from . import checkpoint, noise, training
from .checkpoint import fingerprint, load_models, save
from .models import build_models

__all__ = ["build_models", "checkpoint", "fingerprint", "load_config", "load_models", "noise", "open_run",
           "save", "training", "Run"]


def load_config(path: str | Path) -> dict:
    """A run's ``config.toml`` (or any of our TOML configurations) as a dict."""
    return tomllib.loads(Path(path).read_text())


@dataclass
class Run:
    config: dict
    example_shape: tuple[int, ...]
    ebm: nn.Module
    generator: nn.Module
    inference: nn.Module
    checkpoint: checkpoint.Checkpoint | None

    @property
    def nz(self) -> int:
        return int(self.config["train"]["nz"])

    def models(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        return self.ebm, self.generator, self.inference


def open_run(folder: str | Path, ema: bool = False) -> Run:
    """The three networks of a run folder, built from its ``config.toml`` and loaded from its
    ``checkpoint.safetensors`` with ``load_state_dict(strict=True)`` (with ``ema``, the
    weight averages: what our ``sample``, ``energy``, ``forward`` and ``eval`` compute with
    when the run keeps them), in training mode (as our program computes)."""
    folder = Path(folder)
    cfg = load_config(folder / "config.toml")
    ck_path = folder / "checkpoint.safetensors"
    ck = checkpoint.read(ck_path) if ck_path.exists() else None
    shape = checkpoint.example_shape(cfg, ck)
    ebm, gen, inf = build_models(cfg["model"], shape, int(cfg["train"]["nz"]))
    if ck is not None:
        load_models(ck_path, (ebm, gen, inf), ema=ema)
    for m in (ebm, gen, inf):
        m.train()
    return Run(cfg, shape, ebm, gen, inf, ck)
