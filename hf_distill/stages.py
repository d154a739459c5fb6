"""The stages of `hf-distill`: fine-tune a teacher, distil a student, evaluate both.

Each stage is a plain function of parsed arguments, so the CLI, the recipes and the tests call the same code.
"""

from __future__ import annotations

import json
import logging
import os

from .data import DataArguments, load_task_data, tokenize_split

logger = logging.getLogger(__name__)


def _label_config(data):
    if data.is_regression:
        return {"num_labels": 1, "problem_type": "regression"}
    return {
        "num_labels": len(data.label_names),
        "id2label": dict(enumerate(data.label_names)),
        "label2id": {n: i for i, n in enumerate(data.label_names)},
    }


def train_teacher(
    model_name_or_path: str, data_args: DataArguments, training_args, output_dir: str | None = None, compute_metrics=None
) -> str:
    """Fine-tune a pretrained encoder into a teacher classifier; returns the folder it was saved to."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer


    output_dir = output_dir or training_args.output_dir
    data = load_task_data(data_args)
    if data.train is None:
        raise ValueError("train-teacher needs training data: pass --train_file or --task_name.")
    if compute_metrics is None:
        from .metrics import build_compute_metrics

        compute_metrics = build_compute_metrics(data_args.task_name, data.is_regression)
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_name_or_path, **_label_config(data))
    train = tokenize_split(data.train, data, tokenizer, data_args.max_length, model.config.label2id)
    validation = tokenize_split(data.validation, data, tokenizer, data_args.max_length, model.config.label2id)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )
    trainer.train()
    trainer.save_model(output_dir)
    if validation is not None:
        metrics = trainer.evaluate()
        trainer.save_metrics("eval", metrics)
        logger.info("teacher validation metrics: %s", metrics)
    return output_dir
