"""What attention capture costs: sdpa + Q/K/V hooks on mapped layers (what hf_distill does) vs eager attention.

    python bench/attention_capture.py

Times one distillation training step (teacher forward + student forward/backward + optimizer) of the real
MiniLM-L6 teacher into a 3-layer student, batch 32 of real SST-2 rows (dynamic padding, max length 64),
with the TinyBERT attention loss, once with both models under sdpa (hooks) and once under eager attention.
Also checks that the attention loss is the same both ways. Writes bench/results/attention_capture.json.
"""

import json
import os
import statistics
import time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from hf_distill import DataArguments, DistillationConfig, DistillationTrainer, load_task_data, student_from_teacher
from hf_distill.assets import minilm_l6_path, sst2_dir
from hf_distill.data import tokenize_split

STEPS, WARMUP = 12, 2


def build(attn, path, train, tok, out):
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, attn_implementation=attn)
    student = student_from_teacher(teacher, num_layers=3)
    args = DistillationConfig(output_dir=out, per_device_train_batch_size=32, hidden_weight=1.0, attention_weight=1.0,
                              report_to=[], use_cpu=True, max_steps=STEPS + WARMUP, save_strategy="no", seed=0,
                              disable_tqdm=True)
    return DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=train, processing_class=tok,
                               data_collator=DataCollatorWithPadding(tok))


def time_steps(trainer):
    trainer.create_optimizer_and_scheduler(num_training_steps=STEPS + WARMUP)
    loader = zip(trainer.get_train_dataloader(), range(STEPS + WARMUP))
    batches = [{k: v.to(trainer.args.device) for k, v in b.items()} for b, _ in loader]
    times, attention = [], []
    trainer.model.train()
    for i, inputs in enumerate(batches):
        start = time.perf_counter()
        terms, _ = trainer.loss_terms(trainer.model, inputs)
        loss = torch.stack(list(terms.values())).sum(0).mean()
        loss.backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
        attention.append(float(terms["attention"].mean()))
    return times, attention


def main():
    path = minilm_l6_path()
    tok = AutoTokenizer.from_pretrained(path)
    data = load_task_data(DataArguments(train_file=f"{sst2_dir()}/train.tsv", class_names="negative,positive",
                                        max_length=64, max_train_samples=32 * (STEPS + WARMUP)))
    train = tokenize_split(data.train, data, tok, 64, {"LABEL_0": 0, "LABEL_1": 1})
    result = {"threads": torch.get_num_threads(), "batch_size": 32, "steps": STEPS}
    first_attention = {}
    for attn in ("sdpa", "eager"):
        trainer = build(attn, path, train, tok, f"/tmp/bench_attn_{attn}")
        times, attention = time_steps(trainer)
        result[attn] = {"median_step_s": statistics.median(times), "mean_step_s": statistics.mean(times)}
        first_attention[attn] = attention[0]
    result["eager_over_sdpa_hooks"] = result["eager"]["median_step_s"] / result["sdpa"]["median_step_s"]
    result["first_step_attention_loss"] = first_attention
    print(json.dumps(result, indent=2))
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/attention_capture.json", "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
