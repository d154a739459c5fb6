"""hf_distill.measure: parameters, size on disk, latency of a forward (structure only: no timing is asserted)."""

import pytest
import torch
from conftest import make_tokenizer, tiny_bert
from test_report import STUDENT, TEACHER, TEXTS, bert_param_count, model_dirs  # noqa: F401, F811  (a fixture)

from hf_distill.measure import count_parameters, measure_latency_ms, size_on_disk_mb, time_forward, weight_files


def test_count_parameters_matches_hand_count():
    for spec in (TEACHER, STUDENT):
        model = tiny_bert(**spec)
        assert count_parameters(model) == bert_param_count(spec["num_layers"], spec["hidden"])
    model = tiny_bert(**STUDENT, num_labels=3)
    for p in model.bert.embeddings.parameters():
        p.requires_grad_(False)
    frozen = sum(p.numel() for p in model.bert.embeddings.parameters())
    assert count_parameters(model, trainable_only=True) == bert_param_count(2, 16, num_labels=3) - frozen


def test_size_on_disk_is_the_safetensors_file(model_dirs):  # noqa: F811
    teacher, _ = model_dirs
    files = weight_files(teacher)
    assert [f.name for f in files] == ["model.safetensors"]
    size = size_on_disk_mb(teacher)
    assert size == pytest.approx(files[0].stat().st_size / 1e6)
    fp32_bytes = 4 * bert_param_count(TEACHER["num_layers"], TEACHER["hidden"])
    # the file is the fp32 tensors plus a small JSON header
    assert fp32_bytes / 1e6 < size < (fp32_bytes + 20_000) / 1e6


def test_size_on_disk_bin_files(tmp_path):
    (tmp_path / "pytorch_model-00001-of-00002.bin").write_bytes(b"\0" * 1_000_000)
    (tmp_path / "pytorch_model-00002-of-00002.bin").write_bytes(b"\0" * 500_000)
    (tmp_path / "training_args.bin").write_bytes(b"\0" * 7_000)
    (tmp_path / "optimizer.pt").write_bytes(b"\0" * 9_000)
    (tmp_path / "config.json").write_text("{}")
    assert size_on_disk_mb(tmp_path) == pytest.approx(1.5)
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 2_000_000)  # same weights in both formats: count once
    assert size_on_disk_mb(tmp_path) == pytest.approx(2.0)


def test_size_on_disk_without_weights_raises(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError):
        size_on_disk_mb(tmp_path)


class RecordingTokenizer:
    """Wraps a tokenizer and records the texts of every call."""

    def __init__(self, tok):
        self.tok, self.calls = tok, []

    def __call__(self, texts, *args, **kwargs):
        self.calls.append((list(texts), kwargs))
        return self.tok(texts, *args, **kwargs)


def test_measure_latency_structure_and_batches():
    model = tiny_bert(**STUDENT).train()
    tok = RecordingTokenizer(make_tokenizer())
    threads_before = torch.get_num_threads()
    texts = TEXTS[:3]
    out = measure_latency_ms(model, tok, texts, batch_size=2, runs=3, warmup=1, max_length=16)
    for key in ("median", "p90", "mean", "min", "max"):
        assert out[key] > 0
    assert out["min"] <= out["median"] <= out["p90"] <= out["max"]
    assert (out["batch_size"], out["runs"], out["warmup"], out["max_length"], out["dtype"]) == (2, 3, 1, 16, "fp32")
    # tokenized once up front: one call per timed batch; real texts in order, cycled
    assert [c[0] for c in tok.calls] == [[texts[0], texts[1]], [texts[2], texts[0]], [texts[1], texts[2]]]
    assert all(c[1]["padding"] == "longest" and c[1]["truncation"] and c[1]["max_length"] == 16 for c in tok.calls)
    assert model.training  # mode restored
    assert torch.get_num_threads() == threads_before


def test_measure_latency_text_pairs_and_fp32_cast():
    model = tiny_bert(**STUDENT).to(torch.bfloat16)
    out = measure_latency_ms(model, make_tokenizer(), TEXTS, batch_size=4, runs=2, warmup=0, text_pairs=TEXTS[::-1],
                             num_threads=1)
    assert out["threads"] == 1
    assert next(model.parameters()).dtype == torch.float32


def test_time_forward_times_any_callable_once_per_batch():
    calls = []
    out = time_forward(calls.append, ["a", "b", "c"], warmup=2, num_threads=1)
    assert calls == ["a", "b", "a", "b", "c"]  # warm-up cycles the batches, then one timed call each
    assert set(out) == {"median", "p90", "mean", "min", "max"} and out["min"] <= out["median"] <= out["max"]
    with pytest.raises(ValueError, match="at least one batch"):
        time_forward(calls.append, [])
