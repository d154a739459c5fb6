"""Task data the way transformers' `run_glue.py` takes it: a GLUE task from the Hub, or local files.

Labels carry names. A dataset's label ids are turned into names and then into the ids of the model being
trained (`model.config.label2id`), so a teacher and a dataset whose labels are ordered differently still agree.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any

# GLUE task -> (text column, text-pair column); validation split name where it is not "validation".
GLUE_TASKS: dict[str, tuple[str, str | None]] = {
    "cola": ("sentence", None),
    "mnli": ("premise", "hypothesis"),
    "mrpc": ("sentence1", "sentence2"),
    "qnli": ("question", "sentence"),
    "qqp": ("question1", "question2"),
    "rte": ("sentence1", "sentence2"),
    "sst2": ("sentence", None),
    "stsb": ("sentence1", "sentence2"),
    "wnli": ("sentence1", "sentence2"),
}
GLUE_VALIDATION_SPLIT = {"mnli": "validation_matched"}
# Readable names for GLUE tasks whose Hub features are ClassLabels with terse names.
EXTENSION_TO_BUILDER = {"csv": "csv", "tsv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet"}


def check_probabilities(mask_prob: float, replace_prob: float, names=("mask_prob", "replace_prob")) -> None:
    """Raise ValueError unless both chances are >= 0 and sum to <= 1 (`names`: how the caller calls them)."""
    if not (0 <= mask_prob and 0 <= replace_prob and mask_prob + replace_prob <= 1):
        raise ValueError(f"{names[0]} and {names[1]} must be >= 0 and sum to <= 1, got {mask_prob} and {replace_prob}.")


@dataclass
class DataArguments:
    """Which data to train and evaluate on. Either `task_name` (a GLUE task, from the Hub) or local files."""

    task_name: str | None = field(
        default=None, metadata={"help": f"A GLUE task loaded from the Hub: one of {', '.join(GLUE_TASKS)}."}
    )
    dataset_name: str = field(default="nyu-mll/glue", metadata={"help": "Hub dataset holding `task_name`."})
    train_file: str | None = field(default=None, metadata={"help": "Local training file: csv, tsv, json, jsonl or parquet."})
    validation_file: str | None = field(default=None, metadata={"help": "Local validation file, same formats."})
    text_column: str | None = field(
        default=None, metadata={"help": "Column with the text (default: the task's, else 'sentence' or 'text')."}
    )
    text_pair_column: str | None = field(
        default=None, metadata={"help": "Column with the second text of a pair task (default: none for local files)."}
    )
    label_column: str = field(default="label", metadata={"help": "Column with the label."})
    class_names: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated names of integer labels 0..k-1 in local files, e.g. 'negative,positive'. "
            "String labels are named by themselves."
        },
    )
    is_regression: bool | None = field(
        default=None, metadata={"help": "Regression task (float labels, one output). Default: stsb, or float labels."}
    )
    max_length: int | None = field(
        default=None,
        metadata={"help": "Truncate inputs to this many tokens (padding is dynamic). Default: from the training texts, "
                          "the 99th percentile of their token lengths (hf_distill.recipe.max_length_for)."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N validation rows."})
    train_slice_for_selection: int | None = field(
        default=None,
        metadata={
            "help": "Hold out the last N training rows as a selection set (used instead of the scored validation "
            "rows wherever a model is selected)."
        },
    )
    augment_copies: int = field(
        default=0,
        metadata={
            "help": "Teacher-labelled augmentation (hf_distill.augment): this many perturbed copies of each training "
            "row with >= --augment_min_words words; the copies have no gold label, only the teacher terms train on them."
        },
    )
    augment_min_words: int = field(default=0, metadata={"help": "Augment only rows with at least this many words."})
    augment_mask_prob: float = field(default=0.1, metadata={"help": "Chance that a word of a copy becomes the mask token."})
    augment_replace_prob: float = field(
        default=0.1, metadata={"help": "Chance that a word of a copy becomes a word drawn from the training text."}
    )

    def __post_init__(self):
        if self.augment_copies < 0:
            raise ValueError(f"augment_copies must be >= 0, got {self.augment_copies}.")
        check_probabilities(self.augment_mask_prob, self.augment_replace_prob, ("augment_mask_prob", "augment_replace_prob"))
        if self.task_name is not None:
            self.task_name = self.task_name.lower()
            if self.task_name not in GLUE_TASKS and self.train_file is None:
                raise ValueError(
                    f"Unknown task_name {self.task_name!r}: use one of {', '.join(GLUE_TASKS)}, "
                    "or pass --train_file/--validation_file for your own data."
                )
        if self.task_name is None and self.train_file is None and self.validation_file is None:
            raise ValueError("No data: pass --task_name (a GLUE task) or --train_file and --validation_file.")
        for f in (self.train_file, self.validation_file):
            if f is not None and _extension(f) not in EXTENSION_TO_BUILDER:
                raise ValueError(
                    f"Unsupported file type for {f!r}: use one of {', '.join(EXTENSION_TO_BUILDER)}."
                )
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {self.max_length}.")


@dataclass
class TaskData:
    """Raw splits plus what is needed to read them: columns and label names."""

    train: Any  # datasets.Dataset or None
    validation: Any
    selection: Any  # the last `train_slice_for_selection` training rows, held out for model selection; or None
    text_column: str
    text_pair_column: str | None
    label_column: str
    label_names: list[str]  # index = dataset label id; empty for regression
    is_regression: bool

    @property
    def num_labels(self) -> int:
        return 1 if self.is_regression else len(self.label_names)

    def texts(self, split: str) -> tuple[list[str], list[str] | None]:
        ds = getattr(self, split)
        pairs = list(ds[self.text_pair_column]) if self.text_pair_column else None
        return list(ds[self.text_column]), pairs


def _extension(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower() if "." in os.path.basename(path) else ""


def _load_local(path: str):
    import datasets

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Data file not found: {path!r}. Check the path passed as --train_file/--validation_file.")
    ext = _extension(path)
    if ext == "tsv":
        # GLUE TSVs are unquoted: read them with QUOTE_NONE, never with csv's default quoting.
        # utf-8-sig: a byte-order mark (GLUE's MRPC files start with one) must not stick to the first column's name.
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        if not rows:
            raise ValueError(f"{path!r} is empty: it needs a header row and at least one data row.")
        header, body = rows[0], rows[1:]
        columns = {name: [r[i] if i < len(r) else "" for r in body] for i, name in enumerate(header)}
        return datasets.Dataset.from_dict(columns)
    ds = datasets.load_dataset(EXTENSION_TO_BUILDER[ext], data_files={"data": path}, split="data")
    marked = [c for c in ds.column_names if c.startswith("\ufeff")]  # a CSV saved with a byte-order mark
    return ds.rename_columns({c: c.lstrip("\ufeff") for c in marked}) if marked else ds


def _coerce_labels(ds, column: str):
    """TSV columns arrive as strings: turn '0'/'1' into ints and '0.3' into floats."""
    values = ds[column]
    if values and isinstance(values[0], str):
        try:
            ints = [int(v) for v in values]
            return ds.remove_columns(column).add_column(column, ints)
        except ValueError:
            try:
                floats = [float(v) for v in values]
                return ds.remove_columns(column).add_column(column, floats)
            except ValueError:
                return ds
    return ds


def load_task_data(args: DataArguments) -> TaskData:
    """Load the train/validation splits and work out columns, label names and task type."""
    import datasets

    splits: dict[str, Any] = {"train": None, "validation": None}
    label_names: list[str] = []
    if args.train_file or args.validation_file:
        if args.train_file:
            splits["train"] = _load_local(args.train_file)
        if args.validation_file:
            splits["validation"] = _load_local(args.validation_file)
        default_text, default_pair = GLUE_TASKS.get(args.task_name or "", (None, None))
    else:
        raw = datasets.load_dataset(args.dataset_name, args.task_name)
        splits["train"] = raw["train"]
        splits["validation"] = raw[GLUE_VALIDATION_SPLIT.get(args.task_name, "validation")]
        default_text, default_pair = GLUE_TASKS[args.task_name]

    any_split = next(s for s in splits.values() if s is not None)
    columns = any_split.column_names
    text_column = args.text_column or default_text or next((c for c in ("sentence", "text") if c in columns), None)
    pair_column = args.text_pair_column or (default_pair if default_pair in columns else None)
    for name, split in splits.items():
        if split is None:
            continue
        if len(split) == 0:
            raise ValueError(f"The {name} data is empty: it needs at least one row.")
        missing = [c for c in (text_column, pair_column, args.label_column) if c is not None and c not in split.column_names]
        if text_column is None or missing:
            raise ValueError(
                f"The {name} data has columns {split.column_names} but not "
                f"{missing or ['a text column']}: pass --text_column / --text_pair_column / --label_column."
            )
        splits[name] = _coerce_labels(split, args.label_column)

    feature = any_split.features.get(args.label_column)
    sample = splits["train"] if splits["train"] is not None else splits["validation"]
    if args.is_regression is not None:
        is_regression = args.is_regression
    else:
        is_regression = args.task_name == "stsb" or isinstance(sample[0][args.label_column], float)

    if not is_regression:
        if isinstance(feature, datasets.ClassLabel):
            label_names = list(feature.names)
        elif args.class_names:
            label_names = [n.strip() for n in args.class_names.split(",")]
        elif isinstance(sample[0][args.label_column], str):
            seen = set()
            for s in splits.values():
                if s is not None:
                    seen.update(s[args.label_column])
            label_names = sorted(seen)
        else:
            ids = set()
            for s in splits.values():
                if s is not None:
                    ids.update(s[args.label_column])
            label_names = [f"LABEL_{i}" for i in range(max(ids) + 1)]
        # Labels given as names: store ids into `label_names`.
        for name, split in splits.items():
            if split is not None and isinstance(split[0][args.label_column], str):
                index = {n: i for i, n in enumerate(label_names)}
                unknown = sorted(set(split[args.label_column]) - set(index))
                if unknown:
                    raise ValueError(f"Labels {unknown} in the {name} data are not in label_names {label_names}.")
                ids = [index[v] for v in split[args.label_column]]
                splits[name] = split.remove_columns(args.label_column).add_column(args.label_column, ids)
        for name, split in splits.items():
            if split is None:
                continue
            bad = sorted({v for v in split[args.label_column] if not 0 <= v < len(label_names)})
            if bad:
                raise ValueError(
                    f"Label ids {bad[:5]} in the {name} data are outside 0..{len(label_names) - 1} "
                    f"(label_names={label_names}). Fix --class_names or the data."
                )

    selection = None
    if args.train_slice_for_selection and splits["train"] is not None:
        n = len(splits["train"])
        if not 0 < args.train_slice_for_selection < n:
            raise ValueError(f"train_slice_for_selection must be between 1 and {n - 1} (the training rows), got "
                             f"{args.train_slice_for_selection}.")
        selection = splits["train"].select(range(n - args.train_slice_for_selection, n))
        splits["train"] = splits["train"].select(range(n - args.train_slice_for_selection))
    for name, limit in (("train", args.max_train_samples), ("validation", args.max_eval_samples)):
        if splits[name] is not None and limit is not None:
            splits[name] = splits[name].select(range(min(limit, len(splits[name]))))
    return TaskData(
        train=splits["train"],
        validation=splits["validation"],
        selection=selection,
        text_column=text_column,
        text_pair_column=pair_column,
        label_column=args.label_column,
        label_names=label_names,
        is_regression=is_regression,
    )


def tokenize_split(split, data: TaskData, tokenizer, max_length: int, label2id: dict[str, int] | None = None,
                   gold_labels: bool = True):
    """Tokenize without padding (the collator pads each batch) and map labels to the model's ids by name.

    gold_labels=False (teacher-labelled rows, `hf_distill.augment`): every label is -100, which the hard-label term
    skips."""
    if split is None:
        return None
    perm = None
    if not data.is_regression and label2id is not None:
        from .labels import label_permutation

        perm = label_permutation(data.label_names, label2id)

    def encode(batch):
        texts = batch[data.text_column]
        pairs = batch[data.text_pair_column] if data.text_pair_column else None
        texts = [t.strip() if isinstance(t, str) else "" for t in texts]
        if pairs is not None:
            pairs = [t.strip() if isinstance(t, str) else "" for t in pairs]
        enc = tokenizer(texts, pairs, truncation=True, max_length=max_length)
        labels = batch[data.label_column]
        if not gold_labels:
            enc["labels"] = [-100.0 if data.is_regression else -100] * len(texts)
        elif data.is_regression:
            enc["labels"] = [float(v) for v in labels]
        else:
            enc["labels"] = [perm[v] if perm is not None else v for v in labels]
        return enc

    return split.map(encode, batched=True, remove_columns=split.column_names, desc="tokenize")
