"""Each loss by its math: zero on identical inputs, positive otherwise, and a small case worked out by hand."""

import math

import pytest
import torch

from hf_distill import losses


def test_hard_label_loss_by_hand():
    # logits [0, 0] -> p = [1/2, 1/2]; CE = ln 2 whatever the label
    assert losses.hard_label_loss(torch.zeros(1, 2), torch.tensor([1])).item() == pytest.approx(math.log(2))
    # regression: one output, squared error (3 - 1)^2 = 4
    assert losses.hard_label_loss(torch.tensor([[3.0]]), torch.tensor([1.0])).item() == pytest.approx(4.0)


def test_soft_kl_zero_positive_and_by_hand():
    logits = torch.tensor([[1.0, -2.0], [0.3, 0.1]])
    assert torch.allclose(losses.soft_kl(logits, logits, 2.0), torch.zeros(2), atol=1e-7)
    # 2 classes, T = 1: teacher [ln 3, 0] -> p_t = [3/4, 1/4]; student [0, 0] -> p_s = [1/2, 1/2]
    # KL = 3/4 ln(3/2) + 1/4 ln(1/2)
    s, t = torch.zeros(1, 2), torch.tensor([[math.log(3.0), 0.0]])
    expected_t1 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert losses.soft_kl(s, t, 1.0).item() == pytest.approx(expected_t1, rel=1e-6)
    # T = 2: p_t = softmax([ln 3 / 2, 0]) = [√3, 1] / (√3 + 1); the KL is multiplied by T^2 = 4
    p = math.sqrt(3) / (math.sqrt(3) + 1)
    expected_t2 = 4 * (p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5))
    assert losses.soft_kl(s, t, 2.0).item() == pytest.approx(expected_t2, rel=1e-6)
    assert losses.soft_kl(s, t, 2.0).item() > 0


def test_mix_rows_by_hand():
    x = torch.tensor([[[1.0, 2.0]], [[3.0, 6.0]]])  # (B=2, T=1, D=2)
    mixed = losses.mix_rows(x, torch.tensor([1, 0]), torch.tensor([0.25, 1.0]))
    torch.testing.assert_close(mixed, torch.tensor([[[2.5, 5.0]], [[3.0, 6.0]]]))  # 0.25 * x0 + 0.75 * x1; x1
    torch.testing.assert_close(losses.mix_rows(x, torch.tensor([0, 1]), torch.tensor([0.3, 0.7])), x)  # itself


def test_logit_mse_by_hand():
    assert losses.logit_mse(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.0]])).item() == 0
    # ((1 - 0)^2 + (2 - 4)^2) / 2 = 2.5
    assert losses.logit_mse(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])).item() == pytest.approx(2.5)


def test_hidden_mse_masks_padding_by_hand():
    s = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (B=1, T=2, D=2)
    t = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    assert losses.hidden_mse(s, s, torch.ones(1, 2)).item() == 0
    # token 0: (0 + 4) / 2 = 2; token 1: (9 + 16) / 2 = 12.5
    assert losses.hidden_mse(s, t, torch.tensor([[1, 1]])).item() == pytest.approx((2 + 12.5) / 2)
    assert losses.hidden_mse(s, t, torch.tensor([[1, 0]])).item() == pytest.approx(2.0)  # padding ignored


def test_hidden_cosine_by_hand():
    s = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    t = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert losses.hidden_cosine(s, s * 3, torch.ones(1, 2)).item() == pytest.approx(0.0, abs=1e-6)
    # token 0: orthogonal -> 1; token 1: cos 45° -> 1 - 1/√2
    expected = (1 + (1 - 1 / math.sqrt(2))) / 2
    assert losses.hidden_cosine(s, t, torch.ones(1, 2)).item() == pytest.approx(expected, rel=1e-6)


def test_attention_score_mse_by_hand():
    # 1 head, 2 tokens, d_head = 1: scores = q k^T
    q_s, k_s = torch.tensor([[[1.0], [2.0]]]), torch.tensor([[[3.0], [4.0]]])
    q_t, k_t = torch.ones(1, 2, 1), torch.ones(1, 2, 1)
    s = losses.attention_scores(q_s, k_s, heads=1)
    t = losses.attention_scores(q_t, k_t, heads=1)
    assert s.shape == (1, 1, 2, 2)
    assert s[0, 0].tolist() == [[3.0, 4.0], [6.0, 8.0]]
    assert losses.attention_score_mse(s, s, torch.ones(1, 2)).item() == 0
    # (3-1)^2, (4-1)^2, (6-1)^2, (8-1)^2 -> (4 + 9 + 25 + 49) / 4
    assert losses.attention_score_mse(s, t, torch.ones(1, 2)).item() == pytest.approx(87 / 4)
    # second token is padding: only the (0, 0) pair counts
    assert losses.attention_score_mse(s, t, torch.tensor([[1, 0]])).item() == pytest.approx(4.0)


def test_attention_scores_are_scaled_by_head_width():
    q = torch.ones(1, 1, 4)  # one token, width 4, 1 head -> d_head 4 -> q.k / 2
    assert losses.attention_scores(q, q, heads=1).item() == pytest.approx(4 / 2)
    assert losses.attention_scores(q, q, heads=2).shape == (1, 2, 1, 1)  # two heads of width 2
    assert losses.attention_scores(q, q, heads=2)[0, 0].item() == pytest.approx(2 / math.sqrt(2))


def test_relation_kl_by_hand():
    # 1 relation head, 2 tokens, width 1. Student a = b = 0 -> uniform relations.
    zeros = torch.zeros(1, 2, 1)
    t = torch.tensor([[[1.0], [0.0]]])  # teacher relation scores [[1, 0], [0, 0]]
    assert losses.relation_kl(t, t, t, t, torch.ones(1, 2), 1).item() == pytest.approx(0.0, abs=1e-7)
    p = math.e / (math.e + 1)  # row 0 of the teacher: softmax([1, 0])
    row0 = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    expected = (row0 + 0.0) / 2  # row 1 is uniform on both sides
    assert losses.relation_kl(zeros, zeros, t, t, torch.ones(1, 2), 1).item() == pytest.approx(expected, rel=1e-6)
    # with token 1 padded, each side puts all mass on key 0: no difference
    assert losses.relation_kl(zeros, zeros, t, t, torch.tensor([[1, 0]]), 1).item() == pytest.approx(0.0, abs=1e-7)


def test_relation_kl_across_widths_and_heads():
    torch.manual_seed(0)
    s = torch.randn(2, 5, 8, requires_grad=True)  # student width 8
    t = torch.randn(2, 5, 12)  # teacher width 12; 4 relation heads divide both
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    loss = losses.relation_kl(s, s, t, t, mask, relation_heads=4)
    assert loss.shape == (2,) and (loss > 0).all() and torch.isfinite(loss).all()
    loss.sum().backward()
    assert s.grad.abs().sum() > 0


def test_losses_are_per_example():
    b, t, d, c = 3, 4, 6, 2
    mask = torch.ones(b, t)
    x, y = torch.randn(b, t, d), torch.randn(b, t, d)
    for value in (
        losses.soft_kl(torch.randn(b, c), torch.randn(b, c), 2.0),
        losses.hidden_mse(x, y, mask),
        losses.hidden_cosine(x, y, mask),
        losses.attention_score_mse(torch.randn(b, 2, t, t), torch.randn(b, 2, t, t), mask),
        losses.relation_kl(x, x, y, y, mask, 2),
    ):
        assert value.shape == (b,)
