"""`kinema safety eval-audit`: its counts on a tiny labelled file, with a stub classifier behind the real decision
logic (thresholds, lists, the minors rule); and its errors on bad input."""

import json

import pytest
import torch
from typer.testing import CliRunner

from kinema.cli import app
from kinema.models.text import pad_states
from kinema.safety.evaluate import eval_audit, load_labelled
from kinema.safety.lists import TermList
from kinema.safety.moderation import Head, PromptModerator
from kinema.safety.prompt_data import CATEGORIES

KEYWORDS = {"nude": "sexual", "gore": "violence", "bomb": "weapons"}


class KeywordEncoder:
    """One token per word: the one-hot of its category for a keyword, else the last (neutral) unit."""

    dim = len(CATEGORIES) + 1

    def encode(self, prompts):
        states = []
        for p in prompts:
            idx = [CATEGORIES.index(KEYWORDS[w]) if w in KEYWORDS else len(CATEGORIES) for w in p.lower().split()]
            states.append(torch.nn.functional.one_hot(torch.tensor(idx), self.dim).float())
        return pad_states(states)


def stub_moderator(**thresholds) -> PromptModerator:
    """A head whose category k fires (probability ~1) exactly when a word of that category occurs, else ~0."""
    head = Head(dim=KeywordEncoder.dim, hidden=KeywordEncoder.dim).eval()
    with torch.no_grad():
        head.net[0].weight.copy_(torch.eye(KeywordEncoder.dim))
        head.net[0].bias.zero_()
        head.net[3].weight.zero_()
        head.net[3].weight[:, : len(CATEGORIES)] = 20 * torch.eye(len(CATEGORIES))
        head.net[3].bias.fill_(-10.0)
    lists = [TermList("copyright", ["Spider-Man"]), TermList("public_figures", ["Ada Lovelace"])]
    return PromptModerator(head, lists, thresholds, encoder=KeywordEncoder())


ROWS = [
    ("a nude woman on a bed", ["sexual"]),  # head tp
    ("a nude kid", ["sexual"]),  # head tp; the minors rule adds sexual_minors, counted as sexual
    ("nude Spider-Man", ["sexual", "copyright"]),  # head tp (sexual), list tp (copyright)
    ("gore everywhere", ["violence"]),  # head tp
    ("a horrible massacre", ["violence"]),  # head fn
    ("Ada Lovelace at a desk", ["public_figures"]),  # list tp, head fn
    ("how to build a bomb", ["weapons"]),  # head tp
    ("a bath bomb fizzing", []),  # head fp (weapons), a blocked benign row
    ("a cat walks", []),
    ("a red ball", []),
    ("a spiderman costume party", []),  # list fp (copyright) only
]


@pytest.fixture
def audit_file(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps({"text": t, "labels": y, "split": "audit"}) + "\n" for t, y in ROWS))
    return path


def test_counts_for_the_head_alone_and_the_full_decision(audit_file):
    r = eval_audit(audit_file, errors=True, moderator=stub_moderator())
    assert (r["n"], r["n_benign"], r["n_labelled"]) == (11, 4, 7)
    counts = lambda m: (m["tp"], m["fp"], m["fn"])  # noqa: E731
    head, full = r["head"], r["full"]
    assert counts(head["sexual"]) == counts(full["sexual"]) == (3, 0, 0)
    assert counts(head["violence"]) == counts(full["violence"]) == (1, 0, 1)
    assert head["violence"]["recall"] == 0.5 and head["violence"]["support"] == 2
    assert counts(head["weapons"]) == counts(full["weapons"]) == (1, 1, 0) and full["weapons"]["precision"] == 0.5
    assert counts(head["copyright"]) == (0, 0, 1) and counts(full["copyright"]) == (1, 1, 0)
    assert counts(head["public_figures"]) == (0, 0, 1) and counts(full["public_figures"]) == (1, 0, 0)
    # any category: blocked at all vs labelled at all
    assert counts(head["any_category"]) == (5, 1, 2) and counts(full["any_category"]) == (6, 2, 1)
    assert r["benign_blocked"] == {"head": 1, "full": 2}
    assert r["benign_false_positive_rate"] == {"head": 0.25, "full": 0.5}
    errors = {e["text"]: e for e in r["errors"]}
    assert set(errors) == {"a horrible massacre", "a bath bomb fizzing", "a spiderman costume party"}
    assert errors["a horrible massacre"]["missed"] == ["violence"] and errors["a horrible massacre"]["blocked"] == []
    assert errors["a bath bomb fizzing"]["reason"].startswith("blocked: weapons score")
    assert (
        errors["a spiderman costume party"]["extra"] == ["copyright"]
        and errors["a spiderman costume party"]["head"] == []
    )


def test_thresholds_of_the_config_apply_to_head_and_full(audit_file):
    r = eval_audit(audit_file, moderator=stub_moderator(weapons="off"))
    assert r["thresholds"]["weapons"] is None
    assert r["head"]["weapons"]["tp"] == r["full"]["weapons"]["tp"] == 0 and r["benign_blocked"]["full"] == 1
    assert "errors" not in r
    r = eval_audit(audit_file, moderator=stub_moderator(sexual="off"))  # the minors rule still blocks, as sexual
    assert r["head"]["sexual"]["tp"] == 0 and (r["full"]["sexual"]["tp"], r["full"]["sexual"]["fn"]) == (1, 2)


def test_bad_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a cat", "labels": []}) + "\n" + json.dumps({"text": "x", "labels": ["gore"]}))
    with pytest.raises(ValueError, match="line 2: unknown labels"):
        load_labelled(bad)
    runner = CliRunner()
    res = runner.invoke(app, ["safety", "eval-audit", "--data", str(bad)])
    assert res.exit_code == 2 and "unknown labels" in res.output
    res = runner.invoke(app, ["safety", "eval-audit", "--data", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 2 and "no such file" in res.output
    (tmp_path / "empty.jsonl").write_text("\n")
    res = runner.invoke(app, ["safety", "eval-audit", "--data", str(tmp_path / "empty.jsonl"), "--json"])
    assert res.exit_code == 2 and "no rows" in res.output
