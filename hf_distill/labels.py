"""Label names and their alignment, in one place. A dataset's labels carry names, a model's are its `id2label`;
ids are matched by name (case-insensitive) wherever two of them meet (data and model, teacher and student),
and default names (LABEL_0, LABEL_1, ...) are taken to be in the same order.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def is_default_names(names) -> bool:
    """LABEL_0, LABEL_1, ...: names nobody chose, taken to be in the same order everywhere."""
    return all(str(n) == f"LABEL_{i}" for i, n in enumerate(names))


def model_label_names(model_or_config) -> list[str]:
    """`config.id2label` as a list in id order."""
    config = getattr(model_or_config, "config", model_or_config)
    id2label = {int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
    return [str(id2label[i]) for i in sorted(id2label)]


def label_config(data) -> dict:
    """What a new classification head gets from the data: num_labels, id2label, label2id (or regression); nothing
    for extractive QA (its head is start and end, the model class's own)."""
    if data.kind.span:
        return {}
    if data.is_regression:
        return {"num_labels": 1, "problem_type": "regression"}
    return {
        "num_labels": len(data.label_names),
        "id2label": dict(enumerate(data.label_names)),
        "label2id": {n: i for i, n in enumerate(data.label_names)},
    }


def label_permutation(data_names: list[str], model_label2id: dict[str, int]) -> list[int]:
    """`perm[i]` = the model's id for dataset label i, matched by name.

    A model whose labels are still the defaults (LABEL_0, ...) is taken to be in the dataset's order.
    """
    model_names = set(model_label2id)
    if model_names == {f"LABEL_{i}" for i in range(len(data_names))}:
        return list(range(len(data_names)))
    lower = {str(k).lower(): v for k, v in model_label2id.items()}
    missing = [n for n in data_names if n.lower() not in lower]
    if missing or len(model_label2id) != len(data_names):
        raise ValueError(
            f"The model's labels {sorted(model_label2id, key=model_label2id.get)} do not match the data's "
            f"labels {data_names}. Set --class_names so the data's label names match the model's, or use a "
            "model trained on this task."
        )
    return [lower[n.lower()] for n in data_names]


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
    if t_names == s_names or is_default_names(t_names) or is_default_names(s_names):
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


def relabel_for_student(teacher, student, labels: list) -> list:
    """Re-index labels given in the teacher's id2label order into the student's order, by name."""
    t_names, s_names = model_label_names(teacher), model_label_names(student)
    if t_names == s_names or is_default_names(t_names) or is_default_names(s_names):
        return labels
    if sorted(t_names) != sorted(s_names):
        raise ValueError(f"Teacher labels {t_names} and student labels {s_names} differ")
    remap = {i: s_names.index(name) for i, name in enumerate(t_names)}
    return [remap[int(y)] for y in labels]
