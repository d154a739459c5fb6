"""Choose the loss weights of the SST-2 recipe without touching the scored validation rows.

    python bench/recipe_selection.py TEACHER_DIR [--steps 300]

Each candidate distils the 3-layer student (layers 1, 3, 5 of the teacher) for `--steps` steps of batch 32 on the
first training rows, then is scored on the last 2,000 SST-2 *training* rows, held out (never trained on, never
the 872 validation rows). Writes bench/results/recipe_selection.json.
"""

import argparse
import json
import os
import time

from transformers import AutoTokenizer, DataCollatorWithPadding

from hf_distill import DataArguments, DistillationConfig, DistillationTrainer, load_task_data, load_teacher
from hf_distill.assets import sst2_dir
from hf_distill.data import tokenize_split
from hf_distill.metrics import build_compute_metrics
from hf_distill.student import student_from_teacher

CANDIDATES = {
    "logit_only": dict(),
    "hidden1_att1": dict(hidden_weight=1.0, attention_weight=1.0),
    "hidden1_att0.1": dict(hidden_weight=1.0, attention_weight=0.1),
}


def main(teacher_dir, steps):
    data = load_task_data(DataArguments(train_file=f"{sst2_dir()}/train.tsv", class_names="negative,positive",
                                        max_length=64, train_slice_for_selection=2000))
    tok = AutoTokenizer.from_pretrained(teacher_dir)
    teacher = load_teacher(teacher_dir)
    train = tokenize_split(data.train, data, tok, 64, teacher.config.label2id)
    held_out = tokenize_split(data.selection, data, tok, 64, teacher.config.label2id)
    results = {"steps": steps, "batch_size": 32, "selection_rows": len(held_out), "candidates": {}}
    for name, kw in CANDIDATES.items():
        args = DistillationConfig(output_dir=f"/tmp/recipe_selection/{name}", max_steps=steps,
                                  per_device_train_batch_size=32, per_device_eval_batch_size=64, learning_rate=1e-4,
                                  seed=42, report_to=[], use_cpu=True, save_strategy="no", logging_steps=50,
                                  disable_tqdm=True, **kw)
        trainer = DistillationTrainer(model=student_from_teacher(teacher, num_layers=3), teacher=teacher, args=args,
                                      train_dataset=train, eval_dataset=held_out, processing_class=tok,
                                      data_collator=DataCollatorWithPadding(tok),
                                      compute_metrics=build_compute_metrics("sst2"))
        start = time.time()
        trainer.train()
        metrics = trainer.evaluate()
        results["candidates"][name] = {"weights": kw, "heldout_accuracy": metrics["eval_accuracy"],
                                       "train_seconds": time.time() - start}
        print(name, results["candidates"][name], flush=True)
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/recipe_selection.json", "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("teacher_dir")
    p.add_argument("--steps", type=int, default=300)
    a = p.parse_args()
    main(a.teacher_dir, a.steps)
