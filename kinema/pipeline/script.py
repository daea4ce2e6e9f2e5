"""What the prompt says at each moment: shots with hard cuts, and timed events ("at 2 s the ball turns blue").

The model reads one caption per window, written as the world's captions are: times in seconds from the start of
the clip it sees, cuts as "After a cut at 2.0 s, in the second shot, ...". A long video is made window by window, so
each window gets the shots it overlaps and the timed sentences that fall inside it, re-timed to its start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TIME = re.compile(r"(\d+(?:\.\d+)?)(\s*)(s|sec|secs|second|seconds)\b")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
COUNTS = {2: "two", 3: "three", 4: "four", 5: "five"}


@dataclass(frozen=True)
class ShotText:
    prompt: str
    start: float
    end: float


def sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def timeline_text(prompt: str, events: list[tuple[float, str]]) -> str:
    """A prompt with timed events as sentences: (2.0, "the ball turns blue") -> "... At 2.0 s the ball turns blue."."""
    for t, what in sorted(events):
        if t < 0:
            raise ValueError(f"timeline event at {t:g} s: times must be 0 or more")
        if not what.strip():
            raise ValueError(f"timeline event at {t:g} s: no text")
        prompt = f"{sentence(prompt)} At {t:.1f} s {what.strip().rstrip('.')}."
    return prompt


def retime(prompt: str, offset: float, length: float) -> str:
    """The sentences of `prompt` as seen by a clip that starts `offset` seconds in and lasts `length`: sentences
    without times stay, timed ones stay when one of their times falls inside (times moved to the clip's start,
    at least 0), and the rest go."""
    if offset == 0 and not any(float(m.group(1)) >= length for m in TIME.finditer(prompt)):
        return prompt
    kept = []
    for s in SENTENCE_END.split(prompt.strip()):
        times = [float(m.group(1)) for m in TIME.finditer(s)]
        if times and not any(offset <= t < offset + length for t in times):
            continue
        kept.append(TIME.sub(lambda m: f"{max(0.0, float(m.group(1)) - offset):.1f}{m.group(2)}{m.group(3)}", s))
    return " ".join(kept)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


class Script:
    """Shots (prompt, seconds) laid end to end; times inside a shot's prompt count from the shot's start."""

    def __init__(self, shots: list[tuple[str, float]]):
        if not shots:
            raise ValueError("no shots given")
        self.shots: list[ShotText] = []
        t = 0.0
        for prompt, seconds in shots:
            if not prompt.strip():
                raise ValueError("empty prompt: describe what the video should show")
            if not seconds > 0:
                raise ValueError(f"shot '{prompt}': seconds {seconds:g} must be positive")
            self.shots.append(ShotText(prompt.strip(), t, t + seconds))
            t += seconds

    @property
    def seconds(self) -> float:
        return self.shots[-1].end

    @property
    def cuts(self) -> list[float]:
        return [s.start for s in self.shots[1:]]

    def window(self, t0: float, t1: float) -> str:
        """The caption for a clip of the video from t0 to t1 seconds."""
        parts = [s for s in self.shots if s.end > t0 + 1e-6 and s.start < t1 - 1e-6] or [self.shots[-1]]
        texts = [retime(s.prompt, max(0.0, t0 - s.start), min(s.end, t1) - max(s.start, t0)) for s in parts]
        if len(parts) == 1:
            return texts[0]
        out = [f"The video has {COUNTS.get(len(parts), str(len(parts)))} shots."]
        for k, (s, text) in enumerate(zip(parts, texts)):
            nth = ORDINALS[k] if k < len(ORDINALS) else "next"
            lead = "In the first shot, " if k == 0 else f"After a cut at {s.start - t0:.1f} s, in the {nth} shot, "
            out.append(lead + sentence(_lower_first(text)))
        return " ".join(out)
