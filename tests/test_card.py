"""Model card rendering: YAML metadata (checked with huggingface_hub.ModelCard) and body sections."""

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from hf_distill.card import check_card, render_card, template_path, write_card

FULL = {
    "model_name": "minilm-l3-sst2-distilled",
    "repo_id": "someone/minilm-l3-sst2-distilled",
    "teacher": "sentence-transformers/all-MiniLM-L6-v2",
    "dataset": {"name": "glue", "config": "sst2"},
    "task_name": "sst2",
    "metric_name": "accuracy",
    "student_metric": 0.8853,
    "teacher_metric": 0.9106,
    "retention": 0.9722,
    "loss_weights": {"kd": 0.5, "ce": 0.5, "hidden": 1.0},
    "temperature": 2.0,
    "layer_map": "2:1,4:2,6:3",
    "student_layers": [1, 3, 5],
    "num_parameters": {"student": 17_400_000, "teacher": 22_700_000},
    "size_mb": {"student": 66.4, "teacher": 86.7},
    "latency_ms": {"student_b1": 3.1, "teacher_b1": 5.9, "student_b32": 40.2, "teacher_b32": 79.8},
    "speedup_b32": 1.985,
    "command": "hf-distill distill --teacher sentence-transformers/all-MiniLM-L6-v2 --task sst2 --student_layers 1,3,5",
    "license": "mit",
}
MINIMAL = {"model_name": "tiny-student", "teacher": "/models/my-teacher", "task_name": "sst2"}


def test_template_is_the_single_file_inside_the_package():
    assert template_path() == Path(__file__).resolve().parent.parent / "hf_distill" / "templates" / "card.md"
    assert not (Path(__file__).resolve().parent.parent / "model_cards" / "template.md").exists()


def test_full_card_metadata_and_model_index():
    content = render_card(FULL)
    card = ModelCard(content)
    data = card.data
    assert data.license == "mit"
    assert set(data.tags) == {"distillation", "hf_distill", "text-classification"}
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert data.datasets == ["glue"]
    assert data.metrics == ["accuracy"]
    assert data.pipeline_tag == "text-classification"
    assert data.library_name == "transformers"
    assert data.model_name == "minilm-l3-sst2-distilled"
    [result] = data.eval_results
    assert result.task_type == "text-classification"
    assert (result.dataset_type, result.dataset_config, result.dataset_split) == ("glue", "sst2", "validation")
    assert result.metric_type == "accuracy"
    assert result.metric_value == pytest.approx(0.8853)
    assert "model-index" in data.to_dict()
    # only the student's result is in the metadata; the teacher's is in the text
    assert "0.9106" not in content.split("\n---\n", 1)[0]


def test_full_card_body():
    content = render_card(FULL)
    body = ModelCard(content).text
    assert "0.9106" in body and "0.8853" in body and "97.2%" in body
    assert "| Accuracy (validation) | 0.8853 | 0.9106 |" in body
    assert "| Parameters | 17.4M | 22.7M |" in body
    assert "| Size on disk | 66.4 MB | 86.7 MB |" in body
    assert "| Latency, batch 1 | 3.10 ms | 5.90 ms |" in body
    assert "| Latency, batch 32 | 40.20 ms | 79.80 ms |" in body
    assert "| Speed-up, batch 32 | 1.99× | 1.00× |" in body
    assert "`kd` = 0.5" in body and "`hidden` = 1" in body
    assert "**Temperature:** 2" in body
    assert "`2:1,4:2,6:3`" in body
    assert "[1, 3, 5]" in body
    assert 'pipeline("text-classification", model="someone/minilm-l3-sst2-distilled")' in body
    assert 'AutoModelForSequenceClassification.from_pretrained("someone/minilm-l3-sst2-distilled")' in body
    assert "hf_distill import" not in body and "import hf_distill" not in body
    assert FULL["command"] in body
    assert "## Reproduce" in body and "## Results" in body


def test_minimal_card_renders_without_optional_sections():
    content = render_card(MINIMAL)
    card = ModelCard(content)
    assert card.data.license == "apache-2.0"
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.base_model is None  # a local path is not a Hub id
    assert card.data.eval_results is None and "model-index" not in card.data.to_dict()
    assert "/models/my-teacher" in card.text
    for absent in ("## Results", "## Reproduce", "Loss weights", "Temperature", "Layer map", "None", "–"):
        assert absent not in content, absent
    assert "## Usage" in content and 'model="tiny-student"' in content
    assert "{{" not in content and "{%" not in content


def test_partial_card_without_dataset_keeps_scores_out_of_metadata():
    info = {k: FULL[k] for k in ("model_name", "teacher", "task_name", "metric_name", "student_metric", "teacher_metric")}
    info["latency_ms"] = {"student_b32": 10.0, "teacher_b32": 30.0}  # speed-up computed, b1 row absent
    content = render_card(info)
    card = ModelCard(content)
    assert card.data.eval_results is None  # no Hub dataset -> no model-index
    assert "| Accuracy (validation) | 0.8853 | 0.9106 |" in content
    assert "| Speed-up, batch 32 | 3.00× | 1.00× |" in content
    assert "Latency, batch 1" not in content and "Parameters" not in content
    assert "97.2%" in content  # retention computed from the two scores


def test_yaml_quotes_awkward_names():
    info = dict(FULL, model_name='weird: "name" # not a comment', dataset=["glue", "sst2"])
    card = ModelCard(render_card(info))
    assert card.data.model_name == 'weird: "name" # not a comment'
    assert card.data.eval_results[0].dataset_config == "sst2"


@pytest.mark.parametrize("key", ["model_name", "teacher", "task_name"])
def test_missing_required_key_is_a_clear_error(key):
    info = dict(FULL)
    del info[key]
    with pytest.raises(ValueError, match=f"missing required key.*'{key}'"):
        render_card(info)
    with pytest.raises(ValueError, match=key):
        render_card(dict(FULL, **{key: "  "}))


def test_check_card_names_the_broken_field():
    content = render_card(FULL)
    with pytest.raises(ValueError, match=r"metrics\[0\]\.value"):
        check_card(content.replace("value: 0.8853", "value: 0.5"), FULL)
    head, body = content.split("model-index:", 1)
    without_index = head + "---" + body.split("\n---", 1)[1]
    assert "model-index" not in without_index
    with pytest.raises(ValueError, match="model-index"):
        check_card(without_index, FULL)
    with pytest.raises(ValueError, match="no YAML metadata"):
        check_card("# just text\n")


def test_write_card(tmp_path):
    path = write_card(str(tmp_path / "out"), FULL)
    assert path == str(tmp_path / "out" / "README.md")
    assert Path(path).read_text(encoding="utf-8") == render_card(FULL)
    assert ModelCard.load(path).data.eval_results[0].metric_value == pytest.approx(0.8853)


def test_card_validates_against_fake_hub(monkeypatch):
    """ModelCard.validate() posts to {ENDPOINT}/api/validate-yaml; point it at the local fake Hub."""
    from helpers.hub_server import start_server, stop
    from huggingface_hub import constants

    server, url = start_server()
    try:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        ModelCard(render_card(FULL)).validate()
        ModelCard(render_card(MINIMAL)).validate()
        broken = render_card(FULL).replace('license: "mit"', "license: [1, 2]")
        with pytest.raises(ValueError, match="license"):
            ModelCard(broken).validate()
    finally:
        stop(server)
