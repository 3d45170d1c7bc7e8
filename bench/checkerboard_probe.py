#!/usr/bin/env python3
"""One torch_reference training run on a 2-D toy (same rows as its `train` mode, same seeds,
so the same numbers), which also saves the grid energies of the raw and EMA EBM at the end
(NPZ) and, for the checkerboard, splits the gap to the optimum into its parts:

  gap = -log(1 - q)            mass q off the 8 squares (inside and outside [-4, 4]^2)
      + KL(uniform || w)       the 8 squares' relative masses w_k
      + within-square term     non-uniformity inside the squares (the rest)

For 8 / 25 gaussians it splits the gap the same way (mass more than 3 standard deviations
from every mode, the modes' relative masses, the rest: the shape of each mode).

  checkerboard_probe.py --iterations 10000 --out run.jsonl --npz run.npz --set model.layers=3 ...
Run one at a time with one thread (it sets torch.set_num_threads(1)).

With --state FILE the run saves its whole state (networks, optimisers, EMA, every random
stream, the seconds so far) there at each row, and a later call with the same arguments
continues from it, row for row as if it had never stopped: long runs can span several
sittings. It continues only when both --out and the state exist (else it starts afresh and
overwrites both); rows --out holds past the saved iteration are dropped and made again; a
state saved with other settings is refused. Stop a run with Ctrl-C or by killing this
process (toy2d_convergence.py runs it as a child: kill the child, not only the driver).
Forks (--fork) save no state.
"""
import argparse, json, math, os, sys, time
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


def mixture_parts(energies, grid, held_out, toy):
    """The same split for 8 / 25 gaussians: 'on' = within 3 standard deviations of a mode,
    components = the modes (each on-cell by its nearest mode)."""
    centres, std = R.mixture(toy)
    pts = grid.points.astype(np.float64)
    neg = -energies.astype(np.float64)
    p = np.exp(neg - neg.max()); p /= p.sum()
    d2 = ((pts[:, None, :] - centres[None]) ** 2).sum(-1)
    near, on = d2.argmin(1), d2.min(1) < (3 * std) ** 2
    q = float(p[~on].sum())
    w = np.array([p[on & (near == k)].sum() for k in range(len(centres))])
    w = w / w.sum()
    kl = float(np.mean(np.log((1 / len(w)) / np.maximum(w, 1e-300))))
    gap = R.optimum(toy, held_out) - grid.average_log_likelihood(energies, held_out)
    return {"gap": gap, "off_support_mass": q, "off_support_term": -math.log(1 - q),
            "mode_kl": kl, "within_mode_term": gap + math.log(1 - q) - kl}


def sample_mode_masses(tr, toy, n=10000):
    """For the mixtures and the checkerboard: where n generator samples g(z) and their x-chain revisions land:
    the fraction within 3 standard deviations of a mode, and KL(uniform || w) of their
    per-mode shares w (the modes' weights as the EBM's training samples see them)."""
    out = {}
    with torch.random.fork_rng():  # leaves the training run's random stream as it was
        torch.manual_seed(12345)
        drawn = R.samples(tr, n)
    for key, x in zip(("generator", "revised"), drawn):
        x = x.astype(np.float64)
        if toy == "checkerboard":  # components: the 8 squares, in checkerboard_parts' order
            col, row = np.floor(x[:, 0] / 2), np.floor(x[:, 1] / 2)
            on = (np.abs(x) < 4).all(1) & ((col + row) % 2 == 0)
            order = {k: i for i, k in enumerate([0, 2, 5, 7, 8, 10, 13, 15])}
            near = np.array([order.get(int(k), 0) for k in (col + 2) * 4 + (row + 2)])
            count = 8
        else:
            centres, std = R.mixture(toy)
            d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
            near, on = d2.argmin(1), d2.min(1) < (3 * std) ** 2
            count = len(centres)
        w = np.bincount(near[on], minlength=count) / max(on.sum(), 1)
        if toy == "checkerboard":
            out[f"{key}_square_masses"] = [round(float(v), 4) for v in w]
        out[f"{key}_on_modes"] = round(float(on.mean()), 4)
        out[f"{key}_mode_kl"] = round(float(np.mean(np.log((1 / len(w)) / np.maximum(w, 1e-6)))), 4)
    return out


def row_iteration(line):
    """A JSONL row's iteration; a line cut short by a kill counts as past every state."""
    try:
        return json.loads(line).get("iteration", 0)
    except json.JSONDecodeError:
        return math.inf


def save_state(path, tr, batches, iteration, header, seconds):
    """Everything a continuation needs, written atomically (a temporary file, then renamed)."""
    tmp = Path(f"{path}.tmp")
    torch.save({"iteration": iteration, "trainer": tr, "batches": batches, "header": header,
                "seconds": seconds, "torch_rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


def load_state(path, header):
    """(trainer, batches, iteration, seconds) saved by save_state, torch's global stream
    restored; exits with a message when the state was saved with other settings."""
    st = torch.load(path, weights_only=False)
    saved = st.get("header", header)  # states of the first version (2026-12-07) had no header
    if json.dumps(saved, sort_keys=True) != json.dumps(header, sort_keys=True):
        sys.exit(f"{path} was saved with other settings than these; delete it (and the run's "
                 f"JSONL) to start afresh, or run with the settings it was saved with")
    torch.set_rng_state(st["torch_rng"])
    return st["trainer"], st["batches"], st["iteration"], st.get("seconds", 0.0)


def train_rows(tr, batches, first, last, a, out, ctx, header=None, seconds_before=0.0):
    """Iterations first..last of one run, a row every a.eval_every; False if it diverged.
    `seconds` in the rows counts on from seconds_before (a continued run's earlier sittings)."""
    toy, grid, held_out, support, reg = ctx
    began, gaps = time.perf_counter() - seconds_before, []
    for it in range(first, last + 1):
        try:
            m = tr.step(next(batches))
        except R.Divergence as e:  # recorded as bench/torch_reference.py's train records it
            out.write(json.dumps({"iteration": it, "diverged": str(e)}) + "\n")
            out.flush()
            print(json.dumps({"toy": toy, "status": str(e), "iterations": it}))
            return False
        gaps.append(m["energy_data"] - m["energy_samples"])
        if it % a.eval_every == 0 or it == a.iterations:
            en = tr.energies(grid.points)
            row = {"iteration": it, "loglik": round(grid.average_log_likelihood(en, held_out), 5),
                   "mass_off_support": R.mass_off(en, support), "component_kl": R.region_kl(en, reg),
                   "energy_gap_mean": round(float(np.mean(gaps)), 5), "gen_data_loss": round(m["gen_data_loss"], 5),
                   "seconds": round(time.perf_counter() - began, 1)}
            if tr.x_accept is not None:
                row["x_accept"] = round(tr.x_accept, 4)
            if tr.jump_accepts:  # population jumps since the last row
                row["jump_accept"] = round(sum(tr.jump_accepts) / len(tr.jump_accepts), 4)
                tr.jump_accepts.clear()
            ene = tr.energies(grid.points, ema=True)
            row["loglik_ema"] = round(grid.average_log_likelihood(ene, held_out), 5)
            row["mass_off_support_ema"] = R.mass_off(ene, support)
            row["component_kl_ema"] = R.region_kl(ene, reg)
            if toy == "checkerboard":
                row["parts_ema"] = checkerboard_parts(ene, grid, held_out)
                row["samples"] = sample_mode_masses(tr, toy)
            elif R.mixture(toy) is not None:
                row["parts_ema"] = mixture_parts(ene, grid, held_out, toy)
                row["samples"] = sample_mode_masses(tr, toy)
            gaps = []
            out.write(json.dumps(row) + "\n"); out.flush()
            if a.state and not a.fork:
                save_state(a.state, tr, batches, it, header, row["seconds"])
    return True


def fork(tr, batches, a, ctx, header, head_rows):
    """--fork-at N: the run so far is shared; each --fork NAME:key=value,... continues it from
    iteration N+1 in a child process (os.fork keeps every random stream where it was, so a
    child differs from the plain run only by its overrides), writing NAME.jsonl beside --out."""
    children = []
    for spec in a.fork:
        name, _, sets = spec.partition(":")
        pid = os.fork()
        if pid:
            children.append(pid)
            continue
        cfg = json.loads(json.dumps(header["config"]))
        for text in filter(None, sets.split(",")):
            R.apply_override(cfg, text)
        tr.t.clear(); tr.t.update(cfg["train"])
        path = Path(a.out).with_name(f"{name}.jsonl")
        with open(path, "w") as out:
            out.write(json.dumps({**header, "config": cfg, "forked_at": a.fork_at, "fork": sets}) + "\n")
            out.writelines(head_rows)
            ok = train_rows(tr, batches, a.fork_at + 1, a.iterations, a, out, ctx)
        if ok:
            Path(a.npz).parent.mkdir(parents=True, exist_ok=True)
            grid = ctx[1]
            np.savez_compressed(Path(a.npz).with_name(f"{Path(a.npz).stem}_{name}.npz"), points=grid.points,
                                energy=tr.energies(grid.points), energy_ema=tr.energies(grid.points, ema=True))
        os._exit(0)
    for pid in children:
        os.waitpid(pid, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--iterations", type=int, default=10000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--heldout", type=int, default=10000)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--out", required=True)
    ap.add_argument("--npz", required=True)
    ap.add_argument("--fork-at", type=int, default=0, help="run to this iteration, then the --fork runs")
    ap.add_argument("--fork", action="append", default=[], help="NAME:key=value,key=value (overrides)")
    ap.add_argument("--state", help="save the run's state here at every row; continue from it when it exists")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cfg = R.load_config("toy2d", None, a.set)
    shape, per_epoch = R.data_shape(cfg)
    toy = cfg["data"]["toy"]
    grid = R.Grid(toy)
    held_out = R.sample_toy(toy, a.heldout, np.random.default_rng(0x5EED0E7A))
    opt = R.optimum(toy, held_out)
    ctx = (toy, grid, held_out, R.support_mask(toy, grid.points), R.regions(toy, grid.points))
    tr = R.Trainer(cfg, shape, per_epoch, ema=a.ema)
    batches = R.toy_batches(cfg)
    header = {"config": cfg, "toy": toy, "optimum": opt, "heldout": a.heldout, "ema": a.ema}
    began = time.perf_counter()
    last = a.fork_at if a.fork_at > 0 else a.iterations
    first, rows, seconds = 1, [json.dumps(header) + "\n"], 0.0
    if a.state and not a.fork and Path(a.state).exists() and Path(a.out).exists():
        tr, batches, done, seconds = load_state(a.state, header)
        # The rows up to the saved iteration stay; any written after it are made again.
        kept = Path(a.out).read_text().splitlines(keepends=True)
        rows = [json.dumps(header) + "\n"] + [r for r in kept[1:] if row_iteration(r) <= done]
        first = done + 1
        print(f"continuing {a.out} from iteration {done} ({a.state})", flush=True)
    tmp = Path(f"{a.out}.tmp")  # the kept rows replace the file at once: a kill here loses nothing
    tmp.write_text("".join(rows))
    os.replace(tmp, a.out)
    with open(a.out, "a") as out:
        ok = train_rows(tr, batches, first, last, a, out, ctx, header, seconds)
    if not ok:
        return
    if a.fork_at > 0:
        head_rows = Path(a.out).read_text().splitlines(keepends=True)[1:]
        return fork(tr, batches, a, ctx, header, head_rows)
    Path(a.npz).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.npz, points=grid.points, energy=tr.energies(grid.points),
                        energy_ema=tr.energies(grid.points, ema=True))
    print(json.dumps({"toy": toy, "iterations": a.iterations, "seconds": round(time.perf_counter() - began, 1)}))


if __name__ == "__main__":
    main()
