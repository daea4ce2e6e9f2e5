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
