"""Step time of plain fine-tuning, live-teacher distillation and cached distillation on the same SST-2 batches.

    python bench/speed.py [--teacher runs/sst2_minilm/teacher] [--steps 40] [--warmup 5] [--rounds 5] [--output PATH]

In one process, on the same dynamically padded batches (batch 32, max length 64; the first `--rows` rows of SST-2
train in a fixed shuffled order, read sequentially by every mode), times each training step of a fresh 3-layer
student (`common.pretrained_student(teacher.config, 3, seed=42)`):

    plain            transformers Trainer, cross-entropy only
    teacher_forward  the teacher's forward alone, inference mode (no training)
    live_logit       DistillationTrainer, live teacher, CE 0.5 + logit KL 0.5, T 2
    live_full        DistillationTrainer, live teacher, recipe (c)'s losses (logits + hidden MSE + TinyBERT attention)
    cached           DistillationTrainer reading recipe (c)'s teacher cache (built first for just these rows; its
                     build time and size are reported apart, never in the step time), in (c)'s precision (bf16
                     autocast, `common.HF_DISTILL_RECIPE`)
    cached_fp32      the same in fp32: the cache's own cost, apart from the precision (ratio cached_fp32_over_plain)

Before the modes, a throwaway student (forward + backward) and the teacher run once over every batch, so no mode
pays first-time costs of a padded shape that the others do not. A step is timed from `on_step_begin` to
`on_step_end` (forward, losses, backward, clipping, optimizer, scheduler; the batch is collated before it, so
`step_to_step_median_s` is reported too). The first `--warmup` steps are dropped. The modes run in `--rounds`
rounds, in turn forwards and backwards (plain ... cached_fp32, then cached_fp32 ... plain), so a drift of the
machine's speed over the minutes of the benchmark falls on every mode alike; each mode's median is over the timed
steps of all rounds. The issue's ratios are taken within each round (modes minutes apart, not tens of minutes) and
their median over the rounds is reported against its target: a stretch of slower machine during one round (seen
here: the modes of one round 8-24% slower than the round before) then moves one round's ratio, not the result. Writes
bench/results/speed.json (median and mean step time, peak RSS increase, the ratios by round and their medians, and
whether each meets its target; the ratios of the pooled medians and means too) and prints a table.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import statistics
import tempfile
import threading
import time
from hashlib import blake2b

import common
import datasets
import torch
import transformers
from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

from hf_distill import DistillationConfig, DistillationTrainer, load_task_data, tokenize_split
from hf_distill.cache import (
    read_meta,
    write_cache,  # how `hf-distill distill` builds a missing cache
)

STUDENT_LAYERS = 3
SEED = 42
RECIPE_BF16 = common.HF_DISTILL_RECIPE[STUDENT_LAYERS].get("bf16", False)  # (c)'s precision, for the cached mode
LIVE_LOGIT_LOSSES = dict(temperature=2.0, hard_label_weight=0.5, logit_weight=0.5, hidden_weight=0.0,
                         attention_weight=0.0)
TARGETS = {"cached_over_plain": 1.15, "live_logit_over_sum": 1.05, "full_over_logit": 1.15}
RSS_NOTE = ("peak_rss_mb_delta: peak resident set size of the process while the mode runs (VmRSS sampled every "
            "10 ms) minus the RSS just before it, after gc and malloc_trim; covers the student, its optimizer state, "
            "activations and, for cached, the cache pages read. The teacher is loaded before all modes and is not "
            "in any delta.")


class StepTimer(TrainerCallback):
    """Seconds from `on_step_begin` to `on_step_end` of each step, and the time of each `on_step_end`."""

    def __init__(self):
        self.begin = None
        self.steps: list[float] = []
        self.ends: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.begin = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        self.steps.append(now - self.begin)
        self.ends.append(now)


class RecordingCollator(DataCollatorWithPadding):
    """Pads like `DataCollatorWithPadding` and records a hash of each padded batch (do all modes see the same?)."""

    def __init__(self, tokenizer):
        super().__init__(tokenizer)
        self.seen: list[str] = []

    def __call__(self, features):
        batch = super().__call__(features)
        h = blake2b(batch["input_ids"].numpy().tobytes(), digest_size=8)
        h.update(str(tuple(batch["input_ids"].shape)).encode())
        self.seen.append(h.hexdigest())
        return batch


class PeakRss:
    """Peak VmRSS (MB) above the RSS at entry, sampled by a thread every `interval` seconds."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval

    @staticmethod
    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc/self/status")

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss_mb())

    def __enter__(self):
        gc.collect()
        try:  # give freed heap back to the OS so one mode's leftovers do not hide the next one's growth
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        self.start = self.peak = self.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss_mb())
        self.delta_mb = self.peak - self.start


def training_args(cls, output_dir: str, max_steps: int, **losses):
    """The same Trainer settings for every mode: sequential batches of 32, no saving, logging or progress bars."""
    return cls(output_dir=output_dir, max_steps=max_steps, per_device_train_batch_size=common.BATCH_SIZE,
               per_device_eval_batch_size=64, learning_rate=common.HF_DISTILL_RECIPE[STUDENT_LAYERS]["learning_rate"],
               seed=SEED, train_sampling_strategy="sequential", save_strategy="no", logging_strategy="no",
               report_to=[], disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, **losses)


def summarize(rounds: list[dict]) -> dict:
    """One mode over all rounds; each round is {"times", "gaps", "rss_mb"} (timed steps, step-to-step gaps)."""
    times = [t for r in rounds for t in r["times"]]
    gaps = [g for r in rounds for g in r["gaps"]]
    return {"median_s": statistics.median(times), "mean_s": statistics.mean(times),
            "step_to_step_median_s": statistics.median(gaps) if gaps else None,
            "peak_rss_mb_delta": round(max(r["rss_mb"] for r in rounds), 1), "steps_timed": len(times),
            "round_medians_s": [statistics.median(r["times"]) for r in rounds]}


def run_trainer(mode: str, teacher, tokenizer, train, tmp: str, steps: int, warmup: int, cache_dir=None, bf16=False):
    """Train a fresh student for warmup + steps steps in `mode`; returns (timed steps, batch hashes)."""
    collator = RecordingCollator(tokenizer)
    timer = StepTimer()
    out = os.path.join(tmp, mode)
    with PeakRss() as rss:
        student = common.pretrained_student(teacher.config, STUDENT_LAYERS, seed=SEED)
        if mode == "plain":
            trainer = Trainer(model=student, args=training_args(TrainingArguments, out, warmup + steps),
                              train_dataset=train, processing_class=tokenizer, data_collator=collator,
                              callbacks=[timer])
        else:
            losses = LIVE_LOGIT_LOSSES if mode == "live_logit" else common.HF_DISTILL_LOSSES
            args = training_args(DistillationConfig, out, warmup + steps, teacher_cache_dir=cache_dir, bf16=bf16, **losses)
            # As `hf-distill distill` does, the teacher is passed with the cache too; the cache replaces its forward.
            trainer = DistillationTrainer(model=student, teacher=teacher, teacher_tokenizer=tokenizer, args=args,
                                          train_dataset=train, processing_class=tokenizer, data_collator=collator,
                                          callbacks=[timer])
            assert (trainer.teacher_cache is not None) == (cache_dir is not None)
        trainer.train()
    gaps = [b - a for a, b in zip(timer.ends, timer.ends[1:])][max(warmup - 1, 0):]
    return {"times": timer.steps[warmup:], "gaps": gaps, "rss_mb": rss.delta_mb}, collator.seen[: warmup + steps]


def benchmark_batches(teacher, tokenizer, train, tmp: str, n: int):
    """The first `n` padded batches the trainers see (their sampler, collator and column removal), and their hashes."""
    collator = RecordingCollator(tokenizer)
    loader = Trainer(model=teacher, args=training_args(TrainingArguments, os.path.join(tmp, "batches"), 1),
                     train_dataset=train, processing_class=tokenizer, data_collator=collator).get_train_dataloader()
    batches = []
    while len(batches) < n:  # cycles like the Trainer's epochs when --rows holds fewer than n batches
        batches.extend(batch for batch, _ in zip(loader, range(n - len(batches))))
    return batches, collator.seen[:n]


def prewarm(teacher, batches):
    """One forward + backward of a throwaway student and one teacher forward on every batch, before any mode.

    With dynamic padding each batch length is a new shape; without this, the first mode (plain, a denominator of
    two ratios) would pay the first-time costs of every shape and the later modes would not.
    """
    student = common.pretrained_student(teacher.config, STUDENT_LAYERS, seed=SEED).train()
    for batch in batches:
        student(**batch).loss.backward()
        student.zero_grad(set_to_none=True)
        with torch.inference_mode():
            teacher(**{k: v for k, v in batch.items() if k != "labels"})


@torch.inference_mode()
def run_teacher_forward(teacher, batches, warmup: int):
    """The teacher's forward alone (logits, eval, inference mode) on the batches the trainers see."""
    teacher.eval()
    times, ends = [], []
    with PeakRss() as rss:
        for batch in batches:
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            start = time.perf_counter()
            teacher(**inputs)
            ends.append(time.perf_counter())
            times.append(ends[-1] - start)
    gaps = [b - a for a, b in zip(ends, ends[1:])][max(warmup - 1, 0):]
    return {"times": times[warmup:], "gaps": gaps, "rss_mb": rss.delta_mb}


def build_cache(teacher, tokenizer, train, tmp: str) -> tuple[str, dict]:
    """Recipe (c)'s teacher cache for these rows, built as `hf-distill distill` builds it; its folder, time and size."""
    cache_dir = os.path.join(tmp, "teacher_cache")
    config = training_args(DistillationConfig, os.path.join(tmp, "cache"), 1, **common.HF_DISTILL_LOSSES)
    student = common.pretrained_student(teacher.config, STUDENT_LAYERS, seed=SEED)
    with common.Stopwatch() as watch:
        write_cache(config, common.data_args(), teacher, tokenizer, student, train, cache_dir)
    meta = read_meta(cache_dir)
    size = common.folder_bytes(cache_dir)
    return cache_dir, {
        "cache_build_seconds": watch.seconds, "cache_rows": meta["num_rows"], "cache_source_rows": meta["source_rows"],
        "cache_bytes": size, "cache_mb": round(size / 2**20, 2), "cache_bytes_per_row": size / meta["num_rows"],
        "cache_dtype": meta["dtype"], "cache_layers_hidden": meta["layers_hidden"],
        "cache_layers_attention": meta["layers_attention"], "cache_parts": meta["parts"]}


def issue_ratios(t: dict) -> dict:
    return {"cached_over_plain": t["cached"] / t["plain"],
            "live_logit_over_sum": t["live_logit"] / (t["teacher_forward"] + t["plain"]),
            "full_over_logit": t["live_full"] / t["live_logit"],
            "cached_fp32_over_plain": t["cached_fp32"] / t["plain"]}  # not an issue target: the cache alone


MODES = ("plain", "teacher_forward", "live_logit", "live_full", "cached", "cached_fp32")


def main(teacher_path: str, steps: int, warmup: int, rows: int | None, output: str, threads: int, rounds: int):
    if threads:
        torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()  # the students' expected "classifier newly initialized" reports
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    rows = rows or common.BATCH_SIZE * (warmup + steps)
    teacher, tokenizer = common.load_teacher_and_tokenizer(common.ensure_teacher(teacher_path))
    data = load_task_data(common.data_args())
    picked = data.train.shuffle(seed=SEED).select(range(rows)).flatten_indices()
    train = tokenize_split(picked, data, tokenizer, common.MAX_LENGTH, teacher.config.label2id)

    timed, seen = {mode: [] for mode in MODES}, {}
    with tempfile.TemporaryDirectory(prefix="bench_speed-") as tmp:
        cache_dir, cache = build_cache(teacher, tokenizer, train, tmp)
        print(f"cache: {cache['cache_rows']} rows, {cache['cache_mb']} MB, "
              f"built in {cache['cache_build_seconds']:.1f} s", flush=True)
        batches, hashes = benchmark_batches(teacher, tokenizer, train, tmp, warmup + steps)
        seen["teacher_forward"] = [hashes]
        with common.Stopwatch() as watch:
            prewarm(teacher, batches)
        print(f"pre-warm pass over {len(batches)} batches: {watch.seconds:.1f} s", flush=True)
        for round_ in range(rounds):
            for mode in MODES if round_ % 2 == 0 else reversed(MODES):
                if mode == "teacher_forward":
                    timed[mode].append(run_teacher_forward(teacher, batches, warmup))
                else:
                    run, hashes = run_trainer(mode, teacher, tokenizer, train, tmp, steps, warmup,
                                              cache_dir=cache_dir if mode.startswith("cached") else None,
                                              bf16=mode == "cached" and RECIPE_BF16)
                    timed[mode].append(run)
                    seen.setdefault(mode, []).append(hashes)
                print(f"round {round_ + 1} {mode}: median {statistics.median(timed[mode][-1]['times']):.4f} s", flush=True)

    results = {mode: summarize(timed[mode]) for mode in MODES}
    by_round = [issue_ratios({mode: r["round_medians_s"][i] for mode, r in results.items()}) for i in range(rounds)]
    ratios = {name: statistics.median(r[name] for r in by_round) for name in by_round[0]}
    same_batches = all(hashes == seen["plain"][0] for runs in seen.values() for hashes in runs)
    payload = {
        "settings": {"batch_size": common.BATCH_SIZE, "max_length": common.MAX_LENGTH, "steps": steps, "warmup": warmup,
                     "rows": rows, "row_order": f"SST-2 train shuffled with seed {SEED}, first rows, sequential",
                     "threads": torch.get_num_threads(), "rounds": rounds, "torch": torch.__version__,
                     "transformers": transformers.__version__, "teacher": os.path.abspath(teacher_path),
                     "student_layers": common.STUDENT_LAYERS[STUDENT_LAYERS], "same_batches_all_modes": same_batches,
                     "step_time": "on_step_begin to on_step_end (forward, losses, backward, clip, optimizer); "
                                  "step_to_step_median_s adds collation and callbacks", "memory": RSS_NOTE},
        "losses": {"live_logit": LIVE_LOGIT_LOSSES, "live_full": common.HF_DISTILL_LOSSES,
                   "cached": common.HF_DISTILL_LOSSES, "cached_fp32": common.HF_DISTILL_LOSSES},
        "precision": {"cached": "bf16 autocast" if RECIPE_BF16 else "fp32", "other modes": "fp32"},
        "cache": cache,
        "modes": results,
        "ratios": ratios,
        "ratios_by_round": by_round,
        "ratios_of_pooled_medians": issue_ratios({mode: r["median_s"] for mode, r in results.items()}),
        "ratios_of_pooled_means": issue_ratios({mode: r["mean_s"] for mode, r in results.items()}),
        "targets": {name: {"target": f"<= {limit}", "value": ratios[name], "met": ratios[name] <= limit}
                    for name, limit in TARGETS.items()},
    }
    common.write_json(output, payload)

    print(f"\n{'mode':<16}{'median s':>10}{'mean s':>10}{'step-to-step s':>16}{'peak RSS +MB':>14}")
    for mode, r in results.items():
        print(f"{mode:<16}{r['median_s']:>10.4f}{r['mean_s']:>10.4f}{r['step_to_step_median_s'] or 0:>16.4f}"
              f"{r['peak_rss_mb_delta']:>14.1f}")
    for name, t in payload["targets"].items():
        rounds_text = ", ".join(f"{r[name]:.3f}" for r in payload["ratios_by_round"])
        print(f"{name:<22}{t['value']:>7.3f}  target {t['target']:<8} {'met' if t['met'] else 'NOT met':<8} "
              f"rounds: {rounds_text}")
    print(f"cache: {cache['cache_rows']} rows, {cache['cache_bytes_per_row'] / 1024:.1f} KB/row, "
          f"{cache['cache_mb']} MB, built in {cache['cache_build_seconds']:.1f} s (not in any step time)")
    print(RSS_NOTE)
    if not same_batches:
        print("WARNING: the modes did not all see the same padded batches; the ratios compare different work.")
    print(f"wrote {output}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--teacher", default=common.DEFAULT_TEACHER, help="Fine-tuned teacher folder (trained if missing).")
    p.add_argument("--steps", type=int, default=40, help="Timed steps per mode.")
    p.add_argument("--warmup", type=int, default=5, help="Steps run first and not timed.")
    p.add_argument("--rows", type=int, default=None, help="Training rows used; default batch * (warmup + steps).")
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 keeps torch's default.")
    p.add_argument("--rounds", type=int, default=5, help="Times every mode is run, alternating the order.")
    p.add_argument("--output", default=os.path.join(common.RESULTS, "speed.json"))
    a = p.parse_args()
    main(a.teacher, a.steps, a.warmup, a.rows, a.output, a.threads, a.rounds)
