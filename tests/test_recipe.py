"""The default model's recipe: one command runs every stage and gives a folder the pipeline loads."""

import json

import numpy as np
import pytest
import torch

from kinema.recipe import install_model, latent_stats, load_recipe, train_default


def tiny_recipe(tmp_path):
    r = load_recipe()
    r["vae"].update(steps=2, batch=1, every=2)
    r["calibrate"].update(clips=4)
    r["vae_decoder"].update(steps=2, batch=1, every=2, crop=32)
    r["dit"].update(steps=2, batch=2, every=2, text="random", buckets=[[32, 32, 5, 1.0]])
    r["pipeline"].update(text_encoder="random", sizes=["32x32"], num_steps=2)
    r["dit_more"] = [{"steps": 2, "lr": 1e-4, "seed": 1}]
    r["vae_decoder_more"] = [{"steps": 2, "lr": 1e-4, "seed": 5}]
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(r))
    return path


def test_shipped_recipe_names_every_stage():
    r = load_recipe()
    assert {"vae", "calibrate", "dit", "pipeline"} <= set(r)


def test_recipe_runs_every_stage_and_the_pipeline_loads_the_result(tmp_path):
    from kinema.pipeline import Pipeline

    model = train_default(tmp_path / "run", tiny_recipe(tmp_path), progress=False)
    cfg = json.loads((model / "vae" / "config.json").read_text())
    # the continuation stage started from the first stage's weights and its result is the model's DiT
    from safetensors.torch import load_file as load

    first, second = (
        load(str(tmp_path / "run" / "dit" / "final" / "model.safetensors")),
        load(str(model / "dit" / "model.safetensors")),
    )
    assert load(str(tmp_path / "run" / "dit_2" / "final" / "model.safetensors")).keys() == second.keys()
    assert any(not torch.equal(first[k], second[k]) for k in first)
    settings = json.loads((tmp_path / "run" / "dit_2" / "config.json").read_text())
    assert settings["init"] == str(tmp_path / "run" / "dit" / "final") and settings["lr"] == 1e-4
    assert all(
        torch.equal(second[k], v)
        for k, v in load(str(tmp_path / "run" / "dit_2" / "final" / "model.safetensors")).items()
    )
    assert cfg["scale"] != 1.0  # calibrated
    # the decoder stage: the model's VAE has the first stage's encoder (the DiT's latent space) and the new decoder
    vae_first = load(str(tmp_path / "run" / "vae" / "final" / "model.safetensors"))
    vae_tuned = load(str(tmp_path / "run" / "vae_decoder" / "final" / "model.safetensors"))
    vae_tuned_2 = load(str(tmp_path / "run" / "vae_decoder_2" / "final" / "model.safetensors"))
    vae_model = load(str(model / "vae" / "model.safetensors"))
    assert all(torch.equal(vae_model[k], vae_first[k]) for k in vae_first if k.startswith("encoder."))
    assert all(torch.equal(vae_model[k], vae_tuned_2[k]) for k in vae_tuned_2)  # the last decoder stage
    assert any(not torch.equal(vae_first[k], vae_tuned[k]) for k in vae_first if k.startswith("decoder."))
    assert any(not torch.equal(vae_tuned[k], vae_tuned_2[k]) for k in vae_tuned if k.startswith("decoder."))
    assert json.loads((tmp_path / "run" / "vae_decoder_2" / "config.json").read_text())["init"] == str(
        tmp_path / "run" / "vae_decoder" / "final"
    )
    assert json.loads((tmp_path / "run" / "vae_decoder" / "final" / "config.json").read_text())["scale"] == cfg["scale"]
    pipe = Pipeline.from_pretrained(model, safety=False)
    video = pipe("a red ball", num_frames=5, seed=0, progress=False)
    assert video.frames.shape == (5, 32, 32, 3)
    dest = tmp_path / "assets"
    install_model(model, dest)
    assert (dest / "pipeline.json").is_file() and (dest / "dit" / "model.safetensors").is_file()
    from safetensors.torch import load_file

    assert all(v.dtype == torch.float16 for v in load_file(str(dest / "dit" / "model.safetensors")).values())
    installed = Pipeline.from_pretrained(dest, safety=False)
    assert next(installed.dit.parameters()).dtype == torch.float32
    again_video = installed("a red ball", num_frames=5, seed=0, progress=False)
    assert np.abs(again_video.frames.astype(int) - video.frames.astype(int)).mean() < 2.0
    # a second run finds every stage done and only reassembles
    again = train_default(tmp_path / "run", tiny_recipe(tmp_path), progress=False)
    assert (again / "dit" / "model.safetensors").is_file()


def test_latent_stats_calibrate_to_unit_variance():
    from kinema.models.vae import PRESETS, VideoVAE

    torch.manual_seed(0)
    vae = VideoVAE(PRESETS["tiny"]).eval()
    mean, std = latent_stats(vae, 4, 0)
    assert std > 0 and abs(mean) < 10


def test_bad_recipe_is_a_clear_error(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text('{"vae": {}}')
    with pytest.raises(ValueError, match="missing section"):
        load_recipe(bad)


def test_from_assets_runs_only_the_stages_the_installed_model_lacks(tmp_path):
    from safetensors.torch import load_file as load

    from kinema.pipeline import Pipeline

    base = json.loads(tiny_recipe(tmp_path).read_text())
    base.pop("vae_decoder_more"), base.pop("dit_more")
    first = tmp_path / "first.json"
    first.write_text(json.dumps(base))
    assets = tmp_path / "assets"
    install_model(train_default(tmp_path / "run", first, progress=False), assets)
    assert json.loads((assets / "stages.json").read_text()) == {"vae": ["vae", "vae_decoder"], "dit": ["dit"]}
    # the recipe grows by one decoder stage and one DiT stage; only those run, from the installed weights
    grown = tmp_path / "grown.json"
    grown.write_text(json.dumps({**base, "vae_decoder_more": [{"steps": 2, "seed": 7}], "dit_more": [{"steps": 2}]}))
    model = train_default(tmp_path / "next", grown, progress=False, from_assets=assets)
    assert sorted(p.name for p in (tmp_path / "next").iterdir()) == ["dit_2", "model", "vae_decoder_2"]
    assert json.loads((tmp_path / "next" / "dit_2" / "config.json").read_text())["init"] == str(assets / "dit")
    assert json.loads((tmp_path / "next" / "vae_decoder_2" / "config.json").read_text())["init"] == str(
        tmp_path / "next" / "model" / "vae"
    )
    old, new = load(str(assets / "dit" / "model.safetensors")), load(str(model / "dit" / "model.safetensors"))
    assert any(not torch.equal(old[k].float(), new[k]) for k in old)
    old_vae, new_vae = load(str(assets / "vae" / "model.safetensors")), load(str(model / "vae" / "model.safetensors"))
    assert all(torch.equal(old_vae[k].float(), new_vae[k]) for k in old_vae if k.startswith("encoder."))
    assert any(not torch.equal(old_vae[k].float(), new_vae[k]) for k in old_vae if k.startswith("decoder."))
    stages = {"vae": ["vae", "vae_decoder", "vae_decoder_2"], "dit": ["dit", "dit_2"]}
    assert json.loads((model / "stages.json").read_text()) == stages
    assert Pipeline.from_pretrained(model, safety=False)("a ball", num_frames=5, progress=False).frames.shape[0] == 5
    # a model whose stages are not a start of the recipe's cannot be continued by it
    (assets / "stages.json").write_text(json.dumps({"vae": ["vae"], "dit": ["dit_9"]}))
    with pytest.raises(ValueError, match="not a start of the recipe"):
        train_default(tmp_path / "other", grown, progress=False, from_assets=assets)
    (assets / "stages.json").unlink()
    with pytest.raises(ValueError, match="no readable stages.json"):
        train_default(tmp_path / "other", grown, progress=False, from_assets=assets)


def test_shipped_assets_name_a_start_of_the_recipes_stages():
    from kinema.recipe import ASSETS, installed_stages

    vae, dit = installed_stages(ASSETS, load_recipe())
    assert vae[0] == "vae" and dit[0] == "dit"
