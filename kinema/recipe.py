"""The default model's recipe: one config file (kinema/recipes/default.json) and one command.

`kinema train default --out runs/default [--install]` runs the stages in order, each resuming its own run folder:
  1. vae: `train_vae` on the world stream (run/vae);
  2. calibrate: the shift and scale that give the DiT unit-variance latents, measured on held-out world clips and
     written into the VAE's config (run/model/vae);
  2b. vae_decoder (optional): the calibrated VAE's decoder trained further with the encoder frozen (run/vae_decoder),
     then copied into run/model/vae: better reconstructions in exactly the latent space the DiT learns; each
     entry of the optional list `vae_decoder_more` continues it with a fresh schedule (run/vae_decoder_2, ...);
  3. dit: `train_dit` on the world stream through that VAE (run/dit); then each entry of the optional list
     `dit_more` continues it as a new run warm-started from the one before (run/dit_2, run/dit_3, ...), with its own
     steps and learning-rate schedule (the rest of the settings as in `dit`): how the shipped DiT grew across
     sessions without committing optimiser state;
  4. assemble: run/model = pipeline.json + vae/ + dit/, a folder `Pipeline.from_pretrained` loads;
  5. install (with --install): copy run/model into kinema/assets, where `kinema.load_default()` finds it.
The model folder's stages.json names the stages its weights went through; `--from-assets kinema/assets` takes those
as done and runs only the recipe's later stages, warm-started from the installed weights (so the shipped model grows
across sessions from what is committed, with no run folders kept).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch

from .io import atomic_write_text

RECIPE = Path(__file__).resolve().parent / "recipes" / "default.json"
ASSETS = Path(__file__).resolve().parent / "assets"
STAGES = "stages.json"  # in a model folder: the recipe stages its weights went through


def load_recipe(path: str | Path | None = None) -> dict:
    p = Path(path) if path else RECIPE
    try:
        recipe = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"recipe '{p}': cannot read it ({e})") from e
    missing = [k for k in ("vae", "calibrate", "dit", "pipeline") if k not in recipe]
    if missing:
        raise ValueError(f"recipe '{p}': missing section(s) {', '.join(missing)}")
    return recipe


@torch.no_grad()
def latent_stats(vae, clips: int, seed: int) -> tuple[float, float]:
    """Mean and standard deviation of the VAE's posterior means over held-out world clips."""
    from .train.videos import WorldBatches

    batches = WorldBatches(seed)
    zs = [vae.encode(batches(10**6 + i, 4)).flatten() for i in range(max(1, clips // 4))]
    z = torch.cat(zs)
    return z.mean().item(), z.std().item()


def calibrate(vae_run: Path, out: Path, clips: int, seed: int) -> Path:
    """Write the run's EMA VAE with shift/scale set so that (z - shift) * scale has mean 0 and std 1."""
    from .eval.vae import load_vae
    from .models.vae import VideoVAE

    vae = load_vae(vae_run / "final" if (vae_run / "final" / "model.safetensors").is_file() else vae_run)
    mean, std = latent_stats(vae, clips, seed)
    cfg = dataclasses.replace(vae.config, shift=round(mean, 6), scale=round(1.0 / std, 6))
    calibrated = VideoVAE(cfg)
    calibrated.load_state_dict(vae.state_dict())
    calibrated.save_pretrained(out)
    return out


def stages(r: dict) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """The recipe's stages in order with their settings, as two chains: the VAE's ("vae" stands for training plus
    calibration, then the decoder stages) and the DiT's ("dit", "dit_2", ...); a continuation stage's settings are
    its first stage's with its own on top, and the names are also the stages' run folders."""
    vae = [("vae", dict(r["vae"]))]
    if "vae_decoder" in r:
        first = r["vae_decoder"]
        vae += [("vae_decoder", dict(first))]
        vae += [(f"vae_decoder_{k}", {**first, **more}) for k, more in enumerate(r.get("vae_decoder_more", []), 2)]
    dit = [("dit", dict(r["dit"]))]
    dit += [(f"dit_{k}", {**r["dit"], **more}) for k, more in enumerate(r.get("dit_more", []), 2)]
    return vae, dit


def stage_names(r: dict) -> tuple[list[str], list[str]]:
    """The names of `stages(r)`, chain by chain."""
    return tuple([name for name, _ in chain] for chain in stages(r))


def installed_stages(folder: Path, r: dict) -> tuple[list[str], list[str]]:
    """The stages a model folder's weights have been through (its stages.json), checked against the recipe: each
    chain must be a prefix of the recipe's (a model of another recipe cannot be continued by this one)."""
    try:
        done = json.loads((Path(folder) / STAGES).read_text())
        chains = list(done["vae"]), list(done["dit"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"--from-assets '{folder}': no readable {STAGES} saying which stages it holds ({e})") from e
    for have, want in zip(chains, stage_names(r)):
        if not have or have != want[: len(have)]:
            raise ValueError(f"--from-assets '{folder}': its stages {have} are not a start of the recipe's {want}")
    return chains


def train_default(
    out: str | Path,
    recipe: str | Path | None = None,
    install: bool = False,
    progress=True,
    from_assets: str | Path | None = None,
) -> Path:
    """Every stage of the recipe; returns the assembled model folder (run/model). With `from_assets` (a model folder
    with a stages.json, e.g. kinema/assets), the stages it holds are taken as done and the later ones start from its
    weights: how the shipped model keeps training across sessions from what is committed."""
    from .pipeline.config import PipelineConfig
    from .train.dit import train_dit
    from .train.vae import train_vae

    r = load_recipe(recipe)
    run = Path(out)
    run.mkdir(parents=True, exist_ok=True)
    model = run / "model"
    vae_stages, dit_stages = stages(r)
    vae_done, dit_done = installed_stages(Path(from_assets), r) if from_assets is not None else ([], [])
    if vae_done:
        _replace_folder(Path(from_assets) / "vae", model / "vae")
        init = model / "vae"
    else:
        v = vae_stages[0][1]
        if not _finished(run / "vae", v["steps"]):
            train_vae(v.pop("preset"), "world", run / "vae", resume=True, progress=progress, **v)
        if not (model / "vae" / "model.safetensors").is_file():
            calibrate(run / "vae", model / "vae", **r["calibrate"])
        init = model / "vae"
    for name, vd in vae_stages[1:]:
        if name in vae_done:
            continue
        here = run / name
        if not _finished(here, vd["steps"]):
            vd.update(init=str(init), decoder_only=vd.get("decoder_only", True))
            train_vae(r["vae"]["preset"], "world", here, resume=True, progress=progress, **vd)
        init = here / "final"
    if init != model / "vae":
        _replace_folder(init, model / "vae")
    init = None
    for name, stage in dit_stages:
        if name in dit_done:
            init = Path(from_assets) / "dit"
            continue
        here = run / name
        if not _finished(here, stage.get("stop_at", stage["steps"])):
            preset, steps, batch = stage.pop("preset"), stage.pop("steps"), stage.pop("batch")
            if init is not None:
                stage["init"] = str(init)
            train_dit(preset, str(model / "vae"), "world", here, steps, batch, True, progress=progress, **stage)
        init = here / "final"
    _replace_folder(init, model / "dit")
    PipelineConfig(**r["pipeline"]).save(model)
    names = {"vae": [n for n, _ in vae_stages], "dit": [n for n, _ in dit_stages]}
    atomic_write_text(model / STAGES, json.dumps(names))
    if install:
        install_model(model)
    return model


def install_model(model: Path, dest: Path = ASSETS) -> None:
    """Copy a pipeline folder's pipeline.json, vae/ and dit/ into `dest` (each part replaced whole), with the
    weights stored in float16 to keep the package small (they load back into float32 modules)."""
    from safetensors.torch import load_file, save_file

    def to_half(folder: Path) -> None:
        state = load_file(str(folder / "model.safetensors"))
        save_file(
            {k: v.half() if v.is_floating_point() else v for k, v in state.items()}, str(folder / "model.safetensors")
        )

    dest.mkdir(parents=True, exist_ok=True)
    for part in ("vae", "dit"):
        _replace_folder(model / part, dest / part, to_half)
    for name in ("pipeline.json", STAGES):
        if (model / name).is_file():
            atomic_write_text(dest / name, (model / name).read_text())


def _replace_folder(src: Path, dest: Path, transform=None) -> None:
    """dest becomes a copy of src (then `transform(copy)`), swapped in by rename (never half-written)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    if transform is not None:
        transform(tmp)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


def _finished(run: Path, steps: int) -> bool:
    """Whether a stage's run folder holds its final weights after all its steps."""
    return (run / "final" / "model.safetensors").is_file() and _step(run) >= steps


def _step(run: Path) -> int:
    state = run / "checkpoint" / "state.json"
    return json.loads(state.read_text())["step"] if state.is_file() else 0
