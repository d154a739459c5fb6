"""The static-embedding student: model2vec's tokenization, PCA vectors from the teacher, KD training, and a saved
folder that model2vec alone loads and that predicts what the trained student predicts."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import NEGATIVE, POSITIVE, make_tokenizer, tiny_bert

from hf_distill.arguments import StaticArguments
from hf_distill.static import (
    StaticStudent,
    save_static,
    static_forward,
    static_token_ids,
    teacher_token_vectors,
    token_bag,
    train_static,
)

TEXTS = ["a great movie", "the worst plot", "zorg was so funny!", "i love this story", ""]


def test_token_ids_are_model2vecs():
    from model2vec import StaticModel

    tok = make_tokenizer()
    static = StaticModel(vectors=np.zeros((len(tok), 4), np.float32), tokenizer=tok.backend_tokenizer)
    assert static_token_ids(tok, TEXTS) == static.tokenize(TEXTS)
    assert tok.cls_token_id not in static_token_ids(tok, TEXTS)[0]  # no special tokens


def test_teacher_vectors_are_centred_pca_of_the_teachers_token_states():
    tok, teacher = make_tokenizer(), tiny_bert(num_layers=2, hidden=32, seed=1)
    vectors = teacher_token_vectors(teacher, tok, dim=8, batch_size=50)
    assert vectors.shape == (teacher.config.vocab_size, 8)
    assert np.abs(vectors.mean(0)).max() < 1e-4  # centred
    variances = vectors.var(0)
    assert (np.diff(variances) <= 1e-6).all()  # components in order of variance
    with pytest.raises(ValueError, match="larger than the teacher's width"):
        teacher_token_vectors(teacher, tok, dim=64)


def test_bag_mean_is_the_mean_of_the_rows_vectors():
    vectors = np.arange(12, dtype=np.float32).reshape(6, 2)
    model = StaticStudent(vectors, num_labels=2)
    with torch.no_grad():
        model.head[0].weight.copy_(torch.eye(2))
        model.head[0].bias.zero_()
    ids, offsets = token_bag([[0, 2], [5], []])
    out = model(ids, offsets).detach().numpy()
    assert np.allclose(out, [[2.0, 3.0], [10.0, 11.0], [0.0, 0.0]])  # mean of rows 0 and 2; row 5; nothing


def _data(n=80):
    texts = [(POSITIVE if i % 2 else NEGATIVE)[(i // 2) % 5] for i in range(n)]
    return texts, np.array([i % 2 for i in range(n)])


def test_kd_training_learns_the_teachers_labels_and_keeps_the_best_held_out_epoch():
    tok = make_tokenizer()
    texts, labels = _data()
    rows = static_token_ids(tok, texts)
    teacher_logits = np.stack([np.where(labels == 1, -2.0, 2.0), np.where(labels == 1, 2.0, -2.0)], 1).astype(np.float32)
    vectors = np.random.default_rng(0).normal(size=(len(tok), 8)).astype(np.float32)
    args = StaticArguments(static_dim=8, static_epochs=6, static_learning_rate=5e-2, static_batch_size=16)
    gold = labels.copy()
    gold[::3] = -100  # teacher-labelled rows without a gold label still train through KD
    model, history = train_static(vectors, rows, teacher_logits, gold, rows[:20], labels[:20], args)
    assert len(history) == 6 and history[-1]["train_loss"] < history[0]["train_loss"]
    best = max(h["held_out_accuracy"] for h in history)
    assert best >= 0.9
    ids, offsets = token_bag(rows[:20])
    with torch.no_grad():
        assert (model(ids, offsets).argmax(-1).numpy() == labels[:20]).mean() == pytest.approx(best)


def test_mlp_head_is_linear_relu_linear_on_the_mean():
    vectors = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    model = StaticStudent(vectors, num_labels=3, hidden=5)
    (w1, b1), (w2, b2) = model.head_layers()
    assert w1.shape == (5, 4) and w2.shape == (3, 5)
    ids, offsets = token_bag([[0, 2, 3]])
    expected = np.maximum(vectors[[0, 2, 3]].mean(0) @ w1.T + b1, 0) @ w2.T + b2
    assert np.allclose(model(ids, offsets).detach().numpy()[0], expected, atol=1e-5)
    assert np.allclose(static_forward(vectors, model.head_layers())([[0, 2, 3]])[0], expected, atol=1e-5)


def test_with_no_hard_label_weight_the_student_follows_the_teacher_not_the_gold_labels():
    tok = make_tokenizer()
    texts, labels = _data()
    rows = static_token_ids(tok, texts)
    teacher_logits = np.stack([np.where(labels == 1, -2.0, 2.0), np.where(labels == 1, 2.0, -2.0)], 1).astype(np.float32)
    vectors = np.random.default_rng(0).normal(size=(len(tok), 8)).astype(np.float32)
    flipped = 1 - labels  # gold labels that contradict the teacher everywhere
    scores = {}
    for kd, ce in ((1.0, 0.0), (0.0, 1.0)):
        args = StaticArguments(static_dim=8, static_epochs=4, static_learning_rate=5e-2, static_batch_size=16,
                               static_hidden=16, static_kd_weight=kd, static_hard_label_weight=ce)
        model, _ = train_static(vectors, rows, teacher_logits, flipped, [], labels[:0], args)
        ids, offsets = token_bag(rows)
        with torch.no_grad():
            scores[kd] = (model(ids, offsets).argmax(-1).numpy() == labels).mean()
    assert scores[1.0] >= 0.9 and scores[0.0] <= 0.1


def test_static_arguments_refuse_bad_settings():
    with pytest.raises(ValueError, match="not both 0"):
        StaticArguments(static_kd_weight=0.0, static_hard_label_weight=0.0)
    with pytest.raises(ValueError, match="static_hidden"):
        StaticArguments(static_hidden=-1)


@pytest.mark.parametrize("hidden", [0, 16])
def test_saved_static_student_predicts_the_same_under_model2vec_alone(tmp_path, hidden):
    tok = make_tokenizer()
    rng = np.random.default_rng(1)
    model = StaticStudent(rng.normal(size=(len(tok), 8)).astype(np.float32), num_labels=2, hidden=hidden)
    save_static(model, tok, ["negative", "positive"], tmp_path / "static")
    ids, offsets = token_bag(static_token_ids(tok, TEXTS[:4]))
    with torch.no_grad():
        probs = model(ids, offsets).softmax(-1).numpy()
    forward = static_forward(model.embedding.weight.detach().numpy(), model.head_layers())
    assert np.allclose(torch.tensor(forward(static_token_ids(tok, TEXTS[:4]))).softmax(-1).numpy(), probs, atol=1e-5)
    child = textwrap.dedent("""
        import json, sys
        from model2vec.inference import StaticModelPipeline
        assert "hf_distill" not in sys.modules and "torch" not in sys.modules
        pipe = StaticModelPipeline.from_pretrained(sys.argv[1])
        texts = json.loads(sys.argv[2])
        print("RESULT " + json.dumps({"probs": pipe.predict_proba(texts).tolist(), "labels": pipe.predict(texts).tolist()}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", child, str(tmp_path / "static"), json.dumps(TEXTS[:4])],
                          capture_output=True, text=True, env=env, cwd="/", timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ")[1])
    assert np.allclose(result["probs"], probs, atol=1e-5)
    assert result["labels"] == [["negative", "positive"][i] for i in probs.argmax(-1)]


def test_static_command_end_to_end(tmp_path):
    from hf_distill.cli import main

    teacher = tmp_path / "teacher"
    tiny_bert(num_layers=2, id2label=["negative", "positive"], seed=1).save_pretrained(teacher)
    make_tokenizer().save_pretrained(teacher)
    texts, labels = _data(60)
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"sentence": t, "label": ["negative", "positive"][y]}) + "\n"
                             for t, y in zip(texts, labels)))
    unlabeled = tmp_path / "unlabeled.csv"
    unlabeled.write_text("sentence\n" + "".join(t.replace(",", " ") + "\n" for t in _data(20)[0]))
    code = main(["static", "--teacher", str(teacher), "--train_file", str(train), "--output_dir", str(tmp_path / "o"),
                 "--static_dim", "16", "--static_epochs", "2", "--static_augment_copies", "1", "--use_cpu", "true",
                 "--unlabeled_file", str(unlabeled)])
    assert code == 0
    info = json.loads((tmp_path / "o" / "static" / "hf_distill_static.json").read_text())
    assert info["teacher_labelled_copies"] == info["train_texts"] and len(info["epochs"]) == 2
    assert info["unlabeled_texts"] == 20
    files = set(os.listdir(tmp_path / "o" / "static"))
    assert {"model.safetensors", "head.safetensors", "tokenizer.json", "config.json"} <= files


def test_static_student_refuses_pairs(tmp_path):
    from hf_distill.cli import main

    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"premise": "a", "hypothesis": "b", "label": 0}) + "\n")
    code = main(["static", "--teacher", str(tmp_path), "--train_file", str(train), "--text_column", "premise",
                 "--text_pair_column", "hypothesis", "--output_dir", str(tmp_path / "o")])
    assert code == 2
