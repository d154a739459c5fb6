"""What CPUs cannot measure, in one script of under 8 minutes on one GPU: steps per second of plain training,
live-teacher KD (logits; logits + hidden + attention) and the cached path in bf16, then the ZeRO-3 teacher engine
and FSDP2 with the teacher left unwrapped, each in its own `accelerate launch` process.

    python bench/gpu_check.py                # one GPU: writes bench/results/gpu.json
    python bench/gpu_check.py --dry          # CPU, tiny models, a few steps (tests/test_gpu_check.py runs it)

Models have the shapes of the suite's and random weights (speed does not depend on the weights, and the GPU machine
cannot reach PyPI): a 12-layer/768 teacher (MPNet-base sized BERT) and its 6-layer copy; inputs are random words
of SST-2-like lengths (8-64 tokens). Each mode trains `--steps` timed steps after `--warmup` untimed ones.
A section that cannot run (no deepspeed installed, one process without a GPU) is recorded with its reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast, TrainerCallback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from hf_distill import DistillationConfig, DistillationTrainer, student_from_teacher  # noqa: E402

SHAPES = {"gpu": dict(layers=12, hidden=768, heads=12, rows=4096, batch=64),
          "dry": dict(layers=4, hidden=64, heads=4, rows=64, batch=8)}
LOSSES = {
    "plain": dict(hard_label_weight=1.0, logit_weight=0.0),
    "live_logit": dict(hard_label_weight=0.5, logit_weight=0.5),
    "live_full": dict(hard_label_weight=0.5, logit_weight=0.5, hidden_weight=3.0, attention_weight=0.1),
    "cached_full": dict(hard_label_weight=0.5, logit_weight=0.5, hidden_weight=3.0, attention_weight=0.1, cache=True),
}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(2000)]


class StepTimer(TrainerCallback):
    """Wall time of the steps after the first `warmup` (CUDA synchronised at both ends)."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.steps = warmup, None, 0

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.warmup:
            self.start = time.perf_counter()
        elif state.global_step > self.warmup:
            self.steps += 1
            self.seconds = time.perf_counter() - self.start


def models(shape: dict, seed: int = 0):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=shape["hidden"], num_hidden_layers=shape["layers"],
                        num_attention_heads=shape["heads"], intermediate_size=4 * shape["hidden"], num_labels=2)
    teacher = BertForSequenceClassification(config).eval()
    return teacher, student_from_teacher(teacher, num_layers=shape["layers"] // 2)


def dataset(tokenizer, rows: int, seed: int = 0):
    from datasets import Dataset

    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(6, 62, (rows,), generator=gen).tolist()
    texts = [" ".join(f"w{int(i)}" for i in torch.randint(0, 2000, (n,), generator=gen)) for n in lengths]
    enc = tokenizer(texts, truncation=True, max_length=64)
    labels = torch.randint(0, 2, (rows,), generator=gen).tolist()
    return Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels})


def train_mode(mode: str, shape: dict, steps: int, warmup: int, work: str, dry: bool, launched: bool = False) -> dict:
    """Train `warmup + steps` steps in one mode; steps per second, peak GPU memory and where the teacher sits."""
    from transformers import DataCollatorWithPadding

    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(VOCAB)}, do_lower_case=False)
    teacher, student = models(shape)
    train = dataset(tokenizer, shape["rows"])
    losses = dict(LOSSES[mode])
    cache = os.path.join(work, f"cache_{mode}") if losses.pop("cache", False) else None
    gpu = torch.cuda.is_available() and not dry
    args = DistillationConfig(
        output_dir=os.path.join(work, mode), max_steps=warmup + steps, per_device_train_batch_size=shape["batch"],
        per_device_eval_batch_size=shape["batch"], learning_rate=1e-4, bf16=gpu, use_cpu=not gpu and not launched,
        report_to="none", save_strategy="no", logging_steps=max(1, warmup + steps), disable_tqdm=True,
        train_sampling_strategy="group_by_length", teacher_cache_dir=None, **losses,
    )
    if cache:
        from hf_distill.cache import build_teacher_cache

        start = time.perf_counter()
        mapped = list(range(2, shape["layers"] + 1, 2))  # the default map of a half-depth student: 2:1, 4:2, ...
        build_teacher_cache(teacher, tokenizer, train, cache, layers_hidden=mapped, layers_attention=mapped,
                            parts={"q", "k"}, max_length=64, batch_size=shape["batch"], device="cuda" if gpu else "cpu")
        cache_s = time.perf_counter() - start
        args.teacher_cache_dir = cache
    timer = StepTimer(warmup)
    trainer = DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=train,
                                  processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
                                  callbacks=[timer])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    out = {"steps": timer.steps, "steps_per_s": timer.steps / timer.seconds, "batch": shape["batch"],
           "bf16": gpu, "teacher_type": type(trainer.teacher).__name__ if trainer.teacher is not None else None,
           "teacher_wrapped": _wrapped(trainer.teacher)}
    if cache:
        out["cache_build_s"] = cache_s
    if torch.cuda.is_available():
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _wrapped(teacher) -> bool | None:
    """Whether the teacher is inside a DDP/FSDP wrapper or has FSDP2-sharded modules (it must not)."""
    if teacher is None:
        return None
    names = {type(m).__name__ for m in teacher.modules()} | {type(teacher).__name__}
    return any(n.startswith(("FSDP", "FullyShardedDataParallel", "DistributedDataParallel")) for n in names)


def launched_section(config: str, shape: str, steps: int, warmup: int, work: str) -> dict:
    """One `accelerate launch` process (one GPU) running live_full under `recipes/accelerate/<config>`."""
    if not torch.cuda.is_available():
        return {"skipped": "no GPU: one-process FSDP2/ZeRO-3 need CUDA"}
    if config.startswith("deepspeed"):
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            return {"skipped": "deepspeed is not installed (pip install deepspeed)"}
    out = os.path.join(work, f"{config}.json")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           os.path.join(REPO, "recipes", "accelerate", f"{config}.yaml"), "--num_processes", "1",
           os.path.abspath(__file__), "--worker", out, "--shape", shape, "--steps", str(steps), "--warmup", str(warmup)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if proc.returncode:
        return {"failed": proc.stderr[-2000:], "wall_s": time.perf_counter() - start}
    with open(out) as f:
        return {**json.load(f), "wall_s": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry", action="store_true", help="CPU, tiny models, a few steps")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per mode (GPU 100, dry 3)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (GPU 10, dry 1)")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results", "gpu.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # inside accelerate launch: write this JSON
    parser.add_argument("--shape", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape_name = args.shape or ("dry" if args.dry else "gpu")
    steps = args.steps or (3 if shape_name == "dry" else 100)
    warmup = args.warmup or (1 if shape_name == "dry" else 10)
    if args.worker:
        with tempfile.TemporaryDirectory() as work:
            result = train_mode("live_full", SHAPES[shape_name], steps, warmup, work, dry=False, launched=True)
        with open(args.worker, "w") as f:
            json.dump(result, f)
        return
    if not args.dry and not torch.cuda.is_available():
        raise SystemExit("No GPU here: run with --dry for the CPU check, or on a machine with CUDA.")
    start = time.perf_counter()
    result = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.dry else "cpu (dry)",
              "shape": SHAPES[shape_name], "torch": torch.__version__, "modes": {}}
    with tempfile.TemporaryDirectory() as work:
        for mode in LOSSES:
            result["modes"][mode] = train_mode(mode, SHAPES[shape_name], steps, warmup, work, dry=args.dry)
            print(mode, json.dumps(result["modes"][mode]), flush=True)
        plain = result["modes"]["plain"]["steps_per_s"]
        result["ratios"] = {f"{m}/plain": result["modes"][m]["steps_per_s"] / plain for m in LOSSES if m != "plain"}
        for config in ("deepspeed_zero3", "fsdp"):
            result[config] = {"skipped": "dry run"} if args.dry else launched_section(config, shape_name, steps,
                                                                                       warmup, work)
            print(config, json.dumps(result[config])[:300], flush=True)
    result["wall_s"] = time.perf_counter() - start
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
