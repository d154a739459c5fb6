"""Q/K/V hooks give the attention the losses need under sdpa, equal to eager attention."""

import pytest
import torch
from conftest import tiny_bert

from hf_distill.capture import capture_qkv, check_captured
from hf_distill.losses import attention_scores


def test_sdpa_returns_no_attentions_but_hooks_do():
    model = tiny_bert(num_layers=3, hidden=32, heads=4)
    assert model.config._attn_implementation == "sdpa"
    ids = torch.tensor([[2, 10, 11, 12, 3, 0], [2, 13, 14, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
    assert not out.attentions  # transformers 5 + sdpa: silently empty; never distil from that

    with torch.no_grad(), capture_qkv(model, [1, 3], {"q", "k"}) as qkv:
        model(input_ids=ids, attention_mask=mask)
    check_captured(qkv, [1, 3], {"q", "k"}, "model")
    assert set(qkv) == {(1, "q"), (1, "k"), (3, "q"), (3, "k")}  # mapped layers only

    eager = tiny_bert(num_layers=3, hidden=32, heads=4, attn_implementation="eager")
    eager.load_state_dict(model.state_dict())
    with torch.no_grad():
        probs = eager(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
    for layer in (1, 3):
        scores = attention_scores(qkv[(layer, "q")], qkv[(layer, "k")], heads=4)
        scores = scores.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(scores.dtype).min)
        assert torch.allclose(scores.softmax(-1), probs[layer - 1], atol=1e-6)


def test_missing_capture_fails_loudly():
    with pytest.raises(RuntimeError, match="did not run the Q/K/V"):
        check_captured({}, [2], {"q"}, "teacher")


def test_hooks_are_removed():
    model = tiny_bert(num_layers=2)
    with capture_qkv(model, [1, 2], {"q", "k", "v"}):
        pass
    assert all(not m._forward_hooks for m in model.modules())
