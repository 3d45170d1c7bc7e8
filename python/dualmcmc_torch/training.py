"""One Dual-MCMC iteration in PyTorch, step for step as ``src/train/mod.rs`` records it.

1. z_p ~ N(0, I) (stream PRIOR); x~ = x-Langevin(g(z_p)) under the EBM (X_TEACH), or from
   N(0, x_noise_init_std^2) noise (X_NOISE_INIT) for ``x_init = "noise"``.
2. q = q(x); z0 = mu + exp(logvar/2) eps (REPARAM) or N(0, I) (Z_NOISE_INIT);
   z~ = z-Langevin(z0 | x) (Z_CHAIN).
3. Generator: w_data sum (g(z~) - x)^2 / B + w_sample sum (g(z_p) - x~)^2 / B, two forwards,
   one Adam step.
4. Inference: sum NLL(z~ | q(x)) / B + w_inf sum NLL(z_p | q(x~)) / B, one Adam step.
5. x~' = x-Langevin from g(z_p) with the updated generator (X_EBM); the EBM descends
   (mean E(x) - mean E(x~')) / T; one Adam step.

Every chain step does one forward and backward (x: of the EBM, with spectral norm's power
iteration; z: of the generator, batch norm updating its running statistics), and each chain
ends with one more forward, as ours does. The noise is ours (:mod:`dualmcmc_torch.noise`), so
from the same state and data batch an iteration here computes what ours computes, up to
float32 rounding.

Distributed: with ``rank``/``world`` the batch is split into ``world`` consecutive slices of
rows; each process takes its slice of the data and of every noise draw (so N processes use
the noise one process would), and the parameter gradients are averaged over the processes by
DistributedDataParallel. Each process normalises its loss by the global batch size times
``world`` / ``world`` (DDP averages), so the gradient equals the single-process one; batch
norm uses the statistics of the local slice (PyTorch's SyncBatchNorm needs GPUs).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from . import noise as N

VAR_EPS = 1e-6


def coefficients(chain: dict, parameterisation: str) -> tuple[float, float]:
    """(drift, noise) of state <- state - drift (grad + prior state) + noise eps."""
    s = chain["step_size"]
    if parameterisation == "paper":
        return s, math.sqrt(2 * s)
    return 0.5 * s * s, chain["noise_scale"]


def temperature(cfg: dict) -> float:
    if cfg["parameterisation"] == "paper":
        return 1.0
    xl = cfg["x_langevin"]
    return (xl["noise_scale"] / xl["step_size"]) ** 2


def adam(net: nn.Module, o: dict) -> torch.optim.Adam:
    return torch.optim.Adam(net.parameters(), lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=1e-8,
                            weight_decay=o["weight_decay"])


class Trainer:
    """The three networks (plain modules, or DDP-wrapped ones in ``ddp``), their Adam
    optimisers and the iteration counter. ``cfg`` is the run's ``[train]`` table."""

    def __init__(self, cfg: dict, ebm: nn.Module, gen: nn.Module, inf: nn.Module, iterations_per_epoch: int,
                 rank: int = 0, world: int = 1, ddp: tuple | None = None):
        self.cfg = cfg
        self.ebm, self.gen, self.inf = ebm, gen, inf
        for m in (ebm, gen, inf):
            m.train()
        # The modules the losses go through (DDP wrappers when distributed).
        self.ebm_t, self.gen_t, self.inf_t = ddp if ddp is not None else (ebm, gen, inf)
        self.opts = {"ebm": adam(ebm, cfg["ebm_optim"]), "generator": adam(gen, cfg["generator_optim"]),
                     "inference": adam(inf, cfg["inference_optim"])}
        self.per_epoch = iterations_per_epoch
        self.iteration, self.epoch = 0, 0
        self.noise = N.Philox(int(cfg["seed"]))
        self.device = next(ebm.parameters()).device
        self.rank, self.world = rank, world
        b = cfg["batch_size"]
        if b % world:
            raise ValueError(f"train.batch_size = {b} does not split over {world} processes")
        self.rows = slice(rank * b // world, (rank + 1) * b // world)
        self.ema_decay = float(cfg.get("ema_decay", 0.0))
        self.averages = ({n: {k: p.detach().clone() for k, p in m.named_parameters()}
                          for n, m in self.nets().items()} if self.ema_decay > 0 else None)

    def nets(self) -> dict[str, nn.Module]:
        return {"ebm": self.ebm, "generator": self.gen, "inference": self.inf}

    # -- noise: the global draw, this process's rows ------------------------------------

    def _draw(self, stream: int, step: int, per_example: tuple[int, ...], std: float = 1.0) -> torch.Tensor:
        b = self.cfg["batch_size"]
        full = self.noise.draw(stream, self.iteration, step, (b, *per_example), std)
        return torch.from_numpy(np.ascontiguousarray(full[self.rows])).to(self.device)

    # -- samplers ------------------------------------------------------------------------

    def x_langevin(self, x: torch.Tensor, stream: int) -> torch.Tensor:
        chain = self.cfg["x_langevin"]
        drift, noise = coefficients(chain, self.cfg["parameterisation"])
        x = x.detach()
        for t in range(chain["steps"]):
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(self.ebm(x).sum(), x)
            eps = self._draw(stream, t, tuple(x.shape[1:]))
            x = (x - drift * grad + noise * eps).detach()
        with torch.no_grad():
            self.ebm(x)  # the chain's last energy (and one more power iteration)
        return x

    def z_langevin(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        chain = self.cfg["z_langevin"]
        drift, noise = coefficients(chain, self.cfg["parameterisation"])
        var = self.cfg["sigma"] ** 2
        coef = (1.0 if self.cfg["parameterisation"] == "paper" else 2.0) / var
        z = z.detach()
        for t in range(chain["steps"]):
            z.requires_grad_(True)
            g = self.gen(z)
            (grad,) = torch.autograd.grad(0.5 * coef * ((g - x) ** 2).sum(), z)
            eps = self._draw(N.Z_CHAIN, t, tuple(z.shape[1:]))
            z = (z - drift * (grad + z) + noise * eps).detach()
        with torch.no_grad():
            self.gen(z)  # the chain's last g(z_k)
        return z

    def _chain_start(self, z_p: torch.Tensor, example: tuple[int, ...]) -> torch.Tensor:
        if self.cfg["x_init"] == "noise":
            return self._draw(N.X_NOISE_INIT, 0, example, self.cfg["x_noise_init_std"])
        with torch.no_grad():
            return self.gen(z_p)

    def _adam_step(self, net: str) -> None:
        o = self.cfg[f"{net}_optim"]
        for g in self.opts[net].param_groups:
            g["lr"] = o["lr"] * self.cfg["lr_decay"] ** self.epoch
        self.opts[net].step()

    # -- the iteration -------------------------------------------------------------------

    def step(self, x: torch.Tensor) -> dict:
        """One iteration on this process's rows ``x`` of the data batch; returns the losses of
        these rows (sums over this process's examples / B)."""
        cfg, b = self.cfg, self.cfg["batch_size"]
        nz = cfg["nz"]
        example = tuple(x.shape[1:])
        self.epoch = self.iteration // self.per_epoch
        # DDP averages gradients over the processes: scale each local sum so that the
        # average is the global sum / B.
        inv_b = self.world / b
        # 1.
        z_p = self._draw(N.PRIOR, 0, (nz,))
        x_teach = self.x_langevin(self._chain_start(z_p, example), N.X_TEACH)
        # 2.
        with torch.no_grad():
            q = self.inf(x)
            mu, lv = q[:, :nz], q[:, nz:]
            if cfg["z_init"] == "inference":
                z0 = mu + torch.exp(0.5 * lv) * self._draw(N.REPARAM, 0, (nz,))
            else:
                z0 = self._draw(N.Z_NOISE_INIT, 0, (nz,))
        z_post = self.z_langevin(z0, x)
        losses = {}
        # 3.
        self.opts["generator"].zero_grad(set_to_none=False)
        data_w = cfg["generator_data_weight"] if cfg["generator_teaching"] == "dual" else 0.0
        terms = ((z_post, x, data_w, "gen_data_loss"), (z_p, x_teach, cfg["generator_sample_weight"], "gen_sample_loss"))
        for i, (z, target, w, name) in enumerate(terms):
            # A term of weight 0 only measures: through the plain module (DDP wants a backward
            # after each forward of its own).
            net = self.gen_t if w != 0.0 else self.gen
            with self._sync(net, last=i == len(terms) - 1 or terms[-1][2] == 0.0):
                sq = ((net(z) - target) ** 2).sum() * inv_b
                losses[name] = sq.item() / self.world
                if w != 0.0:
                    (w * sq).backward()
        self._adam_step("generator")
        # 4.
        self.opts["inference"].zero_grad(set_to_none=False)
        terms = ((x, z_post, 1.0, "inf_data_loss"), (x_teach, z_p, cfg["inference_sample_weight"], "inf_sample_loss"))
        for i, (xx, z, w, name) in enumerate(terms):
            with self._sync(self.inf_t, last=i == 1):
                q = self.inf_t(xx)
                mu, lv = q[:, :nz], q[:, nz:]
                nll = (0.5 * lv + 0.5 * (z - mu) ** 2 / (torch.exp(lv) + VAR_EPS)).sum() * inv_b
                losses[name] = nll.item() / self.world
                (w * nll).backward()
        self._adam_step("inference")
        # 5.
        x_ebm = self.x_langevin(self._chain_start(z_p, example), N.X_EBM)
        t = temperature(cfg)
        self.opts["ebm"].zero_grad(set_to_none=False)
        with self._sync(self.ebm_t, last=False):
            e_data = self.ebm_t(x).sum() * inv_b
            (e_data / t).backward()
        with self._sync(self.ebm_t, last=True):
            e_samp = self.ebm_t(x_ebm).sum() * inv_b
            (-e_samp / t).backward()
        self._adam_step("ebm")
        ed, es = e_data.item() / self.world, e_samp.item() / self.world
        losses.update(energy_data=ed, energy_samples=es)
        self._average()
        self.iteration += 1
        return losses

    def _sync(self, module: nn.Module, last: bool):
        """DDP's no_sync for all but the last backward of a step (the gradients accumulate
        locally and are averaged once); a no-op for plain modules."""
        import contextlib
        if last or not hasattr(module, "no_sync"):
            return contextlib.nullcontext()
        return module.no_sync()

    @torch.no_grad()
    def _average(self) -> None:
        """The weight averages after every step (``train.ema_decay`` d, ``src/nn/network.rs``):
        avg <- avg + (1 - d_t)(w - avg), d_t = min(d, (1 + t)/(10 + t)) at Adam step t."""
        if self.averages is None:
            return
        t = self.iteration + 1
        d = min(self.ema_decay, (1 + t) / (10 + t))
        for n, m in self.nets().items():
            for k, p in m.named_parameters():
                self.averages[n][k].mul_(d).add_(p.detach(), alpha=1 - d)
