"""Which teacher layer teaches which student layer, and the projections between their widths.

One convention everywhere, that of the `hidden_states` tuple: 0 is the embedding output, `i` the output of
layer `i` (1-based), and the attention of layer `i` is the one that produces hidden state `i`.
"""

from __future__ import annotations

import torch
from torch import nn

LayerMap = list[tuple[int, int]]  # [(teacher_index, student_index), ...]

# Name of the student submodule that holds the projections during training; left out of every save.
PROJECTIONS_ATTR = "hf_distill_projections"
PROJECTIONS_FILE = "distill_projections.safetensors"


def parse_layer_map(spec: str | list | None, name: str = "layer_map") -> LayerMap | None:
    """`"0:0,2:1"` or `[(0, 0), (2, 1)]` -> `[(0, 0), (2, 1)]`; None stays None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        pairs = []
        for item in spec.replace(" ", "").split(","):
            if not item:
                continue
            parts = item.split(":")
            if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
                raise ValueError(
                    f"{name}: cannot read {item!r}; write teacher:student pairs like '0:0,2:1,4:2,6:3'."
                )
            pairs.append((int(parts[0]), int(parts[1])))
    else:
        pairs = [(int(t), int(s)) for t, s in spec]
    if not pairs:
        raise ValueError(f"{name} is empty; write teacher:student pairs like '2:1,4:2,6:3' or leave it unset.")
    students = [s for _, s in pairs]
    if len(set(students)) != len(students):
        raise ValueError(f"{name} maps more than one teacher layer to the same student layer: {pairs}.")
    return pairs


def uniform_layer_map(teacher_layers: int, student_layers: int) -> LayerMap:
    """Student layer `s` learns from teacher layer `s * L_t // L_s` (6 -> 3: 2:1, 4:2, 6:3)."""
    return [(s * teacher_layers // student_layers, s) for s in range(1, student_layers + 1)]


def check_layer_map(pairs: LayerMap, teacher_layers: int, student_layers: int, name: str = "layer_map") -> None:
    for t, s in pairs:
        if not 0 <= t <= teacher_layers or not 0 <= s <= student_layers:
            raise ValueError(
                f"{name} pair {t}:{s} is out of range: the teacher has hidden states 0..{teacher_layers} and the "
                f"student 0..{student_layers} (0 = embeddings). Fix the pair, e.g. use "
                f"'{','.join(f'{a}:{b}' for a, b in uniform_layer_map(teacher_layers, student_layers))}'."
            )


def attention_pairs(pairs: LayerMap) -> LayerMap:
    """Attention exists for layers >= 1 only: drop pairs that involve the embeddings."""
    return [(t, s) for t, s in pairs if t >= 1 and s >= 1]


def resolve_pairs(args, teacher_layers: int, student_layers: int) -> tuple[LayerMap, LayerMap]:
    """(hidden-state pairs, attention pairs) of a `DistillationConfig` for models of these depths, range-checked."""
    pairs = parse_layer_map(args.layer_map) or uniform_layer_map(teacher_layers, student_layers)
    check_layer_map(pairs, teacher_layers, student_layers)
    att = attention_pairs(parse_layer_map(args.attention_layer_map, "attention_layer_map") or pairs)
    check_layer_map(att, teacher_layers, student_layers, "attention_layer_map")
    return pairs, att


class HiddenProjections(nn.Module):
    """One `Linear(student_width, teacher_width)` per mapped student layer (TinyBERT's W_h)."""

    def __init__(self, student_layers: list[int], student_width: int, teacher_width: int):
        super().__init__()
        self.proj = nn.ModuleDict({str(s): nn.Linear(student_width, teacher_width) for s in student_layers})
        for linear in self.proj.values():
            nn.init.normal_(linear.weight, std=0.02)
            nn.init.zeros_(linear.bias)

    def forward(self, student_layer: int, hidden: torch.Tensor) -> torch.Tensor:  # (B, T, Ds) -> (B, T, Dt)
        return self.proj[str(student_layer)](hidden)
