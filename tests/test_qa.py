"""Extractive QA pieces by hand-worked cases: the official SQuAD v1.1 metric, SQuAD files, features with a document
stride and the post-processing from start/end logits to the answer string."""

import os

import numpy as np
import pytest
from conftest import make_tokenizer

from hf_distill.qa import best_answers, exact_match, f1, normalize_answer, prepare_features, read_squad, squad_scores

SQUAD_DEV = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "squad", "dev-v1.1.json")


def test_normalisation_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("theatre") == "theatre"  # 'the' only as a word


def test_f1_and_exact_match_by_hand():
    # prediction eiffel tower in paris (4 tokens), gold eiffel tower (2): overlap 2, P 1/2, R 1, F1 2/3
    assert f1("the Eiffel Tower in Paris", "Eiffel Tower") == pytest.approx(2 / 3)
    assert exact_match("the Eiffel Tower.", "Eiffel tower") == 1.0
    assert f1("Paris", "London") == 0.0
    # repeated tokens count as often as both sides have them: pred "a b b", gold "b b b c" -> common 2, P 2/3, R 1/2
    assert f1("x y y", "y y y z") == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))


def test_scores_take_the_best_gold_answer_and_average_over_questions_in_percent():
    gold = {"q1": ["Denver Broncos", "the Broncos"], "q2": ["1990"], "q3": ["Santa Clara"]}
    predictions = {"q1": "Broncos", "q2": "1990"}  # q3 unanswered: 0
    scores = squad_scores(predictions, gold)
    # q1: EM 1 against "the Broncos"; q2: EM 1; q3: 0 -> EM 2/3; F1 the same here
    assert scores == {"exact_match": pytest.approx(200 / 3), "f1": pytest.approx(200 / 3)}


@pytest.mark.skipif(not os.path.isfile(SQUAD_DEV), reason="../shared/data/squad not beside the checkout")
def test_the_official_dev_file_reads_as_10570_questions():
    rows = read_squad(SQUAD_DEV)
    assert len(rows) == 10570
    first = rows[0]
    start = first["answers"]["answer_start"][0]
    assert first["context"][start : start + len(first["answers"]["text"][0])] == first["answers"]["text"][0]


def test_long_contexts_become_overlapping_features_whose_positions_give_back_the_answer():
    tok = make_tokenizer()
    context = " ".join(["the movie was good and the story was fun"] * 4) + " zorg was the actor. " + "i love it " * 6
    answer_start = context.index("zorg")
    rows = [{"id": "q1", "question": "who was the actor?", "context": context,
             "answers": {"text": ["zorg"], "answer_start": [answer_start]}}]
    features = prepare_features(rows, tok, max_length=32, doc_stride=8)
    assert len(features["input_ids"]) > 1 and set(features["example_id"]) == {0}
    found = [(f, s, e) for f, (s, e) in enumerate(zip(features["start_positions"], features["end_positions"])) if s]
    assert found  # at least one window holds the answer
    for f, s, e in found:
        offsets = features["offsets"][f]
        assert context[offsets[s][0] : offsets[e][1]] == "zorg"
    # windows without the answer point at [CLS] (0, 0); question tokens have no offsets
    assert any(s == 0 and e == 0 for s, e in zip(features["start_positions"], features["end_positions"]))
    assert features["offsets"][0][1] is None


def test_post_processing_picks_the_best_valid_span_across_features():
    context = "Denver Broncos won in 2016 at Santa Clara"
    rows = [{"id": "q", "context": context}]
    # two features of one example; token k covers these characters (None: not context)
    spans = [None, (0, 6), (7, 14), (15, 18), (19, 21), (22, 26)]
    spans2 = [None, (22, 26), (27, 29), (30, 35), (36, 41)]
    start1 = np.array([0, 5.0, 1.0, 0, 0, 0])
    end1 = np.array([9.0, 0, 4.0, 0, 0, 0])  # position 0 is not context: never an answer
    start2 = np.array([0, 0, 0, 3.0, 0])
    end2 = np.array([0, 0, 0, 1.0, 4.5])
    answers = best_answers(rows, [0, 0], [spans, spans2], [start1, start2], [end1, end2], n_best=5)
    assert answers == {"q": "Denver Broncos"}  # 5 + 4 = 9 beats "Santa Clara" 3 + 4.5 = 7.5
    # the end logit 20 at token 5 ("2016"): with max_answer_length 2 the start must be token 4 or 5, not the best
    # start (token 1, "Denver", 5.0: a 5-token span); 4 comes first among the equal scores 0 + 20 -> "in 2016"
    end1b = np.array([0, 0, 0, 0, 0, 20.0])
    assert best_answers(rows, [0], [spans], [start1], [end1b], max_answer_length=2)["q"] == "in 2016"
    assert best_answers(rows, [0], [spans], [start1], [end1b], max_answer_length=5)["q"] == "Denver Broncos won in 2016"
    # an end before every start is never chosen: only token 1 may start, the only end logit is at token 0 (no context)
    assert best_answers(rows, [0], [spans], [np.array([0, 9.0, 0, 0, 0, 0])], [np.array([9.0, 0, 0, 0, 0, 0])],
                        n_best=2)["q"] in ("Denver", "Denver Broncos")


def test_squad_file_is_read_as_qa_and_bad_input_is_refused(tmp_path):
    """A SQuAD-layout .json is question answering by itself; an unanswered training question (SQuAD v2) and a
    stride that would repeat most of each window are refused with the fix."""
    import pytest
    from conftest import QA_ROWS, make_tokenizer

    from hf_distill.data import DataArguments, load_task_data
    from hf_distill.qa import tokenize_qa, write_squad

    def write(rows, name):
        return write_squad(rows, tmp_path / name, "t")

    data = load_task_data(DataArguments(train_file=write(QA_ROWS, "train.json")))
    assert data.kind.name == "question-answering" and len(data.train) == 4 and data.text_pair_column == "context"
    unanswered = [QA_ROWS[0], dict(QA_ROWS[1], answers={"text": [], "answer_start": []})]
    with pytest.raises(ValueError, match=r"Training row 1 \(q1\) has no answer"):
        load_task_data(DataArguments(train_file=write(unanswered, "v2.json")))
    with pytest.raises(ValueError, match="doc_stride 256 must be below half of max_length 384"):
        tokenize_qa(data.train, make_tokenizer(), 384, 256)
