"""hf_distill.labels: labels matched by name between data and model, and between teacher and student."""

import pytest
from conftest import tiny_bert
from test_checks import build

from hf_distill.labels import check_labels, is_default_names, label_permutation


def test_label_count_mismatch_refused(tmp_path):
    with pytest.raises(ValueError, match="3 labels and the student 2"):
        build(tmp_path, teacher=tiny_bert(num_layers=4, num_labels=3))


def test_different_label_names_refused(tmp_path):
    teacher = tiny_bert(num_layers=4, id2label=["neg", "pos"])
    student = tiny_bert(num_layers=2, id2label=["entailment", "contradiction"])
    with pytest.raises(ValueError, match="labels .* differ"):
        build(tmp_path, student=student, teacher=teacher)


def test_label_permutation_matches_names_and_refuses_others():
    assert label_permutation(["neg", "pos"], {"POS": 0, "NEG": 1}) == [1, 0]
    assert label_permutation(["neg", "pos"], {"LABEL_0": 0, "LABEL_1": 1}) == [0, 1]
    with pytest.raises(ValueError, match="do not match"):
        label_permutation(["neg", "pos"], {"good": 0, "bad": 1})


def test_teacher_labels_in_another_order_are_aligned_by_name():
    teacher = tiny_bert(num_layers=1, id2label=["neg", "pos"]).config
    student = tiny_bert(num_layers=1, id2label=["POS", "NEG"]).config
    assert check_labels(teacher, student) == [1, 0]
    assert check_labels(teacher, tiny_bert(num_layers=1).config) is None  # default names: same order
    assert is_default_names(["LABEL_0", "LABEL_1"]) and not is_default_names(["LABEL_1", "LABEL_0"])
