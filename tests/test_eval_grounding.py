"""`kinema eval grounding`: prompts that differ in one word group, the pixel change each causes, and the CLI."""

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
from test_pipeline import tiny
from typer.testing import CliRunner

from kinema.cli import app
from kinema.eval.grounding import (
    GROUPS,
    PLACES,
    direction_gap,
    eval_grounding,
    loss_gaps,
    moving_prompt,
    moving_scene,
    opposite,
    prompt_sets,
    still_scene,
    word_sets,
)
from kinema.world.caption import place_phrases
from kinema.world.judge import judge
from kinema.world.render import render
from kinema.world.vocab import COLORS

runner = CliRunner()


def test_each_variant_changes_only_its_word_group():
    sets = prompt_sets(20, seed=3)
    assert sets == prompt_sets(20, seed=3) and sets != prompt_sets(20, seed=4)
    for item in sets:
        base = item["base"].split()
        for g in GROUPS:
            words = item[g].split()
            head = next(i for i, (a, b) in enumerate(zip(base, words)) if a != b)
            tail = next(i for i, (a, b) in enumerate(zip(base[::-1], words[::-1])) if a != b)
            old, new = base[head : len(base) - tail], words[head : len(words) - tail]
            if g == "position":  # "in the upper left corner" -> "on the left side": the place phrase alone
                assert head >= base.index("A") + 4 and len(base) - tail <= base.index("stays")
            else:  # one word: "red" -> "blue", "star" -> "ring", "small" -> "medium-sized"
                assert len(old) == len(new) == 1
    # places are worded as the world's captions word them
    assert all(PLACES[r] in place_phrases(r) for r in PLACES)


class ColourOnly:
    """A fake pipeline that listens to colour words alone (as the CPU-trained default model nearly does): it paints
    the named colour, plus one pixel that depends on the seed."""

    def __call__(self, prompt, num_frames, seed, upsample):
        rgb = next(COLORS[w] for w in prompt.split() if w in COLORS)
        img = np.full((1, 8, 8, 3), rgb, dtype=np.uint8)
        img[0, seed % 8, seed // 8 % 8] = 0
        return SimpleNamespace(frames=img)


def test_the_measure_sees_which_words_a_model_listens_to():
    r = eval_grounding(ColourOnly(), n=6, seed=1, progress=False)
    assert r["change"]["color"] > 10 and [r["change"][g] for g in ("shape", "size", "position")] == [0.0] * 3
    assert r["seed_change"] > 0 and r["relative"]["color"] > 1


def test_a_model_that_ignores_the_prompt_changes_nothing_but_with_the_seed():
    pipe = tiny()
    pipe.config = dataclasses.replace(pipe.config, guidance=0.0, num_steps=2)  # v = v(null prompt): text unused
    r = eval_grounding(pipe, n=2, progress=False)
    assert r["change"] == {g: 0.0 for g in GROUPS} and r["seed_change"] > 0
    assert r["relative"] == {g: 0.0 for g in GROUPS}


def test_cli_writes_json_and_sheet_and_rejects_bad_n(tmp_path):
    model = tmp_path / "model"
    tiny().save_pretrained(model)
    out = tmp_path / "g"
    r = runner.invoke(app, ["eval", "grounding", "--model", str(model), "--n", "2", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert set(result) == {"n", "change", "seed_change", "relative", "seconds", "loss_gap"} and result["n"] == 2
    assert set(result["loss_gap"]) == {*GROUPS, "direction"}
    assert json.loads((out / "grounding.json").read_text()) == result and (out / "grounding.png").stat().st_size > 0
    r = runner.invoke(app, ["eval", "grounding", "--model", str(model), "--n", "0", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--n 0" in r.stderr and not (tmp_path / "x").exists()


def test_the_still_scene_is_what_its_prompt_says_by_the_judge():
    from kinema.world.claims import claims
    from kinema.world.judge import judge
    from kinema.world.render import render

    for item in word_sets(6, seed=2):
        scene = still_scene(item["base"], 64, 64, 12.0)
        report = judge(render(scene), 12.0, claims(scene))
        assert report.score == 1.0, [c for c in report.checks if not c.passed]
        assert {c.category for c in report.checks} >= {"color", "shape", "size", "position"}


def test_a_moving_clip_is_what_its_prompt_says_and_the_opposite_prompt_differs_in_direction_only():
    from kinema.world.vocab import DIRECTIONS

    words = word_sets(1, seed=2)[0]["base"]
    for way in DIRECTIONS:
        back = opposite(way)
        assert back != way and opposite(back) == way
        scene = moving_scene(words, way, 64, 64, 12.0, 25 / 12)
        report = judge(render(scene), 12.0, scene)
        assert report.score == 1.0 and "motion" in {c.category for c in report.checks}
        a, b = moving_prompt(words, way, 2.0, 7).split(), moving_prompt(words, back, 2.0, 7).split()
        changed = [(x, y) for x, y in zip(a, b) if x != y]
        assert len(a) == len(b) and 1 <= len(changed) <= 2, changed  # "left" -> "right", "upper" -> "lower", ...
        assert all(x in ("left", "right", "up", "down", "upper", "lower", "leftward", "rightward", "upward",
                         "downward") for pair in changed for x in pair), changed  # fmt: skip


def test_loss_gaps_are_zero_for_a_dit_that_cannot_read_text_and_not_otherwise():
    pipe = tiny()
    gaps = loss_gaps(pipe, n=2)
    assert set(gaps) == set(GROUPS) and any(abs(v) > 0 for v in gaps.values())
    for block in pipe.dit.blocks:  # the prompt enters through cross-attention alone
        block.cross.proj.weight.data.zero_()
        block.cross.proj.bias.data.zero_()
    assert loss_gaps(pipe, n=2) == {g: 0.0 for g in GROUPS}
    with pytest.raises(ValueError, match="n 0"):
        loss_gaps(pipe, n=0)


def test_direction_gap_is_zero_for_a_dit_that_cannot_read_text_and_not_otherwise():
    pipe = tiny()
    for block in pipe.dit.blocks:  # a random DiT barely reads its prompt: make the prompt matter
        block.cross.proj.weight.data.mul_(1000.0)
    assert abs(direction_gap(pipe, n=2)) > 1e-5
    for block in pipe.dit.blocks:
        block.cross.proj.weight.data.zero_()
        block.cross.proj.bias.data.zero_()
    assert direction_gap(pipe, n=2) == 0.0
    with pytest.raises(ValueError, match="n 0"):
        direction_gap(pipe, n=0)
