"""Pushing a student to a local fake Hub (tests/helpers/hub_server.py) and loading it back with transformers."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import make_tokenizer, tiny_bert
from helpers.hub_server import start_server, stop

from hf_distill.card import write_card
from hf_distill.hub import PushError, push_student

REPO_ID = "tester/tiny-distilled-student"
TOKEN = "hf_dummy_token_for_tests"
TEXTS = ["a great movie", "the worst plot", "i love this story", "boring and not fun"]
DECOYS = ("training_args.bin", "distill_projections.safetensors", "optimizer.pt", "trainer_state.json")
EXPECTED_UPLOADS = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "README.md",
    "report.json",
}

# Runs with HF_ENDPOINT pointing at the fake Hub: huggingface_hub reads it at import time.
CHILD = textwrap.dedent(
    """
    import json, sys
    from huggingface_hub import ModelCard
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from hf_distill.hub import push_student

    student_dir, repo_id, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    url = push_student(student_dir, repo_id)
    card = ModelCard.load(repo_id)
    card.validate()
    model = AutoModelForSequenceClassification.from_pretrained(repo_id).eval()
    tokenizer = AutoTokenizer.from_pretrained(repo_id)
    import torch
    with torch.no_grad():
        probs = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(-1).tolist()
    preds = pipeline("text-classification", model=repo_id, device="cpu")(texts)
    print("RESULT " + json.dumps({
        "url": url,
        "probs": probs,
        "pipeline": preds,
        "model_index_value": card.data.eval_results[0].metric_value,
    }))
    """
)

CARD_INFO = {
    "model_name": "tiny-distilled-student",
    "repo_id": REPO_ID,
    "teacher": "google-bert/bert-base-uncased",
    "dataset": {"name": "glue", "config": "sst2"},
    "task_name": "sst2",
    "metric_name": "accuracy",
    "student_metric": 0.875,
    "teacher_metric": 0.9,
    "loss_weights": {"kd": 1.0, "ce": 0.5},
    "temperature": 2.0,
    "layer_map": "2:1,4:2",
    "student_layers": [1, 3],
    "num_parameters": {"student": 50_000, "teacher": 80_000},
    "size_mb": {"student": 0.2, "teacher": 0.3},
    "latency_ms": {"student_b1": 0.5, "teacher_b1": 0.9, "student_b32": 2.0, "teacher_b32": 3.8},
    "command": "hf-distill distill --task sst2 --teacher google-bert/bert-base-uncased",
}


def _save_student(student_dir: Path):
    model = tiny_bert(num_layers=2, id2label=["negative", "positive"], seed=3)
    tokenizer = make_tokenizer()
    model.save_pretrained(student_dir)
    tokenizer.save_pretrained(student_dir)
    write_card(str(student_dir), CARD_INFO)
    (student_dir / "report.json").write_text(json.dumps({"student_metric": 0.875}))
    for name in DECOYS:
        (student_dir / name).write_bytes(b"decoy " + name.encode())
    (student_dir / "checkpoint-10").mkdir()
    (student_dir / "checkpoint-10" / "model.safetensors").write_bytes(b"not uploaded")
    return model, tokenizer


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _child_env(tmp_path: Path, endpoint: str) -> dict:
    env = dict(os.environ)
    for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN_PATH", "HF_HUB_CACHE"):
        env.pop(key, None)
    env.update(
        HF_ENDPOINT=endpoint,
        HF_TOKEN=TOKEN,
        HF_HOME=str(tmp_path / "hf_home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]),
    )
    return env


@pytest.fixture
def hub():
    server, url = start_server()
    try:
        yield server, url
    finally:
        stop(server)


def test_push_then_load_through_fake_hub(tmp_path, hub):
    server, url = hub
    student_dir = tmp_path / "student"
    model, tokenizer = _save_student(student_dir)
    before = _snapshot(student_dir)

    with torch.no_grad():
        local_probs = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits.softmax(-1)
    from transformers import pipeline

    local_preds = pipeline("text-classification", model=str(student_dir), device="cpu")(TEXTS)

    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(student_dir), REPO_ID, json.dumps(TEXTS)],
        env=_child_env(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = "\n".join(f"{m} {p} -> {s}" for m, p, s in server.requests)
    assert proc.returncode == 0, f"child failed:\n{proc.stderr[-4000:]}\nserver log:\n{log}"
    assert TOKEN not in proc.stdout + proc.stderr
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])

    # The repo holds the standard files and none of the training leftovers.
    uploaded = set(server.hub.file_names(REPO_ID))
    assert EXPECTED_UPLOADS <= uploaded, uploaded
    assert not uploaded & set(DECOYS), uploaded
    assert not any(name.startswith("checkpoint-") for name in uploaded), uploaded
    assert server.hub.file_bytes(REPO_ID, "model.safetensors") == (student_dir / "model.safetensors").read_bytes()
    assert server.hub.commit_messages(REPO_ID)[0] == "Upload distilled student (hf_distill)"
    assert result["url"].startswith(f"{url}/{REPO_ID}/commit/")
    assert result["model_index_value"] == pytest.approx(0.875)
    assert any(m == "POST" and p == "/api/validate-yaml" and s == 200 for m, p, s in server.requests), log

    # Same predictions from the Hub copy as from the local folder.
    assert torch.allclose(torch.tensor(result["probs"]), local_probs, atol=1e-5)
    assert [p["label"] for p in result["pipeline"]] == [p["label"] for p in local_preds]
    for remote, local in zip(result["pipeline"], local_preds):
        assert remote["score"] == pytest.approx(local["score"], abs=1e-5)

    # Pushing never touches the local folder.
    assert _snapshot(student_dir) == before


def test_push_to_dead_server_raises_push_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    student_dir = tmp_path / "student"
    _save_student(student_dir)
    before = _snapshot(student_dir)

    server, url = start_server()  # take a free port, then free it again: nothing listens there any more
    stop(server)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    with pytest.raises(PushError) as info:
        push_student(str(student_dir), REPO_ID, token=TOKEN)
    message = str(info.value)
    assert "failed" in message
    assert str(student_dir.resolve()) in message
    assert "hf-distill push" in message and REPO_ID in message
    assert "HF_TOKEN" in message
    assert TOKEN not in message
    assert _snapshot(student_dir) == before


def test_push_in_offline_mode_says_so(tmp_path, monkeypatch):
    from huggingface_hub import constants

    student_dir = tmp_path / "student"
    _save_student(student_dir)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PushError, match="HF_HUB_OFFLINE"):
        push_student(str(student_dir), REPO_ID, token=TOKEN)


def test_push_rejects_folder_without_weights(tmp_path):
    student_dir = tmp_path / "student"
    _save_student(student_dir)
    (student_dir / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="model.safetensors"):
        push_student(str(student_dir), REPO_ID, token=TOKEN)


def test_push_rejects_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        push_student(str(tmp_path / "nope"), REPO_ID, token=TOKEN)


def test_server_rejects_invalid_card_metadata(tmp_path, hub, monkeypatch):
    """A card whose YAML the Hub rejects makes the push fail with PushError before any file is committed."""
    from huggingface_hub import constants

    server, url = hub
    student_dir = tmp_path / "student"
    _save_student(student_dir)
    card = (student_dir / "README.md").read_text()
    # valid for ModelCard's local parser, but the (fake) Hub requires a string license
    (student_dir / "README.md").write_text(card.replace('license: "apache-2.0"', "license: [1, 2]"))
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(PushError, match="Invalid metadata"):
        push_student(str(student_dir), REPO_ID, token=TOKEN)
    assert server.hub.file_names(REPO_ID) == [".gitattributes"]


def test_push_with_rejected_token_raises_push_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    server, url = start_server(required_token="hf_the_only_valid_token")
    try:
        student_dir = tmp_path / "student"
        _save_student(student_dir)
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        with pytest.raises(PushError, match="401") as info:
            push_student(str(student_dir), REPO_ID, token="hf_wrong_secret_token")
        assert "hf_wrong_secret_token" not in str(info.value)
        assert "hf-distill push" in str(info.value)
        assert server.hub.get(REPO_ID) is None
    finally:
        stop(server)


def test_push_refuses_unparseable_card_before_any_request(tmp_path, monkeypatch):
    from huggingface_hub import constants

    server, url = start_server()
    try:
        student_dir = tmp_path / "student"
        _save_student(student_dir)
        (student_dir / "README.md").write_text("---\nlicense: [unclosed\n---\n# card\n")
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        with pytest.raises(PushError, match="still saved at"):
            push_student(str(student_dir), REPO_ID, token=TOKEN)
        assert server.requests == []
    finally:
        stop(server)


TOKEN_CHILD = textwrap.dedent(
    """
    import json, sys
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
    from hf_distill.hub import push_student

    student_dir, repo_id, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    push_student(student_dir, repo_id)
    # what a user runs, without hf_distill:
    model = AutoModelForTokenClassification.from_pretrained(repo_id).eval()
    tokenizer = AutoTokenizer.from_pretrained(repo_id)
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.tolist()
    tagger = pipeline("token-classification", model=repo_id, aggregation_strategy="simple", device="cpu")
    entities = [[{k: (float(v) if k == "score" else v) for k, v in e.items()} for e in tagger(t)] for t in texts]
    print("RESULT " + json.dumps({"logits": logits, "entities": entities}))
    """
)


def test_pushed_token_student_tags_through_the_hub_like_the_local_one(tmp_path, hub):
    from conftest import tiny_token_bert
    from transformers import pipeline

    server, url = hub
    student_dir, repo_id = tmp_path / "tagger", "tester/tiny-tagger"
    model = tiny_token_bert(num_layers=2, seed=5)
    with torch.no_grad():
        model.classifier.weight.mul_(30)  # confident tags, so entities come out
    model.save_pretrained(student_dir)
    make_tokenizer().save_pretrained(student_dir)
    write_card(str(student_dir), {**CARD_INFO, "repo_id": repo_id, "task_kind": "token-classification",
                                  "metric_name": "f1", "dataset": {"name": "conll2003"}, "task_name": "conll2003"})
    texts = ["he and zorg were great", "i love this movie"]
    with torch.no_grad():
        tok = make_tokenizer()
        local_logits = model(**tok(texts, padding=True, return_tensors="pt")).logits
    local = pipeline("token-classification", model=str(student_dir), aggregation_strategy="simple", device="cpu")
    local_entities = [local(t) for t in texts]
    assert any(local_entities)

    proc = subprocess.run([sys.executable, "-c", TOKEN_CHILD, str(student_dir), repo_id, json.dumps(texts)],
                          env=_child_env(tmp_path, url), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert torch.allclose(torch.tensor(result["logits"]), local_logits, atol=1e-5)
    for remote, here in zip(result["entities"], local_entities):
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in remote] == [
            (e["entity_group"], e["word"], e["start"], e["end"]) for e in here]
    card = server.hub.file_bytes(repo_id, "README.md").decode()
    assert "pipeline_tag: token-classification" in card


QA_CHILD = textwrap.dedent(
    """
    import json, re, sys
    import torch
    from huggingface_hub import hf_hub_download
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer
    from hf_distill.hub import push_student

    student_dir, repo_id, question, context = sys.argv[1:5]
    push_student(student_dir, repo_id)
    # what a user runs, without hf_distill: the card's own snippet, on the Hub copy
    card = open(hf_hub_download(repo_id, "README.md")).read()
    snippet = card.split("```python\\n", 1)[1].split("```", 1)[0]
    snippet = re.sub(r"question, context = .*\\n", f"question, context = {question!r}, {context!r}\\n", snippet)
    scope = {}
    exec(snippet.replace("print(", "answer = ("), scope)
    model = AutoModelForQuestionAnswering.from_pretrained(repo_id).eval()
    tokenizer = AutoTokenizer.from_pretrained(repo_id)
    with torch.no_grad():
        out = model(**tokenizer(question, context, return_tensors="pt"))
    print("RESULT " + json.dumps({"answer": scope["answer"], "start": out.start_logits[0].tolist(),
                                  "end": out.end_logits[0].tolist()}))
    """
)


def test_pushed_qa_student_answers_through_the_hub_like_the_local_one(tmp_path, hub):
    from conftest import tiny_qa_bert

    from hf_distill.qa import best_answers, prepare_features

    server, url = hub
    student_dir, repo_id = tmp_path / "reader", "tester/tiny-reader"
    model = tiny_qa_bert(num_layers=2, seed=5)
    model.save_pretrained(student_dir)
    make_tokenizer().save_pretrained(student_dir)
    write_card(str(student_dir), {**CARD_INFO, "repo_id": repo_id, "task_kind": "question-answering",
                                  "metric_name": "f1", "dataset": {"name": "squad"}, "task_name": "squad"})
    question, context = "who was funny", "the movie was fun and he was very funny"
    tok = make_tokenizer()
    row = {"id": "x", "question": question, "context": context, "answers": {"text": [], "answer_start": []}}
    features = prepare_features([row], tok, max_length=64, doc_stride=16)
    with torch.no_grad():
        local = model(**{k: torch.tensor(features[k]) for k in ("input_ids", "attention_mask", "token_type_ids")})
    expected = best_answers([row], features["example_id"], features["offsets"], local.start_logits, local.end_logits)["x"]

    proc = subprocess.run([sys.executable, "-c", QA_CHILD, str(student_dir), repo_id, question, context],
                          env=_child_env(tmp_path, url), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert torch.allclose(torch.tensor(result["start"]), local.start_logits[0], atol=1e-5)
    assert torch.allclose(torch.tensor(result["end"]), local.end_logits[0], atol=1e-5)
    assert result["answer"] == expected and expected in context
    card = server.hub.file_bytes(repo_id, "README.md").decode()
    assert "pipeline_tag: question-answering" in card


ONNX_CHILD = textwrap.dedent(
    """
    import json, sys
    from hf_distill.hub import push_student

    student_dir, repo_id = sys.argv[1], sys.argv[2]
    print("URL " + push_student(student_dir, repo_id, include_onnx=True))
    """
)
ONNX_USER = textwrap.dedent(
    """
    import json, sys
    import numpy as np, onnxruntime
    from huggingface_hub import snapshot_download
    from tokenizers import Tokenizer
    assert "hf_distill" not in sys.modules
    folder = snapshot_download(sys.argv[1])
    tokenizer = Tokenizer.from_file(folder + "/tokenizer.json")
    options = onnxruntime.SessionOptions()  # the model card's snippet
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    session = onnxruntime.InferenceSession(folder + "/onnx/model_int8.onnx", options,
                                           disabled_optimizers=["SkipLayerNormFusion"])
    out = []
    for text in json.loads(sys.argv[2]):
        enc = tokenizer.encode(text)
        inputs = {"input_ids": [enc.ids], "attention_mask": [enc.attention_mask], "token_type_ids": [enc.type_ids]}
        feed = {i.name: np.array(inputs[i.name], dtype=np.int64) for i in session.get_inputs()}
        out.append(session.run(None, feed)[0][0].tolist())
    print("RESULT " + json.dumps(out))
    """
)


def test_pushed_onnx_student_runs_with_plain_onnxruntime_through_the_hub(tmp_path, hub):
    from hf_distill.export import OnnxModel, export_onnx

    server, url = hub
    student_dir, repo_id = tmp_path / "student", "tester/tiny-onnx"
    _save_student(student_dir)
    folder = export_onnx(student_dir)
    proc = subprocess.run([sys.executable, "-c", ONNX_CHILD, str(student_dir), repo_id], env=_child_env(tmp_path, url),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    uploaded = set(server.hub.file_names(repo_id))
    assert {"onnx/model.onnx", "onnx/model_int8.onnx", "onnx/export.json", "model.safetensors"} <= uploaded
    env = {k: v for k, v in _child_env(tmp_path, url).items() if k != "PYTHONPATH"}
    user = subprocess.run([sys.executable, "-c", ONNX_USER, repo_id, json.dumps(TEXTS)], env=env, cwd="/",
                          capture_output=True, text=True, timeout=300)
    assert user.returncode == 0, user.stderr[-4000:]
    remote = json.loads(user.stdout.split("RESULT ")[1])
    tokenizer = make_tokenizer()
    local = [OnnxModel(folder / "model_int8.onnx")(**tokenizer([t], return_tensors="np"))[0].tolist() for t in TEXTS]
    assert torch.allclose(torch.tensor(remote), torch.tensor(local), atol=1e-5)


def test_push_onnx_without_an_export_is_refused_before_any_request(tmp_path):
    student_dir = tmp_path / "student"
    _save_student(student_dir)
    with pytest.raises(ValueError, match="Run `hf-distill export` first"):
        push_student(str(student_dir), REPO_ID, include_onnx=True)
