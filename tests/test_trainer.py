"""DistillationTrainer by its effect, on tiny in-process BERTs."""

import json
import os

import pytest
import torch
from conftest import make_tokenizer, tiny_bert, tiny_dataset, tiny_token_bert, tiny_token_dataset
from safetensors import safe_open
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, TrainerCallback

from hf_distill import DistillationConfig, DistillationTrainer, student_from_teacher
from hf_distill.layer_map import PROJECTIONS_ATTR, PROJECTIONS_FILE

MIXES = {
    "logit": dict(),
    "hidden_projection": dict(hidden_weight=1.0),
    "hidden_cosine": dict(hidden_weight=1.0, hidden_loss="cosine"),  # saves the teacher's states for backward
    "tinybert_attention": dict(hidden_weight=1.0, attention_weight=1.0),
    "minilm_relations": dict(attention_weight=1.0, attention_loss="minilm", relation_heads=4),
    "mixup": dict(hidden_weight=1.0, mixup_weight=1.0),
}


def make_args(tmp_path, **kw):
    base = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
        data_seed=0,
    )
    base.update(kw)
    return DistillationConfig(**base)


def make_trainer(tmp_path, student=None, teacher=None, dataset=None, **kw):
    tok = make_tokenizer()
    teacher = teacher if teacher is not None else tiny_bert(num_layers=4, hidden=32, seed=1)
    student = student if student is not None else tiny_bert(num_layers=2, hidden=32, seed=2)
    return DistillationTrainer(
        model=student,
        teacher=teacher,
        args=make_args(tmp_path, **kw),
        train_dataset=dataset if dataset is not None else tiny_dataset(tok, n=32),
        processing_class=tok,
        data_collator=DataCollatorWithPadding(tok),
    )


def batch(trainer, n=8):
    loader = trainer.get_train_dataloader()
    return trainer._prepare_inputs(next(iter(loader)))


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_each_mix_trains_student_not_teacher(tmp_path, mix):
    kw = MIXES[mix]
    student = tiny_bert(num_layers=2, hidden=16 if mix == "hidden_projection" else 32, seed=2)
    trainer = make_trainer(tmp_path, student=student, **kw)
    teacher_before = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in student.state_dict().items()}

    # every intermediate term is non-zero and has a gradient that reaches the student
    trainer.model.train()
    terms, _ = trainer.loss_terms(trainer.model, batch(trainer))
    expected = {"ce", "kd"} | ({"hidden"} if "hidden_weight" in kw else set()) | (
        {"attention"} if "attention_weight" in kw else set()
    ) | ({"mixup"} if "mixup_weight" in kw else set())
    assert set(terms) == expected
    for name in expected - {"ce", "kd"}:
        value = terms[name].sum()
        assert value.item() > 0, name
        params = [p for p in student.parameters() if p.requires_grad]
        grads = torch.autograd.grad(value, params, allow_unused=True, retain_graph=True)
        assert sum(g.abs().sum().item() for g in grads if g is not None) > 0, name

    trainer.train()
    assert all(torch.equal(v, trainer.teacher.state_dict()[k]) for k, v in teacher_before.items())
    assert not trainer.teacher.training and not any(p.requires_grad for p in trainer.teacher.parameters())
    changed = [k for k, v in student.state_dict().items() if k in student_before and not torch.equal(v, student_before[k])]
    assert changed
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 3
    for h in logged:
        assert {f"loss/{n}" for n in expected} <= set(h)
        assert sum(h[f"loss/{n}"] for n in expected) == pytest.approx(h["loss"], rel=1e-3, abs=1e-5)


def test_freeze_word_embeddings_keeps_them_and_trains_the_rest(tmp_path):
    """Frozen word embeddings stay bit-equal and get no optimizer state; every other weight still trains."""
    trainer = make_trainer(tmp_path, freeze_word_embeddings=True, hidden_weight=1.0)
    words = trainer.model.get_input_embeddings().weight
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert not words.requires_grad and torch.equal(words, before["bert.embeddings.word_embeddings.weight"])
    assert all(p is not words for g in trainer.optimizer.param_groups for p in g["params"])
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])]
    assert "bert.embeddings.position_embeddings.weight" in changed and "classifier.weight" in changed
    plain = make_trainer(tmp_path / "plain", hidden_weight=1.0)
    plain.train()
    assert not torch.equal(plain.model.get_input_embeddings().weight, before["bert.embeddings.word_embeddings.weight"])


def test_teacher_runs_in_inference_mode_and_its_outputs_feed_backward(tmp_path):
    trainer = make_trainer(tmp_path, hidden_weight=1.0, hidden_loss="cosine", attention_weight=1.0)
    seen = []
    trainer.teacher.register_forward_pre_hook(lambda module, args: seen.append(torch.is_inference_mode_enabled()))
    trainer.model.train()
    terms, _ = trainer.loss_terms(trainer.model, batch(trainer))
    torch.stack(list(terms.values())).sum().backward()  # inference tensors saved for backward would raise here
    assert seen == [True]
    assert not torch.is_inference_mode_enabled()


def test_attention_term_from_nothing_fails(tmp_path, monkeypatch):
    """If the Q/K/V hooks caught nothing (as an empty attentions tuple would give), training must fail."""
    from contextlib import contextmanager

    import hf_distill.trainer as trainer_module

    @contextmanager
    def capture_nothing(model, layers, parts):
        yield {}

    trainer = make_trainer(tmp_path, attention_weight=1.0)
    monkeypatch.setattr(trainer_module, "capture_qkv", capture_nothing)
    trainer.model.train()
    with pytest.raises(RuntimeError, match="did not run the Q/K/V"):
        trainer.loss_terms(trainer.model, batch(trainer))


def batch_16_and_8_by_2(make, tmp_path, **kw):
    """Two trainers from `make(folder, **args)`, trained 2 steps: batch 16, and batch 8 with 2 accumulation steps."""
    big = make(tmp_path / "big", per_device_train_batch_size=16, gradient_accumulation_steps=1, max_steps=2, **kw)
    big.train()
    acc = make(tmp_path / "acc", per_device_train_batch_size=8, gradient_accumulation_steps=2, max_steps=2, **kw)
    acc.train()
    return big, acc


def assert_same_parameters(a, b, skip=()):
    for (name, p_a), (_, p_b) in zip(a.named_parameters(), b.named_parameters()):
        if name not in skip:
            assert torch.allclose(p_a, p_b, atol=1e-5), name


def test_mixup_term_is_the_logit_term_on_unmixed_rows_and_differs_on_mixed_ones(tmp_path, monkeypatch):
    """MixKD through inputs_embeds: each row mixed with itself gives the teacher's and the student's logits on the
    rows, so the term (over its weight) is the logit term (over its); mixed with other rows (some longer) it is not."""
    trainer = make_trainer(tmp_path, mixup_weight=2.0, logit_weight=0.5)
    trainer.model.eval()  # no dropout: the student's two forwards agree
    inputs = batch(trainer)
    lengths = inputs["attention_mask"].sum(-1)
    assert lengths.min() < lengths.max()  # mixing with a longer row attends to its tokens too
    randperm = torch.randperm
    monkeypatch.setattr(torch, "randperm", lambda n, **kw: torch.arange(n))
    terms, _ = trainer.loss_terms(trainer.model, inputs)
    torch.testing.assert_close(terms["mixup"] / 2.0, terms["kd"] / 0.5)
    assert terms["kd"].sum() > 0
    monkeypatch.setattr(torch, "randperm", lambda n, **kw: torch.arange(n).roll(1))
    mixed, _ = trainer.loss_terms(trainer.model, inputs)
    torch.testing.assert_close(mixed["kd"], terms["kd"])
    assert not torch.allclose(mixed["mixup"], terms["mixup"])
    monkeypatch.setattr(torch, "randperm", randperm)
    mixed["mixup"].sum().backward()
    assert trainer.model.get_input_embeddings().weight.grad.abs().sum() > 0


def test_mixup_refused_on_token_tasks_and_without_a_positive_alpha(tmp_path):
    with pytest.raises(ValueError, match="mixup_weight mixes whole rows"):
        token_trainer(tmp_path, mixup_weight=1.0)
    with pytest.raises(ValueError, match="mixup_alpha > 0"):
        make_args(tmp_path, mixup_weight=1.0, mixup_alpha=0.0)


def test_gradient_accumulation_matches_large_batch(tmp_path):
    big, acc = batch_16_and_8_by_2(make_trainer, tmp_path, hidden_weight=1.0, attention_weight=0.5)
    assert_same_parameters(big.model, acc.model)
    loss_big = [h["loss"] for h in big.state.log_history if "loss" in h]
    loss_acc = [h["loss"] for h in acc.state.log_history if "loss" in h]
    assert loss_acc == pytest.approx(loss_big, rel=1e-4)  # not inflated by the accumulation steps


def test_eval_predictions_are_logits(tmp_path):
    tok = make_tokenizer()
    seen = {}

    def compute_metrics(pred):
        seen["shape"] = pred.predictions.shape
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    trainer = make_trainer(tmp_path, hidden_weight=1.0, attention_weight=1.0)
    trainer.eval_dataset = tiny_dataset(tok, n=12)
    trainer.compute_metrics = compute_metrics
    metrics = trainer.evaluate()
    assert seen["shape"] == (12, 2)
    assert "eval_accuracy" in metrics and "eval_loss" in metrics


def test_projections_are_trained_saved_apart_and_not_in_student(tmp_path):
    student = tiny_bert(num_layers=2, hidden=16, heads=4, seed=2)
    trainer = make_trainer(tmp_path, student=student, hidden_weight=1.0, max_steps=4)
    projections = getattr(student, PROJECTIONS_ATTR)
    before = {k: v.clone() for k, v in projections.state_dict().items()}
    trainer.train()
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert all(id(p) in optimized for p in projections.parameters())
    assert any(not torch.equal(v, projections.state_dict()[k]) for k, v in before.items())

    out = tmp_path / "student"
    trainer.save_model(str(out))
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        saved_keys = set(f.keys())
    assert not any(PROJECTIONS_ATTR in k for k in saved_keys)
    assert saved_keys == set(tiny_bert(num_layers=2, hidden=16, heads=4).state_dict()) - {"bert.embeddings.position_ids"}
    with safe_open(str(out / PROJECTIONS_FILE), "pt") as f:
        assert set(f.keys()) == {f"proj.{s}.{p}" for s in ("1", "2") for p in ("weight", "bias")}
    loaded, info = AutoModelForSequenceClassification.from_pretrained(str(out), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert not hasattr(loaded, PROJECTIONS_ATTR)


class StopAt(TrainerCallback):
    """An interruption right after the checkpoint of step `step`."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step == self.step


def full_and_resumed(tmp_path, **kw):
    """Two 4-step runs of a student with 16-wide hidden states (projections to the teacher's 32): one whole, one
    stopped after the checkpoint of step 2 and resumed from it in a new trainer. Returns their trainers."""

    def run(out, resume=None, stop=False):
        student = tiny_bert(num_layers=2, hidden=16, heads=4, seed=2)
        trainer = make_trainer(tmp_path, student=student, max_steps=4, save_strategy="steps", save_steps=2,
                               output_dir=str(out), **kw)
        if stop:
            trainer.add_callback(StopAt(2))
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    full = run(tmp_path / "full")
    run(tmp_path / "cut", stop=True)
    return full, run(tmp_path / "cut2", resume=str(tmp_path / "cut" / "checkpoint-2"))


def test_resume_restores_projections_and_matches_uninterrupted_run(tmp_path):
    full, resumed = full_and_resumed(tmp_path, hidden_weight=1.0)
    by_step = lambda t: {h["step"]: h["loss"] for h in t.state.log_history if "loss" in h}
    assert by_step(resumed)[3] == pytest.approx(by_step(full)[3], rel=1e-5)
    assert by_step(resumed)[4] == pytest.approx(by_step(full)[4], rel=1e-5)
    for (name, a), (_, b) in zip(full.model.named_parameters(), resumed.model.named_parameters()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_resume_without_restoring_projections_would_differ(tmp_path):
    """Guard for the test above: the projections matter, so a resume that lost them would show."""
    student = tiny_bert(num_layers=2, hidden=16, heads=4, seed=2)
    trainer = make_trainer(tmp_path, student=student, hidden_weight=1.0, max_steps=2)
    trainer.train()
    trainer.model.train()
    inputs = batch(trainer)
    with torch.no_grad():
        trained = trainer.loss_terms(trainer.model, inputs)[0]["hidden"].mean().item()
        for p in getattr(student, PROJECTIONS_ATTR).parameters():
            torch.nn.init.normal_(p, std=0.02)
        fresh = trainer.loss_terms(trainer.model, inputs)[0]["hidden"].mean().item()
    assert abs(trained - fresh) > 1e-4


def test_teacher_path_and_same_labels_in_other_order(tmp_path):
    teacher = tiny_bert(num_layers=4, seed=1, id2label=["negative", "positive"])
    teacher.save_pretrained(tmp_path / "teacher")
    make_tokenizer().save_pretrained(tmp_path / "teacher")
    student = tiny_bert(num_layers=2, seed=2, id2label=["positive", "negative"])
    trainer = make_trainer(tmp_path, student=student, teacher=str(tmp_path / "teacher"))
    assert trainer.teacher_label_order == [1, 0]
    inputs = batch(trainer)
    with torch.no_grad():
        raw = trainer.teacher(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
        aligned = trainer.teacher_outputs(inputs).logits
    assert torch.equal(aligned[:, 0], raw[:, 1]) and torch.equal(aligned[:, 1], raw[:, 0])


def test_saved_run_writes_no_token(tmp_path):
    token = "hf_SECRETtoken1234567890"
    trainer = make_trainer(tmp_path, hub_token=token, max_steps=2, save_strategy="steps", save_steps=1)
    trainer.train()
    trainer.save_model(str(tmp_path / "out" / "final"))
    for root, _, files in os.walk(tmp_path / "out"):
        for name in files:
            assert token.encode() not in open(os.path.join(root, name), "rb").read(), name


def test_student_from_teacher_distils(tmp_path):
    teacher = tiny_bert(num_layers=4, seed=1)
    student = student_from_teacher(teacher, num_layers=2)
    trainer = make_trainer(tmp_path, student=student, teacher=teacher, hidden_weight=1.0, attention_weight=1.0)
    trainer.train()
    trainer.save_model(str(tmp_path / "s"))
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["hf_distill_teacher_layers"] == [1, 3]


def test_student_reused_by_a_second_trainer(tmp_path):
    student = tiny_bert(num_layers=2, hidden=16, heads=4, seed=2)
    make_trainer(tmp_path / "a", student=student, hidden_weight=1.0).train()
    second = make_trainer(tmp_path / "b", student=student, hidden_weight=1.0, max_steps=1)
    second.model.train()
    inputs = batch(second)
    out = second.model(**{k: v for k, v in inputs.items() if k != "labels"}, output_hidden_states=True)
    assert len(out.hidden_states) == 3 + 2  # embeddings + 2 layers + one projected state per pair, once


def token_trainer(tmp_path, **kw):
    from transformers import DataCollatorForTokenClassification

    tok = make_tokenizer()
    return DistillationTrainer(
        model=tiny_token_bert(num_layers=2, seed=2), teacher=tiny_token_bert(num_layers=4, seed=1),
        args=make_args(tmp_path, **kw), train_dataset=tiny_token_dataset(tok, n=32), processing_class=tok,
        data_collator=DataCollatorForTokenClassification(tok),
    )


def test_token_task_gradient_accumulation_matches_large_batch(tmp_path):
    """Token-level CE and KD (per labelled token, averaged per row) with hidden and attention terms: batch 8 with
    2 accumulation steps gives the update of batch 16."""
    big, acc = batch_16_and_8_by_2(token_trainer, tmp_path, hidden_weight=1.0, attention_weight=0.5)
    assert_same_parameters(big.model, acc.model)
    moved = 0
    start = tiny_token_bert(num_layers=2, seed=2)
    for (_, p0), (_, p1) in zip(start.named_parameters(), big.model.named_parameters()):
        moved += int(not torch.allclose(p0, p1))
    assert moved > 0
    names = {k for h in big.state.log_history for k in h}
    assert {"loss/ce", "loss/kd", "loss/hidden", "loss/attention"} <= names


def test_token_kd_ignores_logits_at_unlabelled_positions(tmp_path):
    trainer = token_trainer(tmp_path)
    trainer.model.train()
    inputs = batch(trainer)
    terms, _ = trainer.loss_terms(trainer.model, inputs)
    unlabelled = inputs["labels"] == -100
    assert unlabelled.any() and (inputs["attention_mask"].bool() & unlabelled).any()  # special tokens, pieces

    def shifted(module, args, output):
        output.logits = output.logits + 30.0 * unlabelled.unsqueeze(-1) * torch.arange(4.0)
        return output

    handle = trainer.model.register_forward_hook(shifted)
    try:
        again, _ = trainer.loss_terms(trainer.model, inputs)
    finally:
        handle.remove()
    for name in ("ce", "kd"):
        assert torch.allclose(again[name], terms[name], atol=1e-5), name
