"""hf_distill.config.DistillationConfig: validation of every distillation field before any work starts."""

import pytest

from hf_distill import DistillationConfig


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(temperature=0), "temperature must be > 0"),
        (dict(hidden_weight=-1), "hidden_weight must be >= 0"),
        (dict(hard_label_weight=0, logit_weight=0), "All loss weights are 0"),
        (dict(hidden_loss="l1"), "hidden_loss must be one of"),
        (dict(minilm_relations="qq,xy"), "minilm_relations"),
    ],
)
def test_config_validation(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        DistillationConfig(output_dir=str(tmp_path), **kw)


def test_which_teacher_outputs_the_config_reads(tmp_path):
    assert DistillationConfig(output_dir=str(tmp_path)).uses_teacher  # logits by default
    labels_only = DistillationConfig(output_dir=str(tmp_path), hard_label_weight=1.0, logit_weight=0.0)
    assert not labels_only.uses_teacher and labels_only.attention_parts == set()
    tinybert = DistillationConfig(output_dir=str(tmp_path), attention_weight=0.1)
    assert tinybert.attention_parts == {"q", "k"}
    minilm = DistillationConfig(output_dir=str(tmp_path), attention_weight=1.0, attention_loss="minilm",
                                minilm_relations="qk,vv")
    assert minilm.attention_parts == {"q", "k", "v"} and minilm.relations == ["qk", "vv"]
