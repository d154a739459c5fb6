"""Token-classification data: CoNLL reading, tag order, word-to-sub-token label alignment, by hand-worked cases."""

import pytest
from conftest import make_tokenizer

from hf_distill.data import DataArguments, load_task_data, tokenize_split
from hf_distill.token_data import align_labels, continuation_ids, read_conll, tag_order

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_conll_sentences_split_at_blank_and_docstart_lines_tag_is_the_last_field(tmp_path):
    rows = read_conll(write(tmp_path, "a.txt", CONLL))
    assert rows == [
        {"tokens": ["EU", "rejects", "German"], "ner_tags": ["B-ORG", "O", "B-MISC"]},
        {"tokens": ["Peter", "Blackburn"], "ner_tags": ["B-PER", "I-PER"]},
        {"tokens": ["BRUSSELS"], "ner_tags": ["B-LOC"]},
    ]


def test_conll_line_without_a_tag_is_refused_with_its_line_number(tmp_path):
    with pytest.raises(ValueError, match=r"a.txt:2: 'lonely' has no tag"):
        read_conll(write(tmp_path, "a.txt", "EU B-ORG\nlonely\n"))


def test_tag_order_puts_o_first_then_entities_b_before_i():
    assert tag_order(["I-PER", "O", "B-LOC", "B-PER", "I-LOC", "B-MISC"]) == ["O", "B-LOC", "I-LOC", "B-MISC", "B-PER",
                                                                                "I-PER"]


def test_alignment_labels_first_sub_token_only():
    # [CLS] Peter Black ##burn [SEP]: words 0, 1, 1 -> the label on the first piece of each word, -100 elsewhere
    word_ids = [None, 0, 1, 1, None]
    assert align_labels(word_ids, [3, 4]) == [-100, 3, 4, -100, -100]


def test_alignment_label_all_tokens_continues_b_as_i():
    names = ["O", "B-PER", "I-PER"]
    cont = continuation_ids(names)
    assert cont == [0, 2, 2]
    # a B-PER word split in three: B-PER, I-PER, I-PER; special tokens stay -100
    assert align_labels([None, 0, 0, 0, 1, None], [1, 0], label_all_tokens=True, continuation=cont) == [
        -100, 1, 2, 2, 0, -100]


def test_conll_files_load_as_token_classification_with_tags_by_name(tmp_path):
    train = write(tmp_path, "train.txt", CONLL)
    data = load_task_data(DataArguments(train_file=train, validation_file=train))
    assert data.kind.name == "token-classification"
    assert data.label_names == ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER"]
    assert data.train[0]["ner_tags"] == [3, 0, 2]  # ids of B-ORG, O, B-MISC
    texts, pairs = data.texts("train")
    assert texts[1] == ["Peter", "Blackburn"] and pairs is None
    assert data.plain_texts("train")[1] == "Peter Blackburn"


def test_tokenized_words_carry_labels_on_first_pieces_in_the_models_order(tmp_path):
    train = write(tmp_path, "train.txt", "the O\nzorg B-PER\nfilm O\n\n")
    data = load_task_data(DataArguments(train_file=train))
    tok = make_tokenizer()  # "zorg" is not in the tiny vocabulary: it splits into z ##o ##r ##g
    model_order = {"B-PER": 0, "O": 1}  # another order than the data's (O, B-PER)
    row = tokenize_split(data.train, data, tok, 32, model_order)[0]
    pieces = tok.convert_ids_to_tokens(row["input_ids"])
    assert pieces == ["[CLS]", "the", "z", "##o", "##r", "##g", "film", "[SEP]"]
    assert row["labels"] == [-100, 1, 0, -100, -100, -100, 1, -100]
    data.label_all_tokens = True
    row = tokenize_split(data.train, data, tok, 32, model_order)[0]
    assert row["labels"] == [-100, 1, 0, 0, 0, 0, 1, -100]  # no I-PER tag exists: the pieces keep B-PER


def test_words_and_tags_of_different_lengths_are_refused(tmp_path):
    train = write(tmp_path, "train.jsonl", '{"tokens": ["a", "b"], "ner_tags": ["O"]}\n')
    with pytest.raises(ValueError, match="Row 0 of the train data has 2 words but 1 tags"):
        load_task_data(DataArguments(train_file=train))


def test_integer_tags_need_their_names(tmp_path):
    train = write(tmp_path, "train.jsonl", '{"tokens": ["a", "b"], "ner_tags": [0, 1]}\n')
    with pytest.raises(ValueError, match="pass --class_names O,B-PER"):
        load_task_data(DataArguments(train_file=train))
    data = load_task_data(DataArguments(train_file=train, class_names="O,B-PER"))
    assert data.label_names == ["O", "B-PER"] and data.kind.per_token


def test_augmented_copies_are_refused_for_token_tasks(tmp_path):
    train = write(tmp_path, "train.txt", "the O\nfilm B-MISC\n\n")
    data = load_task_data(DataArguments(train_file=train))
    with pytest.raises(ValueError, match="augment_copies 0 for token classification"):
        tokenize_split(data.train, data, make_tokenizer(), 16, None, gold_labels=False)


def test_a_hub_style_dataset_with_classlabel_tags_loads_by_dataset_name(tmp_path):
    """The Hub path (`--dataset_name conll2003`) on a local folder with the Hub's layout: parquet splits whose
    ner_tags are a Sequence of ClassLabel, so the tag names come from the features."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = Features({"id": Value("string"), "tokens": Sequence(Value("string")),
                         "ner_tags": Sequence(ClassLabel(names=names))})
    rows = {"id": ["0", "1"], "tokens": [["Peter", "Blackburn"], ["in", "Bonn"]], "ner_tags": [[1, 2], [0, 3]]}
    folder = tmp_path / "conll2003" / "data"
    folder.mkdir(parents=True)
    for split in ("train", "validation"):
        Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{split}.parquet"))
    data = load_task_data(DataArguments(dataset_name=str(tmp_path / "conll2003")))
    assert data.kind.per_token and data.label_names == names
    assert data.train[1]["ner_tags"] == [0, 3] and len(data.validation) == 2
