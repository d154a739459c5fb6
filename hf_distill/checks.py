"""Checks that run before any training step: same tokenizer, same labels. Each error names the fix."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

PROBE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "It's a charming and often affecting journey!",
    "naïve café résumé — 3.14, $100 & co.",
    "unbelievably overpriced, underwhelming sequel",
]


def _is_default_names(names) -> bool:
    return all(str(n) == f"LABEL_{i}" for i, n in enumerate(names))


def check_labels(teacher_config, student_config) -> list[int] | None:
    """Match labels by name. Returns the teacher index for each student label when the orders differ.

    Same names in another order: aligned (the teacher's logits are permuted), and logged. Different names or
    counts: refused. Default names (LABEL_0, ...) on either side are taken to be in the same order.
    """
    t_n, s_n = teacher_config.num_labels, student_config.num_labels
    if t_n != s_n:
        raise ValueError(
            f"The teacher has {t_n} labels and the student {s_n}. Build the student from the teacher "
            "(student_from_teacher) or give it the teacher's labels: num_labels, id2label and label2id."
        )
    t_names = [teacher_config.id2label[i] for i in range(t_n)]
    s_names = [student_config.id2label[i] for i in range(s_n)]
    if t_names == s_names or _is_default_names(t_names) or _is_default_names(s_names):
        if t_names != s_names:
            logger.warning("Label names %s / %s: one side has default names; assuming the same order.", t_names, s_names)
        return None
    if sorted(map(str.lower, t_names)) != sorted(map(str.lower, s_names)):
        raise ValueError(
            f"The teacher's labels {t_names} and the student's {s_names} differ. A teacher can only teach the "
            "labels it knows: use a teacher fine-tuned on this task, or fix id2label in the student's config."
        )
    index = {n.lower(): i for i, n in enumerate(t_names)}
    order = [index[n.lower()] for n in s_names]
    logger.warning("Teacher labels %s are in another order than the student's %s: aligning by name.", t_names, s_names)
    return order


def check_tokenizers(student_tokenizer, teacher_tokenizer, student_config, teacher_config, train_dataset=None) -> None:
    """Teacher and student must see the same ids for the same text, or distillation learns from noise."""
    if teacher_config.vocab_size != student_config.vocab_size:
        raise ValueError(
            f"Vocabulary mismatch: the teacher's vocab_size is {teacher_config.vocab_size} and the student's "
            f"{student_config.vocab_size}. Teacher and student must share a tokenizer: build the student from the "
            "teacher (student_from_teacher / student_from_config) or pick a teacher of the same family."
        )
    if student_tokenizer is None or teacher_tokenizer is None or not callable(teacher_tokenizer):
        if teacher_tokenizer is None:
            logger.info("No teacher tokenizer given: checked vocab sizes only (pass teacher_tokenizer= to check ids).")
        return
    texts = list(PROBE_TEXTS)
    if train_dataset is not None and "input_ids" in getattr(train_dataset, "column_names", []):
        rows = train_dataset.select(range(min(8, len(train_dataset))))["input_ids"]
        texts += [student_tokenizer.decode(ids, skip_special_tokens=True) for ids in rows]
    for text in texts:
        s_ids = student_tokenizer(text)["input_ids"]
        t_ids = teacher_tokenizer(text)["input_ids"]
        if s_ids != t_ids:
            raise ValueError(
                f"Tokenizer mismatch: for {text!r} the student's tokenizer gives {s_ids[:12]}... and the teacher's "
                f"{t_ids[:12]}.... Teacher and student must share a tokenizer: pass the teacher's tokenizer as "
                "processing_class, or pick a teacher of the same family."
            )
