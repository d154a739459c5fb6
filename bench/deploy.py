"""Where the student runs: the SST-2 teacher and 3-layer student in PyTorch, ONNX fp32 and ONNX int8, and a static-
embedding student, each scored on the validation rows and timed the same way (batch 1 and 32, same texts).

    hf-distill pipeline --config recipes/sst2_minilm.yaml --output_dir runs/sst2_minilm     # the README's main job
    python bench/deploy.py --run_dir runs/sst2_minilm                                      # then this (~25 min)
    python bench/deploy.py --run_dir runs/sst2_minilm --skip_static_training               # ~5 min: <run_dir>/static kept

Steps: `hf-distill export` of the student and of the teacher (fp32 + dynamic int8), `hf-distill static` (token
vectors from the teacher, KD on the training texts and 8 teacher-labelled copies of each, epoch picked on 1,000
held-out training rows), then every model on the 872 validation rows (nothing is selected on them): accuracy, and
the forward pass timed on the same batches with all cores (tokenization excluded for every model; the static
student's forward is its numpy lookup, mean and head), then the int8 student and the PyTorch teacher again, back to
back in 5 rounds (`paired_int8`: the speed-up per round and its median). Run it alone: latency is wall clock.
Writes bench/results/deploy.json, deploy.md and deploy.png (accuracy against latency at batch 32, log scale).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import suite_data

RESULTS = os.path.join(suite_data.REPO, "bench", "results")
RECIPE = os.path.join(suite_data.REPO, "recipes", "sst2_minilm.yaml")
BATCH_SIZES = (1, 32)
PAIRED_ROUNDS = 5
MAX_LENGTH = 64  # the recipe leaves max_length to the data; latency batches are cut here


def paired_int8_speedups(teacher_dir: str, int8_path: str, tokenizer, texts, max_length: int, runs: int,
                         threads: int, rounds: int = PAIRED_ROUNDS) -> dict:
    """The int8 student against the fp32 PyTorch teacher timed back to back, `rounds` times (teacher, int8, teacher,
    int8, ...), at each batch size: per-round speed-ups and their median. The table's figures time each model once,
    minutes apart; on a machine whose speed drifts this pairs them."""
    from transformers import AutoModelForSequenceClassification

    from hf_distill.export import OnnxModel
    from hf_distill.measure import measure_latency_ms, measure_runtime_latency_ms

    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    int8 = OnnxModel(int8_path, num_threads=threads)
    out = {"rounds": rounds}
    for bs in BATCH_SIZES:
        same = dict(tokenizer=tokenizer, texts=texts, batch_size=bs, max_length=max_length, runs=runs, warmup=3)
        pairs = [(measure_latency_ms(teacher, num_threads=threads, **same)["median"],
                  measure_runtime_latency_ms(int8, threads=threads, **same)["median"]) for _ in range(rounds)]
        speedups = [t / s for t, s in pairs]
        out[f"b{bs}"] = {"teacher_ms": [t for t, _ in pairs], "int8_ms": [s for _, s in pairs], "speedups": speedups,
                         "median_speedup": float(np.median(speedups))}
    return out


def static_row(static_dir: str, tokenizer, texts, labels, label_names, runs: int, warmup: int) -> dict:
    """The static student through model2vec (accuracy), and its numpy forward timed on pre-tokenized batches."""
    from model2vec.inference import StaticModelPipeline
    from safetensors.numpy import load_file

    from hf_distill.measure import time_forward
    from hf_distill.static import static_forward, static_token_ids

    pipe = StaticModelPipeline.from_pretrained(static_dir)
    predicted = pipe.predict(texts)
    accuracy = float(np.mean([p == label_names[y] for p, y in zip(predicted, labels)]))
    vectors = load_file(os.path.join(static_dir, "model.safetensors"))
    vectors = next(iter(vectors.values()))
    head = load_file(os.path.join(static_dir, "head.safetensors"))
    forward = static_forward(vectors, [(head[f"head.{i}.weight"], head[f"head.{i}.bias"]) for i in range(len(head) // 2)])
    ids = static_token_ids(tokenizer, texts)
    latency = {}
    for bs in BATCH_SIZES:
        batches = [[ids[(j * bs + k) % len(ids)] for k in range(bs)] for j in range(runs)]
        latency[f"b{bs}"] = time_forward(forward, batches, warmup=warmup)["median"]
    size = sum(os.path.getsize(os.path.join(static_dir, f)) for f in ("model.safetensors", "head.safetensors")) / 1e6
    return {"accuracy": accuracy, "latency_ms": latency, "size_mb": size}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", default=os.path.join(suite_data.REPO, "runs", "sst2_minilm"))
    parser.add_argument("--latency_runs", type=int, default=30)
    parser.add_argument("--skip_static_training", action="store_true", help="reuse <run_dir>/static")
    parser.add_argument("--smoke", action="store_true", help="500 training rows, 3 timed runs, results in /tmp")
    parser.add_argument("--replot", action="store_true", help="redraw deploy.png from deploy.json, nothing run")
    parser.add_argument("--paired_only", action="store_true",
                        help="only the back-to-back rounds (paired_int8) of an earlier run, added to its deploy.json/.md")
    args = parser.parse_args()
    global RESULTS
    if args.replot:
        with open(os.path.join(RESULTS, "deploy.json")) as f:
            plot(json.load(f), os.path.join(RESULTS, "deploy.png"))
        return
    if args.smoke:
        RESULTS, args.latency_runs = "/tmp/deploy_smoke", 3
    if args.paired_only:
        add_paired(args)
        return

    from transformers import AutoTokenizer

    from hf_distill.arguments import StaticArguments
    from hf_distill.cli import parse
    from hf_distill.commands.static import distill_static
    from hf_distill.data import load_task_data
    from hf_distill.export import export_onnx
    from hf_distill.labels import label_permutation, model_label_names
    from hf_distill.report import build_report, runtime_entries

    teacher, student = os.path.join(args.run_dir, "teacher"), os.path.join(args.run_dir, "student")
    _, data_args, config, *_ = parse(["--config", RECIPE, "--output_dir", args.run_dir])
    data_args.train_file = os.path.join(suite_data.SHARED, "sst2", "train.tsv")
    data_args.validation_file = os.path.join(suite_data.SHARED, "sst2", "validation.tsv")
    static_args = StaticArguments()
    if args.smoke:
        data_args.max_train_samples, static_args.static_epochs, static_args.static_dim = 500, 1, 16
    times = {}
    start = time.perf_counter()
    export_onnx(student)
    export_onnx(teacher, os.path.join(args.run_dir, "teacher_onnx"))
    times["export_s"] = time.perf_counter() - start
    static_dir = os.path.join(args.run_dir, "static")
    if not args.skip_static_training:
        start = time.perf_counter()
        distill_static(data_args, static_args, teacher, static_dir, seed=config.seed)
        times["static_train_s"] = time.perf_counter() - start

    data = load_task_data(data_args)
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    from transformers import AutoConfig

    perm = label_permutation(data.label_names, AutoConfig.from_pretrained(teacher).label2id)
    texts = [t.strip() for t in data.validation[data.text_column]]
    labels = [perm[y] for y in data.validation[data.label_column]]
    max_length = data_args.max_length or MAX_LENGTH
    report = build_report(teacher, student, texts, labels, "sst2", max_length=max_length, latency_runs=args.latency_runs)
    # the teacher's own ONNX files, scored and timed the same way as the student's
    teacher_onnx = runtime_entries(Path(args.run_dir) / "teacher_onnx", tokenizer, texts, labels, "sst2", None,
                                   max_length, False, BATCH_SIZES, args.latency_runs, 3,
                                   report["latency_settings"]["threads"])
    names = model_label_names(AutoConfig.from_pretrained(teacher))
    paired = paired_int8_speedups(teacher, report["runtimes"]["onnx-int8"]["file"], tokenizer, texts, max_length,
                                  args.latency_runs, report["latency_settings"]["threads"])
    static = static_row(static_dir, tokenizer, texts, labels, names, args.latency_runs, 3)

    t = report["teacher"]
    student_name, teacher_name = f"student {report['student']['num_layers']}L", f"teacher {t['num_layers']}L"
    rows = [{"model": student_name, "runtime": "torch", "accuracy": report["student"]["metrics"]["accuracy"],
             "latency_ms_b1": report["student"]["latency_ms"]["b1"], "latency_ms_b32": report["student"]["latency_ms"]["b32"],
             "size_mb": report["student"]["size_mb"]}]
    for model, entries in ((student_name, report.get("runtimes", {})), (teacher_name, teacher_onnx)):
        for runtime, e in entries.items():
            rows.append({"model": model, "runtime": runtime, "accuracy": e["metrics"]["accuracy"],
                         "latency_ms_b1": e["latency_ms"]["b1"], "latency_ms_b32": e["latency_ms"]["b32"],
                         "size_mb": e["size_mb"]})
    rows.append({"model": "static student", "runtime": "static", "accuracy": static["accuracy"],
                 "latency_ms_b1": static["latency_ms"]["b1"], "latency_ms_b32": static["latency_ms"]["b32"],
                 "size_mb": static["size_mb"]})
    for r in rows:
        r["speedup_b1"] = t["latency_ms"]["b1"] / r["latency_ms_b1"]
        r["speedup_b32"] = t["latency_ms"]["b32"] / r["latency_ms_b32"]
        r["retention"] = r["accuracy"] / t["metrics"]["accuracy"]
    result = {
        "task": "sst2", "rows_scored": len(texts), "threads": report["latency_settings"]["threads"],
        "latency": "median ms per forward of one batch (tokenization excluded), same texts and batches for every model",
        "teacher": {"accuracy": t["metrics"]["accuracy"], "latency_ms_b1": t["latency_ms"]["b1"],
                    "latency_ms_b32": t["latency_ms"]["b32"], "size_mb": t["size_mb"]},
        "rows": rows, "paired_int8": paired, "warnings": report.get("warnings", []), "times": times,
        "static": json.load(open(os.path.join(static_dir, "hf_distill_static.json"))),
    }
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "deploy.json"), "w") as f:
        json.dump(result, f, indent=2)
    lines = ["# Deployment: SST-2 validation (872 rows), CPU (`python bench/deploy.py`)", "",
             f"Teacher (MiniLM-L6, PyTorch fp32): accuracy {t['metrics']['accuracy']:.4f}, "
             f"{t['latency_ms']['b1']:.2f} ms at batch 1, {t['latency_ms']['b32']:.2f} ms at batch 32; "
             f"{result['threads']} threads.", "",
             "| model | runtime | accuracy | retention | latency b1 (ms) | latency b32 (ms) | speed-up b1 | speed-up b32 "
             "| size (MB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['runtime']} | {r['accuracy']:.4f} | {r['retention']:.3f} | {r['latency_ms_b1']:.3f} | "
                     f"{r['latency_ms_b32']:.3f} | {r['speedup_b1']:.1f}x | {r['speedup_b32']:.1f}x | {r['size_mb']:.1f} |")
    lines += ["", paired_line(paired)]
    lines += ["", "Latency: the forward pass only, for every model (texts tokenized up front); the static student's "
              "forward is its numpy lookup, mean and head (model2vec's own `predict` adds its tokenization)."]
    lines += ["", *[f"**Warning:** {w}" for w in result["warnings"]]]
    with open(os.path.join(RESULTS, "deploy.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(result, os.path.join(RESULTS, "deploy.png"))
    print("\n".join(lines))


def paired_line(paired: dict) -> str:
    return (f"The int8 student and the PyTorch teacher timed back to back, {paired['rounds']} rounds: speed-up "
            + ", ".join(f"b{bs} median {paired[f'b{bs}']['median_speedup']:.2f}x (rounds "
                        + " ".join(f"{x:.2f}" for x in paired[f"b{bs}"]["speedups"]) + ")" for bs in BATCH_SIZES) + ".")


def add_paired(args) -> None:
    """`--paired_only`: the back-to-back rounds on an earlier run's files, written into its deploy.json and .md."""
    from transformers import AutoTokenizer

    from hf_distill.data import DataArguments, load_task_data
    from hf_distill.export import INT8_FILE, ONNX_DIR

    with open(os.path.join(RESULTS, "deploy.json")) as f:
        result = json.load(f)
    data = load_task_data(DataArguments(task_name="sst2", train_file=os.path.join(suite_data.SHARED, "sst2", "train.tsv"),
                                        validation_file=os.path.join(suite_data.SHARED, "sst2", "validation.tsv")))
    teacher = os.path.join(args.run_dir, "teacher")
    texts = [t.strip() for t in data.validation[data.text_column]]
    result["paired_int8"] = paired_int8_speedups(teacher, os.path.join(args.run_dir, "student", ONNX_DIR, INT8_FILE),
                                                 AutoTokenizer.from_pretrained(teacher), texts, MAX_LENGTH, args.latency_runs,
                                                 result["threads"])
    with open(os.path.join(RESULTS, "deploy.json"), "w") as f:
        json.dump(result, f, indent=2)
    md = Path(RESULTS, "deploy.md")
    lines = [line for line in md.read_text().splitlines() if not line.startswith("The int8 student and the PyTorch")]
    at = lines.index(next(line for line in lines if line.startswith("Latency: the forward pass only")))
    md.write_text("\n".join(lines[:at] + [paired_line(result["paired_int8"]), ""] + lines[at:]) + "\n")
    print(paired_line(result["paired_int8"]))


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    t = result["teacher"]
    ax.scatter([t["latency_ms_b32"]], [t["accuracy"]], marker="*", s=180, color="black",
               label=f"teacher 6L, torch ({t['accuracy']:.3f}, {t['latency_ms_b32']:.1f} ms)")
    colors = {"torch": "tab:blue", "onnx": "tab:orange", "onnx-int8": "tab:green", "static": "tab:red"}
    for r in result["rows"]:  # one legend entry per point: labels beside points collide where points crowd
        ax.scatter([r["latency_ms_b32"]], [r["accuracy"]], s=60, color=colors[r["runtime"]],
                   marker="o" if r["model"].startswith("student") else ("s" if r["model"].startswith("teacher") else "D"),
                   label=f"{r['model']}, {r['runtime']} ({r['accuracy']:.3f}, {r['latency_ms_b32']:.1f} ms)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xscale("log")
    ax.set_xlabel(f"latency at batch 32, ms (log scale; {result['threads']} CPU threads)")
    ax.set_ylabel("SST-2 validation accuracy")
    ax.set_title("Accuracy against latency (SST-2): PyTorch, ONNX, int8, static", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
