"""ONNX export: dynamic axes, logits equal to PyTorch's, int8, bad input refused with nothing overwritten, the
report's ONNX rows, and a folder that runs with plain onnxruntime + tokenizers (no torch model, no hf_distill)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import make_tokenizer, tiny_bert

from hf_distill.export import OnnxModel, cpu_session, export_onnx
from hf_distill.report import runtime_warnings

TEXTS = ["a great movie and a good story", "bad", "i love this film, it was fun but too long"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    model = tiny_bert(num_layers=2, id2label=["negative", "positive"], seed=4)
    with torch.no_grad():
        model.classifier.weight.mul_(20)
    # Real checkpoints carry dropout 0.1: the export must score them in eval mode (it once compared the ONNX
    # logits with a reference taken after the exporter had put the model back in training mode)
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.3
    model.save_pretrained(root / "student")
    make_tokenizer().save_pretrained(root / "student")
    return root / "student", export_onnx(root / "student"), model


def test_fp32_onnx_logits_equal_pytorch_for_other_batch_sizes_and_lengths(exported):
    _, folder, model = exported
    tok = make_tokenizer()
    for texts in (TEXTS, TEXTS[:1], TEXTS * 5):  # batch 3, 1, 15; other lengths than the export's probe
        enc = tok(texts, padding=True, return_tensors="np")
        with torch.no_grad():
            reference = model(**tok(texts, padding=True, return_tensors="pt")).logits.numpy()
        assert np.abs(OnnxModel(folder / "model.onnx")(**enc) - reference).max() <= 1e-4
        int8 = OnnxModel(folder / "model_int8.onnx")(**enc)
        assert int8.shape == reference.shape and (int8.argmax(-1) == reference.argmax(-1)).mean() >= 0.6
    info = json.loads((folder / "export.json").read_text())
    assert info["fp32_max_abs_diff"] <= 1e-4 and info["files"] == ["model.onnx", "model_int8.onnx"]
    assert {"tokenizer.json", "config.json"} <= set(os.listdir(folder))


def test_sessions_run_with_the_measured_cpu_settings_and_the_same_logits(exported, tmp_path):
    """The tuned session flushes denormals and leaves Add + LayerNorm unfused (onnxruntime's default fuses the int8
    graph's into SkipLayerNormalization); its logits are onnxruntime's default ones."""
    import onnx

    _, folder, _ = exported
    enc = make_tokenizer()(TEXTS, padding=True, return_tensors="np")
    ops = {}
    for tuned in (True, False):
        for name in ("model.onnx", "model_int8.onnx"):
            graph = tmp_path / f"{tuned}_{name}"
            plain = {} if tuned else {"config": {}, "disabled_optimizers": ()}
            cpu_session(folder / name, 2, optimized_model_path=graph, **plain)
            ops[tuned, name] = {n.op_type for n in onnx.load(graph).graph.node}
    assert "SkipLayerNormalization" in ops[False, "model_int8.onnx"]  # (the fp32 graph's Gemm paths are not fused)
    assert not any("SkipLayerNormalization" in ops[True, name] for name in ("model.onnx", "model_int8.onnx"))
    session = OnnxModel(folder / "model_int8.onnx").session
    assert session.get_session_options().get_session_config_entry("session.set_denormal_as_zero") == "1"
    for name in ("model.onnx", "model_int8.onnx"):
        tuned, plain = OnnxModel(folder / name)(**enc), OnnxModel(folder / name, config={}, disabled_optimizers=())(**enc)
        assert np.abs(tuned - plain).max() <= 1e-5
    assert json.loads((folder / "export.json").read_text())["session"]["disabled_optimizers"] == ["SkipLayerNormFusion"]


def test_not_a_saved_student_is_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is not a saved student"):
        export_onnx(tmp_path / "empty")
    assert not (tmp_path / "empty" / "onnx").exists()


def test_an_opset_the_exporter_lacks_is_refused_and_the_earlier_export_is_kept(exported):
    student, folder, _ = exported
    before = (folder / "model.onnx").read_bytes()
    with pytest.raises(ValueError, match="opset 99 is not one this torch can export"):
        export_onnx(student, opset=99)
    assert (folder / "model.onnx").read_bytes() == before


def test_int8_drop_beyond_the_bound_is_warned():
    report = {"student": {"metrics": {"accuracy": 0.90}}, "runtimes": {"onnx-int8": {"metrics": {"accuracy": 0.885}}}}
    assert runtime_warnings(report, "accuracy") and "drop of 0.0150" in runtime_warnings(report, "accuracy")[0]
    report["runtimes"]["onnx-int8"]["metrics"]["accuracy"] = 0.895
    assert runtime_warnings(report, "accuracy") == []


def test_exported_folder_runs_with_onnxruntime_and_tokenizers_alone(exported):
    """What the card tells a user to run: no torch model, no hf_distill on the path."""
    _, folder, model = exported
    child = textwrap.dedent("""
        import json, sys
        import numpy as np, onnxruntime
        from tokenizers import Tokenizer
        assert "hf_distill" not in sys.modules
        folder, texts = sys.argv[1], json.loads(sys.argv[2])
        tokenizer = Tokenizer.from_file(folder + "/tokenizer.json")
        session = onnxruntime.InferenceSession(folder + "/model_int8.onnx")
        out = []
        for text in texts:
            enc = tokenizer.encode(text)
            inputs = {"input_ids": [enc.ids], "attention_mask": [enc.attention_mask], "token_type_ids": [enc.type_ids]}
            feed = {i.name: np.array(inputs[i.name], dtype=np.int64) for i in session.get_inputs()}
            out.append(session.run(None, feed)[0][0].tolist())
        print("RESULT " + json.dumps(out))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", child, str(folder), json.dumps(TEXTS)], capture_output=True, text=True,
                          env=env, cwd="/", timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.array(json.loads(proc.stdout.split("RESULT ")[1]))
    tok = make_tokenizer()
    here = np.stack([OnnxModel(folder / "model_int8.onnx")(**tok([t], return_tensors="np"))[0] for t in TEXTS])
    assert np.allclose(got, here, atol=1e-5)


def test_evaluate_scores_and_times_the_onnx_files_beside_pytorch(exported, tmp_path):
    from hf_distill.card import write_card
    from hf_distill.report import build_report, render_markdown

    student, _, _ = exported
    teacher = tmp_path / "teacher"
    tiny_bert(num_layers=4, id2label=["negative", "positive"], seed=1).save_pretrained(teacher)
    make_tokenizer().save_pretrained(teacher)
    report = build_report(teacher, student, TEXTS * 4, [1, 0, 1] * 4, "sst2", max_length=32, latency_runs=2,
                          latency_warmup=1)
    assert set(report["runtimes"]) == {"onnx", "onnx-int8"}
    fp32 = report["runtimes"]["onnx"]
    assert fp32["metrics"]["accuracy"] == pytest.approx(report["student"]["metrics"]["accuracy"])
    assert fp32["latency_ms"]["b32"] > 0 and fp32["latency_detail"]["b1"]["threads"] == report["latency_settings"]["threads"]
    assert "student (onnx-int8)" in render_markdown(report)
    from hf_distill.card import card_fields

    card = write_card(str(tmp_path / "card"), {"model_name": "s", "teacher": "t", **card_fields(report)})
    text = open(card).read()
    assert "Latency, batch 32, onnx-int8" in text and "model_int8.onnx" in text
