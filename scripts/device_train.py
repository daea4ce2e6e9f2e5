"""Train the default model's DiT on a lent GPU inside the device tool's limits, and bring the weights back.

On this machine, once:  python scripts/device_pack.py .carry
Then through the device tool (run, carry [".carry"], timeout_s 600):
    python3 scripts/device_train.py --seconds 420
It continues the DiT in kinema/assets (or --init) on the world with the recipe's last DiT stage settings (buckets,
context noise, text dropout), at GPU batch sizes, with batches rendered by --workers processes and each served
--echo steps; it stops after --seconds with a checkpoint, and writes to $OUT (or --out): dit/model.safetensors
(float16) and dit/config.json, log.jsonl, loss_curve.png and the last sample sheet. Check the result here with
`kinema eval generate` / `kinema eval grounding` before installing it.

The shipped DiT (dit_11) was trained without frame positions and did not pick place words up when taught; a young DiT
trained with them did, on stills in one palette whose captions name the place, at high noise (--plain, --placed,
--time-mean). So a GPU session with the time for it should start afresh: --init none (and a --steps schedule that
fits --seconds).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / ".carry"), str(ROOT)]  # the packed text encoder, then this checkout of kinema


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=420.0, help="Training time; checkpoint and weights after it.")
    ap.add_argument("--steps", type=int, default=3000, help="Steps the schedule is laid out for (cosine decay).")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--image-batch", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--echo", type=int, default=4)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--init", default=str(ROOT / "kinema" / "assets" / "dit"), help="A DiT folder; 'none' = scratch.")
    ap.add_argument("--plain", type=float, default=None, help="Fraction of level-1 scenes in one palette (train dit).")
    ap.add_argument("--placed", type=float, default=None, help="Fraction of level-1 scenes captioned with their place.")
    ap.add_argument("--time-mean", type=float, default=None, help="Logit-normal mean of the training times.")
    ap.add_argument("--contrast", type=float, default=None, help="Counterfactual-caption loss weight (train dit).")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--run", default="/tmp/kinema-device-run", help="The run folder (checkpoints; not brought back).")
    ap.add_argument("--out", default=os.environ.get("OUT", "device-out"))
    a = ap.parse_args()

    import torch
    from safetensors.torch import load_file, save_file

    from kinema.recipe import load_recipe, stages
    from kinema.train.dit import train_dit

    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here; pass --device cpu for a dry run")
    stage = dict(stages(load_recipe())[1][-1][1])  # the recipe's last DiT stage: its data and conditioning
    for k in ("steps", "batch", "lr", "warmup", "every", "seed", "init", "bf16"):
        stage.pop(k, None)
    preset = stage.pop("preset")
    for key in ("plain", "placed", "time_mean", "contrast"):
        if getattr(a, key) is not None:
            stage[key] = getattr(a, key)
    run, out = Path(a.run), Path(a.out)
    t0 = time.time()
    train_dit(
        preset, str(ROOT / "kinema" / "assets" / "vae"), "world", run, a.steps, a.batch, resume=True,
        device=a.device, lr=a.lr, warmup=a.warmup, every=250, seed=a.seed, image_batch=a.image_batch,
        workers=a.workers, echo=a.echo, time_limit=a.seconds, progress=False,
        init=None if a.init == "none" else a.init, **stage,
    )  # fmt: skip
    (out / "dit").mkdir(parents=True, exist_ok=True)
    state = load_file(str(run / "final" / "model.safetensors"))
    save_file({k: v.half() for k, v in state.items()}, str(out / "dit" / "model.safetensors"))
    shutil.copy(run / "final" / "config.json", out / "dit" / "config.json")
    for name in ("log.jsonl", "loss_curve.png", "config.json"):
        if (run / name).is_file():
            shutil.copy(run / name, out / ("run_" + name if name == "config.json" else name))
    sheets = sorted((run / "samples").glob("*.png"), key=lambda p: p.stat().st_mtime)
    if sheets:
        shutil.copy(sheets[-1], out / "samples.png")
    print(f"done in {time.time() - t0:.0f} s: {out}")


if __name__ == "__main__":
    main()
