"""Faults: a run killed with SIGKILL resumes to the same student; a NaN stops cleanly; same seed, same student."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import make_tokenizer, tiny_bert, tiny_dataset
from safetensors.torch import load_file
from transformers import DataCollatorWithPadding, TrainerCallback

from hf_distill import DistillationConfig, DistillationTrainer
from hf_distill.layer_map import PROJECTIONS_FILE

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers", "train_worker.py")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def run_worker(*args, timeout=240):
    return subprocess.run([sys.executable, WORKER, *args], env=ENV, capture_output=True, text=True, timeout=timeout)


def build_worker_cache(path):
    """The teacher cache the worker's losses need (hidden 2:1, 4:2; MiniLM relations q, k, v on the same pairs)."""
    from hf_distill import build_teacher_cache

    tok = make_tokenizer()
    build_teacher_cache(tiny_bert(num_layers=4, hidden=32, seed=1), tok, tiny_dataset(tok, n=32), str(path),
                        layers_hidden=[2, 4], layers_attention=[2, 4], parts={"q", "k", "v"}, max_length=16)
    return str(path)


@pytest.mark.parametrize("with_cache", [False, True], ids=["live_teacher", "teacher_cache"])
def test_sigkill_then_resume_gives_the_same_student(tmp_path, with_cache):
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    extra = ["--cache", build_worker_cache(tmp_path / "cache")] if with_cache else []
    done = run_worker(full, *extra)
    assert done.returncode == 0, done.stderr[-2000:]

    os.makedirs(cut)
    proc = subprocess.Popen([sys.executable, WORKER, cut, "--hang-after-save", "4", *extra], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not os.path.exists(os.path.join(cut, "saved-4")):
        assert proc.poll() is None and time.time() < deadline, "worker died or never reached the checkpoint"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # no clean-up, no final save
    proc.wait()
    assert not os.path.exists(os.path.join(cut, "final"))

    resumed = run_worker(cut, "--resume", os.path.join(cut, "checkpoint-4"), *extra)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = load_file(os.path.join(full, "final", "model.safetensors"))
    b = load_file(os.path.join(cut, "final", "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    pa = load_file(os.path.join(full, "final", PROJECTIONS_FILE))
    pb = load_file(os.path.join(cut, "final", PROJECTIONS_FILE))
    for key in pa:
        assert torch.allclose(pa[key], pb[key], atol=1e-5), key


class PoisonAfterSave(TrainerCallback):
    """Break the student right after checkpoint-2 is written: the next loss is NaN."""

    def on_save(self, args, state, control, model=None, **kwargs):
        if state.global_step == 2:
            with torch.no_grad():
                model.classifier.weight.fill_(float("nan"))


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    tok = make_tokenizer()
    args = DistillationConfig(output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=8,
                              save_strategy="steps", save_steps=2, report_to=[], use_cpu=True, disable_tqdm=True)
    trainer = DistillationTrainer(model=tiny_bert(num_layers=2, seed=2), teacher=tiny_bert(num_layers=4, seed=1),
                                  args=args, train_dataset=tiny_dataset(tok), processing_class=tok,
                                  data_collator=DataCollatorWithPadding(tok), callbacks=[PoisonAfterSave()])
    with pytest.raises(FloatingPointError, match="loss is nan at step 2.*checkpoints already in .* are kept"):
        trainer.train()
    weights = load_file(str(tmp_path / "checkpoint-2" / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (tmp_path / "checkpoint-4").exists()


def test_same_seed_same_student(tmp_path):
    def train(out):
        tok = make_tokenizer()
        args = DistillationConfig(output_dir=str(out), max_steps=4, per_device_train_batch_size=8, seed=7,
                                  hidden_weight=1.0, attention_weight=1.0, report_to=[], use_cpu=True,
                                  save_strategy="no", disable_tqdm=True, learning_rate=1e-3)
        student = tiny_bert(num_layers=2, seed=2)
        DistillationTrainer(model=student, teacher=tiny_bert(num_layers=4, seed=1), args=args,
                            train_dataset=tiny_dataset(tok), processing_class=tok,
                            data_collator=DataCollatorWithPadding(tok)).train()
        return student.state_dict()

    a, b = train(tmp_path / "a"), train(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
