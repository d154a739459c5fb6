"""Task data the way transformers' `run_glue.py` / `run_ner.py` / `run_qa.py` take it: a GLUE task or another Hub
dataset, or local files (csv, tsv, json, jsonl, parquet; CoNLL `.txt` / `.conll` for token classification,
`hf_distill.token_data`; SQuAD JSON or rows with question / context / answers for extractive QA, `hf_distill.qa`).

Labels carry names. A dataset's label ids are turned into names and then into the ids of the model being
trained (`model.config.label2id`), so a teacher and a dataset whose labels are ordered differently still agree.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any

from .tasks import QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION, TaskKind, task_named

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
EXTENSION_TO_BUILDER = {"csv": "csv", "tsv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet",
                        "conll": "conll", "txt": "conll"}
GLUE_DATASET = "nyu-mll/glue"
UNLABELED_EXTENSIONS = ("csv", "tsv", "json", "jsonl", "parquet")  # texts, not CoNLL words


def check_probabilities(mask_prob: float, replace_prob: float, names=("mask_prob", "replace_prob")) -> None:
    """Raise ValueError unless both chances are >= 0 and sum to <= 1 (`names`: how the caller calls them)."""
    if not (0 <= mask_prob and 0 <= replace_prob and mask_prob + replace_prob <= 1):
        raise ValueError(f"{names[0]} and {names[1]} must be >= 0 and sum to <= 1, got {mask_prob} and {replace_prob}.")


def clean_texts(values) -> list[str]:
    """Texts as the models see them: stripped, and a missing one (None, NaN in a csv) as ''."""
    return [t.strip() if isinstance(t, str) else "" for t in values]


def check_chances(**chances: float) -> None:
    """Raise ValueError unless every chance (keyword: how the caller calls it) is in [0, 1]."""
    if not all(0 <= value <= 1 for value in chances.values()):
        raise ValueError(f"{' and '.join(chances)} are chances in [0, 1], got "
                         f"{' and '.join(str(v) for v in chances.values())}.")


@dataclass
class DataArguments:
    """Which data to train and evaluate on: `task_name` (a GLUE task, from the Hub), another Hub `dataset_name`, or
    local files."""

    task_name: str | None = field(
        default=None, metadata={"help": f"A GLUE task loaded from the Hub: one of {', '.join(GLUE_TASKS)}."}
    )
    dataset_name: str = field(
        default=GLUE_DATASET,
        metadata={"help": "Hub dataset: the GLUE one holding `task_name`, or another (e.g. conll2003) without it."},
    )
    task: str | None = field(
        default=None,
        metadata={"help": "sequence-classification, token-classification or question-answering. Default: read from "
                          "the data (CoNLL files and rows with a list of words are token classification; SQuAD files "
                          "and rows with question, context and answers are QA) and checked against the teacher."},
    )
    doc_stride: int = field(
        default=128,
        metadata={"help": "Question answering: a context longer than max_length becomes windows overlapping by this "
                          "many tokens (run_qa.py's default)."},
    )
    label_all_tokens: bool = field(
        default=False,
        metadata={"help": "Token classification: label every sub-token of a word (a B- tag continued as I-), not "
                          "only its first (run_ner.py's default)."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Local training file: csv, tsv, json, jsonl or parquet."})
    validation_file: str | None = field(default=None, metadata={"help": "Local validation file, same formats."})
    text_column: str | None = field(
        default=None, metadata={"help": "Column with the text (default: the task's, else 'sentence' or 'text')."}
    )
    text_pair_column: str | None = field(
        default=None, metadata={"help": "Column with the second text of a pair task (default: none for local files)."}
    )
    label_column: str | None = field(
        default=None, metadata={"help": "Column with the label (default: label; ner_tags for token classification)."}
    )
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
    unlabeled_file: str | None = field(
        default=None,
        metadata={"help": "Unlabelled in-domain texts for the teacher to label (the transfer set of distillation): a local "
                          "csv, tsv, json, jsonl or parquet file with the training text column(s), other columns "
                          "ignored. Only the teacher terms train on them, and they do not lengthen training (the epochs "
                          "count the labelled rows). Sequence classification only."},
    )
    max_unlabeled_samples: int | None = field(
        default=None, metadata={"help": "Keep only the first N rows of --unlabeled_file."}
    )
    augment_copies: int = field(
        default=0,
        metadata={
            "help": "Teacher-labelled augmentation (hf_distill.augment): this many perturbed copies of each training "
            "row with >= --augment_min_words words; the copies have no gold label, only the teacher terms train on them."
        },
    )
    augment_min_words: int = field(default=0, metadata={"help": "Augment only rows with at least this many words."})
    augment_pairs_to_rows: int = field(
        default=0,
        metadata={"help": "Sentence-pair data without --augment_copies: teacher-labelled copies until the training rows "
                          "reach about this many (at most 8 copies); the epochs count the real rows (hf_distill.recipe). "
                          "0: never."},
    )
    augment_mask_prob: float = field(default=0.1, metadata={"help": "Chance that a word of a copy becomes the mask token."})
    augment_replace_prob: float = field(
        default=0.1, metadata={"help": "Chance that a word of a copy becomes a word drawn from the training text."}
    )
    augment_swap_prob: float = field(
        default=0.0, metadata={"help": "Sentence pairs: chance that a copy's two texts trade places (single texts: none)."}
    )
    augment_cross_prob: float = field(
        default=0.0,
        metadata={"help": "Sentence pairs: chance that a copy's second text is another row's (an unrelated pair; "
                          "single texts: none)."},
    )
    augment_cross_neighbours: int = field(
        default=0,
        metadata={"help": "Sentence pairs: a crossed copy's second text comes from one of the k rows whose second text "
                          "shares the most words with its first (TF-IDF), a related pair, instead of any row. 0: any row."},
    )

    def __post_init__(self):
        if self.augment_copies < 0 or self.augment_pairs_to_rows < 0:
            raise ValueError(f"augment_copies and augment_pairs_to_rows must be >= 0, got {self.augment_copies} and "
                             f"{self.augment_pairs_to_rows}.")
        check_probabilities(self.augment_mask_prob, self.augment_replace_prob, ("augment_mask_prob", "augment_replace_prob"))
        check_chances(augment_swap_prob=self.augment_swap_prob, augment_cross_prob=self.augment_cross_prob)
        if self.augment_cross_neighbours < 0:
            raise ValueError(f"augment_cross_neighbours must be >= 0 (0: any row), got {self.augment_cross_neighbours}.")
        if self.augment_cross_neighbours and not self.augment_cross_prob:
            raise ValueError("augment_cross_neighbours chooses where crossed pair copies take their second text from, "
                             "but augment_cross_prob is 0, so no copy is crossed: set augment_cross_prob (e.g. 0.2).")
        if self.task_name is not None:
            self.task_name = self.task_name.lower()
            if self.task_name not in GLUE_TASKS and self.train_file is None:
                raise ValueError(
                    f"Unknown task_name {self.task_name!r}: use one of {', '.join(GLUE_TASKS)}, "
                    "or pass --train_file/--validation_file for your own data."
                )
        if self.task is not None:
            from .tasks import task_named

            task_named(self.task)
        hub_dataset = self.dataset_name != GLUE_DATASET
        if self.task_name is None and not hub_dataset and self.train_file is None and self.validation_file is None:
            raise ValueError("No data: pass --task_name (a GLUE task), --dataset_name (a Hub dataset) or --train_file "
                             "and --validation_file.")
        if self.max_unlabeled_samples is not None and self.max_unlabeled_samples < 1:
            raise ValueError(f"max_unlabeled_samples must be >= 1, got {self.max_unlabeled_samples}.")
        if self.unlabeled_file is not None and _extension(self.unlabeled_file) not in UNLABELED_EXTENSIONS:
            raise ValueError(f"Unsupported file type for --unlabeled_file {self.unlabeled_file!r}: use one of "
                             f"{', '.join(UNLABELED_EXTENSIONS)}.")
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
    kind: TaskKind = SEQUENCE_CLASSIFICATION  # hf_distill.tasks: token classification has a list of words per row
    label_all_tokens: bool = False
    doc_stride: int = 128  # question answering: the overlap of a long context's windows

    @property
    def num_labels(self) -> int:
        return 1 if self.is_regression else len(self.label_names)

    def texts(self, split: str) -> tuple[list, list[str] | None]:
        """The split's texts and pair texts (None without pairs); a token task's texts are lists of words."""
        ds = getattr(self, split)
        pairs = list(ds[self.text_pair_column]) if self.text_pair_column else None
        return list(ds[self.text_column]), pairs

    def plain_texts(self, split: str) -> list[str]:
        """The split's first texts as strings (a token task's words joined by spaces): what latency is timed on."""
        texts, _ = self.texts(split)
        return [" ".join(t) if isinstance(t, list) else t for t in texts]


def _extension(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower() if "." in os.path.basename(path) else ""


def _load_local(path: str, option: str = "--train_file/--validation_file"):
    import datasets

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Data file not found: {path!r}. Check the path passed as {option}.")
    ext = _extension(path)
    if EXTENSION_TO_BUILDER[ext] == "conll":
        from .token_data import read_conll

        return datasets.Dataset.from_list(read_conll(path))
    if ext == "json":
        from .qa import is_squad_file, read_squad

        if is_squad_file(path):
            return datasets.Dataset.from_list(read_squad(path))
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
    elif args.dataset_name == GLUE_DATASET:
        raw = datasets.load_dataset(args.dataset_name, args.task_name)
        splits["train"] = raw["train"]
        splits["validation"] = raw[GLUE_VALIDATION_SPLIT.get(args.task_name, "validation")]
        default_text, default_pair = GLUE_TASKS[args.task_name]
    else:  # another Hub dataset (conll2003, ...): its train and validation splits
        raw = datasets.load_dataset(args.dataset_name, args.task_name)
        splits["train"], splits["validation"] = raw["train"], raw["validation"]
        default_text, default_pair = None, None

    any_split = next(s for s in splits.values() if s is not None)
    columns = any_split.column_names
    kind = _task_kind(args, any_split)
    if kind.per_token:
        from .token_data import TAGS_COLUMN, TOKENS_COLUMN

        return _token_task_data(args, splits, kind, args.text_column or TOKENS_COLUMN, args.label_column or TAGS_COLUMN)
    if kind.span:
        return _qa_task_data(args, splits)
    label_column = args.label_column or "label"
    text_column = args.text_column or default_text or next((c for c in ("sentence", "text") if c in columns), None)
    pair_column = args.text_pair_column or (default_pair if default_pair in columns else None)
    for name, split in splits.items():
        if split is None:
            continue
        if len(split) == 0:
            raise ValueError(f"The {name} data is empty: it needs at least one row.")
        missing = [c for c in (text_column, pair_column, label_column) if c is not None and c not in split.column_names]
        if text_column is None or missing:
            raise ValueError(
                f"The {name} data has columns {split.column_names} but not "
                f"{missing or ['a text column']}: pass --text_column / --text_pair_column / --label_column."
            )
        splits[name] = _coerce_labels(split, label_column)

    feature = any_split.features.get(label_column)
    sample = splits["train"] if splits["train"] is not None else splits["validation"]
    if args.is_regression is not None:
        is_regression = args.is_regression
    else:
        is_regression = args.task_name == "stsb" or isinstance(sample[0][label_column], float)

    if not is_regression:
        if isinstance(feature, datasets.ClassLabel):
            label_names = list(feature.names)
        elif args.class_names:
            label_names = [n.strip() for n in args.class_names.split(",")]
        elif isinstance(sample[0][label_column], str):
            seen = set()
            for s in splits.values():
                if s is not None:
                    seen.update(s[label_column])
            label_names = sorted(seen)
            if len(label_names) < 2:
                raise ValueError(f"The data has one class only ({label_names}): a classifier needs two or more. Pass "
                                 "--class_names with all of them, or check that the training file is not one class "
                                 "of a file sorted by label.")
        else:
            ids = set()
            for s in splits.values():
                if s is not None:
                    ids.update(s[label_column])
            label_names = [f"LABEL_{i}" for i in range(max(ids) + 1)]
        # Labels given as names: store ids into `label_names`.
        for name, split in splits.items():
            if split is not None and isinstance(split[0][label_column], str):
                index = {n: i for i, n in enumerate(label_names)}
                unknown = sorted(set(split[label_column]) - set(index))
                if unknown:
                    raise ValueError(f"Labels {unknown} in the {name} data are not in label_names {label_names}.")
                ids = [index[v] for v in split[label_column]]
                splits[name] = split.remove_columns(label_column).add_column(label_column, ids)
        for name, split in splits.items():
            if split is None:
                continue
            bad = sorted({v for v in split[label_column] if not 0 <= v < len(label_names)})
            if bad:
                raise ValueError(
                    f"Label ids {bad[:5]} in the {name} data are outside 0..{len(label_names) - 1} "
                    f"(label_names={label_names}). Fix --class_names or the data."
                )

    selection = _hold_out_and_limit(args, splits)
    return TaskData(
        train=splits["train"],
        validation=splits["validation"],
        selection=selection,
        text_column=text_column,
        text_pair_column=pair_column,
        label_column=label_column,
        label_names=label_names,
        is_regression=is_regression,
    )


def load_unlabeled(args: DataArguments, data: TaskData):
    """The rows of `args.unlabeled_file` (the first `max_unlabeled_samples`) with only `data`'s text column(s), for
    the teacher to label; None without the option. Checked before any model loads."""
    if args.unlabeled_file is None:
        return None
    if data.kind is not SEQUENCE_CLASSIFICATION:
        raise ValueError(f"--unlabeled_file is for sequence classification, but this is {data.kind.name} data (the "
                         "teacher's labels would have to be per token): drop --unlabeled_file.")
    split = _load_local(args.unlabeled_file, "--unlabeled_file")
    columns = [data.text_column] + ([data.text_pair_column] if data.text_pair_column else [])
    missing = [c for c in columns if c not in split.column_names]
    if missing:
        raise ValueError(f"The unlabelled data {args.unlabeled_file!r} has columns {split.column_names} but not "
                         f"{missing}: it needs the training data's text column(s), named the same.")
    if args.max_unlabeled_samples is not None:
        split = split.select(range(min(args.max_unlabeled_samples, len(split))))
    if len(split) == 0:
        raise ValueError(f"The unlabelled data {args.unlabeled_file!r} is empty: it needs at least one row.")
    return split.select_columns(columns)


def _hold_out_and_limit(args: DataArguments, splits: dict):
    """Split off the last `train_slice_for_selection` training rows (returned; None without it) and apply the
    max_*_samples limits, in `splits`."""
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
    return selection


def _task_kind(args: DataArguments, split) -> TaskKind:
    """--task, else token classification when the text column holds lists of words (CoNLL files, conll2003)."""
    if args.task is not None:
        return task_named(args.task)
    from .token_data import TOKENS_COLUMN

    column = args.text_column or TOKENS_COLUMN
    if column in split.column_names and len(split) and isinstance(split[0][column], list):
        return TOKEN_CLASSIFICATION
    from .qa import QA_COLUMNS

    if set(QA_COLUMNS) <= set(split.column_names):
        return QUESTION_ANSWERING
    return SEQUENCE_CLASSIFICATION


def _qa_task_data(args: DataArguments, splits: dict) -> TaskData:
    """SQuAD-style rows: question, context and answers {"text": [...], "answer_start": [...]} (no label names)."""
    from .qa import QA_COLUMNS

    for name, split in splits.items():
        if split is None:
            continue
        if len(split) == 0:
            raise ValueError(f"The {name} data is empty: it needs at least one row.")
        missing = [c for c in QA_COLUMNS if c not in split.column_names]
        if missing:
            raise ValueError(f"The {name} data has columns {split.column_names} but not {missing}: question answering "
                             "needs question, context and answers (a SQuAD v1.1 JSON file, or the `squad` dataset).")
        if name == "train":
            bad = next((i for i, a in enumerate(split["answers"]) if not a["text"]), None)
            if bad is not None:
                raise ValueError(f"Training row {bad} ({split[bad].get('id', '')}) has no answer: SQuAD v1.1 training "
                                 "needs one answer per question (unanswerable questions, SQuAD v2, are not supported).")
    selection = _hold_out_and_limit(args, splits)
    return TaskData(train=splits["train"], validation=splits["validation"], selection=selection,
                    text_column="question", text_pair_column="context", label_column="answers", label_names=[],
                    is_regression=False, kind=QUESTION_ANSWERING, doc_stride=args.doc_stride)


def _token_task_data(args: DataArguments, splits: dict, kind: TaskKind, text_column: str, label_column: str) -> TaskData:
    """Rows of words and their tags: tag names from the dataset's ClassLabel, --class_names or the tags seen."""
    import datasets

    from .token_data import tag_order

    for name, split in splits.items():
        if split is None:
            continue
        if len(split) == 0:
            raise ValueError(f"The {name} data is empty: it needs at least one row.")
        missing = [c for c in (text_column, label_column) if c not in split.column_names]
        if missing:
            raise ValueError(f"The {name} data has columns {split.column_names} but not {missing}: pass --text_column "
                             "(the list of words) and --label_column (their tags).")
        if not isinstance(split[0][text_column], list):
            raise ValueError(f"Token classification needs a list of words per row in {text_column!r}, but the {name} "
                             f"data holds {type(split[0][text_column]).__name__}: pass --text_column with the words.")
        bad = next((i for i, (w, t) in enumerate(zip(split[text_column], split[label_column])) if len(w) != len(t)), None)
        if bad is not None:
            raise ValueError(f"Row {bad} of the {name} data has {len(split[bad][text_column])} words but "
                             f"{len(split[bad][label_column])} tags: every word needs one tag.")
    present = [s for s in splits.values() if s is not None]
    feature = getattr(present[0].features.get(label_column), "feature", None)
    first_tag = next((tags[0] for tags in present[0][label_column] if tags), None)
    if isinstance(feature, datasets.ClassLabel):
        label_names = list(feature.names)
    elif isinstance(first_tag, str):
        label_names = tag_order(t for s in present for tags in s[label_column] for t in tags)
    elif args.class_names:
        label_names = [n.strip() for n in args.class_names.split(",")]
    else:
        raise ValueError("The tags are integers and their names are unknown: pass --class_names O,B-PER,I-PER,... in "
                         "id order (seqeval scores entities by the names).")
    index = {n: i for i, n in enumerate(label_names)}
    for name, split in splits.items():
        if split is None:
            continue
        if isinstance(first_tag, str):
            unknown = sorted({t for tags in split[label_column] for t in tags} - set(index))
            if unknown:
                raise ValueError(f"Tags {unknown} in the {name} data are not among {label_names}: fix --class_names.")
            ids = [[index[t] for t in tags] for tags in split[label_column]]
            splits[name] = split.remove_columns(label_column).add_column(label_column, ids)
        else:
            bad = sorted({t for tags in split[label_column] for t in tags if not 0 <= t < len(label_names)})
            if bad:
                raise ValueError(f"Tag ids {bad[:5]} in the {name} data are outside 0..{len(label_names) - 1} "
                                 f"({label_names}): fix --class_names.")
    selection = _hold_out_and_limit(args, splits)
    return TaskData(train=splits["train"], validation=splits["validation"], selection=selection,
                    text_column=text_column, text_pair_column=None, label_column=label_column,
                    label_names=label_names, is_regression=False, kind=kind, label_all_tokens=args.label_all_tokens)


def tokenize_split(split, data: TaskData, tokenizer, max_length: int, label2id: dict[str, int] | None = None,
                   gold_labels: bool = True):
    """Tokenize without padding (the collator pads each batch) and map labels to the model's ids by name.

    gold_labels=False (teacher-labelled rows, `hf_distill.augment`): every label is -100, which the hard-label term
    skips."""
    if split is None:
        return None
    if data.kind.span:  # QA: no label names; features with answer positions
        if not gold_labels:
            raise ValueError("Teacher-labelled copies are for sequence tasks: a perturbed context moves the answer. Set "
                             "augment_copies 0 for question answering.")
        from .qa import tokenize_qa

        return tokenize_qa(split, tokenizer, max_length, data.doc_stride)
    perm = None
    if not data.is_regression and label2id is not None:
        from .labels import label_permutation

        perm = label_permutation(data.label_names, label2id)
    if data.kind.per_token:
        if not gold_labels:
            raise ValueError("Teacher-labelled copies (--augment_copies) are for sequence tasks: a perturbed word "
                             "changes the tags. Set augment_copies 0 for token classification.")
        from .token_data import tokenize_words

        return tokenize_words(split, data, tokenizer, max_length, perm, data.label_all_tokens)

    def encode(batch):
        texts = clean_texts(batch[data.text_column])
        pairs = clean_texts(batch[data.text_pair_column]) if data.text_pair_column else None
        enc = tokenizer(texts, pairs, truncation=True, max_length=max_length)
        if not gold_labels:  # no label column needed (unlabelled rows have none)
            enc["labels"] = [-100.0 if data.is_regression else -100] * len(texts)
        elif data.is_regression:
            enc["labels"] = [float(v) for v in batch[data.label_column]]
        else:
            enc["labels"] = [perm[v] if perm is not None else v for v in batch[data.label_column]]
        return enc

    return split.map(encode, batched=True, remove_columns=split.column_names, desc="tokenize")
