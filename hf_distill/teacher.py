"""The teacher's side: loading one, what the configured losses need from it, and the one contract by which the
trainer gets its outputs, from the live model (`LiveTeacher`) or from disk (`hf_distill.cache.TeacherCache`).

    needs = TeacherNeeds.for_losses(config, layer_pairs=[(2, 1), (4, 2)], attention_pairs=[(4, 2)])
    out = LiveTeacher(model).outputs(batch, needs)     # TeacherOutputs: logits, hidden[t], qkv[(t, "q")]

A source returns logits in the teacher's own label order; the trainer permutes them into the student's.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from dataclasses import dataclass, field
from typing import Protocol

import torch

from .architectures import unwrap
from .capture import capture_qkv, check_captured

TEACHER_INFO = "hf_distill_teacher.json"  # written by `train-teacher` beside the teacher's weights


@dataclass(frozen=True)
class TeacherNeeds:
    """Which teacher outputs the losses read, beyond the logits (always read)."""

    hidden: tuple[int, ...] = ()  # hidden_states indices: 0 = the embeddings, i = the output of layer i
    attention: tuple[int, ...] = ()  # layers (>= 1) whose Q/K/V projections an attention loss reads
    parts: frozenset[str] = frozenset()  # which of "q", "k", "v" (empty when no attention loss)

    @classmethod
    def for_losses(cls, config, layer_pairs, attention_pairs) -> TeacherNeeds:
        """From a `DistillationConfig` and its resolved (teacher, student) layer pairs."""
        hidden = sorted({t for t, _ in layer_pairs}) if config.hidden_weight > 0 else []
        parts = config.attention_parts
        attention = sorted({t for t, _ in attention_pairs}) if parts else []
        return cls(tuple(hidden), tuple(attention), frozenset(parts if attention else ()))

    def union(self, other: TeacherNeeds) -> TeacherNeeds:
        """What either reads: a cache that serves students of several depths (a chain of assistants) holds it."""
        return TeacherNeeds(tuple(sorted({*self.hidden, *other.hidden})), tuple(sorted({*self.attention, *other.attention})),
                            self.parts | other.parts)


@dataclass
class TeacherOutputs:
    """Teacher outputs for one collated batch of B rows padded to T tokens."""

    logits: torch.Tensor  # (B, C), or (B, T, C) for a token task, (B, T, 2) for QA (start, end)
    hidden: dict[int, torch.Tensor] = field(default_factory=dict)  # teacher layer -> (B, T, D)
    qkv: dict[tuple[int, str], torch.Tensor] = field(default_factory=dict)  # (layer, "q" | "k" | "v") -> (B, T, D)

    def in_label_order(self, order: list[int] | None) -> TeacherOutputs:
        """The same outputs with the logits' columns permuted (`order[i]` = the teacher's column of label i)."""
        if order is None:
            return self
        return TeacherOutputs(self.logits[..., order], self.hidden, self.qkv)


class TeacherSource(Protocol):
    """What the trainer reads teacher outputs from: `LiveTeacher` or `hf_distill.cache.TeacherCache`."""

    def outputs(self, inputs: dict, needs: TeacherNeeds) -> TeacherOutputs: ...


class LiveTeacher:
    """The frozen teacher model run on each batch, in inference mode (no autograd bookkeeping at all)."""

    def __init__(self, model):
        from .tasks import task_of_model

        self.model = model
        self.task = task_of_model(model)
        self.input_names = forward_arg_names(model) - set(self.task.label_columns)

    def outputs(self, inputs: dict, needs: TeacherNeeds) -> TeacherOutputs:
        """Outputs are cloned out of inference mode: a loss such as cosine saves its inputs for backward, which
        inference tensors refuse; the clones are of the few mapped layers only."""
        model_inputs = {k: v for k, v in inputs.items() if k in self.input_names}
        layers, parts = list(needs.attention), set(needs.parts)
        with torch.inference_mode(), capture_qkv(unwrap(self.model), layers, parts) as qkv:
            out = self.model(**model_inputs, output_hidden_states=bool(needs.hidden))
        if layers:
            check_captured(qkv, layers, parts, "teacher")
        return TeacherOutputs(
            logits=self.task.logits_of(out).clone(),
            hidden={t: out.hidden_states[t].clone() for t in needs.hidden},
            qkv={key: value.clone() for key, value in qkv.items()},
        )


def forward_arg_names(model) -> set[str]:
    """The named arguments of the model's forward (what a batch may pass it)."""
    params = inspect.signature(unwrap(model).forward).parameters
    return {name for name, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def load_teacher(teacher, **kwargs):
    """A teacher given as a model is used as is; a path or Hub id is loaded with its task's auto class, and refused
    when transformers had to initialise some of its weights (a pretrained encoder, not a fine-tuned teacher)."""
    from transformers import AutoConfig

    from .tasks import task_of

    if teacher is None or isinstance(teacher, torch.nn.Module):
        return teacher
    if not isinstance(teacher, (str, os.PathLike)):
        raise TypeError(f"teacher must be a model, a folder or a Hub id, got {type(teacher).__name__}.")
    path = os.path.expanduser(os.fspath(teacher))
    hub_id = re.fullmatch(r"[\w.-]+(/[\w.-]+)?", path) and not path.startswith(".")
    if not os.path.isdir(path) and not hub_id:
        raise FileNotFoundError(
            f"Teacher not found: {path!r} is not a folder. Pass the folder written by `hf-distill train-teacher` "
            "(or any save_pretrained folder), or a Hub model id like 'user/model'."
        )
    try:
        model_class = task_of(AutoConfig.from_pretrained(path, **kwargs).architectures).model_class()
        model, info = model_class.from_pretrained(path, output_loading_info=True, **kwargs)
    except OSError as err:
        raise FileNotFoundError(
            f"Could not load the teacher from {path!r}: {err}. Pass a local folder with config.json and "
            "model.safetensors, or a Hub id you can reach."
        ) from err
    new = sorted(info.get("missing_keys") or ())
    if new:  # transformers initialised these at random: a pretrained encoder, not a fine-tuned classifier
        raise ValueError(
            f"The teacher {path!r} is not a fine-tuned classifier: transformers initialised "
            f"{', '.join(new[:4])}{' ...' if len(new) > 4 else ''} at random (weights its checkpoint lacks: a "
            "classification head that was never trained), so it would teach noise. Fine-tune it into a teacher "
            f"first: `hf-distill train-teacher --pretrained_model {path} --output_dir <dir> ...` (or `hf-distill "
            "pipeline`, which does both)."
        )
    return model


def read_teacher_info(teacher_dir: str) -> dict | None:
    """The teacher folder's hf_distill_teacher.json (written by `train-teacher`), or None if there is none."""
    path = os.path.join(teacher_dir, TEACHER_INFO)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


__all__ = ["TEACHER_INFO", "LiveTeacher", "TeacherNeeds", "TeacherOutputs", "TeacherSource", "forward_arg_names",
           "load_teacher", "read_teacher_info"]
