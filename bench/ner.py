"""NER on CoNLL-2003: the hf_distill default against labels only and logit KD only, same teacher, same student.

    python bench/ner.py                      # teacher, three students, test-set scores (~1 h on 2 cores)
    python bench/ner.py --summarise          # rebuild ner.json / ner.md from the per-method files
    python bench/ner.py --smoke              # 200 sentences, 20 steps, in /tmp: a minutes-long check of the path
    python bench/ner.py --select             # the token-task rule's candidates, scored on valid.txt (not test)

The teacher: `hf-distill train-teacher` from the PyPI MiniLM with recipes/conll2003_minilm.yaml (train.txt; valid.txt
for its own validation figures). The students, each `hf-distill distill` from that teacher as a user runs it, the
same 3-layer student (layers 1, 3, 5 of the pretrained MiniLM, a new head), the same optimizer steps:
(a) no_kd: labels only; (b) logit_kd: CE 0.5 + KL 0.5 per labelled word, no intermediate terms; (c) hf_distill:
the recipe as shipped (+ hidden-state MSE 3; no attention term and 4,000 steps, the token rule; (a) and (b) get
the same steps). Each is scored once, by `hf-distill
evaluate` on test.txt (entity-level seqeval F1; max_length 512 so every word of the test set is scored); nothing
is selected on those rows. TextBrewer's NER path is not run here. One file per method in bench/results/ner/
(skipped when present, so runs resume); bench/results/ner.json and ner.md summarise them.
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import suite_data
from suite_data import python_cmd, run, write_json

RESULTS = os.path.join(suite_data.REPO, "bench", "results")
OUT_DIR = os.path.join(RESULTS, "ner")
WORK = os.path.join(suite_data.REPO, "runs", "ner")
RECIPE = os.path.join(suite_data.REPO, "recipes", "conll2003_minilm.yaml")
DATA = os.path.join(suite_data.SHARED, "conll2003")
METHODS = {
    "no_kd": {"hard_label_weight": 1.0, "logit_weight": 0.0, "hidden_weight": 0.0, "attention_weight": 0.0},
    "logit_kd": {"hard_label_weight": 0.5, "logit_weight": 0.5, "hidden_weight": 0.0, "attention_weight": 0.0},
    "hf_distill": {},
}
# The token-task rule's evidence (--select): variants of the default, trained on train.txt and scored on valid.txt
# (held out from training, never the scored test.txt). Written to bench/results/ner_rules/ and ner_rules.md.
# Each is pinned against the rule it led to (the recipe's token_* keys): its own attention weight and steps.
def pinned(options: dict) -> dict:
    return {**options, "token_attention_weight": options.get("attention_weight", 0.1),
            "token_min_train_steps": options.get("min_train_steps", 2000)}


CANDIDATES = {
    "no_kd": METHODS["no_kd"],
    "logit_kd": METHODS["logit_kd"],
    "default": {},
    "hidden1": {"hidden_weight": 1.0, "attention_weight": 0.0},
    "attention_only": {"hidden_weight": 0.0},
    "kl_only": {"hard_label_weight": 0.0, "logit_weight": 1.0, "hidden_weight": 0.0, "attention_weight": 0.0},
    "no_attention": {"attention_weight": 0.0},
    "logit_kd_4k": {**METHODS["logit_kd"], "min_train_steps": 4000},
    "hidden1_4k": {"hidden_weight": 1.0, "attention_weight": 0.0, "min_train_steps": 4000},
    "no_attention_4k": {"attention_weight": 0.0, "min_train_steps": 4000},
}
CANDIDATES = {name: pinned(options) for name, options in CANDIDATES.items()}
SEED = 42


def smoke_files(work: str) -> dict:
    """200 training and 100 test sentences of the real files, for --smoke."""
    from hf_distill.token_data import read_conll

    files = {}
    for split, n in (("train", 200), ("valid", 50), ("test", 100)):
        rows = read_conll(os.path.join(DATA, f"{split}.txt"))[:n]
        path = files[split] = os.path.join(work, "data", f"{split}.txt")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            for row in rows:
                f.write("".join(f"{w} _ _ {t}\n" for w, t in zip(row["tokens"], row["ner_tags"])) + "\n")
    return files


def ensure_teacher(files: dict, work: str, out_dir: str, smoke: bool, recipe: str = RECIPE) -> str:
    teacher = os.path.join(work, "teacher")
    record = os.path.join(out_dir, "teacher.json")
    if os.path.isfile(os.path.join(teacher, "model.safetensors")) and os.path.isfile(record):
        return teacher
    extra = ["--max_steps", "20", "--teacher_min_train_steps", "0"] if smoke else []
    seconds = run(python_cmd("train-teacher", "--config", recipe, "--train_file", files["train"], "--validation_file",
                             files["valid"], "--save_strategy", "no", "--output_dir", work, *extra),
                  os.path.join(work, "train_teacher.log"))
    with open(os.path.join(teacher, "eval_results.json")) as f:
        valid = json.load(f)
    write_json(record, {"train_s": seconds, "valid": {k[5:]: v for k, v in valid.items() if k.startswith("eval_")}})
    return teacher


def run_method(method: str, files: dict, teacher: str, work: str, out_dir: str, smoke: bool,
               methods: dict = METHODS, score_on: str = "test", recipe: str = RECIPE,
               eval_options: tuple = ("--max_length", "512")) -> None:
    """Distil one method's student from `teacher` with `recipe` and score it on `files[score_on]` (a record in
    `out_dir`/<method>.json); bench/qa.py runs it with its own recipe and files."""
    path = os.path.join(out_dir, f"{method}.json")
    if os.path.isfile(path):
        print(f"skip {path} (exists)", flush=True)
        return
    out = os.path.join(work, method)
    options = [x for k, v in methods[method].items() for x in (f"--{k}", str(v))]
    cache = ["--teacher_cache_dir", os.path.join(out, "teacher_cache")]  # its own: (b) and (c) read other layers
    extra = ["--max_steps", "20"] if smoke else []
    trained = os.path.join(out, "student", "hf_distill.json")
    if os.path.isfile(trained):  # trained by an earlier run (its scoring was not recorded): score it only
        with open(trained) as f:
            seconds = json.load(f).get("train_runtime_s")
    else:
        seconds = run(python_cmd("distill", "--config", recipe, "--train_file", files["train"], "--teacher", teacher,
                                 "--save_strategy", "no", "--output_dir", out, *cache, *options, *extra),
                      os.path.join(out, "distill.log"))
    eval_s = run(python_cmd("evaluate", "--config", recipe, "--validation_file", files[score_on], "--teacher", teacher,
                            *eval_options, "--output_dir", out, "--latency_runs", "10"),
                 os.path.join(out, "evaluate.log"))
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    with open(os.path.join(out, "student", "hf_distill.json")) as f:
        info = json.load(f)
    write_json(path, {
        "method": method, "seed": SEED, "options": methods[method], "steps": info["steps"],
        "train_s": seconds, "train_runtime_s": info.get("train_runtime_s"), "evaluate_s": eval_s, "scored_on": score_on,
        score_on: report["student"]["metrics"], f"teacher_{score_on}": report["teacher"]["metrics"],
        "latency_ms_b32": report["student"]["latency_ms"]["b32"],
        "teacher_latency_ms_b32": report["teacher"]["latency_ms"]["b32"],
        "latency_threads": report["latency_settings"]["threads"],
    })
    print(json.dumps({"method": method, "f1": report["student"]["metrics"]["f1"], "train_s": seconds}), flush=True)


def summarise(out_dir: str, results: str) -> dict:
    teacher_record = json.load(open(os.path.join(out_dir, "teacher.json")))
    rows = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out_dir, "*.json"))) if "method" in json.load(open(p))]
    rows.sort(key=lambda r: list(METHODS).index(r["method"]))
    teacher_test = rows[0]["teacher_test"] if rows else {}
    summary = {
        "task": "conll2003", "metric": "entity F1 (seqeval), test.txt",
        "teacher": {"f1": teacher_test.get("f1"), "precision": teacher_test.get("precision"),
                    "recall": teacher_test.get("recall"), "accuracy": teacher_test.get("accuracy"),
                    "latency_ms_b32": rows[0]["teacher_latency_ms_b32"] if rows else None,
                    "train_s": teacher_record["train_s"], "valid": teacher_record["valid"]},
        "rows": [{"method": r["method"], "seed": r["seed"], "f1": r["test"]["f1"], "precision": r["test"]["precision"],
                  "recall": r["test"]["recall"], "accuracy": r["test"]["accuracy"], "exact_match": None,
                  "retention": r["test"]["f1"] / teacher_test["f1"] if teacher_test.get("f1") else None,
                  "steps": r["steps"], "train_s": r["train_s"], "latency_ms_b32": r["latency_ms_b32"]} for r in rows],
    }
    write_json(os.path.join(results, "ner.json"), summary)
    lines = ["# NER: CoNLL-2003 test set, entity-level F1 (`python bench/ner.py`)", "",
             f"Teacher (MiniLM-L6 fine-tuned by `train-teacher`, {teacher_record['train_s']:.0f} s): F1 "
             f"{summary['teacher']['f1']:.4f}, latency {summary['teacher']['latency_ms_b32']:.1f} ms at batch 32.", "",
             "| method | F1 | precision | recall | retention | steps | train s | latency b32 (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        retention = "-" if r["retention"] is None else f"{r['retention']:.3f}"
        lines.append(f"| {r['method']} | {r['f1']:.4f} | {r['precision']:.4f} | {r['recall']:.4f} | {retention} | "
                     f"{r['steps']} | {r['train_s']:.0f} | {r['latency_ms_b32']:.1f} |")
    lines += ["", "Same teacher, same 3-layer student (pretrained MiniLM layers 1, 3, 5), same steps, seed 42; scored "
              "once on test.txt, nothing selected on it. (a) no_kd: labels only; (b) logit_kd: CE 0.5 + KL 0.5; (c) "
              "hf_distill: recipes/conll2003_minilm.yaml (adds hidden MSE 3; the token rule, chosen on valid.txt in "
              "ner_rules.md, turns the attention term off and sets 4,000 steps for all three). TextBrewer not run."]
    with open(os.path.join(results, "ner.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def summarise_selection(out_dir: str, results: str) -> None:
    rows = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out_dir, "*.json")))]
    rows.sort(key=lambda r: list(CANDIDATES).index(r["method"]) if r["method"] in CANDIDATES else 99)
    lines = ["# NER rule: candidates scored on CoNLL-2003 valid.txt (`python bench/ner.py --select`)", "",
             "Same teacher as bench/results/ner.md, same 3-layer student, seed 42, trained on train.txt; scored on "
             "valid.txt (held out from training; test.txt is the benchmark's scored set and is not used here).", "",
             "| candidate | options | valid F1 | retention | steps | train s |", "|---|---|---|---|---|---|"]
    for r in rows:
        f1, teacher_f1 = r["valid"]["f1"], r["teacher_valid"]["f1"]
        lines.append(f"| {r['method']} | {json.dumps(r['options'])} | {f1:.4f} | {f1 / teacher_f1:.3f} | {r['steps']} | "
                     f"{r['train_s']:.0f} |")
    if rows:
        lines += ["", f"Teacher valid F1 {rows[0]['teacher_valid']['f1']:.4f}."]
    with open(os.path.join(results, "ner_rules.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="200 sentences, 20 steps, results in /tmp")
    parser.add_argument("--select", action="store_true", help="the rule's candidates on valid.txt (--methods: which)")
    args = parser.parse_args()
    work, out_dir, results = WORK, OUT_DIR, RESULTS
    if args.smoke:
        work, out_dir, results = "/tmp/ner_smoke/work", "/tmp/ner_smoke/results/ner", "/tmp/ner_smoke/results"
    files = smoke_files(work) if args.smoke else {s: os.path.join(DATA, f"{s}.txt") for s in ("train", "valid", "test")}
    if args.select:
        select_dir = os.path.join(os.path.dirname(out_dir), "ner_rules")
        if not args.summarise:
            teacher = ensure_teacher(files, work, out_dir, args.smoke)
            methods = CANDIDATES if args.methods == ",".join(METHODS) else args.methods
            for method in (methods.split(",") if isinstance(methods, str) else methods):
                run_method(method, files, teacher, os.path.join(work, "select"), select_dir, args.smoke,
                           CANDIDATES, "valid")
        summarise_selection(select_dir, results)
        return
    if not args.summarise:
        teacher = ensure_teacher(files, work, out_dir, args.smoke)
        for method in args.methods.split(","):
            run_method(method, files, teacher, work, out_dir, args.smoke)
    summarise(out_dir, results)


if __name__ == "__main__":
    main()
