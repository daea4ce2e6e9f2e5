"""The pipeline folder: what a generation model is made of, and the defaults it runs with.

MODEL/
  pipeline.json     PipelineConfig: text encoder, sizes, fps, lengths, sampler defaults, windows
  vae/              config.json + model.safetensors (kinema.models.vae.VideoVAE)
  dit/              config.json + model.safetensors (kinema.models.dit.DiT)
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_write_text

KIND = "kinema-pipeline"
SAMPLERS = ("euler", "heun")


def parse_size(text: str) -> tuple[int, int]:
    """'96x64' -> (96, 64): width then height."""
    w, sep, h = text.strip().lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit():
        raise ValueError(f"size '{text}': expected WIDTHxHEIGHT, e.g. 64x64")
    return int(w), int(h)


@dataclass(frozen=True)
class PipelineConfig:
    """How a pipeline folder runs. `window` and `context` are in latent frames: long videos are made window by
    window, each window starting from the last `context` latent frames of the one before."""

    text_encoder: str = "minilm"  # "minilm", "random" (tests: a seeded vector per word), or a local HF folder
    sizes: tuple[str, ...] = ("64x64", "96x64", "64x96")  # WIDTHxHEIGHT the model was trained on; the first is default
    fps: tuple[float, ...] = (12.0,)  # frame rates it was trained on; the first is default
    seconds: float = 2.0  # default length
    max_seconds: float = 60.0
    num_steps: int = 20
    guidance: float = 4.0
    # guidance for jobs that give frames (an image, a video to extend, keyframes, the ends to connect): those frames
    # already say what the video shows, and strong text guidance pulls the new frames away from them; None: guidance
    guidance_given: float | None = None
    # guidance on the frames a job gives (1: none): a third model call per step sees neither prompt nor frames, and
    # the step is pushed this much further toward what the frames imply (kinema.pipeline.sampler.guided)
    frame_guidance: float = 1.0
    sampler: str = "euler"
    base_shift: float = 0.5  # the token-count shift exp(mu) (kinema.flow.token_shift), mu from base to max
    max_shift: float = 1.15
    base_tokens: int = 256
    max_tokens: int = 4096
    window: int = 9
    context: int = 2
    decode_chunk: int = 8  # latent frames decoded at a time (constant memory)
    # a window conditioned on latent frames an earlier window made sees them noised to this time (0: clean); for
    # DiTs trained with --context-noise, so that artefacts do not pile up window after window in long videos
    context_noise: float = 0.0
    upsample: bool = True  # expand short prompts into the dense caption style by default

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(self.sizes))
        object.__setattr__(self, "fps", tuple(float(f) for f in self.fps))
        if not self.sizes or not self.fps:
            raise ValueError("PipelineConfig: sizes and fps must name at least one choice each")
        for s in self.sizes:
            parse_size(s)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"PipelineConfig: sampler {self.sampler!r} must be one of {', '.join(SAMPLERS)}")
        if self.num_steps < 1 or self.guidance < 0 or min(self.fps) <= 0 or not 0 < self.seconds <= self.max_seconds:
            raise ValueError(f"PipelineConfig: steps, guidance, fps and seconds out of range in {self}")
        if self.guidance_given is not None and not self.guidance_given >= 0:
            raise ValueError(f"PipelineConfig: guidance_given {self.guidance_given} must be >= 0 (or null)")
        if not self.frame_guidance >= 0:
            raise ValueError(f"PipelineConfig: frame_guidance {self.frame_guidance} must be >= 0")
        if not 0 <= self.context_noise < 1:
            raise ValueError(f"PipelineConfig: context_noise {self.context_noise} must be in [0, 1)")
        if not 0 < self.context < self.window or self.decode_chunk < 1:
            raise ValueError(f"PipelineConfig: need 0 < context {self.context} < window {self.window}, chunk >= 1")

    @property
    def size(self) -> tuple[int, int]:
        return parse_size(self.sizes[0])

    def save(self, folder: str | os.PathLike) -> None:
        text = json.dumps({"kind": KIND, **dataclasses.asdict(self)}, indent=1)
        atomic_write_text(Path(folder) / "pipeline.json", text)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> PipelineConfig:
        path = Path(folder) / "pipeline.json"
        if not path.is_file():
            raise ValueError(f"model '{folder}': pipeline.json is missing (a model folder holds it, vae/ and dit/)")
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"model '{folder}': pipeline.json is not valid JSON ({e})") from e
        if d.pop("kind", KIND) != KIND:
            raise ValueError(f"model '{folder}': pipeline.json is not a {KIND} file")
        try:
            return cls(**d)
        except TypeError as e:
            raise ValueError(f"model '{folder}': pipeline.json has unknown fields ({e})") from e
