"""Our noise in NumPy: Philox4x32-10 with the Box-Muller transform of ``src/ops/rng.rs``.

Value i of a draw (seed, stream, counter) is lane i % 4 of philox4x32((i // 4, stream,
counter_lo, counter_hi), (seed_lo, seed_hi)), turned into normals in pairs (lanes 0, 1 and
2, 3) as ``rng::cpu::normal4`` does, in float32. Training iteration t uses counter
t * 2**32 + step; the streams are those of ``src/train/stream.rs``. With this, a PyTorch
iteration sees the very noise ours draws (up to the last bit of the GPU's ln/cos/sin).
"""

from __future__ import annotations

import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = np.uint64(0xFFFFFFFF)

# src/train/stream.rs
PRIOR, REPARAM, X_TEACH, X_EBM, Z_CHAIN, X_NOISE_INIT, Z_NOISE_INIT = 10, 11, 12, 13, 14, 15, 16


def philox4x32(ctr: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32-10 of counters ``ctr`` ``[n, 4]`` (uint32) under ``key``: ``[n, 4]``."""
    c = [ctr[:, i].astype(np.uint64) for i in range(4)]
    k0, k1 = key
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
        p0, p1 = M0 * c[0], M1 * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK
        c = [hi1 ^ c[1] ^ np.uint64(k0), lo1, hi0 ^ c[3] ^ np.uint64(k1), lo0]
    return np.stack(c, 1).astype(np.uint32)


def _neg_log(u: np.ndarray) -> np.ndarray:
    s = (u - np.float32(1)) / (u + np.float32(1))
    s2 = s * s
    series = np.float32(-2) * s * (np.float32(1) + s2 * (np.float32(1 / 3) + s2 * np.float32(0.2)))
    return np.where(u > np.float32(0.9375), series, -np.log(u)).astype(np.float32)


def normal(seed: int, stream: int, counter: int, n: int, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """Values 0..n of the normal draw (seed, stream, counter), float32."""
    blocks = (n + 3) // 4
    ctr = np.zeros((blocks, 4), np.uint32)
    ctr[:, 0] = np.arange(blocks, dtype=np.uint32)
    ctr[:, 1] = stream
    ctr[:, 2] = counter & 0xFFFFFFFF
    ctr[:, 3] = counter >> 32
    bits = philox4x32(ctr, (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF))
    u = ((bits >> np.uint32(9)).astype(np.float32) + np.float32(0.5)) * np.float32(1.0 / 8388608.0)
    out = np.empty((blocks, 4), np.float32)
    for a, b in ((0, 1), (2, 3)):
        r = np.sqrt(np.float32(2) * _neg_log(u[:, a]))
        theta = np.float32(np.pi) * (np.float32(2) * u[:, b] - np.float32(1))
        out[:, a], out[:, b] = r * np.cos(theta), r * np.sin(theta)
    z = out.reshape(-1)[:n]
    return (np.float32(std) * z + np.float32(mean)).astype(np.float32)


def iteration_step(iteration: int, step: int) -> int:
    return (iteration << 32) | step


class Philox:
    """The noise of training iteration t, as the Rust trainer draws it: ``draw(stream, t, step,
    shape)`` is a float32 tensor-ready array of that shape."""

    def __init__(self, seed: int):
        self.seed = seed

    def draw(self, stream: int, iteration: int, step: int, shape: tuple[int, ...], std: float = 1.0) -> np.ndarray:
        n = int(np.prod(shape))
        return normal(self.seed, stream, iteration_step(iteration, step), n, 0.0, std).reshape(shape)
