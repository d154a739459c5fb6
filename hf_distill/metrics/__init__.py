"""Task metrics that load offline through `evaluate`, and a `compute_metrics` for `transformers.Trainer`.

`evaluate.load("accuracy")` fetches the metric script from the Hugging Face Hub, which is not always
reachable. This package ships its own metric scripts, one folder per metric (`accuracy`, `f1`,
`matthews_correlation`, `pearsonr`, `spearmanr`, and `seqeval` for token classification; each an
`evaluate.Metric` backed by scikit-learn, scipy or seqeval). `evaluate.load` reads them from the local folder,
so they work with `HF_HUB_OFFLINE=1` / `HF_EVALUATE_OFFLINE=1` and no network:

    from hf_distill.metrics import load_metric, build_compute_metrics
    load_metric("accuracy").compute(predictions=[0, 1], references=[0, 0])   # {'accuracy': 0.5}
    trainer = Trainer(..., compute_metrics=build_compute_metrics("sst2"))
    trainer = Trainer(..., compute_metrics=compute_metrics_for(data_args.task_name, data, model))  # any task
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

METRICS_DIR = Path(__file__).resolve().parent

AVAILABLE_METRICS = ("accuracy", "f1", "matthews_correlation", "pearsonr", "spearmanr", "seqeval")
TOKEN_METRICS = ["f1", "precision", "recall", "accuracy"]  # seqeval's entity-level scores, then word accuracy
QA_METRICS = ["f1", "exact_match"]  # SQuAD v1.1, in percent (hf_distill.qa.squad_scores)

GLUE_METRICS: dict[str, list[str]] = {
    "cola": ["matthews_correlation"],
    "sst2": ["accuracy"],
    "mrpc": ["accuracy", "f1"],
    "qqp": ["accuracy", "f1"],
    "stsb": ["pearsonr", "spearmanr"],
    "mnli": ["accuracy"],
    "qnli": ["accuracy"],
    "rte": ["accuracy"],
    "wnli": ["accuracy"],
}

# Tasks whose labels are real-valued scores.
REGRESSION_TASKS = frozenset({"stsb"})

DEFAULT_CLASSIFICATION_METRICS = ["accuracy"]
DEFAULT_REGRESSION_METRICS = ["pearsonr", "spearmanr"]

_ALIASES = {
    "sst-2": "sst2",
    "sts-b": "stsb",
    "mnli-m": "mnli",
    "mnli-mm": "mnli",
    "mnli_matched": "mnli",
    "mnli_mismatched": "mnli",
}


def normalize_task_name(task_name: str | None) -> str | None:
    """Lower-case a task name and map common spellings ("SST-2", "mnli_mismatched", "glue/cola") to GLUE keys."""
    if task_name is None:
        return None
    name = str(task_name).strip().lower()
    if name.startswith("glue/") or name.startswith("glue-") or name.startswith("glue_"):
        name = name[5:]
    name = _ALIASES.get(name, name)
    return name


def is_regression_task(task_name: str | None) -> bool:
    """True for GLUE regression tasks (STS-B)."""
    return normalize_task_name(task_name) in REGRESSION_TASKS


def metric_names_for_task(task_name: str | None, is_regression: bool = False, per_token: bool = False,
                          span: bool = False) -> list[str]:
    """The metrics for a task: entity F1, precision, recall and accuracy for token classification; SQuAD's F1 and
    exact match for extractive QA (`span`); the GLUE list for a GLUE task; else accuracy (or pearsonr + spearmanr
    for regression)."""
    if span:
        return list(QA_METRICS)
    if per_token:
        return list(TOKEN_METRICS)
    task = normalize_task_name(task_name)
    if task in GLUE_METRICS:
        return list(GLUE_METRICS[task])
    return list(DEFAULT_REGRESSION_METRICS if is_regression else DEFAULT_CLASSIFICATION_METRICS)


def metric_path(name: str) -> str:
    """The local folder of metric `name` (what `evaluate.load` is given)."""
    if name not in AVAILABLE_METRICS:
        raise ValueError(f"Unknown metric {name!r}; available: {', '.join(AVAILABLE_METRICS)}")
    path = METRICS_DIR / name
    if not (path / f"{name}.py").is_file():
        raise FileNotFoundError(f"Metric script missing: {path / (name + '.py')}")
    return str(path)


_CACHE: dict[tuple, object] = {}
_CACHE_LOCK = threading.Lock()


def load_metric(name: str, config_name: str | None = None, **kwargs):
    """Load metric `name` with `evaluate.load` from this package's folder (never from the Hub).

    The module is loaded once per (name, config_name, kwargs) and reused; it is kept in memory
    (`keep_in_memory=True`) unless the caller says otherwise. Pass `cache=False` to get a fresh module.
    """
    import evaluate

    use_cache = kwargs.pop("cache", True)
    kwargs.setdefault("keep_in_memory", True)
    key = (name, config_name, tuple(sorted(kwargs.items())))
    if use_cache:
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
    module = evaluate.load(metric_path(name), config_name, **kwargs)
    if use_cache:
        with _CACHE_LOCK:
            _CACHE.setdefault(key, module)
            module = _CACHE[key]
    return module


def _first(x):
    """Trainer passes a tuple when the model returns several outputs (logits first) or several label fields."""
    while isinstance(x, tuple) and len(x) > 0:
        x = x[0]
    return np.asarray(x)


def _unpack(eval_pred):
    if hasattr(eval_pred, "predictions"):
        return eval_pred.predictions, eval_pred.label_ids
    predictions, label_ids = eval_pred[0], eval_pred[1]
    return predictions, label_ids


def _to_class_ids(predictions: np.ndarray) -> np.ndarray:
    if predictions.ndim >= 2:
        return predictions.argmax(axis=-1).reshape(-1)
    if np.issubdtype(predictions.dtype, np.integer):  # already class ids
        return predictions
    raise ValueError(
        f"Classification needs logits of shape (N, num_labels), got shape {predictions.shape}; "
        "pass is_regression=True for a regression head."
    )


def _to_scores(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 1:
        return x
    if x.ndim == 0:
        return x.reshape(1)
    raise ValueError(f"Regression expects predictions of shape (N,) or (N, 1), got {x.shape}")


def build_compute_metrics(
    task_name: str | None,
    is_regression: bool = False,
    metric_names: Sequence[str] | None = None,
) -> Callable:
    """A `compute_metrics(eval_pred)` for `transformers.Trainer`.

    `eval_pred.predictions` are logits (N, C) -> argmax, or regression outputs (N,) / (N, 1) -> squeezed;
    `eval_pred.label_ids` the references. Returns a flat dict of floats, e.g. `{"accuracy": 0.9}`, with
    `"combined_score"` (the mean) added when the task has several metrics (MRPC, QQP, STS-B).
    `metric_names` overrides the task's list. GLUE STS-B is always treated as regression.
    For F1 with more than two classes the macro average is used (binary F1 of class 1 otherwise).
    """
    is_regression = bool(is_regression) or is_regression_task(task_name)
    names = list(metric_names) if metric_names is not None else metric_names_for_task(task_name, is_regression)
    if not names:
        raise ValueError("No metrics to compute")
    modules = {name: load_metric(name) for name in names}

    def compute_metrics(eval_pred) -> dict[str, float]:
        predictions, label_ids = _unpack(eval_pred)
        predictions, references = _first(predictions), _first(label_ids)
        if is_regression:
            preds, refs = _to_scores(predictions), _to_scores(references)
        else:
            preds = _to_class_ids(predictions).astype(np.int64)
            refs = references.reshape(-1).astype(np.int64)
        if len(preds) != len(refs):
            raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
        result: dict[str, float] = {}
        for name, module in modules.items():
            kwargs = {}
            if name == "f1" and not is_regression:
                largest = int(max(preds.max(initial=0), refs.max(initial=0)))
                n_classes = predictions.shape[-1] if predictions.ndim >= 2 else largest + 1
                if n_classes > 2:
                    kwargs["average"] = "macro"
            out = module.compute(predictions=preds.tolist(), references=refs.tolist(), **kwargs)
            result[name] = float(out[name])
        if len(result) > 1:
            result["combined_score"] = float(np.mean(list(result.values())))
        return result

    compute_metrics.metric_names = names
    compute_metrics.is_regression = is_regression
    return compute_metrics


def build_token_compute_metrics(label_names: Sequence[str]) -> Callable:
    """A `compute_metrics(eval_pred)` for token classification: logits (N, T, C) -> argmax tags, scored by seqeval
    at the positions whose label is not -100 (a word's first sub-token). `label_names[i]` names the model's id i.
    Returns {"f1", "precision", "recall", "accuracy"} (entity level; accuracy per word)."""
    module = load_metric("seqeval")
    names = [str(n) for n in label_names]

    def compute_metrics(eval_pred) -> dict[str, float]:
        predictions, label_ids = _unpack(eval_pred)
        predictions, references = _first(predictions), _first(label_ids)
        preds = predictions.argmax(-1) if predictions.ndim == 3 else predictions
        pred_tags, gold_tags = [], []
        for p_row, g_row in zip(preds, references):
            keep = g_row != -100
            pred_tags.append([names[int(i)] for i in p_row[keep]])
            gold_tags.append([names[int(i)] for i in g_row[keep]])
        out = module.compute(predictions=pred_tags, references=gold_tags)
        return {name: float(out[name]) for name in TOKEN_METRICS}

    compute_metrics.metric_names = list(TOKEN_METRICS)
    compute_metrics.is_regression = False
    return compute_metrics


def compute_metrics_for(task_name: str | None, data, model) -> Callable | None:
    """The `compute_metrics` for a `hf_distill.data.TaskData` scored with `model` (its config's label ids): seqeval
    for a token task, the tags named by the model's id2label (the data's names where those are LABEL_i defaults),
    None for QA (its scores need the answer strings: `hf_distill.report.evaluate_qa`), else
    `build_compute_metrics`."""
    if data.kind.span:
        return None
    if data.kind.per_token:
        from hf_distill.labels import is_default_names, model_label_names

        names = model_label_names(model)
        return build_token_compute_metrics(data.label_names if not names or is_default_names(names) else names)
    return build_compute_metrics(task_name, data.is_regression)


__all__ = [
    "AVAILABLE_METRICS",
    "GLUE_METRICS",
    "REGRESSION_TASKS",
    "build_compute_metrics",
    "build_token_compute_metrics",
    "compute_metrics_for",
    "is_regression_task",
    "load_metric",
    "metric_names_for_task",
    "metric_path",
    "normalize_task_name",
]
