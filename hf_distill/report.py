"""Student-vs-teacher evaluation report: task metrics, size, parameter count and CPU latency (measured by
hf_distill.measure), assembled, rendered as Markdown and written.

    from hf_distill.report import build_report, write_report
    report = build_report("out/teacher", "out/student", texts, labels, task_name="sst2")
    write_report(report, "out/report")      # -> out/report/report.json, out/report/report.md

Latency is measured the same way for both models (hf_distill.measure.measure_latency_ms).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hf_distill.labels import is_default_names, model_label_names, relabel_for_student
from hf_distill.measure import (
    _check_pairs,
    _model_device,
    _tokenize,
    count_parameters,
    measure_latency_ms,
    size_on_disk_mb,
    weight_files,
)
from hf_distill.metrics import build_compute_metrics, build_token_compute_metrics, is_regression_task, metric_names_for_task
from hf_distill.tasks import task_of, task_of_model
from hf_distill.token_data import align_labels

# --------------------------------------------------------------------------- metrics


def _by_length(texts: Sequence[str], text_pairs: Sequence[str] | None, batch_size: int) -> list[np.ndarray]:
    """Batches of row indices, shortest texts first (characters, pairs counted together): each batch pads to
    lengths that are close, so scoring many texts of mixed length wastes little on padding."""
    _check_pairs(texts, text_pairs)
    if not len(texts):
        raise ValueError("texts is empty")
    lengths = [len(t) + (0 if text_pairs is None else len(text_pairs[i])) for i, t in enumerate(texts)]
    order = np.argsort(lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _in_order(chunks: list[np.ndarray], batches: list[np.ndarray]) -> np.ndarray:
    """The batches' outputs back in the rows' order."""
    out = np.empty((sum(len(b) for b in batches), *chunks[0].shape[1:]), dtype=np.float32)
    out[np.concatenate(batches)] = np.concatenate(chunks, axis=0)
    return out


def _batch_rows(tokenizer, texts, text_pairs, idx, max_length: int) -> dict:
    pairs = None if text_pairs is None else [text_pairs[i] for i in idx]
    return _tokenize(tokenizer, [texts[i] for i in idx], pairs, max_length)


def predict_runtime_logits(forward, tokenizer, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                           max_length: int = 64, batch_size: int = 64) -> np.ndarray:
    """Logits (N, num_labels) from another runtime's `forward(**numpy inputs)` (an `hf_distill.export.OnnxModel`),
    batched and tokenized exactly as `predict_logits` does."""
    batches = _by_length(texts, text_pairs, batch_size)
    chunks = [np.asarray(forward(**{k: v.numpy() for k, v in _batch_rows(tokenizer, texts, text_pairs, idx,
                                                                        max_length).items()}), dtype=np.float32)
              for idx in batches]
    return _in_order(chunks, batches)


def predict_logits(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    max_length: int = 64,
    batch_size: int = 64,
) -> np.ndarray:
    """Logits (N, num_labels) for `texts`, in batches of texts of similar length (`_by_length`), dynamic padding,
    in eval mode (training mode restored); rows come back in the order given."""
    batches = _by_length(texts, text_pairs, batch_size)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            for idx in batches:
                batch = _batch_rows(tokenizer, texts, text_pairs, idx, max_length)
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
                chunks.append(logits.float().cpu().numpy())
    finally:
        model.train(was_training)
    return _in_order(chunks, batches)


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
        if names and not is_default_names(names):
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


def evaluate_tokens(
    model: torch.nn.Module,
    tokenizer,
    words: Sequence[Sequence[str]],
    tags: Sequence[Sequence[int]],
    max_length: int = 128,
    batch_size: int = 64,
) -> dict[str, float]:
    """Entity-level seqeval scores (f1, precision, recall; accuracy per word) of a token classifier on rows of
    `words` with their `tags` (ids in the model's own `id2label` order), each word scored at its first sub-token.
    Words cut off by `max_length` are not scored (as in transformers' run_ner.py)."""
    if len(words) != len(tags):
        raise ValueError(f"{len(words)} rows of words but {len(tags)} rows of tags")
    device = _model_device(model)
    was_training = model.training
    model.eval()
    predicted, gold = [], []
    try:
        with torch.inference_mode():
            for start in range(0, len(words), batch_size):
                chunk = [list(w) for w in words[start : start + batch_size]]
                enc = tokenizer(chunk, is_split_into_words=True, truncation=True, max_length=max_length,
                                padding="longest", return_tensors="pt")
                ids = model(**{k: v.to(device) for k, v in enc.items()}).logits.argmax(-1).cpu().numpy()
                for i in range(len(chunk)):
                    aligned = np.asarray(align_labels(enc.word_ids(i), list(tags[start + i])))
                    keep = aligned != -100
                    predicted.append(ids[i][keep])
                    gold.append(aligned[keep])
    finally:
        model.train(was_training)
    width = max(1, max(len(g) for g in gold))
    preds = np.zeros((len(gold), width), dtype=np.int64)
    refs = np.full((len(gold), width), -100, dtype=np.int64)
    for i, (p, g) in enumerate(zip(predicted, gold)):
        preds[i, : len(p)], refs[i, : len(g)] = p, g
    from transformers import EvalPrediction

    names = model_label_names(model)
    return build_token_compute_metrics(names)(EvalPrediction(predictions=preds, label_ids=refs))


def evaluate_qa(
    model: torch.nn.Module,
    tokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    answers: Sequence[dict],
    max_length: int = 384,
    doc_stride: int = 128,
    batch_size: int = 64,
) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 (percent) of an extractive-QA model: each question's context in windows
    (`doc_stride`), start/end logits per window, the best span over its windows (`hf_distill.qa.best_answers`),
    scored against `answers` ({"text": [...], ...} per question) by `hf_distill.qa.squad_scores`."""
    from hf_distill.qa import feature_scores, prepare_features, qa_rows

    rows = qa_rows(questions, contexts, answers)
    features = prepare_features(rows, tokenizer, max_length=max_length, doc_stride=doc_stride)
    inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features]
    device = _model_device(model)
    was_training = model.training
    model.eval()
    starts, ends = [], []
    try:
        with torch.inference_mode():
            for first in range(0, len(features["input_ids"]), batch_size):
                chunk = [{k: features[k][i] for k in inputs}
                         for i in range(first, min(first + batch_size, len(features["input_ids"])))]
                enc = tokenizer.pad(chunk, return_tensors="pt")
                out = model(**{k: v.to(device) for k, v in enc.items()})
                for i, row in enumerate(chunk):
                    n = len(row["input_ids"])
                    starts.append(out.start_logits[i, :n].float().cpu().numpy())
                    ends.append(out.end_logits[i, :n].float().cpu().numpy())
    finally:
        model.train(was_training)
    return feature_scores(rows, features, starts, ends)


# --------------------------------------------------------------------------- report


def _load(model_dir: str | os.PathLike):
    from transformers import AutoConfig, AutoTokenizer

    model_class = task_of(AutoConfig.from_pretrained(str(model_dir)).architectures).model_class()
    model = model_class.from_pretrained(str(model_dir), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return model.eval(), tokenizer


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
    doc_stride: int = 128,
) -> dict[str, Any]:
    """Evaluate teacher and student (saved folders) on the same data and measure both the same way.

    `labels` are in the teacher's `id2label` order (re-indexed by name for a student whose order differs). For a
    token classifier, `texts` are rows of words and `labels` rows of their tag ids (scored by `evaluate_tokens`;
    latency is timed on the words joined by spaces). For extractive QA, `texts` are the questions, `text_pairs` the
    contexts and `labels` the answers ({"text": [...], "answer_start": [...]}; scored by `evaluate_qa`).
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

    kind = task_of_model(teacher)
    per_token = kind.per_token
    is_regression = not per_token and not kind.span and (is_regression_task(task_name) or teacher.config.num_labels == 1)
    metric_names = metric_names_for_task(task_name, is_regression, per_token, kind.span)
    main_metric = metric_names[0]
    timed = [" ".join(w) for w in texts] if per_token else texts
    if kind.span:
        student_labels = labels
    elif per_token:
        student_labels = [relabel_for_student(teacher, student, list(tags)) for tags in labels]
    else:
        student_labels = labels if is_regression else relabel_for_student(teacher, student, labels)

    entries: dict[str, dict] = {}
    threads = int(num_threads) if num_threads else (os.cpu_count() or 1)
    for role, model, tok, model_dir, model_labels in (
        ("teacher", teacher, teacher_tok, teacher_dir, labels),
        ("student", student, student_tok, student_dir, student_labels),
    ):
        if kind.span:
            metrics = evaluate_qa(model, tok, texts, text_pairs, model_labels, max_length=max_length, doc_stride=doc_stride)
        elif per_token:
            metrics = evaluate_tokens(model, tok, texts, model_labels, max_length=max_length)
        else:
            metrics = evaluate_model(
                model, tok, texts, model_labels, task_name=task_name, text_pairs=text_pairs,
                max_length=max_length, is_regression=is_regression,
            )
        detail = {}
        for bs in batch_sizes:
            detail[f"b{bs}"] = measure_latency_ms(
                model, tok, timed, bs, max_length=max_length, runs=latency_runs, warmup=latency_warmup,
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
    onnx_dir = Path(student_dir) / "onnx"
    if (onnx_dir / "model.onnx").is_file():
        if kind.token_level:
            report["runtimes_note"] = "ONNX files found, not scored: runtime scoring covers sequence tasks so far"
        else:
            report["runtimes"] = runtime_entries(
                onnx_dir, student_tok, texts, student_labels, task_name, text_pairs, max_length, is_regression,
                batch_sizes, latency_runs, latency_warmup, threads)
            report["warnings"] = runtime_warnings(report, main_metric)
    return report


INT8_MAX_DROP = 0.01  # the int8 student may lose at most this much of the main metric (1 point) before a warning


def runtime_entries(onnx_dir: Path, tokenizer, texts, labels, task_name, text_pairs, max_length: int,
                    is_regression: bool, batch_sizes, runs: int, warmup: int, threads: int) -> dict:
    """The student's ONNX files (fp32 "onnx", dynamic int8 "onnx-int8") scored on the same rows and timed on the
    same batches as the PyTorch models, with `threads` intra-op threads."""
    from transformers import EvalPrediction

    from .export import FP32_FILE, INT8_FILE, OnnxModel
    from .measure import measure_runtime_latency_ms

    compute_metrics = build_compute_metrics(task_name, is_regression=is_regression)
    label_ids = np.asarray(labels, dtype=np.float64 if is_regression else np.int64)
    out = {}
    for runtime, name in (("onnx", FP32_FILE), ("onnx-int8", INT8_FILE)):
        path = onnx_dir / name
        if not path.is_file():
            continue
        session = OnnxModel(path, num_threads=threads)
        logits = predict_runtime_logits(session, tokenizer, texts, text_pairs, max_length=max_length)
        detail = {f"b{bs}": measure_runtime_latency_ms(session, tokenizer, texts, bs, max_length=max_length, runs=runs,
                                                       warmup=warmup, text_pairs=text_pairs, threads=threads)
                  for bs in batch_sizes}
        out[runtime] = {"file": str(path), "metrics": compute_metrics(EvalPrediction(predictions=logits, label_ids=label_ids)),
                        "size_mb": path.stat().st_size / 1e6, "latency_ms": {k: d["median"] for k, d in detail.items()},
                        "latency_detail": detail}
    return out


def runtime_warnings(report: dict, main_metric: str) -> list[str]:
    """A warning when the int8 student loses more than INT8_MAX_DROP of the fp32 student's main metric."""
    student = report["student"]["metrics"].get(main_metric)
    int8 = report.get("runtimes", {}).get("onnx-int8", {}).get("metrics", {}).get(main_metric)
    if student is None or int8 is None or student - int8 <= INT8_MAX_DROP:
        return []
    return [f"The int8 ONNX student scores {main_metric} {int8:.4f} against the fp32 student's {student:.4f}, a drop of "
            f"{student - int8:.4f} (more than {INT8_MAX_DROP}): ship model.onnx (fp32), or quantize with calibration."]


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
    for runtime, entry in report.get("runtimes", {}).items():
        speedups = [_ratio(teacher["latency_ms"][k], entry["latency_ms"].get(k)) for k in latency_keys]
        row = ([f"student ({runtime})"] + [_fmt(entry["metrics"].get(m)) for m in metric_names]
               + ["", _fmt(entry["size_mb"], ".1f")] + [_fmt(entry["latency_ms"].get(k), ".2f") for k in latency_keys]
               + [_fmt(s, ".2f", "x") for s in speedups])
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
    for warning in report.get("warnings", []):
        lines += ["", f"**Warning:** {warning}"]
    if report.get("runtimes"):
        lines += ["", "ONNX rows: ONNX Runtime on CPU with the same threads, texts and batches as the PyTorch rows "
                  "(speed-up against the fp32 PyTorch teacher)."]
    return "\n".join(lines) + "\n"


def write_report(report: dict, output_dir: str | os.PathLike) -> tuple[str, str]:
    """Write `report.json` and `report.md` into `output_dir` (created if needed); return their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return str(json_path), str(md_path)


def headline(report: dict) -> dict:
    """The figures `bench/results/pipeline_*.json` records."""
    main = report["metric_name"]
    return {
        "teacher": {main: report["teacher"]["metrics"][main], "num_layers": report["teacher"]["num_layers"]},
        "student": {main: report["student"]["metrics"][main], "num_layers": report["student"]["num_layers"]},
        "retention": report["retention"],
        "speedup_b1": report.get("speedup_b1"),
        "speedup_b32": report.get("speedup_b32"),
        "latency_ms": {r: report[r]["latency_ms"] for r in ("teacher", "student")},
        "num_parameters": {r: report[r]["num_parameters"] for r in ("teacher", "student")},
        "size_mb": {r: report[r]["size_mb"] for r in ("teacher", "student")},
        "distillation": report.get("distillation"),
    }


__all__ = [
    "build_report",
    "headline",
    "count_parameters",
    "evaluate_model",
    "evaluate_tokens",
    "measure_latency_ms",
    "evaluate_qa",
    "predict_logits",
    "render_markdown",
    "size_on_disk_mb",
    "weight_files",
    "write_report",
]
