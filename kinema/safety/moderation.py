"""Prompt moderation: the frozen MiniLM text encoder (the one generation uses) + a small trained head + name lists.

The head reads MiniLM's token states of a prompt and gives one probability per category (multi-label sigmoid). The
shipped head max-pools over tokens ("tokens" features): every token's L2-normalised state goes through a linear
layer and a GELU, the prompt keeps each unit's largest value over its tokens, and a linear layer maps those to
logits; so one word anywhere in a long prompt ("... Putin ...", "... gore ...") can raise a category, where a mean
over all tokens would dilute it. Older heads read the mean-pooled state ("mean" features); both load. Each
category's threshold was tuned on the prompt set's validation split and folded into the last layer's bias, so the
"default" threshold (0.5) is that tuned point. Lists of people and brands/characters add a score of 1 to their
category on a match. Sexual content involving minors is a rule on top: a sexual score above the strict threshold
together with a word for a minor blocks, whatever the thresholds say. Thresholds per category: "strict", "default",
"off", or a number in (0, 1).

Train the shipped head (minutes on a CPU): `kinema safety train-head` (reads kinema/assets/safety/prompts.jsonl,
writes kinema/assets/safety/head/ and prints precision/recall per category on the held-out split) after
`kinema safety dataset` (the prompt set). `kinema safety eval-world` counts the world model's own prompts it blocks;
`kinema safety eval-head --head DIR` measures another head on the held-out split.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .lists import TermList, normalize
from .prompt_data import CATEGORIES

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "safety"
HEAD_DIR = ASSETS / "head"
LEVELS = {"strict": 0.2, "default": 0.5, "off": None}
MINORS_CATEGORY = "sexual_minors"
LIST_CATEGORIES = {"people": "public_figures", "brands": "copyright"}
_MINOR = re.compile(
    r"\b(child|children|kid|kids|minor|minors|underage|under-age|preteen|pre-teen|teen|teens|teenager|teenagers|"
    r"schoolgirl|schoolgirls|schoolboy|schoolboys|toddler|toddlers|infant|infants|baby|babies|loli|lolita|shota|"
    r"little (girl|boy)s?|young (girl|boy)s?|(1[0-7]|[1-9])[ -]?(year|yr)s?[ -]?old)\b"
)


@dataclass
class Decision:
    """allowed, the categories that blocked, every category's score, and a one-line reason."""

    allowed: bool
    categories: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = "allowed"

    def to_dict(self) -> dict:
        return {
            "allowed": self.allowed,
            "categories": list(self.categories),
            "scores": {k: round(float(v), 4) for k, v in self.scores.items()},
            "reason": self.reason,
        }


FEATURES = ("tokens", "mean")


class Head(nn.Module):
    """Token states (B, L, dim) and their mask (B, L) -> one logit per category; `features` as the module says."""

    def __init__(
        self, dim: int = 384, hidden: int = 128, categories: tuple[str, ...] = CATEGORIES, features: str = "tokens"
    ):
        super().__init__()
        if features not in FEATURES:
            raise ValueError(f"head features {features!r}: use one of {', '.join(FEATURES)}")
        self.categories, self.features = tuple(categories), features
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.1), nn.Linear(hidden, len(categories)))

    def forward(self, states: Tensor, mask: Tensor) -> Tensor:  # (B, L, dim), (B, L) -> (B, C) logits
        m = mask.unsqueeze(-1)
        if self.features == "mean":
            mean = (states * m).sum(1) / m.sum(1).clamp(min=1)
            return self.net(nn.functional.normalize(mean, dim=-1))
        units = self.net[1](self.net[0](nn.functional.normalize(states, dim=-1)))
        return self.net[3](self.net[2](units.masked_fill(~m, -torch.inf).amax(1)))

    def forward_packed(self, tokens: Tensor, prompt: Tensor, n: int) -> Tensor:
        """The same logits from the tokens of n prompts laid end to end (T, dim) and each token's prompt index (T,);
        for training on thousands of prompts without padding them to the longest."""
        if self.features == "mean":
            sums = tokens.new_zeros(n, tokens.shape[1]).index_add_(0, prompt, tokens)
            counts = torch.bincount(prompt, minlength=n).clamp(min=1).unsqueeze(1)
            return self.net(nn.functional.normalize(sums / counts, dim=-1))
        units = self.net[1](self.net[0](nn.functional.normalize(tokens, dim=-1)))
        index = prompt.unsqueeze(1).expand(-1, units.shape[1])
        pooled = units.new_full((n, units.shape[1]), -torch.inf).scatter_reduce(0, index, units, "amax")
        return self.net[3](self.net[2](pooled))

    def save(self, folder: Path, extra: dict | None = None) -> None:
        """config.json and model.safetensors (float16: the head is small and its logits barely move)."""
        from kinema.io import atomic_path, atomic_write_text

        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "dim": self.net[0].in_features,
            "hidden": self.net[0].out_features,
            "categories": self.categories,
            "features": self.features,
        }
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file({k: v.detach().half().contiguous() for k, v in self.state_dict().items()}, str(tmp))
        atomic_write_text(folder / "config.json", json.dumps({**config, **(extra or {})}, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Head:
        folder = Path(folder)
        if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
            raise ValueError(f"moderation head '{folder}': needs config.json and model.safetensors")
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        head = cls(config["dim"], config["hidden"], tuple(config["categories"]), config.get("features", "mean"))
        head.load_state_dict({k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()})
        return head.eval()


def encode(encoder, prompts: list[str]) -> tuple[Tensor, Tensor]:
    """Token states (B, L, dim) float32 on the CPU and their mask (B, L) of the normalised prompts."""
    states, mask = encoder.encode([normalize(p) for p in prompts])
    return states.float().cpu(), mask.cpu()  # a shared encoder may sit on a GPU


def threshold(level: str | float) -> float | None:
    """'strict' | 'default' | 'off' | a number in (0, 1) -> a probability threshold, or None for off."""
    if isinstance(level, str):
        if level not in LEVELS:
            raise ValueError(f"threshold {level!r}: use strict, default, off or a number in (0, 1)")
        return LEVELS[level]
    if not 0 < float(level) < 1:
        raise ValueError(f"threshold {level!r}: a number must lie in (0, 1)")
    return float(level)


class PromptModerator:
    """check(text) -> Decision. `encoder` is a kinema text encoder (default: MiniLM, loaded on first use)."""

    def __init__(
        self,
        head: Head,
        lists: list[TermList],
        thresholds: dict[str, str | float] | None = None,
        encoder=None,
    ):
        self.head, self.lists, self._encoder = head, lists, encoder
        thresholds = dict(thresholds or {})
        unknown = set(thresholds) - set(head.categories)
        if MINORS_CATEGORY in unknown:
            raise ValueError(f"{MINORS_CATEGORY} is always blocked; it has no threshold to set")
        if unknown:
            raise ValueError(
                f"thresholds for unknown categories {sorted(unknown)}; known: {', '.join(head.categories)}"
            )
        self.thresholds = {c: threshold(thresholds.get(c, "default")) for c in head.categories}

    @property
    def encoder(self):
        if self._encoder is None:
            from kinema.models.text import MiniLMEncoder

            self._encoder = MiniLMEncoder()
        return self._encoder

    @torch.no_grad()
    def scores(self, texts: list[str]) -> list[tuple[dict[str, float], dict[str, list[str]]]]:
        """Per text: head probabilities per category, raised to 1 where a list name matches; the matches."""
        probs_all = []
        for i in range(0, len(texts), 64):
            probs_all.append(torch.sigmoid(self.head(*encode(self.encoder, texts[i : i + 64]))))
        out = []
        for text, probs in zip(texts, torch.cat(probs_all)):
            scores = {c: float(p) for c, p in zip(self.head.categories, probs)}
            matches: dict[str, list[str]] = {}
            for term_list in self.lists:
                found = term_list.find(text)
                if found:
                    matches[term_list.category] = found
                    scores[term_list.category] = 1.0
            out.append((scores, matches))
        return out

    def check(self, text: str) -> Decision:
        return self.check_many([text])[0]

    def check_many(self, texts: list[str]) -> list[Decision]:
        """One Decision per text, the texts embedded in batches."""
        if not texts:
            return []
        for text in texts:
            if not isinstance(text, str):
                raise ValueError(f"prompt must be a string; got {type(text).__name__}")
        return [self._decide(text, *found) for text, found in zip(texts, self.scores(texts))]

    def _decide(self, text: str, scores: dict[str, float], matches: dict[str, list[str]]) -> Decision:
        minors = bool(_MINOR.search(normalize(text)))
        scores[MINORS_CATEGORY] = scores.get("sexual", 0.0) if minors else 0.0
        blocked = [c for c, t in self.thresholds.items() if t is not None and scores[c] >= t]
        if minors and scores["sexual"] >= LEVELS["strict"]:
            blocked.insert(0, MINORS_CATEGORY)
        if not blocked:
            return Decision(True, [], scores, "allowed")
        first = blocked[0]
        if first in matches:
            why = f"names {', '.join(matches[first])} on the {first} list"
        elif first == MINORS_CATEGORY:
            why = "sexual content involving a minor (always blocked)"
        else:
            why = f"{first} score {scores[first]:.2f} over threshold {self.thresholds[first]:.2f}"
        return Decision(False, blocked, scores, f"blocked: {why}")


def load_lists(people: list[Path] | None = None, brands: list[Path] | None = None, defaults: bool = True) -> list:
    """The shipped lists (unless defaults=False) plus the operator's files."""
    out = []
    for kind, extra in (("people", people or []), ("brands", brands or [])):
        paths = ([ASSETS / "lists" / f"{kind}.txt"] if defaults else []) + [Path(p) for p in extra]
        out.append(TermList.from_files(LIST_CATEGORIES[kind], paths))
    return out
