"""`hf-distill static`: a static-embedding student (token vectors from the teacher, mean pooling, a small ReLU head),
trained by logit KD from the teacher on the training texts, teacher-labelled copies and any --unlabeled_file texts; saved in
<output_dir>/static as a model2vec StaticModelPipeline (loads and predicts with model2vec alone).

    hf-distill static --config recipes/sst2_minilm.yaml --teacher runs/sst2_minilm/teacher --output_dir runs/sst2_minilm
"""

from __future__ import annotations

import json
import logging
import os
import time

from ..arguments import ModelArguments, Parsed, StaticArguments
from ..data import DataArguments

SUMMARY = "a static-embedding student (model2vec format) distilled from the teacher's logits"
ARGUMENTS = (ModelArguments, DataArguments, StaticArguments)
STATIC_INFO = "hf_distill_static.json"
logger = logging.getLogger(__name__)


def run(args: Parsed) -> str:
    return distill_static(args.data, args.static, args.teacher_dir, os.path.join(args.output_dir, "static"),
                          seed=args.config.seed)


def distill_static(data_args: DataArguments, static_args: StaticArguments, teacher_dir: str, output_dir: str,
                   seed: int = 42) -> str:
    """Train and save the static student; returns its folder (with hf_distill_static.json: how, how long)."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    from ..assets import resolve_model_path
    from ..augment import augment_texts, word_frequencies
    from ..data import clean_texts, load_task_data, load_unlabeled
    from ..labels import label_permutation, model_label_names
    from ..recipe import resolve_max_length
    from ..report import predict_logits
    from ..static import save_static, static_token_ids, teacher_token_vectors, train_static
    from ..teacher import load_teacher

    start = time.perf_counter()
    data = load_task_data(data_args)
    if data.train is None:
        raise ValueError("static needs training data: pass --train_file or --task_name.")
    if data.is_regression or data.kind.token_level or data.text_pair_column:
        what = "regression" if data.is_regression else data.kind.name if data.kind.token_level else "pairs"
        raise ValueError(f"The static student classifies single texts; this data is {what}.")
    unlabeled = load_unlabeled(data_args, data)
    extra = clean_texts(unlabeled[data.text_column]) if unlabeled else []
    source = resolve_model_path(teacher_dir)
    teacher = load_teacher(source).float().eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    perm = label_permutation(data.label_names, teacher.config.label2id)
    texts = clean_texts(data.train[data.text_column])
    labels = np.array([perm[y] for y in data.train[data.label_column]])
    rng = np.random.default_rng(seed)
    held = min(static_args.static_held_out, len(texts) // 10)
    order = rng.permutation(len(texts))
    held_idx, train_idx = order[:held], order[held:]
    train_texts = [texts[i] for i in train_idx]
    copies = [v for versions in augment_texts(train_texts, static_args.static_augment_copies, 0.1, 0.1,
                                               tokenizer.mask_token or "", rng, word_frequencies(train_texts))
              for v in versions] if static_args.static_augment_copies else []
    all_texts = train_texts + copies + extra
    logger.info("static student: teacher logits on %d training texts, %d copies and %d unlabelled texts",
                len(train_texts), len(copies), len(extra))
    torch.set_num_threads(os.cpu_count() or 1)
    max_length = resolve_max_length(data_args, data, tokenizer)
    teacher_logits = predict_logits(teacher, tokenizer, all_texts, max_length=max_length, batch_size=128)
    gold = np.concatenate([labels[train_idx], np.full(len(copies) + len(extra), -100)])
    vectors = teacher_token_vectors(teacher, tokenizer, static_args.static_dim)
    rows = static_token_ids(tokenizer, all_texts)
    held_rows = static_token_ids(tokenizer, [texts[i] for i in held_idx])
    model, history = train_static(vectors, rows, teacher_logits, gold, held_rows, labels[held_idx], static_args,
                                  seed=seed)
    os.makedirs(output_dir, exist_ok=True)
    save_static(model, tokenizer, model_label_names(teacher), output_dir, base_model=str(teacher_dir))
    info = {"teacher": str(teacher_dir), "dim": static_args.static_dim, "train_texts": len(train_texts),
            "augment_copies": static_args.static_augment_copies, "teacher_labelled_copies": len(copies),
            "unlabeled_texts": len(extra),
            "held_out_rows": int(held), "temperature": static_args.static_temperature, "hidden": static_args.static_hidden,
            "kd_weight": static_args.static_kd_weight, "hard_label_weight": static_args.static_hard_label_weight,
            "epochs": history,
            "best_epoch": max(history, key=lambda h: h["held_out_accuracy"])["epoch"] if held else len(history),
            "train_s": time.perf_counter() - start, "loads_with": "model2vec.inference.StaticModelPipeline"}
    with open(os.path.join(output_dir, STATIC_INFO), "w") as f:
        json.dump(info, f, indent=2)
    logger.info("static student saved to %s (%.0f s)", output_dir, info["train_s"])
    return output_dir
