#!/usr/bin/env python3
"""Is the sampler's EBM gradient biased, or only noisy? (docs/convergence.md, session 34.)

The EBM update of a recipe is the gradient of mean E(data) - mean E(revised samples); exact
maximum likelihood's is E_data[grad E] - E_p[grad E], p = exp(-E)/Z. At a saved state of a
2-D run (bench/checkerboard_probe.py --state) this compares them, over the EBM's parameters.
The truth, g = D - M: D the data side over 20,000 fresh data points, M = E_p[grad E] summed
over the evaluation grid (src/eval/grid.rs's cells). The estimators, each over --draws batches
of the run's batch size:

  sampler   D - grad of mean E(x~), x~ a batch of x-chains as step 5 of the iteration runs
            them (generator starts, the recipe's x-Langevin with its MALA, jumps and box)
  iid       D - grad of mean E over a batch drawn from p on the grid itself: unbiased, the
            noise floor of a batch of that size
  update    d - (the sampler's term), d a data batch of that size: what the recipe steps on

For each: the relative bias |mean - g| / |g| and the mean cosine of one batch's estimate with
g. A sampler whose bias is far above iid's is not sampling p; one at iid's level is only as
noisy as any batch of that size. Also where the samples sit: the share within 3 standard
deviations of a mode (the model's own share beside it).

  gradient_probe.py runs/reference-state/screen_25gaussians_g25_exact_lr1e-3_j5_ps0.5.pt
"""
import argparse, json, sys
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_reference as R


def flat_grad(net, loss) -> torch.Tensor:
    net.zero_grad(set_to_none=False)
    loss.backward()
    return torch.cat([p.grad.reshape(-1).clone() for p in net.parameters()])


def exact_model_side(net, points: torch.Tensor, chunk=65536):
    """E_p[grad E] over the grid, and p itself."""
    with torch.no_grad():
        e = torch.cat([net(points[i:i + chunk]).reshape(-1) for i in range(0, len(points), chunk)])
    p = torch.softmax(-e.double(), 0).float()
    net.zero_grad(set_to_none=False)
    for i in range(0, len(points), chunk):
        (p[i:i + chunk] * net(points[i:i + chunk]).reshape(-1)).sum().backward()
    return torch.cat([q.grad.reshape(-1).clone() for q in net.parameters()]), p


def summary(name, grads, exact, on_modes):
    g = torch.stack(grads)
    bias = float((g.mean(0) - exact).norm() / exact.norm())
    cos = [float(torch.nn.functional.cosine_similarity(x, exact, 0)) for x in g]
    return {"estimator": name, "relative_bias": round(bias, 4), "mean_cosine": round(float(np.mean(cos)), 4),
            "on_modes": round(float(np.mean(on_modes)), 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("state")
    ap.add_argument("--draws", type=int, default=16)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--set", action="append", default=[], metavar="train.x_langevin.KEY=VALUE",
                    help="change the x-chain for this probe (e.g. its steps or step size)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    st = torch.load(a.state, weights_only=False)
    tr = st["trainer"]
    tr.t["x_persistent_share"] = 0.0  # generator starts, as the plain recipe's chains
    for text in a.set:
        R.apply_override(tr.cfg, text)
    tr.x_coef = R.coefficients(tr.t["x_langevin"], tr.t["parameterisation"])
    toy, b = tr.cfg["data"]["toy"], tr.t["batch_size"]
    grid = R.Grid(toy)
    pts = torch.from_numpy(grid.points)
    exact, p = exact_model_side(tr.ebm, pts)
    rng = np.random.default_rng(a.seed)
    data = lambda n: torch.from_numpy(R.sample_toy(toy, n, rng).astype(np.float32))
    big = data(20000)
    d_side = flat_grad(tr.ebm, tr.ebm(big).mean())
    truth = d_side - exact
    centres, std = R.mixture(toy)

    def on_modes(x: np.ndarray) -> float:
        d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        return float((d2.min(1) < (3 * std) ** 2).mean())

    torch.manual_seed(a.seed)
    h = (grid.hi - grid.lo) / grid.n
    sampler, iid, update, s_on, i_on = [], [], [], [], []
    for _ in range(a.draws):
        with torch.no_grad():
            x0 = tr.gen(torch.randn(b, tr.t["nz"]))
        x = tr.x_langevin(x0).detach()
        s_side = flat_grad(tr.ebm, tr.ebm(x).mean())
        sampler.append(d_side - s_side)
        update.append(flat_grad(tr.ebm, tr.ebm(data(b)).mean()) - s_side)
        s_on.append(on_modes(x.numpy()))
        cells = rng.choice(len(p), size=b, p=p.double().numpy() / p.double().sum().item())
        y = grid.points[cells] + (rng.random((b, 2)) - 0.5).astype(np.float32) * h
        iid.append(d_side - flat_grad(tr.ebm, tr.ebm(torch.from_numpy(y.astype(np.float32))).mean()))
        i_on.append(on_modes(y))
    mass_on = float(p[torch.from_numpy(((grid.points[:, None, :] - centres[None]) ** 2).sum(-1).min(1)
                                       < (3 * std) ** 2)].sum())
    print(json.dumps({"state": a.state, "iteration": st["iteration"], "batch": b, "draws": a.draws, "set": a.set,
                      "model_mass_on_modes": round(mass_on, 4)}))
    for row in (summary("sampler", sampler, truth, s_on), summary("iid", iid, truth, i_on),
                summary("update", update, truth, s_on)):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
