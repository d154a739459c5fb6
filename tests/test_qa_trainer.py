"""Extractive QA in the trainer: KD on the start and end distributions over the context's tokens (question,
special tokens and padding masked), CE on the gold start/end, exact under gradient accumulation, and the
teacher cache giving the live teacher's terms."""

import torch
from conftest import make_tokenizer, tiny_qa_bert, tiny_qa_dataset
from test_trainer import assert_same_parameters, batch, batch_16_and_8_by_2, make_args

from hf_distill import DistillationTrainer, losses
from hf_distill.qa import QACollator


def qa_trainer(tmp_path, teacher=None, **kw):
    tok = make_tokenizer()
    return DistillationTrainer(
        model=tiny_qa_bert(num_layers=2, seed=2), teacher=teacher if teacher is not None else tiny_qa_bert(seed=1),
        args=make_args(tmp_path, **kw), train_dataset=tiny_qa_dataset(tok, n=32), processing_class=tok,
        data_collator=QACollator(tok),
    )


def test_features_have_windows_answers_and_a_context_mask():
    tok = make_tokenizer()
    ds = tiny_qa_dataset(tok, n=4)
    assert len(ds) > 4  # long contexts became two windows
    for row in ds:
        context = [i for i, m in enumerate(row["context_mask"]) if m]
        assert context and row["token_type_ids"][context[0]] == 1  # the mask covers the second sequence only
        if row["start_positions"]:  # the answer inside this window: its tokens lie in the context
            assert row["start_positions"] in context and row["end_positions"] in context
            assert row["start_positions"] <= row["end_positions"]


def test_qa_kd_is_kl_over_context_tokens_only(tmp_path):
    trainer = qa_trainer(tmp_path, hard_label_weight=0.0, logit_weight=1.0, temperature=2.0)
    trainer.model.train()
    inputs = batch(trainer)
    assert "context_mask" in inputs  # kept by the trainer although the model does not take it
    terms, out = trainer.loss_terms(trainer.model, inputs)
    with torch.no_grad():
        t = trainer.teacher(**{k: inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
    keep = inputs["context_mask"].bool().clone()
    keep[:, 0] = True
    expected = []
    for b in range(keep.size(0)):
        k = keep[b]
        s_rows = torch.stack([out.start_logits[b][k], out.end_logits[b][k]])
        t_rows = torch.stack([t.start_logits[b][k], t.end_logits[b][k]])
        expected.append(losses.soft_kl(s_rows, t_rows, 2.0).mean())  # mean of the start and end terms
    assert torch.allclose(terms["kd"], torch.stack(expected), atol=1e-5)


def test_qa_terms_ignore_logits_outside_the_context(tmp_path):
    trainer = qa_trainer(tmp_path)
    trainer.model.train()
    inputs = batch(trainer)
    terms, _ = trainer.loss_terms(trainer.model, inputs)
    outside = ~inputs["context_mask"].bool()
    outside[:, 0] = False  # [CLS]: where an answer outside the window points

    def shifted(module, args, output):
        output.start_logits = output.start_logits + 50.0 * outside
        output.end_logits = output.end_logits - 20.0 * outside
        return output

    handle = trainer.model.register_forward_hook(shifted)
    try:
        again, _ = trainer.loss_terms(trainer.model, inputs)
    finally:
        handle.remove()
    assert set(terms) == {"ce", "kd"}
    for name in ("ce", "kd"):
        assert torch.allclose(again[name], terms[name], atol=1e-5), name


def test_qa_gradient_accumulation_matches_large_batch(tmp_path):
    """CE and KD on start/end with hidden and attention terms: batch 8 x 2 accumulation steps = batch 16."""
    big, acc = batch_16_and_8_by_2(qa_trainer, tmp_path, hidden_weight=1.0, attention_weight=0.5)
    # qa_outputs.bias shifts all start (end) logits: softmax terms give it no gradient, and Adam blows its rounding
    # noise up to a full step, which differs between the two runs
    assert_same_parameters(big.model, acc.model, skip={"qa_outputs.bias"})
    start = tiny_qa_bert(num_layers=2, seed=2)
    assert any(not torch.allclose(p0, p1) for (_, p0), (_, p1) in zip(start.named_parameters(), big.model.named_parameters()))
    names = {k for h in big.state.log_history for k in h}
    assert {"loss/ce", "loss/kd", "loss/hidden", "loss/attention"} <= names


def test_cached_qa_teacher_gives_the_live_terms(tmp_path):
    from hf_distill.cache import build_teacher_cache

    tok = make_tokenizer()
    teacher = tiny_qa_bert(seed=1)
    build_teacher_cache(teacher, tok, tiny_qa_dataset(tok, n=32), tmp_path / "cache", layers_hidden=[2, 4],
                        layers_attention=[], parts=set(), dtype="float32", max_length=16)
    live = qa_trainer(tmp_path / "live", teacher=teacher, hidden_weight=1.0)
    cached = qa_trainer(tmp_path / "cached", teacher=teacher, hidden_weight=1.0, teacher_cache_dir=str(tmp_path / "cache"))
    live.model.train()
    cached.model.train()
    inputs = batch(live)
    a, _ = live.loss_terms(live.model, inputs)
    b, _ = cached.loss_terms(cached.model, inputs)
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
