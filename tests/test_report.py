"""Student-vs-teacher report (hf_distill/report.py) on tiny in-process BERTs. No timing is asserted."""

import json

import numpy as np
import pytest
import torch
from conftest import NEGATIVE, POSITIVE, TINY_VOCAB, make_tokenizer, tiny_bert
from scipy.stats import pearsonr

from hf_distill.card import card_fields
from hf_distill.measure import size_on_disk_mb
from hf_distill.report import build_report, evaluate_model, predict_logits, write_report

TEXTS = POSITIVE + NEGATIVE
LABELS = [1] * len(POSITIVE) + [0] * len(NEGATIVE)
LABEL_NAMES = ["negative", "positive"]
TEACHER = dict(num_layers=4, hidden=32, heads=4)
STUDENT = dict(num_layers=2, hidden=16, heads=2)


def bert_param_count(num_layers, hidden, num_labels=2, vocab=len(TINY_VOCAB), positions=64, types=2):
    """Hand count of BertForSequenceClassification parameters (intermediate size = 2 * hidden, as in tiny_bert)."""
    inter = 2 * hidden
    embeddings = vocab * hidden + positions * hidden + types * hidden + 2 * hidden  # + LayerNorm
    attention = 4 * (hidden * hidden + hidden) + 2 * hidden  # Q, K, V, output dense + LayerNorm
    ffn = (hidden * inter + inter) + (inter * hidden + hidden) + 2 * hidden  # in, out + LayerNorm
    pooler = hidden * hidden + hidden
    classifier = hidden * num_labels + num_labels
    return embeddings + num_layers * (attention + ffn) + pooler + classifier


def save(model, path):
    model.save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_models")
    teacher = save(tiny_bert(**TEACHER, id2label=LABEL_NAMES, seed=0), root / "teacher")
    student = save(tiny_bert(**STUDENT, id2label=LABEL_NAMES, seed=1), root / "student")
    return teacher, student


@pytest.fixture(scope="module")
def report(model_dirs):
    teacher, student = model_dirs
    return build_report(teacher, student, TEXTS, LABELS, "sst2", latency_runs=3, latency_warmup=1)


def test_evaluate_model_matches_argmax():
    model, tok = tiny_bert(**TEACHER, id2label=LABEL_NAMES), make_tokenizer()
    with torch.no_grad():
        enc = tok(TEXTS, padding=True, return_tensors="pt")
        preds = model(**enc).logits.argmax(-1).numpy()
    expected = float(np.mean(preds == np.array(LABELS)))
    out = evaluate_model(model, tok, TEXTS, LABELS, task_name="sst2", batch_size=3, label_names=LABEL_NAMES)
    assert out == {"accuracy": pytest.approx(expected)}
    mrpc = evaluate_model(model, tok, TEXTS, LABELS, task_name="mrpc", text_pairs=TEXTS[::-1])
    assert set(mrpc) == {"accuracy", "f1", "combined_score"}



def test_predict_logits_batches_by_length_and_returns_rows_in_order():
    """Batches hold texts of similar length (a long text does not pad the short ones), yet row i of the result is
    text i's logits, as one text alone gives them."""
    model, tok = tiny_bert(**TEACHER, id2label=LABEL_NAMES), make_tokenizer()
    texts = [TEXTS[0] + " " + TEXTS[1], TEXTS[2], TEXTS[3] + " " + TEXTS[4] + " " + TEXTS[5], TEXTS[1], TEXTS[4]]
    seen = []
    original = model.forward
    model.forward = lambda **kw: (seen.append(kw["input_ids"].shape[1]), original(**kw))[1]
    got = predict_logits(model, tok, texts, batch_size=2)
    model.forward = original
    with torch.no_grad():
        alone = np.concatenate([model(**tok([t], return_tensors="pt")).logits.numpy() for t in texts])
    np.testing.assert_allclose(got, alone, atol=1e-5)
    lengths = sorted(len(tok(t)["input_ids"]) for t in texts)
    assert seen == [lengths[1], lengths[3], lengths[4]]  # each batch pads to its own longest, shortest first

def test_evaluate_model_rejects_misaligned_label_names():
    model = tiny_bert(**STUDENT, id2label=LABEL_NAMES)
    with pytest.raises(ValueError, match="id2label"):
        evaluate_model(model, make_tokenizer(), TEXTS, LABELS, label_names=["positive", "negative"])


def test_evaluate_model_regression():
    model, tok = tiny_bert(**STUDENT, num_labels=1), make_tokenizer()
    scores = [float(i) for i in range(len(TEXTS))]
    with torch.no_grad():
        outputs = model(**tok(TEXTS, padding=True, return_tensors="pt")).logits[:, 0].numpy()
    out = evaluate_model(model, tok, TEXTS, scores, task_name=None)
    assert set(out) == {"pearsonr", "spearmanr", "combined_score"}
    # a random model's near-constant outputs: pearsonr amplifies rounding from the padding order
    assert out["pearsonr"] == pytest.approx(pearsonr(scores, outputs)[0], rel=1e-3)


def test_build_report_structure(report, model_dirs):
    teacher_dir, student_dir = model_dirs
    assert report["task_name"] == "sst2" and report["metric_name"] == "accuracy"
    for role, spec, folder in (("teacher", TEACHER, teacher_dir), ("student", STUDENT, student_dir)):
        entry = report[role]
        assert set(entry) >= {"metrics", "num_parameters", "num_layers", "hidden_size", "size_mb", "latency_ms"}
        assert set(entry["metrics"]) == {"accuracy"}
        assert 0.0 <= entry["metrics"]["accuracy"] <= 1.0
        assert entry["num_parameters"] == bert_param_count(spec["num_layers"], spec["hidden"])
        assert (entry["num_layers"], entry["hidden_size"]) == (spec["num_layers"], spec["hidden"])
        assert entry["size_mb"] == pytest.approx(size_on_disk_mb(folder))
        assert set(entry["latency_ms"]) == {"b1", "b32"}
        assert all(v > 0 for v in entry["latency_ms"].values())
    t_acc, s_acc = report["teacher"]["metrics"]["accuracy"], report["student"]["metrics"]["accuracy"]
    assert report["retention"] == (pytest.approx(s_acc / t_acc) if t_acc else None)
    for key in ("b1", "b32"):
        assert report[f"speedup_{key}"] == pytest.approx(
            report["teacher"]["latency_ms"][key] / report["student"]["latency_ms"][key]
        )
    settings = report["latency_settings"]
    assert (settings["runs"], settings["warmup"], settings["dtype"], settings["max_length"]) == (3, 1, "fp32", 64)
    assert settings["threads"] >= 1


def test_build_report_metrics_match_evaluate_model(report, model_dirs):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    teacher_dir, _ = model_dirs
    model = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    expected = evaluate_model(model, AutoTokenizer.from_pretrained(teacher_dir), TEXTS, LABELS, task_name="sst2")
    assert report["teacher"]["metrics"] == pytest.approx(expected)


def test_write_report(report, tmp_path):
    json_path, md_path = write_report(report, tmp_path / "out")
    data = json.loads(open(json_path).read())
    assert data["metric_name"] == "accuracy"
    assert data["teacher"]["num_parameters"] == report["teacher"]["num_parameters"]
    assert data["retention"] == (None if report["retention"] is None else pytest.approx(report["retention"]))
    md = open(md_path).read()
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| model"))
    for column in ("accuracy", "parameters (M)", "size (MB)", "latency b1 (ms)", "latency b32 (ms)", "speed-up"):
        assert column in header
    rows = [line for line in lines if line.startswith("| teacher |") or line.startswith("| student |")]
    assert len(rows) == 2
    assert all(row.count("|") == header.count("|") for row in rows)
    assert "| 1.00x |" in rows[0]
    assert any(line.startswith("Retention (accuracy)") for line in lines)


def test_write_report_nan_is_valid_json(report, tmp_path):
    broken = json.loads(json.dumps(report))
    broken["teacher"]["metrics"]["accuracy"] = float("nan")
    broken["retention"] = None
    json_path, md_path = write_report(broken, tmp_path)
    assert json.loads(open(json_path).read())["teacher"]["metrics"]["accuracy"] is None
    assert "n/a" in open(md_path).read()


def test_build_report_regression_and_label_order(tmp_path):
    # student's id2label is the reverse of the teacher's: labels (teacher order) are re-indexed by name
    teacher_dir = save(tiny_bert(**STUDENT, id2label=LABEL_NAMES, seed=0), tmp_path / "t")
    student_dir = save(tiny_bert(**STUDENT, id2label=LABEL_NAMES[::-1], seed=0), tmp_path / "s")
    rep = build_report(teacher_dir, student_dir, TEXTS, LABELS, "qqp", latency_runs=1, latency_warmup=0, batch_sizes=(2,))
    assert set(rep["teacher"]["latency_ms"]) == {"b2"} and "speedup_b2" in rep
    assert set(rep["student"]["metrics"]) == {"accuracy", "f1", "combined_score"}
    from transformers import AutoModelForSequenceClassification

    student = AutoModelForSequenceClassification.from_pretrained(student_dir)
    flipped = [1 - y for y in LABELS]
    expected = evaluate_model(student, make_tokenizer(), TEXTS, flipped, task_name="qqp")
    assert rep["student"]["metrics"] == pytest.approx(expected)
    # regression (single output): pearsonr is the main metric
    reg_t = save(tiny_bert(**STUDENT, num_labels=1, seed=0), tmp_path / "rt")
    reg_s = save(tiny_bert(**STUDENT, num_labels=1, seed=1), tmp_path / "rs")
    scores = [float(i % 5) for i in range(len(TEXTS))]
    reg = build_report(reg_t, reg_s, TEXTS, scores, "stsb", latency_runs=1, latency_warmup=0, batch_sizes=(1,))
    assert reg["metric_name"] == "pearsonr"
    assert set(reg["teacher"]["metrics"]) == {"pearsonr", "spearmanr", "combined_score"}


def test_card_fields_flatten_the_report(report):
    fields = card_fields(report)
    assert fields["metric_name"] == "accuracy" and fields["task_name"] == "sst2"
    assert fields["student_metric"] == report["student"]["metrics"]["accuracy"]
    assert fields["teacher_metric"] == report["teacher"]["metrics"]["accuracy"]
    assert fields["num_parameters"] == {"student": report["student"]["num_parameters"],
                                        "teacher": report["teacher"]["num_parameters"]}
    assert set(fields["latency_ms"]) == {"student_b1", "teacher_b1", "student_b32", "teacher_b32"}
    assert fields["speedup_b32"] == report["speedup_b32"]
