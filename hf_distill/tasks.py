"""What differs between tasks, in one place: the auto model class, the Hub pipeline tag, where the logits sit
(one per sequence or one per token), the batch collator, the metrics and the card's wording. Every module that
loads, trains, scores or describes a model asks its task here; a new task (extractive QA next) is one more `TaskKind`.

    python -c "from hf_distill.tasks import task_of; print(task_of(['BertForSequenceClassification']))"

The trainer's logit terms are written against per-position logits with a mask (`TaskKind.positions`): a sequence
task has one position per row, a token task one per labelled token (the first sub-token of each word, where its
label sits), and the same losses apply to both.
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
    collator: str  # the transformers data collator that pads its batches (labels too, for a token task)
    card_noun: str = "text classifier"  # what the card calls the model
    card_example: str = "A touching, beautifully acted film."  # the card's usage example input

    def model_class(self):
        """The transformers auto class, e.g. AutoModelForSequenceClassification."""
        import transformers

        return getattr(transformers, self.auto_model)

    def data_collator(self, tokenizer):
        """The collator for batches of this task, e.g. DataCollatorWithPadding(tokenizer)."""
        import transformers

        return getattr(transformers, self.collator)(tokenizer)

    def positions(self, logits: torch.Tensor, attention_mask: torch.Tensor | None,
                  labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C) or (B, T, C) logits -> (B, P, C) per-position logits and their (B, P) mask of positions that count:
        P = 1 for a sequence task (every row counts), P = T for a token task: the labelled tokens (labels != -100:
        the first sub-token of each word, not special tokens, padding or continuation pieces), or every real token
        when no labels are given."""
        if not self.per_token:
            return logits.unsqueeze(1), torch.ones(logits.size(0), 1, dtype=torch.bool, device=logits.device)
        if labels is not None:
            return logits, labels != -100
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
    collator="DataCollatorWithPadding",
)
TOKEN_CLASSIFICATION = TaskKind(
    name="token-classification",
    auto_model="AutoModelForTokenClassification",
    architecture_suffix="ForTokenClassification",
    pipeline_tag="token-classification",
    per_token=True,
    card_summary="tags each word of a text (named entities in IOB2 tags: B-PER, I-PER, O, ...)",
    collator="DataCollatorForTokenClassification",
    card_noun="token classifier",
    card_example="George Washington flew from Berlin to Lagos for the United Nations.",
)
TASK_KINDS = {kind.name: kind for kind in (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION)}


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
                     "extractive QA is next. Pass a sequence- or token-classification teacher.")


def task_of_model(model) -> TaskKind:
    """The task of a model object: its class (BertForTokenClassification), which is the truth for an object; its
    config's `architectures` can still name the checkpoint it was loaded from (["BertModel"]) or be None (a model
    built in-process). A class of no known task falls back to `architectures`."""
    model = getattr(model, "module", model)  # a DDP/accelerate wrapper
    name = type(model).__name__
    if any(name.endswith(kind.architecture_suffix) for kind in TASK_KINDS.values()):
        return task_of([name])
    return task_of(getattr(model.config, "architectures", None))


def task_named(name: str) -> TaskKind:
    """The TaskKind called `name` ("sequence-classification", "token-classification"), or a clear error."""
    if name not in TASK_KINDS:
        raise ValueError(f"Unknown task {name!r}: use one of {', '.join(TASK_KINDS)}.")
    return TASK_KINDS[name]


def position_mean(per_position: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, P), (B, P) -> (B,). Mean over the positions that count (0 for a row with none)."""
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum(-1) / mask.sum(-1).clamp(min=1)
