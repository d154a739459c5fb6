"""Extractive QA on SQuAD v1.1: the hf_distill default against labels only and logit KD only, same teacher, same
student (the NER benchmark's method, bench/ner.py, with the QA recipe and files).

    python bench/qa.py                       # teacher, three students, dev-set EM/F1 (hours on 2 cores: see below)
    python bench/qa.py --summarise           # rebuild qa.json / qa.md from the per-method files
    python bench/qa.py --smoke               # 300 training and 200 dev questions, 20 steps, in /tmp (minutes)

The teacher: `hf-distill train-teacher` from the PyPI MiniLM with recipes/squad_minilm.yaml on the 44-article train
subset (11,877 questions). The students, each `hf-distill distill` from it: the same 3-layer student (layers 1, 3,
5 of the pretrained MiniLM, a new start/end head), the same steps: (a) no_kd: labels only; (b) logit_kd: CE 0.5 +
KL 0.5 on the start and end distributions; (c) hf_distill: the recipe (+ hidden MSE 3 + attention 0.1). Each is
scored once by `hf-distill evaluate` on the official dev file (all 10,570 questions; windows of 384 tokens, stride
128), nothing selected on it. One file per method in bench/results/qa/; qa.json and qa.md summarise them.
Cost: 384-token features make each step several times an SST-2 step; `--smoke` records the measured step times
in its distill logs, from which the full run's hours follow.
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import ner
import suite_data
from suite_data import write_json

RESULTS = os.path.join(suite_data.REPO, "bench", "results")
OUT_DIR = os.path.join(RESULTS, "qa")
WORK = os.path.join(suite_data.REPO, "runs", "qa")
RECIPE = os.path.join(suite_data.REPO, "recipes", "squad_minilm.yaml")
DATA = os.path.join(suite_data.SHARED, "squad")
FILES = {"train": os.path.join(DATA, "train-subset-44-articles.json"), "test": os.path.join(DATA, "dev-v1.1.json")}
EVAL_OPTIONS = ("--max_length", "384")


def smoke_files(work: str) -> dict:
    """The first 300 training and 200 dev questions of the real files (official layout), for --smoke."""
    from hf_distill.qa import read_squad, write_squad

    os.makedirs(os.path.join(work, "data"), exist_ok=True)
    return {split: write_squad(read_squad(FILES[split])[:n], os.path.join(work, "data", f"{split}.json"), "smoke")
            for split, n in (("train", 300), ("test", 200))}


def summarise(out_dir: str, results: str) -> dict:
    teacher_record = json.load(open(os.path.join(out_dir, "teacher.json")))
    rows = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out_dir, "*.json"))) if "method" in json.load(open(p))]
    rows.sort(key=lambda r: list(ner.METHODS).index(r["method"]))
    teacher = rows[0]["teacher_test"] if rows else {}
    summary = {
        "task": "squad_v1.1", "metric": "F1 and exact match (official SQuAD v1.1), dev-v1.1.json",
        "teacher": {"f1": teacher.get("f1"), "exact_match": teacher.get("exact_match"),
                    "latency_ms_b32": rows[0]["teacher_latency_ms_b32"] if rows else None,
                    "train_s": teacher_record["train_s"]},
        "rows": [{"method": r["method"], "seed": r["seed"], "f1": r["test"]["f1"], "exact_match": r["test"]["exact_match"],
                  "retention": r["test"]["f1"] / teacher["f1"] if teacher.get("f1") else None, "steps": r["steps"],
                  "train_s": r["train_s"], "latency_ms_b32": r["latency_ms_b32"]} for r in rows],
    }
    write_json(os.path.join(results, "qa.json"), summary)
    lines = ["# Extractive QA: SQuAD v1.1 dev, official EM/F1 (`python bench/qa.py`)", "",
             f"Teacher (MiniLM-L6 fine-tuned by `train-teacher`, {teacher_record['train_s']:.0f} s): F1 "
             f"{summary['teacher']['f1']:.2f}, EM {summary['teacher']['exact_match']:.2f}.", "",
             "| method | F1 | EM | retention | steps | train s | latency b32 (ms) |", "|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['method']} | {r['f1']:.2f} | {r['exact_match']:.2f} | {r['retention']:.3f} | {r['steps']} | "
                     f"{r['train_s']:.0f} | {r['latency_ms_b32']:.1f} |")
    with open(os.path.join(results, "qa.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(ner.METHODS))
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="300 + 200 questions, 20 steps, results in /tmp")
    args = parser.parse_args()
    work, out_dir, results = WORK, OUT_DIR, RESULTS
    if args.smoke:
        work, out_dir, results = "/tmp/qa_smoke/work", "/tmp/qa_smoke/results/qa", "/tmp/qa_smoke/results"
    if not args.summarise:
        files = smoke_files(work) if args.smoke else dict(FILES)
        files["valid"] = files["test"]  # train-teacher's own validation figures: the scored dev set, nothing selected
        teacher = ner.ensure_teacher(files, work, out_dir, args.smoke, recipe=RECIPE)
        for method in args.methods.split(","):
            ner.run_method(method, files, teacher, work, out_dir, args.smoke, recipe=RECIPE, eval_options=EVAL_OPTIONS)
    summarise(out_dir, results)


if __name__ == "__main__":
    main()
