"""Capture Q, K, V of chosen layers with forward hooks, whatever the attention implementation.

Under transformers 5 the default `sdpa` attention returns an empty tuple for `output_attentions=True`, and
eager attention gives probabilities after softmax for every layer. The attention losses need pre-softmax
scores (TinyBERT) or Q/K/V relations (MiniLM) of the mapped layers only. Hooks on the Q/K/V projections of
those layers give exactly that and leave the fast attention kernel in place everywhere
(scores recomputed from the hooked Q, K match eager's within float error; see tests/test_capture.py).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .architectures import qkv_modules


@contextmanager
def capture_qkv(model: nn.Module, layers: list[int], parts: set[str]):
    """Within the block, `captured[(layer, part)]` holds the (B, T, D) output of that projection.

    Args:
        model: the PreTrainedModel (not a DDP wrapper).
        layers: 1-based layers (layer `i` produces hidden state `i`).
        parts: a subset of {"q", "k", "v"}.
    """
    captured: dict[tuple[int, str], torch.Tensor] = {}
    handles = []

    def keep(key):
        def hook(module, args, output):
            captured[key] = output

        return hook

    try:
        for layer in layers:
            modules = qkv_modules(model, layer)
            for part in sorted(parts):
                handles.append(modules[part].register_forward_hook(keep((layer, part))))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def check_captured(captured: dict, layers: list[int], parts: set[str], who: str) -> None:
    """Never distil from nothing: every hooked projection must have run."""
    missing = [(layer, part) for layer in layers for part in parts if (layer, part) not in captured]
    if missing:
        raise RuntimeError(
            f"The {who}'s forward did not run the Q/K/V projections of layers {sorted({layer for layer, _ in missing})}: "
            "the attention loss would have nothing to compare. Check `ARCHITECTURES` for this model_type."
        )
