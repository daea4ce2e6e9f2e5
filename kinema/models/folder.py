"""Model folders in the diffusers layout: config.json beside model.safetensors, loaded with one call."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


def save_folder(path: str | os.PathLike, config: Any, state: dict[str, torch.Tensor], kind: str) -> Path:
    """Write config.json (the dataclass, plus its kind) and model.safetensors atomically into folder `path`."""
    from ..io import atomic_path, atomic_write_text

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"kind": kind, **dataclasses.asdict(config)}
    with atomic_path(out / "model.safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp))
    atomic_write_text(out / "config.json", json.dumps(cfg, indent=1))
    return out


def read_folder(path: str | os.PathLike, kind: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config dict, weights) of a model folder; a missing or corrupt folder is a clear ValueError."""
    p = Path(path)
    cfg_path, w_path = p / "config.json", p / "model.safetensors"
    if not p.is_dir():
        raise ValueError(f"checkpoint '{p}': no such folder")
    for f in (cfg_path, w_path):
        if not f.is_file():
            raise ValueError(f"checkpoint '{p}': {f.name} is missing")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"checkpoint '{p}': config.json is not valid JSON ({e})") from e
    if cfg.pop("kind", kind) != kind:
        raise ValueError(f"checkpoint '{p}': it holds a different kind of model, not a {kind}")
    try:
        state = load_file(str(w_path))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"checkpoint '{p}': model.safetensors cannot be read ({e})") from e
    return cfg, state


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Load weights, naming what does not match the model built from config.json."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} weights missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected weights (e.g. {extra[0]})")
        if shapes:
            parts.append(f"{len(shapes)} shapes differ (e.g. {shapes[0]})")
        raise ValueError(f"checkpoint '{where}': config.json does not match the weights: " + "; ".join(parts))
    model.load_state_dict(state)


def config_from_dict(config_class: type, cfg: dict[str, Any], where: str) -> Any:
    """A config dataclass from JSON (lists back to tuples); a foreign config is a clear ValueError."""
    try:
        return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    except TypeError as e:
        raise ValueError(f"checkpoint '{where}': config.json is not a {config_class.__name__} ({e})") from e


class FolderModel:
    """save_pretrained / from_pretrained for a module built from `config_class` and stored as `kind`."""

    kind: str
    config_class: type

    def save_pretrained(self, path: str | os.PathLike) -> None:
        save_folder(path, self.config, self.state_dict(), kind=self.kind)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike):
        cfg, state = read_folder(path, kind=cls.kind)
        model = cls(config_from_dict(cls.config_class, cfg, str(path)))
        load_state_strict(model, state, str(path))
        return model.eval()
