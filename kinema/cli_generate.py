"""`kinema generate ...` and `kinema eval generate ...`: flags in, pipeline calls, paths and figures out.

Safety (kinema.safety) is on: a refused prompt (or upsampled caption, shot, timeline text) or refused frames exit
with status 3 and the reason, and nothing is written; every video is watermarked and C2PA-signed. `--safety FILE`
takes the operator's configuration; `--unsafe-no-filter` skips the prompt and frame checks (research use, logged).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Annotated

import typer

from kinema.cli_models import bench, evaluate, fail, report
from kinema.cli_safety import SafetyFile, UnsafeNoFilter
from kinema.io import VIDEO_SUFFIXES, VideoError, read_video

Model = Annotated[str, typer.Option("--model", help="A model folder (pipeline.json, vae/, dit/) or 'default'.")]
FrameGuidance = Annotated[
    float | None,
    typer.Option(
        "--frame-guidance",
        help="Guidance on the frames given (image, video, keyframes): 1 is none (default: the model's).",
    ),
]


def load_pipeline(model: str, upsample_url: str | None = None, upsample_model: str | None = None, safety=None):
    """The pipeline of a model folder or the bundled default, with its safety Guard (`safety` as Pipeline takes it);
    bad folders or safety configurations are a clear error (exit 2)."""
    from kinema.pipeline import ChatUpsampler, Pipeline, load_default

    try:
        chat = ChatUpsampler(upsample_url, upsample_model or "default") if upsample_url else None
        if model == "default":
            return load_default(upsampler=chat, safety=safety)
        return Pipeline.from_pretrained(model, upsampler=chat, safety=safety)
    except (ValueError, OSError) as e:
        fail(str(e))


def safety_config(path: Path | None, unsafe_no_filter: bool, prompt: str):
    """The operator's SafetyConfig (default: kinema.safety's defaults); `--unsafe-no-filter` turns moderation off
    (logged) and keeps the watermark and C2PA signing."""
    from kinema.cli_safety import refuse_blocked
    from kinema.safety import SafetyConfig

    try:
        config = SafetyConfig.from_any(path)
    except ValueError as e:
        fail(f"--safety: {e}")
    if unsafe_no_filter:
        refuse_blocked(prompt, unsafe_no_filter=True)  # logs and warns; checks nothing
        config = dataclasses.replace(config, moderation=False)
    return config


def _read(path: Path, what: str):
    try:
        return read_video(path)
    except VideoError as e:
        fail(f"{what}: {e}")


def _still_or_clip(path: Path, what: str):
    frames, fps = _read(path, what)
    return frames[0] if len(frames) == 1 else (frames, fps)


def _keyframe(text: str):
    time, sep, path = text.partition("=")
    try:
        t = float(time)
    except ValueError:
        t = math.nan
    if not sep or not path or not math.isfinite(t):
        fail(f"--keyframe '{text}': expected TIME=IMAGE, e.g. 1.5=frame.png")
    return t, _still_or_clip(Path(path), f"--keyframe {text}")


def _shot(text: str) -> tuple[str, float]:
    prompt, sep, seconds = text.rpartition(":")
    try:
        s = float(seconds)
    except ValueError:
        s = math.nan
    if not sep or not prompt.strip() or not (math.isfinite(s) and s > 0):
        fail(f'--shot \'{text}\': expected "PROMPT:SECONDS" with seconds > 0, e.g. "a red ball bounces:2"')
    return prompt.strip(), s


def generate(
    prompt: Annotated[str, typer.Argument(help="What the video shows (with --shot: what all shots share).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Video to write (.mp4, .webm, .gif, .webp; .png: 1 frame).")
    ],
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="Length (extend: added; connect: transition).")
    ] = None,
    size: Annotated[str | None, typer.Option("--size", help="WIDTHxHEIGHT, one the model supports.")] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="Frames per second, one the model supports.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed gives the same video.")] = 0,
    steps: Annotated[int | None, typer.Option("--steps", help="Sampler steps (default: the model's).")] = None,
    guidance: Annotated[
        float | None,
        typer.Option(
            "--guidance",
            help="Classifier-free guidance scale (default: the model's, its guidance_given when frames are given).",
        ),
    ] = None,
    frame_guidance: FrameGuidance = None,
    sampler: Annotated[str | None, typer.Option("--sampler", help="euler or heun (default: the model's).")] = None,
    image: Annotated[Path | None, typer.Option("--image", help="Animate this image as the first frame.")] = None,
    video: Annotated[Path | None, typer.Option("--video", help="A video to extend or edit (with --mode).")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="extend-forward, extend-backward or edit.")] = None,
    strength: Annotated[float, typer.Option("--strength", help="Edit: how much to change, in (0, 1].")] = 0.6,
    keyframe: Annotated[list[str] | None, typer.Option("--keyframe", help="TIME=IMAGE (or clip), repeatable.")] = None,
    connect: Annotated[
        tuple[Path, Path] | None, typer.Option("--connect", help="A B: a transition from video A into video B.")
    ] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Make the last frame flow into the first.")] = False,
    shot: Annotated[list[str] | None, typer.Option("--shot", help='"PROMPT:SECONDS", repeatable: hard cuts.')] = None,
    upsample: Annotated[
        bool | None, typer.Option("--upsample/--no-upsample", help="Expand the prompt into a dense caption.")
    ] = None,
    upsample_url: Annotated[
        str | None, typer.Option("--upsample-url", help="OpenAI-compatible chat endpoint for upsampling.")
    ] = None,
    upsample_model: Annotated[str | None, typer.Option("--upsample-model", help="Model name at that URL.")] = None,
    model: Model = "default",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    safety: SafetyFile = None,
    unsafe_no_filter: UnsafeNoFilter = False,
) -> None:
    """Generate a video from a prompt (and images or videos); writes it and a contact sheet beside it. A prompt or
    video that safety refuses exits with status 3 and the reason."""
    from kinema.safety import Blocked

    suffix = output.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        fail(f"-o '{output}': unknown format '{output.suffix}'; use one of {', '.join(VIDEO_SUFFIXES)}")
    if output.is_dir():
        fail(f"-o '{output}': is a folder")
    if not prompt.strip() and not shot:
        fail("empty prompt: describe what the video should show")
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        fail(f"--seconds {seconds:g}: must be more than 0")
    if mode is not None and video is None:
        fail(f"--mode {mode} needs --video")
    args = dict(
        seconds=seconds,
        size=size,
        fps=fps,
        seed=seed,
        num_steps=steps,
        guidance=guidance,
        frame_guidance=frame_guidance,
        sampler=sampler,
        mode=mode,
        strength=strength,
        loop=loop,
        upsample=upsample,
        num_frames=1 if suffix == ".png" else None,
        shots=[_shot(s) for s in shot] if shot else None,
        keyframes=[_keyframe(k) for k in keyframe] if keyframe else None,
    )
    if image is not None:
        args["image"] = _read(image, "--image")[0][0]
    if video is not None:
        args["video"] = _read(video, "--video")
    if connect is not None:
        args["connect"] = (_read(connect[0], "--connect A"), _read(connect[1], "--connect B"))
    config = safety_config(safety, unsafe_no_filter, prompt)
    pipe = load_pipeline(model, upsample_url, upsample_model, safety=config)
    try:
        result = pipe(prompt, progress=progress, **args)
        path, sheet = result.save(output)
    except Blocked as e:
        typer.echo(f"refused: {e}", err=True)
        raise typer.Exit(3) from None
    except (ValueError, VideoError) as e:
        fail(str(e))
    t, h, w = result.frames.shape[:3]
    typer.echo(
        f"wrote {path} ({t} frames, {w}x{h}, {result.fps:g} fps, {result.seconds:.2f} s) and its contact sheet "
        f"{sheet} in {result.info['seconds_taken']:.1f} s"
    )


def eval_generate(
    model: Model = "default",
    suite: Annotated[
        str, typer.Option("--suite", help="'builtin' (seeded world scenes) or a JSONL of scenes.")
    ] = "builtin",
    n: Annotated[int, typer.Option("--n", help="Scenes.")] = 200,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html, results.json and sheets.")] = Path(
        "eval-generate"
    ),
    steps: Annotated[int | None, typer.Option("--steps", help="Sampler steps (default: the model's).")] = None,
    guidance: Annotated[
        float | None,
        typer.Option("--guidance", help="Classifier-free guidance for every clip (default: the model's)."),
    ] = None,
    guidance_given: Annotated[
        float | None,
        typer.Option(
            "--guidance-given", help="Guidance for clips that are given frames (image, video); with --guidance."
        ),
    ] = None,
    frame_guidance: FrameGuidance = None,
    sampler: Annotated[str | None, typer.Option("--sampler", help="euler or heun (default: the model's).")] = None,
    context_noise: Annotated[
        float | None,
        typer.Option(
            "--context-noise", help="Time given to earlier windows' frames in long jobs (default: the model's)."
        ),
    ] = None,
    long_seconds: Annotated[
        float,
        typer.Option(
            "--long-seconds",
            help="Also make long videos of this length and judge the subject's identity "
            "in each window (tasks.long_video_identity, and long_video_subject_present: colour at size, shape aside); "
            "0 skips it.",
        ),
    ] = 0.0,
    long_n: Annotated[int, typer.Option("--long-n", help="How many long videos.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Generate from scenes' captions (text, image and video conditions in turn), judge each; writes a report.
    The builtin suite's captions come from kinema's own world, so safety is off for it (the figures measure the
    model alone); a JSONL suite's captions pass the default safety Guard (a refusal exits 3)."""
    from kinema.eval.generate import eval_generate as run_eval
    from kinema.eval.generate import eval_long, load_suite, long_scenes
    from kinema.io import atomic_write_text
    from kinema.safety import Blocked

    if n < 1:
        fail(f"--n {n}: must be at least 1")
    if long_seconds < 0 or long_n < 1:
        fail(f"--long-seconds {long_seconds} / --long-n {long_n}: need seconds >= 0 (0 = off) and n >= 1")
    if out.exists() and not out.is_dir():
        fail(f"--out '{out}': exists and is not a folder")
    pipe = load_pipeline(model, safety=False if suite == "builtin" else None)
    given = (("guidance", guidance), ("frame_guidance", frame_guidance), ("sampler", sampler))
    given += (("context_noise", context_noise),)
    overrides = {k: v for k, v in given if v is not None}
    if guidance is not None or guidance_given is not None:  # --guidance alone: that guidance for every clip
        overrides["guidance_given"] = guidance_given
    try:  # the model's defaults for every clip; the config checks the values
        pipe.config = dataclasses.replace(pipe.config, **overrides)
    except ValueError as e:
        fail(f"--guidance/--guidance-given/--frame-guidance/--sampler/--context-noise: {e}")
    if long_seconds > pipe.config.max_seconds:  # checked before the main evaluation spends its time
        fail(f"--long-seconds {long_seconds}: the model makes at most {pipe.config.max_seconds} s")
    try:
        scenes = load_suite(suite, n, seed, pipe.config)
        result = run_eval(pipe, scenes, seed=seed, out=out, steps=steps, progress=True)
        if long_seconds:
            scenes = long_scenes(long_n, seed, pipe.config, long_seconds)
            long = eval_long(pipe, scenes, seed=seed, steps=steps, out=out, progress=True)
            result["tasks"]["long_video_identity"] = long["identity"]
            result["tasks"]["long_video_subject_present"] = long["subject_present"]  # colour at size, shape aside
            atomic_write_text(out / "long.json", json.dumps(long, indent=1) + "\n")
            atomic_write_text(out / "results.json", json.dumps(result, indent=1) + "\n")
    except Blocked as e:
        typer.echo(f"refused: {e}", err=True)
        raise typer.Exit(3) from None
    except ValueError as e:
        fail(str(e))
    report(result, as_json, f"generation on {suite} (report: {out / 'report.html'})")
    if as_json:
        typer.echo(f"report: {out / 'report.html'}", err=True)


evaluate.command("generate")(eval_generate)


@evaluate.command("grounding")
def eval_grounding(
    model: Model = "default",
    n: Annotated[int, typer.Option("--n", help="Base prompts (each makes 6 images).")] = 24,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Folder for grounding.png and grounding.json.")] = Path(
        "eval-grounding"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Does the model listen to colour, shape, size and position words? Mean pixel change (0-255) of a
    text-to-image when one word group of the prompt changes, beside the change when only the seed does; and
    loss_gap, how much the DiT's loss on the prompt's rendered still rises when the group's words change (and on a
    clip given its first frame, when the prompt names the opposite direction: loss_gap.direction)."""
    from kinema.eval.grounding import direction_gap, loss_gaps
    from kinema.eval.grounding import eval_grounding as run_eval
    from kinema.io import atomic_write_text

    if n < 1:
        fail(f"--n {n}: must be at least 1")
    if out.exists() and not out.is_dir():
        fail(f"--out '{out}': exists and is not a folder")
    pipe = load_pipeline(model, safety=False)  # the prompts are kinema's own
    result = run_eval(pipe, n=n, seed=seed, out=out, progress=True)
    result["loss_gap"] = loss_gaps(pipe, n=n, seed=seed) | {"direction": direction_gap(pipe, n=n, seed=seed)}
    atomic_write_text(out / "grounding.json", json.dumps(result, indent=1) + "\n")
    report(result, as_json, f"grounding (sheet: {out / 'grounding.png'})")


@bench.command("generate")
def bench_generate(
    model: Model = "default",
    seconds: Annotated[float, typer.Option("--seconds", help="Clip length.")] = 2.0,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed runs after one warm-up; the median counts.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Wall time of generating a clip at the model's default size, steps and sampler (median of --repeats runs after
    a warm-up), and the process's peak memory. Threads follow OMP_NUM_THREADS / torch's default."""
    import torch

    from kinema.eval.generate import time_generation

    if repeats < 1 or not seconds > 0:
        fail("--repeats must be at least 1 and --seconds positive")
    pipe = load_pipeline(model)
    try:
        result = time_generation(pipe, seconds=seconds, repeats=repeats)
    except ValueError as e:
        fail(str(e))
    result["threads"] = torch.get_num_threads()
    report(result, as_json, f"generation speed ({model})")
