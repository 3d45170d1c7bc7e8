#!/usr/bin/env python3
"""One torch_reference training run on a 2-D toy (same rows as its `train` mode, same seeds,
so the same numbers), which also saves the grid energies of the raw and EMA EBM at the end
(NPZ) and, for the checkerboard, splits the gap to the optimum into its parts:

  gap = -log(1 - q)            mass q off the 8 squares (inside and outside [-4, 4]^2)
      + KL(uniform || w)       the 8 squares' relative masses w_k
      + within-square term     non-uniformity inside the squares (the rest)

  checkerboard_probe.py --iterations 10000 --out run.jsonl --npz run.npz --set model.layers=3 ...
Run one at a time with one thread (it sets torch.set_num_threads(1)).
"""
import argparse, json, math, sys, time
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_reference as R


def checkerboard_parts(energies, grid, held_out):
    pts = grid.points.astype(np.float64)
    neg = -energies.astype(np.float64)
    p = np.exp(neg - neg.max()); p /= p.sum()
    inside = (np.abs(pts) < 4).all(1)
    col, row = np.floor(pts[:, 0] / 2), np.floor(pts[:, 1] / 2)
    on = inside & ((col + row) % 2 == 0)
    q = float(p[~on].sum())
    keys = ((col + 2) * 4 + (row + 2)).astype(int)
    w = np.array([p[on & (keys == k)].sum() for k in np.unique(keys[on])])
    w = w / w.sum()
    kl_sq = float(np.mean(np.log((1 / len(w)) / w)))
    ll = grid.average_log_likelihood(energies, held_out)
    gap = -math.log(32) - ll
    return {"gap": gap, "off_support_mass": q, "off_support_term": -math.log(1 - q),
            "square_kl": kl_sq, "within_square_term": gap + math.log(1 - q) - kl_sq,
            "square_masses": [round(float(x), 4) for x in w]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--iterations", type=int, default=10000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--heldout", type=int, default=10000)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--out", required=True)
    ap.add_argument("--npz", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cfg = R.load_config("toy2d", None, a.set)
    shape, per_epoch = R.data_shape(cfg)
    toy = cfg["data"]["toy"]
    grid = R.Grid(toy)
    held_out = R.sample_toy(toy, a.heldout, np.random.default_rng(0x5EED0E7A))
    opt = R.optimum(toy, held_out)
    support, reg = R.support_mask(toy, grid.points), R.regions(toy, grid.points)
    tr = R.Trainer(cfg, shape, per_epoch, ema=a.ema)
    batches = R.toy_batches(cfg)
    out = open(a.out, "w")
    out.write(json.dumps({"config": cfg, "toy": toy, "optimum": opt, "heldout": a.heldout, "ema": a.ema}) + "\n")
    began, gaps = time.perf_counter(), []
    for it in range(1, a.iterations + 1):
        m = tr.step(next(batches))
        gaps.append(m["energy_data"] - m["energy_samples"])
        if it % a.eval_every == 0 or it == a.iterations:
            en = tr.energies(grid.points)
            row = {"iteration": it, "loglik": round(grid.average_log_likelihood(en, held_out), 5),
                   "mass_off_support": R.mass_off(en, support), "component_kl": R.region_kl(en, reg),
                   "energy_gap_mean": round(float(np.mean(gaps)), 5), "gen_data_loss": round(m["gen_data_loss"], 5),
                   "seconds": round(time.perf_counter() - began, 1)}
            ene = tr.energies(grid.points, ema=True)
            row["loglik_ema"] = round(grid.average_log_likelihood(ene, held_out), 5)
            row["mass_off_support_ema"] = R.mass_off(ene, support)
            row["component_kl_ema"] = R.region_kl(ene, reg)
            if toy == "checkerboard":
                row["parts_ema"] = checkerboard_parts(ene, grid, held_out)
            gaps = []
            out.write(json.dumps(row) + "\n"); out.flush()
    out.close()
    np.savez_compressed(a.npz, points=grid.points, energy=tr.energies(grid.points),
                        energy_ema=tr.energies(grid.points, ema=True))
    print(json.dumps({"toy": toy, "iterations": a.iterations, "seconds": round(time.perf_counter() - began, 1)}))


if __name__ == "__main__":
    main()
