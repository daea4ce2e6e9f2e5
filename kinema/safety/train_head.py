"""Train the moderation head on the shipped prompt set by cross-fitting: one head per fold learns the other three folds
and predicts its own; those out-of-fold predictions (validation rows for every head) choose each category's
threshold, and the shipped head is the four merged. Precision and recall are reported on `test`, whose templates,
names and other slot words, prefixes and suffixes no fold uses (kinema/safety/prompt_data.py)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from rich.progress import Progress
from torch import nn

from .lists import TermList
from .moderation import HEAD_DIR, LEVELS, Head, encode, load_lists
from .prompt_data import CATEGORIES, FOLDS, load

# Chosen on validation rows (mean average precision over the categories, on a train/val version of this set): token
# features over the mean-pooled state (0.88 against 0.81), mini-batches for 30 epochs, unweighted positives, weight
# decay 0.1, and the mean of several heads, which scores like their average without their spread (copyright 0.67 to
# 0.77 from one seed to another).
EPOCHS = 30
BATCH = 128
HIDDEN = 128
POS_WEIGHT = 1.0
WEIGHT_DECAY = 0.1
# Where the validation rows may put a category's threshold. F1 on them is flat over wide ranges (one head's sexual F1
# was 0.83 to 0.86 from 0.1 to 0.94), so its best point can sit at an edge by a few rows; and the set holds far more
# harmful prompts than real use does, so a very low threshold gains little on the set and blocks more benign prompts
# in use ("lion" as copyright at 0.09). Within 0.2 to 0.8 the tuned default also stays apart from the strict level.
THRESHOLD_RANGE = (0.2, 0.8)


def _targets(rows: list[dict]) -> torch.Tensor:
    return torch.tensor([[float(c in r["labels"]) for c in CATEGORIES] for r in rows])


def precision_recall(pred: torch.Tensor, target: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per category (and for "any_category": blocked at all vs labelled at all) precision, recall, support and the
    counts behind them, from boolean (N, C) predictions and targets."""
    out = {}
    columns = [(c, pred[:, i], target[:, i]) for i, c in enumerate(CATEGORIES)]
    columns.append(("any_category", pred.any(1), target.any(1)))
    for name, p, t in columns:
        tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
        out[name] = {
            "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
            "support": tp + fn,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
    return out


def list_hits(lists: list[TermList], texts: list[str]) -> torch.Tensor:
    """(N, C) booleans: a name from a category's list occurs in the text."""
    hits = torch.zeros(len(texts), len(CATEGORIES), dtype=torch.bool)
    for term_list in lists:
        i = CATEGORIES.index(term_list.category)
        hits[:, i] = torch.tensor([bool(term_list.find(t)) for t in texts])
    return hits


class Packed:
    """The token states of many prompts laid end to end: `tokens` (T, dim), `prompt` (T,) the row of each token (each
    prompt's tokens together, prompts in order)."""

    def __init__(self, tokens: torch.Tensor, prompt: torch.Tensor, n: int):
        self.tokens, self.prompt, self.n = tokens, prompt, n
        counts = torch.bincount(prompt, minlength=n)
        self.ends = torch.cumsum(counts, 0)
        self.starts = self.ends - counts

    def select(self, rows: torch.Tensor) -> Packed:
        """The prompts at `rows` (indices, or a boolean mask over the n prompts), renumbered in that order."""
        if rows.dtype == torch.bool:
            rows = torch.nonzero(rows).flatten()
        counts = self.ends[rows] - self.starts[rows]
        prompt = torch.repeat_interleave(torch.arange(len(rows)), counts)
        offsets = torch.arange(len(prompt)) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        return Packed(self.tokens[self.starts[rows][prompt] + offsets], prompt, len(rows))

    def logits(self, head: Head) -> torch.Tensor:
        return head.forward_packed(self.tokens, self.prompt, self.n)


def encode_rows(rows: list[dict], encoder, progress: bool, batch: int = 64) -> Packed:
    """Encode the rows' texts (shortest first, so batches pad little) into a Packed set in the rows' order."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["text"]))
    states: list[torch.Tensor | None] = [None] * len(rows)
    with torch.no_grad(), Progress(disable=not progress) as bar:
        task = bar.add_task("encoding prompts", total=len(rows))
        for start in range(0, len(order), batch):
            ids = order[start : start + batch]
            padded, mask = encode(encoder, [rows[i]["text"] for i in ids])
            for i, s, m in zip(ids, padded, mask):
                states[i] = s[m].clone()
            bar.advance(task, len(ids))
    lengths = torch.tensor([len(s) for s in states])
    return Packed(torch.cat(states), torch.repeat_interleave(torch.arange(len(rows)), lengths), len(rows))


def _encoder(encoder):
    if encoder is not None:
        return encoder
    from kinema.models.text import MiniLMEncoder

    return MiniLMEncoder()


def heldout_metrics(head: Head, packed: Packed, test: list[dict]) -> dict:
    """Precision/recall per category of `head` on held-out rows (their token states `packed`): the head alone at the
    default and strict thresholds, and the head with the shipped lists at the default."""
    head.eval()
    with torch.no_grad():
        probs = torch.sigmoid(packed.logits(head))
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
    packed = encode_rows(test, _encoder(encoder), progress)
    return {"n_test": len(test), **heldout_metrics(Head.load(head_dir), packed, test)}


def tune_thresholds(probs: torch.Tensor, target: torch.Tensor) -> list[float]:
    """Per category the threshold in THRESHOLD_RANGE (steps of 0.01) with the best F1 on these rows; on a tie the
    middle of the tied thresholds."""
    grid = torch.arange(round(THRESHOLD_RANGE[0] * 100), round(THRESHOLD_RANGE[1] * 100) + 1) / 100
    out = []
    for i in range(target.shape[1]):
        pred = probs[:, i : i + 1] >= grid  # (N, G)
        t = target[:, i : i + 1].bool()
        tp, fp, fn = (pred & t).sum(0), (pred & ~t).sum(0), (~pred & t).sum(0)
        f1 = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
        best = torch.nonzero(f1 == f1.max()).flatten()
        out.append(round(float(grid[best[len(best) // 2]]), 2))
    return out


def fold_thresholds(head: Head, thresholds: list[float]) -> None:
    """Shift each category's logit so that its threshold becomes 0.5 (the default level)."""
    with torch.no_grad():
        head.net[-1].bias -= torch.tensor([math.log(t / (1 - t)) for t in thresholds])


def fit(
    head: Head,
    packed: Packed,
    target: torch.Tensor,
    epochs: int = EPOCHS,
    batch: int = BATCH,
    lr: float = 2e-3,
    weight_decay: float = WEIGHT_DECAY,
    pos_weight: float = POS_WEIGHT,
    seed: int = 0,
    progress: bool = False,
) -> float:
    """Fit `head` to `target` (N, C) on the N packed prompts: AdamW on shuffled mini-batches, BCE with the positives
    weighted up; returns the last epoch's mean loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.full((target.shape[1],), float(pos_weight)))
    head.train()
    with Progress(disable=not progress) as bar:
        task = bar.add_task("training the head", total=epochs)
        for _ in range(epochs):
            total = 0.0
            for rows in torch.randperm(packed.n, generator=gen).split(batch):
                opt.zero_grad()
                loss = loss_fn(packed.select(rows).logits(head), target[rows])
                loss.backward()
                opt.step()
                total += loss.item() * len(rows)
            bar.advance(task)
    head.eval()
    return total / packed.n


def merge(heads: list[Head]) -> Head:
    """One head whose logits are the mean of the heads' logits: their hidden units side by side (each unit is pooled
    on its own, so this is exact) and their last layers averaged."""
    first = heads[0]
    merged = Head(first.net[0].in_features, sum(h.net[0].out_features for h in heads), first.categories, first.features)
    with torch.no_grad():
        merged.net[0].weight.copy_(torch.cat([h.net[0].weight for h in heads]))
        merged.net[0].bias.copy_(torch.cat([h.net[0].bias for h in heads]))
        merged.net[3].weight.copy_(torch.cat([h.net[3].weight for h in heads], 1) / len(heads))
        merged.net[3].bias.copy_(torch.stack([h.net[3].bias for h in heads]).mean(0))
    return merged.eval()


def train_head(
    data: Path, out: Path = HEAD_DIR, encoder=None, epochs: int = EPOCHS, seed: int = 0, progress: bool = True
) -> dict:
    """Encode the prompts, cross-fit one head per fold (seeds seed, seed + 1, ...), choose the thresholds on their
    out-of-fold predictions, merge the heads and fold the thresholds in, save it to `out`; return its
    precision/recall on `test`."""
    rows = load(data)
    splits = {s: [r for r in rows if r["split"] == s] for s in (*FOLDS, "test")}
    if not all(splits.values()):
        raise ValueError(f"prompt set '{data}': needs rows in each of the splits {', '.join(splits)}")
    packed = encode_rows(rows, _encoder(encoder), progress)
    target = _targets(rows)
    split_of = [r["split"] for r in rows]
    heads, losses, oof_probs, oof_rows = [], [], [], []
    for k, fold in enumerate(FOLDS):
        learn = torch.tensor([s in FOLDS and s != fold for s in split_of])
        held = torch.tensor([s == fold for s in split_of])
        torch.manual_seed(seed + k)
        heads.append(Head(packed.tokens.shape[1], HIDDEN))
        losses.append(fit(heads[-1], packed.select(learn), target[learn], epochs, seed=seed + k, progress=progress))
        with torch.no_grad():
            oof_probs.append(torch.sigmoid(packed.select(held).logits(heads[-1])))
        oof_rows.append(held)
    oof_target = torch.cat([target[held] for held in oof_rows])
    thresholds = tune_thresholds(torch.cat(oof_probs), oof_target)
    head = merge(heads)
    fold_thresholds(head, thresholds)
    head.load_state_dict({k: v.half().float() for k, v in head.state_dict().items()})  # measure what ships (float16)
    oof_pred = torch.cat(oof_probs) >= torch.tensor(thresholds)
    test = torch.tensor([s == "test" for s in split_of])
    metrics = {
        "n_folds": len(oof_target),
        "n_test": len(splits["test"]),
        "final_loss": round(sum(losses) / len(losses), 4),
        "val_thresholds": dict(zip(CATEGORIES, thresholds)),
        "out_of_fold": precision_recall(oof_pred, oof_target.bool()),  # validation: what chose the thresholds
        **heldout_metrics(head, packed.select(test), splits["test"]),
    }
    recipe = {"epochs": epochs, "folds": len(FOLDS), "seeds": [seed + k for k in range(len(FOLDS))]}
    head.save(Path(out), {"trained_on": str(Path(data).name), **recipe, "pos_weight": POS_WEIGHT, "heldout": metrics})
    return metrics
