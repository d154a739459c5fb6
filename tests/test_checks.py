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


def test_tinybert_needs_equal_heads(tmp_path):
    student = tiny_bert(num_layers=2, hidden=32, heads=2)
    with pytest.raises(ValueError, match="attention_loss='minilm'"):
        build(tmp_path, student=student, attention_weight=1.0)
    build(tmp_path, student=student, attention_weight=1.0, attention_loss="minilm", relation_heads=4)


def test_missing_teacher_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="Teacher not found"):
        build(tmp_path, teacher=str(tmp_path / "no_such_teacher"))
