"""Train the moderation head on the shipped prompt set and measure it on the held-out split."""

from __future__ import annotations

from pathlib import Path

import torch
from rich.progress import Progress
from torch import nn

from .lists import TermList, normalize
from .moderation import HEAD_DIR, LEVELS, Head, embed, load_lists
from .prompt_data import CATEGORIES, load


def _targets(rows: list[dict]) -> torch.Tensor:
    return torch.tensor([[float(c in r["labels"]) for c in CATEGORIES] for r in rows])


def precision_recall(pred: torch.Tensor, target: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per category precision, recall and support from boolean (N, C) predictions and targets."""
    out = {}
    for i, c in enumerate(CATEGORIES):
        tp = int((pred[:, i] & target[:, i]).sum())
        fp = int((pred[:, i] & ~target[:, i]).sum())
        fn = int((~pred[:, i] & target[:, i]).sum())
        out[c] = {
            "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
            "support": tp + fn,
        }
    return out


def list_hits(lists: list[TermList], texts: list[str]) -> torch.Tensor:
    """(N, C) booleans: a name from a category's list occurs in the text."""
    hits = torch.zeros(len(texts), len(CATEGORIES), dtype=torch.bool)
    for term_list in lists:
        i = CATEGORIES.index(term_list.category)
        hits[:, i] = torch.tensor([bool(term_list.find(t)) for t in texts])
    return hits


def _embed_rows(rows: list[dict], encoder, progress: bool) -> torch.Tensor:
    with torch.no_grad(), Progress(disable=not progress) as bar:
        task = bar.add_task("embedding prompts", total=len(rows))
        embs = []
        for i in range(0, len(rows), 256):
            embs.append(embed(encoder, [normalize(r["text"]) for r in rows[i : i + 256]]))
            bar.advance(task, len(rows[i : i + 256]))
    return torch.cat(embs)


def _encoder(encoder):
    if encoder is not None:
        return encoder
    from kinema.models.text import MiniLMEncoder

    return MiniLMEncoder()


def heldout_metrics(head: Head, emb: torch.Tensor, test: list[dict]) -> dict:
    """Precision/recall per category of `head` on held-out rows (their embeddings `emb`): the head alone at the
    default and strict thresholds, and the head with the shipped lists at the default."""
    head.eval()
    with torch.no_grad():
        probs = torch.sigmoid(head(emb))
    target = _targets(test).bool()
    hits = list_hits(load_lists(), [r["text"] for r in test])
    return {
        "head_default": precision_recall(probs >= LEVELS["default"], target),
        "head_strict": precision_recall(probs >= LEVELS["strict"], target),
        "head_and_lists_default": precision_recall((probs >= LEVELS["default"]) | hits, target),
    }


def evaluate_head(data: Path, head_dir: Path = HEAD_DIR, encoder=None, progress: bool = True) -> dict:
    """Held-out precision/recall of a saved head on a prompt set (e.g. an older head on a newer set)."""
    test = [r for r in load(data) if r["split"] == "test"]
    if not test:
        raise ValueError(f"prompt set '{data}': has no rows in the test split")
    emb = _embed_rows(test, _encoder(encoder), progress)
    return {"n_test": len(test), **heldout_metrics(Head.load(head_dir), emb, test)}


def train_head(
    data: Path, out: Path = HEAD_DIR, encoder=None, epochs: int = 400, seed: int = 0, progress: bool = True
) -> dict:
    """Embed the prompts, fit the head (AdamW, full batch, BCE), save it to `out`; return held-out metrics."""
    rows = load(data)
    train = [r for r in rows if r["split"] == "train"]
    test = [r for r in rows if r["split"] == "test"]
    if not train or not test:
        raise ValueError(f"prompt set '{data}': needs rows in both the train and the test split")
    emb = _embed_rows(rows, _encoder(encoder), progress)
    is_train = torch.tensor([r["split"] == "train" for r in rows])
    x_train, x_test = emb[is_train], emb[~is_train]
    y_train = _targets(train)
    torch.manual_seed(seed)
    head = Head(emb.shape[1])
    opt = torch.optim.AdamW(head.parameters(), lr=3e-3, weight_decay=1e-2)
    # Positives are a twentieth of the rows per category; weighting them 3x trades a little precision for recall.
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.full((len(CATEGORIES),), 3.0))
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(head(x_train), y_train)
        loss.backward()
        opt.step()
    metrics = {
        "n_train": len(train),
        "n_test": len(test),
        "final_loss": round(loss.item(), 4),
        **heldout_metrics(head, x_test, test),
    }
    head.save(Path(out), {"trained_on": str(Path(data).name), "heldout": metrics})
    return metrics
