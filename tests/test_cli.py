"""hf-distill end to end on tiny local data: recipes, overrides, unknown keys, single sentences and pairs."""

import json
import re

import pytest
import torch
from conftest import NEGATIVE, POSITIVE, make_tokenizer, tiny_bert
from transformers import AutoModelForSequenceClassification

from hf_distill.cli import main, parse


def write_rows(path, rows):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        sep = "\t" if path.suffix == ".tsv" else ","
        keys = list(rows[0])
        path.write_text("\n".join([sep.join(keys)] + [sep.join(str(r[k]) for k in keys) for r in rows]) + "\n")
    return str(path)


def sentences(n):
    return [
        {"sentence": (POSITIVE if i % 2 else NEGATIVE)[i % 5], "label": "positive" if i % 2 else "negative"}
        for i in range(n)
    ]


FAST = ["--max_steps", "3", "--per_device_train_batch_size", "8", "--use_cpu", "true", "--report_to", "none",
        "--latency_runs", "2", "--latency_warmup", "1", "--save_strategy", "no", "--logging_steps", "1"]


def test_pipeline_single_sentences(tmp_path, pretrained):
    train = write_rows(tmp_path / "train.csv", sentences(24))
    val = write_rows(tmp_path / "val.csv", sentences(10))
    out = tmp_path / "run"
    code = main(["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--validation_file", val,
                 "--output_dir", str(out), "--student_num_layers", "2", "--hidden_weight", "1",
                 "--attention_weight", "1", "--results_file", str(tmp_path / "res.json"), *FAST])
    assert code == 0
    for path in ("teacher/config.json", "student/model.safetensors", "student/README.md", "report.json", "report.md"):
        assert (out / path).is_file(), path
    student = AutoModelForSequenceClassification.from_pretrained(out / "student")
    assert student.config.num_hidden_layers == 2
    assert student.config.id2label == {0: "negative", 1: "positive"}  # names from the data
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["student"]["num_layers"] == 2 and 0 <= res["student"]["accuracy"] <= 1 and "retention" in res
    card = (out / "student" / "README.md").read_text()
    assert "hf_distill" in card and "2:1,4:2" in card


def test_pair_task_from_jsonl(tmp_path, pretrained):
    rows = [{"premise": r["sentence"], "hypothesis": "i love this story", "label": r["label"]} for r in sentences(16)]
    train = write_rows(tmp_path / "train.jsonl", rows)
    val = write_rows(tmp_path / "val.jsonl", rows[:6])
    out = tmp_path / "pair"
    code = main(["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--validation_file", val,
                 "--text_column", "premise", "--text_pair_column", "hypothesis", "--output_dir", str(out),
                 "--student_num_layers", "2", *FAST])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["student"]["num_layers"] == 2


def test_recipe_with_overrides_and_unknown_keys(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("task_name: sst2\ntrain_file: a.tsv\nhidden_weight: 2.0\ntemperature: 3\n")
    model_args, data_args, config, *_ = parse(["--config", str(recipe), "--temperature", "4", "--output_dir", str(tmp_path)])
    assert config.hidden_weight == 2.0 and config.temperature == 4.0 and data_args.train_file == "a.tsv"
    assert model_args.student_num_layers == 3

    recipe.write_text("task_name: sst2\ntrain_file: a.tsv\nhiden_weight: 2.0\n")
    with pytest.raises(ValueError, match="'hiden_weight' \\(did you mean 'hidden_weight'\\?\\)"):
        parse(["--config", str(recipe)])
    with pytest.raises(ValueError, match="--temprature \\(did you mean --temperature\\?\\)"):
        parse(["--train_file", "a.tsv", "--temprature", "2"])
    assert main(["distill", "--config", str(recipe)]) == 2  # reported as an error, not a traceback


def test_bad_data_fails_before_training(tmp_path, pretrained):
    empty = tmp_path / "empty.csv"
    empty.write_text("sentence,label\n")
    code = main(["train-teacher", "--pretrained_model", pretrained, "--train_file", str(empty),
                 "--output_dir", str(tmp_path / "o"), *FAST])
    assert code == 2
    no_label = write_rows(tmp_path / "nolabel.csv", [{"sentence": "good", "stars": 5}])
    assert main(["train-teacher", "--pretrained_model", pretrained, "--train_file", no_label,
                 "--output_dir", str(tmp_path / "o"), *FAST]) == 2
    assert not (tmp_path / "o").exists()  # nothing written


def test_distill_missing_teacher(tmp_path, capsys):
    train = write_rows(tmp_path / "train.csv", sentences(8))
    code = main(["distill", "--teacher", str(tmp_path / "nope"), "--train_file", train,
                 "--output_dir", str(tmp_path / "o"), *FAST])
    assert code == 2
    assert "Teacher not found" in capsys.readouterr().err


def test_failed_push_keeps_everything_and_no_token_is_written(tmp_path, pretrained, capsys):
    """Offline (HF_HUB_OFFLINE=1 from conftest) the push fails: clear error, local student and card intact."""
    token = "hf_SECRETcli0987654321"
    train = write_rows(tmp_path / "train.csv", sentences(16))
    val = write_rows(tmp_path / "val.csv", sentences(6))
    out = tmp_path / "run"
    code = main(["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--validation_file", val,
                 "--output_dir", str(out), "--student_num_layers", "2", "--push_to_hub", "true",
                 "--hub_model_id", "me/tiny-student", "--hub_token", token, *FAST])
    err = capsys.readouterr().err
    assert code == 2
    assert "hf-distill push --student_dir" in err and token not in err
    assert (out / "student" / "model.safetensors").is_file() and (out / "student" / "README.md").is_file()
    for path in out.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_pipeline_with_teacher_cache(tmp_path, pretrained):
    train = write_rows(tmp_path / "train.csv", sentences(24))
    val = write_rows(tmp_path / "val.csv", sentences(6))
    out, cache = tmp_path / "run", tmp_path / "cache"
    code = main(["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--validation_file", val,
                 "--output_dir", str(out), "--student_num_layers", "2", "--hidden_weight", "1", "--attention_weight",
                 "1", "--teacher_cache_dir", str(cache), *FAST])
    assert code == 0
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["layers_hidden"] == [2, 4] and sorted(meta["parts"]) == ["k", "q"]
    assert (out / "student" / "model.safetensors").is_file()


def test_student_width_builds_the_sliced_student_search_prints():
    """`--student_width` (what `search` prints for a sliced shape) slices the copied layers; bad specs are named."""
    from hf_distill.arguments import ModelArguments
    from hf_distill.student import build_student

    teacher = tiny_bert(num_layers=4, hidden=32, heads=4, seed=3)  # head size 8
    student = build_student(ModelArguments(student_num_layers=2, student_width="16:2:32"), teacher)
    assert (student.config.num_hidden_layers, student.config.hidden_size) == (2, 16)
    assert (student.config.num_attention_heads, student.config.intermediate_size) == (2, 32)
    emb = teacher.bert.embeddings.word_embeddings.weight
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, emb[:, :16])
    with pytest.raises(ValueError, match="hidden:heads:ffn"):
        build_student(ModelArguments(student_num_layers=2, student_width="16x2"), teacher)
    with pytest.raises(ValueError, match="num_attention_heads=2"):
        build_student(ModelArguments(student_num_layers=2, student_width="16:4:32"), teacher)


def test_card_of_a_distilled_then_evaluated_student_records_both_commands(tmp_path):
    """`distill` records its command beside the student; `evaluate` writes the card with both, tokens redacted,
    and never the caller's own argv (here pytest's)."""
    teacher = tmp_path / "teacher"
    tiny_bert(num_layers=4, hidden=32, heads=4, seed=1, id2label=["negative", "positive"]).save_pretrained(teacher)
    make_tokenizer().save_pretrained(teacher)
    train = write_rows(tmp_path / "train.csv", sentences(24))
    val = write_rows(tmp_path / "val.csv", sentences(10))
    common = ["--teacher", str(teacher), "--train_file", train, "--validation_file", val,
              "--output_dir", str(tmp_path / "run"), "--student_num_layers", "2", *FAST]
    assert main(["distill", *common, "--hub_token", "hf_secret"]) == 0
    assert main(["evaluate", *common]) == 0
    card = (tmp_path / "run" / "student" / "README.md").read_text()
    reproduce = card.split("## Reproduce", 1)[1]
    distill_at, evaluate_at = reproduce.find("hf-distill distill --teacher"), reproduce.find("hf-distill evaluate --teacher")
    assert 0 <= distill_at < evaluate_at
    block = reproduce.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in block] == [["hf-distill", "distill"], ["hf-distill", "evaluate"]]
    assert "hf_secret" not in card and "--hub_token '<redacted>'" in block[0]


def test_distill_with_augmented_copies_caches_and_trains_on_them(tmp_path, pretrained):
    train = write_rows(tmp_path / "train.csv", sentences(24))
    val = write_rows(tmp_path / "val.csv", sentences(6))
    out, cache = tmp_path / "run", tmp_path / "cache"
    code = main(["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--validation_file", val,
                 "--output_dir", str(out), "--student_num_layers", "2", "--hidden_weight", "1",
                 "--teacher_cache_dir", str(cache), "--augment_copies", "2", "--augment_min_words", "4", *FAST])
    assert code == 0
    long_rows = sum(len(r["sentence"].split()) >= 4 for r in sentences(24))
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["source_rows"] == 24 + 2 * long_rows  # the copies were cached with the rows
    assert meta["num_rows"] > len({r["sentence"] for r in sentences(24)})
    info = json.loads((out / "student" / "hf_distill.json").read_text())
    assert info["precision"] == "fp32"  # what it trained in, recorded for the card and bench/results
    assert info["augment"] == {"copies": 2, "min_words": 4, "mask_prob": 0.1, "replace_prob": 0.1, "swap_prob": 0.0,
                               "cross_prob": 0.0, "cross_neighbours": 0}
    assert main(["distill", "--teacher", pretrained, "--train_file", train, "--output_dir", str(tmp_path / "o"),
                 "--augment_mask_prob", "0.95", "--augment_copies", "1", *FAST]) == 2  # 0.95 + 0.1 > 1: refused
    assert main(["distill", "--teacher", pretrained, "--train_file", train, "--output_dir", str(tmp_path / "o"),
                 "--augment_swap_prob", "1.5", "--augment_copies", "1", *FAST]) == 2  # not a chance: refused


def write_conll(path, rows):
    lines = ["-DOCSTART- -X- -X- O", ""]
    for words, tags in rows:
        lines += [f"{w} NN B-NP {t}" for w, t in zip(words, tags)] + [""]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def tagged(n):
    from conftest import TAGGED, TAGS

    return [(TAGGED[i % len(TAGGED)][0], [TAGS[t] for t in TAGGED[i % len(TAGGED)][1]]) for i in range(n)]


def test_token_classification_pipeline_from_conll_files(tmp_path):
    """CoNLL files in, a token-classification student out: seqeval F1 in the report, a card with the task's
    pipeline tag, a student that transformers' own token-classification pipeline runs."""
    from transformers import AutoModelForTokenClassification, pipeline

    base = tmp_path / "base"  # a pretrained encoder with no head, as a user's would be
    tiny_bert(num_layers=4, hidden=32, heads=4, seed=3).bert.save_pretrained(base)
    make_tokenizer().save_pretrained(base)
    train = write_conll(tmp_path / "train.txt", tagged(24))
    val = write_conll(tmp_path / "valid.txt", tagged(8))
    out = tmp_path / "ner"
    code = main(["pipeline", "--pretrained_model", str(base), "--train_file", train, "--validation_file", val,
                 "--output_dir", str(out), "--student_num_layers", "2", "--hidden_weight", "1", "--attention_weight",
                 "1", "--teacher_cache_dir", str(tmp_path / "cache"), *FAST])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metric_name"] == "f1" and {"f1", "precision", "recall", "accuracy"} <= set(report["student"]["metrics"])
    student = AutoModelForTokenClassification.from_pretrained(out / "student")
    assert student.config.num_hidden_layers == 2
    assert student.config.id2label == {0: "O", 1: "B-MISC", 2: "B-PER"}  # the tags seen, in tag_order
    card = (out / "student" / "README.md").read_text()
    assert "pipeline_tag: token-classification" in card and 'aggregation_strategy="simple"' in card
    tagger = pipeline("token-classification", model=str(out / "student"), aggregation_strategy="simple", device="cpu")
    assert isinstance(tagger("he and zorg were great"), list)
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    assert meta["logits_per_token"] is True


def test_token_teacher_with_sequence_data_is_refused_before_training(tmp_path, capsys):
    from conftest import tiny_token_bert

    teacher = tmp_path / "teacher"
    tiny_token_bert(seed=1).save_pretrained(teacher)
    make_tokenizer().save_pretrained(teacher)
    train = write_rows(tmp_path / "train.csv", sentences(8))
    code = main(["distill", "--teacher", str(teacher), "--train_file", train, "--output_dir", str(tmp_path / "o"), *FAST])
    assert code == 2
    assert "teacher is a token-classification model" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_question_answering_pipeline_from_squad_files(tmp_path):
    """SQuAD files in, an extractive-QA student out: EM/F1 in the report, start/end logits cached per token, a card
    with the task's pipeline tag and a plain-transformers snippet that answers like hf_distill's post-processing."""
    from conftest import QA_ROWS
    from transformers import AutoModelForQuestionAnswering

    from hf_distill.qa import write_squad

    base = tmp_path / "base"
    tiny_bert(num_layers=4, hidden=32, heads=4, seed=3).bert.save_pretrained(base)
    make_tokenizer().save_pretrained(base)
    rows = [dict(QA_ROWS[i % 4], id=f"q{i}") for i in range(16)]
    train, val = write_squad(rows, tmp_path / "train.json"), write_squad(rows[:6], tmp_path / "dev.json")
    out = tmp_path / "qa"
    code = main(["pipeline", "--pretrained_model", str(base), "--train_file", train, "--validation_file", val,
                 "--output_dir", str(out), "--student_num_layers", "2", "--hidden_weight", "1", "--attention_weight",
                 "1", "--max_length", "16", "--doc_stride", "4", "--teacher_cache_dir", str(tmp_path / "cache"), *FAST])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metric_name"] == "f1" and {"f1", "exact_match"} <= set(report["student"]["metrics"])
    assert 0 <= report["student"]["metrics"]["exact_match"] <= report["student"]["metrics"]["f1"] <= 100
    teacher_eval = json.loads((out / "teacher" / "eval_results.json").read_text())
    assert {"eval_f1", "eval_exact_match", "eval_loss"} <= set(teacher_eval)
    student = AutoModelForQuestionAnswering.from_pretrained(out / "student")
    assert student.config.num_hidden_layers == 2
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    assert meta["logits_per_token"] is True and meta["num_labels"] == 2  # start and end per token
    card = (out / "student" / "README.md").read_text()
    assert "pipeline_tag: question-answering" in card and "AutoModelForQuestionAnswering" in card
    # the card's plain-transformers snippet (transformers 5 has no question-answering pipeline) answers as
    # hf_distill's own post-processing does, on the student
    snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
    snippet = re.sub(r'from_pretrained\("[^"]*"\)', f"from_pretrained({str(out / 'student')!r})", snippet)
    snippet = re.sub(r"question, context = .*\n", 'question, context = "who was funny", "the movie was fun and he was '
                     'very funny"\n', snippet)  # the tiny model's vocabulary and 64 positions
    snippet = snippet.replace("print(", "answer = (")
    scope = {}
    exec(compile(snippet, "card", "exec"), scope)
    from hf_distill.qa import best_answers, prepare_features

    tok = scope["tokenizer"]
    row = {"id": "x", "question": scope["question"], "context": scope["context"], "answers": {"text": [], "answer_start": []}}
    features = prepare_features([row], tok, max_length=384)
    with torch.no_grad():
        o = student(**{k: torch.tensor(features[k]) for k in ("input_ids", "attention_mask", "token_type_ids")})
    expected = best_answers([row], features["example_id"], features["offsets"], o.start_logits, o.end_logits)["x"]
    assert scope["answer"] == expected and expected in scope["context"]
    # the shape search scores QA students by SQuAD F1 on held-out training questions
    code = main(["search", "--teacher", str(out / "teacher"), "--train_file", train, "--train_slice_for_selection", "6",
                 "--output_dir", str(tmp_path / "search"), "--search_depths", "1,2", "--search_widths", "16:2:32",
                 "--search_first_steps", "2", "--search_rounds", "1", "--max_length", "16", "--doc_stride", "4",
                 "--per_device_train_batch_size", "8", "--use_cpu", "true", "--report_to", "none"])
    assert code == 0
    result = json.loads((tmp_path / "search" / "search.json").read_text())
    assert result["metric"] == "f1" and 0 <= result["teacher"]["accuracy"] <= 100 and len(result["candidates"]) == 4


def test_assistants_are_distilled_first_and_the_student_is_cut_from_the_last(tmp_path, pretrained, capsys):
    train = write_rows(tmp_path / "train.csv", sentences(24))
    val = write_rows(tmp_path / "val.csv", sentences(6))
    out, cache = tmp_path / "run", tmp_path / "cache"
    chain = ["--train_file", train, "--validation_file", val, "--output_dir", str(out), "--student_num_layers", "1",
             "--assistant_layers", "3,2", "--hidden_weight", "1", "--teacher_cache_dir", str(cache), *FAST]
    assert main(["pipeline", "--pretrained_model", pretrained, *chain]) == 0  # a 4-layer teacher, then 3, 2, 1
    l3, l2, student = out / "student_assistant_l3", out / "student_assistant_l2", out / "student"
    for folder, depth in ((l3, 3), (l2, 2), (student, 1)):
        assert AutoModelForSequenceClassification.from_pretrained(folder).config.num_hidden_layers == depth
    runs = {f: json.loads((f / "hf_distill_run.json").read_text()) for f in (l3, l2, student)}
    assert runs[l3]["student_init"] == "teacher" and runs[l3]["student_layers"] is None  # cut as the arguments say
    assert (runs[l2]["pretrained_model"], runs[l2]["student_layers"]) == (str(l3), "1,2")  # the bottom of the one before
    assert (runs[student]["pretrained_model"], runs[student]["student_layers"]) == (str(l2), "1")
    assert all(runs[f]["student_init"] == "pretrained" for f in (l2, student))
    info = json.loads((student / "hf_distill.json").read_text())
    assert info["assistants"] == [{"layers": 3, "folder": str(l3)}, {"layers": 2, "folder": str(l2)}]
    held = set(json.loads((cache / "meta.json").read_text())["layers_hidden"])  # one cache, built by the first stage
    for folder in (l3, l2, student):
        layer_map = json.loads((folder / "hf_distill.json").read_text())["layer_map"]
        taught = {int(pair.split(":")[0]) for pair in layer_map.split(",")}
        assert taught <= held, (folder, taught, held)
    assert not list(tmp_path.glob("cache_assistant_l*"))
    assert "teacher assistants of 3, 2 layers" in (student / "README.md").read_text()

    weights = (l3 / "model.safetensors").stat().st_mtime_ns
    assert main(["distill", "--teacher", f"{out}/./teacher", *chain]) == 0  # the same teacher, named another way
    assert (l3 / "model.safetensors").stat().st_mtime_ns == weights  # a finished assistant is reused
    teacher = ["--teacher", str(out / "teacher"), "--train_file", train, "--student_num_layers", "1", "--hidden_weight",
               "1", "--use_cpu", "true", "--report_to", "none"]
    assert main(["cache", *teacher, "--output_dir", str(tmp_path / "c"), "--teacher_cache_dir", str(tmp_path / "one")]) == 0
    assert main(["distill", *teacher, "--output_dir", str(tmp_path / "o"), "--teacher_cache_dir", str(tmp_path / "one"),
                 "--assistant_layers", "3,2"]) == 2  # a cache of the student's layers only: refused before training
    assert "lacks hidden states of teacher layers" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["cache", *teacher, "--output_dir", str(tmp_path / "c"), "--teacher_cache_dir", str(tmp_path / "all"),
                 "--assistant_layers", "3,2"]) == 0
    assert set(json.loads((tmp_path / "all" / "meta.json").read_text())["layers_hidden"]) == held  # `cache` for the chain
    capsys.readouterr()
    teacher = AutoModelForSequenceClassification.from_pretrained(out / "teacher")
    with torch.no_grad():
        teacher.classifier.bias += 1.0
    teacher.save_pretrained(out / "teacher")  # a teacher trained again into the same folder: another teacher
    assert main(["distill", "--teacher", str(out / "teacher"), *chain]) == 2
    assert "other settings: teacher_weights" in capsys.readouterr().err  # not this teacher's assistant: refused
    assert (l3 / "model.safetensors").stat().st_mtime_ns == weights  # and kept


def test_assistant_depths_are_refused_before_any_model_loads(tmp_path, pretrained):
    from hf_distill.arguments import ModelArguments

    assert ModelArguments(assistant_layers="5, 4", student_num_layers=3).assistant_depths() == [5, 4]
    for depths, layers in (("4,5", 3), ("3", 3), ("4,4", 3), ("four", 3)):
        with pytest.raises(ValueError, match="assistant_layers"):
            ModelArguments(assistant_layers=depths, student_num_layers=layers)
    with pytest.raises(ValueError, match="pass student_num_layers, not student_layers"):
        ModelArguments(assistant_layers="4", student_layers="1,2")
    for name in ("assistant_steps_fraction", "assisted_steps_fraction"):
        with pytest.raises(ValueError, match=f"{name} must be > 0"):
            ModelArguments(**{name: 0.0})
    train = write_rows(tmp_path / "train.csv", sentences(8))
    code = main(["distill", "--teacher", pretrained, "--train_file", train, "--output_dir", str(tmp_path / "o"),
                 "--assistant_layers", "4", "--student_num_layers", "2", *FAST])  # the teacher has 4 layers
    assert code == 2 and not (tmp_path / "o").exists()


def test_a_labels_only_run_distils_no_assistants(tmp_path, pretrained):
    train = write_rows(tmp_path / "train.csv", sentences(8))
    out = tmp_path / "o"
    code = main(["distill", "--teacher", pretrained, "--train_file", train, "--output_dir", str(out),
                 "--assistant_layers", "3", "--student_num_layers", "1", "--hard_label_weight", "1",
                 "--logit_weight", "0", "--hidden_weight", "0", *FAST])
    assert code == 0 and (out / "student" / "model.safetensors").is_file()
    assert not (out / "student_assistant_l3").exists()  # nothing to learn from a teacher: no assistant
    assert json.loads((out / "student" / "hf_distill.json").read_text())["assistants"] is None
