"""hf_distill.data: local files read as run_glue.py reads them, labels by name, held-out slices."""

import pytest
from test_cli import sentences, write_rows

from hf_distill.data import DataArguments, load_task_data


@pytest.mark.parametrize("suffix", [".tsv", ".csv"])
def test_byte_order_mark_does_not_stick_to_the_first_column(tmp_path, suffix):
    path = tmp_path / f"train{suffix}"
    write_rows(path, sentences(6))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # how Excel and GLUE's MRPC files save UTF-8
    data = load_task_data(DataArguments(train_file=str(path), validation_file=str(path)))
    assert data.text_column == "sentence" and data.train.column_names[0] == "sentence"
    assert data.label_names == ["negative", "positive"] and len(data.train) == 6


def test_string_labels_are_named_and_the_selection_slice_is_held_out(tmp_path):
    path = write_rows(tmp_path / "train.jsonl", sentences(10))
    data = load_task_data(DataArguments(train_file=path, train_slice_for_selection=3))
    assert data.label_names == ["negative", "positive"] and not data.is_regression
    assert len(data.train) == 7 and len(data.selection) == 3
    assert list(data.selection["sentence"]) == [r["sentence"] for r in sentences(10)[7:]]
    with pytest.raises(ValueError, match="train_slice_for_selection must be between 1 and 9"):
        load_task_data(DataArguments(train_file=path, train_slice_for_selection=10))


def test_float_labels_make_a_regression_task(tmp_path):
    rows = [{"sentence1": "a", "sentence2": "b", "score": 0.5 + i} for i in range(4)]
    path = write_rows(tmp_path / "train.tsv", rows)
    data = load_task_data(DataArguments(train_file=path, text_column="sentence1", text_pair_column="sentence2",
                                        label_column="score"))
    assert data.is_regression and data.num_labels == 1 and data.train["score"][0] == 0.5
    with pytest.raises(ValueError, match="max_length must be >= 2"):
        DataArguments(train_file=path, max_length=1)


def test_one_class_of_named_labels_is_refused_unless_the_class_names_are_given(tmp_path):
    """IMDB's files are sorted by label: their first rows are all 'neg', which must not make a 1-output model."""
    path = write_rows(tmp_path / "train.jsonl", [r for r in sentences(10) if r["label"] == "negative"])
    with pytest.raises(ValueError, match=r"one class only \(\['negative'\]\).*--class_names"):
        load_task_data(DataArguments(train_file=path))
    data = load_task_data(DataArguments(train_file=path, class_names="negative,positive"))
    assert data.num_labels == 2 and set(data.train["label"]) == {0}
