"""hf_distill.tasks: a model's task from its architecture, and the per-position view the logit losses use."""

from dataclasses import replace

import pytest
import torch

from hf_distill import losses
from hf_distill.tasks import (
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    position_mean,
    task_named,
    task_of,
)


def test_task_from_architectures():
    assert task_of(["BertForSequenceClassification"]) is SEQUENCE_CLASSIFICATION
    assert task_of(["MPNetForSequenceClassification"]) is SEQUENCE_CLASSIFICATION
    assert task_of(None) is SEQUENCE_CLASSIFICATION  # a bare encoder gets a sequence head
    assert task_of(["BertModel"]) is SEQUENCE_CLASSIFICATION
    assert SEQUENCE_CLASSIFICATION.model_class().__name__ == "AutoModelForSequenceClassification"
    assert task_of(["BertForTokenClassification"]) is TOKEN_CLASSIFICATION
    assert TOKEN_CLASSIFICATION.model_class().__name__ == "AutoModelForTokenClassification"
    assert task_named("token-classification") is TOKEN_CLASSIFICATION
    assert task_of(["BertForQuestionAnswering"]) is QUESTION_ANSWERING
    assert QUESTION_ANSWERING.model_class().__name__ == "AutoModelForQuestionAnswering"
    with pytest.raises(ValueError, match="not a task hf_distill distils yet"):
        task_of(["BertForMultipleChoice"])
    with pytest.raises(ValueError, match="Unknown task 'ner'"):
        task_named("ner")


def test_sequence_task_has_one_position_per_row():
    logits = torch.randn(4, 3)
    per_pos, mask = SEQUENCE_CLASSIFICATION.positions(logits, torch.ones(4, 7))
    assert per_pos.shape == (4, 1, 3) and mask.shape == (4, 1) and mask.all()
    assert SEQUENCE_CLASSIFICATION.position_labels(torch.tensor([0, 1, 2, 0])).shape == (4, 1)
    # the losses over the single position equal the losses on the rows
    labels = torch.tensor([0, 1, 2, -100])
    flat = losses.hard_label_loss(per_pos.flatten(0, 1), SEQUENCE_CLASSIFICATION.position_labels(labels).flatten())
    assert torch.allclose(position_mean(flat.view(mask.shape), mask), losses.hard_label_loss(logits, labels))


def test_token_task_averages_over_real_tokens_only():
    token_task = replace(SEQUENCE_CLASSIFICATION, name="token", per_token=True)
    student, teacher = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    attention = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    s, mask = token_task.positions(student, attention)
    t, _ = token_task.positions(teacher, attention)
    per_token = losses.soft_kl(s.flatten(0, 1), t.flatten(0, 1), 2.0).view(mask.shape)
    got = position_mean(per_token, mask)
    want0 = losses.soft_kl(student[0, :3], teacher[0, :3], 2.0).mean()
    assert torch.allclose(got[0], want0) and torch.allclose(got[1], losses.soft_kl(student[1], teacher[1], 2.0).mean())
    student[0, 3:] += 100.0  # padding never counts
    s, _ = token_task.positions(student, attention)
    again = position_mean(losses.soft_kl(s.flatten(0, 1), t.flatten(0, 1), 2.0).view(mask.shape), mask)
    assert torch.allclose(again, got)


def test_token_kd_and_ce_count_labelled_tokens_only():
    """Labels -100 (special tokens, later sub-tokens of a word, padding) never count: changing the logits there
    changes no loss, and the mean is over the labelled tokens of each row."""
    student, teacher = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    attention = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    labels = torch.tensor([[-100, 2, -100, 0, -100, -100], [-100, 1, 1, 0, 2, -100]])
    s, mask = TOKEN_CLASSIFICATION.positions(student, attention, labels)
    t, _ = TOKEN_CLASSIFICATION.positions(teacher, attention, labels)
    assert mask.tolist() == (labels != -100).tolist()
    kd = position_mean(losses.soft_kl(s.flatten(0, 1), t.flatten(0, 1), 2.0).view(mask.shape), mask)
    ce = position_mean(losses.hard_label_loss(s.flatten(0, 1), labels.flatten()).view(mask.shape), mask)
    want_kd0 = losses.soft_kl(student[0, [1, 3]], teacher[0, [1, 3]], 2.0).mean()
    want_ce0 = losses.hard_label_loss(student[0, [1, 3]], labels[0, [1, 3]]).mean()
    assert torch.allclose(kd[0], want_kd0) and torch.allclose(ce[0], want_ce0)
    student[labels == -100] += 50.0  # continuation pieces, [CLS], [SEP], padding
    s, _ = TOKEN_CLASSIFICATION.positions(student, attention, labels)
    kd2 = position_mean(losses.soft_kl(s.flatten(0, 1), t.flatten(0, 1), 2.0).view(mask.shape), mask)
    ce2 = position_mean(losses.hard_label_loss(s.flatten(0, 1), labels.flatten()).view(mask.shape), mask)
    assert torch.allclose(kd2, kd) and torch.allclose(ce2, ce)


def test_a_model_objects_task_is_its_class_not_the_checkpoint_it_came_from():
    from conftest import tiny_token_bert

    from hf_distill.tasks import task_of_model

    model = tiny_token_bert()
    model.config.architectures = ["BertModel"]  # what from_pretrained keeps from a bare encoder's checkpoint
    assert task_of_model(model) is TOKEN_CLASSIFICATION
    model.config.architectures = None
    assert task_of_model(model) is TOKEN_CLASSIFICATION


def test_qa_has_a_start_and_an_end_position_over_the_context_tokens():
    """(B, T, 2) start/end logits -> (B, 2, T): two positions whose classes are the tokens; the question's tokens
    (context_mask 0) get -1e4, [CLS] (position 0, the no-answer-here target) and the context keep their logits."""
    logits = torch.tensor([[[1.0, 5.0], [2.0, 6.0], [3.0, 7.0], [4.0, 8.0]]])  # T = 4
    context = torch.tensor([[0, 0, 1, 1]])  # [CLS] question | context context
    scores, mask = QUESTION_ANSWERING.positions(logits, torch.ones(1, 4), None, context)
    assert scores.shape == (1, 2, 4) and mask.tolist() == [[True, True]]
    assert scores[0, 0].tolist() == [1.0, -1e4, 3.0, 4.0] and scores[0, 1].tolist() == [5.0, -1e4, 7.0, 8.0]
    labels = QUESTION_ANSWERING.labels_of({"start_positions": torch.tensor([2]), "end_positions": torch.tensor([3])})
    assert QUESTION_ANSWERING.position_labels(labels).tolist() == [[2, 3]]
    ce = losses.hard_label_loss(scores.flatten(0, 1), labels.flatten())
    by_hand = -(torch.log_softmax(torch.tensor([1.0, 3.0, 4.0]), 0)[1] + torch.log_softmax(torch.tensor([5.0, 7.0, 8.0]), 0)[2])
    assert torch.allclose(ce.sum(), by_hand, atol=1e-5)  # the masked token takes no probability
    assert QUESTION_ANSWERING.labels_of({"input_ids": torch.zeros(1, 4)}) is None
