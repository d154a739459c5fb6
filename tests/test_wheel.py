"""The wheel holds everything the package reads at run time: built from the repo, installed non-editable into a
fresh virtualenv (the pinned CPU torch first), the smoke pipeline runs there and writes the card."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import make_tokenizer, tiny_bert
from test_cli import sentences, write_rows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH = "torch==2.13.0"


def sh(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.mark.slow
def test_wheel_installs_and_runs_the_pipeline_outside_the_checkout(tmp_path):
    # built from a copy of the sources: a checkout's stale build/ (modules since removed) cannot leak into it
    src = tmp_path / "src"
    shutil.copytree(os.path.join(REPO, "hf_distill"), src / "hf_distill", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), src / name)
    wheels = tmp_path / "wheels"
    sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)])
    (wheel,) = wheels.glob("hf_distill-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "hf_distill/templates/card.md" in names and "hf_distill/metrics/accuracy/accuracy.py" in names
    modules = {n for n in names if n.startswith("hf_distill/") and n.endswith(".py")}
    assert modules == {os.path.relpath(os.path.join(d, f), REPO) for d, _, fs in os.walk(os.path.join(REPO, "hf_distill"))
                       for f in fs if f.endswith(".py")}

    venv = tmp_path / "venv"
    sh([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    sh(pip + [TORCH])
    sh(pip + [str(wheel)])

    pretrained = tmp_path / "pretrained"
    tiny_bert(num_layers=2, hidden=32, heads=4, seed=3).save_pretrained(pretrained)
    make_tokenizer().save_pretrained(pretrained)
    train = write_rows(tmp_path / "train.csv", sentences(16))
    val = write_rows(tmp_path / "val.csv", sentences(6))
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    sh([str(venv / "bin" / "hf-distill"), "pipeline", "--pretrained_model", str(pretrained), "--train_file", train,
        "--validation_file", val, "--output_dir", str(out), "--student_num_layers", "1", "--max_steps", "2",
        "--per_device_train_batch_size", "8", "--use_cpu", "true", "--report_to", "none", "--save_strategy", "no",
        "--latency_runs", "2", "--latency_warmup", "1", "--results_file", str(tmp_path / "res.json")],
       cwd=tmp_path, env=env)
    where = sh([str(venv / "bin" / "python"), "-c", "import hf_distill; print(hf_distill.__file__)"], cwd=tmp_path, env=env)
    assert str(venv) in where.stdout and REPO not in where.stdout  # the installed copy ran, not the checkout
    card = (out / "student" / "README.md").read_text()
    assert "hf_distill" in card and "distillation" in card
    assert json.loads((tmp_path / "res.json").read_text())["student"]["num_layers"] == 1
