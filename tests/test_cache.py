"""Teacher-output cache: same loss terms as the live teacher, compact storage, stale caches refused up front.

Tolerance: the cache stores float16, whose 11-bit significand rounds each teacher value by at most 2^-11
(~4.9e-4) relatively. Every loss term is a smooth function of those values (KL of softmaxes, MSE, relation KL
over Q K^T / sqrt(d) sums), so each per-example term moves by a few 1e-4 relatively (measured: kd 4.9e-4,
hidden 6.6e-5, attention 1.4e-4 at most): rtol 1e-2 leaves a 20x margin. atol is 1e-6 only: the attention
terms of these tiny models are ~5e-4, so an atol of 1e-3 would make their comparison vacuous.
"""

import json
import os

import numpy as np
import pytest
import torch
from conftest import POSITIVE, TINY_VOCAB, make_tokenizer, tiny_bert, tiny_dataset, tiny_token_bert, tiny_token_dataset
from datasets import Dataset, load_from_disk
from transformers import AutoTokenizer, BertTokenizerFast, DataCollatorWithPadding

from hf_distill import DistillationConfig, DistillationTrainer
from hf_distill.cache import TeacherCache, build_teacher_cache, row_key
from hf_distill.layer_map import PROJECTIONS_ATTR
from hf_distill.teacher import TeacherNeeds

RTOL, ATOL = 1e-2, 1e-6
MIXES = {
    "logit": dict(),
    "hidden_projection": dict(hidden_weight=1.0),
    "tinybert_attention": dict(hidden_weight=1.0, attention_weight=1.0),
    "minilm_relations": dict(hidden_weight=1.0, attention_weight=1.0, attention_loss="minilm", relation_heads=4),
}


def teacher_model(seed=1, **kw):
    """A random tiny teacher with logits ~0.5 apart (not ~0.01), so the KD term is far from 0."""
    model = tiny_bert(num_layers=4, hidden=32, heads=4, seed=seed, **kw)
    with torch.no_grad():
        model.classifier.weight.mul_(50)
    return model


def student_model():  # narrower than the teacher: the hidden loss goes through a projection
    return tiny_bert(num_layers=2, hidden=16, heads=4, seed=2)


def build(path, teacher=None, tokenizer=None, dataset=None, hidden=(2, 4), attention=(2, 4), parts=("q", "k", "v")):
    tok = tokenizer or make_tokenizer()
    return build_teacher_cache(
        teacher if teacher is not None else teacher_model(), tok, dataset if dataset is not None else tiny_dataset(tok),
        str(path), layers_hidden=list(hidden), layers_attention=list(attention), parts=set(parts), max_length=16,
        batch_size=4,
    )


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine two threads are ~8x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return build(tmp_path_factory.mktemp("cache") / "teacher_cache")


def make_trainer(tmp_path, teacher=None, student=None, dataset=None, tokenizer=None, **kw):
    tok = tokenizer or make_tokenizer()
    args = DistillationConfig(
        output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=8, learning_rate=1e-3,
        logging_steps=1, report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0, data_seed=0,
        **kw,
    )
    return DistillationTrainer(
        model=student if student is not None else student_model(),
        teacher=teacher,
        args=args,
        train_dataset=dataset if dataset is not None else tiny_dataset(tok),
        processing_class=tok,
        data_collator=DataCollatorWithPadding(tok),
    )


def first_batch(trainer):
    return trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))


def other_dataset(tok, n=8):
    texts = ["the plot was fun but too long", "we hate my actors", "so dull, so slow", "one two three"] * (n // 4)
    enc = tok(texts, truncation=True, max_length=16)
    return Dataset.from_dict({**enc, "labels": [i % 2 for i in range(len(texts))]}).remove_columns("token_type_ids")


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_cache_gives_the_live_teachers_terms_and_training(tmp_path, cache_dir, mix):
    kw = MIXES[mix]
    live = make_trainer(tmp_path / "live", teacher=teacher_model(), **kw)
    cached = make_trainer(tmp_path / "cached", teacher=None, teacher_cache_dir=cache_dir, **kw)
    assert cached.teacher is None and cached.teacher_cache is not None
    projections = getattr(live.model, PROJECTIONS_ATTR, None)
    if projections is not None:  # same start for both students
        getattr(cached.model, PROJECTIONS_ATTR).load_state_dict(projections.state_dict())

    inputs = first_batch(live)
    live.model.train()
    cached.model.train()
    with torch.no_grad():
        live_terms = live.loss_terms(live.model, inputs)[0]
        cached_terms = cached.loss_terms(cached.model, inputs)[0]
    assert set(cached_terms) == set(live_terms)
    for name in live_terms:
        assert live_terms[name].abs().sum() > 0, name
        torch.testing.assert_close(cached_terms[name], live_terms[name], rtol=RTOL, atol=ATOL, msg=name)

    live.train()
    cached.train()
    for (name, a), (_, b) in zip(live.model.named_parameters(), cached.model.named_parameters()):
        # 3 Adam steps of lr 1e-3 move a weight by up to ~3e-3; the fp16 targets change the gradients by ~1e-4
        # relatively, and Adam's normalisation can amplify that for near-zero gradients: measured <= 1.8e-4.
        torch.testing.assert_close(b, a, rtol=0, atol=5e-4, msg=name)
    losses = lambda t: [h["loss"] for h in t.state.log_history if "loss" in h]
    assert losses(cached) == pytest.approx(losses(live), rel=RTOL, abs=ATOL)


def test_teacher_none_reads_config_labels_and_outputs_from_cache(tmp_path):
    teacher = teacher_model(id2label=["negative", "positive"])
    path = build(tmp_path / "cache", teacher=teacher, attention=())
    student = tiny_bert(num_layers=2, hidden=16, heads=4, seed=2, id2label=["positive", "negative"])
    trainer = make_trainer(tmp_path, teacher=None, student=student, teacher_cache_dir=path, hidden_weight=1.0)
    assert trainer.teacher_config.to_dict() | {"transformers_version": None} == (
        teacher.config.to_dict() | {"transformers_version": None}
    )
    assert trainer.teacher_label_order == [1, 0]
    assert TeacherCache.read_teacher_config(path).id2label == {0: "negative", 1: "positive"}
    inputs = first_batch(trainer)
    got = trainer.teacher_outputs(inputs)
    with torch.no_grad():
        out = teacher(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], output_hidden_states=True)
    torch.testing.assert_close(got.logits, out.logits[:, [1, 0]], rtol=RTOL, atol=ATOL)
    mask = inputs["attention_mask"].bool()
    for t in (2, 4):
        torch.testing.assert_close(got.hidden[t][mask], out.hidden_states[t][mask], rtol=RTOL, atol=ATOL)
        assert not got.hidden[t][~mask].any()
    trainer.train()
    trainer.save_model(str(tmp_path / "student"))
    assert len([h for h in trainer.state.log_history if "loss" in h]) == 3


def test_cache_accepted_with_its_own_teacher_a_reloaded_tokenizer_and_a_shuffled_subset(tmp_path, cache_dir):
    make_tokenizer().save_pretrained(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    data = tiny_dataset(tok).shuffle(seed=3).select(range(20))
    trainer = make_trainer(
        tmp_path, teacher=teacher_model(), dataset=data, tokenizer=tok, teacher_cache_dir=cache_dir, hidden_weight=1.0
    )
    assert trainer.teacher_cache is not None


def permuted_tokenizer():
    """Same size as the tiny vocabulary, other ids: a different tokenizer the vocab_size check cannot see."""
    vocab = TINY_VOCAB[:5] + TINY_VOCAB[5:][::-1]
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    tok.model_max_length = 64
    return tok


STALE = {
    "other_teacher": (dict(teacher=teacher_model(seed=3)), dict(hidden_weight=1.0), "another teacher"),
    "other_teacher_config": (dict(teacher=tiny_bert(num_layers=6, hidden=32, seed=1)), {}, "config differs"),
    "missing_hidden_layer": (dict(), dict(hidden_weight=1.0, layer_map="1:1,4:2"), r"teacher layers \[1\]"),
    "missing_parts": (dict(), dict(attention_weight=1.0, attention_loss="minilm", minilm_relations="vv"), "Q/K/V"),
    "other_tokenizer": (dict(tokenizer=permuted_tokenizer()), {}, "another tokenizer"),
    "other_data": (dict(dataset=other_dataset(make_tokenizer())), {}, "not in the cache"),
}


@pytest.mark.parametrize("case", sorted(STALE))
def test_stale_cache_is_refused_before_training(tmp_path, case):
    path = build(tmp_path / "cache", attention=(4,), parts=("q", "k"))
    trainer_kw, args_kw, message = STALE[case]
    with pytest.raises(ValueError, match=message) as err:
        make_trainer(tmp_path, teacher_cache_dir=path, **trainer_kw, **args_kw)
    assert "build_teacher_cache(" in str(err.value) and f"delete {path}" in str(err.value)


def test_live_teacher_in_another_dtype_is_checked_by_its_outputs(tmp_path, cache_dir):
    """Training in bf16/fp16 casts the live teacher, so the weights hash cannot match: logits are compared."""
    same = teacher_model().to(torch.bfloat16)
    make_trainer(tmp_path, teacher=same, teacher_cache_dir=cache_dir)
    other = teacher_model(seed=3).to(torch.bfloat16)
    with pytest.raises(ValueError, match="built by another teacher"):
        make_trainer(tmp_path, teacher=other, teacher_cache_dir=cache_dir)


def test_batch_rows_not_in_cache_raise(tmp_path, cache_dir):
    trainer = make_trainer(tmp_path, teacher_cache_dir=cache_dir)
    tok = make_tokenizer()
    batch = DataCollatorWithPadding(tok)([dict(r) for r in other_dataset(tok, 4)])
    trainer.model.train()
    with pytest.raises(ValueError, match="not in the teacher cache: the cache was built on other data; rebuild it"):
        trainer.loss_terms(trainer.model, batch)


def test_storage_is_unpadded_float16_keyed_by_content(tmp_path, cache_dir):
    tok = make_tokenizer()
    data = tiny_dataset(tok)
    meta = json.loads(open(os.path.join(cache_dir, "meta.json")).read())
    stored = load_from_disk(os.path.join(cache_dir, "data"))
    distinct = {tuple(ids) for ids in data["input_ids"]}
    assert meta["num_rows"] == len(stored) == len(distinct) < meta["source_rows"] == len(data)  # duplicates shared
    assert meta["dtype"] == "float16" and meta["layers_hidden"] == [2, 4] and meta["parts"] == ["k", "q", "v"]
    for name, feature in stored.features.items():
        if name not in ("key", "length"):
            assert feature.feature.dtype == "float16", name
    assert stored.features["length"].dtype == "int32"
    table = stored.data
    index = {k: i for i, k in enumerate(table.column("key").to_pylist())}
    for ids, mask in zip(data["input_ids"], data["attention_mask"]):
        row = index[row_key(np.array(ids)[np.array(mask, dtype=bool)])]
        n = table.column("length")[row].as_py()
        assert n == sum(mask)
        for t in (2, 4):
            assert len(table.column(f"hidden_{t}")[row]) == n * 32
            assert len(table.column(f"q_{t}")[row]) == n * 32
        assert len(table.column("logits")[row]) == 2
    assert os.path.isfile(os.path.join(cache_dir, "config.json"))


def test_lookup_does_not_depend_on_padding(tmp_path, cache_dir):
    trainer = make_trainer(tmp_path, teacher_cache_dir=cache_dir, hidden_weight=1.0)
    tok = make_tokenizer()
    rows = [dict(r) for r in tiny_dataset(tok, n=6)]
    short = DataCollatorWithPadding(tok)(rows)
    long = DataCollatorWithPadding(tok, padding="max_length", max_length=20)(rows)
    needs = TeacherNeeds(hidden=(2, 4), attention=(2, 4), parts=frozenset({"q"}))
    a = trainer.teacher_cache.outputs(short, needs)
    b = trainer.teacher_cache.outputs(long, needs)
    assert torch.equal(a.logits, b.logits)
    t = a.hidden[4].shape[1]
    assert torch.equal(a.hidden[4], b.hidden[4][:, :t]) and not b.hidden[4][:, t:].any()
    assert torch.equal(a.qkv[(2, "q")], b.qkv[(2, "q")][:, :t]) and set(a.qkv) == {(2, "q"), (4, "q")}


def test_sentence_pairs_keep_token_type_ids(tmp_path):
    tok = make_tokenizer()
    teacher = teacher_model()
    enc = tok(POSITIVE, POSITIVE[::-1], truncation=True, max_length=16)
    data = Dataset.from_dict({**enc, "labels": [1] * len(POSITIVE)})
    path = build(tmp_path / "cache", teacher=teacher, dataset=data, attention=())
    assert json.loads(open(os.path.join(path, "meta.json")).read())["key"]["token_type_ids"]
    trainer = make_trainer(tmp_path, teacher=teacher, dataset=data, teacher_cache_dir=path, hidden_weight=1.0)
    inputs = first_batch(trainer)
    assert inputs["token_type_ids"].any()
    got = trainer.teacher_cache.outputs(inputs, trainer.teacher_needs)
    with torch.no_grad():
        out = teacher(**{k: v for k, v in inputs.items() if k != "labels"}, output_hidden_states=True)
    torch.testing.assert_close(got.logits, out.logits, rtol=RTOL, atol=ATOL)
    mask = inputs["attention_mask"].bool()
    torch.testing.assert_close(got.hidden[4][mask], out.hidden_states[4][mask], rtol=RTOL, atol=ATOL)
    zero_types = {k: v for k, v in inputs.items() if k != "token_type_ids"}  # other teacher input: other rows
    with pytest.raises(ValueError, match="not in the teacher cache"):
        trainer.teacher_cache.outputs(zero_types, trainer.teacher_needs)


def test_bf16_autocast_trains_from_cache_and_keeps_fp32_weights(tmp_path, cache_dir):
    """The benchmark recipe's precision: bf16 autocast on CPU, fp32 master weights, fp16 cached teacher values.

    Under autocast the student's hidden states and attention maps are bfloat16 (8-bit significand, ~4e-3 relative
    rounding) while the cache holds float16: every term must still be computed, finite, and near its fp32 value."""
    kw = MIXES["tinybert_attention"]
    fp32 = make_trainer(tmp_path / "fp32", teacher=None, teacher_cache_dir=cache_dir, **kw)
    bf16 = make_trainer(tmp_path / "bf16", teacher=None, teacher_cache_dir=cache_dir, bf16=True, **kw)
    getattr(bf16.model, PROJECTIONS_ATTR).load_state_dict(getattr(fp32.model, PROJECTIONS_ATTR).state_dict())
    inputs = first_batch(fp32)
    fp32.model.train()
    bf16.model.train()
    with torch.no_grad():
        exact = fp32.loss_terms(fp32.model, inputs)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rounded = bf16.loss_terms(bf16.model, inputs)[0]
    assert set(rounded) == set(exact) == {"ce", "kd", "hidden", "attention"}
    for name in exact:
        assert torch.isfinite(rounded[name]).all(), name
        torch.testing.assert_close(rounded[name].float().sum(), exact[name].sum(), rtol=5e-2, atol=1e-6, msg=name)

    before = {k: v.clone() for k, v in bf16.model.state_dict().items()}
    bf16.train()
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    assert any(not torch.equal(v, before[k]) for k, v in bf16.model.state_dict().items())
    logged = [h for h in bf16.state.log_history if "loss" in h]
    assert len(logged) == 3
    for h in logged:
        assert sum(h[f"loss/{n}"] for n in exact) == pytest.approx(h["loss"], rel=1e-2)


def test_cache_built_under_bf16_autocast_is_near_fp32_and_says_so(tmp_path, cache_dir):
    """A bf16 run builds its cache under bf16 autocast (2.3x faster on AMX CPUs): the stored values are the same
    teacher's within bf16 rounding (~4e-3 relative), not bit-equal (autocast really ran), and the run accepts it."""
    tok = make_tokenizer()
    fast = build_teacher_cache(teacher_model(), tok, tiny_dataset(tok), str(tmp_path / "bf16_cache"), layers_hidden=[2, 4],
                               layers_attention=[2, 4], parts={"q", "k", "v"}, max_length=16, batch_size=4,
                               autocast_dtype=torch.bfloat16)
    assert json.loads(open(os.path.join(fast, "meta.json")).read())["forward_dtype"] == "bfloat16"
    assert json.loads(open(os.path.join(cache_dir, "meta.json")).read())["forward_dtype"] == "float32"
    exact, rounded = load_from_disk(os.path.join(cache_dir, "data")), load_from_disk(os.path.join(fast, "data"))
    assert exact["key"] == rounded["key"]
    for column in ("logits", "hidden_4", "q_2"):
        a = np.concatenate([np.asarray(v, dtype=np.float32) for v in exact[column]])
        b = np.concatenate([np.asarray(v, dtype=np.float32) for v in rounded[column]])
        error = np.linalg.norm(a - b) / np.linalg.norm(a)
        assert 0 < error < 2e-2, column
    trainer = make_trainer(tmp_path, teacher=teacher_model().to(torch.bfloat16), teacher_cache_dir=fast, bf16=True,
                           **MIXES["tinybert_attention"])
    trainer.train()
    assert all(np.isfinite(h["loss"]) for h in trainer.state.log_history if "loss" in h)


def test_write_cache_runs_the_teacher_in_the_runs_precision(tmp_path, monkeypatch):
    """`distill` / `hf-distill cache` build through write_cache: bf16 training gives a bf16-autocast forward."""
    import hf_distill.cache as cache_module
    from hf_distill.data import DataArguments

    seen = {}
    monkeypatch.setattr(cache_module, "build_teacher_cache", lambda *a, **kw: seen.update(kw) or "built")
    tok = make_tokenizer()
    for bf16, expected in ((True, torch.bfloat16), (False, None)):
        config = DistillationConfig(output_dir=str(tmp_path), use_cpu=True, bf16=bf16, report_to=[], hidden_weight=1.0)
        cache_module.write_cache(config, DataArguments(task_name="sst2", max_length=16), teacher_model(), tok, student_model(),
                                 tiny_dataset(tok), str(tmp_path / "c"))
        assert seen["autocast_dtype"] == expected


def test_token_task_cache_stores_logits_per_real_token_and_gives_the_live_terms(tmp_path):
    """A token teacher's logits (B, T, C) are stored per real token, unpadded, and read back as (B, T, C) with zeros
    at padding: the cached KD/CE/hidden terms equal the live teacher's."""
    from transformers import DataCollatorForTokenClassification

    tok = make_tokenizer()
    teacher = tiny_token_bert(num_layers=4, seed=1)
    with torch.no_grad():
        teacher.classifier.weight.mul_(50)
    data = tiny_token_dataset(tok, n=16)
    path = build_teacher_cache(teacher, tok, data, str(tmp_path / "cache"), layers_hidden=[2, 4], layers_attention=[],
                               parts=set(), max_length=16, batch_size=4)
    meta = json.loads(open(os.path.join(path, "meta.json")).read())
    assert meta["logits_per_token"] is True
    stored = load_from_disk(os.path.join(path, "data"))
    assert all(len(r["logits"]) == r["length"] * 4 for r in stored)  # T_real x C values, no padding

    def trainer(cache):
        args = DistillationConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=8,
                                  report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0,
                                  hidden_weight=1.0, teacher_cache_dir=cache)
        return DistillationTrainer(model=tiny_token_bert(num_layers=2, seed=2), teacher=teacher, args=args,
                                   train_dataset=data, processing_class=tok,
                                   data_collator=DataCollatorForTokenClassification(tok))

    live, cached = trainer(None), trainer(path)
    inputs = first_batch(live)
    out_live = live.teacher_outputs(inputs)
    out_cached = cached.teacher_outputs(inputs)
    real = inputs["attention_mask"].bool()
    assert out_cached.logits.shape == out_live.logits.shape
    assert torch.allclose(out_cached.logits[real], out_live.logits[real], rtol=RTOL, atol=1e-2)
    assert (out_cached.logits[~real] == 0).all()
    live.model.train(), cached.model.train()
    t_live, _ = live.loss_terms(live.model, inputs)
    t_cached, _ = cached.loss_terms(cached.model, inputs)
    for name in ("ce", "kd", "hidden"):
        assert torch.allclose(t_cached[name], t_live[name], rtol=RTOL, atol=ATOL), name


def test_missing_needs_names_what_a_cache_lacks_of_a_chain(tmp_path):
    from hf_distill.cache import missing_needs, needs_of
    from hf_distill.config import DistillationConfig
    from hf_distill.teacher import TeacherNeeds

    meta = {"format": "hf_distill.teacher_cache", "format_version": 1, "layers_hidden": [2, 4],
            "layers_attention": [4], "parts": ["k", "q"]}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert missing_needs(tmp_path, TeacherNeeds((2, 4), (4,), frozenset("qk"))) is None  # all held
    assert missing_needs(tmp_path, TeacherNeeds((1, 2), (), frozenset())) == "hidden states of teacher layers [1]"
    assert missing_needs(tmp_path, TeacherNeeds((2,), (4,), frozenset("qkv"))) == (
        "Q/K/V parts ['k', 'q', 'v'] of teacher layers [4] (it has ['k', 'q'] of [4])")
    config = DistillationConfig(output_dir=str(tmp_path / "o"), use_cpu=True, hidden_weight=1.0)
    each = [set(needs_of(config, 4, [depth]).hidden) for depth in (3, 2, 1)]  # the uniform map of each depth
    assert each == [{1, 2, 4}, {2, 4}, {4}]
    chain = needs_of(config, 4, [3, 2, 1])  # together: what one cache for the chain holds
    assert set(chain.hidden) == {1, 2, 4} and chain.attention == ()
