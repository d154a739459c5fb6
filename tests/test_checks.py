"""Bad input fails before any training step, with a message that names the fix."""

import pytest
from conftest import TINY_VOCAB, make_tokenizer, tiny_bert, tiny_dataset
from transformers import BertTokenizerFast, DataCollatorWithPadding

from hf_distill import DistillationConfig, DistillationTrainer


def build(tmp_path, student=None, teacher=None, teacher_tokenizer=None, **kw):
    tok = make_tokenizer()
    args = DistillationConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True, max_steps=1, **kw)
    return DistillationTrainer(
        model=student if student is not None else tiny_bert(num_layers=2, seed=2),
        teacher=teacher if teacher is not None else tiny_bert(num_layers=4, seed=1),
        teacher_tokenizer=teacher_tokenizer,
        args=args,
        train_dataset=tiny_dataset(tok),
        processing_class=tok,
        data_collator=DataCollatorWithPadding(tok),
    )


def test_tokenizer_mismatch_refused(tmp_path):
    shuffled = list(reversed(TINY_VOCAB[5:]))
    other = BertTokenizerFast(vocab={t: i for i, t in enumerate(TINY_VOCAB[:5] + shuffled)})
    with pytest.raises(ValueError, match="Tokenizer mismatch.*share a tokenizer"):
        build(tmp_path, teacher_tokenizer=other)
    build(tmp_path, teacher_tokenizer=make_tokenizer())  # the same tokenizer passes


def test_vocab_size_mismatch_refused(tmp_path):
    with pytest.raises(ValueError, match="Vocabulary mismatch"):
        build(tmp_path, teacher=tiny_bert(num_layers=4, vocab_size=500))


def test_label_count_mismatch_refused(tmp_path):
    with pytest.raises(ValueError, match="3 labels and the student 2"):
        build(tmp_path, teacher=tiny_bert(num_layers=4, num_labels=3))


def test_different_label_names_refused(tmp_path):
    teacher = tiny_bert(num_layers=4, id2label=["neg", "pos"])
    student = tiny_bert(num_layers=2, id2label=["entailment", "contradiction"])
    with pytest.raises(ValueError, match="labels .* differ"):
        build(tmp_path, student=student, teacher=teacher)


def test_layer_map_out_of_range(tmp_path):
    with pytest.raises(ValueError, match="out of range.*0..4.*0..2"):
        build(tmp_path, hidden_weight=1.0, layer_map="2:1,8:2")
    with pytest.raises(ValueError, match="cannot read"):
        DistillationConfig(output_dir=str(tmp_path), layer_map="2-1")


def test_tinybert_needs_equal_heads(tmp_path):
    student = tiny_bert(num_layers=2, hidden=32, heads=2)
    with pytest.raises(ValueError, match="attention_loss='minilm'"):
        build(tmp_path, student=student, attention_weight=1.0)
    build(tmp_path, student=student, attention_weight=1.0, attention_loss="minilm", relation_heads=4)


def test_missing_teacher_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="Teacher not found"):
        build(tmp_path, teacher=str(tmp_path / "no_such_teacher"))


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
