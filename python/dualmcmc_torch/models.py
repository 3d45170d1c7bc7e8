"""The networks of dualmcmc in PyTorch, module for module, with the names of our checkpoints.

Each class mirrors one builder of ``src/models/`` and registers its submodules in the order
our layouts list their tensors, so that ``state_dict()`` has exactly the keys of the
checkpoint's ``{net}.`` tensors and :func:`dualmcmc_torch.checkpoint.fingerprint` gives our
architecture fingerprint. Conventions as in the Rust code: the EBM returns the energy
E(x) = -f(x), shape ``[B]``; the generator maps z ``[B, nz]`` to x ``[B, *example]``; the
inference model returns q = [mu | logvar], ``[B, 2 nz]``. Batch norm is always in training
mode (batch statistics, running statistics updated) and spectral norm does one power
iteration per forward (``torch.nn.utils.spectral_norm`` in training mode): call
``.train()`` on every network, as training does.

Initialisation follows ``docs/reference.md`` (Xavier-normal conv weights in the paper's and
the small networks, PyTorch's defaults elsewhere, batch-norm scale N(0, 1)); the draws are
torch's, not ours, so a fresh network here is a different draw of the same distribution.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SLOPE = 0.2  # LeakyReLU negative slope everywhere


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return nn.utils.spectral_norm(module, n_power_iterations=1, eps=1e-12) if on else module


def _conv(cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None, bias: bool = False,
          sn: bool = False, xavier: bool = True) -> nn.Module:
    c = nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad, bias=bias)
    if xavier:
        nn.init.xavier_normal_(c.weight)
    return _sn(c, sn)


def _linear(fan_in: int, out: int, bias: bool = True, sn: bool = False) -> nn.Module:
    return _sn(nn.Linear(fan_in, out, bias=bias), sn)


def _bn(c: int) -> nn.BatchNorm2d:
    b = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
    nn.init.normal_(b.weight, 0.0, 1.0)
    nn.init.zeros_(b.bias)
    return b


# ------------------------------------------------------------------------------------------
# MLPs (src/models/mlp.rs): net.0, net.2, ... with LeakyReLU(0.2) between
# ------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """in -> hidden... -> out, LeakyReLU(0.2) between layers. ``role`` says how the output is
    shaped: "ebm" -> [B], "generator" -> [B, *example], "inference" -> [B, 2 nz]."""

    def __init__(self, inp: int, hidden: list[int], out: int, role: str, example: tuple[int, ...]):
        super().__init__()
        mods, d = [], inp
        for h in hidden:
            mods += [nn.Linear(d, h), nn.LeakyReLU(SLOPE)]
            d = h
        mods.append(nn.Linear(d, out))
        self.net = nn.Sequential(*mods)
        self.role, self.example = role, tuple(example)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x.reshape(x.shape[0], -1))
        if self.role == "ebm":
            return y.reshape(-1)
        if self.role == "generator":
            return y.reshape(x.shape[0], *self.example)
        return y


# ------------------------------------------------------------------------------------------
# Small convnets (src/models/small.rs)
# ------------------------------------------------------------------------------------------


def _trunk(c: int, w: int, sn: bool) -> nn.ModuleList:
    return nn.ModuleList([
        _conv(c, w, 3, bias=True, sn=sn),
        _conv(w, 2 * w, 4, 2, 1, bias=True, sn=sn),
        _conv(2 * w, 4 * w, 4, 2, 1, bias=True, sn=sn),
    ])


class SmallEBM(nn.Module):
    def __init__(self, example: tuple[int, int, int], width: int, spectral_norm: bool):
        super().__init__()
        c, h, w_img = example
        self.convs = _trunk(c, width, spectral_norm)
        self.head = _linear(4 * width * (h // 4) * (w_img // 4), 1, True, spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
        return self.head(x.flatten(1)).reshape(-1)


class _SmallUp(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn = _bn(cin)
        self.conv = _conv(cin, cout, 3, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(F.relu(self.bn(x)), scale_factor=2, mode="nearest")
        return self.conv(x)


class SmallGenerator(nn.Module):
    def __init__(self, nz: int, example: tuple[int, int, int], width: int):
        super().__init__()
        c, h, w_img = example
        self.first = (4 * width, h // 4, w_img // 4)
        self.l1 = nn.Linear(nz, math.prod(self.first))
        self.ups = nn.ModuleList([_SmallUp(4 * width, 2 * width), _SmallUp(2 * width, width)])
        self.b_out = _bn(width)
        self.c_out = _conv(width, c, 3, bias=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.l1(z).reshape(z.shape[0], *self.first)
        for up in self.ups:
            x = up(x)
        return torch.tanh(self.c_out(F.relu(self.b_out(x))))


class SmallInference(nn.Module):
    def __init__(self, example: tuple[int, int, int], width: int, nz: int):
        super().__init__()
        c, h, _ = example
        self.convs = _trunk(c, width, False)
        self.head = _conv(4 * width, 2 * nz, h // 4, 1, 0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
        return self.head(x).flatten(1)


# ------------------------------------------------------------------------------------------
# The paper's networks (src/models/resnet.rs)
# ------------------------------------------------------------------------------------------


def _up2(x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    return F.interpolate(x, scale_factor=2, mode="nearest")


class UpBlock(nn.Module):
    """BN -> ReLU -> up x2 -> conv3x3 -> BN -> ReLU -> conv3x3, shortcut up x2 -> conv1x1."""

    def __init__(self, cin: int, cout: int, up: str):
        super().__init__()
        self.up = up
        self.b1 = _bn(cin)
        self.c1 = _conv(cin, cout, 3, bias=True)
        self.b2 = _bn(cout)
        self.c2 = _conv(cout, cout, 3, bias=True)
        self.c_sc = _conv(cin, cout, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(_up2(F.relu(self.b1(x)), self.up))
        h = self.c2(F.relu(self.b2(h)))
        return h + self.c_sc(_up2(x, self.up))


class ResNetGenerator(nn.Module):
    def __init__(self, nz: int, base: int, channels: list[int], out_channels: int, up: str = "bilinear"):
        super().__init__()
        self.first = (channels[0], base, base)
        self.l1 = nn.Linear(nz, math.prod(self.first))
        self.blocks = nn.ModuleList([UpBlock(a, b, up) for a, b in zip(channels, channels[1:])])
        self.b_out = _bn(channels[-1])
        self.c_out = _conv(channels[-1], out_channels, 3, bias=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.l1(z).reshape(z.shape[0], *self.first)
        for b in self.blocks:
            x = b(x)
        return torch.tanh(self.c_out(F.relu(self.b_out(x))))


class DownBlock(nn.Module):
    """SNGAN discriminator block, spectral norm on every convolution, no biases. The first
    ("optimized") block: conv -> ReLU -> conv -> avgpool, shortcut avgpool -> conv1x1. Later:
    ReLU -> conv -> ReLU -> conv -> [avgpool], shortcut conv1x1 -> [avgpool] where the block
    downsamples or changes width, else the identity."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool):
        super().__init__()
        self.down, self.first = down, first
        self.c1 = _conv(cin, cout, 3, sn=True)
        self.c2 = _conv(cout, cout, 3, sn=True)
        self.c_sc = _conv(cin, cout, 1, sn=True) if first or down or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.c2(F.relu(self.c1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.first:
            return h + self.c_sc(F.avg_pool2d(x, 2))
        if self.c_sc is None:
            return h + x
        s = self.c_sc(x)
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class ResNetEBM(nn.Module):
    def __init__(self, example: tuple[int, int, int], channels: list[int], downsample: list[bool]):
        super().__init__()
        cin = example[0]
        blocks = []
        for i, (c, d) in enumerate(zip(channels, downsample)):
            blocks.append(DownBlock(cin, c, d, i == 0))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.l_out = _linear(cin, 1, bias=False, sn=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return self.l_out(F.relu(x).mean(dim=(2, 3))).reshape(-1)


class ResNetInference(nn.Module):
    def __init__(self, example: tuple[int, int, int], channels: list[int], nz: int):
        super().__init__()
        c, h, _ = example
        convs, cin, side = [], c, h
        for i, ch in enumerate(channels):
            if i == 0:
                convs.append(_conv(cin, ch, 3))
            else:
                convs.append(_conv(cin, ch, 4, 2, 1))
                side //= 2
            cin = ch
        self.convs = nn.ModuleList(convs)
        self.head = _conv(cin, 2 * nz, side, 1, 0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
        return self.head(x).flatten(1)


# ------------------------------------------------------------------------------------------
# From a configuration (src/models/mod.rs, ModelConfig::build)
# ------------------------------------------------------------------------------------------


def build_models(model: dict, example: tuple[int, ...], nz: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(EBM, generator, inference model) for a run's ``[model]`` table, examples of shape
    ``example`` ((2,) for 2-D data, (C, H, W) for images) and latents of size ``nz``."""
    kind = model["kind"]
    d = math.prod(example)
    if kind == "mlp":
        h = [int(model["hidden"])] * int(model["layers"])
        return (MLP(d, h, 1, "ebm", example), MLP(nz, h, d, "generator", example),
                MLP(d, h, 2 * nz, "inference", example))
    if len(example) != 3:
        raise ValueError(f"model.kind = {kind!r} takes images, got examples of shape {example}")
    if kind == "small":
        w, sn = int(model["width"]), bool(model["spectral_norm"])
        if example[1] % 4 or example[2] % 4 or example[1] < 8:
            raise ValueError(f"model.kind = \"small\" needs sides that are multiples of 4 (at least 8), got {example}")
        return SmallEBM(example, w, sn), SmallGenerator(nz, example, w), SmallInference(example, w, nz)
    if kind == "cifar10":
        if tuple(example) != (3, 32, 32):
            raise ValueError(f"model.kind = \"cifar10\" takes 3x32x32 images, got {example}")
        return (ResNetEBM(example, [512] * 4, [True, True, False, False]),
                ResNetGenerator(nz, 4, [512] * 4, 3), ResNetInference(example, [128, 256, 512, 1024], nz))
    if kind == "celeba64":
        if tuple(example) != (3, 64, 64):
            raise ValueError(f"model.kind = \"celeba64\" takes 3x64x64 images, got {example}")
        return (ResNetEBM(example, [64, 128, 256, 512, 1024], [True] * 5),
                ResNetGenerator(nz, 4, [1024, 512, 256, 128, 64], 3),
                ResNetInference(example, [128, 256, 512, 1024, 1024], nz))
    raise ValueError(f"unknown model.kind {kind!r} (mlp, small, cifar10, celeba64)")
