"""`hf-distill train-teacher`: fine-tune a pretrained encoder into the teacher (a sequence or token classifier).

    hf-distill train-teacher --config recipes/sst2_minilm.yaml --output_dir runs/sst2_minilm

The teacher is saved to --teacher, else <output_dir>/teacher, with hf_distill_teacher.json (its base model and
the rows it trained on).
"""

from __future__ import annotations

import json
import logging
import os

from ..arguments import ModelArguments, Parsed, RunArguments
from ..assets import PYPI_HUB_IDS, resolve_model_path
from ..checkpoints import resume_point, teacher_settings
from ..config import DistillationConfig
from ..data import DataArguments, load_task_data, tokenize_split
from ..labels import label_config
from ..placement import is_main_process
from ..recipe import apply_learning_rate_rule, apply_min_train_steps, resolve_max_length, rows_per_step, teacher_learning_rate
from ..teacher import TEACHER_INFO

SUMMARY = "fine-tune a pretrained encoder into a teacher classifier"
ARGUMENTS = (ModelArguments, DataArguments, DistillationConfig, RunArguments)
logger = logging.getLogger(__name__)


def run(args: Parsed) -> str:
    return train_teacher(args.model, args.data, args.config, args.teacher_dir)


def train_teacher(model_args: ModelArguments, data_args: DataArguments, training_args, output_dir: str) -> str:
    """Fine-tune a pretrained encoder into a teacher classifier; returns the folder it was saved to."""
    import copy

    from transformers import AutoTokenizer, Trainer, set_seed

    from ..metrics import compute_metrics_for

    data = load_task_data(data_args)
    if data.train is None:
        raise ValueError("train-teacher needs training data: pass --train_file or --task_name.")
    source = resolve_model_path(model_args.pretrained_model)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=model_args.trust_remote_code)
    set_seed(training_args.seed)  # the new classification head is drawn from the seeded RNG: reproducible
    model = data.kind.model_class().from_pretrained(  # the data's task (tasks.py)
        source, trust_remote_code=model_args.trust_remote_code, **label_config(data)
    )
    resolve_max_length(data_args, data, tokenizer)
    train = tokenize_split(data.train, data, tokenizer, data_args.max_length, model.config.label2id)
    validation = tokenize_split(data.validation, data, tokenizer, data_args.max_length, model.config.label2id)
    args = copy.copy(training_args)
    args.output_dir = output_dir
    args.num_train_epochs = model_args.teacher_num_train_epochs
    rate = teacher_learning_rate(model_args.teacher_learning_rate, model_args.teacher_large_data_learning_rate, len(train),
                                 rows_per_step(args), args.num_train_epochs, model_args.teacher_min_train_steps)
    if rate != model_args.teacher_learning_rate:
        logger.info("train-teacher: %d rows fill the %d-step floor in %g epochs: teacher_large_data_learning_rate %.3g",
                    len(train), model_args.teacher_min_train_steps, args.num_train_epochs, rate)
    args.learning_rate = apply_learning_rate_rule(rate, model, model_args.teacher_lr_reference_width, "train-teacher")
    apply_min_train_steps(args, len(train), model_args.teacher_min_train_steps, "train-teacher")
    resume = resume_point(output_dir, teacher_settings(args, model_args, data_args), args.resume_from_checkpoint,
                          "train-teacher")
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        data_collator=data.kind.data_collator(tokenizer),
        compute_metrics=compute_metrics_for(data_args.task_name, data, model),
    )
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(output_dir)
    if is_main_process():
        base = PYPI_HUB_IDS.get(model_args.pretrained_model, model_args.pretrained_model)
        with open(os.path.join(output_dir, TEACHER_INFO), "w") as f:
            info = {
                "base_model": base,
                "task_name": data_args.task_name,
                "train_rows": len(train),  # the rows it trained on: the last held_out_rows were kept out
                "held_out_rows": data_args.train_slice_for_selection or 0,
                "learning_rate": args.learning_rate,  # after the size and width rules (hf_distill.recipe)
                "steps": trainer.state.global_step,
                "resumed_from": resume,
            }
            json.dump(info, f, indent=2)
    if validation is not None:
        if data.kind.span:  # QA: one pass over the dev features gives the loss and the start/end logits for SQuAD's scores
            from ..qa import feature_scores, prepare_features, qa_rows

            output = trainer.predict(validation, metric_key_prefix="eval")
            rows = qa_rows(*data.texts("validation"), list(data.validation[data.label_column]))
            features = prepare_features(rows, tokenizer, max_length=data_args.max_length, doc_stride=data.doc_stride)
            metrics = output.metrics | {f"eval_{k}": v for k, v in feature_scores(rows, features, *output.predictions).items()}
            trainer.log(metrics)  # as `evaluate` logs its metrics
        else:
            metrics = trainer.evaluate()
        trainer.save_metrics("eval", metrics)
        logger.info("teacher validation metrics: %s", metrics)
    return output_dir
