"""A tiny distillation run in its own process, for kill-and-resume tests.

    python tests/helpers/train_worker.py OUT_DIR [--resume CHECKPOINT] [--hang-after-save STEP]

With --hang-after-save, the process writes OUT_DIR/saved-STEP once checkpoint-STEP is on disk and then
sleeps, so the test can SIGKILL it at a known point.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: conftest

from conftest import make_tokenizer, tiny_bert, tiny_dataset  # noqa: E402
from transformers import DataCollatorWithPadding, TrainerCallback  # noqa: E402

from hf_distill import DistillationConfig, DistillationTrainer  # noqa: E402


class HangAfterSave(TrainerCallback):
    def __init__(self, out, step):
        self.out, self.step = out, step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            open(os.path.join(self.out, f"saved-{self.step}"), "w").close()
            time.sleep(600)


def main(out, resume=None, hang_after_save=None, max_steps=6, cache=None):
    tok = make_tokenizer()
    args = DistillationConfig(
        teacher_cache_dir=cache,
        output_dir=out, max_steps=max_steps, per_device_train_batch_size=8, learning_rate=1e-3,
        hidden_weight=1.0, attention_weight=1.0, attention_loss="minilm", relation_heads=4,
        save_strategy="steps", save_steps=2, logging_steps=1, report_to=[], use_cpu=True, seed=0,
        disable_tqdm=True,
    )
    trainer = DistillationTrainer(
        model=tiny_bert(num_layers=2, hidden=16, heads=4, seed=2),  # narrower: projections are trained
        teacher=tiny_bert(num_layers=4, hidden=32, seed=1),
        args=args, train_dataset=tiny_dataset(tok, n=32), processing_class=tok,
        data_collator=DataCollatorWithPadding(tok),
    )
    if hang_after_save:
        trainer.add_callback(HangAfterSave(out, hang_after_save))
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(os.path.join(out, "final"))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--resume")
    p.add_argument("--hang-after-save", type=int)
    p.add_argument("--cache", help="read teacher outputs from this teacher cache")
    a = p.parse_args()
    main(a.out, a.resume, a.hang_after_save, cache=a.cache)
