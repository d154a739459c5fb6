"""The offline GLUE metrics (hf_distill/metrics/*) and `build_compute_metrics`."""

import math
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef
from transformers import EvalPrediction

from hf_distill.metrics import (
    AVAILABLE_METRICS,
    GLUE_METRICS,
    build_compute_metrics,
    load_metric,
    metric_names_for_task,
    metric_path,
    normalize_task_name,
)

# 6 binary items: TP=2 (0, 4), FP=1 (1), TN=2 (2, 3), FN=1 (5)
BIN_PRED = [1, 1, 0, 0, 1, 0]
BIN_REF = [1, 0, 0, 0, 1, 1]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")


def test_conftest_sets_hub_offline():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


@pytest.mark.parametrize("name", AVAILABLE_METRICS)
def test_every_metric_loads_offline_from_its_folder(name, no_network):
    import evaluate

    folder = Path(metric_path(name))
    assert folder.name == name and (folder / f"{name}.py").is_file()
    module = load_metric(name, cache=False)
    assert isinstance(module, evaluate.Metric)
    # evaluate.load also accepts the .py path directly
    by_file = evaluate.load(str(folder / f"{name}.py"))
    assert type(by_file).__name__ == type(module).__name__
    if name == "seqeval":  # tag sequences, scored as {"f1", ...}
        out = module.compute(predictions=[["B-PER", "O"]], references=[["B-PER", "O"]])
        assert out["f1"] == pytest.approx(1.0) and out["PER"]["number"] == 1
    else:
        assert module.compute(predictions=[1, 0], references=[1, 0])[name] == pytest.approx(1.0)


def test_unknown_metric_raises():
    with pytest.raises(ValueError, match="Unknown metric"):
        load_metric("bleu")


def test_accuracy_three_of_four():
    out = load_metric("accuracy").compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    assert out == {"accuracy": 0.75}
    count = load_metric("accuracy").compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0], normalize=False)
    assert count["accuracy"] == 3


def test_matthews_correlation_by_hand_and_sklearn():
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (4 - 1) / sqrt(3*3*3*3) = 1/3
    out = load_metric("matthews_correlation").compute(predictions=BIN_PRED, references=BIN_REF)
    assert out["matthews_correlation"] == pytest.approx(1 / 3)
    assert out["matthews_correlation"] == pytest.approx(matthews_corrcoef(BIN_REF, BIN_PRED))
    # constant prediction: 0, not nan
    const = load_metric("matthews_correlation").compute(predictions=[1] * 6, references=BIN_REF)
    assert const["matthews_correlation"] == 0.0


def test_f1_binary_by_hand_and_multiclass_like_sklearn():
    # precision = 2/3, recall = 2/3 -> F1 = 2/3
    out = load_metric("f1").compute(predictions=BIN_PRED, references=BIN_REF)
    assert out["f1"] == pytest.approx(2 / 3)
    preds, refs = [0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 1]
    macro = load_metric("f1").compute(predictions=preds, references=refs, average="macro")
    assert macro["f1"] == pytest.approx(f1_score(refs, preds, average="macro"))
    per_class = load_metric("f1").compute(predictions=preds, references=refs, average=None)
    assert per_class["f1"] == pytest.approx(list(f1_score(refs, preds, average=None)))


def test_pearson_and_spearman():
    preds, refs = [1.0, 2.0, 3.0, 40.0], [10.0, 20.0, 30.0, 35.0]
    p = load_metric("pearsonr").compute(predictions=preds, references=refs)["pearsonr"]
    s = load_metric("spearmanr").compute(predictions=preds, references=refs)["spearmanr"]
    assert p == pytest.approx(np.corrcoef(preds, refs)[0, 1])
    assert p == pytest.approx(pearsonr(refs, preds)[0])
    assert p < 0.99
    assert s == pytest.approx(1.0)  # same ranking
    preds2, refs2 = [0.5, 2.5, 1.0, 4.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0]
    s2 = load_metric("spearmanr").compute(predictions=preds2, references=refs2, return_pvalue=True)
    assert s2["spearmanr"] == pytest.approx(spearmanr(refs2, preds2)[0])
    # ranks (1, 3, 2, 5, 4) vs (1..5): 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 4 / 120 = 0.8
    assert s2["spearmanr"] == pytest.approx(0.8)
    assert 0 <= s2["spearmanr_pvalue"] <= 1
    p2 = load_metric("pearsonr").compute(predictions=preds2, references=refs2, return_pvalue=True)
    assert p2["p-value"] == pytest.approx(pearsonr(refs2, preds2)[1])


def test_glue_metric_table():
    assert GLUE_METRICS["cola"] == ["matthews_correlation"]
    for task in ("sst2", "mnli", "qnli", "rte", "wnli"):
        assert GLUE_METRICS[task] == ["accuracy"]
    assert GLUE_METRICS["mrpc"] == GLUE_METRICS["qqp"] == ["accuracy", "f1"]
    assert GLUE_METRICS["stsb"] == ["pearsonr", "spearmanr"]
    assert metric_names_for_task("my_task") == ["accuracy"]
    assert metric_names_for_task(None, is_regression=True) == ["pearsonr", "spearmanr"]
    assert metric_names_for_task("SST-2") == ["accuracy"]
    assert normalize_task_name("glue/STS-B") == "stsb"
    assert normalize_task_name("mnli_mismatched") == "mnli"


def test_compute_metrics_argmax_of_logits():
    logits = np.array([[2.0, -1.0], [0.1, 0.9], [-3.0, 3.0], [1.0, 0.0]])  # argmax 0, 1, 1, 0
    labels = np.array([0, 1, 0, 0])
    out = build_compute_metrics("sst2")(EvalPrediction(predictions=logits, label_ids=labels))
    assert out == {"accuracy": 0.75}
    # a plain (predictions, labels) tuple and a tuple of model outputs (logits first) work too
    assert build_compute_metrics("sst2")((logits, labels)) == {"accuracy": 0.75}
    hidden = np.zeros((4, 3, 8))
    assert build_compute_metrics(None)(EvalPrediction(predictions=(logits, hidden), label_ids=labels)) == {"accuracy": 0.75}


def test_compute_metrics_cola_and_mrpc():
    logits = np.eye(2)[BIN_PRED] * 3.0
    cola = build_compute_metrics("cola")(EvalPrediction(predictions=logits, label_ids=np.array(BIN_REF)))
    assert cola == {"matthews_correlation": pytest.approx(1 / 3)}
    mrpc = build_compute_metrics("mrpc")(EvalPrediction(predictions=logits, label_ids=np.array(BIN_REF)))
    assert set(mrpc) == {"accuracy", "f1", "combined_score"}
    assert mrpc["accuracy"] == pytest.approx(4 / 6)
    assert mrpc["f1"] == pytest.approx(2 / 3)
    assert mrpc["combined_score"] == pytest.approx((4 / 6 + 2 / 3) / 2)
    assert all(isinstance(v, float) for v in mrpc.values())


def test_compute_metrics_f1_multiclass_uses_macro():
    preds, refs = [0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 1]
    logits = np.eye(3)[preds]
    out = build_compute_metrics("x", metric_names=["f1"])(EvalPrediction(predictions=logits, label_ids=np.array(refs)))
    assert out["f1"] == pytest.approx(f1_score(refs, preds, average="macro"))


@pytest.mark.parametrize("shape", ["n1", "n"])
def test_compute_metrics_regression(shape):
    preds = np.array([0.5, 2.5, 1.0, 4.0, 3.0], dtype=np.float32)
    refs = np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32)
    predictions = preds[:, None] if shape == "n1" else preds
    out = build_compute_metrics("stsb")(EvalPrediction(predictions=predictions, label_ids=refs))
    assert set(out) == {"pearsonr", "spearmanr", "combined_score"}
    assert out["pearsonr"] == pytest.approx(pearsonr(refs, preds)[0], abs=1e-6)
    assert out["spearmanr"] == pytest.approx(0.8)
    assert out["combined_score"] == pytest.approx((out["pearsonr"] + out["spearmanr"]) / 2)
    # a custom regression task gets the same metrics
    custom = build_compute_metrics("my_scores", is_regression=True)(EvalPrediction(predictions=predictions, label_ids=refs))
    assert custom == pytest.approx(out)


def test_compute_metrics_rejects_1d_float_for_classification():
    with pytest.raises(ValueError, match="is_regression"):
        build_compute_metrics("sst2")(EvalPrediction(predictions=np.array([0.2, 0.8]), label_ids=np.array([0, 1])))


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
def test_constant_regression_output_gives_nan_not_error():
    out = build_compute_metrics("stsb")(EvalPrediction(predictions=np.ones((4, 1)), label_ids=np.arange(4.0)))
    assert math.isnan(out["pearsonr"])


def test_seqeval_entities_by_hand():
    """Gold: PER (0-1), LOC (3). Predicted: PER (0-1) right, LOC missed, a wrong ORG at 4.
    precision 1/2, recall 1/2, F1 1/2; words right 4 of 6 (positions 3 and 4 wrong)."""
    from hf_distill.metrics import build_token_compute_metrics

    names = ["O", "B-PER", "I-PER", "B-LOC", "B-ORG"]
    gold = [[1, 2, 0, 3, 0, 0]]
    pred = [[1, 2, 0, 0, 4, 0]]
    # logits (N, T, C) with one more position whose label is -100 (a later sub-token): never scored
    logits = np.eye(5)[[pred[0] + [3]]] * 5.0
    labels = np.array([gold[0] + [-100]])
    out = build_token_compute_metrics(names)(EvalPrediction(predictions=logits, label_ids=labels))
    assert out == {"f1": pytest.approx(0.5), "precision": pytest.approx(0.5), "recall": pytest.approx(0.5),
                   "accuracy": pytest.approx(4 / 6)}
    # an entity with the right type but the wrong span is wrong: B-PER O instead of B-PER I-PER
    out = build_token_compute_metrics(names)(EvalPrediction(predictions=np.array([[1, 0, 0, 3, 0, 0]]),
                                                            label_ids=np.array(gold)))
    assert out["precision"] == pytest.approx(0.5) and out["recall"] == pytest.approx(0.5)
    assert metric_names_for_task(None, per_token=True)[0] == "f1"
