"""Model card (README.md) for a distilled student.

`render_card(info)` fills the Jinja2 template `hf_distill/templates/card.md` and checks the result with
`huggingface_hub.ModelCard`; `write_card(output_dir, info)` writes it as `output_dir/README.md`.
Both work offline: the Hub's own validation (`ModelCard.validate()`, `/api/validate-yaml`) runs
when the card is pushed (`hf_distill.hub.push_student`).
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from pathlib import Path
from typing import Any

__all__ = ["render_card", "write_card", "check_card", "template_path", "card_fields", "write_student_card", "redact",
           "REQUIRED_KEYS", "DEFAULT_LICENSE"]

REQUIRED_KEYS = ("model_name", "teacher", "task_name")
DEFAULT_LICENSE = "apache-2.0"
HUB_URL = "https://huggingface.co"
MISSING = "–"

_PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE = _PACKAGE_DIR / "templates" / "card.md"  # inside the package: a wheel carries it (package-data)

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95})?$")


def template_path() -> Path:
    """The card template, `hf_distill/templates/card.md`."""
    if not TEMPLATE.is_file():
        raise FileNotFoundError(f"hf_distill's model card template is missing: {TEMPLATE}. Reinstall hf_distill.")
    return TEMPLATE


def looks_like_hub_id(name: Any) -> bool:
    """True for `org/name` or `name` strings that are valid Hub repo ids and not existing local paths."""
    if not isinstance(name, str) or not _HUB_ID.match(name):
        return False
    if "--" in name or ".." in name or name.endswith((".", "-")) or name.startswith("."):
        return False
    return not os.path.exists(name)


# ---------------------------------------------------------------------------------------------------------------------
# Formatting helpers


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def _fmt_metric(value: float | None) -> str | None:
    return None if value is None else f"{value:.4f}"


def _fmt_params(value: float | None) -> str | None:
    if value is None:
        return None
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{int(value)}"


def _fmt_mb(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f} MB"


def _fmt_ms(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f} ms"


def _fmt_times(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}×"


def _fmt_float(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def _pair(info: dict, key: str) -> tuple[float | None, float | None]:
    data = info.get(key)
    if not isinstance(data, dict):
        return None, None
    return _number(data.get("student")), _number(data.get("teacher"))


def _dataset(info: dict) -> dict[str, Any]:
    """Normalise `dataset` (str, [name, config] or {name, config, split, pretty_name}) to template fields."""
    raw = info.get("dataset")
    name = config = pretty = None
    split = "validation"
    if isinstance(raw, dict):
        name = raw.get("name") or raw.get("id") or raw.get("path")
        config = raw.get("config")
        split = raw.get("split") or split
        pretty = raw.get("pretty_name")
    elif isinstance(raw, (list, tuple)) and raw:
        name = raw[0]
        config = raw[1] if len(raw) > 1 else None
    elif isinstance(raw, str) and raw.strip():
        name = raw.strip()
    config = config or info.get("dataset_config")
    name = str(name) if name else None
    config = str(config) if config else None
    hub_id = name if looks_like_hub_id(name) else None
    if name and not pretty:
        shown = name if hub_id else Path(name).name or name
        pretty = f"{shown}/{config}" if config else shown
    return {
        "dataset_id": hub_id,
        "dataset_config": config if hub_id else None,
        "dataset_split": str(split),
        "dataset_pretty_name": pretty,
    }


def _task_facts(info: dict) -> dict[str, str]:
    """The card's task wording (hf_distill.tasks): pipeline tag, auto class, what the model does."""
    from .tasks import SEQUENCE_CLASSIFICATION, TASK_KINDS

    kind = TASK_KINDS.get(info.get("task_kind") or "", SEQUENCE_CLASSIFICATION)
    return {"pipeline_tag": kind.pipeline_tag, "auto_model": kind.auto_model, "task_summary": kind.card_summary,
            "task_noun": kind.card_noun, "example": kind.card_example, "per_token": kind.per_token, "span": kind.span,
            "context": kind.card_context}


def _context(info: dict) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise TypeError(f"model card info must be a dict, got {type(info).__name__}")
    missing = [k for k in REQUIRED_KEYS if info.get(k) is None or not str(info.get(k)).strip()]
    if missing:
        raise ValueError(
            "model card info is missing required key(s): "
            + ", ".join(repr(k) for k in missing)
            + f" (required: {', '.join(REQUIRED_KEYS)})"
        )
    model_name = str(info["model_name"]).strip()
    teacher = str(info["teacher"]).strip()
    task_name = str(info["task_name"]).strip()
    base_model = teacher if looks_like_hub_id(teacher) else None
    teacher_md = f"[`{teacher}`]({HUB_URL}/{teacher})" if base_model else f"`{teacher}` (local checkpoint)"
    teacher_base = str(info.get("teacher_base") or "").strip()
    if not base_model and looks_like_hub_id(teacher_base):  # a local teacher fine-tuned from a Hub model
        base_model = teacher_base
        teacher_md = f"`{teacher}` (local checkpoint fine-tuned from [`{teacher_base}`]({HUB_URL}/{teacher_base}))"

    ctx: dict[str, Any] = {
        "model_name": model_name,
        "teacher": teacher,
        "teacher_md": teacher_md,
        "task_name": task_name,
        "base_model": base_model,
        "license": str(info.get("license") or DEFAULT_LICENSE),
        "usage_id": str(info.get("repo_id") or model_name),
        **_task_facts(info),
        **_dataset(info),
    }

    metric_name = info.get("metric_name")
    metric_name = str(metric_name).strip() if metric_name else None
    ctx["metric_name"] = metric_name
    label = (metric_name or "score").replace("_", " ")
    ctx["metric_label"] = label[:1].upper() + label[1:]
    student_metric, teacher_metric = _number(info.get("student_metric")), _number(info.get("teacher_metric"))
    ctx["student_metric"] = student_metric
    ctx["student_metric_str"] = _fmt_metric(student_metric)
    ctx["teacher_metric_str"] = _fmt_metric(teacher_metric)
    retention = _number(info.get("retention"))
    if retention is None and student_metric is not None and teacher_metric:
        retention = student_metric / teacher_metric
    ctx["retention_str"] = None if retention is None else f"{retention:.1%}"
    ctx["model_index"] = student_metric is not None and bool(metric_name) and bool(ctx["dataset_id"])

    params_s, params_t = _pair(info, "num_parameters")
    size_s, size_t = _pair(info, "size_mb")
    ctx["size_ratio_str"] = f"{size_s / size_t:.0%}" if size_s is not None and size_t else None
    latency = info.get("latency_ms") if isinstance(info.get("latency_ms"), dict) else {}
    lat = {k: _number(latency.get(k)) for k in ("student_b1", "teacher_b1", "student_b32", "teacher_b32")}
    speedup = _number(info.get("speedup_b32"))
    if speedup is None and lat["student_b32"] and lat["teacher_b32"] is not None:
        speedup = lat["teacher_b32"] / lat["student_b32"]
    ctx["speedup_str"] = _fmt_times(speedup)

    rows = []

    def add_row(label: str, student: str | None, teacher_value: str | None) -> None:
        if student is not None or teacher_value is not None:
            rows.append({"label": label, "student": student or MISSING, "teacher": teacher_value or MISSING})

    metric_row = ctx["metric_label"] + (f" ({ctx['dataset_split']})" if metric_name else "")
    add_row(metric_row, ctx["student_metric_str"], ctx["teacher_metric_str"])
    add_row("Parameters", _fmt_params(params_s), _fmt_params(params_t))
    add_row("Size on disk", _fmt_mb(size_s), _fmt_mb(size_t))
    add_row("Latency, batch 1", _fmt_ms(lat["student_b1"]), _fmt_ms(lat["teacher_b1"]))
    add_row("Latency, batch 32", _fmt_ms(lat["student_b32"]), _fmt_ms(lat["teacher_b32"]))
    add_row("Speed-up, batch 32", ctx["speedup_str"], "1.00×" if speedup is not None else None)
    runtimes = info.get("runtimes") if isinstance(info.get("runtimes"), dict) else {}
    for runtime, entry in runtimes.items():  # the student in ONNX Runtime (hf-distill export, then evaluate)
        add_row(f"{ctx['metric_label']}, {runtime}", _fmt_metric(_number(entry.get("metric"))), None)
        add_row(f"Latency, batch 32, {runtime}", _fmt_ms(_number(entry.get("latency_b32"))), None)
    ctx["onnx"] = bool(runtimes)
    if runtimes:  # the card's snippet opens the session with the settings the figures were measured with
        from .export import DISABLED_OPTIMIZERS, SESSION_CONFIG

        ctx["onnx_session_config"], ctx["onnx_disabled_optimizers"] = SESSION_CONFIG, list(DISABLED_OPTIMIZERS)
    ctx["results_rows"] = rows
    ctx["has_latency"] = any(v is not None for v in lat.values())

    weights = info.get("loss_weights")
    if isinstance(weights, dict) and weights:
        ctx["loss_weights_str"] = ", ".join(
            f"`{name}` = {_fmt_float(_number(w)) or w}" for name, w in weights.items()
        )
    else:
        ctx["loss_weights_str"] = None
    ctx["temperature_str"] = _fmt_float(_number(info.get("temperature")))
    layer_map = info.get("layer_map")
    if isinstance(layer_map, dict):
        layer_map = ",".join(f"{t}:{s}" for t, s in layer_map.items())
    elif isinstance(layer_map, (list, tuple)):
        layer_map = ",".join(f"{t}:{s}" for t, s in layer_map)
    ctx["layer_map"] = str(layer_map).strip() if layer_map else None
    layers = info.get("student_layers")
    ctx["student_layers_str"] = (
        "[" + ", ".join(str(i) for i in layers) + "]" if isinstance(layers, (list, tuple)) and layers else None
    )
    assistants = info.get("assistants")
    ctx["assistants_str"] = (
        ", ".join(str(a.get("layers")) for a in assistants if isinstance(a, dict))
        if isinstance(assistants, (list, tuple)) and assistants else None
    )
    command = info.get("command")
    if isinstance(command, (list, tuple)):
        command = shlex.join(str(c) for c in command)
    ctx["command"] = str(command).strip() if command else None
    return ctx


# ---------------------------------------------------------------------------------------------------------------------
# Public API


def check_card(content: str, info: dict | None = None):
    """Parse `content` with `huggingface_hub.ModelCard` and return the card.

    With `info`, also checks that the metadata carries what the info promised: `base_model` when the teacher is a
    Hub id, and, when `student_metric`, `metric_name` and a Hub `dataset` are given, a `model-index` whose first
    result is the student's. Raises `ValueError` naming the missing / wrong field.
    """
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(content)
    except ValueError as exc:
        raise ValueError(f"model card metadata does not parse: {exc}") from exc
    if not content.startswith("---") or card.data is None or not card.data.to_dict():
        raise ValueError("model card has no YAML metadata block")
    if info is None:
        return card
    ctx = _context(info)
    data = card.data
    for key in ("license", "pipeline_tag", "tags"):
        if not getattr(data, key, None):
            raise ValueError(f"model card metadata is missing '{key}'")
    if ctx["base_model"] and data.base_model != ctx["base_model"]:
        raise ValueError(f"model card metadata is missing 'base_model' ({ctx['base_model']})")
    if ctx["model_index"]:
        results = data.eval_results or []
        if "model-index" not in data.to_dict() or not results:
            raise ValueError("model card metadata is missing 'model-index' (student result)")
        result = results[0]
        expected = {
            "model-index[0].name": (data.model_name, ctx["model_name"]),
            "model-index[0].results[0].task.type": (result.task_type, ctx["pipeline_tag"]),
            "model-index[0].results[0].dataset.type": (result.dataset_type, ctx["dataset_id"]),
            "model-index[0].results[0].dataset.split": (result.dataset_split, ctx["dataset_split"]),
            "model-index[0].results[0].metrics[0].type": (result.metric_type, ctx["metric_name"]),
            "model-index[0].results[0].metrics[0].value": (result.metric_value, ctx["student_metric"]),
        }
        if ctx["dataset_config"]:
            expected["model-index[0].results[0].dataset.config"] = (result.dataset_config, ctx["dataset_config"])
        for field_name, (got, want) in expected.items():
            if got != want:
                raise ValueError(f"model card metadata: '{field_name}' is {got!r}, expected {want!r}")
    return card


def render_card(info: dict) -> str:
    """Render the model card (README.md text) of a distilled student.

    `info` keys (only `model_name`, `teacher` and `task_name` are required; sections whose data is absent are left
    out of the card):

    - `model_name` (str): the student's name, e.g. "minilm-l3-sst2-distilled" or "user/minilm-l3-sst2".
    - `teacher_base` (str, optional): the Hub model a local teacher was fine-tuned from; becomes `base_model`.
    - `teacher` (str): teacher Hub id or local path. A valid Hub id becomes `base_model` in the YAML metadata; a
      local path is only written in the text.
    - `task_name` (str): e.g. "sst2".
    - `repo_id` (str): Hub id used in the usage snippet; defaults to `model_name`.
    - `dataset`: the evaluation dataset on the Hub, as "glue", ["glue", "sst2"] or
      {"name": "glue", "config": "sst2", "split": "validation", "pretty_name": "GLUE SST-2"} (split defaults to
      "validation"; `dataset_config` may also be given as a top-level key). A local path is shown in the text but
      kept out of the metadata.
    - `metric_name` (str): e.g. "accuracy".
    - `student_metric`, `teacher_metric` (float in [0, 1]): scores on the split. The student's goes in the
      `model-index` (written when `student_metric`, `metric_name` and a Hub `dataset` are all known); both go in
      the text and the results table.
    - `retention` (float): student_metric / teacher_metric (0.97 = 97%); computed when absent.
    - `loss_weights` (dict name -> float), `temperature` (float).
    - `layer_map` (str "teacher:student,...", e.g. "2:1,4:2,6:3"; a dict or list of pairs is also accepted).
    - `student_layers` (list[int]): teacher layers copied into the student (the last assistant's, with `assistants`).
    - `assistants` (list of {"layers", "folder"}): teacher assistants distilled first, deepest first.
    - `num_parameters` {"student", "teacher"} (ints), `size_mb` {"student", "teacher"} (floats).
    - `latency_ms` {"student_b1", "teacher_b1", "student_b32", "teacher_b32"} (ms per batch).
    - `speedup_b32` (float): teacher / student latency at batch 32; computed from `latency_ms` when absent.
    - `command` (str or list of args): the command that reproduces the student.
    - `license` (str): defaults to "apache-2.0".

    Raises `ValueError` when a required key is missing or the rendered metadata does not carry what `info` says
    (checked with `huggingface_hub.ModelCard`).
    """
    import jinja2

    ctx = _context(info)
    path = template_path()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    content = env.get_template(path.name).render(**ctx)
    content = re.sub(r"\n{3,}", "\n\n", content).lstrip()
    check_card(content, info)
    return content


def write_card(output_dir: str, info: dict) -> str:
    """Render the card (see `render_card`) and write it to `output_dir/README.md`; returns that path."""
    content = render_card(info)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "README.md"
    path.write_text(content, encoding="utf-8")
    return str(path)


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
    if report.get("runtimes"):
        fields["runtimes"] = {name: {"metric": entry["metrics"].get(main), "latency_b32": entry["latency_ms"].get("b32")}
                              for name, entry in report["runtimes"].items()}
    from .report import _json_safe

    return _json_safe(fields)


def write_student_card(report: dict, data_args, run_args, student_dir: str) -> str:
    """Render the model card from the package template (hf_distill/templates/card.md) into `student_dir/README.md`."""
    from .data import GLUE_DATASET, GLUE_TASKS
    from .tasks import TASK_KINDS
    from .teacher import read_teacher_info

    distillation = report.get("distillation", {})
    kind = TASK_KINDS[_student_task(student_dir)]
    hub_dataset = data_args.dataset_name if data_args.dataset_name != GLUE_DATASET else None
    task = data_args.task_name or hub_dataset or kind.pipeline_tag
    teacher_base = (read_teacher_info(report.get("teacher_dir", "")) or {}).get("base_model")
    info = {
        "model_name": run_args.model_name or f"{os.path.basename(os.path.abspath(student_dir))}",
        "teacher": distillation.get("teacher") or report.get("teacher_dir"),
        "teacher_base": teacher_base,
        "dataset": {"name": "glue", "config": data_args.task_name} if data_args.task_name in GLUE_TASKS and not hub_dataset
        else ({"name": hub_dataset} if hub_dataset else None),
        "loss_weights": distillation.get("loss_weights"),
        "temperature": distillation.get("temperature"),
        "layer_map": distillation.get("layer_map"),
        "student_layers": distillation.get("student_layers"),
        "assistants": distillation.get("assistants"),
        "command": _reproduce_command(distillation.get("command"), run_args.command),
        **card_fields(report),
    }
    info["task_name"] = task
    info["task_kind"] = kind.name
    info = {k: v for k, v in info.items() if v is not None}
    return write_card(student_dir, info)


def _student_task(student_dir: str) -> str:
    """The task kind of the saved student (its config's architectures), for the card's wording."""
    from .tasks import task_of

    try:
        with open(os.path.join(student_dir, "config.json")) as f:
            return task_of(json.load(f).get("architectures")).name
    except (OSError, ValueError):
        return task_of(None).name


def _reproduce_command(distilled_by: str | None, current: str | None) -> str | None:
    """The card's command: the one that distilled the student, then this one if it is another (`evaluate`).
    `current` is `run_args.command`, which `cli.run` sets from the stage's own argv."""
    return "\n".join(c for c in dict.fromkeys((distilled_by, current)) if c) or None


def redact(argv: list[str]) -> list[str]:
    """Command-line arguments with the values of token options replaced: a card never records a token."""
    out, hide = [], False
    for arg in argv:
        key = arg.split("=", 1)[0]
        if hide:
            out.append("<redacted>")
        elif "token" in key and "=" in arg:
            out.append(f"{key}=<redacted>")
        else:
            out.append(arg)
        hide = key.startswith("--") and "token" in key and "=" not in arg
    return out
