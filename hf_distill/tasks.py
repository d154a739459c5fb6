"""What differs between tasks, in one place: the auto model class, the Hub pipeline tag, where the logits sit
(one per sequence or one per token) and the card's wording. Every module that loads, trains, scores or describes a
model asks its task here; a new task (token classification, extractive QA) is one more `TaskKind`.

    python -c "from hf_distill.tasks import task_of; print(task_of(['BertForSequenceClassification']))"

The trainer's logit terms are written against per-position logits with a mask (`TaskKind.positions`): a sequence
task has one position per row, a token task one per token, and the same losses apply to both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TaskKind:
    """The facts of one kind of task."""

    name: str  # hf_distill's name of the task
    auto_model: str  # the transformers auto class that loads its models
    architecture_suffix: str  # the head's class name ends with this (BertForSequenceClassification)
    pipeline_tag: str  # the Hub's pipeline tag, also the card's model-index task type
    per_token: bool  # logits per token (B, T, C) rather than per row (B, C)
    card_summary: str  # the card's one-line description of what the model does

    def model_class(self):
        """The transformers auto class, e.g. AutoModelForSequenceClassification."""
        import transformers

        return getattr(transformers, self.auto_model)

    def positions(self, logits: torch.Tensor, attention_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C) or (B, T, C) logits -> (B, P, C) per-position logits and their (B, P) mask of positions that count:
        P = 1 for a sequence task (every row counts), P = T for a token task (the real tokens)."""
        if not self.per_token:
            return logits.unsqueeze(1), torch.ones(logits.size(0), 1, dtype=torch.bool, device=logits.device)
        if attention_mask is None:
            attention_mask = torch.ones(logits.shape[:2], dtype=torch.bool, device=logits.device)
        return logits, attention_mask.bool()

    def position_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,) or (B, T) labels -> (B, P), matching `positions`."""
        return labels if self.per_token else labels.unsqueeze(1)


SEQUENCE_CLASSIFICATION = TaskKind(
    name="sequence-classification",
    auto_model="AutoModelForSequenceClassification",
    architecture_suffix="ForSequenceClassification",
    pipeline_tag="text-classification",
    per_token=False,
    card_summary="classifies a text or a text pair (one label, or one score for regression)",
)
TASK_KINDS = {kind.name: kind for kind in (SEQUENCE_CLASSIFICATION,)}


def task_of(architectures: list[str] | None) -> TaskKind:
    """The task of a model from its config's `architectures` (None or empty: sequence classification, what a bare
    encoder becomes when hf_distill adds a head)."""
    for arch in architectures or []:
        for kind in TASK_KINDS.values():
            if arch.endswith(kind.architecture_suffix):
                return kind
    if not architectures or all(arch.endswith(("Model", "ForMaskedLM", "ForPreTraining")) for arch in architectures):
        return SEQUENCE_CLASSIFICATION
    supported = ", ".join(f"*{k.architecture_suffix}" for k in TASK_KINDS.values())
    raise ValueError(f"model architecture {architectures} is not a task hf_distill distils yet (supported: {supported}); "
                     "token classification and extractive QA are next. Pass a sequence-classification teacher.")


def position_mean(per_position: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, P), (B, P) -> (B,). Mean over the positions that count (0 for a row with none)."""
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum(-1) / mask.sum(-1).clamp(min=1)
