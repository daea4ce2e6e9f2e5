"""`kinema eval grounding`: does the model listen to each kind of word in a prompt?

For `n` base prompts (one still object on a flat background, in the world's caption style) it changes one word group
at a time (the object's colour, its shape, its size, where it is) and measures how much the generated image changes
at the same seed: the mean absolute pixel difference (0-255). Beside it stands how much the image changes with the
seed alone, the scale of "everything moved". A model that grounds a word group moves pixels when those words change;
one that ignores them gives a change near 0 however long it trains. It runs in about a minute on a CPU, so it can
follow a training run where the judge's categories (which need hundreds of clips) cannot.

`loss_gaps` asks the same of the DiT without sampling: it renders each base prompt's scene, noises its latent, and
measures how much the flow loss rises when the prompt says something else. A word the model uses raises it; one it
ignores leaves it as it was. It takes seconds and sees a word being learnt long before the images show it.
`direction_gap` does the same for direction words on clips: the object moves in a straight line, the first frame is
given (image-to-video, so only the words say where it goes), and the prompt names the opposite direction.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch

from .. import flow
from ..io import write_contact_sheet_rows
from ..train.videos import to_tensor
from ..world.caption import SIZE_WORDS, describe_motion, place_kind, place_phrases
from ..world.render import render
from ..world.scene import Background, Motion, Obj, Scene, Shot
from ..world.vocab import BACKGROUND_COLORS, COLORS, DIRECTIONS, REGIONS, SHAPES, region_bounds
from . import track

GROUPS = ("color", "shape", "size", "position")
SIZES = tuple(SIZE_WORDS)
# Where the object is, in one of the world captions' own wordings ("in the upper left corner", "at the top")
_WORDING = {"center": 0, "side": 0, "edge": 0, "corner": 1}
PLACES = {r: place_phrases(r)[_WORDING[place_kind(r)]] for r in REGIONS}


def grounding_prompt(background: str, size: str, color: str, shape: str, place: str) -> str:
    """A caption in the world's dense style for one still object."""
    return (
        f"The scene shows a flat {background} background. The camera is still. A {SIZE_WORDS[size]} {color} {shape} "
        f"{PLACES[place]} stays still. It is a 2.0-second clip."
    )


def word_sets(n: int, seed: int) -> list[dict[str, dict[str, str]]]:
    """`n` base word choices (background, size, color, shape, position), each with one variant per word group (that
    group's word changed, the rest kept)."""
    rng = np.random.default_rng([seed, 2417])
    choices = {"color": tuple(COLORS), "shape": SHAPES, "size": SIZES, "position": REGIONS}
    out = []
    for _ in range(n):
        base = {k: str(rng.choice(v)) for k, v in choices.items()}
        base["background"] = str(rng.choice(list(BACKGROUND_COLORS)))
        item = {"base": base}
        for group in GROUPS:
            item[group] = dict(base, **{group: str(rng.choice([v for v in choices[group] if v != base[group]]))})
        out.append(item)
    return out


def _prompt(words: dict[str, str]) -> str:
    return grounding_prompt(words["background"], words["size"], words["color"], words["shape"], words["position"])


def prompt_sets(n: int, seed: int) -> list[dict[str, str]]:
    """`n` base prompts, each with one variant per word group (that group's words changed, the rest kept)."""
    return [{k: _prompt(words) for k, words in item.items()} for item in word_sets(n, seed)]


def still_scene(words: dict[str, str], width: int, height: int, fps: float) -> Scene:
    """The scene a base prompt describes: one still object at the centre of its region, on a flat background."""
    unit = min(width, height)
    x0, x1, y0, y1 = region_bounds(words["position"], width / unit, height / unit)
    obj = Obj("a", words["shape"], words["color"], words["size"], (x0 + x1) / 2, (y0 + y1) / 2)
    shot = Shot(2.0, background=Background("solid", [words["background"]]), objects=[obj])
    return Scene("grounding", width, height, fps, [shot])


LOSS_TIMES = (0.7, 0.97)  # where the layout is still open (0.97) and where it is half drawn (0.7)


@torch.no_grad()
def loss_gaps(pipe, n: int = 24, seed: int = 0, times: tuple[float, ...] = LOSS_TIMES) -> dict[str, float]:
    """For each word group, the DiT's flow loss (velocity MSE) on the base prompt's rendered still with the group's
    words changed, minus the loss with the base prompt, at the same noise; the mean over `n` prompts and `times`.
    About 0 for words the model ignores; the better it uses them, the larger."""
    if n < 1:
        raise ValueError(f"n {n}: must be at least 1")
    w, h = (int(v) for v in pipe.config.sizes[0].split("x"))
    gaps: dict[str, list[float]] = {g: [] for g in GROUPS}
    gen = torch.Generator().manual_seed(seed)
    for item in word_sets(n, seed):
        frame = render(still_scene(item["base"], w, h, pipe.config.fps[0]))[:1]
        x0 = pipe.scale(pipe.vae.encode(to_tensor(frame)[None].to(pipe.device)))
        text, mask = pipe.encode_text([_prompt(item[k]) for k in ("base", *GROUPS)])
        for t in times:
            loss = _flow_losses(pipe, x0, text, mask, t, gen)
            for g, value in zip(GROUPS, loss[1:] - loss[0]):
                gaps[g].append(float(value))
    return {g: round(float(np.mean(v)), 6) for g, v in gaps.items()}


def _flow_losses(pipe, x0: torch.Tensor, text, mask, t: float, gen: torch.Generator, first_given: bool = False):
    """The DiT's velocity MSE on latents x0 (1, C, T, h, w) noised to time t with one draw of noise, once per prompt
    row of `text`; with `first_given` the first latent frame stays clean (image-to-video) and out of the loss."""
    rows = text.shape[0]
    noise = torch.randn(x0.shape, generator=gen).to(x0)
    given = torch.zeros(rows, x0.shape[2], dtype=torch.bool, device=x0.device)
    given[:, 0] = first_given
    tf = flow.frame_timesteps(torch.full((rows,), t, device=x0.device), given)
    xt = flow.path(x0.expand(rows, -1, -1, -1, -1), noise.expand(rows, -1, -1, -1, -1), tf)
    v = pipe.dit(xt, tf, text, mask).float()
    return ((v - flow.velocity_target(x0, noise))[:, :, int(first_given) :] ** 2).mean(dim=(1, 2, 3, 4))


def eval_grounding(pipe, n: int = 24, seed: int = 0, out: Path | None = None, progress: bool = True) -> dict:
    """Mean absolute pixel change (0-255) of a text-to-image when each word group changes, and when only the seed
    does; `relative` is each group's change over the seed's. With `out`, a sheet (grounding.png): one row per base
    prompt, its image then the colour, shape, size, position and other-seed images."""
    if n < 1:
        raise ValueError(f"n {n}: must be at least 1")
    t0 = time.perf_counter()
    changes: dict[str, list[float]] = {g: [] for g in (*GROUPS, "seed")}
    rows = []
    items = list(enumerate(prompt_sets(n, seed)))
    if progress:
        items = track(items, "grounding")
    for i, item in items:

        def image(prompt: str, s: int = seed + i) -> np.ndarray:
            return pipe(prompt, num_frames=1, seed=s, upsample=False).frames[0]

        base = image(item["base"])
        made = {g: image(item[g]) for g in GROUPS}
        made["seed"] = image(item["base"], seed + i + 100_003)
        for g, img in made.items():
            changes[g].append(float(np.abs(img.astype(np.float32) - base.astype(np.float32)).mean()))
        rows.append(np.stack([base, *made.values()]))
    mean = {g: round(float(np.mean(v)), 3) for g, v in changes.items()}
    if out is not None:
        write_contact_sheet_rows(Path(out) / "grounding.png", rows[:8], frames_per_row=len(GROUPS) + 2)
    return {
        "n": n,
        "change": {g: mean[g] for g in GROUPS},
        "seed_change": mean["seed"],
        "relative": {g: round(mean[g] / max(mean["seed"], 1e-6), 4) for g in GROUPS},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def opposite(direction: str) -> str:
    """The screen direction pointing the other way ("up-left" -> "down-right")."""
    dx, dy = DIRECTIONS[direction]
    return next(d for d, (x, y) in DIRECTIONS.items() if abs(x + dx) < 1e-9 and abs(y + dy) < 1e-9)


def moving_scene(words: dict[str, str], direction: str, width: int, height: int, fps: float, seconds: float) -> Scene:
    """One object that starts at the centre and moves slowly in `direction` on a flat background."""
    unit = min(width, height)
    motion = Motion("linear", direction, "slow")
    obj = Obj("a", words["shape"], words["color"], words["size"], width / unit / 2, height / unit / 2, motion=motion)
    shot = Shot(seconds, background=Background("solid", [words["background"]]), objects=[obj])
    return Scene("grounding-motion", width, height, fps, [shot])


def moving_prompt(words: dict[str, str], direction: str, seconds: float, wording: int) -> str:
    """A caption in the world's dense style for one object moving in `direction`; `wording` picks the world's verb
    and phrasing, the same for both directions of a pair."""
    does = describe_motion(Motion("linear", direction, "slow"), random.Random(wording), seconds)
    return (
        f"A {SIZE_WORDS[words['size']]} {words['color']} {words['shape']} in the center {does}. The scene shows a flat "
        f"{words['background']} background. The camera is still. It is a {seconds:.1f}-second clip."
    )


@torch.no_grad()
def direction_gap(pipe, n: int = 24, seed: int = 0, times: tuple[float, ...] = LOSS_TIMES) -> float:
    """The DiT's flow loss on a rendered clip of an object moving one way, given its first frame, with the prompt
    naming the opposite direction, minus the loss with the true prompt, at the same noise (frames after the first);
    the mean over `n` clips and `times`. About 0 for a model that ignores direction words."""
    if n < 1:
        raise ValueError(f"n {n}: must be at least 1")
    cfg = pipe.config
    (w, h), fps = (int(v) for v in cfg.sizes[0].split("x")), cfg.fps[0]
    frames = 4 * (cfg.window - 1) + 1  # one window of the pipeline
    seconds = frames / fps
    rng = np.random.default_rng([seed, 3779])
    gen = torch.Generator().manual_seed(seed)
    gaps = []
    for k, item in enumerate(word_sets(n, seed)):
        way = str(rng.choice(list(DIRECTIONS)))
        clip = render(moving_scene(item["base"], way, w, h, fps, seconds))[:frames]
        x0 = pipe.scale(pipe.vae.encode(to_tensor(clip)[None].to(pipe.device)))
        text, mask = pipe.encode_text([moving_prompt(item["base"], d, seconds, seed + k) for d in (way, opposite(way))])
        for t in times:
            loss = _flow_losses(pipe, x0, text, mask, t, gen, first_given=True)
            gaps.append(float(loss[1] - loss[0]))
    return round(float(np.mean(gaps)), 6)
