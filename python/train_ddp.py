#!/usr/bin/env python3
"""Dual-MCMC training on N processes with PyTorch DistributedDataParallel, writing our run
folder (config.toml, metrics.jsonl, checkpoint.safetensors) in our checkpoint format, so that
``dualmcmc --no-gui eval``, ``sample`` and the app inspect it and ``dualmcmc --no-gui train
--resume`` continues it.

    torchrun --nproc_per_node=N python/train_ddp.py --config run/config.toml --out runs/ddp
    torchrun --nproc_per_node=N python/train_ddp.py --resume runs/ddp --iterations 4000

The algorithm and its settings are the configuration's (``[train]``, ``[schedule]``), as in
``dualmcmc_torch.training``: the global batch ``train.batch_size`` is split into N slices of
rows, one per process; every process draws our Philox noise for the whole batch and takes its
rows; DDP averages the parameter gradients, so the update is the one-process update up to
float32 rounding and one difference: batch norm uses each process's slice for its batch
statistics (SyncBatchNorm would share them, on GPUs). Spectral norm's u, v depend on the
weights only and stay equal on every process; batch norm's running statistics are averaged
over the processes before each checkpoint.

Data: ``toy2d`` (drawn with NumPy from the seed and the iteration: the same distribution as
ours, other draws), ``fashion-mnist`` (the IDX files of /usr/share/datasets/fashion-mnist or
the shipped test set), ``idx`` and ``cifar10`` (binary batches). Image sets are shuffled per
epoch from the seed, with NumPy (other permutations than ours).

Backend: NCCL when every process has a GPU (``--device cuda``, one GPU per local rank), else
gloo on the CPU. Across machines, torchrun's rendezvous options (README, "PyTorch").
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "bench"))

import dualmcmc_torch as dm  # noqa: E402
from dualmcmc_torch import checkpoint as ckpt  # noqa: E402
from dualmcmc_torch.training import Trainer, temperature  # noqa: E402


# -- data -------------------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


class Images:
    def __init__(self, pixels: np.ndarray, batch: int, seed: int):
        if pixels.ndim == 3:
            pixels = pixels[:, None]
        self.x = pixels.astype(np.float32) / 127.5 - 1.0
        self.batch, self.seed = batch, seed
        self.per_epoch = len(self.x) // batch
        if self.per_epoch == 0:
            raise SystemExit(f"train.batch_size = {batch} is more than the {len(self.x)} images")

    def __call__(self, iteration: int) -> np.ndarray:
        epoch, slot = divmod(iteration, self.per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))
        return self.x[order[slot * self.batch:(slot + 1) * self.batch]]


class Toy:
    per_epoch = 1000  # as ours

    def __init__(self, toy: str, batch: int, seed: int):
        from torch_reference import sample_toy
        self.sample, self.toy, self.batch, self.seed = sample_toy, toy, batch, seed

    def __call__(self, iteration: int) -> np.ndarray:
        return self.sample(self.toy, self.batch, np.random.default_rng([self.seed, iteration]))


def data_source(cfg: dict, base: Path):
    d, t = cfg["data"], cfg["train"]
    b, seed = t["batch_size"], t["seed"]
    kind = d["kind"]
    if kind == "toy2d":
        return Toy(d["toy"], b, seed), (2,)
    if kind == "fashion-mnist":
        full = Path("/usr/share/datasets/fashion-mnist")
        if d.get("prefer_full", True) and (full / "train-images-idx3-ubyte.gz").exists():
            px = read_idx(full / "train-images-idx3-ubyte.gz")
        else:
            px = read_idx(ROOT / "assets/fashion-mnist/t10k-images-idx3-ubyte.gz")
        return Images(px, b, seed), (1, 28, 28)
    if kind == "idx":
        px = read_idx((base / d["images"]) if not Path(d["images"]).is_absolute() else Path(d["images"]))
        src = Images(px, b, seed)
        return src, tuple(src.x.shape[1:])
    if kind == "cifar10":
        p = Path(d["path"])
        p = p if p.is_absolute() else base / p
        files = sorted(p.glob("data_batch_*.bin")) if p.is_dir() else [p]
        raw = np.concatenate([np.fromfile(f, np.uint8).reshape(-1, 3073) for f in files])
        return Images(raw[:, 1:].reshape(-1, 3, 32, 32), b, seed), (3, 32, 32)
    raise SystemExit(f"data.kind = {kind!r} is not read by train_ddp.py (toy2d, fashion-mnist, idx, cifar10)")


# -- the run ----------------------------------------------------------------------------------


def reduce_sum(values: dict[str, float], device) -> dict[str, float]:
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


@torch.no_grad()
def average_running_statistics(models, world: int) -> None:
    for m in models:
        for name, buf in m.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                dist.all_reduce(buf)
                buf.div_(world)


def save(folder: Path, trainer: Trainer, cfg_text: str, shape, world: int) -> None:
    models = (trainer.ebm, trainer.gen, trainer.inf)
    average_running_statistics(models, world)
    if dist.get_rank() == 0:
        ckpt.save(folder / "checkpoint.safetensors", models, iteration=trainer.iteration, epoch=trainer.epoch,
                  train_config=trainer.cfg, run_config_toml=cfg_text, example_shape=shape,
                  optimizers=dict(zip(ckpt.NETS, (trainer.opts[n] for n in ckpt.NETS))),
                  averages=trainer.averages)
    dist.barrier()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Dual-MCMC training on PyTorch DDP (run under torchrun)")
    ap.add_argument("--config", help="a run's config.toml or any configuration of ours")
    ap.add_argument("--resume", help="a run folder to continue (its config.toml and checkpoint)")
    ap.add_argument("--out", help="the run folder to write (default: runs/ddp-<config stem>)")
    ap.add_argument("--iterations", type=int, help="instead of schedule.iterations")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    args = ap.parse_args(argv)
    if bool(args.config) == bool(args.resume):
        ap.error("give --config FILE or --resume RUN_FOLDER")

    backend = "nccl" if args.device == "cuda" else "gloo"
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}") if args.device == "cuda" else torch.device("cpu")
    if args.device == "cuda":
        torch.cuda.set_device(device)
    torch.set_num_threads(args.threads)

    src = Path(args.resume) / "config.toml" if args.resume else Path(args.config)
    cfg_text = src.read_text()
    cfg = tomllib.loads(cfg_text)
    folder = Path(args.resume or args.out or f"runs/ddp-{src.stem}")
    t, sched = cfg["train"], cfg["schedule"]
    data, shape = data_source(cfg, src.parent)
    total = args.iterations or int(sched["iterations"])

    torch.manual_seed(int(t["seed"]))  # the same initial weights on every process
    ebm, gen, inf = (m.to(device) for m in dm.build_models(cfg["model"], shape, int(t["nz"])))
    wrap = [DDP(m, device_ids=[local] if args.device == "cuda" else None, broadcast_buffers=False)
            for m in (ebm, gen, inf)]
    trainer = Trainer(t, ebm, gen, inf, data.per_epoch, rank=rank, world=world, ddp=tuple(wrap))
    if args.resume:
        ck = ckpt.load_models(folder / "checkpoint.safetensors", (ebm, gen, inf),
                              optimizers=dict(zip(ckpt.NETS, (trainer.opts[n] for n in ckpt.NETS))))
        trainer.iteration, trainer.epoch = ck.iteration, ck.epoch
        if trainer.averages is not None:
            for net in ckpt.NETS:
                for k in trainer.averages[net]:
                    kept = ck.tensors.get(f"ema.{net}.{k}", trainer.averages[net][k])
                    trainer.averages[net][k] = kept.to(device, copy=True)
    if rank == 0:
        (folder / "images").mkdir(parents=True, exist_ok=True)  # our run folder's layout
        if not args.resume:
            (folder / "config.toml").write_text(cfg_text)
            (folder / "metrics.jsonl").write_text("")
        print(f"train_ddp: {world} processes ({backend}), {args.device}, batch {t['batch_size']} "
              f"({t['batch_size'] // world} per process), into {folder}", file=sys.stderr)
    if not args.resume:
        save(folder, trainer, cfg_text, shape, world)  # the checkpoint from before the first iteration

    d = math.prod(shape)
    temp = temperature(t)
    log_every, ck_every = int(sched["log_every"]), int(sched["checkpoint_every"])
    began = time.perf_counter()
    while trainer.iteration < total:
        x = torch.from_numpy(np.ascontiguousarray(data(trainer.iteration)[trainer.rows])).to(device)
        t0 = time.perf_counter()
        losses = reduce_sum(trainer.step(x), device)
        done = trainer.iteration
        ed, es = losses["energy_data"], losses["energy_samples"]
        gap = ed - es
        if not all(math.isfinite(v) for v in losses.values()) or abs(gap) > t["energy_gap_bound"]:
            if rank == 0:
                print(f"train_ddp: training diverged at iteration {done - 1}: {losses}", file=sys.stderr)
            dist.destroy_process_group()
            raise SystemExit(1)
        if rank == 0 and (done % log_every == 0 or done == total):
            w_data = t["generator_data_weight"] if t["generator_teaching"] == "dual" else 0.0
            row = dict(losses, iteration=done, epoch=trainer.epoch, energy_gap=gap, ebm_loss=gap / temp,
                       gen_loss=w_data * losses["gen_data_loss"] + t["generator_sample_weight"] * losses["gen_sample_loss"],
                       inf_loss=losses["inf_data_loss"] + t["inference_sample_weight"] * losses["inf_sample_loss"],
                       recon_mse=losses["gen_data_loss"] / d, seconds=time.perf_counter() - t0,
                       elapsed=time.perf_counter() - began, processes=world)
            with open(folder / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
        if (ck_every > 0 and done % ck_every == 0) or done == total:
            save(folder, trainer, cfg_text, shape, world)
    if rank == 0:
        print(f"train_ddp: {trainer.iteration} iterations in {time.perf_counter() - began:.1f} s; "
              f"wrote {folder / 'checkpoint.safetensors'}", file=sys.stderr)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
