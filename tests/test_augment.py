"""Teacher-labelled augmentation: the copies, their missing gold labels, and how the loss treats them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_tokenizer, tiny_bert, tiny_dataset
from datasets import Dataset
from test_trainer import make_trainer

from hf_distill import losses
from hf_distill.augment import augment_split, augment_texts, mix_pairs, word_frequencies, word_neighbours
from hf_distill.data import TaskData, tokenize_split

SENTENCES = ["a great movie with really good actors", "the worst plot i have seen", "fun", "boring and not fun at all"]


def task(pair=False):
    columns = {"sentence": SENTENCES, "label": [1, 0, 1, 0]}
    if pair:
        columns["other"] = ["one two three", "it was so bad", "good", "the film"]
    split = Dataset.from_dict(columns)
    data = TaskData(train=split, validation=None, selection=None, text_column="sentence",
                    text_pair_column="other" if pair else None, label_column="label",
                    label_names=["negative", "positive"], is_regression=False)
    return data, split


def test_copies_skip_short_rows_differ_from_source_and_repeat_by_seed():
    data, split = task()
    out = augment_split(split, data, copies=3, mask_prob=0.2, replace_prob=0.2, min_words=4, seed=7)
    sources = [s for s in SENTENCES if len(s.split()) >= 4]
    assert len(out) == 3 * len(sources)
    assert out.column_names == ["sentence", "label"]
    for i, text in enumerate(out["sentence"]):
        source = sources[i // 3]
        assert text != source and len(text.split()) == len(source.split())  # word for word, >= 1 word changed
    assert out["label"] == [1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert augment_split(split, data, copies=3, min_words=4, seed=7)["sentence"] == \
        augment_split(split, data, copies=3, min_words=4, seed=7)["sentence"]
    assert augment_split(split, data, copies=3, min_words=4, seed=8)["sentence"] != \
        augment_split(split, data, copies=3, min_words=4, seed=7)["sentence"]


def test_mask_and_replace_rates_and_replacements_come_from_the_corpus():
    texts = [" ".join(f"w{i % 50}" for i in range(j, j + 40)) for j in range(200)]
    vocabulary = word_frequencies(texts)
    rng = np.random.default_rng(0)
    out = augment_texts(texts, 1, 0.1, 0.2, "[MASK]", rng, vocabulary)
    changed = masked = total = 0
    for text, (copy,) in zip(texts, out):
        for a, b in zip(text.split(), copy.split()):
            total += 1
            masked += b == "[MASK]"
            changed += a != b and b != "[MASK]"
            assert b == "[MASK]" or b in vocabulary[0]
    assert masked / total == pytest.approx(0.1, abs=0.01)
    # a replacement draws the same word 1 time in 50
    assert changed / total == pytest.approx(0.2 * 49 / 50, abs=0.015)


def test_pairs_keep_both_columns_and_bad_settings_are_refused():
    data, split = task(pair=True)
    out = augment_split(split, data, copies=1, min_words=5, seed=0)
    assert out.column_names == ["sentence", "other", "label"] and len(out) == 3  # "fun" + "good" has 2 words
    with pytest.raises(ValueError, match="min_words"):
        augment_split(split, data, min_words=100)
    with pytest.raises(ValueError, match="sum to <= 1"):
        augment_split(split, data, mask_prob=0.7, replace_prob=0.5)


def test_mixed_pairs_swap_and_cross_at_their_rates():
    first, second = [f"a{i}" for i in range(4000)], [f"b{i}" for i in range(4000)]
    f, s = mix_pairs(first, second, swap_prob=1.0, cross_prob=0.0, rng=np.random.default_rng(0))
    assert f == second and s == first
    f, s = mix_pairs(first, second, swap_prob=0.0, cross_prob=0.0, rng=np.random.default_rng(0))
    assert f == first and s == second
    f, s = mix_pairs(first, second, swap_prob=0.3, cross_prob=0.2, rng=np.random.default_rng(0))
    swapped = [x.startswith("b") for x in f]
    assert np.mean(swapped) == pytest.approx(0.3, abs=0.025)
    # a crossed pair: another row's second text (1 draw in 4,000 lands on its own)
    pairs = [(x, y) if not sw else (y, x) for x, y, sw in zip(f, s, swapped)]
    assert all(a.startswith("a") and b.startswith("b") for a, b in pairs)
    assert np.mean([a[1:] != b[1:] for a, b in pairs]) == pytest.approx(0.2, abs=0.025)
    with pytest.raises(ValueError, match="as many"):
        mix_pairs(first, second[:-1], 0.5, 0.5, np.random.default_rng(0))


def test_word_neighbours_rank_by_shared_words_and_skip_the_own_pair():
    queries = ["the cat sat on the mat", "stocks fell sharply today", "a dog ran in the park"]
    documents = ["a cat sat on a mat", "the dog ran through the park", "markets and stocks fell today",
                 "the cat is on the mat"]
    near = word_neighbours(queries, documents, k=2)
    assert near.shape == (3, 2)
    assert near[0, 0] == 3 and 0 not in near[0]  # its own document (0) is left out though it matches best
    assert near[1, 0] == 2 and 1 not in near[1]
    assert near[2, 0] == 1 and 2 not in near[2]  # "markets and stocks" shares no word with the dog in the park
    with pytest.raises(ValueError, match="k must be in"):
        word_neighbours(queries, documents, k=4)


def test_crossing_with_neighbours_draws_the_second_text_from_the_partners():
    first, second = [f"a{i}" for i in range(100)], [f"b{i}" for i in range(100)]
    partners = np.array([[(i + 1) % 100, (i + 2) % 100] for i in range(100)])
    f, s = mix_pairs(first, second, swap_prob=0.0, cross_prob=1.0, rng=np.random.default_rng(0), partners=partners)
    assert f == first and all(int(b[1:]) in partners[i] for i, b in enumerate(s))
    assert {(int(b[1:]) - i) % 100 for i, b in enumerate(s)} == {1, 2}  # both partners drawn
    with pytest.raises(ValueError, match="partners must be"):
        mix_pairs(first, second, 0.0, 1.0, np.random.default_rng(0), partners=partners[:5])


def test_pair_copies_cross_to_a_neighbours_copy():
    first = ["red apples are sweet", "blue cars drive fast", "green apples taste sour", "fast red cars race"]
    second = ["sweet red fruit grows here", "cars that are blue", "sour fruit that is green", "racing cars are red"]
    data = TaskData(train=Dataset.from_dict({"sentence": first, "other": second, "label": [1, 0, 1, 0]}),
                    validation=None, selection=None, text_column="sentence", text_pair_column="other",
                    label_column="label", label_names=["negative", "positive"], is_regression=False)
    out = augment_split(data.train, data, copies=3, mask_prob=0.0, replace_prob=0.0, seed=0, cross_prob=1.0,
                        cross_neighbours=1)
    near = word_neighbours(first, second, k=1)[:, 0]
    # no word is perturbed (copies differ from their source by one masked word), so each copy's second text is a copy
    # of its row's neighbour: it shares that neighbour's words but one
    for i, text in enumerate(out["other"]):
        source = set(second[near[i // 3]].split())
        assert len(source - set(text.split())) <= 1, (i, text)


def test_neighbours_without_crossing_are_refused():
    from hf_distill.data import DataArguments

    with pytest.raises(ValueError, match="set augment_cross_prob"):
        DataArguments(task_name="sst2", augment_cross_neighbours=3)
    assert DataArguments(task_name="sst2", augment_cross_neighbours=3, augment_cross_prob=0.2).augment_cross_neighbours == 3


def test_pair_mixing_applies_to_pair_copies_only():
    data, split = task(pair=True)
    out = augment_split(split, data, copies=2, min_words=5, seed=0, swap_prob=1.0)
    assert len(out) == 6 and all(len(a.split()) < len(b.split()) for a, b in zip(out["sentence"], out["other"]))
    single, single_split = task()  # one recipe for both kinds: single texts get their copies, unmixed
    assert augment_split(single_split, single, min_words=4, seed=3, swap_prob=1.0, cross_prob=1.0)["sentence"] == \
        augment_split(single_split, single, min_words=4, seed=3)["sentence"]
    with pytest.raises(ValueError, match=r"chances in \[0, 1\]"):
        augment_split(split, data, cross_prob=1.5)


def test_copies_tokenize_without_gold_labels():
    data, split = task()
    out = tokenize_split(augment_split(split, data, min_words=4), data, make_tokenizer(), 16, {"negative": 0, "positive": 1},
                         gold_labels=False)
    assert set(out["labels"]) == {-100} and all(len(ids) > 2 for ids in out["input_ids"])


def test_hard_label_loss_skips_rows_without_gold_label():
    logits = torch.randn(4, 3)
    labels = torch.tensor([2, -100, 0, -100])
    got = losses.hard_label_loss(logits, labels)
    assert got[1] == 0 and got[3] == 0
    assert torch.allclose(got[[0, 2]], F.cross_entropy(logits[[0, 2]], labels[[0, 2]], reduction="none"))
    reg = losses.hard_label_loss(torch.tensor([[1.0], [5.0]]), torch.tensor([3.0, -100.0]))
    assert reg.tolist() == [4.0, 0.0]


def test_loss_is_a_mean_over_rows_labelled_or_not(tmp_path):
    """Trainer counts num_items_in_batch as labels != -100; the distillation loss is per row, so it must count rows
    (else teacher-labelled rows would inflate the loss, and a batch of them would divide by zero)."""
    tok = make_tokenizer()
    rows = tiny_dataset(tok, n=16)
    rows = rows.map(lambda r, i: {"labels": r["labels"] if i % 2 else -100}, with_indices=True)
    trainer = make_trainer(tmp_path, dataset=rows, per_device_train_batch_size=8, gradient_accumulation_steps=2,
                           hidden_weight=1.0)
    batches = [trainer._prepare_inputs(b) for b in trainer.get_train_dataloader()]
    assert trainer._get_num_items_in_batch(batches, torch.device("cpu")) == 16
    unlabelled = [trainer._prepare_inputs(b) for b in trainer.get_train_dataloader()]
    for b in unlabelled:
        b["labels"][:] = -100
    assert trainer._get_num_items_in_batch(unlabelled, torch.device("cpu")) == 16
    trainer.model.train()
    terms, _ = trainer.loss_terms(trainer.model, batches[0])
    loss = trainer.compute_loss(trainer.model, batches[0], num_items_in_batch=8)
    assert loss.item() == pytest.approx(torch.stack(list(terms.values())).sum(0).mean().item(), rel=1e-5)
    assert trainer.compute_loss(trainer.model, unlabelled[0], num_items_in_batch=8).isfinite()


def test_augmented_rows_train_from_the_teacher_cache(tmp_path):
    from datasets import concatenate_datasets

    from hf_distill import build_teacher_cache

    data, split = task()
    tok = make_tokenizer()
    label2id = {"negative": 0, "positive": 1}
    gold = tokenize_split(split, data, tok, 16, label2id)
    extra = tokenize_split(augment_split(split, data, copies=2, min_words=4), data, tok, 16, label2id, gold_labels=False)
    rows = concatenate_datasets([gold, extra])
    teacher = tiny_bert(num_layers=4, hidden=32, seed=1)
    build_teacher_cache(teacher, tok, rows, tmp_path / "cache", layers_hidden=[2, 4], layers_attention=[], parts=set(),
                        max_length=16)
    trainer = make_trainer(tmp_path / "run", student=tiny_bert(num_layers=2, hidden=32, seed=2), teacher=teacher,
                           dataset=rows, hidden_weight=1.0, teacher_cache_dir=str(tmp_path / "cache"), max_steps=3,
                           per_device_train_batch_size=5)
    result = trainer.train()
    assert result.global_step == 3 and np.isfinite(result.training_loss) and result.training_loss > 0
