"""Student search: the halving schedule, the frontier, the choice, sliced widths, the teacher's held-out rows, and
tiny end-to-end searches."""

import json

import pytest
from conftest import NEGATIVE, POSITIVE, make_tokenizer, tiny_bert

from hf_distill.cli import main
from hf_distill.search import (
    SearchArguments,
    Shape,
    _goal_line,
    candidate_shapes,
    choose,
    pareto_front,
    relation_heads_for,
    successive_halving,
    teacher_saw_selection_rows,
)


def test_successive_halving_keeps_the_best_and_doubles_the_budget():
    shapes = [Shape(d, 32, 4, 64, True) for d in (1, 2, 3, 4)]
    calls = []

    def score(shape, steps):
        calls.append((shape.layers, steps))
        return shape.layers / 10 + steps / 1000  # deeper is better; longer training helps

    history = successive_halving(shapes, score, first_steps=10, rounds=3, keep=0.5)
    assert calls == [(1, 10), (2, 10), (3, 10), (4, 10), (4, 20), (3, 20), (4, 40)]  # best first
    assert [h["round"] for h in history] == [0, 0, 0, 0, 1, 1, 2]
    # cost: 4*10 + 2*20 + 1*40 = 120 steps, against 4*40 = 160 to train every shape at the final budget
    assert sum(s for _, s in calls) == 120


def test_pareto_front_and_choice():
    pts = [
        {"name": "a", "accuracy": 0.80, "latency_ms_b32": 10, "steps": 40},
        {"name": "b", "accuracy": 0.85, "latency_ms_b32": 20, "steps": 40},
        {"name": "c", "accuracy": 0.84, "latency_ms_b32": 30, "steps": 40},  # slower and worse than b
        {"name": "d", "accuracy": 0.88, "latency_ms_b32": 40, "steps": 40},
        {"name": "e", "accuracy": 0.60, "latency_ms_b32": 5, "steps": 10},  # dropped early
    ]
    assert [p["name"] for p in pareto_front(pts)] == ["e", "a", "b", "d"]
    args = SearchArguments(goal_retention=0.95)
    assert choose(pts, teacher_score=0.89, args=args)["name"] == "b"  # fastest finalist with >= 0.8455
    assert choose(pts, teacher_score=0.95, args=args)["name"] == "d"  # nobody meets it: most accurate
    assert choose(pts, 0.89, SearchArguments(latency_budget_ms=25))["name"] == "b"


def test_search_md_says_whether_the_goal_was_met():
    chosen = {"name": "L4-H384", "accuracy": 0.913, "steps": 600, "latency_ms_b32": 100.0}
    result = {"metric": "accuracy", "teacher": {"accuracy": 0.9245}, "chosen": chosen,
              "goal": {"retention": 0.99, "latency_budget_ms": None}}
    line = _goal_line(result)
    assert "(>= 0.9153)" in line and "no shape met it" in line and "most accurate, L4-H384" in line
    assert "fastest shape that met it" in _goal_line({**result, "chosen": {**chosen, "accuracy": 0.92}})
    budget = {**result, "goal": {"retention": 0.99, "latency_budget_ms": 50.0}}
    assert "no shape fits" in _goal_line(budget)
    assert "no shape fits" not in _goal_line({**budget, "chosen": {**chosen, "latency_ms_b32": 40.0}})


def test_relation_heads_for_narrower_shapes():
    config = tiny_bert(num_layers=2, hidden=384 // 8, heads=12 // 2).config  # 48 wide, 6 heads
    assert relation_heads_for(config, Shape(2, 32, 4, 64, False)) == 4  # 48 and 32: largest r <= 6 dividing both
    config.hidden_size, config.num_attention_heads = 384, 12
    assert relation_heads_for(config, Shape(2, 256, 4, 1024, False)) == 8


def test_candidate_shapes(tmp_path):
    config = tiny_bert(num_layers=4).config  # 32 wide, 4 heads of size 8
    shapes = candidate_shapes(config, SearchArguments(search_depths="1,2", search_widths="16:2:32"))
    assert [s.name for s in shapes] == ["L1-H32", "L2-H32", "L1-H16-sliced", "L2-H16-sliced"]  # sliced by default
    assert [s.init for s in shapes] == ["copied", "copied", "sliced", "sliced"]
    fresh = candidate_shapes(config, SearchArguments(search_depths="1,2", search_widths="16:4:32",
                                                     search_width_init="fresh"))
    assert [s.name for s in fresh] == ["L1-H32", "L2-H32", "L1-H16-fresh", "L2-H16-fresh"]
    with pytest.raises(ValueError, match="out of range"):
        candidate_shapes(config, SearchArguments(search_depths="5"))
    with pytest.raises(ValueError, match="hidden:heads:ffn"):
        candidate_shapes(config, SearchArguments(search_widths="16x2"))


def tiny_teacher_and_rows(tmp_path, folder: str = "teacher", layers: int = 4, rows: int = 80) -> tuple[str, str]:
    """A tiny BERT saved with its tokenizer in tmp_path/folder, and a train.csv of `rows` labelled sentences."""
    teacher = tmp_path / folder
    tiny_bert(num_layers=layers, seed=1, id2label=["negative", "positive"]).save_pretrained(teacher)
    make_tokenizer().save_pretrained(teacher)
    lines = [f"{(POSITIVE if i % 2 else NEGATIVE)[i % 5]},{'positive' if i % 2 else 'negative'}" for i in range(rows)]
    (tmp_path / "train.csv").write_text("sentence,label\n" + "\n".join(lines) + "\n")
    return str(teacher), str(tmp_path / "train.csv")


def test_search_end_to_end_on_tiny_models(tmp_path):
    teacher, train = tiny_teacher_and_rows(tmp_path)
    out = tmp_path / "search"
    code = main(["search", "--teacher", teacher, "--train_file", train,
                 "--train_slice_for_selection", "16", "--output_dir", str(out), "--search_depths", "1,2",
                 "--search_widths", "16:2:32", "--search_first_steps", "2", "--search_rounds", "2",
                 "--per_device_train_batch_size", "8", "--hidden_weight", "1", "--attention_weight", "1",
                 "--use_cpu", "true",
                 "--report_to", "none", "--disable_tqdm", "true"])
    assert code == 0
    result = json.loads((out / "search.json").read_text())
    assert len(result["candidates"]) == 4 and result["selection_rows"] == 16
    assert {p["name"] for p in result["candidates"]} >= {"L1-H16-sliced", "L2-H16-sliced"}
    assert result["width_init"] == "sliced"
    assert result["teacher_info"] is None and result["teacher_saw_selection_rows"] is None  # saved by hand: unknown
    assert "Teacher saw the scoring rows: unknown" in (out / "search.md").read_text()
    assert {r["steps"] for r in result["rounds"]} == {2, 4}
    assert all(p["latency_ms_b32"] > 0 for p in result["candidates"])
    assert all(0.25 <= p["accuracy"] <= 1 for p in result["candidates"])  # a real accuracy, not another metric
    assert 0.25 <= result["teacher"]["accuracy"] <= 1
    assert result["chosen"]["name"] in {p["name"] for p in result["candidates"]}
    assert (out / "search.png").stat().st_size > 0 and "chosen" in (out / "search.md").read_text()


def test_search_builds_its_candidates_with_the_students_dropout(tmp_path, monkeypatch):
    import hf_distill.student as student_module

    teacher, train = tiny_teacher_and_rows(tmp_path, layers=2, rows=40)
    seen = []
    set_dropout = student_module.set_dropout
    monkeypatch.setattr(student_module, "set_dropout", lambda model, p: seen.append(p) or set_dropout(model, p))
    assert main(["search", "--teacher", teacher, "--train_file", train,
                 "--train_slice_for_selection", "8", "--output_dir", str(tmp_path / "search"), "--search_depths", "1",
                 "--search_widths", "16:2:32", "--search_first_steps", "1", "--search_rounds", "1",
                 "--per_device_train_batch_size", "8", "--student_dropout", "0.0", "--use_cpu", "true",
                 "--report_to", "none", "--disable_tqdm", "true"]) == 0
    assert seen and set(seen) == {0.0}  # every candidate shape, as `distill` would build it


def test_sliced_widths_need_the_teachers_head_size():
    config = tiny_bert(num_layers=4).config  # head size 32 / 4 = 8
    with pytest.raises(ValueError, match=r"'16:4:32'.*teacher's 8 \(32/4\), not 4; write '16:2:32'.*search_width_init fresh"):
        candidate_shapes(config, SearchArguments(search_depths="1", search_widths="16:4:32"))
    with pytest.raises(ValueError, match="multiple of 8, e.g. '16:2:32'"):
        candidate_shapes(config, SearchArguments(search_depths="1", search_widths="20:4:32"))
    with pytest.raises(ValueError, match="'16:2:128'.*intermediate_size must be between 1 and the teacher's 64"):
        candidate_shapes(config, SearchArguments(search_depths="1", search_widths="16:2:128"))
    same = candidate_shapes(config, SearchArguments(search_depths="1", search_widths="32:4:64,24:3:48"))
    assert [s.name for s in same] == ["L1-H32", "L1-H24-sliced"]  # the full width is the copied shape already
    with pytest.raises(ValueError, match="'sliced' or 'fresh'"):
        SearchArguments(search_width_init="random")
    assert Shape(2, 32, 4, 64, True).init == "copied" and Shape(2, 16, 2, 32, False).name == "L2-H16-fresh"
    with pytest.raises(ValueError, match="init"):
        Shape(2, 16, 2, 32, True, "sliced")


def test_teacher_saw_selection_rows():
    assert teacher_saw_selection_rows(None, 2000) is None  # no hf_distill_teacher.json: unknown
    assert teacher_saw_selection_rows({"base_model": "x", "task_name": "sst2"}, 2000) is None  # written before
    assert teacher_saw_selection_rows({"held_out_rows": 0, "train_rows": 67349}, 2000) is True
    assert teacher_saw_selection_rows({"held_out_rows": 1000, "train_rows": 66349}, 2000) is True
    assert teacher_saw_selection_rows({"held_out_rows": 2000, "train_rows": 65349}, 2000) is False
    assert teacher_saw_selection_rows({"held_out_rows": 3000, "train_rows": 64349}, 2000) is False  # held out more
    # a teacher trained on the first 1000 rows only (max_train_samples) never reached the last 2000 of 67349
    assert teacher_saw_selection_rows({"held_out_rows": 0, "train_rows": 1000}, 2000, total_rows=67349) is False
    assert teacher_saw_selection_rows({"held_out_rows": 0, "train_rows": 67349}, 2000, total_rows=67349) is True


def test_search_flags_a_teacher_that_trained_on_the_scoring_rows(tmp_path, caplog):
    """train-teacher records its held-out rows; a search scoring on more of the last rows warns and records it."""
    pretrained, train = tiny_teacher_and_rows(tmp_path, "pretrained", layers=2)
    common = ["--train_file", train, "--per_device_train_batch_size", "8", "--use_cpu", "true",
              "--report_to", "none", "--disable_tqdm", "true", "--save_strategy", "no"]
    teacher = tmp_path / "run" / "teacher"  # train-teacher writes <output_dir>/teacher
    main(["train-teacher", "--pretrained_model", str(pretrained), "--output_dir", str(tmp_path / "run"),
          "--train_slice_for_selection", "8", "--max_steps", "2", *common])
    info = json.loads((teacher / "hf_distill_teacher.json").read_text())
    assert info["train_rows"] == 72 and info["held_out_rows"] == 8

    out = tmp_path / "search"
    with caplog.at_level("WARNING", logger="hf_distill.search"):
        code = main(["search", "--teacher", str(teacher), "--train_slice_for_selection", "16", "--output_dir", str(out),
                     "--search_depths", "1", "--search_first_steps", "1", "--search_rounds", "1", *common])
    assert code == 0
    result = json.loads((out / "search.json").read_text())
    assert result["teacher_saw_selection_rows"] is True and result["teacher_info"] == info
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "trained on up to 8 of them" in warning and "--train_slice_for_selection 16" in warning
    assert "Teacher saw the scoring rows: **yes**" in (out / "search.md").read_text()


def test_candidate_shapes_read_the_ffn_width_of_each_architecture():
    """DistilBERT's FFN width is `hidden_dim`: a search over its depths and widths builds its shapes."""
    from transformers import DistilBertConfig

    config = DistilBertConfig(vocab_size=99, dim=32, n_layers=4, n_heads=4, hidden_dim=64)
    shapes = candidate_shapes(config, SearchArguments(search_depths="1,2", search_widths="16:2:32"))
    assert [(s.layers, s.hidden_size, s.intermediate_size, s.init) for s in shapes] == [
        (1, 32, 64, "copied"), (2, 32, 64, "copied"), (1, 16, 32, "sliced"), (2, 16, 32, "sliced")]
