"""Our checkpoints (``src/checkpoint.rs``, format version 2) in and out of PyTorch.

Tensors ``{net}.{name}`` for net in (ebm, generator, inference) are exactly each module's
``state_dict`` (strict loading); ``dualmcmc.{net}.*`` is our own bookkeeping (the
spectral-norm sigma and scratch vector), which PyTorch has no use for and may leave out when
it writes; ``optim.{net}.{name}.exp_avg`` / ``.exp_avg_sq`` are Adam's moments and
``ema.{net}.{name}`` the weight averages. Metadata: format, format_version, train_config
(the ``[train]`` table as JSON), iteration, epoch, ``{net}.adam_t``, ``{net}.architecture``
(:func:`fingerprint`), extra (the run config as TOML text and the example shape).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT = "dualmcmc-checkpoint"
FORMAT_VERSION = 2
NETS = ("ebm", "generator", "inference")
OWN = "dualmcmc"


@dataclass
class Checkpoint:
    """What a checkpoint holds besides the networks' state_dicts."""

    iteration: int
    epoch: int
    adam_t: dict[str, int]
    train_config: dict
    extra: dict
    format_version: int
    architecture: dict[str, str]
    tensors: dict[str, torch.Tensor] = field(repr=False, default_factory=dict)


def _layout(module: nn.Module) -> list[tuple[str, str, list[int]]]:
    """Our layout of a module: (name, "param" | "state", shape) in the order the Rust
    builders register tensors: per layer the weight (or weight_orig with the spectral-norm
    state u, v, sigma, scratch), then the bias; batch norm weight, bias, running_mean,
    running_var."""
    out = []
    for prefix, m in module.named_modules():
        p = prefix + "." if prefix else ""
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if hasattr(m, "weight_orig"):
                w = m.weight_orig
                rows, cols = w.shape[0], w.numel() // w.shape[0]
                out += [(p + "weight_orig", "param", list(w.shape)), (p + "weight_u", "state", [rows]),
                        (p + "weight_v", "state", [cols]), (p + "weight_sigma", "state", [1]),
                        (p + "weight_sn_scratch", "state", [rows + cols])]
            else:
                out.append((p + "weight", "param", list(m.weight.shape)))
            if m.bias is not None:
                out.append((p + "bias", "param", list(m.bias.shape)))
        elif isinstance(m, nn.BatchNorm2d):
            c = [m.num_features]
            out += [(p + "weight", "param", c), (p + "bias", "param", c),
                    (p + "running_mean", "state", c), (p + "running_var", "state", c)]
    return out


def fingerprint(module: nn.Module) -> str:
    """The architecture fingerprint of ``src/checkpoint.rs``: FNV-1a (64 bit) over the lines
    "{name} {kind} {shape}" of the layout, as ``fnv1a64:`` and 16 hex digits."""
    h = 0xCBF29CE484222325
    for name, kind, shape in _layout(module):
        for b in f"{name} {kind} [{', '.join(map(str, shape))}]\n".encode():
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"fnv1a64:{h:016x}"


def read(path: str | Path) -> Checkpoint:
    """Every tensor and the metadata of a checkpoint (format version 1 or 2)."""
    path = Path(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dualmcmc checkpoint (its metadata has no format = {FORMAT!r})")
    version = int(meta["format_version"])
    if version not in (1, 2):
        raise ValueError(f"{path} has format version {version}; this package reads versions 1 and 2")
    return Checkpoint(
        iteration=int(meta["iteration"]), epoch=int(meta["epoch"]),
        adam_t={n: int(meta[f"{n}.adam_t"]) for n in NETS},
        train_config=json.loads(meta["train_config"]), extra=json.loads(meta["extra"]),
        format_version=version, architecture={n: meta[f"{n}.architecture"] for n in NETS},
        tensors=tensors)


def state_dict_of(ck: Checkpoint, net: str, ema: bool = False) -> dict[str, torch.Tensor]:
    """Network ``net``'s state_dict from a checkpoint: the ``{net}.`` tensors (version 1's
    bookkeeping left out, ``num_batches_tracked`` added as PyTorch expects it), or with
    ``ema`` the averaged parameters with the network's buffers."""
    pre = net + "."
    sd = {k[len(pre):]: v for k, v in ck.tensors.items() if k.startswith(pre)}
    if ck.format_version == 1:
        sd = {k: v for k, v in sd.items() if not k.endswith(("weight_sigma", "weight_sn_scratch"))}
        for k in [k for k in sd if k.endswith("running_mean")]:
            sd[k[: -len("running_mean")] + "num_batches_tracked"] = torch.tensor(ck.adam_t[net], dtype=torch.int64)
    if ema:
        avg = {k[len(f"ema.{pre}"):]: v for k, v in ck.tensors.items() if k.startswith(f"ema.{pre}")}
        if not avg:
            raise ValueError(f"the checkpoint keeps no weight averages of `{net}` (train.ema_decay = 0)")
        sd.update(avg)
    return sd


def first_difference(ck: Checkpoint, net: str, m: nn.Module) -> str:
    """The first tensor whose name or shape differs between the file and the module, in words."""
    pre = f"{net}."
    ours = {k[len(pre):]: tuple(v.shape) for k, v in ck.tensors.items() if k.startswith(pre)}
    theirs = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    for k in sorted(set(ours) | set(theirs)):
        if k not in ours:
            return f"{pre}{k} {list(theirs[k])} is not in the file"
        if k not in theirs:
            return f"{pre}{k} {list(ours[k])} in the file is not in the module"
        if ours[k] != theirs[k]:
            return f"{pre}{k} is {list(ours[k])} in the file, {list(theirs[k])} here"
    return "same tensor names and shapes; the layer order or a setting differs"


def load_models(path: str | Path, models: dict[str, nn.Module] | tuple, ema: bool = False,
                optimizers: dict[str, torch.optim.Optimizer] | None = None) -> Checkpoint:
    """Loads a checkpoint into (ebm, generator, inference) with ``load_state_dict(strict=True)``,
    after checking each architecture fingerprint; with ``optimizers`` (Adam, one per net,
    over ``net.parameters()``) also Adam's moments and step counts."""
    ck = read(path)
    models = dict(zip(NETS, models)) if not isinstance(models, dict) else models
    for net, m in models.items():
        here = fingerprint(m)
        if here != ck.architecture[net]:
            raise ValueError(f"{path}: `{net}` has fingerprint {ck.architecture[net]} in the file, "
                             f"{here} here: another architecture ({first_difference(ck, net, m)})")
        m.load_state_dict(state_dict_of(ck, net, ema), strict=True)
        if optimizers is not None:
            opt = optimizers[net]
            names = {id(p): n for n, p in m.named_parameters()}
            for group in opt.param_groups:
                for p in group["params"]:
                    n = names[id(p)]
                    opt.state[p] = {
                        "step": torch.tensor(float(ck.adam_t[net])),
                        "exp_avg": ck.tensors[f"optim.{net}.{n}.exp_avg"].to(p.device, copy=True),
                        "exp_avg_sq": ck.tensors[f"optim.{net}.{n}.exp_avg_sq"].to(p.device, copy=True),
                    }
    return ck


def save(path: str | Path, models: dict[str, nn.Module] | tuple, *, iteration: int, epoch: int,
         train_config: dict, run_config_toml: str, example_shape: tuple[int, ...],
         optimizers: dict[str, torch.optim.Optimizer] | None = None,
         averages: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
    """Writes a checkpoint our program loads (``sample``, ``eval``, the app, ``train --resume``):
    the networks' state_dicts, Adam's moments (zeros without ``optimizers``), optional weight
    averages (parameter name -> tensor, per net), and the metadata. Written to a temporary
    file beside ``path`` and renamed over it. When the folder has no ``config.toml`` yet,
    ``run_config_toml`` is written there too, so that the folder is a run folder our commands
    open (``sample --run FOLDER``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = path.with_name("config.toml")
    if not config.exists():
        tmp_config = path.with_name(".config.toml.tmp")
        tmp_config.write_text(run_config_toml)
        tmp_config.chmod(0o644)
        tmp_config.replace(config)
    models = dict(zip(NETS, models)) if not isinstance(models, dict) else models
    tensors: dict[str, torch.Tensor] = {}
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "iteration": str(iteration),
            "epoch": str(epoch), "train_config": json.dumps(train_config)}
    for net, m in models.items():
        for k, v in m.state_dict().items():
            tensors[f"{net}.{k}"] = v.detach().to(torch.int64 if k.endswith("num_batches_tracked") else torch.float32)
        state = optimizers[net].state if optimizers is not None else {}
        steps = 0
        for n, p in m.named_parameters():
            st = state.get(p, {})
            for moment in ("exp_avg", "exp_avg_sq"):
                tensors[f"optim.{net}.{n}.{moment}"] = st.get(moment, torch.zeros_like(p)).detach().float()
            if "step" in st:
                steps = int(st["step"])
        if averages is not None and net in averages:
            for n, v in averages[net].items():
                tensors[f"ema.{net}.{n}"] = v.detach().float()
        meta[f"{net}.adam_t"] = str(steps)
        meta[f"{net}.architecture"] = fingerprint(m)
    c, h, w = (tuple(example_shape) + (1, 1))[:3] if len(example_shape) == 1 else tuple(example_shape)
    meta["extra"] = json.dumps({"example_shape": [c, h, w], "run_config": run_config_toml})
    tensors = {k: v.contiguous().cpu() for k, v in tensors.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.chmod(0o644)  # as our program writes them (readable on a shared file system)
    tmp.replace(path)


def example_shape(cfg: dict, checkpoint: Checkpoint | None = None) -> tuple[int, ...]:
    """The example shape of a run: recorded in its checkpoint, or implied by its data."""
    if checkpoint is not None and "example_shape" in checkpoint.extra:
        c, h, w = checkpoint.extra["example_shape"]
        return (c,) if h == 1 and w == 1 else (c, h, w)
    kind = cfg["data"]["kind"]
    known = {"toy2d": (2,), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
    if kind in known:
        return known[kind]
    raise ValueError(f"data.kind = {kind!r}: the example shape is recorded in the run's checkpoint only")


def count(module: nn.Module) -> int:
    """Trainable values (what our `num_params` gives)."""
    return sum(math.prod(p.shape) for p in module.parameters())
