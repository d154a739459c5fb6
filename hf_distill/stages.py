"""The stages of `hf-distill`: fine-tune a teacher, distil a student, evaluate both, card, push.

Each stage is a plain function of parsed arguments, so the CLI, the recipes, the benchmarks and the tests call
the same code. Only the main process writes reports and cards.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

from .data import GLUE_TASKS, DataArguments, load_task_data, tokenize_split

logger = logging.getLogger(__name__)

PYPI_MODELS = {"pypi:all-MiniLM-L6-v2": "minilm_l6_path", "pypi:all-mpnet-base-v2": "mpnet_base_path"}
PYPI_HUB_IDS = {  # what the wheels carry
    "pypi:all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "pypi:all-mpnet-base-v2": "sentence-transformers/all-mpnet-base-v2",
}
STUDENT_INITS = ("teacher", "pretrained")
TEACHER_INFO = "hf_distill_teacher.json"
DISTILL_INFO = "hf_distill.json"


@dataclass
class ModelArguments:
    """Where the teacher comes from and what the student looks like."""

    teacher: str | None = field(
        default=None,
        metadata={"help": "Fine-tuned teacher: a folder or a Hub id. For `pipeline`, default <output_dir>/teacher."},
    )
    pretrained_model: str = field(
        default="pypi:all-MiniLM-L6-v2",
        metadata={
            "help": "Encoder that `train-teacher` fine-tunes into a teacher: a folder, a Hub id, or "
            "'pypi:all-MiniLM-L6-v2' / 'pypi:all-mpnet-base-v2' (real weights from PyPI, work offline)."
        },
    )
    teacher_learning_rate: float = field(default=5e-5, metadata={"help": "Learning rate of `train-teacher`."})
    teacher_num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs of `train-teacher`."})
    teacher_min_train_steps: int = field(
        default=0, metadata={"help": "`train-teacher` trains at least this many optimizer steps (more epochs on small data)."}
    )
    student: str | None = field(
        default=None, metadata={"help": "An existing student (folder or Hub id); default: built from the teacher."}
    )
    student_num_layers: int | None = field(
        default=None, metadata={"help": "Student depth; its layers are copied from the teacher, evenly spaced."}
    )
    student_init: str = field(
        default="teacher",
        metadata={
            "help": "Where the student's copied layers come from: 'teacher' (the fine-tuned teacher, head included) "
            "or 'pretrained' (the same layers of --pretrained_model, the teacher's own base, with a new head)."
        },
    )
    student_layers: str | None = field(
        default=None, metadata={"help": "Teacher layers to copy, 1-based, e.g. '1,3,5'. Overrides student_num_layers."}
    )
    student_width: str | None = field(
        default=None,
        metadata={
            "help": "Narrower student sliced from the teacher's copied layers, 'hidden:heads:ffn', e.g. '256:8:1024' "
            "(first dims, whole first heads, first FFN units; the head size must stay the teacher's). "
            "Used with student_num_layers or student_layers; `search` prints it for sliced shapes."
        },
    )
    student_config: str | None = field(
        default=None,
        metadata={
            "help": "A narrower student from the teacher's config with these changes, freshly initialised, e.g. "
            "'num_hidden_layers=4,hidden_size=256,num_attention_heads=4,intermediate_size=1024'."
        },
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        if self.student_init not in STUDENT_INITS:
            raise ValueError(f"student_init must be one of {STUDENT_INITS}, got {self.student_init!r}.")
        if self.teacher_min_train_steps < 0:
            raise ValueError(f"teacher_min_train_steps must be >= 0, got {self.teacher_min_train_steps}.")
        if self.student_num_layers is None and self.student_layers is None and self.student is None and not self.student_config:
            self.student_num_layers = 3


@dataclass
class RunArguments:
    """What to do with the result."""

    latency_runs: int = field(default=30, metadata={"help": "Timed runs per latency figure (median reported)."})
    latency_warmup: int = field(default=3, metadata={"help": "Warm-up runs before timing."})
    latency_threads: int | None = field(default=None, metadata={"help": "CPU threads for latency; default all cores."})
    results_file: str | None = field(
        default=None, metadata={"help": "Also write the pipeline's headline figures to this JSON file."}
    )
    model_name: str | None = field(default=None, metadata={"help": "Name of the student in its model card."})
    command: str | None = field(default=None, metadata={"help": "The command recorded in the card (default: this hf-distill command, tokens redacted)."})


def resolve_model_path(name: str) -> str:
    """'pypi:...' names resolve to real weights fetched from PyPI; anything else is returned unchanged."""
    if name in PYPI_MODELS:
        from . import assets

        return getattr(assets, PYPI_MODELS[name])()
    if name.startswith("pypi:"):
        raise ValueError(f"Unknown PyPI model {name!r}; known: {', '.join(PYPI_MODELS)}.")
    return name


def read_teacher_info(teacher_dir: str) -> dict | None:
    """The teacher folder's hf_distill_teacher.json (written by `train-teacher`), or None if there is none."""
    path = os.path.join(teacher_dir, TEACHER_INFO)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _label_config(data):
    if data.is_regression:
        return {"num_labels": 1, "problem_type": "regression"}
    return {
        "num_labels": len(data.label_names),
        "id2label": dict(enumerate(data.label_names)),
        "label2id": {n: i for i, n in enumerate(data.label_names)},
    }


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def train_teacher(model_args: ModelArguments, data_args: DataArguments, training_args, output_dir: str) -> str:
    """Fine-tune a pretrained encoder into a teacher classifier; returns the folder it was saved to."""
    import copy

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer

    from .metrics import build_compute_metrics

    data = load_task_data(data_args)
    if data.train is None:
        raise ValueError("train-teacher needs training data: pass --train_file or --task_name.")
    source = resolve_model_path(model_args.pretrained_model)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=model_args.trust_remote_code)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, trust_remote_code=model_args.trust_remote_code, **_label_config(data)
    )
    resolve_max_length(data_args, data, tokenizer)
    train = tokenize_split(data.train, data, tokenizer, data_args.max_length, model.config.label2id)
    validation = tokenize_split(data.validation, data, tokenizer, data_args.max_length, model.config.label2id)
    args = copy.copy(training_args)
    args.output_dir = output_dir
    args.learning_rate = model_args.teacher_learning_rate
    args.num_train_epochs = model_args.teacher_num_train_epochs
    if model_args.teacher_min_train_steps and args.max_steps <= 0:
        from .recipe import training_steps

        rows_per_step = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
        steps = training_steps(len(train), rows_per_step, args.num_train_epochs, model_args.teacher_min_train_steps)
        if steps > training_steps(len(train), rows_per_step, args.num_train_epochs, 0):
            args.max_steps = steps
            logger.info("train-teacher: %d steps (teacher_min_train_steps) instead of %g epochs", steps, args.num_train_epochs)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=build_compute_metrics(data_args.task_name, data.is_regression),
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(output_dir)
    if _is_main_process():
        base = PYPI_HUB_IDS.get(model_args.pretrained_model, model_args.pretrained_model)
        with open(os.path.join(output_dir, TEACHER_INFO), "w") as f:
            info = {
                "base_model": base,
                "task_name": data_args.task_name,
                "train_rows": len(train),  # the rows it trained on: the last held_out_rows were kept out
                "held_out_rows": data_args.train_slice_for_selection or 0,
            }
            json.dump(info, f, indent=2)
    if validation is not None:
        metrics = trainer.evaluate()
        trainer.save_metrics("eval", metrics)
        logger.info("teacher validation metrics: %s", metrics)
    return output_dir


def resolve_max_length(data_args: DataArguments, data, tokenizer) -> int:
    """`data_args.max_length`, set from the training texts' token lengths when it was not given (hf_distill.recipe)."""
    if data_args.max_length is None:
        from .recipe import max_length_for

        split = "train" if data.train is not None else "validation"
        texts, pairs = data.texts(split)
        data_args.max_length = max_length_for(tokenizer, texts, pairs)
        logger.info("max_length %d: the 99th percentile of the %s texts' token lengths", data_args.max_length, split)
    return data_args.max_length


def _pretrained_base(model_args: ModelArguments, teacher):
    """--pretrained_model as a classifier with the teacher's labels (a new head): where `student_init pretrained`
    cuts its layers from. It must be the teacher's architecture and vocabulary."""
    from transformers import AutoModelForSequenceClassification

    labels = teacher.config
    base = AutoModelForSequenceClassification.from_pretrained(
        resolve_model_path(model_args.pretrained_model), trust_remote_code=model_args.trust_remote_code,
        num_labels=labels.num_labels, id2label=labels.id2label, label2id=labels.label2id,
        problem_type=labels.problem_type,
    )
    mine, theirs = base.config, teacher.config
    if (mine.model_type, mine.vocab_size, mine.hidden_size) != (theirs.model_type, theirs.vocab_size, theirs.hidden_size):
        raise ValueError(
            f"student_init pretrained: --pretrained_model {model_args.pretrained_model!r} is a {mine.model_type} "
            f"(vocab {mine.vocab_size}, hidden {mine.hidden_size}) but the teacher is a {theirs.model_type} (vocab "
            f"{theirs.vocab_size}, hidden {theirs.hidden_size}). Pass the teacher's own base as --pretrained_model, "
            "or --student_init teacher."
        )
    return base


def build_student(model_args: ModelArguments, teacher):
    """The student the arguments describe: an existing model, a narrower config, or the teacher's own layers
    (or, with `student_init pretrained`, the same layers of the encoder the teacher was fine-tuned from)."""
    from transformers import AutoModelForSequenceClassification

    from .student import parse_width, student_from_config, student_from_teacher

    if model_args.student:
        return AutoModelForSequenceClassification.from_pretrained(
            resolve_model_path(model_args.student), trust_remote_code=model_args.trust_remote_code
        )
    if model_args.student_config:
        overrides = {}
        for item in model_args.student_config.split(","):
            key, _, value = item.partition("=")
            if not value:
                raise ValueError(f"student_config: cannot read {item!r}; write key=value pairs separated by commas.")
            overrides[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
        return student_from_config(teacher, **overrides)
    source = _pretrained_base(model_args, teacher) if model_args.student_init == "pretrained" else teacher
    width = {}
    if model_args.student_width:
        hidden, heads, ffn = parse_width(model_args.student_width, "student_width")
        width = {"hidden_size": hidden, "num_attention_heads": heads, "intermediate_size": ffn}
    if model_args.student_layers:
        layers = [int(x) for x in model_args.student_layers.split(",") if x.strip()]
        return student_from_teacher(source, layers=layers, **width)
    return student_from_teacher(source, num_layers=model_args.student_num_layers, **width)


def distill(model_args: ModelArguments, data_args: DataArguments, config, teacher_path: str, output_dir: str,
            command: str | None = None) -> str:
    """Distil `teacher_path` into a student; saves the student (a standard model) in `output_dir`, with
    hf_distill.json: how it was distilled (and `command`, the command that did it, for the card)."""
    from transformers import DataCollatorWithPadding

    from .metrics import build_compute_metrics
    from .trainer import DistillationTrainer

    data, teacher, tokenizer, student, train = _prepare(model_args, data_args, teacher_path, "distill", config.seed)
    validation = tokenize_split(data.validation, data, tokenizer, data_args.max_length, student.config.label2id)
    config.output_dir = output_dir
    if not config.uses_teacher and config.teacher_cache_dir:
        logger.info("labels only (no teacher term): no teacher cache, the teacher is not run")
        config.teacher_cache_dir = None
    if config.teacher_cache_dir and not os.path.isfile(os.path.join(config.teacher_cache_dir, "meta.json")):
        logger.info("building the teacher cache in %s", config.teacher_cache_dir)
        _write_cache(config, data_args, teacher, tokenizer, student, train, config.teacher_cache_dir)
    trainer = DistillationTrainer(
        model=student,
        teacher=teacher,
        teacher_tokenizer=tokenizer,
        args=config,
        train_dataset=train,
        eval_dataset=validation if config.eval_strategy != "no" else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=build_compute_metrics(data_args.task_name, data.is_regression),
    )
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    trainer.save_model(output_dir)
    if _is_main_process():
        info = {
            "teacher": teacher_path,
            "command": command,
            "student_layers": getattr(student.config, "hf_distill_teacher_layers", None),
            "layer_map": ",".join(f"{t}:{s}" for t, s in trainer.layer_pairs),
            "attention_layer_map": ",".join(f"{t}:{s}" for t, s in trainer.attention_pairs),
            "temperature": config.temperature,
            "loss_weights": {
                "hard_label": config.hard_label_weight,
                "logit": config.logit_weight,
                "hidden": config.hidden_weight,
                "attention": config.attention_weight,
            },
            "logit_loss": config.logit_loss,
            "hidden_loss": config.hidden_loss,
            "attention_loss": config.attention_loss if config.attention_weight > 0 else None,
            "train_runtime_s": trainer.state.log_history[-1].get("train_runtime"),
            "epochs": config.num_train_epochs,
            "steps": trainer.state.global_step,
            "train_rows": len(train),
            "max_length": data_args.max_length,
            "student_init": model_args.student_init,
            "learning_rate": config.learning_rate,
            "augment": {"copies": data_args.augment_copies, "min_words": data_args.augment_min_words,
                        "mask_prob": data_args.augment_mask_prob, "replace_prob": data_args.augment_replace_prob}
            if data_args.augment_copies else None,
        }
        with open(os.path.join(output_dir, DISTILL_INFO), "w") as f:
            json.dump(info, f, indent=2)
    return output_dir


def _prepare(model_args: ModelArguments, data_args: DataArguments, teacher_path: str, stage: str, seed: int):
    """Data (checked before any model loads), teacher, its tokenizer, the student, tokenized training rows (and
    their teacher-labelled copies, with --augment_copies)."""
    from transformers import AutoTokenizer

    from .trainer import load_teacher

    data = load_task_data(data_args)
    if data.train is None:
        raise ValueError(f"{stage} needs training data: pass --train_file or --task_name.")
    teacher = load_teacher(resolve_model_path(teacher_path), trust_remote_code=model_args.trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(teacher_path))
    resolve_max_length(data_args, data, tokenizer)
    student = build_student(model_args, teacher)
    train = tokenize_split(data.train, data, tokenizer, data_args.max_length, student.config.label2id)
    if data_args.augment_copies:
        from .augment import with_augmented_rows

        train = with_augmented_rows(
            train, data.train, data, tokenizer, data_args.max_length, student.config.label2id,
            copies=data_args.augment_copies, min_words=data_args.augment_min_words,
            mask_prob=data_args.augment_mask_prob, replace_prob=data_args.augment_replace_prob, seed=seed,
        )
        logger.info("%d training rows with their %d-fold teacher-labelled copies", len(train), data_args.augment_copies)
    return data, teacher, tokenizer, student, train


def build_cache(model_args: ModelArguments, data_args: DataArguments, config, teacher_path: str, cache_dir: str) -> str:
    """Run the teacher once over the training data and store what the configured losses need (hf_distill.cache)."""
    _, teacher, tokenizer, student, train = _prepare(model_args, data_args, teacher_path, "cache", config.seed)
    return _write_cache(config, data_args, teacher, tokenizer, student, train, cache_dir)


def _write_cache(config, data_args, teacher, tokenizer, student, train, cache_dir: str) -> str:
    from .cache import build_teacher_cache
    from .layer_map import resolve_pairs

    pairs, att_pairs = resolve_pairs(config, teacher.config.num_hidden_layers, student.config.num_hidden_layers)
    parts = config.attention_parts
    return build_teacher_cache(
        teacher,
        tokenizer,
        train,
        cache_dir,
        layers_hidden=sorted({t for t, _ in pairs}) if config.hidden_weight > 0 else [],
        layers_attention=sorted({t for t, _ in att_pairs}) if parts else [],
        parts=parts,
        max_length=data_args.max_length,
        batch_size=config.per_device_eval_batch_size,
        device=config.device,
    )


def evaluate_pair(data_args: DataArguments, run_args: RunArguments, teacher_dir: str, student_dir: str, report_dir: str) -> dict:
    """Teacher and student on the validation set: metric, parameters, size, CPU latency. Writes report.json/.md."""
    from .report import build_report, write_report

    data = load_task_data(data_args)
    if data.validation is None:
        raise ValueError("evaluate needs validation data: pass --validation_file or --task_name.")
    if data_args.max_length is None:
        from transformers import AutoTokenizer

        resolve_max_length(data_args, data, AutoTokenizer.from_pretrained(teacher_dir))
    texts, pairs = data.texts("validation")
    labels = list(data.validation[data.label_column])
    if not data.is_regression:
        from transformers import AutoConfig

        from .data import label_permutation

        perm = label_permutation(data.label_names, AutoConfig.from_pretrained(teacher_dir).label2id)
        labels = [perm[y] for y in labels]
    report = build_report(
        teacher_dir,
        student_dir,
        [t.strip() for t in texts],
        labels,
        data_args.task_name,
        text_pairs=[p.strip() for p in pairs] if pairs else None,
        max_length=data_args.max_length,
        latency_runs=run_args.latency_runs,
        latency_warmup=run_args.latency_warmup,
        num_threads=run_args.latency_threads,
    )
    info_path = os.path.join(student_dir, DISTILL_INFO)
    if os.path.isfile(info_path):
        with open(info_path) as f:
            report["distillation"] = json.load(f)
    if _is_main_process():
        write_report(report, report_dir)
    return report


def write_student_card(report: dict, data_args: DataArguments, run_args: RunArguments, student_dir: str) -> str:
    """Render the model card from model_cards/template.md into `student_dir/README.md`."""
    from .card import write_card
    from .report import card_fields

    distillation = report.get("distillation", {})
    task = data_args.task_name or "text-classification"
    teacher_base = (read_teacher_info(report.get("teacher_dir", "")) or {}).get("base_model")
    info = {
        "model_name": run_args.model_name or f"{os.path.basename(os.path.abspath(student_dir))}",
        "teacher": distillation.get("teacher") or report.get("teacher_dir"),
        "teacher_base": teacher_base,
        "dataset": {"name": "glue", "config": data_args.task_name} if data_args.task_name in GLUE_TASKS else None,
        "loss_weights": distillation.get("loss_weights"),
        "temperature": distillation.get("temperature"),
        "layer_map": distillation.get("layer_map"),
        "student_layers": distillation.get("student_layers"),
        "command": _reproduce_command(distillation.get("command"), run_args.command),
        **card_fields(report),
    }
    info["task_name"] = task
    info = {k: v for k, v in info.items() if v is not None}
    return write_card(student_dir, info)


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

