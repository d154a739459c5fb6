"""Student search: the halving schedule, the frontier, the choice, and one tiny end-to-end search."""

import json

import pytest
from conftest import NEGATIVE, POSITIVE, make_tokenizer, tiny_bert

from hf_distill.cli import main
from hf_distill.search import (
    SearchArguments,
    Shape,
    candidate_shapes,
    choose,
    pareto_front,
    relation_heads_for,
    successive_halving,
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


def test_relation_heads_for_narrower_shapes():
    config = tiny_bert(num_layers=2, hidden=384 // 8, heads=12 // 2).config  # 48 wide, 6 heads
    assert relation_heads_for(config, Shape(2, 32, 4, 64, False)) == 4  # 48 and 32: largest r <= 6 dividing both
    config.hidden_size, config.num_attention_heads = 384, 12
    assert relation_heads_for(config, Shape(2, 256, 4, 1024, False)) == 8


def test_candidate_shapes(tmp_path):
    config = tiny_bert(num_layers=4).config
    shapes = candidate_shapes(config, SearchArguments(search_depths="1,2", search_widths="16:2:32"))
    assert [s.name for s in shapes] == ["L1-H32", "L2-H32", "L1-H16-fresh", "L2-H16-fresh"]
    with pytest.raises(ValueError, match="out of range"):
        candidate_shapes(config, SearchArguments(search_depths="5"))
    with pytest.raises(ValueError, match="hidden:heads:ffn"):
        candidate_shapes(config, SearchArguments(search_widths="16x2"))


def test_search_end_to_end_on_tiny_models(tmp_path):
    teacher = tmp_path / "teacher"
    model = tiny_bert(num_layers=4, seed=1, id2label=["negative", "positive"])
    model.save_pretrained(teacher)
    make_tokenizer().save_pretrained(teacher)
    rows = [f"{(POSITIVE if i % 2 else NEGATIVE)[i % 5]},{'positive' if i % 2 else 'negative'}" for i in range(80)]
    (tmp_path / "train.csv").write_text("sentence,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "search"
    code = main(["search", "--teacher", str(teacher), "--train_file", str(tmp_path / "train.csv"),
                 "--train_slice_for_selection", "16", "--output_dir", str(out), "--search_depths", "1,2",
                 "--search_widths", "16:2:32", "--search_first_steps", "2", "--search_rounds", "2",
                 "--per_device_train_batch_size", "8", "--hidden_weight", "1", "--attention_weight", "1",
                 "--use_cpu", "true",
                 "--report_to", "none", "--disable_tqdm", "true"])
    assert code == 0
    result = json.loads((out / "search.json").read_text())
    assert len(result["candidates"]) == 4 and result["selection_rows"] == 16
    assert {r["steps"] for r in result["rounds"]} == {2, 4}
    assert all(p["latency_ms_b32"] > 0 for p in result["candidates"])
    assert all(0.25 <= p["accuracy"] <= 1 for p in result["candidates"])  # a real accuracy, not another metric
    assert 0.25 <= result["teacher"]["accuracy"] <= 1
    assert result["chosen"]["name"] in {p["name"] for p in result["candidates"]}
    assert (out / "search.png").stat().st_size > 0 and "chosen" in (out / "search.md").read_text()
