"""Checks that run before any training step: same tokenizer (labels: hf_distill.labels). Each error names the fix."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

PROBE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "It's a charming and often affecting journey!",
    "naïve café résumé — 3.14, $100 & co.",
    "unbelievably overpriced, underwhelming sequel",
]


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
