"""One pipeline for every task: text, image and video conditions become clean latent frames at t = 0, the DiT fills
in the rest, window by window for long videos, and the VAE decodes in chunks.

Conditions live on a canvas of pixel frames (frame index -> image). The VAE turns frame 0 alone into latent 0 and
each later group of 4 frames (4j-3 .. 4j) into latent j, so a latent is pinned when the canvas holds all its frames;
a lone image at a later time fills the group it falls in. Windows of `window` latent frames overlap by `context`:
each starts from the end of the one before (or, when only the end is given, runs backwards from it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .. import flow
from ..models.dit import DiT, DiTConfig
from ..models.text import HFTextEncoder, MiniLMEncoder, RandomTextEncoder, TextEncoder
from ..models.vae import VAEConfig, VideoVAE
from ..train.videos import to_frames, to_tensor
from . import sampler as solver
from .config import PipelineConfig, parse_size
from .safety import Safety, check_texts, job_key, load_guard, model_id_of
from .script import Script, split_shots, timeline_text
from .tasks import Job, complete_groups, latent_frames, make_job, pinned_latents
from .upsample import Upsampler, WorldUpsampler
from .video import Video

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "assets"


class Progress:
    """Counts model evaluations; reports the fraction done to a callback and, optionally, a rich progress bar."""

    def __init__(self, total: int, on_progress: Callable[[float], None] | None, bar: bool):
        self.total, self.done, self.on_progress = max(total, 1), 0, on_progress
        self.bar = None
        if bar:
            from rich.console import Console
            from rich.progress import Progress as Bar

            self.bar = Bar(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("generating", total=self.total)

    def step(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        if self.on_progress is not None:
            self.on_progress(min(1.0, self.done / self.total))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def plan_windows(length: int, pinned: list[bool], window: int, context: int) -> list[tuple[int, int]]:
    """(start, end) latent ranges that cover `length` frames, overlapping by `context`; backwards (from the end)
    when the end is given and the start is not (extend backward). Windows with nothing to generate are left out."""
    if length <= window:
        spans = [(0, length)]
    else:
        starts = list(range(0, length - window, window - context)) + [length - window]
        spans = [(s, s + window) for s in dict.fromkeys(starts)]
        if pinned[-1] and not pinned[0]:
            spans = [(length - e, length - s) for s, e in spans]
    return [(s, e) for s, e in spans if not all(pinned[s:e])]


class Pipeline:
    """Text encoder + DiT + VAE: `pipe(prompt, ...)` returns a Video.

    `safety` (kinema.safety, on by default): None or True, the default Guard; a Guard, a SafetyConfig, a dict or a
    JSON file for the operator's configuration; False turns it off. The Guard checks every text before generation and
    the frames after it (a refusal raises kinema.safety.Blocked), watermarks the frames with `model_id` and a hash of
    the job, and the returned Video signs what it saves with C2PA.
    """

    def __init__(
        self,
        vae: VideoVAE,
        dit: DiT,
        text_encoder: TextEncoder,
        config: PipelineConfig,
        upsampler=None,
        safety: Safety = None,
        model_id: str = "kinema",
    ):
        if text_encoder.dim != dit.config.text_dim:
            raise ValueError(f"text encoder gives {text_encoder.dim}-wide states, the DiT takes {dit.config.text_dim}")
        if vae.config.latent_channels != dit.config.latent_channels:
            raise ValueError(
                f"VAE latents have {vae.config.latent_channels} channels, the DiT takes {dit.config.latent_channels}"
            )
        step = vae.config.spatial_stride * dit.config.patch[1], vae.config.spatial_stride * dit.config.patch[2]
        for s in config.sizes:
            w, h = parse_size(s)
            if w % step[1] or h % step[0]:
                raise ValueError(f"size {s}: width and height must be multiples of {step[1]} and {step[0]}")
        if vae.config.temporal_stride != 4 or dit.config.patch[0] != 1:
            raise ValueError("the pipeline needs a VAE with temporal stride 4 and a DiT with temporal patch 1")
        self.vae, self.dit, self.text_encoder, self.config = vae.eval(), dit.eval(), text_encoder, config
        self.upsampler: Upsampler = upsampler or WorldUpsampler()
        self.device = next(dit.parameters()).device
        self.model_id = model_id
        self.guard = load_guard(safety, text_encoder)

    # -- folders ----------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, device=None, upsampler=None, safety: Safety = None, model_id: str | None = None
    ) -> Pipeline:
        """Load a model folder (pipeline.json, vae/, dit/); `model_id` defaults to kinema-<folder name>."""
        folder = Path(path)
        if not folder.is_dir():
            raise ValueError(f"model '{folder}': no such folder")
        config = PipelineConfig.load(folder)
        vae = VideoVAE.from_pretrained(folder / "vae").to(device)
        dit = DiT.from_pretrained(folder / "dit").to(device)
        encoder = text_encoder(config.text_encoder, dit.config.text_dim, folder, device)
        return cls(vae, dit, encoder, config, upsampler, safety, model_id or model_id_of(folder))

    @classmethod
    def random(
        cls, config: PipelineConfig, vae: VAEConfig, dit: DiTConfig, seed: int = 0, safety: Safety = None
    ) -> Pipeline:
        """Untrained weights (for tests and speed measurements); the DiT's zero-initialised layers are moved off
        zero so that its output depends on every input."""
        torch.manual_seed(seed)
        model = DiT(dit)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.02 * torch.randn_like(p))
        encoder = text_encoder(config.text_encoder, dit.text_dim, Path("."))
        return cls(VideoVAE(vae), model, encoder, config, safety=safety, model_id="kinema-random")

    def save_pretrained(self, path: str | os.PathLike) -> None:
        self.vae.save_pretrained(Path(path) / "vae")
        self.dit.save_pretrained(Path(path) / "dit")
        self.config.save(path)

    # -- the call ---------------------------------------------------------------------------------------------------
    def __call__(
        self,
        prompt: str = "",
        *,
        seconds: float | None = None,
        num_frames: int | None = None,
        size: str | None = None,
        fps: float | None = None,
        seed: int = 0,
        num_steps: int | None = None,
        guidance: float | None = None,
        frame_guidance: float | None = None,
        sampler: str | None = None,
        image: np.ndarray | None = None,
        video: tuple[np.ndarray, float] | None = None,
        mode: str | None = None,
        strength: float = 0.6,
        keyframes: list[tuple[float, np.ndarray | tuple[np.ndarray, float]]] | None = None,
        connect: tuple[tuple[np.ndarray, float], tuple[np.ndarray, float]] | None = None,
        loop: bool = False,
        shots: list[tuple[str, float]] | None = None,
        timeline: list[tuple[float, str]] | None = None,
        upsample: bool | None = None,
        progress: bool = False,
        on_progress: Callable[[float], None] | None = None,
    ) -> Video:
        """Generate a video. Images are uint8 (H, W, 3); videos are (frames (T, H, W, 3), fps).

        - text-to-video: `prompt` (and `seconds`); text-to-image: `num_frames=1`;
        - image-to-video: `image` becomes the first frame;
        - `video` with `mode` "extend-forward" / "extend-backward" (add `seconds` after / before it) or "edit"
          (re-make it with the prompt, noised to `strength` in (0, 1]);
        - `keyframes`: (time in s, image or clip) pinned in a `seconds`-long video;
        - `connect`: (A, B): A, then a `seconds`-long transition, then B;
        - `loop`: the last frame flows into the first;
        - `shots`: (prompt, seconds) with hard cuts (`prompt` then describes what all shots share); a prompt that
          names its cuts as the world's captions do ("After a cut at 2.0 s, in the second shot, ...") is shots too;
        - `timeline`: (time in s, what happens) added to the prompt ("at 2 s the ball turns blue").
        `on_progress(fraction)` is called as the work advances.
        """
        t_start = time.perf_counter()
        cfg = self.config
        steps = cfg.num_steps if num_steps is None else num_steps
        method = cfg.sampler if sampler is None else sampler
        if steps < 1:
            raise ValueError(f"num_steps {steps}: must be at least 1")
        if guidance is not None and not (math.isfinite(guidance) and guidance >= 0):
            raise ValueError(f"guidance {guidance}: must be a number >= 0")
        fg = cfg.frame_guidance if frame_guidance is None else frame_guidance
        if not (math.isfinite(fg) and fg >= 0):
            raise ValueError(f"frame_guidance {fg}: must be a number >= 0")
        if method not in ("euler", "heun"):
            raise ValueError(f"sampler {method!r}: choose euler or heun")
        job = make_job(
            cfg,
            seconds=seconds,
            num_frames=num_frames,
            size=size,
            fps=fps,
            image=image,
            video=video,
            mode=mode,
            strength=strength,
            keyframes=keyframes,
            connect=connect,
        )
        job.loop = loop
        if loop and job.task not in ("text_to_video", "image_to_video"):
            raise ValueError("loop works with a prompt alone or with --image, not with a video, keyframes or connect")
        if loop and job.frames < 9:
            raise ValueError(f"a loop needs at least 9 frames, got {job.frames}; make it longer")
        upsample = cfg.upsample if upsample is None else upsample
        checked: set[str] = set()  # texts the Guard passed: the prompt, shots, timeline, then the script built of them
        if self.guard is not None:  # before the texts go to an upsampler or the model
            texts = [("prompt", prompt)] + [("shot prompt", p) for p, _ in shots or []]
            check_texts(self.guard, texts + [("timeline", w) for _, w in timeline or []], checked)
        job.script = self.script(prompt, shots, timeline, job, upsample)
        if self.guard is not None:
            what = "upsampled caption" if upsample else "combined prompt"
            check_texts(self.guard, [(what, s.prompt) for s in job.script.shots], checked)
        shots = self.shot_jobs(job)
        g = [guidance if guidance is not None else self.default_guidance(s) for s in shots]
        latents = self.run(shots, seed, steps, g, method, progress, on_progress, fg)
        frames = np.concatenate([self.decode(z, s.height, s.width)[: None if s.loop else s.frames]
                                 for s, z in zip(shots, latents)])  # fmt: skip
        info = {
            "model_id": self.model_id,
            "prompt": prompt,
            "task": job.task,
            "prompts": [s.prompt for s in job.script.shots],
            "seed": seed,
            "num_steps": steps,
            "guidance": g[0] if len(set(g)) == 1 else g,  # per shot where shots with and without frames differ
            "frame_guidance": fg if any(s.canvas for s in shots) else None,  # None: no frames were given
            "sampler": method,
            "size": f"{job.width}x{job.height}",
            "fps": job.fps,
            "frames": len(frames),
        }
        if self.guard is not None:  # the only way out of the pipeline: check the frames, then mark them
            from kinema.safety import Blocked, payload

            decision = self.guard.check_frames(frames)
            if not decision.allowed:
                raise Blocked(decision)
            if self.guard.config.watermark:
                mark = payload(self.model_id, job_key(self.model_id, info))
                frames, info["watermark"] = self.guard.watermark(frames, mark), mark.hex()
        info["seconds_taken"] = round(time.perf_counter() - t_start, 3)
        return Video(frames, job.fps, info, guard=self.guard)

    generate = __call__

    def script(self, prompt: str, shots, timeline, job: Job, upsample: bool) -> Script:
        """The prompt(s) laid out in time, upsampled into the caption style if asked."""
        seconds = job.frames / job.fps
        if shots:
            if job.task not in ("text_to_video", "image_to_video"):
                raise ValueError("shots make a new video: they cannot be combined with a video, keyframes or connect")
            parts = [(f"{prompt.strip().rstrip('.')}. {p}" if prompt.strip() else p, s) for p, s in shots]
        else:
            parts = [(prompt, seconds)]
        for p, _ in parts:
            if not p.strip():
                raise ValueError("empty prompt: describe what the video should show")
        if upsample:
            parts = [(self.upsampler(p, s), s) for p, s in parts]
        if not shots:  # a caption that names its cuts ("After a cut at 2.0 s, in the second shot, ...") is shots
            parts = split_shots(parts[0][0], seconds)
            if len(parts) > 1 and job.loop:
                raise ValueError("a loop cannot have cuts: its last frame flows into its first")
        if timeline:
            starts = np.cumsum([0.0] + [s for _, s in parts])
            events: list[list[tuple[float, str]]] = [[] for _ in parts]
            for t, what in timeline:
                if not 0 <= t <= starts[-1]:
                    raise ValueError(f"timeline event at {t:g} s: must lie within the video (0 to {starts[-1]:g} s)")
                k = min(int(np.searchsorted(starts, t, side="right")) - 1, len(parts) - 1)
                events[k].append((t - starts[k], what))
            parts = [(timeline_text(p, ev), s) for (p, s), ev in zip(parts, events)]
        script = Script(parts)
        if shots and abs(script.seconds * job.fps - job.frames) > 0.5:
            total = max(1, round(script.seconds * job.fps))
            if script.seconds > self.config.max_seconds + 1e-6:
                limit = self.config.max_seconds
                raise ValueError(f"{script.seconds:.1f} s of shots is beyond this model's limit of {limit:g} s")
            job.frames = total
        return script

    # -- generation in latent space ---------------------------------------------------------------------------------
    def scale(self, z: Tensor) -> Tensor:
        return (z - self.vae.config.shift) * self.vae.config.scale

    def unscale(self, z: Tensor) -> Tensor:
        return z / self.vae.config.scale + self.vae.config.shift

    @torch.no_grad()
    def encode_canvas(self, canvas: dict[int, np.ndarray], length: int) -> dict[int, Tensor]:
        """Latents (C, h, w) for each latent frame whose pixel frames the canvas holds, encoded run by run: a run
        from frame 0 as a clip, a later run after one priming frame (the frame before it, or its own first)."""
        pinned = pinned_latents(canvas, length)
        out: dict[int, Tensor] = {}
        j = 0
        while j < length:
            if not pinned[j]:
                j += 1
                continue
            k = j
            while k + 1 < length and pinned[k + 1]:
                k += 1
            if j == 0:
                frames, skip = [canvas[i] for i in range(0, 4 * k + 1)], 0
            else:
                first = 4 * j - 3
                frames = [canvas.get(first - 1, canvas[first])] + [canvas[i] for i in range(first, 4 * k + 1)]
                skip = 1
            x = to_tensor(np.stack(frames))[None].to(self.device)
            z = self.scale(self.vae.encode(x, chunk=16))[0, :, skip:]
            out.update({j + i: z[:, i] for i in range(k - j + 1)})
            j = k + 1
        return out

    def encode_text(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        states, mask = self.text_encoder.encode(prompts)
        return states.to(self.device), mask.to(self.device)

    def windows(self, job: Job) -> list[list[tuple[int, int]]]:
        """The windows each stage runs (a loop runs a second stage over its end)."""
        length = latent_frames(job.frames)
        pinned = pinned_latents(job.canvas, length)
        stages = [plan_windows(length, pinned, self.config.window, self.config.context)]
        if job.loop:
            tail, head = self.loop_sizes(length)
            stages.append(
                plan_windows(
                    length + head,
                    [j < length - tail or j >= length for j in range(length + head)],
                    self.config.window,
                    self.config.context,
                )
            )
        return stages

    def loop_sizes(self, length: int) -> tuple[int, int]:
        """(latent frames regenerated at the end, latent frames of the start copied after them) for a loop."""
        head = min(2, length - 2)
        tail = max(1, min(length // 3, self.config.window - self.config.context - head))
        return tail, head

    def times(self, job: Job, a: int, b: int, steps: int) -> Tensor:
        """The sampling times of window [a, b): shifted for its token count, from the job's strength."""
        cfg, s, (_, ph, pw) = self.config, self.vae.config.spatial_stride, self.dit.config.patch
        tokens = (b - a) * (job.height // s // ph) * (job.width // s // pw)
        shift = flow.token_shift(tokens, cfg.base_tokens, cfg.max_tokens, cfg.base_shift, cfg.max_shift)
        return solver.schedule(steps, shift, job.strength)

    def default_guidance(self, job: Job) -> float:
        """The model's guidance for a job: `guidance_given` when the job gives frames, else `guidance`."""
        given = self.config.guidance_given
        return given if job.canvas and given is not None else self.config.guidance

    def shot_jobs(self, job: Job) -> list[Job]:
        """The job cut at its script's cuts: each shot is made as a video of its own (its share of the given frames
        and of the edit's source, its own caption), so that a cut is a hard cut at the frame the script names. The
        shots share the prompt's words, not frames: what keeps a subject the same across a cut is its description."""
        if len(job.script.shots) == 1:
            return [job]
        bounds = [min(job.frames, math.ceil(s.start * job.fps - 1e-6)) for s in job.script.shots] + [job.frames]
        out = []
        for shot, a, b in zip(job.script.shots, bounds, bounds[1:]):
            if b <= a:
                continue
            canvas = {i - a: f for i, f in job.canvas.items() if a <= i < b}
            complete_groups(canvas, b - a)
            init = None if job.init is None else job.init[a:b]
            part = Job(job.width, job.height, job.fps, b - a, canvas, init, job.strength, task=job.task)
            part.script = Script([(shot.prompt, shot.end - shot.start)])
            out.append(part)
        return out

    @torch.no_grad()
    def run(
        self,
        jobs: list[Job],
        seed: int,
        steps: int,
        guidance: list[float],
        method: str,
        bar: bool,
        on_progress,
        frame_guidance: float = 1.0,
    ) -> list[Tensor]:
        """Latents (C, L, h, w) for each job (the shots of one request, made one after another from one seed), each
        at its guidance; jobs that give frames are also guided on them by `frame_guidance` (1: not)."""
        plans = [self.windows(job) for job in jobs]
        total = sum(
            solver.evaluations(len(self.times(job, a, b, steps)) - 1, method)
            for job, stages in zip(jobs, plans)
            for st in stages
            for a, b in st
        )
        tracker = Progress(total, on_progress, bar)
        gen = torch.Generator().manual_seed(seed)
        solve = dict(gen=gen, steps=steps, method=method, tracker=tracker, frame_guidance=frame_guidance)
        try:
            return [self.make(job, stages, solve | {"guidance": g}) for job, stages, g in zip(jobs, plans, guidance)]
        finally:
            tracker.close()

    def make(self, job: Job, stages: list[list[tuple[int, int]]], solve: dict) -> Tensor:
        """Latents (C, L, h, w) for one job, its stages of windows run with the shared sampler settings `solve`."""
        length = latent_frames(job.frames)
        pins = self.encode_canvas(job.canvas, length)
        init = None
        if job.init is not None:
            src = np.concatenate([job.init, job.init[-1:].repeat(4 * (length - 1) + 1 - len(job.init), 0)])
            init = self.scale(self.vae.encode(to_tensor(src)[None].to(self.device), chunk=16))[0]
        z = self.fill(job, length, pins, init, stages[0], **solve)
        if job.loop:  # regenerate the end so that it runs into a copy of the start placed after it
            tail, head = self.loop_sizes(length)
            start = self.decode(z[:, : head + 1], job.height, job.width)[: 4 * head]
            canvas = {4 * length - 3 + i: f for i, f in enumerate(start)}
            pins = {j: z[:, j] for j in range(length - tail)} | self.encode_canvas(canvas, length + head)
            z = self.fill(job, length + head, pins, None, stages[1], **solve)[:, :length]
        return z

    def fill(self, job, length, pins, init, windows, gen, steps, guidance, method, tracker, frame_guidance) -> Tensor:
        """Generate the latent frames that `pins` does not give, window by window; an edit starts from `init`
        noised to the job's strength. A window of a job that gives frames is guided on the frames it sees by
        `frame_guidance` (kinema.pipeline.sampler.guided)."""
        c, s = self.dit.config.latent_channels, self.vae.config.spatial_stride
        noise = torch.randn(1, c, length, job.height // s, job.width // s, generator=gen)[0].to(self.device)
        z = torch.zeros_like(noise)
        done = torch.zeros(length, dtype=torch.bool, device=self.device)
        made = torch.zeros(length, dtype=torch.bool, device=self.device)  # generated by an earlier window
        for j, v in pins.items():
            z[:, j], done[j] = v, True
        null = self.encode_text([""])
        level = self.config.context_noise
        for a, b in windows:
            known = done[a:b].clone()
            given, context = z[:, a:b], 0.0
            if level > 0 and bool(made[a:b].any()):
                # conditioning augmentation: frames an earlier window made come in noised to time `level` (the DiT
                # was trained so), pinned inputs stay clean at t = 0
                context = torch.where(made[a:b], level, 0.0)[None]  # (1, T)
                extra = torch.randn(given.shape, generator=gen).to(self.device)
                given = flow.path(given[None], extra[None], context)[0]
            start = noise[:, a:b] if init is None else flow.path(init[:, a:b], noise[:, a:b], job.strength)
            x = torch.where(known[None, :, None, None], given, start)[None]
            t0, t1 = max(0, 4 * a - 3) / job.fps, (4 * (b - 1) + 1) / job.fps
            text, mask = solver.batch_text(self.encode_text([job.script.window(t0, t1)]), null)
            frames = None
            if job.canvas and frame_guidance != 1.0:
                eps = torch.randn(x.shape, generator=gen).to(self.device)
                frames = (known[None], eps, frame_guidance)
            velocity = solver.guided(self.dit, text, mask, guidance, frames)
            out = solver.solve(velocity, x, self.times(job, a, b, steps), known[None], method, tracker.step, context)
            z[:, a:b] = torch.where(known[None, :, None, None], z[:, a:b], out[0])  # given frames come back clean
            made[a:b] |= ~known
            done[a:b] = True
        return z

    @torch.no_grad()
    def decode(self, z: Tensor, height: int, width: int) -> np.ndarray:
        """uint8 frames (T, H, W, 3) from latents (C, L, h, w), a few latent frames at a time."""
        parts = [to_frames(x[0]) for x in self.vae.decode_chunks(self.unscale(z)[None], self.config.decode_chunk)]
        return np.concatenate(parts)[:, :height, :width]


def text_encoder(name: str, dim: int, folder: Path, device=None) -> TextEncoder:
    """The encoder pipeline.json names: "minilm", "random" (tests), or a folder (relative to the model folder)."""
    if name == "minilm":
        return MiniLMEncoder(device=device)
    if name == "random":
        return RandomTextEncoder(dim=dim)
    return HFTextEncoder(folder / name, device=device)


def load_default(device=None, upsampler=None, safety: Safety = None) -> Pipeline:
    """The model shipped in kinema/assets (pipeline.json, vae/, dit/)."""
    missing = [
        p
        for p in ("pipeline.json", "vae/model.safetensors", "dit/model.safetensors")
        if not (DEFAULT_MODEL / p).is_file()
    ]
    if missing:
        raise ValueError(
            f"the default model is not bundled yet ({', '.join(missing)} missing in {DEFAULT_MODEL}); "
            "pass a model folder (pipeline.json, vae/, dit/) instead"
        )
    return Pipeline.from_pretrained(DEFAULT_MODEL, device, upsampler, safety, model_id="kinema-default")
