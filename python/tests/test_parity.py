"""PyTorch against ours: strict loading, forward outputs and input gradients per architecture,
our noise, one training iteration, and checkpoints written here read back by our program.

Relative error: max |torch - ours| / max |ours| over the whole output (norm-wise, so that
values near zero do not dominate).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import dualmcmc_torch as dm
from dualmcmc_torch import checkpoint as ckpt
from dualmcmc_torch import noise
from dualmcmc_torch.training import Trainer

from conftest import make_run, preset_with_data, run_bin, write_png

ARCHS = ["mlp", "small", "cifar10", "celeba64"]
TOL = 1e-4


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def report(name: str, **errors: float) -> None:
    print(f"\n{name}: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoint_loads_strictly_with_our_fingerprints(runs, arch):
    run = dm.open_run(runs(arch))  # load_state_dict(strict=True), fingerprints checked
    ck = run.checkpoint
    assert ck.format_version == 2
    for net, m in zip(ckpt.NETS, run.models()):
        assert ckpt.fingerprint(m) == ck.architecture[net]
        assert set(m.state_dict()) == {k[len(net) + 1:] for k in ck.tensors if k.startswith(net + ".")}


@pytest.mark.parametrize("arch", ARCHS)
def test_energy_gradient_generator_and_inference_match_ours(runs, arch, tmp_path):
    folder = runs(arch)
    run = dm.open_run(folder)
    b, nz, shape = run.config["train"]["batch_size"], run.nz, run.example_shape
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (b, *shape)).astype(np.float32)
    z = rng.standard_normal((b, nz)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "z.npy", z)
    run_bin("energy", "--run", str(folder), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "e.npy"),
            "--grad", str(tmp_path / "de.npy"))
    run_bin("forward", "--run", str(folder), "--net", "generator", "--input", str(tmp_path / "z.npy"),
            "--out", str(tmp_path / "g.npy"))
    run_bin("forward", "--run", str(folder), "--net", "inference", "--input", str(tmp_path / "x.npy"),
            "--out", str(tmp_path / "q.npy"))

    # Each of our commands opens the run afresh: so does each side here (every forward
    # advances spectral norm's power iteration and batch norm's running statistics).
    ebm = dm.open_run(folder).ebm
    xt = torch.from_numpy(x).requires_grad_(True)
    e = ebm(xt)
    (de,) = torch.autograd.grad(e.sum(), xt)
    with torch.no_grad():
        g = dm.open_run(folder).generator(torch.from_numpy(z))
        q = dm.open_run(folder).inference(torch.from_numpy(x))
    errs = {"energy": rel(e.detach(), np.load(tmp_path / "e.npy")),
            "grad_x_energy": rel(de, np.load(tmp_path / "de.npy")),
            "generator": rel(g, np.load(tmp_path / "g.npy")),
            "inference": rel(q, np.load(tmp_path / "q.npy"))}
    report(arch, **errs)
    assert max(errs.values()) < TOL, errs


def test_a_version_1_checkpoint_loads_strictly(runs, tmp_path):
    # Our format 1: sigma and scratch among the network's tensors, no num_batches_tracked.
    from safetensors import safe_open
    from safetensors.torch import save_file
    src = runs("small") / "checkpoint.safetensors"
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k.removeprefix("dualmcmc."): f.get_tensor(k) for k in f.keys() if not k.endswith("num_batches_tracked")}
    meta["format_version"] = "1"
    old = tmp_path / "v1.safetensors"
    save_file(tensors, str(old), metadata=meta)
    cfg = dm.load_config(runs("small") / "config.toml")
    ck = ckpt.read(old)
    models = dm.build_models(cfg["model"], ckpt.example_shape(cfg, ck), cfg["train"]["nz"])
    ckpt.load_models(old, models)
    now = dm.open_run(runs("small"))
    for a, b in zip(models, now.models()):
        for (k, v), (k2, w) in zip(a.state_dict().items(), b.state_dict().items()):
            assert k == k2 and torch.equal(v, w), k


def test_our_noise_is_reproduced_bit_for_bit(runs, tmp_path):
    # interpolate's two ends are the first two prior draws of seed 0: stream INSPECT + 2.
    folder = runs("mlp")
    run_bin("interpolate", "--run", str(folder), "--points", "2", "--seed", "0", "--out", str(tmp_path / "i"))
    nz = dm.load_config(folder / "config.toml")["train"]["nz"]
    want = np.load(tmp_path / "i_z.npy").reshape(-1)
    got = noise.normal(0, 22, 0, 2 * nz)
    np.testing.assert_array_equal(got, want)


# -- one training iteration ---------------------------------------------------------------

SIDE, IMAGES = 8, 8


def iteration_run(workdir: Path, kind: str) -> Path:
    """A run on IMAGES identical SIDE x SIDE grey images, batch IMAGES (so every batch is
    the same whatever the shuffle), one iteration; then resumed for a second."""
    out = workdir / f"iteration-{kind}"
    if (out / "second.safetensors").exists():
        return out
    images = workdir / "same-images"
    images.mkdir(exist_ok=True)
    pattern = (np.arange(SIDE * SIDE).reshape(SIDE, SIDE) * 4 % 256).astype(np.uint8)
    for i in range(IMAGES):
        write_png(images / f"{i}.png", np.repeat(pattern[:, :, None], 3, 2))
    model = ('kind = "small"\nwidth = 4\nspectral_norm = true' if kind == "small"
             else 'kind = "mlp"\nhidden = 16\nlayers = 2')
    text = preset_with_data("fmnist", f'kind = "image-folder"\npath = "{images}"\nchannels = 1')
    text = text.replace('kind = "small"\nwidth = 16\nspectral_norm = true', model)
    cfg = workdir / f"iteration-{kind}.toml"
    cfg.write_text(text)
    sets = ["train.batch_size=8", "train.nz=4", "train.x_langevin.steps=3", "train.z_langevin.steps=2",
            "train.ema_decay=0.0", "schedule.images_every=0", "schedule.eval_every=0", "schedule.iterations=1",
            "schedule.grid=1"]
    args = [a for s in sets for a in ("--set", s)]
    run_bin("train", "--config", str(cfg), *args, "--quiet", "--out", str(out))
    shutil.copy(out / "checkpoint.safetensors", out / "first.safetensors")
    run_bin("train", "--resume", str(out), "--set", "schedule.iterations=2", "--quiet")
    (out / "checkpoint.safetensors").rename(out / "second.safetensors")
    return out


@pytest.mark.parametrize("kind", ["mlp", "small"])
def test_one_training_iteration_matches_ours(workdir, kind):
    out = iteration_run(workdir, kind)
    cfg = dm.load_config(out / "config.toml")
    first = ckpt.read(out / "first.safetensors")
    shape = ckpt.example_shape(cfg, first)
    models = dm.build_models(cfg["model"], shape, cfg["train"]["nz"])
    trainer = Trainer(cfg["train"], *models, iterations_per_epoch=IMAGES // cfg["train"]["batch_size"])
    ckpt.load_models(out / "first.safetensors", models, optimizers=trainer.opts)
    trainer.iteration, trainer.epoch = first.iteration, first.epoch
    pattern = (np.arange(SIDE * SIDE).reshape(SIDE, SIDE) * 4 % 256).astype(np.float32) / 127.5 - 1.0
    x = torch.from_numpy(np.broadcast_to(pattern, (IMAGES, 1, SIDE, SIDE)).copy())
    trainer.step(x)

    second = ckpt.read(out / "second.safetensors")
    assert second.iteration == trainer.iteration
    # Every tensor of the state_dicts (parameters, spectral-norm u and v, batch-norm running
    # statistics) and Adam's moments.
    errs, moments = {}, {}
    for net, m in zip(ckpt.NETS, models):
        st = trainer.opts[net].state
        ours, theirs = [], []
        for k, v in m.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                errs[f"{net}.{k}"] = rel(v, second.tensors[f"{net}.{k}"])
        for n, p in m.named_parameters():
            for moment in ("exp_avg", "exp_avg_sq"):
                theirs.append(st[p][moment].reshape(-1))
                ours.append(second.tensors[f"optim.{net}.{n}.{moment}"].reshape(-1))
        # Moments over the whole network: the biases of convolutions before a batch norm
        # have a gradient of zero up to rounding, so their own moments are rounding noise.
        moments[net] = rel(torch.cat(theirs), torch.cat(ours))
    worst = sorted(errs.items(), key=lambda kv: -kv[1])[:3]
    params = {net: max(v for k, v in errs.items() if k.startswith(net + ".")) for net in ckpt.NETS}
    report(f"iteration {kind}, parameters and state (worst tensor)", **params)
    report(f"iteration {kind}, Adam moments (per network)", **moments)
    # Stated tolerance: relative 1e-3 for every tensor of the state_dicts and for each network's Adam
    # moments after one iteration (chains, four losses and three Adam steps in float32, summed
    # in another order).
    assert all(v < 1e-3 for v in errs.values()), worst
    assert all(v < 1e-3 for v in moments.values()), moments


# -- checkpoints written here ---------------------------------------------------------------


def test_a_checkpoint_written_by_pytorch_is_read_by_sample_and_eval(runs, tmp_path):
    src = runs("small")
    cfg_text = (src / "config.toml").read_text()
    run = dm.open_run(src)
    # Change the weights (so that we can tell whose they are), then write a run folder.
    with torch.no_grad():
        for p in run.generator.parameters():
            p.mul_(0.5)
    folder = tmp_path / "from-torch"
    folder.mkdir()
    (folder / "config.toml").write_text(cfg_text)
    ck = run.checkpoint
    ckpt.save(folder / "checkpoint.safetensors", run.models(), iteration=ck.iteration, epoch=ck.epoch,
              train_config=ck.train_config, run_config_toml=cfg_text, example_shape=run.example_shape)
    z = np.random.default_rng(5).standard_normal((4, run.nz)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    run_bin("forward", "--run", str(folder), "--net", "generator", "--input", str(tmp_path / "z.npy"),
            "--out", str(tmp_path / "g.npy"))
    with torch.no_grad():
        g = dm.open_run(folder).generator(torch.from_numpy(z))
    assert rel(g, np.load(tmp_path / "g.npy")) < TOL
    run_bin("sample", "--run", str(folder), "--n", "8", "--out", str(tmp_path / "s"))
    assert np.load(tmp_path / "s.npy").shape == (8, *run.example_shape)
    stdout = run_bin("eval", str(folder), "--n", "64")
    assert "frechet_distance_revised_samples" in stdout
    assert json.loads((folder / "eval.json").read_text())["iteration"] == ck.iteration
