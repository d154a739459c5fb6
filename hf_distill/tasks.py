"""What differs between tasks, in one place: the auto model class, the Hub pipeline tag, where the logits sit
(one per sequence or one per token), the batch collator, the metrics and the card's wording. Every module that
loads, trains, scores or describes a model asks its task here; a new task is one more `TaskKind`.

    python -c "from hf_distill.tasks import task_of; print(task_of(['BertForSequenceClassification']))"

The trainer's logit terms are written against per-position logits with a mask (`TaskKind.positions`): a sequence
task has one position per row, a token task one per labelled token (the first sub-token of each word, where its
label sits), extractive QA two (the answer's start and its end, each a distribution over the context's tokens:
the "classes" are the T token positions, the question's and the padding's masked), and the same losses apply to all.
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
    card_context: str = ""  # QA: the context the card's example question is asked about
    span: bool = False  # extractive QA: start and end logits per token, (B, T) each, the answer span's two ends
    label_columns: tuple[str, ...] = ("labels",)  # the batch keys holding the gold labels

    @property
    def token_level(self) -> bool:
        """Logits per token: a token task's tags, or QA's start and end (what export axes, the cache and the
        recipe's token rule go by)."""
        return self.per_token or self.span

    def model_class(self):
        """The transformers auto class, e.g. AutoModelForSequenceClassification."""
        import transformers

        return getattr(transformers, self.auto_model)

    def data_collator(self, tokenizer):
        """The collator for batches of this task, e.g. DataCollatorWithPadding(tokenizer); "module:Name" names one
        of hf_distill's own."""
        import importlib

        import transformers

        if ":" in self.collator:
            module, name = self.collator.split(":")
            return getattr(importlib.import_module(module), name)(tokenizer)
        return getattr(transformers, self.collator)(tokenizer)

    def logits_of(self, outputs) -> torch.Tensor:
        """A model output's logits as one tensor: (B, C), (B, T, C), or for QA (B, T, 2) = start and end per token
        (what the teacher cache stores, per token, like a token task's)."""
        if self.span:
            return torch.stack([outputs.start_logits, outputs.end_logits], dim=-1)
        return outputs.logits

    def labels_of(self, inputs: dict) -> torch.Tensor | None:
        """The batch's gold labels as one tensor: (B,), (B, T), or for QA (B, 2) = the answer's start and end token
        (None when the batch has none)."""
        if not all(k in inputs for k in self.label_columns):
            return None
        if self.span:
            return torch.stack([inputs["start_positions"], inputs["end_positions"]], dim=-1)
        return inputs["labels"]

    def positions(self, logits: torch.Tensor, attention_mask: torch.Tensor | None,
                  labels: torch.Tensor | None = None, context_mask: torch.Tensor | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C), (B, T, C) or QA's (B, T, 2) logits -> (B, P, C) per-position logits and their (B, P) mask of
        positions that count: P = 1 for a sequence task (every row counts), P = T for a token task: the labelled
        tokens (labels != -100: the first sub-token of each word, not special tokens, padding or continuation
        pieces), or every real token when no labels are given. QA: P = 2 (start, end) over C = T classes, the
        tokens outside `context_mask` (B, T) (question, special tokens, padding; position 0, where an answer
        outside the window points, always stays) set to -1e4 so that they carry no probability."""
        if self.span:
            scores = logits.transpose(1, 2)  # (B, 2, T)
            if context_mask is None:
                context_mask = attention_mask if attention_mask is not None else torch.ones_like(scores[:, 0])
            keep = context_mask.bool().clone()
            keep[:, 0] = True
            scores = scores.masked_fill(~keep.unsqueeze(1), -1e4)
            return scores, torch.ones(scores.shape[:2], dtype=torch.bool, device=scores.device)
        if not self.per_token:
            return logits.unsqueeze(1), torch.ones(logits.size(0), 1, dtype=torch.bool, device=logits.device)
        if labels is not None:
            return logits, labels != -100
        if attention_mask is None:
            attention_mask = torch.ones(logits.shape[:2], dtype=torch.bool, device=logits.device)
        return logits, attention_mask.bool()

    def position_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,), (B, T) or QA's (B, 2) labels -> (B, P), matching `positions`."""
        return labels if self.per_token or self.span else labels.unsqueeze(1)


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
QUESTION_ANSWERING = TaskKind(
    name="question-answering",
    auto_model="AutoModelForQuestionAnswering",
    architecture_suffix="ForQuestionAnswering",
    pipeline_tag="question-answering",
    per_token=False,
    card_summary="answers a question with a span of the given context (extractive QA, SQuAD-style)",
    collator="hf_distill.qa:QACollator",
    card_noun="question answering model",
    card_example="Where does the Eiffel Tower stand?",
    card_context="The Eiffel Tower was built for the 1889 World's Fair in Paris, where it still stands on the Champ "
                 "de Mars beside the Seine.",
    span=True,
    label_columns=("start_positions", "end_positions"),
)
TASK_KINDS = {kind.name: kind for kind in (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION, QUESTION_ANSWERING)}


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
    raise ValueError(f"model architecture {architectures} is not a task hf_distill distils yet (supported: {supported}). "
                     "Pass a sequence-classification, token-classification or question-answering teacher.")


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
    """The TaskKind called `name` ("sequence-classification", "token-classification", "question-answering"), or a
    clear error."""
    if name not in TASK_KINDS:
        raise ValueError(f"Unknown task {name!r}: use one of {', '.join(TASK_KINDS)}.")
    return TASK_KINDS[name]


def position_mean(per_position: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, P), (B, P) -> (B,). Mean over the positions that count (0 for a row with none)."""
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum(-1) / mask.sum(-1).clamp(min=1)
