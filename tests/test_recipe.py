"""The default recipe's rules (hf_distill.recipe) and the two stumbles of a new user: a teacher whose head was never
trained, and data files that start with a UTF-8 byte-order mark."""

import json
import logging

import pytest
import torch
from conftest import make_tokenizer, tiny_bert, tiny_dataset
from test_cli import FAST, sentences, write_rows
from transformers import AutoModelForSequenceClassification, BertConfig, BertModel

from hf_distill import DistillationConfig, DistillationTrainer
from hf_distill.cli import main
from hf_distill.recipe import max_length_for, scaled_learning_rate, steps_per_epoch, teacher_learning_rate, training_steps
from hf_distill.teacher import load_teacher


def test_training_steps_take_the_larger_of_epochs_and_the_floor():
    assert steps_per_epoch(67349, 32) == 2105 and steps_per_epoch(1, 32) == 1 and steps_per_epoch(64, 32) == 2
    assert training_steps(67349, 32, 2, 4000) == 4210  # large data: the epochs (the default recipe on SST-2)
    assert training_steps(4949, 32, 4, 2000) == 2000  # small data: the floor (13 epochs)
    assert training_steps(100, 32, 2.5, 0) == 10
    with pytest.raises(ValueError, match="rows_per_step"):
        steps_per_epoch(10, 0)


def test_teacher_learning_rate_by_the_size_of_the_data():
    assert teacher_learning_rate(1e-4, 5e-5, 67349, 32, 1, 2000) == 5e-5  # SST-2: 1 epoch is 2,105 steps, the floor filled
    assert teacher_learning_rate(1e-4, 5e-5, 10003, 32, 1, 2000) == 1e-4  # BANKING77: 313 steps, the floor adds 6 passes
    assert teacher_learning_rate(1e-4, 5e-5, 64000, 32, 1, 2000) == 5e-5  # exactly the floor
    assert teacher_learning_rate(1e-4, 5e-5, 63968, 32, 1, 2000) == 1e-4  # 1,999 steps
    assert teacher_learning_rate(1e-4, 5e-5, 32000, 32, 2, 2000) == 5e-5  # the epochs count
    assert teacher_learning_rate(1e-4, None, 67349, 32, 1, 2000) == 1e-4  # unset: one rate for any size
    assert teacher_learning_rate(1e-4, 5e-5, 67349, 32, 1, 0) == 1e-4  # no floor: no size rule


def test_train_teacher_uses_the_large_data_rate_when_its_epochs_fill_the_floor(tmp_path, pretrained, capsys):
    train = write_rows(tmp_path / "train.csv", sentences(24))  # 3 steps an epoch at batch 8
    fast = [a for a in FAST if a not in ("--max_steps", "3")]
    for floor, expected in (("3", 1e-3), ("4", 3e-4)):  # 1 epoch fills a 3-step floor, not a 4-step one
        out = tmp_path / floor
        assert main(["train-teacher", "--pretrained_model", pretrained, "--train_file", train, "--output_dir", str(out),
                     "--teacher_min_train_steps", floor, "--teacher_learning_rate", "3e-4",
                     "--teacher_large_data_learning_rate", "1e-3", *fast]) == 0
        args = torch.load(out / "teacher" / "training_args.bin", weights_only=False)
        assert args.learning_rate == pytest.approx(expected)
        info = json.loads((out / "teacher" / "hf_distill_teacher.json").read_text())
        assert info["learning_rate"] == pytest.approx(expected) and info["steps"] == int(floor)
    assert main(["train-teacher", "--pretrained_model", pretrained, "--train_file", train, "--output_dir",
                 str(tmp_path / "bad"), "--teacher_large_data_learning_rate", "0", *fast]) != 0
    assert "teacher_large_data_learning_rate must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "teacher").exists()


class CountingTokenizer:
    """Token length = number of words + 2 (what a BERT tokenizer gives for plain words)."""

    model_max_length = 512

    def __call__(self, texts, pairs=None, truncation=False):
        assert truncation is False
        pairs = pairs or [None] * len(texts)
        return {"input_ids": [[0] * (len(t.split()) + 2 + (len(p.split()) + 1 if p else 0)) for t, p in zip(texts, pairs)]}


def test_learning_rate_scales_inversely_with_width():
    assert scaled_learning_rate(1e-4, 768, 384) == pytest.approx(5e-5)
    assert scaled_learning_rate(1e-4, 384, 384) == pytest.approx(1e-4)
    assert scaled_learning_rate(1e-4, 192, 384) == pytest.approx(2e-4)
    assert scaled_learning_rate(3e-5, 768, None) == 3e-5  # no reference width: as given
    with pytest.raises(ValueError, match="widths must be > 0"):
        scaled_learning_rate(1e-4, 0, 384)


def test_max_length_is_the_99th_percentile_rounded_up_to_16_and_capped():
    texts = ["w " * 10] * 99 + ["w " * 300]  # one outlier in 100 rows: the percentile ignores it
    assert max_length_for(CountingTokenizer(), texts) == 16
    assert max_length_for(CountingTokenizer(), ["w " * 20] * 50) == 32  # 22 tokens -> 32
    pairs = max_length_for(CountingTokenizer(), ["w " * 20] * 50, ["w " * 20] * 50)
    assert pairs == 48  # 22 + 21 = 43 tokens -> 48: pairs are counted together
    assert max_length_for(CountingTokenizer(), ["w " * 2000] * 5) == 512  # the model's limit
    tok = CountingTokenizer()
    tok.model_max_length = int(1e30)  # "no limit" as transformers writes it: 512
    assert max_length_for(tok, ["w " * 2000] * 5) == 512


def test_min_train_steps_raises_max_steps_on_small_data(tmp_path, tokenizer):
    teacher, student = tiny_bert(num_layers=2, seed=1), tiny_bert(num_layers=1, seed=2)
    train = tiny_dataset(tokenizer, n=32)  # 4 steps an epoch at batch 8
    args = DistillationConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, num_train_epochs=1,
                              min_train_steps=10, use_cpu=True, report_to="none", save_strategy="no")
    trainer = DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=train, processing_class=tokenizer)
    assert trainer.args.max_steps == 10
    trainer.train()
    assert trainer.state.global_step == 10
    # more epochs than the floor: the epochs win, max_steps untouched
    args = DistillationConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, num_train_epochs=3,
                              min_train_steps=10, use_cpu=True, report_to="none", save_strategy="no")
    trainer = DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=train, processing_class=tokenizer)
    assert trainer.args.max_steps == -1
    with pytest.raises(ValueError, match="min_train_steps must be >= 0"):
        DistillationConfig(output_dir=str(tmp_path), min_train_steps=-1)


def test_pretrained_encoder_as_teacher_is_refused_before_training(tmp_path, capsys):
    encoder = tmp_path / "encoder"  # a pretrained encoder without a classification head
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(make_tokenizer().vocab), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)).save_pretrained(encoder)
    make_tokenizer().save_pretrained(encoder)
    with pytest.raises(ValueError, match="classifier.bias, classifier.weight.*train-teacher"):
        load_teacher(str(encoder))
    train = write_rows(tmp_path / "train.csv", sentences(16))
    out = tmp_path / "run"
    assert main(["distill", "--teacher", str(encoder), "--train_file", train, "--output_dir", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert "never trained" in err and f"train-teacher --pretrained_model {encoder}" in err
    assert not (out / "student").exists()  # refused before any training
    fine_tuned = tmp_path / "teacher"  # the same encoder with a trained head loads
    tiny_bert(num_layers=2).save_pretrained(fine_tuned)
    assert load_teacher(str(fine_tuned)).config.num_hidden_layers == 2


def test_recipe_defaults_end_to_end(tmp_path, pretrained, caplog):
    """student_init pretrained, max_length from the texts, teacher_cache_dir auto, min_train_steps, the teacher's
    floor: the defaults of recipes/sst2_minilm.yaml on tiny data."""
    train = write_rows(tmp_path / "train.csv", sentences(24))
    val = write_rows(tmp_path / "val.csv", sentences(6))
    out = tmp_path / "run"
    fast = [a for a in FAST if a not in ("--max_steps", "3")]
    caplog.set_level(logging.INFO, logger="hf_distill")
    code = main(["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--validation_file", val,
                 "--output_dir", str(out), "--student_num_layers", "2", "--student_init", "pretrained",
                 "--hidden_weight", "1", "--teacher_cache_dir", "auto", "--min_train_steps", "7",
                 "--teacher_min_train_steps", "5", "--num_train_epochs", "1", "--learning_rate", "1e-4",
                 "--teacher_learning_rate", "3e-4", "--teacher_lr_reference_width", "16", "--results_file",
                 str(tmp_path / "res.json"), *fast])
    assert code == 0
    info = json.loads((out / "student" / "hf_distill.json").read_text())
    assert info["steps"] == 7 and info["student_init"] == "pretrained" and info["train_rows"] == 24
    assert info["max_length"] == 16  # 99th percentile of these short rows, rounded up to 16
    assert info["learning_rate"] == pytest.approx(1e-4)  # the student's rate as given, whatever its width
    assert "train-teacher learning rate 0.00015" in caplog.text  # 3e-4 for width 16, the teacher is 32 wide
    assert (out / "teacher_cache" / "meta.json").is_file()
    teacher_eval = json.loads((out / "teacher" / "eval_results.json").read_text())
    assert teacher_eval["epoch"] == pytest.approx(5 / 3)  # 5 steps of 3 an epoch: the floor, not the 1 epoch
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["wall_s"] >= sum(res["wall_time"].values()) - 1e-6


def test_student_init_pretrained_copies_the_base_layers_with_the_teachers_labels(tmp_path, pretrained):
    from hf_distill.arguments import ModelArguments
    from hf_distill.student import build_student

    teacher = tiny_bert(num_layers=4, hidden=32, heads=4, seed=9, id2label=["negative", "positive"])
    args = ModelArguments(pretrained_model=pretrained, student_num_layers=2, student_init="pretrained")
    student = build_student(args, teacher)
    base = AutoModelForSequenceClassification.from_pretrained(pretrained)
    assert torch.equal(student.bert.encoder.layer[0].attention.self.query.weight,
                       base.bert.encoder.layer[0].attention.self.query.weight)  # layer 1 of the base (layers 1, 3 of 4)
    assert torch.equal(student.bert.encoder.layer[1].output.dense.weight, base.bert.encoder.layer[2].output.dense.weight)
    assert student.config.id2label == {0: "negative", 1: "positive"}
    other = tmp_path / "other"  # another architecture width: refused with the fix
    tiny_bert(num_layers=2, hidden=16, heads=2).save_pretrained(other)
    with pytest.raises(ValueError, match="Pass the teacher's own base as --pretrained_model"):
        build_student(ModelArguments(pretrained_model=str(other), student_num_layers=2, student_init="pretrained"), teacher)
    with pytest.raises(ValueError, match="student_init must be one of"):
        ModelArguments(student_init="random")


def test_labels_only_never_runs_the_teacher(tmp_path, tokenizer):
    teacher, student = tiny_bert(num_layers=2, seed=1), tiny_bert(num_layers=1, seed=2)

    def refuse(*args, **kwargs):
        raise AssertionError("the teacher ran although no term reads it")

    teacher.forward = refuse
    args = DistillationConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, max_steps=2, use_cpu=True,
                              report_to="none", save_strategy="no", hard_label_weight=1.0, logit_weight=0.0)
    assert not args.uses_teacher
    trainer = DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=tiny_dataset(tokenizer, n=16),
                                  processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 2


def test_a_new_student_head_is_seeded_whatever_ran_before(tmp_path):
    """student_init pretrained draws a new head: with the same seed it is the same head, whatever the global RNG
    state was (two identical runs must train the same student)."""
    from hf_distill.arguments import ModelArguments
    from hf_distill.commands.distill import prepare
    from hf_distill.data import DataArguments

    encoder = str(tmp_path / "encoder")  # a bare encoder, as on the Hub: no classification head to copy
    tiny_bert(num_layers=4, hidden=32, heads=4, seed=3).bert.save_pretrained(encoder)
    make_tokenizer().save_pretrained(encoder)

    train = write_rows(tmp_path / "train.csv", sentences(12))
    seeded = lambda seed: DistillationConfig(output_dir=str(tmp_path / "o"), seed=seed, use_cpu=True)  # noqa: E731
    teacher = tmp_path / "teacher"
    tiny_bert(num_layers=4, hidden=32, heads=4, seed=3, id2label=["negative", "positive"]).save_pretrained(teacher)
    make_tokenizer().save_pretrained(teacher)
    heads = []
    for noise in (1, 2):
        torch.manual_seed(noise)
        torch.rand(noise * 7)
        args = ModelArguments(pretrained_model=encoder, student_num_layers=2, student_init="pretrained")
        student = prepare(args, DataArguments(train_file=train, max_length=16), str(teacher), "distill", seeded(42))[3]
        heads.append(student.classifier.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])
    torch.manual_seed(0)
    other = prepare(ModelArguments(pretrained_model=encoder, student_num_layers=2, student_init="pretrained"),
                    DataArguments(train_file=train, max_length=16), str(teacher), "distill", seeded(7))[3]
    assert not torch.equal(other.classifier.weight, heads[0])  # the seed is what decides


def test_pair_rule_adds_copies_for_pairs_only_and_the_epochs_count_the_real_rows(tmp_path):
    from hf_distill.data import DataArguments, load_task_data
    from hf_distill.recipe import apply_pair_augmentation, pair_copies

    assert pair_copies(4949, 30000) == 6 and pair_copies(5749, 30000) == 5 and pair_copies(40000, 30000) == 0
    assert pair_copies(100, 30000) == 8 and pair_copies(100, 0) == 0  # at most 8; rule off
    pairs = write_rows(tmp_path / "pairs.jsonl", [{"premise": r["sentence"], "hypothesis": "a great movie",
                                                   "label": r["label"]} for r in sentences(10)])
    single = write_rows(tmp_path / "single.jsonl", sentences(10))

    def run(path, pair, **config_kw):
        data_args = DataArguments(train_file=path, augment_pairs_to_rows=30, text_column="premise" if pair else None,
                                  text_pair_column="hypothesis" if pair else None)
        config = DistillationConfig(output_dir=str(tmp_path / "o"), num_train_epochs=4, use_cpu=True, **config_kw)
        copies = apply_pair_augmentation(data_args, load_task_data(data_args), config)
        return copies, data_args.augment_copies, config.num_train_epochs

    assert run(pairs, True) == (2, 2, 4 / 3)  # 10 rows -> 30: 2 copies; 4 epochs of the real rows
    assert run(single, False) == (0, 0, 4)
    assert run(pairs, True, hard_label_weight=1.0, logit_weight=0.0) == (0, 0, 4)  # labels only: copies teach nothing


def test_pair_assistant_depths_are_evenly_spaced_between_student_and_teacher():
    from hf_distill.recipe import pair_assistant_depths

    assert pair_assistant_depths(6, 3, 2) == [5, 4]  # every depth between: one layer at a time
    assert pair_assistant_depths(12, 6, 2) == [10, 8] and pair_assistant_depths(12, 3, 2) == [9, 6]
    assert pair_assistant_depths(6, 3, 1) == [5] and pair_assistant_depths(4, 2, 2) == [3]
    assert pair_assistant_depths(6, 5, 2) == [] and pair_assistant_depths(6, 3, 0) == []  # none between; rule off


def test_pair_rule_assistants_for_small_pairs_cut_by_depth_only(tmp_path):
    from hf_distill.arguments import ModelArguments
    from hf_distill.data import DataArguments, load_task_data
    from hf_distill.recipe import apply_pair_assistants

    pairs = write_rows(tmp_path / "pairs.jsonl", [{"premise": r["sentence"], "hypothesis": "a great movie",
                                                   "label": r["label"]} for r in sentences(10)])
    single = write_rows(tmp_path / "single.jsonl", sentences(10))

    def rule(path, pair=True, to_rows=30, copies=0, **model_kw):
        data_args = DataArguments(train_file=path, augment_pairs_to_rows=to_rows, augment_copies=copies,
                                  text_column="premise" if pair else None, text_pair_column="hypothesis" if pair else None)
        model_args = ModelArguments(**{"pair_assistants": 2, **model_kw})
        return apply_pair_assistants(model_args, data_args, load_task_data(data_args), 6).assistant_layers

    assert rule(pairs) == "5,4"  # the default student: 3 layers of 6
    assert rule(pairs, student_num_layers=4) == "5"
    assert rule(single, pair=False) is None  # single texts: none
    assert rule(pairs, to_rows=10) is None  # pair data too large for copies: none (measured on small data only)
    assert rule(pairs, copies=2) is None  # copies given by hand: the user's recipe, not the rule
    assert rule(pairs, pair_assistants=0) is None
    assert rule(pairs, assistant_layers="4") == "4"  # given: kept
    assert rule(pairs, student_num_layers=None, student_layers="1,2") is None  # not a cut by depth
    assert rule(pairs, student_width="64:2:128") is None


def test_distill_on_pairs_counts_the_real_rows_and_scales_the_steps_through_assistants(tmp_path, pretrained):
    pairs = write_rows(tmp_path / "train.jsonl", [{"premise": r["sentence"], "hypothesis": "i love this story",
                                                   "label": r["label"]} for r in sentences(16)])
    out = tmp_path / "run"
    code = main(["pipeline", "--pretrained_model", pretrained, "--train_file", pairs, "--validation_file", pairs,
                 "--text_column", "premise", "--text_pair_column", "hypothesis", "--augment_pairs_to_rows", "48",
                 "--pair_assistants", "2", "--assistant_steps_fraction", "0.5", "--assisted_steps_fraction", "0.5",
                 "--assisted_cut", "top",
                 "--output_dir", str(out), "--student_num_layers", "2", *[a for a in FAST if a not in ("--max_steps", "3")],
                 "--num_train_epochs", "2"])
    assert code == 0
    info = json.loads((out / "student" / "hf_distill.json").read_text())
    assert info["augment"]["copies"] == 2 and info["train_rows"] == 48
    assert info["steps"] == 2  # half (assisted_steps_fraction) of 2 epochs of the 16 real rows at batch 8, not of the 48
    assistant = out / "student_assistant_l3"  # the pair rule: 3 layers between the teacher's 4 and the student's 2
    assert info["assistants"] == [{"layers": 3, "folder": str(assistant)}]
    made = json.loads((assistant / "hf_distill.json").read_text())
    assert made["steps"] == 1 and made["augment"]["copies"] == 2  # half the student's steps, on the same copies
    stage = json.loads((assistant / "hf_distill_run.json").read_text())
    assert stage["pair_assistants"] == 0 and stage["assistant_layers"] is None  # a stage gets no assistants of its own
    cut = json.loads((out / "student" / "hf_distill_run.json").read_text())
    assert (cut["pretrained_model"], cut["student_layers"]) == (str(assistant), "1,3")  # the assistant's top layer kept
    second = AutoModelForSequenceClassification.from_pretrained(out / "student").bert.encoder.layer[1].output.dense.weight
    layers = AutoModelForSequenceClassification.from_pretrained(assistant).bert.encoder.layer
    assert (second - layers[2].output.dense.weight).norm() < (second - layers[1].output.dense.weight).norm() / 10


def test_cut_layers_keeps_the_bottom_or_the_top_layer():
    from hf_distill.commands.distill import cut_layers

    assert cut_layers(3, 4, "bottom") == "1,2,3" and cut_layers(3, 4, "top") == "1,2,4"
    assert cut_layers(1, 3, "top") == "3" and cut_layers(4, 4, "top") == "1,2,3,4"  # all of it: nothing to choose


def test_token_rule_sets_the_intermediate_weights_for_per_token_tasks_only(tmp_path):
    from test_cli import tagged, write_conll

    from hf_distill.data import DataArguments, load_task_data
    from hf_distill.recipe import apply_token_rule

    def run(path, **config_kw):
        config = DistillationConfig(output_dir=str(tmp_path / "o"), use_cpu=True, hidden_weight=3.0, attention_weight=0.1,
                                    **config_kw)
        changed = apply_token_rule(load_task_data(DataArguments(train_file=path)), config)
        return changed, config.hidden_weight, config.attention_weight, config.min_train_steps

    conll = write_conll(tmp_path / "train.txt", tagged(8))
    single = write_rows(tmp_path / "single.jsonl", sentences(10))
    rule = dict(token_hidden_weight=1.0, token_attention_weight=0.0, token_min_train_steps=4000, min_train_steps=2000)
    assert run(conll, **rule) == (True, 1.0, 0.0, 4000)
    assert run(single, **rule) == (False, 3.0, 0.1, 2000)  # sequence tasks keep the recipe's weights and steps
    assert run(conll, min_train_steps=2000) == (False, 3.0, 0.1, 2000)  # no rule set: as given
    with pytest.raises(ValueError, match="token_attention_weight must be >= 0"):
        DistillationConfig(output_dir=str(tmp_path / "o"), use_cpu=True, token_attention_weight=-1.0)


def test_unlabeled_rows_scale_the_epochs_to_count_the_training_rows(tmp_path):
    from hf_distill.recipe import apply_unlabeled_rows

    config = DistillationConfig(output_dir=str(tmp_path / "o"), num_train_epochs=4, use_cpu=True)
    apply_unlabeled_rows(config, rows=10, unlabeled_rows=30)
    assert config.num_train_epochs == 1.0  # 4 passes over the 10 rows are 1 pass over the 40
    apply_unlabeled_rows(config, rows=10, unlabeled_rows=0)
    assert config.num_train_epochs == 1.0


def test_unlabeled_rows_train_the_teacher_terms_only_and_do_not_lengthen_training(tmp_path, pretrained):
    from hf_distill.arguments import ModelArguments
    from hf_distill.commands.distill import prepare
    from hf_distill.data import DataArguments

    train = write_rows(tmp_path / "train.csv", sentences(16))
    texts = write_rows(tmp_path / "unlabeled.jsonl", [{"sentence": r["sentence"] + " again", "id": i}
                                                      for i, r in enumerate(sentences(40))])
    out = tmp_path / "run"
    code = main(["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--validation_file", train,
                 "--unlabeled_file", texts, "--max_unlabeled_samples", "32", "--output_dir", str(out),
                 "--student_num_layers", "2", *[a for a in FAST if a not in ("--max_steps", "3")],
                 "--num_train_epochs", "1"])
    assert code == 0
    info = json.loads((out / "student" / "hf_distill.json").read_text())
    assert info["train_rows"] == 48 and info["unlabeled"] == {"file": texts, "max_samples": 32}
    assert info["steps"] == 2  # 1 epoch of the 16 training rows at batch 8, not of the 48

    data_args = DataArguments(train_file=train, unlabeled_file=texts, max_length=16)
    config = DistillationConfig(output_dir=str(tmp_path / "o"), use_cpu=True)
    rows = prepare(ModelArguments(student_num_layers=2), data_args, str(out / "teacher"), "distill", config)[4]
    assert len(rows) == 56 and set(rows["labels"][16:]) == {-100} and -100 not in rows["labels"][:16]
    labels_only = DistillationConfig(output_dir=str(tmp_path / "o"), use_cpu=True, hard_label_weight=1.0,
                                     logit_weight=0.0)
    assert len(prepare(ModelArguments(student_num_layers=2), data_args, str(out / "teacher"), "distill",
                       labels_only)[4]) == 16  # no teacher term: the unlabelled rows would teach nothing


def test_a_bad_unlabeled_file_is_refused_before_the_teacher_trains(tmp_path, pretrained, capsys):
    train = write_rows(tmp_path / "train.csv", sentences(16))
    wrong = write_rows(tmp_path / "unlabeled.jsonl", [{"text": r["sentence"]} for r in sentences(8)])
    out = tmp_path / "run"
    argv = ["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--output_dir", str(out), *FAST]
    assert main([*argv, "--unlabeled_file", wrong]) == 2
    assert "has columns ['text'] but not ['sentence']" in capsys.readouterr().err
    assert main([*argv, "--unlabeled_file", str(tmp_path / "missing.jsonl")]) == 2
    assert "Check the path passed as --unlabeled_file" in capsys.readouterr().err
    assert main([*argv, "--unlabeled_file", str(tmp_path / "words.conll")]) == 2
    assert "Unsupported file type for --unlabeled_file" in capsys.readouterr().err
    assert not (out / "teacher").exists()  # nothing trained
