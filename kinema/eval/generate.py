"""`kinema eval generate`: make videos from scenes' captions and judge each against its scene.

Scenes take the tasks in turn: text-to-video, image-to-video (the scene's first rendered frame given), extend
forward (its first half given) and extend backward (its second half given). Every video is judged against the whole
scene; image-to-video also scores the first frame's PSNR against the given image, and extensions the judge's
identity check (shape and size) on the generated side of the seam.

The long-video measure (`eval_long`) makes minute-long videos of one subject that stays in view (still, spinning or
orbiting) and asks the judge, window by window, whether it is still the same subject (colour, shape and size).
"""

from __future__ import annotations

import html
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..io import atomic_write_text, write_contact_sheet
from ..world.caption import dense_caption
from ..world.claims import Claim, claims
from ..world.judge import judge
from ..world.render import render
from ..world.scene import Scene
from . import track
from .metrics import psnr
from .vae import EVAL_SEED_OFFSET

TASKS = ("text_to_video", "image_to_video", "extend_forward", "extend_backward")


def load_suite(suite: str, n: int, seed: int, config) -> list[Scene]:
    """`n` scenes: the builtin suite (held-out world scenes at the model's default size and fps, mixed levels) or
    the first `n` lines of a JSONL file of scenes (the world's schema, or records with a "scene" key)."""
    if suite == "builtin":
        from ..world.sample import sample_scenes

        w, h = config.size
        return list(sample_scenes(n, EVAL_SEED_OFFSET + seed, width=w, height=h, fps=config.fps[0]))
    path = Path(suite)
    if not path.is_file():
        raise ValueError(f"--suite '{suite}': expected 'builtin' or an existing JSONL file of scenes")
    scenes = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            scenes.append(Scene.from_json(line))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ValueError(f"--suite '{suite}' line {k}: not a scene ({e})") from e
        if len(scenes) == n:
            break
    if not scenes:
        raise ValueError(f"--suite '{suite}': no scenes in it")
    return scenes


def seam_claims(scene: Scene, start: float, end: float) -> list[Claim]:
    """Identity claims (shape and size kept) for the first shot's objects between `start` and `end` seconds."""
    out = []
    for c in claims(scene):
        v0, v1 = c.data.get("visible", (0.0, 0.0)) if c.category == "shape" else (0.0, 0.0)
        a, b = max(v0, start), min(v1, end)
        if c.category == "shape" and c.data["shot"] == 0 and b - a > 3 / scene.fps:
            out.append(
                Claim(
                    "identity", f"the {c.data['color']} {c.data['shape']} across the seam", c.data | {"visible": [a, b]}
                )
            )
    return out


LONG_MOTIONS = ("static", "rotate", "orbit")


def long_scenes(n: int, seed: int, config, seconds: float) -> list[Scene]:
    """`n` held-out one-shot scenes of `seconds` with a single subject that never leaves the view (it stays put,
    spins or orbits; no colour change, still camera), at the model's default size and fps."""
    from ..world.sample import sample_scenes

    w, h = config.size
    out: list[Scene] = []
    for scene in sample_scenes(50 * n, EVAL_SEED_OFFSET + 7919 + seed, level=2, width=w, height=h, seconds=seconds,
                               fps=config.fps[0]):  # fmt: skip
        shot = scene.shots[0]
        if (
            len(scene.shots) == 1
            and len(shot.objects) == 1
            and shot.objects[0].motion.kind in LONG_MOTIONS
            and not shot.objects[0].events
            and shot.camera.kind == "static"
        ):
            out.append(scene)
            if len(out) == n:
                return out
    raise RuntimeError(f"found only {len(out)} of {n} long-video scenes")


def window_claims(scene: Scene, window_s: float) -> list[Claim]:
    """One identity claim (colour, shape and size kept) for the subject in each consecutive `window_s` span."""
    obj = scene.shots[0].objects[0]
    spans = np.arange(0.0, scene.seconds - 1e-6, window_s)
    out = []
    for a in spans:
        b = min(a + window_s, scene.seconds)
        data = {"shot": 0, "start": a, "end": b, "framing": scene.shots[0].camera.zoom, "color": obj.color,
                "shape": obj.shape, "size": obj.size, "visible": [float(a), float(b)], "hidden": None}  # fmt: skip
        out.append(Claim("identity", f"the {obj.color} {obj.shape} in {a:.1f}-{b:.1f} s", data))
    return out


def eval_long(
    pipe, scenes: list[Scene], seed: int = 0, steps: int | None = None, out: Path | None = None, progress: bool = True
) -> dict:
    """Generate each scene's caption at its full length (window by window) and judge the subject's identity in
    every window of the pipeline's length; returns the mean pass rate over windows, per video and per window (over
    videos), and `subject_present`: the share of windows whose subject keeps its colour at its size (identity
    without the shape)."""
    cfg = pipe.config
    window_s = ((cfg.window - 1) * 4 + 1) / cfg.fps[0]
    rates, secs, present, windows = [], [], [], []
    items = list(enumerate(scenes))
    if progress:
        items = track(items, "long videos")
    for i, scene in items:
        t0 = time.perf_counter()
        video = pipe(dense_caption(scene), size=f"{scene.width}x{scene.height}", fps=scene.fps, seconds=scene.seconds,
                     seed=seed + i, num_steps=steps, upsample=False)  # fmt: skip
        secs.append(time.perf_counter() - t0)
        rep = judge(video.frames, scene.fps, window_claims(scene, window_s))
        rates.append(rep.score)
        windows.append([c.passed for c in rep.checks])
        # the subject's colour at its size, whatever shape it takes: drift apart from the shape classifier
        ev = [c.evidence for c in rep.checks]
        present.append(np.mean([e.get("area_px", 0) > 0.4 * e.get("area_expected_px", np.inf) for e in ev]))
        if out is not None:
            write_contact_sheet(Path(out) / "sheets" / f"long_{i:02d}.png", video.frames, max_frames=16, cols=8)
    return {
        "identity": round(float(np.mean(rates)), 4),
        "per_video": [round(r, 4) for r in rates],
        "per_window": [round(float(r), 3) for r in np.mean(windows, axis=0)],  # identity rate, window by window
        "subject_present": round(float(np.mean(present)), 4),
        "windows": len(window_claims(scenes[0], window_s)),
        "seconds_per_video": round(float(np.mean(secs)), 2),
    }


def run_task(pipe, scene: Scene, task: str, seed: int, steps: int | None) -> tuple[np.ndarray, dict]:
    """Generate the scene with one task; returns the frames and the task's own measures."""
    kw = dict(size=f"{scene.width}x{scene.height}", fps=scene.fps, seed=seed, num_steps=steps, upsample=False)
    prompt = dense_caption(scene)
    if task == "text_to_video":
        return pipe(prompt, seconds=scene.seconds, **kw).frames, {}
    truth = render(scene)
    if task == "image_to_video":
        frames = pipe(prompt, image=truth[0], seconds=scene.seconds, **kw).frames
        return frames, {"first_frame_psnr": psnr(truth[:1], frames[:1])}
    half = len(truth) // 2
    seam = half / scene.fps
    if task == "extend_forward":
        frames = pipe(
            prompt, video=(truth[:half], scene.fps), mode="extend-forward", seconds=scene.seconds - seam, **kw
        )
        extra = seam_claims(scene, seam, scene.seconds)
    else:
        given = truth[half:]
        frames = pipe(prompt, video=(given, scene.fps), mode="extend-backward", seconds=seam, **kw)
        extra = seam_claims(scene, 0.0, seam)
    frames = frames.frames[: len(truth)]
    rep = judge(frames, scene.fps, extra) if extra else None
    return frames, {"seam_identity": rep.score} if rep else {}


def eval_generate(
    pipe, scenes: list[Scene], seed: int = 0, out: Path | None = None, steps: int | None = None, progress: bool = True
) -> dict:
    """Judge generated videos of `scenes`; writes report.html, results.json and contact sheets into `out`."""
    cats: dict[str, list[bool]] = defaultdict(list)
    tasks: dict[str, list[float]] = defaultdict(list)
    rows, secs = [], []
    items = list(enumerate(scenes))
    if progress:
        items = track(items, "generating and judging")
    for i, scene in items:
        task = TASKS[i % len(TASKS)]
        t0 = time.perf_counter()
        frames, measures = run_task(pipe, scene, task, seed + i, steps)
        secs.append(time.perf_counter() - t0)
        rep = judge(frames, scene.fps, scene)
        for c in rep.checks:
            cats[c.category].append(c.passed)
        tasks[task].append(rep.score)
        for k, v in measures.items():
            tasks[f"{task}_{k}"].append(v)
        rows.append((i, scene, task, frames, rep, measures))
    result = {
        "n": len(scenes),
        "overall": round(float(np.mean([p for v in cats.values() for p in v])), 4) if cats else 0.0,
        "categories": {k: round(float(np.mean(v)), 4) for k, v in cats.items()},
        "tasks": {k: round(float(np.mean(v)), 4) for k, v in tasks.items()},
        "seconds_per_clip": round(float(np.mean(secs)), 3),
    }
    if out is not None:
        write_report(Path(out), rows, result)
    return result


def write_report(out: Path, rows, result: dict) -> Path:
    """report.html (prompt, contact sheet, score and failed checks with their evidence per clip), results.json,
    clips.jsonl (every clip's checks and measures, one JSON object a line) and sheets/*.png."""
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><meta charset='utf-8'><title>kinema eval generate</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{image-rendering:pixelated;"
        "max-width:100%}td,th{padding:2px 8px;text-align:left}.bad{color:#b00}</style>",
        "<h1>Generation, judged</h1>",
        f"<pre>{html.escape(json.dumps(result, indent=1))}</pre>",
        "<p>Every clip's checks with the judge's evidence: clips.jsonl.</p>",
    ]
    clips = []
    for i, scene, task, frames, rep, measures in rows:
        sheet = f"sheets/{i:04d}_{task}.png"
        write_contact_sheet(out / sheet, frames, max_frames=8, cols=8)
        failed = [c for c in rep.checks if not c.passed]
        extra = ", ".join(f"{k} {v:.3f}" for k, v in measures.items())
        parts += [
            f"<h3>{i}: {html.escape(scene.id)} &middot; {task} &middot; score {rep.score:.3f}"
            f"{' &middot; ' + extra if extra else ''}</h3>",
            f"<p>{html.escape(dense_caption(scene))}</p><img src='{sheet}'>",
            "<ul class='bad'>"
            + "".join(
                f"<li>{html.escape(c.category)}: {html.escape(c.claim)} <small>{html.escape(_evidence(c))}</small></li>"
                for c in failed
            )
            + "</ul>"
            if failed
            else "<p>all checks pass</p>",
        ]
        clips.append(
            {
                "index": i,
                "scene": scene.id,
                "task": task,
                "score": round(rep.score, 4),
                **{k: round(float(v), 4) for k, v in measures.items()},
                "checks": [
                    {"category": c.category, "claim": c.claim, "passed": c.passed, "evidence": c.evidence}
                    for c in rep.checks
                ],
            }
        )
    atomic_write_text(out / "results.json", json.dumps(result, indent=1) + "\n")
    atomic_write_text(out / "clips.jsonl", "".join(json.dumps(c, default=_plain) + "\n" for c in clips))
    atomic_write_text(out / "report.html", "\n".join(parts) + "\n")
    return out / "report.html"


def _plain(x):
    """JSON for the judge's numpy numbers."""
    return x.item() if hasattr(x, "item") else str(x)


def _evidence(c) -> str:
    return ", ".join(f"{k} {json.dumps(v, default=_plain)}" for k, v in c.evidence.items())


def time_generation(
    pipe, seconds: float = 2.0, repeats: int = 5, warmup: bool = True, prompt: str = "a red ball bounces to the right"
) -> dict:
    """Wall seconds of `repeats` generations of a `seconds`-long clip at the model's defaults (after a warm-up
    run), their median, and the process's peak memory."""
    from .vae import peak_rss_mb

    if warmup:
        pipe(prompt, seconds=seconds)
    times = []
    for seed in range(repeats):
        t0 = time.perf_counter()
        pipe(prompt, seconds=seconds, seed=seed)
        times.append(time.perf_counter() - t0)
    return {
        "seconds": seconds,
        "size": pipe.config.sizes[0],
        "num_steps": pipe.config.num_steps,
        "sampler": pipe.config.sampler,
        "median_s": round(float(np.median(times)), 3),
        "runs_s": [round(t, 3) for t in times],
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
