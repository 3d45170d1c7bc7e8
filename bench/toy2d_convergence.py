#!/usr/bin/env python3
"""Study driver: why the 2-D densities of the toy2d preset drift, and a recipe that stays.

Runs bench/torch_reference.py (one process at a time, one torch thread each) for named
variants of the toy2d preset, each a list of our TOML keys (``--set`` overrides), and keeps
every run's (iteration, loglik, loglik_ema) curve as a JSONL file under docs/convergence/.
Existing files are kept (the study resumes where it stopped); delete one to rerun it. Runs
with --probe also save their state at every row (runs/reference-state/), so a run stopped
half-way continues from its last saved row when started again, with the same numbers (plain
runs start over). Stop such a run by killing its checkerboard_probe.py child too: the driver
alone leaves it running. A variant whose settings changed since its state was saved is
refused; delete its JSONL and state to start it afresh.

  toy2d_convergence.py screen            # 8gaussians, seed 1, every screening variant
  toy2d_convergence.py screen --only b1_0.9,lr_3e-4
  toy2d_convergence.py confirm           # the recommended variant, 3 toys x 3 seeds, 10k
  toy2d_convergence.py report            # plots (PNG) and the tables of docs/convergence.md
  toy2d_convergence.py all               # screen, confirm, report

The held-out set is 10,000 points (seed 0x5EED0E7A, numpy) and the log-likelihood is the
exact grid log-likelihood of src/eval/grid.rs; ``loglik_ema`` is that of an exponential
moving average (decay 0.999) of the EBM's weights, computed alongside in every run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "convergence"
STATE = ROOT / "runs" / "reference-state"  # the probe's saved states (not in git)
PY = sys.executable
EMA = 0.999
HELDOUT = 10000
EVAL_EVERY = 500
SCREEN_ITERATIONS = 4000
CONFIRM_ITERATIONS = 10000
TOYS = ["8gaussians", "25gaussians", "checkerboard"]
SEEDS = [1, 2, 3]


def all_nets(key: str, value) -> list[str]:
    return [f"train.{net}.{key}={value}" for net in ("ebm_optim", "generator_optim", "inference_optim")]


# Screening variants: one change at a time against the toy2d preset, then combinations.
VARIANTS: dict[str, list[str]] = {
    "baseline": [],
    "lr_3e-4": all_nets("lr", 3e-4),
    "b1_0.5": all_nets("beta1", 0.5),
    "b1_0.9": all_nets("beta1", 0.9),
    "decay_0.8": ["train.lr_decay=0.8"],
    "gen_lr_3e-4": ["train.generator_optim.lr=3e-4"],
    "sample_w_0.1": ["train.generator_sample_weight=0.1"],
    "x_step_0.02": ["train.x_langevin.step_size=0.02"],
    "x_steps_60": ["train.x_langevin.steps=60"],
    "batch_512": ["train.batch_size=512"],
    "ebm_lr_3e-4": ["train.ebm_optim.lr=3e-4"],
}
COMBINED: dict[str, list[str]] = {
    "lr_3e-4+decay_0.9": all_nets("lr", 3e-4) + ["train.lr_decay=0.9"],
    "lr_3e-4+b1_0.5": all_nets("lr", 3e-4) + all_nets("beta1", 0.5),
    # Smaller x-Langevin steps: less discretisation bias of the chain (see convergence.md).
    "lr_3e-4+x_step_0.02": all_nets("lr", 3e-4) + ["train.x_langevin.step_size=0.02"],
    "lr_3e-4+decay_0.9+x_step_0.02": all_nets("lr", 3e-4) + ["train.lr_decay=0.9",
                                                             "train.x_langevin.step_size=0.02"],
    # 25 gaussians: the modes' standard deviation is 0.0177, far below the preset's chain
    # noise sqrt(2 * 0.05) = 0.32; a step of 1e-4 gives noise 0.014.
    "lr_3e-4+x_step_1e-4": all_nets("lr", 3e-4) + ["train.x_langevin.step_size=1e-4"],
}
# Checkerboard / 25 gaussians study (docs/convergence/checkerboard_runs.md): changes against the
# toy2d preset as it now stands (lr 3e-4, lr_decay 0.9, x-step 0.02, 30 x-steps).
COMBINED.update({
    "cb_xs0.01_k60": ["train.x_langevin.step_size=0.01", "train.x_langevin.steps=60"],
    "cb_xs0.005_k120": ["train.x_langevin.step_size=0.005", "train.x_langevin.steps=120"],
    "cb_xs0.005_k60": ["train.x_langevin.step_size=0.005", "train.x_langevin.steps=60"],
    "cb_hidden256": ["model.hidden=256"],
    "cb_layers3": ["model.layers=3"],
    "cb_batch512": ["train.batch_size=512"],
    "cb_nodecay": ["train.lr_decay=1.0"],
    "cb_layers4": ["model.layers=4"],
    "cb_h256_l3": ["model.hidden=256", "model.layers=3"],
    "cb_l3_xs0.01_k60": ["model.layers=3", "train.x_langevin.step_size=0.01", "train.x_langevin.steps=60"],
    "cb_l4_xs0.01_k60": ["model.layers=4", "train.x_langevin.step_size=0.01", "train.x_langevin.steps=60"],
    "cb_l3_xs0.005_k60": ["model.layers=3", "train.x_langevin.step_size=0.005", "train.x_langevin.steps=60"],
    "cb_l3_b512": ["model.layers=3", "train.batch_size=512"],
    "cb_l4_ebmlr1.5e-4": ["model.layers=4", "train.ebm_optim.lr=1.5e-4"],
    # 25 gaussians (mode std 0.0177): an x-step of 1e-4 (per-step noise 0.014, s / 2 std^2 =
    # 0.16) with many steps, a deeper EBM, optionally a sharper generator likelihood.
    "g25_xs1e-4_k100_l3": ["train.x_langevin.step_size=1e-4", "train.x_langevin.steps=100", "model.layers=3"],
    "g25_xs1e-4_k100_l3_sig0.1": ["train.x_langevin.step_size=1e-4", "train.x_langevin.steps=100",
                                  "model.layers=3", "train.sigma=0.1", "train.z_langevin.step_size=0.002"],
    "cb_l4_xs0.005_k60": ["model.layers=4", "train.x_langevin.step_size=0.005", "train.x_langevin.steps=60"],
})
# 2026-12-04 (docs/convergence.md, section of that date): the next checks, and a
# Metropolis-adjusted x-chain. `train.x_langevin.metropolis=true` is NEW and exists only in
# bench/torch_reference.py (the Rust trainer has no such chain): the same Langevin proposal,
# accepted or rejected per chain, so the chain's stationary law is exactly exp(-E).
MALA = ["train.x_langevin.metropolis=true"]
G25 = ["train.x_langevin.step_size=1e-4", "train.x_langevin.steps=100", "model.layers=3",
       "train.sigma=0.1", "train.z_langevin.step_size=0.002"]
COMBINED.update({
    "cb_h256_l3_b512": ["model.hidden=256", "model.layers=3", "train.batch_size=512"],
    "cb_l3_b512_mala": ["model.layers=3", "train.batch_size=512"] + MALA,
    "cb_l3_b512_mala_xs0.05": ["model.layers=3", "train.batch_size=512", "train.x_langevin.step_size=0.05"] + MALA,
    "cb_l3_b512_lr1e-3": ["model.layers=3", "train.batch_size=512"] + all_nets("lr", 1e-3),
    # With lr 1e-3 the central squares lose mass steadily (square weights drift): tests of
    # settings that might make the generator's square masses (which alone set the EBM's
    # square weights, the chains never crossing) right.
    "cb_l3_b512_lr1e-3_sw0.1": ["model.layers=3", "train.batch_size=512", "train.generator_sample_weight=0.1"]
                               + all_nets("lr", 1e-3),
    "cb_l3_b512_lr1e-3_zk30": ["model.layers=3", "train.batch_size=512", "train.z_langevin.steps=30"]
                              + all_nets("lr", 1e-3),
    "cb_l3_b512_lr1e-3_k60": ["model.layers=3", "train.batch_size=512", "train.x_langevin.steps=60"]
                             + all_nets("lr", 1e-3),
    # The k60 run peaks at 6,000-6,500 iterations and then loses it (the squares' insides
    # get lumpy): the same with a faster decay of the learning rates.
    "cb_l3_b512_lr1e-3_k60_decay0.8": ["model.layers=3", "train.batch_size=512", "train.x_langevin.steps=60",
                                       "train.lr_decay=0.8"] + all_nets("lr", 1e-3),
    "cb_l3_b512_ebmlr1e-3": ["model.layers=3", "train.batch_size=512", "train.ebm_optim.lr=1e-3"],
    "g25_sig0.1_probe": G25,  # the same recipe as g25_xs1e-4_k100_l3_sig0.1, run through the probe
    "g25_sig0.1_mala": G25 + MALA,
    "g25_sig0.1_nodecay": G25 + ["train.lr_decay=1.0"],
})
# 2026-12-04, later: a share of both x-chains started from noise (uniform over the grid's
# box) instead of g(z_p). `train.x_noise_share` is NEW and exists only in
# bench/torch_reference.py (Trainer.share_start); the Rust trainer has no such option.
CB_BEST = ["model.layers=3", "train.batch_size=512", "train.x_langevin.steps=60",
           "train.lr_decay=0.8"] + all_nets("lr", 1e-3)
COMBINED.update({
    "cb_l3_b512_lr1e-3_k60_decay0.8_ns0.1": CB_BEST + ["train.x_noise_share=0.1"],
    "cb_l3_b512_lr1e-3_k60_decay0.8_ns0.25": CB_BEST + ["train.x_noise_share=0.25"],
    "cb_l3_b512_lr1e-3_k60_decay0.8_ns0.5": CB_BEST + ["train.x_noise_share=0.5"],
    "g25_xs1e-4_k100_l3_sig0.1_ns0.25": G25 + ["train.x_noise_share=0.25"],
})
# 2026-12-04, last: persistent chains. `train.x_persistent_share` (and `train.x_buffer_size`) are
# NEW and exist only in bench/torch_reference.py (Trainer.persistent_start): a share of both
# x-chains starts from a buffer of earlier revised samples and writes its result back.
PCD = lambda f, n=10000: [f"train.x_persistent_share={f}", f"train.x_buffer_size={n}"]
COMBINED.update({
    "cb_best_ps0.5": CB_BEST + PCD(0.5),
    "cb_best_ps0.9": CB_BEST + PCD(0.9),
    "ps0.5": PCD(0.5),
    "g25_ps0.5": G25 + PCD(0.5),
    "g25_ps0.9": G25 + PCD(0.9),
})
# 2026-12-07: the best recipe with hidden 256 and 4 layers (`cb_best_h256_l4`, run as CB_BEST +
# model.hidden=256 + model.layers=4) diverged at iteration 1,636 with all three learning rates
# 1e-3. The same with the EBM's learning rate alone lowered (generator and inference stay 1e-3).
CB_BEST_H256_L4 = CB_BEST + ["model.hidden=256", "model.layers=4"]
COMBINED.update({
    "cb_best_h256_l4": CB_BEST_H256_L4,
    "cb_h256_l4_ebmlr3e-4": CB_BEST_H256_L4 + ["train.ebm_optim.lr=3e-4"],
    # The same run to 4,000 iterations (its first 2,000 match the 2,000-iteration file), and
    # the EBM's learning rate halved again.
    "cb_h256_l4_ebmlr3e-4_4k": CB_BEST_H256_L4 + ["train.ebm_optim.lr=3e-4"],
    "cb_h256_l4_ebmlr1.5e-4": CB_BEST_H256_L4 + ["train.ebm_optim.lr=1.5e-4"],
    # Half of the x-chains from a persistent buffer, on the 3e-4 run.
    "cb_h256_l4_ebmlr3e-4_ps0.5": CB_BEST_H256_L4 + ["train.ebm_optim.lr=3e-4"] + PCD(0.5),
})
# 2026-12-07 (session 30): the square weights wander because no x-chain crosses between squares
# (docs/convergence.md). A Metropolis-adjusted chain with a step large enough to jump from one
# square to a diagonal neighbour: its stationary law is exp(-E) whatever the step, so where the
# chains mix, the samples carry the EBM's own square weights and the update can correct them.
COMBINED.update({
    "cb_best_mala_xs0.125": CB_BEST + MALA + ["train.x_langevin.step_size=0.125"],
    "cb_best_mala_xs0.5": CB_BEST + MALA + ["train.x_langevin.step_size=0.5"],
    # The same chain on the 256x4 network (whose exact-likelihood ceiling is within 0.03).
    "cb_h256_l4_ebmlr3e-4_mala_xs0.5": CB_BEST_H256_L4 + ["train.ebm_optim.lr=3e-4"] + MALA
                                       + ["train.x_langevin.step_size=0.5"],
    # With the square weights held by the chain, the EBM's learning rate of 1e-3 (which
    # diverged without it, `cb_best_h256_l4`) may be safe again.
    "cb_best_h256_l4_mala_xs0.5": CB_BEST_H256_L4 + MALA + ["train.x_langevin.step_size=0.5"],
    # The toy2d preset itself with the chain (what README's command runs), to compare the
    # reference with our trainer.
    "mala_xs0.5": MALA + ["train.x_langevin.step_size=0.5"],
    # 25 gaussians: their modes lie 40 standard deviations apart, beyond any Langevin step
    # that keeps them sharp, MALA's included. A population jump (differential evolution over
    # the batch, train.x_langevin.jump_every, reference only) every 10 x-steps.
    "g25_jump10": G25 + ["train.x_langevin.jump_every=10"],
    # The Metropolis-adjusted runs leave ~10 % of the mass off the squares: chains that start
    # on the squares rarely visit the region between them. A share of the chains started from
    # noise over the box (train.x_noise_share, reference only) visits it.
    "cb_best_mala_xs0.5_ns0.25": CB_BEST + MALA + ["train.x_langevin.step_size=0.5",
                                                   "train.x_noise_share=0.25"],
})
# Session 33: 25 gaussians with exact local moves. The jumps of `g25_jump10` hold the mode
# weights, but its unadjusted local steps leave 80 % of the mass off the modes. Here the local
# steps are Metropolis-adjusted at a step matched to the modes (3e-4: noise 0.024, 1.4 mode
# standard deviations) and the chain's target is exp(-E) on the grid's box (train.x_langevin.box_half_width,
# reference only), which keeps exact moves and jumps from running off down a fresh EBM.
G25_EXACT = G25 + MALA + ["train.x_langevin.step_size=3e-4", "train.x_langevin.jump_every=10",
                          "train.x_langevin.box_half_width=2.0"]
COMBINED.update({
    "g25_exact": G25_EXACT,
    "g25_exact_h256_l4": G25_EXACT + ["model.hidden=256", "model.layers=4"],
    # The 128x3 EBM sharpens slowly at the preset's learning rate 3e-4 (mass off the modes 0.97
    # at 1,500): the checkerboard recipe's 1e-3 for all three networks, with its decay 0.8.
    "g25_exact_lr1e-3": G25_EXACT + all_nets("lr", 1e-3) + ["train.lr_decay=0.8"],
    # With 1e-3 the modes sharpen faster but their weights drift (component KL 0.55 at 3,500):
    # twice the jumps.
    "g25_exact_lr1e-3_j5": G25_EXACT + all_nets("lr", 1e-3) + ["train.lr_decay=0.8", "train.x_langevin.jump_every=5"],
    # The network's ceiling: 256x4 came within 0.21 of the optimum by exact likelihood where 128x3
    # stayed 0.75 short (3,000 steps); with the jumps of the line above, at the preset's rates.
    # lr1e-3_j5 holds the weights (component KL 0.02) and is left with mass off the modes, which
    # falls ever slower as the learning rates decay: the same without the decay.
    "g25_exact_lr1e-3_j5_nodecay": G25_EXACT + all_nets("lr", 1e-3) + ["train.lr_decay=1.0", "train.x_langevin.jump_every=5"],
    "g25_exact_h256_l4_j5": G25_EXACT + ["model.hidden=256", "model.layers=4", "train.x_langevin.jump_every=5"],
    # Session 34: lr1e-3_j5's remaining mass sits on ridges between the outer modes, which
    # chains started at the generator's samples (at the modes) reach only by diffusing
    # ~0.24 in 100 steps. Persistent chains (half the rows, from a buffer first filled uniformly
    # over the box) keep running across iterations, so they sample the ridges as often as the
    # model puts mass there; the jumps and the exact local steps stay.
    "g25_exact_lr1e-3_j5_ps0.5": G25_EXACT + all_nets("lr", 1e-3) + ["train.lr_decay=0.8", "train.x_langevin.jump_every=5"]
                                 + PCD(0.5),
    # The checkerboard's answer to its edges, here for the ridges: every third step a larger
    # Metropolis-adjusted one (0.01: noise 0.14, a seventh of the modes' spacing), which is
    # accepted where it lands on low energy, ridges included, so the update sees them.
    # By exact likelihood 256x4 comes within 0.054 of the optimum by 9,500 of 10,000 steps (lr 1e-3,
    # cosine; bench/toy2d_ceiling.py --steps 10000): the network suffices. Its sampler-trained
    # run at the preset's 3e-4 trails the ceiling far; the learning rates of lr1e-3_j5.
    "g25_exact_h256_l4_lr1e-3_j5": G25_EXACT + ["model.hidden=256", "model.layers=4"] + all_nets("lr", 1e-3)
                                   + ["train.lr_decay=0.8", "train.x_langevin.jump_every=5"],
    # ps0.5 follows lr1e-3_j5 within 0.10 all the way: the chains are not what holds it back.
    # Exact likelihood (the ceiling, batch 512, 8,192 points for the normaliser) sharpens the
    # same 128x3 network 3x faster: less noise in the gradient, twice the batch.
    "g25_exact_lr1e-3_j5_b512": G25_EXACT + all_nets("lr", 1e-3)
                                + ["train.lr_decay=0.8", "train.x_langevin.jump_every=5", "train.batch_size=512"],
    # bench/gradient_probe.py at ps0.5's state at 4,000: the chains' EBM gradient has cosine 0.987
    # with the exact one (an i.i.d. batch from the model: 0.994), so the sampler is fine. The
    # ceiling's Adam has beta1 0.9 and beta2 0.999, the recipe's 0 and 0.9: that Adam for the EBM.
    "g25_exact_lr1e-3_j5_ebm_adam0.9": G25_EXACT + all_nets("lr", 1e-3)
                                       + ["train.lr_decay=0.8", "train.x_langevin.jump_every=5",
                                          "train.ebm_optim.beta1=0.9", "train.ebm_optim.beta2=0.999"],
    # gradient_probe.py at that state, against the exact gradient: the 100-step chains' EBM
    # gradient is 36 % off (an i.i.d. batch 6 %); 400 steps bring it to 7 %, and so do jumps after
    # every step (9 %), while 400 steps with the same 20 jumps stay at 29 %. So: a jump every step.
    "g25_exact_lr1e-3_j1": G25_EXACT + all_nets("lr", 1e-3) + ["train.lr_decay=0.8", "train.x_langevin.jump_every=1"],
    "g25_exact_lr1e-3_j1_ebm_adam0.9": G25_EXACT + all_nets("lr", 1e-3)
                                       + ["train.lr_decay=0.8", "train.x_langevin.jump_every=1",
                                          "train.ebm_optim.beta1=0.9", "train.ebm_optim.beta2=0.999"],
    # Session 35: with the EBM's momentum the recipe follows exact likelihood on its own 128x3
    # network (+1.58 at 5,000 against the exact ceiling's +1.56), and that network's exact
    # 10,000-step ceiling ends about 0.3 short: a larger network, in the kernel's limits (128x4)
    # or past them (256x4, whose exact ceiling is 0.05 short).
    "g25_exact_h128_l4_j1_ebm_adam0.9": G25_EXACT + all_nets("lr", 1e-3)
                                        + ["model.layers=4", "train.lr_decay=0.8", "train.x_langevin.jump_every=1",
                                           "train.ebm_optim.beta1=0.9", "train.ebm_optim.beta2=0.999"],
    "g25_exact_h256_l4_j1_ebm_adam0.9": G25_EXACT + all_nets("lr", 1e-3)
                                        + ["model.hidden=256", "model.layers=4", "train.lr_decay=0.8",
                                           "train.x_langevin.jump_every=1",
                                           "train.ebm_optim.beta1=0.9", "train.ebm_optim.beta2=0.999"],
    "g25_exact_lr1e-3_j5_mix3_0.01": G25_EXACT + all_nets("lr", 1e-3)
                                     + ["train.lr_decay=0.8", "train.x_langevin.jump_every=5",
                                        "train.x_langevin.second_step_every=3", "train.x_langevin.second_step_size=0.01"],
})
RECOMMENDED = "lr_3e-4+decay_0.9+x_step_0.02"  # confirmed (docs/convergence.md); the toy2d preset


def variant(name: str) -> list[str]:
    return VARIANTS[name] if name in VARIANTS else COMBINED[name]


def run(name: str, toy: str, seed: int, iterations: int, path: Path, probe: bool = False) -> None:
    if path.exists() and path.stat().st_size > 0:
        last = json.loads(path.read_text().strip().splitlines()[-1])
        if last.get("iteration") == iterations or "diverged" in last:
            print(f"have {path.relative_to(ROOT)}", flush=True)
            return
    sets = variant(name) + [f"data.toy={toy}", f"train.seed={seed}"]
    if probe:  # same rows, plus the gap split (parts_ema) and an NPZ of the final grid energies
        cmd = [PY, str(ROOT / "bench" / "checkerboard_probe.py"), "--iterations", str(iterations),
               "--eval-every", str(EVAL_EVERY), "--heldout", str(HELDOUT), "--ema", str(EMA),
               "--out", str(path), "--npz", str(OUT / "npz" / f"{path.parent.name}_{path.stem}.npz"),
               # saved at every row: a stopped run continues where it stopped when run again
               "--state", str(STATE / f"{path.parent.name}_{path.stem}.pt")]
        STATE.mkdir(parents=True, exist_ok=True)
    else:
        cmd = [PY, str(ROOT / "bench" / "torch_reference.py"), "train", "--preset", "toy2d",
               "--iterations", str(iterations), "--eval-every", str(EVAL_EVERY), "--heldout", str(HELDOUT),
               "--ema", str(EMA), "--threads", "1", "--quiet", "--out", str(path)]
    for s in sets:
        cmd += ["--set", s]
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"run {name} {toy} seed {seed} ({iterations} iterations)", flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    print("  " + out.stdout.strip(), flush=True)


def screen(only: list[str] | None, toy: str = "8gaussians", iterations: int = SCREEN_ITERATIONS,
           probe: bool = False) -> None:
    names = only or list(VARIANTS) + list(COMBINED)
    folder = OUT / ("screen" if toy == "8gaussians" else f"screen_{toy}")
    for name in names:
        run(name, toy, 1, iterations, folder / f"{name}.jsonl", probe)


def confirm(name: str, toys=TOYS, seeds=SEEDS, iterations: int = CONFIRM_ITERATIONS, probe: bool = False) -> None:
    for toy in toys:
        for seed in seeds:
            run(name, toy, seed, iterations, OUT / "confirm" / f"{name}_{toy}_s{seed}.jsonl", probe)


# 2026-12-07 (session 32): seed 1 of cb_best_mala_xs0.5 collapses after 7,000 iterations. Forks
# of that run at 6,000 (fork below: same state, same random streams) with one change each.
FORKS: dict[str, list[str]] = {
    # Every 3rd Metropolis-adjusted x-step at 0.5 (jumps between squares), the others at 0.05
    # (local steps that follow the gradient into narrow wells).
    "mix3_0.05": ["train.x_langevin.step_size=0.05", "train.x_langevin.second_step_every=3",
                  "train.x_langevin.second_step_size=0.5"],
    "mix2_0.02": ["train.x_langevin.step_size=0.02", "train.x_langevin.second_step_every=2",
                  "train.x_langevin.second_step_size=0.5"],
}

# The same change from the start, to 10,000 iterations.
COMBINED["cb_best_mala_mix3_0.05"] = COMBINED["cb_best_mala_xs0.5"] + FORKS["mix3_0.05"]
# The forks say: small steps sharpen the squares' edges (mass off the squares 0.09 -> 0.05 in
# 2,000 iterations) but fewer large steps let the square weights drift. So keep most steps
# large and make every third a small local one (40 + 20 steps, the cost of the recipe), or
# add 30 local steps to the 60 large ones (90 steps, 1.5x the cost).
LOCAL3 = ["train.x_langevin.second_step_every=3", "train.x_langevin.second_step_size=0.02"]
COMBINED["cb_best_mala_local3_0.02"] = COMBINED["cb_best_mala_xs0.5"] + LOCAL3
COMBINED["cb_best_mala_k90_local3_0.02"] = COMBINED["cb_best_mala_xs0.5"] + LOCAL3 + ["train.x_langevin.steps=90"]


def fork(name: str, toy: str, seed: int, at: int, iterations: int, children: list[str]) -> None:
    """Run variant `name` to iteration `at` once, then each FORKS child from there in its own
    process (bench/checkerboard_probe.py --fork-at): docs/convergence/fork/."""
    folder = OUT / "fork"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name}_{toy}_s{seed}_at{at}"
    cmd = [PY, str(ROOT / "bench" / "checkerboard_probe.py"), "--iterations", str(iterations),
           "--eval-every", str(EVAL_EVERY), "--heldout", str(HELDOUT), "--ema", str(EMA),
           "--out", str(folder / f"{stem}.jsonl"), "--npz", str(OUT / "npz" / "fork.npz"),  # fork_<child>.npz
           "--fork-at", str(at)]
    for child in children:
        cmd += ["--fork", f"{stem}_{child}:" + ",".join(FORKS[child])]
    for s in variant(name) + [f"data.toy={toy}", f"train.seed={seed}"]:
        cmd += ["--set", s]
    print(f"fork {stem} -> {', '.join(children)}", flush=True)
    subprocess.run(cmd, check=True)


def read(path: Path):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:  # a run that has only just started
        return {"optimum": None}, []
    head = rows[0]
    curve = [r for r in rows[1:] if "loglik" in r]
    return head, curve


def at(curve, it, key="loglik"):
    for r in curve:
        if r["iteration"] == it:
            return r.get(key)
    return None


def fork_plot(parent: Path, plt, lines: list[str]) -> None:
    """The run a fork started from (its full-length file under confirm/, when there is one)
    and each fork, EMA log-likelihood over iterations: docs/convergence/fork_<parent>.png."""
    stem, at_ = parent.stem.rsplit("_at", 1)
    full = OUT / "confirm" / f"{stem}.jsonl"
    head, base = read(full if full.exists() else parent)
    opt = head["optimum"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([r["iteration"] for r in base], [r.get("loglik_ema") for r in base], color="k", lw=2,
            label=f"{stem} (no change)")
    lines += ["", f"Forks of `{stem}` at {at_} (EMA log-likelihood):", "",
              "| run | 7k | 8k | 9k | 10k | gap 10k |", "|---|---|---|---|---|---|"]
    for f in sorted(parent.parent.glob(f"{parent.stem}_*.jsonl")):
        c = [r for r in read(f)[1] if r["iteration"] >= int(at_)]
        ax.plot([r["iteration"] for r in c], [r.get("loglik_ema") for r in c], lw=1.5, label=f.stem[len(parent.stem) + 1:])
    for name, c in [("no change", base)] + [(f.stem[len(parent.stem) + 1:], read(f)[1])
                                             for f in sorted(parent.parent.glob(f"{parent.stem}_*.jsonl"))]:
        v = [at(c, k, "loglik_ema") for k in (7000, 8000, 9000, 10000)]
        gap = "—" if v[-1] is None else f"{opt - v[-1]:.3f}"
        lines.append(f"| {name} | " + " | ".join("—" if x is None else f"{x:.3f}" for x in v) + f" | {gap} |")
    ax.axhline(opt, color="k", ls="--", lw=1, label="optimum")
    ax.axhline(opt - 0.1, color="k", ls=":", lw=1, label="optimum − 0.1")
    ax.axvline(int(at_), color="grey", lw=1)
    ax.set_ylim(opt - 0.5, opt + 0.05)
    ax.set_xlabel("iteration")
    ax.set_ylabel("held-out log-likelihood, EMA weights (nats)")
    ax.set_title(f"forks of {stem} at {at_}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(OUT / f"fork_{stem}.png", dpi=90)
    plt.close(fig)


def report() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = []
    fmt = lambda x: "—" if x is None else f"{x:.3f}"
    for folder in sorted(OUT.glob("screen*")):
        files = sorted(folder.glob("*.jsonl"))
        if not files:
            continue
        toy = "8gaussians" if folder.name == "screen" else folder.name.split("_", 1)[1]
        fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
        lines += ["", f"Screening on {toy}, seed 1:", "",
                  "| variant | overrides | 1k | 2k | 3k | 4k | last | last (EMA) | best (EMA) | component KL, last (EMA) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for f in files:
            head, c = read(f)
            if not c:
                continue
            name = f.stem
            its = [r["iteration"] for r in c]
            axes[0].plot(its, [r["loglik"] for r in c], marker=".", label=name)
            axes[1].plot(its, [r.get("loglik_ema") for r in c], marker=".", label=name)
            v = [at(c, k) for k in (1000, 2000, 3000, 4000)]
            best = max(r.get("loglik_ema") or -1e9 for r in c)
            base = name.split("_stopped")[0]
            known = base in VARIANTS or base in COMBINED
            sets = ", ".join(f"`{x}`" for x in variant(base)) if known else ""
            lines.append(f"| {name} | {sets or '(preset)'} | " + " | ".join(fmt(x) for x in v)
                         + f" | {fmt(c[-1]['loglik'])} @{its[-1]} | {fmt(c[-1].get('loglik_ema'))} | {fmt(best)} | "
                         f"{fmt(c[-1].get('component_kl_ema'))} |")
            opt = head["optimum"]
        for ax, title in zip(axes, ("EBM weights", "EMA of the EBM weights (0.999)")):
            ax.axhline(opt, color="k", ls="--", lw=1, label="optimum")
            ax.axhline(opt - 0.1, color="k", ls=":", lw=1, label="optimum − 0.1")
            ax.set_title(f"{toy}, seed 1: {title}")
            ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("held-out log-likelihood (nats)")
        lo = min(r.get("loglik_ema") or opt for f in files for r in read(f)[1])
        axes[0].set_ylim(max(opt - 1.2, lo - 0.1) if toy == "8gaussians" else lo - 0.5, opt + 0.2)
        axes[1].legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(OUT / f"screen_{toy}.png", dpi=90)
        plt.close(fig)
    for name in sorted({f.stem.split("_8gaussians")[0].split("_25gaussians")[0].split("_checkerboard")[0]
                        for f in (OUT / "confirm").glob("*.jsonl")}):
        toys = [t for t in TOYS if any((OUT / "confirm" / f"{name}_{t}_s{s}.jsonl").exists() for s in SEEDS)]
        if not toys:  # only stopped runs
            continue
        fig, axes = plt.subplots(1, len(toys), figsize=(5 * len(toys) + 1, 4.2), squeeze=False)
        axes = axes[0]
        lines.append("")
        lines.append(f"Confirmation of `{name}`:")
        lines.append("")
        lines.append("| toy | seed | optimum | 2k | 10k | 10k − 2k | 2k (EMA) | 10k (EMA) | EMA 10k − 2k | "
                     "gap 10k (EMA) | 10k within 0.1 | stays |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        lowest = {}
        for ax, toy in zip(axes, toys):
            opt = None
            for seed in SEEDS:
                f = OUT / "confirm" / f"{name}_{toy}_s{seed}.jsonl"
                if not f.exists():
                    continue
                head, c = read(f)
                if not c:
                    continue
                opt = head["optimum"]
                its = [r["iteration"] for r in c]
                ax.plot(its, [r["loglik"] for r in c], color=f"C{seed}", alpha=0.5, label=f"seed {seed}")
                ax.plot(its, [r.get("loglik_ema") for r in c], color=f"C{seed}", ls="-", lw=2,
                        label=f"seed {seed} EMA")
                a, b = at(c, 2000), at(c, CONFIRM_ITERATIONS)
                ea, eb = at(c, 2000, "loglik_ema"), at(c, CONFIRM_ITERATIONS, "loglik_ema")
                diff = lambda p, q: "—" if p is None or q is None else f"{q - p:+.3f}"
                ok_near = eb is not None and eb >= opt - 0.1
                ok_stay = ea is not None and eb is not None and eb >= ea - 0.02
                gap = "—" if eb is None else f"{opt - eb:.3f}"
                lines.append(f"| {toy} | {seed} | {opt:.3f} | {fmt(a)} | {fmt(b)} | {diff(a, b)} | {fmt(ea)} | "
                             f"{fmt(eb)} | {diff(ea, eb)} | {gap} | {'yes' if ok_near else 'no'} | "
                             f"{'yes' if ok_stay else 'no'} |")
                tail = [r.get("loglik_ema") for r in c if r["iteration"] >= 2000 and r.get("loglik_ema") is not None]
                lowest[toy] = min([lowest.get(toy, opt - 1.0)] + [v - 0.1 for v in tail])
            if opt is None:
                ax.set_visible(False)
                continue
            ax.axhline(opt, color="k", ls="--", lw=1)
            ax.axhline(opt - 0.1, color="k", ls=":", lw=1)
            ax.set_ylim(lowest.get(toy, opt - 1.0), opt + 0.1)
            ax.set_title(f"{toy} ({name})")
            ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("held-out log-likelihood (nats)")
        axes[0].legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(OUT / f"confirm_{name}.png", dpi=90)
        plt.close(fig)
    for parent in sorted((OUT / "fork").glob("*_at*.jsonl")):  # a run and its forks (fork above)
        if parent.stem.split("_at")[-1].isdigit():
            fork_plot(parent, plt, lines)
    for f in sorted((OUT / "npz").glob("*.npz")):  # density images of the probe's final grid energies
        import numpy as np
        d = np.load(f)
        n = int(round(len(d["points"]) ** 0.5))
        lo, hi = float(d["points"][:, 0].min()), float(d["points"][:, 0].max())
        fig, axes = plt.subplots(1, 2, figsize=(10, 5))
        for ax, key in zip(axes, ("energy", "energy_ema")):
            neg = -d[key].astype(np.float64)
            ax.imshow(np.exp(neg - neg.max()).reshape(n, n), origin="lower", extent=(lo, hi, lo, hi), cmap="magma")
            ax.set_title(f"{f.stem}: exp(-E), {'EMA' if key.endswith('ema') else 'raw'} weights", fontsize=8)
        fig.tight_layout()
        (OUT / "densities").mkdir(exist_ok=True)
        fig.savefig(OUT / "densities" / f"{f.stem}.png", dpi=80)
        plt.close(fig)
    text = "\n".join(lines) + "\n"
    (OUT / "tables.md").write_text(text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["screen", "confirm", "fork", "report", "all"])
    ap.add_argument("--at", type=int, default=6000, help="fork: the iteration the children start from")
    ap.add_argument("--children", default=",".join(FORKS), help="fork: comma-separated FORKS names")
    ap.add_argument("--only", help="comma-separated variant names (screen)")
    ap.add_argument("--variant", default=RECOMMENDED, help="the variant to confirm")
    ap.add_argument("--toys", default=",".join(TOYS), help="toys to confirm on")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="seeds to confirm with")
    ap.add_argument("--toy", default="8gaussians", help="the toy to screen on")
    ap.add_argument("--iterations", type=int, default=None,
                    help=f"run length (screen: {SCREEN_ITERATIONS}, confirm: {CONFIRM_ITERATIONS})")
    ap.add_argument("--probe", action="store_true",
                    help="run through bench/checkerboard_probe.py (adds parts_ema and an NPZ of grid "
                         "energies; saves the state at every row, so a stopped run continues)")
    args = ap.parse_args()
    if args.what in ("screen", "all"):
        screen(args.only.split(",") if args.only else None, args.toy, args.iterations or SCREEN_ITERATIONS,
               args.probe)
    if args.what in ("confirm", "all"):
        confirm(args.variant, args.toys.split(","), [int(x) for x in args.seeds.split(",")],
                args.iterations or CONFIRM_ITERATIONS, args.probe)
    if args.what == "fork":
        fork(args.variant, args.toy, int(args.seeds.split(",")[0]), args.at,
             args.iterations or CONFIRM_ITERATIONS, args.children.split(","))
    if args.what in ("report", "all"):
        report()


if __name__ == "__main__":
    main()
