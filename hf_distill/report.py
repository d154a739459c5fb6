"""Student-vs-teacher evaluation report: task metrics, size, parameter count and CPU latency.

    from hf_distill.report import build_report, write_report
    report = build_report("out/teacher", "out/student", texts, labels, task_name="sst2")
    write_report(report, "out/report")      # -> out/report/report.json, out/report/report.md

Latency is measured the same way for both models: fp32, eval mode, `torch.inference_mode`,
`torch.set_num_threads(os.cpu_count())`, real texts in order, each batch tokenized once up front with
dynamic padding (to the longest text of the batch, truncated at `max_length`), and only the forward
pass timed with `time.perf_counter`; the median over `runs` timed runs after `warmup` untimed ones.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from hf_distill.metrics import build_compute_metrics, is_regression_task, metric_names_for_task

WEIGHT_SUFFIXES = (".safetensors", ".bin")
# .bin files that Trainer / accelerate write next to the weights but which are not weights.
NON_WEIGHT_BIN = frozenset({"training_args.bin"})


# --------------------------------------------------------------------------- size


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared / tied tensors counted once)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def weight_files(model_dir: str | os.PathLike) -> list[Path]:
    """The weight files of a saved model folder: its *.safetensors files, or, if there are none, its *.bin
    files (not `training_args.bin`). A folder holding both formats holds the same weights twice, so only
    the safetensors copy is counted."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise NotADirectoryError(f"Not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    safetensors = [p for p in files if p.name.endswith(".safetensors")]
    if safetensors:
        return safetensors
    return [p for p in files if p.name.endswith(".bin") and p.name not in NON_WEIGHT_BIN]


def size_on_disk_mb(model_dir: str | os.PathLike) -> float:
    """Size of the weight files in `model_dir` (see `weight_files`) in MB (1 MB = 1e6 bytes)."""
    files = weight_files(model_dir)
    if not files:
        raise FileNotFoundError(f"No *.safetensors or *.bin weight file in {model_dir}")
    return sum(p.stat().st_size for p in files) / 1e6


# --------------------------------------------------------------------------- inputs


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _tokenize(tokenizer, texts: Sequence[str], text_pairs: Sequence[str] | None, max_length: int) -> dict:
    """One batch, padded to its longest member, truncated at `max_length`."""
    args = (list(texts),) if text_pairs is None else (list(texts), list(text_pairs))
    return dict(tokenizer(*args, padding="longest", truncation=True, max_length=max_length, return_tensors="pt"))


def _check_pairs(texts: Sequence[str], text_pairs: Sequence[str] | None) -> None:
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(text_pairs)} text_pairs")


def _ensure_fp32(model: torch.nn.Module) -> None:
    """Cast floating-point parameters / buffers to fp32 in place if they are not already."""
    if any(t.is_floating_point() and t.dtype != torch.float32 for t in list(model.parameters()) + list(model.buffers())):
        model.float()


# --------------------------------------------------------------------------- latency


def measure_latency_ms(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    batch_size: int,
    max_length: int = 64,
    runs: int = 30,
    warmup: int = 3,
    text_pairs: Sequence[str] | None = None,
    num_threads: int | None = None,
) -> dict:
    """Forward-pass latency of `model` in milliseconds per batch of `batch_size` real texts.

    Run i (warm-up runs first, then the timed runs) uses batch `i % runs`; batch j holds texts
    `j*batch_size ... (j+1)*batch_size - 1` of `texts` (cycled when there are fewer). All batches are
    tokenized before timing with dynamic padding and truncation at `max_length`. The model runs in fp32
    (cast in place if needed), eval mode and `torch.inference_mode`, with `torch.set_num_threads(os.cpu_count())`
    (the previous thread count and training mode are restored afterwards); `num_threads` overrides the
    thread count (e.g. 1 on a machine shared with other jobs, where waiting OpenMP threads inflate timings).

    Returns {"median", "p90", "mean", "min", "max"} in ms, plus "batch_size", "runs", "warmup", "threads",
    "max_length", "dtype" and "mean_seq_len" (mean padded length of the batches).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if runs < 1:
        raise ValueError("runs must be >= 1")
    if warmup < 0:
        raise ValueError("warmup must be >= 0")
    if not texts:
        raise ValueError("texts is empty")
    _check_pairs(texts, text_pairs)

    n = len(texts)
    batches = []
    for j in range(runs):
        idx = [(j * batch_size + k) % n for k in range(batch_size)]
        pairs = None if text_pairs is None else [text_pairs[i] for i in idx]
        batches.append(_tokenize(tokenizer, [texts[i] for i in idx], pairs, max_length))

    device = _model_device(model)
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    was_training = model.training
    previous_threads = torch.get_num_threads()
    threads = int(num_threads) if num_threads else (os.cpu_count() or 1)
    _ensure_fp32(model)
    model.eval()
    torch.set_num_threads(threads)
    times_ms: list[float] = []
    try:
        with torch.inference_mode():
            for i in range(warmup):
                model(**batches[i % runs])
            sync()
            for j in range(runs):
                batch = batches[j]
                start = time.perf_counter()
                model(**batch)
                sync()
                times_ms.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(previous_threads)
        model.train(was_training)

    arr = np.asarray(times_ms)
    return {
        "median": float(np.median(arr)),
        "p90": float(np.percentile(arr, 90)),
        "mean": float(arr.mean()),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "batch_size": int(batch_size),
        "runs": int(runs),
        "warmup": int(warmup),
        "threads": int(threads),
        "max_length": int(max_length),
        "dtype": "fp32",
        "mean_seq_len": float(np.mean([b["input_ids"].shape[1] for b in batches])),
    }


# --------------------------------------------------------------------------- metrics


def _generic_label_names(names: Sequence[str]) -> bool:
    return all(str(name) == f"LABEL_{i}" for i, name in enumerate(names))


def model_label_names(model_or_config) -> list[str]:
    """`config.id2label` as a list in id order."""
    config = getattr(model_or_config, "config", model_or_config)
    id2label = {int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
    return [str(id2label[i]) for i in sorted(id2label)]


def predict_logits(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    max_length: int = 64,
    batch_size: int = 64,
) -> np.ndarray:
    """Logits (N, num_labels) for `texts`, batched, dynamic padding, in eval mode (training mode restored)."""
    _check_pairs(texts, text_pairs)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                stop = start + batch_size
                pairs = None if text_pairs is None else text_pairs[start:stop]
                batch = _tokenize(tokenizer, texts[start:stop], pairs, max_length)
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
                chunks.append(logits.float().cpu().numpy())
    finally:
        model.train(was_training)
    if not chunks:
        raise ValueError("texts is empty")
    return np.concatenate(chunks, axis=0)


def evaluate_model(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence,
    task_name: str | None = None,
    text_pairs: Sequence[str] | None = None,
    max_length: int = 64,
    batch_size: int = 64,
    is_regression: bool = False,
    label_names: Sequence[str] | None = None,
) -> dict[str, float]:
    """The task metrics of `model` on (`texts`[, `text_pairs`], `labels`), via `build_compute_metrics`.

    `labels` are ints in the model's own `config.id2label` order (floats for regression; a model with a
    single output, or GLUE STS-B, is treated as regression). `label_names`, if given, are the names of
    label ids 0, 1, ... as the caller used them; they are checked against the model's `id2label` (unless
    the model only has generic LABEL_i names) and a mismatch raises `ValueError`, since it means the
    labels are not aligned with the model's outputs.
    """
    texts = list(texts)
    labels = list(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if text_pairs is not None:
        text_pairs = list(text_pairs)
    num_labels = getattr(model.config, "num_labels", None)
    is_regression = (
        bool(is_regression)
        or is_regression_task(task_name)
        or getattr(model.config, "problem_type", None) == "regression"
        or num_labels == 1
    )
    if label_names is not None and not is_regression:
        names = model_label_names(model)
        if names and not _generic_label_names(names):
            if [str(n).lower() for n in label_names] != [n.lower() for n in names]:
                raise ValueError(
                    f"label_names {list(label_names)} do not match the model's id2label {names}; "
                    "align the labels to the model's order by name first"
                )
    logits = predict_logits(model, tokenizer, texts, text_pairs, max_length=max_length, batch_size=batch_size)
    from transformers import EvalPrediction

    label_ids = np.asarray(labels, dtype=np.float64 if is_regression else np.int64)
    compute_metrics = build_compute_metrics(task_name, is_regression=is_regression)
    return compute_metrics(EvalPrediction(predictions=logits, label_ids=label_ids))


# --------------------------------------------------------------------------- report


def _load(model_dir: str | os.PathLike):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return model.eval(), tokenizer


def _student_labels(teacher, student, labels: list) -> list:
    """Re-index labels given in the teacher's id2label order into the student's order, by name."""
    t_names, s_names = model_label_names(teacher), model_label_names(student)
    if t_names == s_names or _generic_label_names(t_names) or _generic_label_names(s_names):
        return labels
    if sorted(t_names) != sorted(s_names):
        raise ValueError(f"Teacher labels {t_names} and student labels {s_names} differ")
    remap = {i: s_names.index(name) for i, name in enumerate(t_names)}
    return [remap[int(y)] for y in labels]


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0 or not math.isfinite(num) or not math.isfinite(den):
        return None
    return float(num) / float(den)


def build_report(
    teacher_dir: str | os.PathLike,
    student_dir: str | os.PathLike,
    texts: Sequence[str],
    labels: Sequence,
    task_name: str | None,
    text_pairs: Sequence[str] | None = None,
    max_length: int = 64,
    latency_runs: int = 30,
    latency_warmup: int = 3,
    batch_sizes: Sequence[int] = (1, 32),
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Evaluate teacher and student (saved folders) on the same data and measure both the same way.

    `labels` are in the teacher's `id2label` order (re-indexed by name for a student whose order differs).
    Returns {"task_name", "metric_name", "teacher": {...}, "student": {...}, "retention",
    "speedup_b<bs>" for each batch size, "latency_settings"}, each model entry holding "metrics",
    "num_parameters", "num_layers", "hidden_size", "size_mb", "latency_ms" ({"b1": median, ...}) and
    "latency_detail" (the full `measure_latency_ms` results). `retention` = student / teacher main metric
    (None when undefined); `speedup_bN` = teacher / student median latency at batch size N.
    `num_threads` (default `os.cpu_count()`) is passed to `measure_latency_ms`.
    """
    texts = list(texts)
    labels = list(labels)
    text_pairs = None if text_pairs is None else list(text_pairs)
    teacher, teacher_tok = _load(teacher_dir)
    student, student_tok = _load(student_dir)

    is_regression = is_regression_task(task_name) or teacher.config.num_labels == 1
    metric_names = metric_names_for_task(task_name, is_regression)
    main_metric = metric_names[0]

    entries: dict[str, dict] = {}
    threads = int(num_threads) if num_threads else (os.cpu_count() or 1)
    for role, model, tok, model_dir, model_labels in (
        ("teacher", teacher, teacher_tok, teacher_dir, labels),
        ("student", student, student_tok, student_dir, labels if is_regression else _student_labels(teacher, student, labels)),
    ):
        metrics = evaluate_model(
            model, tok, texts, model_labels, task_name=task_name, text_pairs=text_pairs,
            max_length=max_length, is_regression=is_regression,
        )
        detail = {}
        for bs in batch_sizes:
            detail[f"b{bs}"] = measure_latency_ms(
                model, tok, texts, bs, max_length=max_length, runs=latency_runs, warmup=latency_warmup,
                text_pairs=text_pairs, num_threads=num_threads,
            )
            threads = detail[f"b{bs}"]["threads"]
        entries[role] = {
            "metrics": metrics,
            "num_parameters": count_parameters(model),
            "num_layers": getattr(model.config, "num_hidden_layers", None),
            "hidden_size": getattr(model.config, "hidden_size", None),
            "size_mb": size_on_disk_mb(model_dir),
            "latency_ms": {key: d["median"] for key, d in detail.items()},
            "latency_detail": detail,
        }

    report: dict[str, Any] = {
        "task_name": task_name,
        "metric_name": main_metric,
        "teacher": entries["teacher"],
        "student": entries["student"],
        "retention": _ratio(entries["student"]["metrics"].get(main_metric), entries["teacher"]["metrics"].get(main_metric)),
    }
    for bs in batch_sizes:
        key = f"b{bs}"
        report[f"speedup_{key}"] = _ratio(entries["teacher"]["latency_ms"][key], entries["student"]["latency_ms"][key])
    report["latency_settings"] = {
        "runs": int(latency_runs),
        "warmup": int(latency_warmup),
        "threads": int(threads),
        "dtype": "fp32",
        "max_length": int(max_length),
        "batch_sizes": [int(b) for b in batch_sizes],
        "num_texts": len(texts),
    }
    report["teacher_dir"] = str(teacher_dir)
    report["student_dir"] = str(student_dir)
    return report


def _json_safe(obj):
    """NaN / inf -> None, numpy scalars -> Python, tuples -> lists (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _fmt(value, spec: str = ".4f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:{spec}}{suffix}"


def render_markdown(report: dict) -> str:
    """The report as a markdown table (rows teacher / student) plus retention and settings lines."""
    teacher, student = report["teacher"], report["student"]
    metric_names = list(teacher["metrics"])
    latency_keys = list(teacher["latency_ms"])
    header = (
        ["model"]
        + metric_names
        + ["parameters (M)", "size (MB)"]
        + [f"latency {k} (ms)" for k in latency_keys]
        + [f"speed-up {k}" for k in latency_keys]
    )
    lines = [
        f"# Distillation report: {report.get('task_name') or 'custom task'}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for role, entry in (("teacher", teacher), ("student", student)):
        speedups = [1.0 if role == "teacher" else report.get(f"speedup_{k}") for k in latency_keys]
        row = (
            [role]
            + [_fmt(entry["metrics"].get(m)) for m in metric_names]
            + [_fmt(entry["num_parameters"] / 1e6, ".2f"), _fmt(entry["size_mb"], ".1f")]
            + [_fmt(entry["latency_ms"][k], ".2f") for k in latency_keys]
            + [_fmt(s, ".2f", "x") for s in speedups]
        )
        lines.append("| " + " | ".join(row) + " |")
    retention = report.get("retention")
    lines += [
        "",
        f"Retention ({report['metric_name']}): {_fmt(None if retention is None else retention * 100, '.1f', '%')} of the teacher"
        f" ({_fmt(student['metrics'].get(report['metric_name']))} / {_fmt(teacher['metrics'].get(report['metric_name']))}).",
        "",
    ]
    s = report.get("latency_settings", {})
    lines.append(
        f"Teacher: {teacher.get('num_layers')} layers, hidden {teacher.get('hidden_size')}; "
        f"student: {student.get('num_layers')} layers, hidden {student.get('hidden_size')}."
    )
    lines.append("")
    lines.append(
        f"Latency: median of {s.get('runs')} runs after {s.get('warmup')} warm-up, {s.get('dtype', 'fp32')}, "
        f"{s.get('threads')} threads, dynamic padding, max_length {s.get('max_length')}, forward pass only."
    )
    return "\n".join(lines) + "\n"


def card_fields(report: dict) -> dict[str, Any]:
    """The report in the flat form `hf_distill.card` takes (merge into the card's info dict):
    task_name, metric_name, student_metric, teacher_metric, retention, num_parameters / size_mb
    {"student", "teacher"}, latency_ms {"student_b1", "teacher_b1", ...} and speedup_b32 (when measured)."""
    main = report["metric_name"]
    fields: dict[str, Any] = {
        "task_name": report.get("task_name"),
        "metric_name": main,
        "student_metric": report["student"]["metrics"].get(main),
        "teacher_metric": report["teacher"]["metrics"].get(main),
        "retention": report.get("retention"),
        "num_parameters": {r: report[r]["num_parameters"] for r in ("student", "teacher")},
        "size_mb": {r: report[r]["size_mb"] for r in ("student", "teacher")},
        "latency_ms": {f"{r}_{k}": v for r in ("student", "teacher") for k, v in report[r]["latency_ms"].items()},
    }
    if report.get("speedup_b32") is not None:
        fields["speedup_b32"] = report["speedup_b32"]
    return _json_safe(fields)


def write_report(report: dict, output_dir: str | os.PathLike) -> tuple[str, str]:
    """Write `report.json` and `report.md` into `output_dir` (created if needed); return their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return str(json_path), str(md_path)


__all__ = [
    "build_report",
    "card_fields",
    "count_parameters",
    "evaluate_model",
    "measure_latency_ms",
    "predict_logits",
    "render_markdown",
    "size_on_disk_mb",
    "weight_files",
    "write_report",
]
