"""The VAE commands: JSON keys the issue names, and bad input as one error line with exit code 2."""

import json

import numpy as np
import torch
from typer.testing import CliRunner

from kinema.cli import app
from kinema.io import write_video
from kinema.models.vae import VAEConfig, VideoVAE

runner = CliRunner()
TINY = VAEConfig(latent_channels=4, channels=(8, 16, 16), time_kernel=(1, 3, 3))


def _folder(tmp_path):
    torch.manual_seed(0)
    VideoVAE(TINY).save_pretrained(tmp_path / "vae")
    return tmp_path / "vae"


def test_eval_vae_json_keys(tmp_path):
    r = runner.invoke(app, ["eval", "vae", "--checkpoint", str(_folder(tmp_path)), "--n", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for k in (
        "psnr",
        "ssim",
        "judge_pass",
        "compression",
        "stride",
        "latent_channels",
        "encode_frames_per_s",
        "decode_frames_per_s",
        "peak_mem_mb",
    ):
        assert k in out
    assert out["stride"] == [4, 4, 4] and out["latent_channels"] == 4
    cats = out["judge_categories"]  # the judge's pass rate per category, on the reconstructions
    assert "shape" in cats and all(0 <= v <= 1 for v in cats.values())
    assert out["refine"] == 10  # quality encodes refine the latent by default
    r = runner.invoke(
        app, ["eval", "vae", "--checkpoint", str(_folder(tmp_path)), "--n", "1", "--refine", "0", "--json"]
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["refine"] == 0


def test_roundtrip_writes_video_and_sheet(tmp_path):
    frames = (np.random.default_rng(0).random((7, 30, 34, 3)) * 255).astype(np.uint8)
    write_video(tmp_path / "in.mp4", frames, 12)
    r = runner.invoke(
        app,
        [
            "vae",
            "roundtrip",
            str(tmp_path / "in.mp4"),
            "-o",
            str(tmp_path / "out.mp4"),
            "--checkpoint",
            str(_folder(tmp_path)),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out.mp4").is_file() and (tmp_path / "out.png").is_file()


def test_bad_input_exits_2(tmp_path):
    cases = [
        ["eval", "vae", "--checkpoint", str(tmp_path / "missing")],
        ["eval", "vae", "--n", "0"],
        ["eval", "vae", "--refine", "-1"],
        ["vae", "roundtrip", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o.mp4"), "--refine", "-1"],
        ["eval", "vae", "--data", str(tmp_path / "nope.csv")],
        ["train", "vae", "--out", str(tmp_path / "r"), "--preset", "huge"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--steps", "0"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--decoder-channels", "32,x,96"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--decoder-channels", "32,64"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--decoder-blocks", "0"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--object-weight", "-1"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--object-weight", "2", "--data", str(tmp_path / "m.csv")],
        ["train", "vae", "--out", str(tmp_path / "r"), "--anchor-weight", "1"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--anchor-weight", "1", "--init", "x", "--decoder-only"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--encoder-only"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--encoder-only", "--init", "x", "--decoder-only"],
        ["vae", "roundtrip", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o.mp4")],
    ]
    for args in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert "error:" in r.stderr


def test_a_manifest_video_that_cannot_be_read_is_one_error_line(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,text,num_frames,height,width,fps\n{tmp_path / 'broken.mp4'},a clip,9,64,64,12\n")
    for args in (
        ["eval", "vae", "--checkpoint", str(_folder(tmp_path)), "--n", "1", "--data", str(manifest), "--json"],
        ["train", "vae", "--out", str(tmp_path / "r"), "--data", str(manifest), "--steps", "1", "--batch", "1"],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.count("\n") == 1 and "broken.mp4" in r.stderr and "Traceback" not in r.output


def test_train_vae_grows_a_decoder_it_cannot_shrink(tmp_path):
    from kinema.models.vae import PRESETS

    vae = tmp_path / "vae"
    VideoVAE(PRESETS["tiny"]).save_pretrained(vae)
    base = ["train", "vae", "--steps", "1", "--batch", "1", "--init", str(vae), "--decoder-only"]
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "small"), "--decoder-channels", "8,32,64"])
    assert r.exit_code == 2 and "cannot grow" in r.stderr
    assert not (tmp_path / "small").exists()  # a refused decoder leaves no run folder behind
