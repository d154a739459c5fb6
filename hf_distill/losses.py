"""Distillation losses as pure functions.

Every function returns one value per example, shape (B,), so the trainer can normalise the sum over the whole
accumulated batch by `num_items_in_batch` (gradient accumulation stays exact). Shapes: B batch, T tokens,
C classes, D width, H heads. `mask` is the attention mask (B, T) with 1 for real tokens.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, C), (B,) -> (B,). Cross-entropy; with one output (regression), squared error. 0 where the label is -100
    (a row without a gold label, e.g. a teacher-labelled augmented row)."""
    if logits.size(-1) == 1:
        labelled = labels != -100
        return (logits.squeeze(-1).float() - labels.float()) ** 2 * labelled
    return F.cross_entropy(logits.float(), labels, reduction="none", ignore_index=-100)


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, C), (B, C) -> (B,). T^2 * KL(softmax(t/T) || softmax(s/T)) (Hinton et al., arXiv:1503.02531)."""
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1) * temperature**2


def logit_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """(B, C), (B, C) -> (B,). Mean squared difference of raw logits (also the regression distillation loss)."""
    return ((student_logits.float() - teacher_logits.float()) ** 2).mean(-1)


def mix_rows(x: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """(B, ...), (B,) row indices, (B,) in [0, 1] -> (B, ...). Row i is lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]:
    mixup of input embeddings (B, T, D) for MixKD (Liang et al. 2021, arXiv:2011.00593)."""
    lam = lam.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return lam * x + (1 - lam) * x[partner]


def _token_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T), (B, T) -> (B,). Mean over real tokens."""
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def hidden_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D), (B, T, D), (B, T) -> (B,). MSE per token over D, averaged over real tokens (TinyBERT)."""
    return _token_mean(((student.float() - teacher.float()) ** 2).mean(-1), mask)


def hidden_cosine(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D), (B, T, D), (B, T) -> (B,). 1 - cosine similarity per token, averaged over real tokens."""
    return _token_mean(1 - F.cosine_similarity(student.float(), teacher.float(), dim=-1, eps=1e-6), mask)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, H, T, D/H)."""
    b, t, d = x.shape
    if d % heads:
        raise ValueError(f"Width {d} cannot be split into {heads} heads: choose a head count that divides it.")
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def attention_scores(q: torch.Tensor, k: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, D), (B, T, D) -> (B, H, T, T). Pre-softmax scores Q K^T / sqrt(d_head), no mask added."""
    qh, kh = split_heads(q.float(), heads), split_heads(k.float(), heads)
    return qh @ kh.transpose(-1, -2) / math.sqrt(qh.size(-1))


def attention_score_mse(student_scores: torch.Tensor, teacher_scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, H, T, T), (B, H, T, T), (B, T) -> (B,). MSE over heads and real (query, key) pairs.

    TinyBERT's attention loss (arXiv:1909.10351, eq. 7), on scores before softmax; pairs that involve padding
    are left out instead of being compared at -10000.
    """
    m = mask.to(student_scores.dtype)
    pairs = m[:, None, :, None] * m[:, None, None, :]  # (B, 1, T, T)
    sq = (student_scores - teacher_scores.to(student_scores.dtype)) ** 2 * pairs
    heads = student_scores.size(1)
    return sq.sum(dim=(1, 2, 3)) / (pairs.sum(dim=(1, 2, 3)) * heads).clamp(min=1)


def relation_log_probs(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, D), (B, T, D), (B, T) -> (B, R, T, T). log softmax(A_r B_r^T / sqrt(D/R)) over real keys."""
    scores = attention_scores(a, b, heads)
    key_pad = ~mask.bool()[:, None, None, :]  # (B, 1, 1, T)
    return F.log_softmax(scores.masked_fill(key_pad, torch.finfo(scores.dtype).min), dim=-1)


def relation_kl(
    student_a: torch.Tensor,
    student_b: torch.Tensor,
    teacher_a: torch.Tensor,
    teacher_b: torch.Tensor,
    mask: torch.Tensor,
    relation_heads: int,
) -> torch.Tensor:
    """(B, T, Ds) x2, (B, T, Dt) x2, (B, T) -> (B,). KL(teacher relation || student relation).

    A relation is softmax(A B^T / sqrt(d_r)) with A, B split into `relation_heads` heads; the student and teacher
    may have different widths because only the (T, T) relations are compared. MiniLMv2 relations
    (arXiv:2012.15828) are (Q, Q), (K, K), (V, V); (Q, K) with the model's own head count is the attention
    distribution of MiniLM v1 (arXiv:2002.10957). Averaged over relation heads and real query tokens.
    """
    log_s = relation_log_probs(student_a, student_b, mask, relation_heads)
    log_t = relation_log_probs(teacher_a, teacher_b, mask, relation_heads)
    key_pad = ~mask.bool()[:, None, None, :]
    kl = (log_t.exp() * (log_t - log_s)).masked_fill(key_pad, 0.0).sum(-1)  # (B, R, T)
    return _token_mean(kl.mean(1), mask)
