#!/usr/bin/env python3
"""How close can the toy2d EBM's network come to the optimum at all? A ceiling for the
convergence study (docs/convergence.md).

Trains the EBM network of the toy2d preset (bench/torch_reference.py's `mlp`: LeakyReLU 0.2
MLP, 2 -> hidden x layers -> 1) by exact maximum likelihood, with no sampler: the
normaliser Z = sum over the evaluation grid of exp(-E) * cell area is computed exactly every
step (src/eval/grid.rs's grid, coarser for training where the grid is large), so the loss is
the held-out measure itself: mean E(data) + log Z. Whatever this reaches is the most a
sampler-based recipe can reach with the same network; the gap to the optimum that remains is
the architecture's, not the chains'.

  toy2d_ceiling.py --toy checkerboard --hidden 128 --layers 3 --steps 3000
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

import torch_reference as ref
from checkerboard_probe import checkerboard_parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--toy", default="checkerboard")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--train-cells", type=int, default=200, help="cells per side of the training grid")
    ap.add_argument("--act", default="leaky", choices=["leaky", "tanh", "silu", "softplus"],
                    help="the hidden activation (leaky: LeakyReLU 0.2, the preset's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    grid = ref.Grid(args.toy)
    held_out = ref.sample_toy(args.toy, 10000, np.random.default_rng(0x5EED0E7A))
    opt = ref.optimum(args.toy, held_out)
    # Training grid: the evaluation box, at most train_cells per side.
    half, n = ref.TOY_DOMAIN[args.toy], min(args.train_cells, ref.TOY_CELLS[args.toy])
    h = 2 * half / n
    c = -half + (np.arange(n) + 0.5) * h
    xx, yy = np.meshgrid(c, c)
    train_grid = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32))
    log_area = math.log(h * h)

    # Mixtures whose modes are narrower than the training grid's cells (25 gaussians): the
    # normaliser by importance sampling instead, from the modes widened 2x (90 %) and the
    # box uniformly (10 %), fresh draws every step.
    mix = ref.mixture(args.toy)
    sharp = mix is not None and mix[1] < h

    def log_z_sampled(net, count=8192):
        centres, std = mix
        k = len(centres)
        wide = rng.random(count) < 0.9
        y = np.where(wide[:, None], centres[rng.integers(0, k, count)] + 2 * std * rng.standard_normal((count, 2)),
                     rng.uniform(-half, half, (count, 2)))
        d2 = ((y[:, None, :] - centres[None]) ** 2).sum(-1)
        var = (2 * std) ** 2
        q_wide = np.exp(-d2 / (2 * var)).mean(1) / (2 * math.pi * var)
        log_q = np.log(0.9 * q_wide + 0.1 / (2 * half) ** 2)
        yt = torch.from_numpy(y.astype(np.float32))
        return torch.logsumexp(-net(yt).reshape(-1) - torch.from_numpy(log_q.astype(np.float32)), 0) - math.log(count)

    net = ref.mlp(2, args.hidden, args.layers, 1)
    if args.act != "leaky":
        make = {"tanh": torch.nn.Tanh, "silu": torch.nn.SiLU, "softplus": torch.nn.Softplus}[args.act]
        net = torch.nn.Sequential(*[make() if isinstance(m, torch.nn.LeakyReLU) else m for m in net])
    opt_ = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt_, args.steps)
    rng = np.random.default_rng(args.seed)
    began = time.perf_counter()
    best = -math.inf
    for step in range(1, args.steps + 1):
        x = torch.from_numpy(ref.sample_toy(args.toy, args.batch, rng).astype(np.float32))
        log_z = log_z_sampled(net) if sharp else torch.logsumexp(-net(train_grid).reshape(-1), 0) + log_area
        loss = net(x).mean() + log_z
        opt_.zero_grad()
        loss.backward()
        opt_.step()
        sched.step()
        if step % 500 == 0 or step == args.steps:
            with torch.no_grad():
                pts = torch.from_numpy(grid.points)
                en = torch.cat([net(pts[i:i + 65536]).reshape(-1) for i in range(0, len(pts), 65536)]).numpy()
            ll = grid.average_log_likelihood(en, held_out)
            best = max(best, ll)
            row = {"step": step, "loglik": round(ll, 4), "gap": round(opt - ll, 4),
                   "seconds": round(time.perf_counter() - began, 1)}
            if args.toy == "checkerboard":  # the gap split as bench/checkerboard_probe.py makes it
                row["parts"] = {k: (round(v, 4) if isinstance(v, float) else v)
                                for k, v in checkerboard_parts(en, grid, held_out).items()}
            print(json.dumps(row), flush=True)
    print(json.dumps({"toy": args.toy, "hidden": args.hidden, "layers": args.layers, "act": args.act, "optimum": round(opt, 4),
                      "best": round(best, 4), "gap": round(opt - best, 4)}))


if __name__ == "__main__":
    main()
