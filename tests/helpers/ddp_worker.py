"""One DistillationTrainer run on tiny BERTs, written to be launched both ways by tests/test_ddp.py:

    accelerate launch --config_file recipes/accelerate/cpu_ddp_2proc.yaml --num_processes 2 --num_machines 1 \
        --mixed_precision no --dynamo_backend no --main_process_port <port> \
        tests/helpers/ddp_worker.py OUT --per_device_train_batch_size 4 [--mix full|hidden_only|mixup]
    python tests/helpers/ddp_worker.py OUT --per_device_train_batch_size 8 [--mix full|hidden_only|mixup]

Same models (fixed seeds), same rows, same global batch of 8 rows per step in both: the sampler is sequential,
so step k trains on rows 8k..8k+7 whether one process takes all 8 or rank 0 takes 8k..8k+3 and rank 1 the rest
(accelerate shards a sequential batch sampler batch by batch). Rows are padded to a fixed length so no process
pads differently, and dropout is 0. Loss ("full"): hard label + logit KD + hidden MSE through projections (student
width 16, teacher 32, so the projections' gradients must be all-reduced like the student's) + TinyBERT attention;
"hidden_only" drops the two logit terms. Plain SGD without clipping, so any error in the gradient's scale shows
in the weights.

Every rank writes rank<k>.json: its rank, steps, rows per step and every file it wrote under OUT. The student is
saved with `trainer.save_model` on every rank, as `hf-distill distill` does, so what is tested is the Trainer's
own rule (only the main process writes), not a guard in this script; rank 0 alone writes run.json (log history,
process count, what wrapped what, how far each weight moved).
"""

import argparse
import json
import os
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [TESTS, os.path.dirname(TESTS)]  # conftest (tiny models) and hf_distill from the checkout

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from conftest import make_tokenizer, tiny_bert, tiny_dataset  # noqa: E402
from transformers import DataCollatorWithPadding, TrainerCallback  # noqa: E402

from hf_distill import DistillationConfig, DistillationTrainer  # noqa: E402

MAX_LENGTH = 16
STUDENT = dict(num_layers=2, hidden=16, heads=4, seed=2)
TEACHER = dict(num_layers=4, hidden=32, heads=4, seed=1)
MIXES = {
    # every term: hard labels, logit KD, hidden states through the projections, TinyBERT attention
    "full": dict(hidden_weight=1.0, attention_weight=1.0),
    # intermediate-layer distillation only (TinyBERT's first stage): the classifier head gets no gradient
    "hidden_only": dict(hard_label_weight=0.0, logit_weight=0.0, hidden_weight=1.0, attention_weight=1.0),
    # MixKD beside the hidden term: a second student forward (on mixed rows) before the one backward
    "mixup": dict(hidden_weight=1.0, mixup_weight=1.0),
}


def record_writes(root):
    """Every file this process writes under `root`, relative to it. Python's audit hook sees every open() for
    writing; the writers that bypass it are wrapped: safetensors (Rust), torch.save (C++ zip writer) and the
    tokenizer's tokenizer.json (Rust; `save_pretrained` returns the files it wrote)."""
    import safetensors.torch
    from transformers import PreTrainedTokenizerBase

    root = os.path.realpath(root)
    written = set()

    def note(path):
        path = os.path.realpath(os.fspath(path))
        if path.startswith(root + os.sep):
            written.add(os.path.relpath(path, root))

    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, os.PathLike)):
            mode, flags = args[1], args[2]
            if (mode and any(c in mode for c in "wax+")) or (not mode and flags & (os.O_WRONLY | os.O_RDWR)):
                note(args[0])

    sys.addaudithook(hook)

    serialize_file = safetensors.torch.serialize_file

    def recording_serialize_file(tensors, filename, *a, **kw):
        note(filename)
        return serialize_file(tensors, filename, *a, **kw)

    torch_save = torch.save

    def recording_torch_save(obj, f, *a, **kw):
        if isinstance(f, (str, os.PathLike)):
            note(f)
        return torch_save(obj, f, *a, **kw)

    save_pretrained = PreTrainedTokenizerBase.save_pretrained

    def recording_save_pretrained(self, *a, **kw):
        files = save_pretrained(self, *a, **kw)
        for path in files:
            note(path)
        return files

    safetensors.torch.serialize_file = recording_serialize_file
    torch.save = recording_torch_save
    PreTrainedTokenizerBase.save_pretrained = recording_save_pretrained
    return written


class CountSteps(TrainerCallback):
    """Optimizer steps this process took part in."""

    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--per_device_train_batch_size", type=int, default=4)
    parser.add_argument("--max_steps", type=int, default=4)
    parser.add_argument("--n_rows", type=int, default=32)
    parser.add_argument("--ddp_find_unused_parameters", choices=["default", "true", "false"], default="default")
    parser.add_argument("--mix", choices=sorted(MIXES), default="full")
    opts = parser.parse_args(argv)
    os.makedirs(opts.out_dir, exist_ok=True)
    written = record_writes(opts.out_dir)

    args = DistillationConfig(
        output_dir=os.path.join(opts.out_dir, "trainer"),
        max_steps=opts.max_steps,
        per_device_train_batch_size=opts.per_device_train_batch_size,
        optim="sgd",  # plain SGD: the update is proportional to the gradient, so a mis-scaled loss would show
        learning_rate=0.05,
        lr_scheduler_type="constant",
        max_grad_norm=1e6,  # the norm is computed and logged, but never clips (clipping would hide a scale error)
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
        data_seed=0,
        train_sampling_strategy="sequential",
        dataloader_num_workers=0,
        attention_loss="tinybert",
        **MIXES[opts.mix],
        ddp_find_unused_parameters={"default": None, "true": True, "false": False}[opts.ddp_find_unused_parameters],
    )
    tok = make_tokenizer()
    teacher = tiny_bert(**TEACHER)
    with torch.no_grad():  # confident teacher logits, so the KD term is not ~0 between two random models
        teacher.classifier.weight.mul_(100)
    student = tiny_bert(**STUDENT)
    dataset = tiny_dataset(tok, n=opts.n_rows, max_length=MAX_LENGTH)
    seen_rows = []

    class Trainer(DistillationTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                seen_rows.append(int(inputs["input_ids"].shape[0]))
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    torch.manual_seed(3)  # the hidden-state projections are initialised inside the trainer
    counter = CountSteps()
    trainer = Trainer(
        model=student,
        teacher=teacher,
        args=args,
        train_dataset=dataset,
        processing_class=tok,
        data_collator=DataCollatorWithPadding(tok, padding="max_length", max_length=MAX_LENGTH),
        callbacks=[counter],
    )
    initial = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    trainer.save_model(os.path.join(opts.out_dir, "student"))  # every rank calls it, as the CLI does

    state = trainer.accelerator.state
    rank = state.process_index
    trainer.accelerator.wait_for_everyone()  # every rank has finished writing before the file lists are taken
    marker = {
        "rank": rank,
        "steps": counter.steps,
        "global_step": trainer.state.global_step,
        "rows": seen_rows,
        "writes": sorted(written),
    }
    with open(os.path.join(opts.out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(marker, f)
    if state.is_main_process:
        summary = {
            "num_processes": state.num_processes,
            "distributed_type": str(state.distributed_type),
            "backend": state.backend,
            "model_wrapped": type(trainer.model_wrapped).__name__,
            "teacher": type(trainer.teacher).__name__,
            "teacher_trainable": sum(p.requires_grad for p in trainer.teacher.parameters()),
            "teacher_training": trainer.teacher.training,
            "log_history": trainer.state.log_history,
            # how far each tensor moved in training (student and projections), so the test knows its tolerance
            # is far below any real difference
            "drift": {
                k: float((v - initial[k]).abs().max())
                for k, v in trainer.model.state_dict().items()
                if v.is_floating_point()
            },
        }
        with open(os.path.join(opts.out_dir, "run.json"), "w") as f:
            json.dump(summary, f, indent=1)
    trainer.accelerator.wait_for_everyone()


if __name__ == "__main__":
    main()
