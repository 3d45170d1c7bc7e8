#!/usr/bin/env python3
"""PyTorch re-implementation of one Dual-MCMC training iteration of dualmcmc.

What it mirrors (read from the Rust sources, not from the authors' code):

- ``src/train/mod.rs`` (steps 1-6, in that order):
  1. z_p ~ N(0, I); x~ = x-Langevin(g(z_p)) under the current EBM (or from N(0, s_init^2)
     noise when ``x_init = "noise"``).
  2. q = [mu | logvar] = q(x); z0 = mu + exp(logvar/2) eps (or N(0, I) when
     ``z_init = "noise"``); z~ = z-Langevin(z0 | x).
  3. Generator: data_weight * sum (g(z~) - x)^2 / B + lambda_S * sum (g(z_p) - x~)^2 / B
     (sums over values, means over the batch; targets constant; two separate forwards, so
     batch norm sees each batch on its own), one Adam step.
  4. Inference: sum NLL(z~ | q(x)) / B + lambda_I * sum NLL(z_p | q(x~)) / B with
     NLL = 1/2 logvar + 1/2 (z - mu)^2 / (exp(logvar) + 1e-6) per value; one Adam step.
  5. EBM: x~' = x-Langevin from g(z_p) with the *updated* generator (same z_p; noise starts
     reuse the step-1 draw, as the Rust code's stream does), then descend
     (mean E(x) - mean E(x~')) / T, T = 1 (paper) or (n/s)^2 (reference); one Adam step.
  6. Guard: a non-finite loss or |mean E(x) - mean E(x~')| > energy_gap_bound stops.
- ``src/sampler`` + ``src/ops/langevin.wgsl``: state <- state - drift (grad + prior state)
  + noise eps with (drift, noise) = (s, sqrt(2 s)) for ``parameterisation = "paper"`` and
  (s^2/2, n) for ``"reference"``; x has prior 0, z prior 1. The z gradient is
  coef (g(z) - x) backpropagated, coef = 1/sigma^2 (paper) or 2/sigma^2 (reference). Each
  chain ends with one more forward (the trace), which also advances spectral norm's power
  iteration, as in Rust.
- ``src/ops/adam.rs``: torch.optim.Adam semantics (coupled L2 weight decay, eps 1e-8) with
  the configured beta1/beta2; lr = lr0 * lr_decay ** epoch, epoch = iteration //
  iterations_per_epoch (1000 for toys, floor(N / B) for image sets, see
  ``src/data/source.rs``).
- ``src/models/mlp.rs`` (``kind = "mlp"``): Linear/LeakyReLU(0.2) stacks, PyTorch default
  init. ``src/models/small.rs`` (``kind = "small"``): conv trunk (3x3, 4x4 s2, 4x4 s2, all
  with bias, LeakyReLU 0.2), spectral norm on every EBM layer when asked (one power
  iteration per forward, u and v constant in the gradient: torch.nn.utils.spectral_norm),
  Xavier-normal conv weights, PyTorch-default linear weights and biases, batch-norm scale
  N(0, 1) and shift 0, batch statistics always (training mode, never eval).
- ``src/data/toy2d.rs``: the eight toys with the same definitions and scalings.
- ``src/eval/grid.rs`` + ``src/eval/run_eval.rs``: the grid log-likelihood: E at the centres
  of the toy's n x n grid over its domain, log Z_h = logsumexp(-E) + log(cell area), each
  held-out point scored by its cell (clamped to the box), averaged; the optimum is the mean
  true log-density of the same held-out points (mixtures) or -log 32 (checkerboard).

What differs:
- RNG streams: Rust uses Philox on the GPU and ChaCha (StdRng) on the CPU; here torch and
  numpy generators. Initial weights, data batches, chain noise and the held-out points are
  therefore different draws: results agree in distribution only, never bit for bit.
- Summation order and fused kernels differ (float32 rounding).
- The divergence guard stops the run but does not restore the pre-iteration state (the Rust
  trainer restores it and then stops: the same end for a run).
- The samplers' input gradients of plain MLPs (toy2d) are written out by hand
  (``mlp_input_grad``; ``check`` mode compares them with autograd): same values, less
  per-op overhead. Everything else, and all parameter gradients, use autograd.
- ``--ema DECAY`` (evaluation with an exponential moving average of the EBM's weights) is
  not in the Rust code yet; it uses decay_t = min(DECAY, (1 + t) / (10 + t)) at EBM step t.

Usage:
  torch_reference.py time  --preset toy2d [--set train.batch_size=512 ...] [--iterations 50]
  torch_reference.py time  --preset fmnist
  torch_reference.py train --preset toy2d --set data.toy=checkerboard --iterations 3000 \
      --eval-every 500 --out run.jsonl [--ema 0.999] [--heldout 10000]
  torch_reference.py train --preset fmnist --set model.width=8 --iterations 1300 \
      --eval-every 250 --heldout 500 --out run.jsonl --images runs/screen/w8
  torch_reference.py check --preset toy2d
  (--config PATH reads a run folder's config.toml or any TOML instead of a preset.)
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import math
import statistics
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
VAR_EPS = 1e-6
OPTIONAL_KEYS = {"labels", "crop", "resize",
                 # train.x_langevin.metropolis = true makes the x-chain Metropolis-adjusted
                 # (MALA), see Trainer.x_langevin (the Rust trainer has it too).
                 "metropolis",
                 # train.x_langevin.second_step_every = K and second_step_size = L: every K-th
                 # Metropolis-adjusted x-step uses step L instead of step_size (a mixture of
                 # exact kernels: local steps that find narrow wells, jumps between modes).
                 "second_step_every", "second_step_size",
                 # train.x_langevin.jump_every = J adds a population jump after every J-th
                 # x-step, see Trainer.population_jump (the Rust trainer has it with
                 # metropolis = true).
                 "jump_every",
                 # train.x_langevin.box_half_width = D makes the x-chain's target exp(-E)
                 # restricted to [-D, D]^d (Metropolis-adjusted moves and jumps that leave the
                 # box are rejected), see Trainer.in_box (the Rust trainer has it too).
                 "box_half_width",
                 # Reference-only (not in the Rust trainer): train.x_noise_share = f starts the
                 # first round(f * B) rows of both x-chains from noise, see Trainer.share_start.
                 "x_noise_share",
                 # Reference-only (not in the Rust trainer): train.x_persistent_share = f starts
                 # the first round(f * B) rows of both x-chains from a persistent buffer of
                 # train.x_buffer_size revised samples, see Trainer.persistent_start.
                 "x_persistent_share", "x_buffer_size"}


# --------------------------------------------------------------------------------------
# Configuration (src/config.rs: preset or file, then KEY=VALUE overrides on existing keys)
# --------------------------------------------------------------------------------------


def load_config(preset: str | None, path: str | None, overrides: list[str]) -> dict:
    if path:
        table = tomllib.loads(Path(path).read_text())
    else:
        table = tomllib.loads((ROOT / "assets" / "presets" / f"{preset or 'toy2d'}.toml").read_text())
    for o in overrides:
        apply_override(table, o)
    return table


def apply_override(table: dict, text: str) -> None:
    if "=" not in text:
        raise SystemExit(f"override '{text}': expected KEY=VALUE, e.g. train.x_langevin.steps=20")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    node = table
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise SystemExit(f"override '{key}': no key '{p}' (known: {', '.join(node)})")
        node = node[p]
    last = parts[-1]
    if last not in node and last not in OPTIONAL_KEYS:
        raise SystemExit(f"override '{key}': no key '{last}' (known: {', '.join(node)})")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    if isinstance(node.get(last), float) and isinstance(value, int):
        value = float(value)
    node[last] = value


# --------------------------------------------------------------------------------------
# 2-D toys (src/data/toy2d.rs)
# --------------------------------------------------------------------------------------

TOY_DOMAIN = {"8gaussians": 4.5, "25gaussians": 2.0, "rings": 3.5, "checkerboard": 4.5,
              "moons": 4.0, "swissroll": 4.0, "2spirals": 4.0, "pinwheel": 4.5}
TOY_CELLS = {"8gaussians": 160, "25gaussians": 720, "rings": 280, "checkerboard": 180,
             "moons": 160, "swissroll": 160, "pinwheel": 180, "2spirals": 240}


def mixture(toy: str):
    """(centres [K, 2], std) in the final coordinates, or None."""
    if toy == "8gaussians":
        d = 1.0 / math.sqrt(2.0)
        unit = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [d, d], [d, -d], [-d, d], [-d, -d]])
        return 4.0 * unit / 1.414, 0.5 / 1.414
    if toy == "25gaussians":
        c = np.array([[2.0 * i, 2.0 * j] for i in range(-2, 3) for j in range(-2, 3)])
        return c / 2.828, 0.05 / 2.828
    return None


def sample_toy(toy: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n i.i.d. points [n, 2] (float32), the Rust definitions drawn with numpy."""
    e = rng.standard_normal((n, 2))
    if toy in ("8gaussians", "25gaussians"):
        centres, std = mixture(toy)
        x = centres[rng.integers(0, len(centres), n)] + std * e
    elif toy == "rings":
        r = 3.0 * np.array([1.0, 0.75, 0.5, 0.25])[rng.integers(0, 4, n)]
        a = rng.uniform(0, 2 * np.pi, n)
        x = np.stack([r * np.cos(a), r * np.sin(a)], 1) + 0.08 * e
    elif toy == "checkerboard":
        col = rng.integers(-2, 2, n)
        row = 2 * rng.integers(-1, 1, n) + np.mod(col, 2)
        u = rng.random((n, 2))
        x = np.stack([2 * col + 2 * u[:, 0], 2 * row + 2 * u[:, 1]], 1)
    elif toy == "moons":
        t = rng.uniform(0, np.pi, n)
        outer = rng.random(n) < 0.5
        px = np.where(outer, np.cos(t), 1 - np.cos(t))
        py = np.where(outer, np.sin(t), 0.5 - np.sin(t))
        x = np.stack([2 * (px + 0.1 * e[:, 0]) - 1, 2 * (py + 0.1 * e[:, 1]) - 0.2], 1)
    elif toy == "swissroll":
        t = 1.5 * np.pi * (1 + 2 * rng.random(n))
        x = np.stack([(t * np.cos(t) + e[:, 0]) / 5, (t * np.sin(t) + e[:, 1]) / 5], 1)
    elif toy == "pinwheel":
        arm = rng.integers(0, 5, n)
        rad, tan = 1 + 0.3 * e[:, 0], 0.1 * e[:, 1]
        a = 2 * np.pi * arm / 5 + 0.25 * np.exp(rad)
        x = np.stack([2 * (rad * np.cos(a) + tan * np.sin(a)), 2 * (-rad * np.sin(a) + tan * np.cos(a))], 1)
    elif toy == "2spirals":
        s = 3 * np.pi * np.sqrt(rng.random(n))
        px = -np.cos(s) * s + 0.5 * rng.random(n)
        py = np.sin(s) * s + 0.5 * rng.random(n)
        sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        x = np.stack([sign * px / 3 + 0.1 * e[:, 0], sign * py / 3 + 0.1 * e[:, 1]], 1)
    else:
        raise SystemExit(f"unknown 2-D toy '{toy}'")
    return x.astype(np.float32)


def mixture_log_density(toy: str, x: np.ndarray) -> np.ndarray:
    centres, std = mixture(toy)
    var = std * std
    d2 = ((x[:, None, :].astype(np.float64) - centres[None]) ** 2).sum(-1)
    a = -d2 / (2 * var)
    m = a.max(1, keepdims=True)
    return (-math.log(len(centres)) - math.log(2 * math.pi * var)) + (m + np.log(np.exp(a - m).sum(1, keepdims=True)))[:, 0]


class Grid:
    """src/eval/grid.rs: n x n cells over [-half, half]^2, flat index iy * n + ix."""

    def __init__(self, toy: str):
        half = TOY_DOMAIN[toy]
        self.lo, self.hi, self.n = -half, half, TOY_CELLS[toy]
        h = (self.hi - self.lo) / self.n
        self.area = h * h
        c = (self.lo + (np.arange(self.n) + 0.5) * h).astype(np.float32)
        xx, yy = np.meshgrid(c, c)  # yy varies along rows: flat = iy * n + ix
        self.points = np.stack([xx.ravel(), yy.ravel()], 1)

    def cell_index(self, x: np.ndarray) -> np.ndarray:
        t = np.floor((x.astype(np.float64) - self.lo) * self.n / (self.hi - self.lo))
        t = np.clip(t, 0, self.n - 1).astype(np.int64)
        return t[:, 1] * self.n + t[:, 0]

    def average_log_likelihood(self, energies: np.ndarray, samples: np.ndarray) -> float:
        neg = -energies.astype(np.float64)
        if np.isnan(neg).any():
            return float("nan")
        m = neg.max()
        log_z = m + math.log(np.exp(neg - m).sum()) + math.log(self.area)
        return float((neg[self.cell_index(samples)] - log_z).mean())


def checkerboard_squares(points: np.ndarray) -> np.ndarray:
    """Each point's square of the checkerboard's 8 (an index 0..15), -1 off them. The data's
    squares lie inside [-4, 4]^2; the grid's box reaches 4.5, and its margin is off the data
    even where the colouring would continue the pattern."""
    col, row = np.floor(points[:, 0] / 2), np.floor(points[:, 1] / 2)
    inside = (np.abs(points) < 4.0).all(1)
    idx = ((col + 2) * 4 + (row + 2)).astype(np.int64)
    return np.where(inside & ((col + row) % 2 == 0), idx, -1)


def support_mask(toy: str, points: np.ndarray) -> np.ndarray | None:
    """Cells that hold the data: within 3 standard deviations of a mode (mixtures), on a
    square (checkerboard); None for the other toys. For the diagnostic mass_off_support."""
    if toy == "checkerboard":
        return checkerboard_squares(points) >= 0
    m = mixture(toy)
    if m is None:
        return None
    centres, std = m
    d2 = ((points[:, None, :].astype(np.float64) - centres[None]) ** 2).sum(-1).min(1)
    return d2 < (3 * std) ** 2


def mass_off(energies: np.ndarray, mask: np.ndarray | None) -> float | None:
    """The model's grid probability mass outside the data's support cells."""
    if mask is None:
        return None
    neg = -energies.astype(np.float64)
    w = np.exp(neg - neg.max())
    return float(w[~mask].sum() / w.sum())


def regions(toy: str, points: np.ndarray) -> np.ndarray | None:
    """Each cell's component of the data: its nearest mode (mixtures) or its square
    (checkerboard, -1 off the squares); None for the other toys."""
    if toy == "checkerboard":
        return checkerboard_squares(points)
    m = mixture(toy)
    if m is None:
        return None
    d2 = ((points[:, None, :].astype(np.float64) - m[0][None]) ** 2).sum(-1)
    return d2.argmin(1)


def region_kl(energies: np.ndarray, reg: np.ndarray | None) -> float | None:
    """KL(uniform || w) of the model's mass w_k per component (modes or squares, all equally
    likely under the data): the part of the log-likelihood gap due to mis-weighted
    components (how much the model's modes are mis-weighted against one another)."""
    if reg is None:
        return None
    neg = -energies.astype(np.float64)
    p = np.exp(neg - neg.max())
    keys = np.unique(reg[reg >= 0])
    w = np.array([p[reg == k].sum() for k in keys])
    w = w / w.sum()
    return float(np.mean(np.log((1.0 / len(keys)) / np.maximum(w, 1e-300))))


def optimum(toy: str, held_out: np.ndarray) -> float | None:
    if toy == "checkerboard":
        return -math.log(32.0)
    if mixture(toy) is not None:
        return float(mixture_log_density(toy, held_out).mean())
    return None


# --------------------------------------------------------------------------------------
# Networks (src/models/mlp.rs, src/models/small.rs)
# --------------------------------------------------------------------------------------


def mlp(inp: int, hidden: int, layers: int, out: int) -> nn.Sequential:
    mods, d = [], inp
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
        d = hidden
    mods.append(nn.Linear(d, out))  # PyTorch default init = the Rust PytorchDefault
    return nn.Sequential(*mods)


def conv(cin, cout, k, stride=1, pad=None, sn=False):
    c = nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad, bias=True)
    nn.init.xavier_normal_(c.weight)  # bias keeps PyTorch's default U(+-1/sqrt(fan_in))
    return nn.utils.spectral_norm(c) if sn else c


def conv_trunk(c, w, sn):
    return [conv(c, w, 3, sn=sn), nn.LeakyReLU(0.2),
            conv(w, 2 * w, 4, 2, 1, sn=sn), nn.LeakyReLU(0.2),
            conv(2 * w, 4 * w, 4, 2, 1, sn=sn), nn.LeakyReLU(0.2)]


def bn(c):
    b = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
    nn.init.normal_(b.weight, 0.0, 1.0)
    nn.init.zeros_(b.bias)
    return b


class View(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def small_models(c, h, w_img, width, sn, nz):
    w = width
    head = nn.Linear(4 * w * (h // 4) * (w_img // 4), 1)
    ebm = nn.Sequential(*conv_trunk(c, w, sn), nn.Flatten(), nn.utils.spectral_norm(head) if sn else head)
    gen = nn.Sequential(
        nn.Linear(nz, 4 * w * (h // 4) * (w_img // 4)), View(4 * w, h // 4, w_img // 4),
        bn(4 * w), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), conv(4 * w, 2 * w, 3),
        bn(2 * w), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), conv(2 * w, w, 3),
        bn(w), nn.ReLU(), conv(w, c, 3), nn.Tanh())
    inf = nn.Sequential(*conv_trunk(c, w, False), conv(4 * w, 2 * nz, h // 4, 1, 0), nn.Flatten())
    return ebm, gen, inf


def build_models(cfg: dict, shape: tuple[int, ...]):
    m, nz = cfg["model"], cfg["train"]["nz"]
    if m["kind"] == "mlp":
        d = int(np.prod(shape))
        return (mlp(d, m["hidden"], m["layers"], 1), mlp(nz, m["hidden"], m["layers"], d),
                mlp(d, m["hidden"], m["layers"], 2 * nz))
    if m["kind"] == "small":
        c, h, w = shape
        return small_models(c, h, w, m["width"], m["spectral_norm"], nz)
    raise SystemExit(f"model.kind = {m['kind']!r}: only 'mlp' and 'small' are mirrored here")


# --------------------------------------------------------------------------------------
# The trainer (src/train/mod.rs)
# --------------------------------------------------------------------------------------


def coefficients(chain: dict, parameterisation: str) -> tuple[float, float]:
    s = chain["step_size"]
    if parameterisation == "paper":
        return s, math.sqrt(2 * s)
    return 0.5 * s * s, chain["noise_scale"]


class Divergence(RuntimeError):
    pass


def plain_mlp(net: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of a Linear/LeakyReLU(0.2) stack, else None."""
    mods = list(net) if isinstance(net, nn.Sequential) else []
    ok = len(mods) % 2 == 1 and all(
        isinstance(m, nn.Linear) if i % 2 == 0 else isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2
        for i, m in enumerate(mods))
    return [m for m in mods if isinstance(m, nn.Linear)] if ok else None


_LRELU_BACKWARD = torch.ops.aten.leaky_relu_backward


@torch.no_grad()
def mlp_input_grad(lins: list[nn.Linear], x: torch.Tensor, dy_of_y=None) -> torch.Tensor:
    """d/dx of sum(dy * net(x)) for a plain MLP, by hand: the same values autograd gives
    (see `check` mode) at a third of its per-op overhead on one thread. dy_of_y maps the
    output y to dL/dy; None means dL/dy = 1 for a 1-output net (the energy's sum), and then
    the last layer's forward is skipped (it does not enter the gradient)."""
    pre, h = [], x
    last = len(lins) - 1
    for i, lin in enumerate(lins[:last] if dy_of_y is None else lins):
        a = torch.addmm(lin.bias, h, lin.weight.t())
        if i < last:
            pre.append(a)
            h = F.leaky_relu(a, 0.2)
        else:
            h = a
    if dy_of_y is None:
        d = lins[last].weight.expand(x.shape[0], -1)  # dL/dh_last for dL/dE = 1
    else:
        d = dy_of_y(h) @ lins[last].weight
    for i in range(last - 1, -1, -1):
        d = _LRELU_BACKWARD(d, pre[i], 0.2, False) @ lins[i].weight
    return d


@torch.no_grad()
def mlp_energy_grad(lins: list[nn.Linear], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(E(x) [B], dE/dx) for a plain 1-output MLP, by hand (as mlp_input_grad, plus the last
    layer's forward)."""
    pre, h = [], x
    for lin in lins[:-1]:
        a = torch.addmm(lin.bias, h, lin.weight.t())
        pre.append(a)
        h = F.leaky_relu(a, 0.2)
    e = torch.addmm(lins[-1].bias, h, lins[-1].weight.t()).reshape(-1)
    d = lins[-1].weight.expand(x.shape[0], -1)
    for i in range(len(lins) - 2, -1, -1):
        d = _LRELU_BACKWARD(d, pre[i], 0.2, False) @ lins[i].weight
    return e, d


class Trainer:
    def __init__(self, cfg: dict, shape: tuple[int, ...], iterations_per_epoch: int, ema: float = 0.0,
                 fast: bool = True):
        self.cfg, self.t = cfg, cfg["train"]
        self.shape = shape
        self.per_epoch = iterations_per_epoch
        torch.manual_seed(self.t["seed"])
        self.ebm, self.gen, self.inf = build_models(cfg, shape)
        for net in (self.ebm, self.gen, self.inf):
            net.train()  # batch statistics everywhere, power iteration in every forward
        self.opts = [self._adam(net, self.t[k]) for net, k in
                     ((self.ebm, "ebm_optim"), (self.gen, "generator_optim"), (self.inf, "inference_optim"))]
        p = self.t["parameterisation"]
        self.x_coef = coefficients(self.t["x_langevin"], p)
        self.z_coef = coefficients(self.t["z_langevin"], p)
        xl = self.t["x_langevin"]
        self.temperature = 1.0 if p == "paper" else (xl["noise_scale"] / xl["step_size"]) ** 2
        var = self.t["sigma"] ** 2
        self.z_lik = (1.0 if p == "paper" else 2.0) / var
        self.iteration = 0
        self.x_accept = None  # mean acceptance of the last Metropolis-adjusted x-chain
        self.jump_accepts: list[float] = []  # acceptance of each population jump since the last row
        self.ema_decay = ema
        self.ebm_ema = copy.deepcopy(self.ebm) if ema > 0 else None
        # Plain MLPs take the hand-written input gradient in the samplers (same values).
        self.ebm_lins = plain_mlp(self.ebm) if fast else None
        self.gen_lins = plain_mlp(self.gen) if fast else None

    @staticmethod
    def _adam(net, o):
        return torch.optim.Adam(net.parameters(), lr=o["lr"], betas=(o["beta1"], o["beta2"]),
                                eps=1e-8, weight_decay=o["weight_decay"])

    def _step(self, which: int, key: str):
        o = self.t[key]
        epoch = self.iteration // self.per_epoch
        for g in self.opts[which].param_groups:
            g["lr"] = o["lr"] * self.t["lr_decay"] ** epoch
        self.opts[which].step()

    def _energy_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E(x) [B], dE/dx) of the EBM."""
        if self.ebm_lins is not None:
            return mlp_energy_grad(self.ebm_lins, x)
        x = x.detach().requires_grad_(True)
        e = self.ebm(x).reshape(-1)
        (grad,) = torch.autograd.grad(e.sum(), x)
        return e.detach(), grad

    def x_mala(self, x: torch.Tensor) -> torch.Tensor:
        """NEW, reference only (train.x_langevin.metropolis = true; the Rust trainer has no
        such chain): the same proposal y = x - s grad E(x) + sqrt(2s) eps, accepted per
        chain with probability min(1, exp(E(x) - E(y)) q(x|y) / q(y|x)), so that exp(-E)
        is the chain's exact stationary law (no discretisation bias)."""
        if self.t["parameterisation"] != "paper":
            raise SystemExit("x_langevin.metropolis: paper parameterisation only (T = 1)")
        xl = self.t["x_langevin"]
        every = int(xl.get("second_step_every", 0))
        local = coefficients(xl, "paper")
        second = coefficients({"step_size": xl.get("second_step_size", xl["step_size"])}, "paper")
        jump_every = int(xl.get("jump_every", 0))
        x = x.detach()
        e, g = self._energy_grad(x)
        accepted = 0.0
        steps = xl["steps"]
        for i in range(steps):
            drift, noise = second if every > 0 and (i + 1) % every == 0 else local
            var = noise * noise
            y = x - drift * g + noise * torch.randn_like(x)
            ey, gy = self._energy_grad(y)
            fwd = ((y - x + drift * g) ** 2).sum(1)
            bwd = ((x - y + drift * gy) ** 2).sum(1)
            log_a = e - ey + (fwd - bwd) / (2 * var)
            acc = (torch.log(torch.rand_like(log_a)) < log_a) & self.in_box(y)
            accepted += float(acc.float().mean())
            x = torch.where(acc[:, None], y, x)
            e = torch.where(acc, ey, e)
            g = torch.where(acc[:, None], gy, g)
            if jump_every > 0 and (i + 1) % jump_every == 0:
                x = self.population_jump(x)
                e, g = self._energy_grad(x)
        self.x_accept = accepted / max(steps, 1)
        with torch.no_grad():
            self.ebm(x)
        return x

    def in_box(self, y: torch.Tensor) -> torch.Tensor:
        """[B] bool: rows inside [-D, D]^d for train.x_langevin.box_half_width = D;
        all true without a box. With a box the chain's target is exp(-E) on the box alone, the
        region the grid evaluation normalises over, so an EBM that is still unbounded below
        outside it (a fresh one is) cannot pull exact moves away."""
        d = float(self.t["x_langevin"].get("box_half_width", 0.0))
        if d <= 0:
            return torch.ones(y.shape[0], dtype=torch.bool)
        return (y.abs() <= d).flatten(1).all(1)

    def population_jump(self, x: torch.Tensor) -> torch.Tensor:
        """train.x_langevin.jump_every = J (the Rust trainer has it with metropolis = true, where
        the same move decides by E at the chain's temperature): a differential-evolution jump (ter Braak 2006) over the batch of chains. The
        rows are split in two halves; each row of one half proposes y = x + (x_j - x_k), j
        and k two distinct random rows of the other half, and accepts with probability
        min(1, exp(E(x) - E(y))) (the proposal is symmetric while the other half is held
        fixed); then the halves swap roles. Chains spread over several modes make differences
        that are (nearly) vectors between modes, so a chain can jump to another mode, and
        lands there in proportion to the EBM's own mass: what short local chains cannot do."""
        x = x.detach().clone()
        b = x.shape[0]
        halves = (torch.arange(0, b // 2), torch.arange(b // 2, b))
        for me, other in (halves, halves[::-1]):
            n = other.numel()
            j = other[torch.randint(0, n, (me.numel(),))]
            k = other[(torch.randint(1, n, (me.numel(),)) + (j - other[0])) % n]
            y = x[me] + (x[j] - x[k])
            with torch.no_grad():
                e_x, e_y = self.ebm(x[me]).reshape(-1), self.ebm(y).reshape(-1)
            acc = (torch.log(torch.rand(me.numel())) < (e_x - e_y)) & self.in_box(y)
            self.jump_accepts.append(float(acc.float().mean()))
            x[me] = torch.where(acc[:, None], y, x[me])
        return x

    def x_langevin(self, x: torch.Tensor) -> torch.Tensor:
        if self.t["x_langevin"].get("metropolis", False):
            return self.x_mala(x)
        drift, noise = self.x_coef
        jump_every = int(self.t["x_langevin"].get("jump_every", 0))
        x = x.detach()
        for i in range(self.t["x_langevin"]["steps"]):
            if self.ebm_lins is not None:
                grad = mlp_input_grad(self.ebm_lins, x)
            else:
                x.requires_grad_(True)
                (grad,) = torch.autograd.grad(self.ebm(x).sum(), x)
            x = (x - drift * grad + noise * torch.randn_like(x)).detach()
            if jump_every > 0 and (i + 1) % jump_every == 0:
                x = self.population_jump(x)
        with torch.no_grad():
            self.ebm(x)  # the trace's energy of x_k (and one more power iteration under SN)
        return x

    def z_langevin(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        drift, noise = self.z_coef
        z = z.detach()
        c = self.z_lik
        for _ in range(self.t["z_langevin"]["steps"]):
            if self.gen_lins is not None:
                grad = mlp_input_grad(self.gen_lins, z, lambda g: c * (g - x))
            else:
                z.requires_grad_(True)
                g = self.gen(z)
                (grad,) = torch.autograd.grad(0.5 * c * ((g - x) ** 2).sum(), z)
            z = (z - drift * (grad + z) + noise * torch.randn_like(z)).detach()
        with torch.no_grad():
            self.gen(z)  # the trace's g(z_k)
        return z

    def chain_start(self, z_p: torch.Tensor, noise_start: torch.Tensor | None) -> torch.Tensor:
        if self.t["x_init"] == "noise":
            return noise_start
        with torch.no_grad():
            return self.gen(z_p)

    def share_start(self, m: int, like: torch.Tensor) -> torch.Tensor:
        """NEW, reference only (train.x_noise_share; the Rust trainer has no such option): m
        x-chain starts from noise. On 2-D toys uniform over the evaluation grid's box
        [-D, D]^2 (TOY_DOMAIN), so a start lands in each component's basin in proportion to
        its area, whatever the generator's or the EBM's weights, and some start off the
        data; elsewhere N(0, x_noise_init_std^2)."""
        if self.cfg["data"]["kind"] == "toy2d":
            d = TOY_DOMAIN[self.cfg["data"]["toy"]]
            return (torch.rand(m, *like.shape[1:]) * 2 - 1) * d
        return torch.randn(m, *like.shape[1:]) * self.t["x_noise_init_std"]

    def persistent_start(self, m: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """NEW, reference only (train.x_persistent_share; the Rust trainer has no such
        option): m x-chain starts drawn (with replacement) from a buffer of
        train.x_buffer_size points, first filled as share_start fills (uniform over the
        grid's box on 2-D toys), to which step 5 writes the revised samples back. A buffered
        chain keeps running across iterations (persistent contrastive divergence), so it
        can carry mass between modes that no single short chain crosses."""
        if getattr(self, "buffer", None) is None:
            n = int(self.t.get("x_buffer_size", 10000))
            self.buffer = self.share_start(n, like)
        slots = torch.randint(0, self.buffer.shape[0], (m,))
        return slots, self.buffer[slots].clone()

    def step(self, x: torch.Tensor) -> dict:
        t, b = self.t, x.shape[0]
        nz = t["nz"]
        # 1. x~ = x-Langevin(g(z_p)) under the current EBM; with x_noise_share the first m
        # rows start from noise instead (share_start; the same starts again in step 5).
        z_p = torch.randn(b, nz)
        noise_start = torch.randn_like(x) * t["x_noise_init_std"] if t["x_init"] == "noise" else None
        m = round(t.get("x_noise_share", 0.0) * b) if t["x_init"] != "noise" else 0
        shared = self.share_start(m, x) if m > 0 else None
        slots = None
        if t.get("x_persistent_share", 0.0) > 0 and t["x_init"] != "noise":
            m = round(t["x_persistent_share"] * b)
            slots, shared = self.persistent_start(m, x)

        def start() -> torch.Tensor:
            x0 = self.chain_start(z_p, noise_start)
            return x0 if shared is None else torch.cat([shared, x0[m:]])

        x_teach = self.x_langevin(start())
        # 2. z~ = z-Langevin(z0 | x), z0 = mu + exp(logvar/2) eps (or N(0, I)).
        with torch.no_grad():
            q = self.inf(x)
            mu, lv = q[:, :nz], q[:, nz:]
            z0 = mu + torch.exp(0.5 * lv) * torch.randn_like(mu) if t["z_init"] == "inference" else torch.randn(b, nz)
        z_post = self.z_langevin(z0, x)
        # 3. Generator step (eq. 10): sums over values, means over the batch.
        self.gen.zero_grad(set_to_none=False)
        data_w = t["generator_data_weight"] if t["generator_teaching"] == "dual" else 0.0
        losses = {}
        # The noise-started rows (the first m) have no z: the sample terms of steps 3 and 4
        # use only the rows started at g(z_p), averaged over those b - m rows.
        for z, target, w, name in ((z_post, x, data_w, "gen_data_loss"),
                                   (z_p[m:], x_teach[m:], t["generator_sample_weight"], "gen_sample_loss")):
            sq = ((self.gen(z) - target) ** 2).sum() / z.shape[0]
            losses[name] = sq.item()
            if w != 0.0:
                (w * sq).backward()
        self._step(1, "generator_optim")
        # 4. Inference step (eq. 15).
        self.inf.zero_grad(set_to_none=False)
        for xx, z, w, name in ((x, z_post, 1.0, "inf_data_loss"),
                               (x_teach[m:], z_p[m:], t["inference_sample_weight"], "inf_sample_loss")):
            q = self.inf(xx)
            mu, lv = q[:, :nz], q[:, nz:]
            nll = (0.5 * lv + 0.5 * (z - mu) ** 2 / (torch.exp(lv) + VAR_EPS)).sum() / z.shape[0]
            losses[name] = nll.item()
            (w * nll).backward()
        self._step(2, "inference_optim")
        # 5. x~' from the updated generator (same z_p), then the EBM step (eq. 7) / T.
        x_ebm = self.x_langevin(start())
        if slots is not None:
            self.buffer[slots] = x_ebm[:m].detach()
        self.ebm.zero_grad(set_to_none=False)
        e_data = self.ebm(x).mean()
        (e_data / self.temperature).backward()
        e_samp = self.ebm(x_ebm).mean()
        (-e_samp / self.temperature).backward()
        self._step(0, "ebm_optim")
        # 6. Guard.
        ed, es = e_data.item(), e_samp.item()
        losses.update(energy_data=ed, energy_samples=es, ebm_loss=(ed - es) / self.temperature)
        for k, v in losses.items():
            if not math.isfinite(v):
                raise Divergence(f"training diverged at iteration {self.iteration}: {k} = {v}")
        if abs(ed - es) > t["energy_gap_bound"]:
            raise Divergence(f"training diverged at iteration {self.iteration}: energy gap {ed - es}")
        if self.ebm_ema is not None:
            k = self.iteration + 1
            d = min(self.ema_decay, (1 + k) / (10 + k))
            with torch.no_grad():
                for pe, p in zip(self.ebm_ema.parameters(), self.ebm.parameters()):
                    pe.mul_(d).add_(p, alpha=1 - d)
        self.iteration += 1
        return losses

    @torch.no_grad()
    def energies(self, points: np.ndarray, ema: bool = False, chunk: int = 65536) -> np.ndarray:
        net = self.ebm_ema if ema else self.ebm
        pts = torch.from_numpy(points)
        return torch.cat([net(pts[i:i + chunk]).reshape(-1) for i in range(0, len(pts), chunk)]).numpy()


# --------------------------------------------------------------------------------------
# Fashion-MNIST and the Fréchet distance (src/data/fashion_mnist.rs, src/eval/feature_net.rs,
# src/eval/frechet.rs)
# --------------------------------------------------------------------------------------

FULL_SET = Path("/usr/share/datasets/fashion-mnist")


def read_idx_images(path: Path) -> np.ndarray:
    """An IDX image file (gzipped) as float32 [N, 1, H, W] in [-1, 1]: x / 127.5 - 1."""
    raw = gzip.decompress(path.read_bytes())
    n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, h, w)
    return pixels.astype(np.float32) / 127.5 - 1.0


def fashion_mnist(cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """(training images, held-out images): the full set when installed and preferred (as the
    Rust loader chooses), else the shipped 10,000 test images serve as both."""
    shipped = read_idx_images(ROOT / "assets" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz")
    if cfg["data"].get("prefer_full", True) and (FULL_SET / "train-images-idx3-ubyte.gz").exists():
        return read_idx_images(FULL_SET / "train-images-idx3-ubyte.gz"), shipped
    return shipped, shipped


def image_batches(images: np.ndarray, b: int, seed: int):
    """Batches without replacement, a fresh permutation per epoch (the last partial batch is
    dropped)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for i in range(0, len(order) - b + 1, b):
            yield torch.from_numpy(images[order[i:i + b]])


class FeatureNet(nn.Module):
    """The shipped feature network's trunk (assets/feature-net): [conv3x3 -> ReLU -> 2x2
    average pool] x 2, Linear -> ReLU; its 128 outputs are the Fréchet distance's features."""

    def __init__(self, path: Path = ROOT / "assets" / "feature-net" / "fashion-mnist.safetensors"):
        super().__init__()
        from safetensors.torch import load_file
        t = load_file(str(path))
        self.c0 = nn.Conv2d(1, t["features.convs.0.weight"].shape[0], 3, padding=1)
        self.c1 = nn.Conv2d(self.c0.out_channels, t["features.convs.1.weight"].shape[0], 3, padding=1)
        self.fc = nn.Linear(t["features.fc.weight"].shape[1], t["features.fc.weight"].shape[0])
        self.head = nn.Linear(t["head.fc.weight"].shape[1], t["head.fc.weight"].shape[0])
        for mod, key in ((self.c0, "features.convs.0"), (self.c1, "features.convs.1"),
                         (self.fc, "features.fc"), (self.head, "head.fc")):
            mod.weight.data.copy_(t[f"{key}.weight"])
            mod.bias.data.copy_(t[f"{key}.bias"])

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> np.ndarray:
        x = F.avg_pool2d(F.relu(self.c0(x)), 2)
        x = F.avg_pool2d(F.relu(self.c1(x)), 2)
        return F.relu(self.fc(x.flatten(1))).double().numpy()


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(0), np.cov(features, rowvar=False)  # n - 1, as Gaussian::fit


def frechet(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """|mu_a - mu_b|^2 + tr(A + B - 2 (A^1/2 B A^1/2)^1/2), the square roots through
    eigendecompositions of symmetric matrices (src/eval/frechet.rs)."""
    def sqrt_psd(m):
        w, v = np.linalg.eigh((m + m.T) / 2)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ra = sqrt_psd(a[1])
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(ra @ b[1] @ ra), 0, None)).sum()
    return float(((a[0] - b[0]) ** 2).sum() + np.trace(a[1]) + np.trace(b[1]) - 2 * cross)


def image_grid(images: np.ndarray, path: Path, columns: int = 10) -> None:
    """A PNG of the first rows x columns images ([-1, 1] -> 0..255), 1-pixel gaps."""
    from PIL import Image
    n = (len(images) // columns) * columns
    _, _, h, w = images.shape
    grid = np.full(((h + 1) * (n // columns) + 1, (w + 1) * columns + 1), 255, np.uint8)
    for k in range(n):
        r, c = divmod(k, columns)
        px = np.clip((images[k, 0] + 1) * 127.5, 0, 255).astype(np.uint8)
        grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = px
    Image.fromarray(grid).save(path)


# --------------------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------------------


def data_shape(cfg: dict) -> tuple[tuple[int, ...], int]:
    """(example shape, iterations per epoch)."""
    d = cfg["data"]
    b = cfg["train"]["batch_size"]
    if d["kind"] == "toy2d":
        return (2,), 1000
    if d["kind"] == "fashion-mnist":
        full = d.get("prefer_full", True) and Path("/usr/share/datasets/fashion-mnist").exists()
        return (1, 28, 28), (60000 if full else 10000) // b
    raise SystemExit(f"data.kind = {d['kind']!r}: only toy2d and fashion-mnist are mirrored here")


class toy_batches:
    """Endless training batches of the config's toy, from their own seeded stream; an object
    rather than a generator so that a run's state can be saved and resumed (pickle)."""

    def __init__(self, cfg: dict):
        self.rng = np.random.default_rng(cfg["train"]["seed"])
        self.toy, self.b = cfg["data"]["toy"], cfg["train"]["batch_size"]

    def __iter__(self):
        return self

    def __next__(self):
        return torch.from_numpy(sample_toy(self.toy, self.b, self.rng))


def cmd_time(args, cfg):
    shape, per_epoch = data_shape(cfg)
    tr = Trainer(cfg, shape, per_epoch)
    b = cfg["train"]["batch_size"]
    if cfg["data"]["kind"] == "toy2d":
        batches = toy_batches(cfg)
    else:
        # Timing only: random images in [-1, 1] of the right shape stand in for
        # Fashion-MNIST (the cost of an iteration does not depend on the pixel values).
        gen = torch.Generator().manual_seed(0)

        def rand_batches():
            while True:
                yield torch.rand((b, *shape), generator=gen) * 2 - 1
        batches = rand_batches()
    times = []
    for i in range(args.warmup + args.iterations):
        x = next(batches)
        t0 = time.perf_counter()
        tr.step(x)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    name = args.preset if not args.config else args.config
    print(json.dumps({"preset": name, "overrides": args.set, "seconds_per_iteration": round(statistics.median(times), 5),
                      "iterations_timed": args.iterations, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


def cmd_check(args, cfg):
    """The hand-written MLP input gradients against autograd, and a few iterations."""
    shape, per_epoch = data_shape(cfg)
    tr = Trainer(cfg, shape, per_epoch)
    if tr.ebm_lins is None:
        print(json.dumps({"check": "not a plain MLP: autograd is used throughout"}))
        return
    x = torch.randn(97, *shape) * 2
    z = torch.randn(97, cfg["train"]["nz"])
    xe = x.clone().requires_grad_(True)
    (ge,) = torch.autograd.grad(tr.ebm(xe).sum(), xe)
    zg = z.clone().requires_grad_(True)
    (gz,) = torch.autograd.grad(0.5 * tr.z_lik * ((tr.gen(zg) - x) ** 2).sum(), zg)
    fe = mlp_input_grad(tr.ebm_lins, x)
    fz = mlp_input_grad(tr.gen_lins, z, lambda g: tr.z_lik * (g - x))
    err = max(float((fe - ge).abs().max() / ge.abs().max()), float((fz - gz).abs().max() / gz.abs().max()))
    print(json.dumps({"check": "hand-written MLP input gradients vs autograd", "max_relative_error": err}))
    assert err < 1e-5, err


def recorder(args):
    """(record, file): record(row) writes a JSON line to --out (flushed) and, unless --quiet,
    to stderr; the file (or None) is the caller's to close."""
    out = open(args.out, "w") if args.out else None

    def record(row):
        line = json.dumps(row)
        if out:
            out.write(line + "\n")
            out.flush()
        if not args.quiet:
            print(line, file=sys.stderr)
    return record, out


def samples(tr: Trainer, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n generator samples g(z), z ~ N(0, I), and their x-Langevin revisions, in batches of
    the run's batch size (batch norm sees batches of the training size, as in eval)."""
    b, gen, rev = tr.t["batch_size"], [], []
    for _ in range(-(-n // b)):
        with torch.no_grad():
            x0 = tr.gen(torch.randn(b, tr.t["nz"]))
        gen.append(x0.numpy())
        rev.append(tr.x_langevin(x0).numpy())
    return np.concatenate(gen)[:n], np.concatenate(rev)[:n]


def cmd_train_images(args, cfg):
    """Trains on Fashion-MNIST; every --eval-every iterations the Fréchet distances of
    --heldout generator samples and of their revisions to as many training images (the
    shipped feature network), with the floor of as many held-out real images."""
    shape, per_epoch = data_shape(cfg)
    train, held = fashion_mnist(cfg)
    net = FeatureNet()
    rng = np.random.default_rng(7)
    n = args.heldout
    reference = gaussian(net.features(torch.from_numpy(train[rng.choice(len(train), n, replace=False)])))
    floor = frechet(gaussian(net.features(torch.from_numpy(held[rng.choice(len(held), n, replace=False)]))),
                    reference)
    tr = Trainer(cfg, shape, per_epoch)
    batches = image_batches(train, cfg["train"]["batch_size"], cfg["train"]["seed"])
    record, out = recorder(args)

    record({"config": cfg, "n": n, "frechet_floor": round(floor, 3)})
    began, trained = time.perf_counter(), 0.0
    status = "ok"
    for it in range(1, args.iterations + 1):
        t0 = time.perf_counter()
        try:
            m = tr.step(next(batches))
        except Divergence as e:
            status = str(e)
            record({"iteration": it, "diverged": status})
            break
        trained += time.perf_counter() - t0
        if it % args.eval_every == 0 or it == args.iterations:
            g, r = samples(tr, n)
            row = {"iteration": it,
                   "frechet_generator": round(frechet(gaussian(net.features(torch.from_numpy(g))), reference), 3),
                   "frechet_revised": round(frechet(gaussian(net.features(torch.from_numpy(r))), reference), 3),
                   "gen_data_loss": round(m["gen_data_loss"], 3), "gen_sample_loss": round(m["gen_sample_loss"], 3),
                   "training_seconds": round(trained, 1)}
            record(row)
            if args.images:
                stem = Path(args.images)
                image_grid(r[:100], stem.with_name(f"{stem.name}_{it:05d}_revised.png"))
                image_grid(g[:100], stem.with_name(f"{stem.name}_{it:05d}_generator.png"))
                np.save(stem.with_name(f"{stem.name}_{it:05d}_revised.npy"), r)
    if out:
        out.close()
    print(json.dumps({"status": status, "iterations": tr.iteration, "threads": torch.get_num_threads(),
                      "seconds": round(time.perf_counter() - began, 1)}))


def cmd_train(args, cfg):
    if cfg["data"]["kind"] == "fashion-mnist":
        return cmd_train_images(args, cfg)
    if cfg["data"]["kind"] != "toy2d":
        raise SystemExit("train mode is for 2-D toys and Fashion-MNIST")
    shape, per_epoch = data_shape(cfg)
    toy = cfg["data"]["toy"]
    grid = Grid(toy)
    held_out = sample_toy(toy, args.heldout, np.random.default_rng(0x5EED0E7A))
    opt = optimum(toy, held_out)
    support = support_mask(toy, grid.points)
    reg = regions(toy, grid.points)
    tr = Trainer(cfg, shape, per_epoch, ema=args.ema)
    batches = toy_batches(cfg)
    record, out = recorder(args)

    record({"config": cfg, "toy": toy, "optimum": opt, "heldout": args.heldout, "ema": args.ema})
    began = time.perf_counter()
    status = "ok"
    gaps = []
    for it in range(1, args.iterations + 1):
        try:
            m = tr.step(next(batches))
        except Divergence as e:
            status = str(e)
            record({"iteration": it, "diverged": status})
            break
        gaps.append(m["energy_data"] - m["energy_samples"])
        if it % args.eval_every == 0 or it == args.iterations:
            en = tr.energies(grid.points)
            row = {"iteration": it, "loglik": round(grid.average_log_likelihood(en, held_out), 5),
                   "mass_off_support": mass_off(en, support), "component_kl": region_kl(en, reg),
                   "energy_gap_mean": round(float(np.mean(gaps)), 5), "gen_data_loss": round(m["gen_data_loss"], 5),
                   "seconds": round(time.perf_counter() - began, 1)}
            if tr.x_accept is not None:
                row["x_accept"] = round(tr.x_accept, 4)
            if tr.jump_accepts:  # population jumps since the last row
                row["jump_accept"] = round(sum(tr.jump_accepts) / len(tr.jump_accepts), 4)
                tr.jump_accepts.clear()
            if tr.ebm_ema is not None:
                en = tr.energies(grid.points, ema=True)
                row["loglik_ema"] = round(grid.average_log_likelihood(en, held_out), 5)
                row["mass_off_support_ema"] = mass_off(en, support)
                row["component_kl_ema"] = region_kl(en, reg)
            gaps = []
            record(row)
    if out:
        out.close()
    print(json.dumps({"toy": toy, "optimum": opt, "status": status, "iterations": tr.iteration,
                      "threads": torch.get_num_threads(), "seconds": round(time.perf_counter() - began, 1)}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["time", "train", "check"])
    ap.add_argument("--preset", default="toy2d", help="a preset of assets/presets/ (toy2d, fmnist)")
    ap.add_argument("--config", help="a TOML file instead of a preset (e.g. a run folder's config.toml)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--heldout", type=int, default=1000, help="held-out points (eval's --n default: 1000)")
    ap.add_argument("--ema", type=float, default=0.0, help="also evaluate an EMA of the EBM weights")
    ap.add_argument("--out", help="JSONL of (iteration, loglik) (train mode)")
    ap.add_argument("--images", metavar="STEM", help="image runs: write STEM_<iteration>_{revised,generator}.png "
                    "and STEM_<iteration>_revised.npy (for `dualmcmc --no-gui eval --samples`) at each evaluation")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    cfg = load_config(args.preset, args.config, args.set)
    if args.iterations is None:
        args.iterations = 30 if args.mode == "time" else int(cfg["schedule"]["iterations"])
    {"time": cmd_time, "train": cmd_train, "check": cmd_check}[args.mode](args, cfg)


if __name__ == "__main__":
    main()
