"""Build a student: from the teacher's own layers, or from a smaller config.

    student = student_from_teacher(teacher, num_layers=3)          # layers 1, 3, 5 of a 6-layer teacher
    student = student_from_teacher(teacher, layers=[1, 4])         # explicit, 1-based like hidden_states
    student = student_from_config(teacher, hidden_size=256, num_attention_heads=4, intermediate_size=1024)
"""

from __future__ import annotations

import copy
import re

from torch import nn

from .architectures import arch_of, get_layers


def default_student_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced teacher layers starting at the first: 6 -> 3 gives [1, 3, 5], 6 -> 2 gives [1, 4]."""
    if not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"num_layers must be between 1 and the teacher's {teacher_layers}, got {student_layers}.")
    return [1 + i * teacher_layers // student_layers for i in range(student_layers)]


def _layer_key_pattern(model: nn.Module) -> re.Pattern:
    prefix = f"{model.base_model_prefix}.{arch_of(model).layers}"
    return re.compile(rf"^({re.escape(prefix)})\.(\d+)\.(.*)$")


def student_from_teacher(teacher: nn.Module, num_layers: int | None = None, layers: list[int] | None = None) -> nn.Module:
    """A model of the teacher's own class with its embeddings, the chosen layers, pooler and classifier copied.

    Args:
        teacher (`PreTrainedModel`): any model whose `model_type` is in `ARCHITECTURES`.
        num_layers (`int`, *optional*): keep this many layers, evenly spaced (`default_student_layers`).
        layers (`list[int]`, *optional*): the teacher layers to keep, 1-based (layer `i` produces hidden state `i`).
    """
    total = teacher.config.num_hidden_layers
    if layers is None:
        if num_layers is None:
            raise ValueError("Pass num_layers=k or layers=[...] to choose the student's layers.")
        layers = default_student_layers(total, num_layers)
    layers = [int(i) for i in layers]
    bad = [i for i in layers if not 1 <= i <= total]
    if bad or not layers or len(set(layers)) != len(layers):
        raise ValueError(f"layers must be distinct teacher layers in 1..{total} (1-based), got {layers}.")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    config.hf_distill_teacher_layers = layers  # recorded in config.json: where the student came from
    student = type(teacher)(config)

    pattern = _layer_key_pattern(teacher)
    source_of = {new: old for new, old in enumerate(layers)}  # student 0-based block -> teacher 1-based layer
    teacher_state = teacher.state_dict()
    new_state = {}
    for key, target in student.state_dict().items():
        match = pattern.match(key)
        source_key = f"{match.group(1)}.{source_of[int(match.group(2))] - 1}.{match.group(3)}" if match else key
        source = teacher_state.get(source_key)
        if source is None or source.shape != target.shape:
            raise ValueError(
                f"Cannot copy {source_key} into the student's {key}: "
                f"{'missing in the teacher' if source is None else f'shape {tuple(source.shape)} vs {tuple(target.shape)}'}."
            )
        new_state[key] = source.detach().clone()
    student.load_state_dict(new_state, strict=True)
    return student.to(next(teacher.parameters()).dtype)


def student_from_config(teacher: nn.Module, **overrides) -> nn.Module:
    """A freshly initialised model of the teacher's class from the teacher's config with `overrides` applied
    (e.g. `num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024`).

    The label names, vocabulary and tokenizer-facing fields stay the teacher's, so the same inputs feed both.
    Where the width differs, hidden-state losses get a learned projection (see `DistillationConfig`).
    """
    config = copy.deepcopy(teacher.config)
    for name, value in overrides.items():
        if not hasattr(config, name):
            raise ValueError(f"{type(config).__name__} has no field {name!r}; check the spelling of the override.")
        setattr(config, name, value)
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(
            f"hidden_size {config.hidden_size} is not divisible by num_attention_heads {config.num_attention_heads}."
        )
    return type(teacher)(config).to(next(teacher.parameters()).dtype)


def copied_layers(student: nn.Module) -> list[int] | None:
    """The teacher layers a student was built from, if it was built by `student_from_teacher`."""
    return getattr(student.config, "hf_distill_teacher_layers", None)


__all__ = ["default_student_layers", "student_from_teacher", "student_from_config", "copied_layers", "get_layers"]
