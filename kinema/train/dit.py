"""`kinema train dit`: the DiT learns the rectified flow of VAE latents, from one CPU process to DDP/FSDP2 on GPUs.

One step, for a global batch whose random choices all come from (seed, step, example), so that any number of
processes computes the same step and a resumed run continues the same stream:

    x0 = latents (VAE, scaled), noise ~ N(0, I), t ~ logit-normal, shifted for the token count
    clean = a random conditioning mask (none, image-to-video, extension either way, keyframes, connect)
    t_f = 0 on clean frames, t elsewhere;  x_t = (1 - t_f) x0 + t_f noise
    loss = mean over examples of || v(x_t, t_f, prompt) - (noise - x0) ||^2 over the generated frames

Prompts are dropped to the null prompt "" at rate `text_dropout` (classifier-free guidance).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import flow
from ..io import atomic_write_text, write_contact_sheet_rows
from ..models.dit import DiT, DiTConfig, load_weights
from ..models.dit import preset as dit_preset
from ..models.text import PromptTruncatedWarning, TextEncoder, load_text_encoder, pad_states
from ..world.caption import counterfactual_caption
from . import dist
from .common import append_log, load_checkpoint, lr_at, plot_curves, save_checkpoint, truncate_log
from .dit_data import HELD_OUT_STEP, VAL_STEP, Examples, ParallelSource, check_buckets, make_source
from .videos import to_frames


def example_generator(seed: int, step: int, i: int) -> torch.Generator:
    """The random stream of example i of step `step`, whichever process holds it."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step, i]).generate_state(1)[0]))


def draw_task(g: torch.Generator, frames: int, cond_p: float) -> str:
    """'none' (text-to-video) with probability 1 - cond_p, else one of the tasks the clip is long enough for."""
    tasks = [k for k in flow.TASKS[1:] if flow.MIN_FRAMES[k] <= frames]
    if not tasks or torch.rand((), generator=g) >= cond_p:
        return "none"
    return tasks[int(torch.randint(len(tasks), (), generator=g))]


def tokens_of(x: Tensor, patch: tuple[int, int, int]) -> int:
    """Tokens per example of latents x (B, C, T, H, W)."""
    return math.prod(n // k for n, k in zip(x.shape[2:], patch))


def context_levels(gens, context_noise: float) -> Tensor:
    """Per example, the time of its conditioning frames: 0 (clean) for half the examples, uniform in
    [0, context_noise] for the other half; all 0 when context_noise is 0 (and no random number is drawn)."""
    if context_noise <= 0:
        return torch.zeros(len(gens))
    draws = [torch.rand(2, generator=g) for g in gens]
    return torch.stack([torch.where(u[0] < 0.5, 0.0, u[1] * context_noise) for u in draws])


def flow_matching_loss(
    model: nn.Module,
    x0: Tensor,
    text: Tensor,
    mask: Tensor,
    gens,
    cond_p: float,
    tokens: int,
    context_noise=0.0,
    weight: Tensor | None = None,
    time_mean: float = 0.0,
    negatives: tuple[Tensor, Tensor, list[int]] | None = None,
    contrast: tuple[float, float] = (0.0, 100.0),
    stats: dict | None = None,
):
    """The rectified-flow loss of a batch of latents x0 (B, C, T, H, W) of `tokens` tokens each, one generator
    per example. With context_noise > 0 the conditioning frames are themselves noised to a small time (told to the
    model through their per-frame t), so that at inference a window conditioned on frames the model made itself,
    artefacts and all, is not out of distribution (noise augmentation of the condition, as in SVD and CogVideoX).
    `weight` (B, 1, T, H, W) weighs latent positions (`latent_weights`). `time_mean` moves the logit-normal times
    towards noise (> 0), where the layout is decided and the prompt's place and shape words matter most.

    `negatives` (states (K, L, D), mask (K, L), the K example rows they belong to) are counterfactual prompts
    (`counterfactual_caption`: one kind of word changed). With contrast = (weight, beta) > (0, _), the same noised
    latents also go through the model with them, and the loss adds weight * softplus(-beta * gap), where gap is the
    example's flow loss under its counterfactual prompt minus that under its own: a pairwise preference (as in
    Diffusion-DPO) that the model can only meet by reading the changed words; `stats` (a dict) gets the mean gap
    as "contrast_gap"."""
    b, _, frames = x0.shape[:3]
    t = torch.cat([flow.sample_timesteps(1, g, mean=time_mean) for g in gens])
    t = flow.shift_timesteps(t, flow.token_shift(tokens))
    clean = torch.stack([flow.task_frames(draw_task(g, frames, cond_p), frames, g) for g in gens])
    noise = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in gens]).to(x0)
    t_f = flow.frame_timesteps(t, clean, context_levels(gens, context_noise)).to(x0)  # (B, T): the condition's t
    xt = flow.path(x0, noise, t_f)
    rows = negatives[2] if negatives is not None and contrast[0] > 0 else []
    if rows:
        text, mask = pad_states([s[m] for s, m in (*zip(text, mask), *zip(*negatives[:2]))])  # one batch
        v = model(torch.cat([xt, xt[rows]]), torch.cat([t_f, t_f[rows]]), text, mask)
    else:
        v = model(xt, t_f, text, mask)
    clean = clean.to(x0.device)
    keep = list(range(b)) + list(rows)  # the example of each output row

    # Per example, then the mean over examples: the same number whichever process holds which examples.
    def one(r: int) -> Tensor:
        i = keep[r]
        w = None if weight is None else weight[i : i + 1]
        return flow.flow_loss(v[r : r + 1], x0[i : i + 1], noise[i : i + 1], clean[i : i + 1], w)

    losses = torch.stack([one(r) for r in range(len(keep))])
    loss = losses[:b].mean()
    if not rows:
        return loss
    gap = losses[b:] - losses[rows]
    if stats is not None:
        stats["contrast_gap"] = gap.mean().item()
    return loss + contrast[0] * F.softplus(-contrast[1] * gap).mean()


def counterfactuals(captions: list[str], seed: int, step: int, index=None) -> list[str | None]:
    """Each caption's counterfactual (`counterfactual_caption`), drawn from (seed, step, its index in the global
    batch: `index`, default 0, 1, ...), or None where the caption has none of the words drawn."""
    out = []
    for i, caption in zip(index if index is not None else range(len(captions)), captions):
        rng = random.Random(int(np.random.SeedSequence([seed, step, i, 7411]).generate_state(1)[0]))
        out.append(counterfactual_caption(caption, rng))
    return out


def latent_weights(objects_map: Tensor, latent: tuple[int, int, int], objects: float) -> Tensor:
    """Loss weights (B, 1, t, h, w) on a causal VAE's latent grid from the frames' small-object maps (B, 1, T, H, W):
    1 + objects * the map's mean over each latent's pixels (latent frame 0 is frame 0; latent frame k > 0 holds the
    frames of its temporal stride). A small cross then weighs like a large square, where a plain mean lets its few
    latent positions blur into a blob."""
    t, h, w = latent
    m = objects_map.float()
    if t > 1:  # frame 0, then the mean of each later latent frame's frames: (B, 1, t, H, W)
        m = torch.cat([m[:, :, :1], m[:, :, 1:].unflatten(2, (t - 1, -1)).mean(3)], 2)
    return 1 + objects * F.adaptive_avg_pool3d(m, (t, h, w))


_loss_fn = flow_matching_loss  # the loss validation measures, whatever a test patches in for training


class EMA:
    """Exponential moving average of the parameters, in the model's own layout (whole, or FSDP shards)."""

    def __init__(self, model: nn.Module):
        self.params = {canonical(n): p.detach().clone() for n, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        for n, p in model.named_parameters():
            self.params[canonical(n)].lerp_(p.detach(), 1.0 - decay)

    def full(self) -> dict[str, Tensor]:
        """Whole tensors on the CPU (collective under FSDP)."""
        return {n: dist.full_tensor(t) for n, t in self.params.items()}

    @torch.no_grad()
    def load(self, state: dict[str, Tensor]) -> None:
        for n, t in self.params.items():
            t.copy_(dist.like(state[n], t))


def canonical(name: str) -> str:
    """A parameter's name in the bare DiT (without activation-checkpoint or compile wrappers)."""
    return name.replace("_checkpoint_wrapped_module.", "").replace("_orig_mod.", "")


class _Held:
    """A state dict standing in for a module or optimizer, so common.save_checkpoint/load_checkpoint write and
    read the full (gathered) states of sharded models."""

    def __init__(self, state: dict | None = None):
        self.state = state

    def state_dict(self) -> dict:
        return self.state

    def load_state_dict(self, state: dict) -> None:
        self.state = state


def encode_prompts(encoder: TextEncoder, captions: list[str], device) -> tuple[Tensor, Tensor, int]:
    """States and mask of the captions; also how many were cut to the encoder's limit. (Text dropout comes after,
    from these states: `with_null`.)"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PromptTruncatedWarning)
        text, mask = encoder.encode(captions)
    cut = sum(issubclass(w.category, PromptTruncatedWarning) for w in caught)
    return text.to(device), mask.to(device), cut


def with_null(text: Tensor, mask: Tensor, drop: list[bool], null: Tensor) -> tuple[Tensor, Tensor]:
    """Cached prompt states with the dropped rows replaced by the null prompt's states null (L0, D)."""
    rows = [null if d else s[m] for s, m, d in zip(text, mask, drop)]
    return pad_states(rows)


def _load(ex: Examples, vae, encoder: TextEncoder, dev, objects: float = 0.0, contrast_key=None) -> tuple:
    """Latents x0 and the captions' prompt states and mask for a batch of examples (before text dropout); how many
    prompts were cut to the encoder's limit; with `objects` > 0 the loss weights (`latent_weights`), else None; and
    with contrast_key = (seed, step, the examples' indices in the global batch) the counterfactual prompts' states,
    mask and rows (`counterfactuals`; None where no caption has one), else None."""
    with torch.no_grad():
        if ex.latents is None:
            x0 = (vae.encode(ex.frames.to(dev)) - vae.config.shift) * vae.config.scale
        else:
            x0 = ex.latents.to(dev).float()
        if ex.text is None:
            text, mask, cut = encode_prompts(encoder, ex.captions, dev)
        else:
            text, mask, cut = ex.text.to(dev).float(), ex.mask.to(dev).bool(), 0
        weight = latent_weights(ex.objects.to(dev), tuple(x0.shape[2:]), objects) if objects > 0 else None
        negatives = None
        if contrast_key is not None:
            seed, step, index = contrast_key
            other = counterfactuals(ex.captions, seed, step, index)
            rows = [r for r, c in enumerate(other) if c is not None]
            if rows:
                states, neg_mask, _ = encode_prompts(encoder, [other[r] for r in rows], dev)
                negatives = states, neg_mask, rows
    return x0, text, mask, cut, weight, negatives


def _prepare(loaded, null: Tensor, gens, text_dropout: float) -> tuple:
    """A loaded batch (`_load`) with text dropout drawn per example: dropped prompts become the null prompt (and
    lose their counterfactual, which would contrast the null prompt with a caption)."""
    x0, text, mask, cut, weight, negatives = loaded
    drop = [bool(torch.rand((), generator=g) < text_dropout) for g in gens]
    if any(drop):
        text, mask = with_null(text, mask, drop, null.to(text))
        if negatives is not None:
            keep = [k for k, r in enumerate(negatives[2]) if not drop[r]]
            negatives = (negatives[0][keep], negatives[1][keep], [negatives[2][k] for k in keep]) if keep else None
    return x0, text, mask, cut, weight, negatives


class Prefetch:
    """Batches by step, with step s + 1 loaded on a background thread while step s trains. Rendering, the VAE's
    encoding and the text encoder are half of a CPU step; torch kernels release the GIL, so on a CPU they take
    another core, and a step costs the longer of the two instead of their sum. Batches are functions of their step,
    so prefetching changes no number (`on=False` loads in line)."""

    def __init__(self, load, steps: int, on: bool = True):
        from concurrent.futures import ThreadPoolExecutor

        self.load, self.steps = load, steps
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="kinema-prefetch") if on else None
        self.pending: dict[int, object] = {}
        self.threads = torch.get_num_threads()

    def _in_thread(self, step: int):
        torch.set_num_threads(self.threads)  # a new thread's OpenMP team would otherwise take the default size
        return self.load(step)

    def __call__(self, step: int):
        ahead = self.pending.pop(step, None)
        out = ahead.result() if ahead is not None else self.load(step)
        if self.pool is not None and step + 1 < self.steps:
            self.pending[step + 1] = self.pool.submit(self._in_thread, step + 1)
        return out

    def settle(self) -> None:
        """Wait for the batch in flight, so that the source and encoders can be used here (sample sheets)."""
        from concurrent.futures import wait

        wait(list(self.pending.values()))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


@torch.no_grad()
def euler_sample(model: DiT, noise: Tensor, text: Tensor, mask: Tensor, steps: int, shift: float, x0=None, clean=None):
    """Integrate the flow from noise (t = 1) to data (t = 0) with Euler steps; frames marked `clean` (B, T) stay
    at x0 (t = 0) throughout. For the training sample sheets; the pipeline has the full sampler."""
    b, frames = noise.shape[0], noise.shape[2]
    clean = torch.zeros(b, frames, dtype=torch.bool, device=noise.device) if clean is None else clean
    x = torch.where(flow.per_frame(clean.float(), noise) > 0, x0, noise) if x0 is not None else noise
    ts = flow.sampling_schedule(steps, shift).to(noise.device)
    for t, t_next in zip(ts[:-1], ts[1:]):
        tf, tf_next = flow.frame_timesteps(t.expand(b), clean), flow.frame_timesteps(t_next.expand(b), clean)
        x = flow.euler_step(x, model(x, tf, text, mask).float(), tf, tf_next)
    return x


def train_dit(
    preset: str,
    vae: str,
    data: str,
    out: str | Path,
    steps: int = 1000,
    batch: int = 8,
    resume: bool = False,
    nproc: int = 1,
    parallel: str = "ddp",
    **kw,
) -> Path:
    """Train (or resume) a DiT run in folder `out`; the EMA weights end up in out/final as a model folder.
    With nproc > 1, that many processes are started here (gloo on a CPU, nccl on GPUs); under torchrun, call it
    with nproc=1 in every process. Keyword options: see `_train`."""
    dit_preset(preset)  # an unknown preset is an error before any process starts
    if steps < 1 or batch < 1:
        raise ValueError("--steps and --batch must be at least 1")
    if batch % nproc:
        raise ValueError(f"--batch {batch} must be divisible by --nproc {nproc}")
    if parallel not in dist.PARALLEL:
        raise ValueError(f"--parallel {parallel!r}: choose one of {', '.join(dist.PARALLEL)}")
    args = (preset, vae, data, Path(out), steps, batch, resume, parallel)
    if nproc > 1:
        dist.launch(nproc, _train, *args, **kw)
    else:
        _train(*args, **kw)
    return Path(out)


def _train(
    preset: str,
    vae: str,
    data: str,
    run: Path,
    steps: int,
    batch: int,
    resume: bool,
    parallel: str,
    lr: float = 3e-4,
    warmup: int = 100,
    ema_decay: float = 0.999,
    seed: int = 0,
    every: int = 200,
    text: str = "minilm",
    text_dropout: float = 0.1,
    cond_p: float = 0.5,
    context_noise: float = 0.0,
    objects: float = 0.0,
    levels: tuple[int, ...] | None = None,
    plain: float = 0.0,
    placed: float = 0.0,
    time_mean: float = 0.0,
    contrast: float = 0.0,
    contrast_beta: float = 100.0,
    image_batch: int | None = None,
    workers: int = 0,
    echo: int = 1,
    time_limit: float | None = None,
    stop_at: int | None = None,
    grad_clip: float = 1.0,
    checkpointing: bool = False,
    compile: bool = False,
    device: str | None = None,
    progress: bool = True,
    config: DiTConfig | None = None,
    buckets=None,
    sample_steps: int = 16,
    bf16: bool = False,
    init: str | None = None,
    prefetch: bool = True,
    val_batches: int = 2,
) -> None:
    from ..eval.vae import load_vae

    d = dist.setup(device)
    batches = source = None
    try:
        if run.exists() and any(run.iterdir()) and not resume:
            raise ValueError(f"run folder '{run}' is not empty: pass --resume to continue it, or choose another --out")
        if image_batch is not None and image_batch < 1:
            raise ValueError(f"--image-batch {image_batch}: must be at least 1")
        if workers < 0:
            raise ValueError(f"--workers {workers}: must be 0 (in line) or more")
        if echo < 1:
            raise ValueError(f"--echo {echo}: must be at least 1")
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"--time-limit {time_limit}: must be a positive number of seconds")
        if stop_at is not None and not 0 < stop_at <= steps:
            raise ValueError(f"--stop-at {stop_at}: must be a step in 1..{steps} (of the --steps schedule)")
        if not -3.0 <= time_mean <= 3.0:  # sigmoid(3 + z) is above 0.95 for most draws: nothing left to learn near data
            raise ValueError(f"--time-mean {time_mean}: must be in [-3, 3]")
        if contrast < 0 or not contrast_beta > 0:
            raise ValueError(
                f"--contrast {contrast:g} must be 0 or more and --contrast-beta {contrast_beta:g} positive"
            )
        if objects < 0 or (objects > 0 and data != "world"):
            raise ValueError(f"--object-weight {objects:g}: must be 0 or more, and needs --data world (its masks)")
        cfg = config or dit_preset(preset)
        if resume and (run / "config.json").is_file():
            prev = json.loads((run / "config.json").read_text())
            saved = prev.get("dit")

            def as_saved(c: DiTConfig) -> dict:
                return json.loads(json.dumps(dataclasses.asdict(c)))

            if isinstance(saved, dict) and "frame_pos" not in saved:  # begun before frame positions: resumes without
                saved = {**saved, "frame_pos": False}
                if saved == as_saved(dataclasses.replace(cfg, frame_pos=False)):
                    cfg = dataclasses.replace(cfg, frame_pos=False)
            if saved != as_saved(cfg):
                raise ValueError(
                    f"run '{run}' holds a DiT of preset {prev.get('preset')!r} with another shape; resume it with "
                    f"--preset {prev.get('preset')}, or choose another --out"
                )
        d.barrier()
        source = make_source(data, seed, buckets, objects=objects > 0, levels=levels, plain=plain, placed=placed)
        # (bad data fails here, before any loading)
        if workers:
            source = ParallelSource(source, workers)
        if image_batch and not hasattr(source, "bucket_at"):
            raise ValueError("--image-batch sizes the steps of image buckets: it needs world or manifest data")

        def data_batch(ds: int) -> int:  # loaded batch ds; one of an image bucket (1 frame) has image_batch examples
            return image_batch if image_batch and source.bucket_at(ds)[2] == 1 else batch

        def step_batch(step: int) -> int:  # with echo, step serves loaded batch step // echo
            return data_batch(step // echo)

        for n in {batch, image_batch or batch}:
            d.shard(n)  # each must split evenly over the processes
        dev = d.device
        vae_model = load_vae(vae).to(dev).eval().requires_grad_(False)
        if vae_model.config.latent_channels != cfg.latent_channels:
            raise ValueError(
                f"the VAE gives {vae_model.config.latent_channels} latent channels but DiT preset {preset!r} takes "
                f"{cfg.latent_channels}"
            )
        encoder = load_text_encoder(text, device=dev, dim=cfg.text_dim)
        if encoder.dim != cfg.text_dim:
            raise ValueError(f"text encoder {text!r} gives {encoder.dim}-wide states; the DiT takes {cfg.text_dim}")
        if hasattr(source, "buckets"):
            vc = vae_model.config
            check_buckets(source.buckets, vc.spatial_stride, vc.temporal_stride, cfg.patch)

        torch.manual_seed(seed)
        core = DiT(cfg).to(dev)
        if init and not (resume and (run / "checkpoint" / "state.json").is_file()):
            # warm start from a DiT folder (e.g. the shipped model): its weights, a fresh optimiser and schedule
            # (an init without frame positions grows them, at zero: see load_weights)
            try:
                load_weights(core, DiT.from_pretrained(init))
            except ValueError as e:
                raise ValueError(f"--init '{init}' holds another DiT shape than preset {preset!r} ({e})") from e
        cuda = dev.type == "cuda"
        model = dist.parallelize(core, d, parallel, checkpointing, compile, bf16_params=cuda and parallel == "fsdp")
        ema = EMA(core)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.99))
        start = 0
        if resume and (run / "checkpoint" / "state.json").is_file():
            held = _Held(), _Held(), _Held()
            state = load_checkpoint(run, *held)  # every rank reads the full states and takes its part
            dist.load_full_state(model, opt, held[0].state, held[2].state)
            ema.load(held[1].state)
            start = state["step"]
        if d.main:
            run.mkdir(parents=True, exist_ok=True)
            settings = dict(preset=preset, dit=dataclasses.asdict(cfg), vae=vae, data=data, steps=steps, batch=batch)
            settings.update(seed=seed, text=text, text_dropout=text_dropout, cond_p=cond_p, lr=lr, warmup=warmup)
            settings.update(nproc=d.world, parallel=parallel, init=init, context_noise=context_noise, objects=objects)
            settings.update(levels=list(levels) if levels else None, plain=plain, placed=placed, time_mean=time_mean)
            settings.update(image_batch=image_batch, workers=workers, echo=echo, stop_at=stop_at)
            settings.update(contrast=contrast, contrast_beta=contrast_beta)
            atomic_write_text(run / "config.json", json.dumps(settings, indent=1))
            truncate_log(run, start)  # a killed run logged past its checkpoint
        d.barrier()

        peak = dist.peak_flops(dev)
        # bf16 autocast: always on a GPU; on a CPU when asked (faster where it has bf16 units, e.g. AVX512-BF16)
        autocast = torch.autocast(dev.type, dtype=torch.bfloat16) if cuda or bf16 else contextlib.nullcontext()
        bar = _Bar(progress and d.main, steps, start)
        last_good, cut_total = start, 0
        null = encoder.encode([""])[0][0]
        # Held-out batches (stream steps training never reaches), loaded once: at each checkpoint the EMA weights'
        # loss on them, with the same times, noise and task masks every time, is logged as val_loss, a curve that
        # compares checkpoints where the training loss is mostly the noise of its random times.
        loads = range(val_batches if d.main else 0)  # only the main process validates
        val = [_load(source(VAL_STEP + k, batch, range(batch)), vae_model, encoder, dev) for k in loads]
        # With echo, each loaded batch serves `echo` steps in a row, each with its own times, noise, masks and text
        # dropout (data echoing): where loading is slower than a step (a GPU fed by rendering), the steps go on.
        batches = Prefetch(
            lambda ds: _load(
                source(ds, data_batch(ds), d.shard(data_batch(ds))),
                vae_model,
                encoder,
                dev,
                objects,
                (seed, ds, list(d.shard(data_batch(ds)))) if contrast > 0 else None,
            ),
            -(-steps // echo),
            prefetch,
        )
        held, began, stopped = (None, None), time.perf_counter(), False
        for step in range(start, steps):
            t0 = time.perf_counter()
            gens = [example_generator(seed, step, i) for i in d.shard(step_batch(step))]
            fresh = held[0] != step // echo  # a newly loaded batch (its cut prompts count once)
            if fresh:
                held = step // echo, batches(step // echo)
            x0, txt, tmask, cut, weight, negatives = _prepare(held[1], null, gens, text_dropout)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, lr, warmup, steps)
            seq = tokens_of(x0, cfg.patch)
            stats: dict = {}
            with autocast:
                loss = flow_matching_loss(
                    model,
                    x0,
                    txt,
                    tmask,
                    gens,
                    cond_p,
                    seq,
                    context_noise,
                    weight,
                    time_mean,
                    negatives,
                    (contrast, contrast_beta),
                    stats,
                )
            value = d.mean(loss.item())
            if not math.isfinite(value):
                bar.stop()
                raise FloatingPointError(
                    f"loss became {value} at step {step}; stopped. The last good checkpoint (step {last_good}) is "
                    f"in {run / 'checkpoint'}"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = dist.full_tensor(torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)).item()
            opt.step()
            ema.update(core, min(ema_decay, (1 + step) / (10 + step)))  # short memory early on
            if cuda:
                torch.cuda.synchronize()
            tokens_per_s = step_batch(step) * seq / (time.perf_counter() - t0)
            mfu = core.flops_per_token(seq, txt.shape[1]) * tokens_per_s / (peak * d.world) if peak else None
            cut_total += round(d.mean(cut if fresh else 0) * d.world)
            row = dict(step=step, loss=value, grad_norm=gnorm, lr=opt.param_groups[0]["lr"], tokens_per_s=tokens_per_s)
            row.update(mfu=mfu, shape=list(x0.shape[2:]), batch=step_batch(step), prompts_cut=cut_total)
            if contrast > 0:  # (collective: every process, with or without counterfactuals this step)
                row["contrast_gap"] = d.mean(stats.get("contrast_gap", 0.0))
            done = step + 1
            if time_limit is not None and not stopped:  # every process stops at the same step
                stopped = bool(d.mean(float(time.perf_counter() - began > time_limit)) > 0)
            stopped = stopped or done == stop_at
            checkpoint = done % every == 0 or done == steps or stopped
            esd = ema.full() if checkpoint else None  # collective
            ema_model = _as_model(cfg, esd, dev) if checkpoint and d.main else None
            if ema_model is not None and val:
                row["val_loss"] = validation_loss(ema_model, val, seed, cond_p, autocast)
            if d.main:
                append_log(run, row)
            bar.update(f"loss {value:.4f} {tokens_per_s:,.0f} tok/s" + (f" MFU {100 * mfu:.1f}%" if mfu else ""))
            if checkpoint:
                _save(run, d, model, opt, esd, done, dict(preset=preset, data_position=dict(step=done, data=data)))
                last_good = done
                if d.main:
                    batches.settle()
                    _samples(run, ema_model, vae_model, encoder, source, seed, done, dev, sample_steps)
                d.barrier()
            if stopped:  # the time limit or stop_at: checkpointed above, so --resume goes on from here
                break
        bar.stop()
        final = ema.full()
        if d.main:
            model_out = DiT(cfg)
            model_out.load_state_dict(final)
            model_out.save_pretrained(run / "final")
            plot_curves(run, ("loss", "val_loss"))
        d.barrier()
    finally:
        if batches is not None:
            batches.close()
        if isinstance(source, ParallelSource):
            source.close()
        dist.teardown(d)


def _save(run: Path, d: dist.Dist, model, opt, esd: dict[str, Tensor], step: int, extra: dict) -> None:
    """Atomic checkpoint of the full model, the full EMA weights `esd`, the optimizer state, step, RNG and data
    position (collective)."""
    msd, osd = dist.full_state(model, opt)
    if d.main:
        save_checkpoint(run, _Held(msd), _Held(esd), _Held(osd), step, extra)
    d.barrier()


def _as_model(cfg: DiTConfig, weights: dict[str, Tensor], dev) -> DiT:
    """A DiT in eval mode holding `weights` (e.g. the full EMA weights at a checkpoint), on `dev`."""
    model = DiT(cfg).eval()
    model.load_state_dict(weights)
    return model.to(dev)


@torch.no_grad()
def validation_loss(model: DiT, val: list, seed: int, cond_p: float, autocast) -> float:
    """The flow-matching loss of `model` on the loaded held-out batches `val` (from `_load`), mean over batches.
    Each example's times, noise, task mask and conditioning draw come from its own held-out generator, so the number
    changes only when the weights do. Prompts are kept (no text dropout), conditions are not noised."""
    total = 0.0
    for k, (x0, text, mask, *_) in enumerate(val):
        gens = [example_generator(seed, VAL_STEP + k, i) for i in range(x0.shape[0])]
        with autocast:
            total += _loss_fn(model, x0, text, mask, gens, cond_p, tokens_of(x0, model.config.patch)).item()
    return total / len(val)


@torch.no_grad()
def _samples(run, model: DiT, vae, encoder, source, seed: int, step: int, dev, sample_steps: int) -> None:
    """run/samples/step_N.png: two held-out clips, each over the EMA `model`'s sample for its prompt (the second
    given its first frame, image-to-video), and step_N.txt with the prompts."""
    ex = source(HELD_OUT_STEP, 2, range(2))
    x0, text, mask, *_ = _load(ex, vae, encoder, dev)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed)).to(x0)
    clean = torch.zeros(2, x0.shape[2], dtype=torch.bool, device=dev)
    if x0.shape[2] > 1:
        clean[1, 0] = True
    shift = flow.token_shift(tokens_of(x0, model.config.patch))
    gen = euler_sample(model, noise, text, mask, sample_steps, shift, x0, clean)
    scale, shift = vae.config.scale, vae.config.shift
    real = ex.frames if ex.frames is not None else vae.decode(x0 / scale + shift)
    fake = vae.decode(gen / scale + shift)
    rows = [to_frames(v) for pair in zip(real, fake) for v in pair]
    (run / "samples").mkdir(exist_ok=True)
    write_contact_sheet_rows(run / "samples" / f"step_{step:07d}.png", rows, frames_per_row=min(8, rows[0].shape[0]))
    atomic_write_text(run / "samples" / f"step_{step:07d}.txt", "\n".join(ex.captions) + "\n")


class _Bar:
    """A rich progress bar on the main process (or nothing)."""

    def __init__(self, enabled: bool, total: int, start: int):
        self.p = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            cols = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.description}"))
            self.p = Progress(TextColumn("train dit"), *cols)
            self.p.start()
            self.task = self.p.add_task("", total=total, completed=start)

    def update(self, desc: str) -> None:
        if self.p:
            self.p.update(self.task, advance=1, description=desc)

    def stop(self) -> None:
        if self.p:
            self.p.stop()
            self.p = None
