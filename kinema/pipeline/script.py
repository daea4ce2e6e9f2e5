"""What the prompt says at each moment: shots with hard cuts, and timed events ("at 2 s the ball turns blue").

The model reads one caption per window, written as the world's captions are: times in seconds from the start of
the clip it sees, cuts as "After a cut at 2.0 s, in the second shot, ...". A long video is made window by window, so
each window gets the shots it overlaps and the timed sentences that fall inside it, re-timed to its start. A
caption that names its cuts that way (the world's templates, kinema.world.caption.phrases) is read back into shots
(`split_shots`); the pipeline makes shots one by one, so its windows each lie inside one shot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..world.caption import SHAPE_WORDS, phrases
from ..world.vocab import COLORS

TIME = re.compile(r"(\d+(?:\.\d+)?)(\s*)(s|sec|secs|second|seconds)\b")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _templates(*keys: str, end: str = "", **fields: str) -> re.Pattern:
    """A pattern for any of the world's caption templates under `keys`, its {fields} read by the given patterns
    (unnamed groups: a match's value is its first group that is not None)."""
    alternatives = []
    for key in keys:
        for template in phrases(key):
            text = re.escape(template.strip())
            for name, pattern in fields.items():
                text = text.replace(re.escape("{" + name + "}"), pattern)
            alternatives.append(text)
    return re.compile("(?:" + "|".join(alternatives) + ")" + end, re.IGNORECASE)


def _first(m: re.Match) -> str:
    return next(g for g in m.groups() if g is not None)


# How captions (the world's, and Script.window's) open a shot after a cut, with its time from the video's start
CUT_LEAD = _templates("cut", t=r"(\d+(?:\.\d+)?)", nth=r"\w+", end=r"\s*")
FIRST_LEAD = re.compile(r"^\s*" + _templates("first_shot", end=r"\s*").pattern, re.IGNORECASE)
# Sentences about the whole video that no single shot can say: how many shots, how long it all lasts
WHOLE = _templates("shots", "duration", n=r"\w+", t=r"\d+(?:\.\d+)?", end="$")
# A later shot's words for what an earlier shot showed: "the same red ball", "the same ball (now red)"
_COLOURS = "|".join(COLORS)
_NOUNS = "|".join(sorted((w for ws in SHAPE_WORDS.values() for w in ws), key=len, reverse=True))
SAME = re.compile(
    rf"\b(?P<the>the) same (?:(?P<c>{_COLOURS}) (?P<n>{_NOUNS})|(?P<n2>{_NOUNS}) \(now (?P<c2>{_COLOURS})\))",
    re.IGNORECASE,
)
SETTING = _templates("setting_first", "setting_last", "setting_new", bg="(.+)", end="$")
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


def split_shots(prompt: str, seconds: float) -> list[tuple[str, float]]:
    """A caption that names its cuts ("After a cut at 2.0 s, in the second shot, ...", as the world's captions and
    Script.window say them) as shots: (prompt, seconds) whose times count from each shot's start. Sentences about the
    whole video (how many shots, how long) go; cuts at or after `seconds` end the video there. A prompt without
    cuts is one shot."""
    cuts = [(m.start(), m.end(), float(_first(m))) for m in CUT_LEAD.finditer(prompt)]
    times = [t for _, _, t in cuts]
    if not cuts or times[0] <= 0 or any(b <= a for a, b in zip(times, times[1:])):
        return [(prompt, seconds)]
    bounds = [(0, cuts[0][0], 0.0)] + [(e, cuts[k + 1][0] if k + 1 < len(cuts) else len(prompt), t)
                                        for k, (_, e, t) in enumerate(cuts)]  # fmt: skip
    shots = []
    for a, b, t in bounds:
        if t >= seconds - 1e-6:
            break
        kept = " ".join(x for x in SENTENCE_END.split(prompt[a:b].strip()) if x and not WHOLE.match(x))
        shots.append([FIRST_LEAD.sub("", kept) if a == 0 else kept, t])
    if not all(text for text, _ in shots):
        return [(prompt, seconds)]
    ends = [t for _, t in shots[1:]] + [seconds]
    return carry_over([(text[:1].upper() + text[1:], end - t) for (text, t), end in zip(shots, ends)])


def carry_over(shots: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Shots whose words stand on their own, each to be made alone, in the words of a first shot: a later shot's "the
    same red ball is back on the left and spins" becomes "a red ball on the left spins" ("the same ball (now blue)": "a
    blue ball"; "we see ... again": "we see ..."), "the same objects return:" goes, and "The background stays the
    same." names the background the shot before it set."""
    out, setting = [], None
    for k, (text, seconds) in enumerate(shots):
        sentences = []
        for x in SENTENCE_END.split(text.strip()):
            if k and x.lower() == "the background stays the same.":
                if setting is None:
                    continue
                x = f"Everything is set against {setting}."
            if k:
                x = re.sub(r"^the same objects return: ", "", x, flags=re.IGNORECASE)
                x = SAME.sub(_a_new, x)
                x = re.sub(r"^(an? [\w ]+?) is back([^.;]*?) and ", r"\1\2 ", x, flags=re.IGNORECASE)
                x = re.sub(r"^(we see an? [\w ]+?) again\b", r"\1", x, flags=re.IGNORECASE)
            if m := SETTING.match(x):
                setting = _first(m)
            sentences.append(x[:1].upper() + x[1:])
        out.append((" ".join(sentences), seconds))
    return out


def _a_new(m: re.Match) -> str:
    """ "the same red ball" / "the same ball (now red)" -> "a red ball", keeping a capital."""
    words = f"{m.group('c') or m.group('c2')} {m.group('n') or m.group('n2')}"
    article = "an" if words[0] in "aeiou" else "a"
    return (article.capitalize() if m.group("the")[0].isupper() else article) + " " + words


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
