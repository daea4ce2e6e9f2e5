"""Pieces every trainer shares: EMA, learning-rate schedule, run folders with exact-resume checkpoints, loss curves."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model."""
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)


def lr_at(step: int, base: float, warmup: int, total: int, floor: float = 0.1) -> float:
    """Linear warmup, then cosine decay to `floor` x base at `total` steps."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def rng_state() -> dict:
    ns = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [ns[0], ns[1].tolist(), *ns[2:]],
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.array(np_state[1], dtype=np.uint32), *np_state[2:]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def save_checkpoint(
    run: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, step: int, extra: dict
) -> None:
    """run/checkpoint/: model, EMA, optimiser, step and RNG, written to a temp folder and renamed (never half)."""
    tmp = run / f".checkpoint-{step}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(tmp / "ema.safetensors"))
    torch.save(opt.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "rng": rng_state(), **extra}))
    final = run / "checkpoint"
    old = run / ".checkpoint-old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        for f in old.iterdir():
            f.unlink()
        old.rmdir()


def load_checkpoint(run: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer) -> dict:
    ck = run / "checkpoint"
    if not (ck / "state.json").is_file():
        raise ValueError(f"--resume: no checkpoint in '{run}' (expected {ck}/state.json)")
    model.load_state_dict(load_file(str(ck / "model.safetensors")))
    ema.load_state_dict(load_file(str(ck / "ema.safetensors")))
    opt.load_state_dict(torch.load(ck / "optimizer.pt", weights_only=False))
    state = json.loads((ck / "state.json").read_text())
    set_rng_state(state["rng"])
    return state


def append_log(run: Path, row: dict) -> None:
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def truncate_log(run: Path, step: int) -> None:
    """Drop log rows at or past `step`: a killed run logged beyond the checkpoint it resumes from."""
    from ..io import atomic_write_text

    kept = [json.dumps(r) for r in read_log(run) if r["step"] < step]
    atomic_write_text(run / "log.jsonl", "".join(line + "\n" for line in kept))


def read_log(run: Path) -> list[dict]:
    p = run / "log.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def plot_curves(run: Path, keys: tuple[str, ...] = ("loss",), name: str = "loss_curve.png") -> Path | None:
    """A PNG of the logged curves over steps (log scale), for people to look at; a long curve is drawn faint with its
    running mean on top (a step's loss depends on its random time, so the raw curve is mostly noise)."""
    rows = read_log(run)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for k in keys:
        pts = [(r["step"], r[k]) for r in rows if k in r and r[k] is not None and math.isfinite(r[k])]
        if not pts:
            continue
        steps, values = zip(*pts)
        (line,) = ax.plot(steps, values, label=k, alpha=0.3 if len(pts) > 50 else 1.0)
        if len(pts) > 50:
            w = max(5, len(pts) // 30)
            mean = np.convolve(values, np.ones(w) / w, mode="valid")
            ax.plot(steps[w - 1 :], mean, color=line.get_color(), label=f"{k}, mean of {w} steps")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(run.name)
    fig.tight_layout()
    out = run / name
    fig.savefig(out)
    plt.close(fig)
    return out
