"""The benchmark suite's tasks: which files of ../shared/data, which columns, and the rows each benchmark uses.

Not runnable on its own; bench/tasks.py and bench/recipe_rules.py import it.

Every task is read from its official files as a user would pass them to `hf-distill` (`--train_file`, the column
options and nothing else), so the default recipe meets the data as shipped. Subsets and held-out slices are drawn
with a seeded permutation, never "the first N rows": BANKING77's and IMDB's files are sorted by label, STS-B's by
genre. What a benchmark used is written as JSONL files under runs/ (not committed), and the row indices are
recorded beside the results.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("HF_DISTILL_SHARED_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data")


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # what sort of data it stands for
    train: str  # path under ../shared/data
    validation: str
    text_column: str
    label_column: str
    metric: str  # the main metric (hf_distill's name)
    text_pair_column: str | None = None
    train_rows: int | None = None  # a seeded subset of this many training rows (None: all)
    validation_rows: int | None = None
    unlabeled: str | None = None  # unlabelled texts under ../shared/data (the text column), for --unlabeled_file;
    # the training file itself: texts of its rows outside the labelled subset
    unlabeled_rows: int | None = None  # a seeded subset of this many of them
    options: dict = field(default_factory=dict)  # extra hf-distill options (none: the default recipe decides)

    def column_options(self) -> list[str]:
        """What a user passes: the data files' columns (the files themselves are added by `files`)."""
        argv = ["--text_column", self.text_column, "--label_column", self.label_column]
        if self.text_pair_column:
            argv += ["--text_pair_column", self.text_pair_column]
        for key, value in self.options.items():
            argv += [f"--{key}", str(value)]
        return argv


TASKS = {
    "sst2": Task("sst2", "single sentences, binary, 67k rows", "sst2/train.tsv", "sst2/validation.tsv",
                 "sentence", "label", "accuracy"),
    "stsb": Task("stsb", "sentence pairs, regression, 5.7k rows", "stsb/train.tsv", "stsb/dev.tsv",
                 "sentence1", "score", "pearsonr", text_pair_column="sentence2"),
    "banking77": Task("banking77", "short texts, 77 classes, 10k rows", "banking77/train.csv", "banking77/test.csv",
                      "text", "category", "accuracy"),
    # Long reviews (median ~230 words): a fixed subset of 4,000 training and 2,000 test reviews fits 2 cores, and
    # 12,000 of the 50,000 unlabelled reviews for the teacher to label (their cached outputs fit the disk).
    "imdb": Task("imdb", "long reviews, binary, 4k of 25k rows (+ 12k of 50k unlabelled)", "imdb/train.jsonl",
                 "imdb/test.jsonl", "text", "label", "accuracy", train_rows=4000, validation_rows=2000,
                 unlabeled="imdb/unsup.jsonl", unlabeled_rows=12000),
}


def sst2_held_out_sentences(texts: list[str], count: int = 1000, min_words: int = 15, seed: int = 0,
                             rng=None) -> tuple[list[int], list[int]]:
    """(training rows, held-out rows) as indices into SST-2's training `texts`, whose rows are the phrases of parse
    trees: `count` rows of >= `min_words` words that no other row contains (whole sentences), and every row that is
    not one of their phrases (matched on word boundaries). A random held-out row would have its own phrases trained
    on and score ~9 points above the validation sentences. `rng` (a `random.Random`, else one seeded by `seed`)
    draws them, and a caller may go on drawing from it."""
    import random

    texts = [" ".join(t.split()) for t in texts]
    corpus = "\n".join(f" {t} " for t in texts)
    candidates = [i for i, t in enumerate(texts) if len(t.split()) >= min_words and corpus.count(f" {t} ") == 1]
    picked = sorted((rng or random.Random(seed)).sample(candidates, count))
    held = "\n".join(f" {texts[i]} " for i in picked)
    return [i for i, t in enumerate(texts) if f" {t} " not in held], picked


def read_rows(path: str) -> list[dict]:
    """The rows of a TSV (GLUE: unquoted), CSV or JSONL file as dicts of strings / values, in file order."""
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    with open(path, encoding="utf-8-sig", newline="") as f:
        if path.endswith(".tsv"):
            return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        return list(csv.DictReader(f))


def _typed(row: dict, task: Task) -> dict:
    keep = [task.text_column, task.label_column] + ([task.text_pair_column] if task.text_pair_column else [])
    out = {k: row[k] for k in keep}
    if task.metric in ("pearsonr", "spearmanr"):
        out[task.label_column] = float(out[task.label_column])
    elif isinstance(out[task.label_column], str) and out[task.label_column].isdigit():
        out[task.label_column] = int(out[task.label_column])
    return out


def write_jsonl(rows: list[dict], path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def prepare(task: Task, out_dir: str, held_out: int = 0, seed: int = 0) -> dict:
    """Write the task's rows as JSONL into `out_dir`: train.jsonl, validation.jsonl and, with `held_out`, a
    held-out slice of the training rows (heldout.jsonl) that train.jsonl then lacks.

    With `task.unlabeled`: also unlabeled.jsonl, the task's text column of a seeded subset of those rows (when they
    are the training file's, of the rows neither in train.jsonl nor held out).

    Returns {"train", "validation", "heldout", "unlabeled"} paths and the 0-based file-row indices of each ("rows")."""
    train = read_rows(os.path.join(SHARED, task.train))
    validation = read_rows(os.path.join(SHARED, task.validation))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    held = sorted(order[:held_out].tolist())
    rest = order[held_out:]
    if task.train_rows is not None:
        rest = rest[: task.train_rows]
    kept = sorted(rest.tolist())
    val_idx = list(range(len(validation)))
    if task.validation_rows is not None:
        val_idx = sorted(np.random.default_rng(seed + 1).permutation(len(validation))[: task.validation_rows].tolist())
    paths = {
        "train": write_jsonl([_typed(train[i], task) for i in kept], os.path.join(out_dir, "train.jsonl")),
        "validation": write_jsonl([_typed(validation[i], task) for i in val_idx],
                                  os.path.join(out_dir, "validation.jsonl")),
        "heldout": write_jsonl([_typed(train[i], task) for i in held], os.path.join(out_dir, "heldout.jsonl"))
        if held_out else None,
    }
    rows = {"train": kept, "validation": val_idx, "heldout": held}
    paths["unlabeled"] = None
    if task.unlabeled:
        own = task.unlabeled == task.train  # the training file's other rows: no labelled or held-out row twice
        texts = train if own else read_rows(os.path.join(SHARED, task.unlabeled))
        pool = np.setdiff1d(np.arange(len(texts)), kept + held) if own else np.arange(len(texts))
        picked = np.random.default_rng(seed + 2).permutation(pool)
        rows["unlabeled"] = sorted(picked[: task.unlabeled_rows or len(pool)].tolist())
        paths["unlabeled"] = write_jsonl([{task.text_column: texts[i][task.text_column]} for i in rows["unlabeled"]],
                                         os.path.join(out_dir, "unlabeled.jsonl"))
    return {**paths, "rows": rows}


def texts_and_labels(path: str, task: Task) -> tuple[list[str], list[str] | None, list]:
    rows = read_rows(path)
    pairs = [r[task.text_pair_column] for r in rows] if task.text_pair_column else None
    return [r[task.text_column] for r in rows], pairs, [r[task.label_column] for r in rows]


def python_cmd(*args) -> list[str]:
    """`python -m hf_distill ARGS` with this interpreter (a benchmark runs the CLI as a user would)."""
    return [sys.executable, "-m", "hf_distill", *args]


def run(cmd: list[str], log: str) -> float:
    """Run a command with its output in `log`; return its wall time, with that of the earlier attempts at it that
    stopped before they finished (`stopped_attempts`; the commands resume from their checkpoints)."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    earlier = sum(a["end"] - a["start"] for a in stopped_attempts(log))
    with open(f"{log}.start", "w") as f:  # left behind if this attempt stops: the next one counts it
        f.write(repr(time.time()))
    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}); see {log}")
    seconds = time.perf_counter() - start
    for path in (f"{log}.start", f"{log}.stopped.json"):
        if os.path.exists(path):
            os.remove(path)
    return seconds + earlier


def stopped_attempts(log: str) -> list[dict]:
    """The attempts at `log`'s command that stopped before they finished (a machine stop or a failure), each
    {"log": its log, kept as <log>.stoppedN, "start": its start, "end": its log's last write} in seconds since the
    epoch. An attempt that stopped left <log>.start behind; this records it (once) and moves its log aside."""
    records = f"{log}.stopped.json"
    attempts = read_json(records) if os.path.isfile(records) else []
    if os.path.isfile(f"{log}.start"):
        kept = f"{log}.stopped{len(attempts) + 1}"
        os.replace(log, kept)
        with open(f"{log}.start") as f:
            attempts.append({"log": kept, "start": float(f.read()), "end": os.path.getmtime(kept)})
        write_json(records, attempts)
        os.remove(f"{log}.start")
    return attempts


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(f"{path}.tmp", "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(f"{path}.tmp", path)
