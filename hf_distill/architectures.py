"""Per-architecture facts, keyed by `config.model_type`. Paths are relative to `model.base_model`.

To support a new encoder, add a row: where its list of layers lives and the names of the query, key and value
projections inside one layer (their outputs are what the attention losses read; see `capture.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Arch:
    layers: str  # the nn.ModuleList of transformer layers
    query: str  # inside one layer: the Linear producing Q (B, T, D)
    key: str
    value: str
    ffn: str = "intermediate_size"  # the config field holding the FFN width
    # the config fields of its dropout probabilities (those a config lacks are skipped)
    dropouts: tuple[str, ...] = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")
    note: str = ""


_BERT_LIKE = Arch("encoder.layer", "attention.self.query", "attention.self.key", "attention.self.value")

ARCHITECTURES: dict[str, Arch] = {
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "xlm-roberta": _BERT_LIKE,
    "electra": _BERT_LIKE,
    "distilbert": Arch("transformer.layer", "attention.q_lin", "attention.k_lin", "attention.v_lin", ffn="hidden_dim",
                       dropouts=("dropout", "attention_dropout", "seq_classif_dropout", "qa_dropout")),
    "mpnet": Arch(
        "encoder.layer",
        "attention.attn.q",
        "attention.attn.k",
        "attention.attn.v",
        note="MPNet adds a relative position bias to Q K^T; TinyBERT scores here leave it out.",
    ),
}


def ffn_field(config) -> str:
    """The config field of the FFN width: `intermediate_size` for most encoders, `hidden_dim` for DistilBERT."""
    arch = ARCHITECTURES.get(getattr(config, "model_type", None))
    return arch.ffn if arch is not None else "intermediate_size"


def arch_of(model: nn.Module) -> Arch:
    model_type = getattr(model.config, "model_type", None)
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"model_type {model_type!r} is not in hf_distill.architectures.ARCHITECTURES "
            f"(supported: {', '.join(ARCHITECTURES)}). Add a row with its layer list and Q/K/V module names."
        )
    return ARCHITECTURES[model_type]


def get_layers(model: nn.Module) -> nn.ModuleList:
    return model.base_model.get_submodule(arch_of(model).layers)


def qkv_modules(model: nn.Module, layer: int) -> dict[str, nn.Module]:
    """The Q/K/V projections of layer `layer` (1-based, as in the hidden_states convention)."""
    arch = arch_of(model)
    block = get_layers(model)[layer - 1]
    return {"q": block.get_submodule(arch.query), "k": block.get_submodule(arch.key), "v": block.get_submodule(arch.value)}


def num_layers(model: nn.Module) -> int:
    return model.config.num_hidden_layers


def hidden_size(model: nn.Module) -> int:
    return model.config.hidden_size


def num_heads(model: nn.Module) -> int:
    return model.config.num_attention_heads


def unwrap(model: nn.Module) -> nn.Module:
    """The PreTrainedModel inside DDP / torch.compile wrappers."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


def model_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype
