"""Student search: which student shape keeps the teacher's quality at the lowest latency?

    hf-distill search --config recipes/sst2_minilm.yaml --teacher runs/sst2_minilm/teacher --output_dir runs/search

Candidates are depths (layers copied from the teacher) and, optionally, narrower widths: by default the same
evenly spaced teacher layers sliced to the narrower width ("weight selection", `student_from_teacher(...,
hidden_size=...)`), or a fresh random init (`--search_width_init fresh`); either trains with hidden-state
projections. Each is distilled for a short budget and scored on training rows held out from training
(`train_slice_for_selection`), never on the validation rows; successive halving keeps the better half and
doubles the budget, so weak shapes stop early. Latency is measured for real on this machine (batch
`latency_batch_size`, real texts). The chosen shape is the fastest whose held-out score keeps `goal_retention`
of the teacher's (or the most accurate one within `latency_budget_ms`).

The teacher's score is the reference for that goal, so it must not have trained on the scoring rows: the search
reads the teacher's hf_distill_teacher.json (`held_out_rows`) and warns, and records
`teacher_saw_selection_rows`, when it did.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field

from .teacher import TEACHER_INFO, read_teacher_info

logger = logging.getLogger(__name__)
WIDTH_INITS = ("sliced", "fresh")  # how the narrower shapes start


@dataclass
class SearchArguments:
    goal_retention: float = field(default=0.99, metadata={"help": "Keep at least this share of the teacher's score."})
    latency_budget_ms: float | None = field(
        default=None, metadata={"help": "Instead of a quality goal: the most accurate shape under this latency."}
    )
    latency_batch_size: int = field(default=32, metadata={"help": "Batch size of the latency the search optimises."})
    search_depths: str = field(default="1,2,3,4", metadata={"help": "Student depths to try (layers copied)."})
    search_widths: str = field(
        default="",
        metadata={"help": "Narrower shapes 'hidden:heads:ffn' (comma-separated), tried at each depth, e.g. '192:4:768'. "
                  "With sliced init the head size hidden/heads must be the teacher's (MiniLM: 32, so '256:8:1024')."},
    )
    search_width_init: str = field(
        default="sliced",
        metadata={
            "help": "Init of the narrower shapes: 'sliced' (the teacher's evenly spaced layers cut to the width: "
            "first dims, whole first heads, first FFN units) or 'fresh' (random init).",
            "choices": ["sliced", "fresh"],
        },
    )
    search_first_steps: int = field(default=150, metadata={"help": "Training steps of each candidate in round 1."})
    search_rounds: int = field(default=3, metadata={"help": "Rounds of successive halving (budget doubles each)."})
    search_keep: float = field(default=0.5, metadata={"help": "Share of candidates kept after each round."})

    def __post_init__(self):
        if self.search_width_init not in WIDTH_INITS:
            raise ValueError(f"search_width_init must be 'sliced' or 'fresh', got {self.search_width_init!r}.")


@dataclass
class Shape:
    layers: int
    hidden_size: int
    num_attention_heads: int
    intermediate_size: int
    copied: bool  # the teacher's width, its layers copied as they are (then `init` is "copied")
    init: str = ""  # "copied", "sliced" (teacher layers cut to this width) or "fresh"; default from `copied`

    def __post_init__(self):
        if not self.init:
            self.init = "copied" if self.copied else "fresh"
        if self.init not in ("copied", *WIDTH_INITS) or self.copied != (self.init == "copied"):
            raise ValueError(f"Shape init must be 'copied' (with copied=True), 'sliced' or 'fresh', got "
                             f"init={self.init!r} with copied={self.copied}.")

    @property
    def name(self) -> str:
        return f"L{self.layers}-H{self.hidden_size}" + ("" if self.copied else f"-{self.init}")


def candidate_shapes(teacher_config, args: SearchArguments) -> list[Shape]:
    """The teacher-width depths, then each of `search_widths` at each depth (sliced or fresh, `search_width_init`).

    A sliced width equal to the teacher's is the copied shape already and is not repeated.
    """
    from .architectures import ffn_field
    from .student import parse_width, sliced_widths

    ffn = ffn_field(teacher_config)  # the config field of the FFN width

    depths = [int(d) for d in args.search_depths.split(",") if d.strip()]
    bad = [d for d in depths if not 1 <= d <= teacher_config.num_hidden_layers]
    if bad:
        raise ValueError(f"search_depths {bad} out of range: the teacher has {teacher_config.num_hidden_layers} layers.")
    shapes = [
        Shape(d, teacher_config.hidden_size, teacher_config.num_attention_heads, getattr(teacher_config, ffn), True)
        for d in depths
    ]
    for spec in filter(None, (w.strip() for w in args.search_widths.split(","))):
        hidden, heads, ffn_units = parse_width(spec, "search_widths")
        if hidden % heads:
            raise ValueError(f"search_widths {spec!r}: hidden {hidden} is not divisible by {heads} heads.")
        if args.search_width_init == "sliced":
            _check_sliced_heads(teacher_config, spec, hidden, heads, ffn_units)
            try:
                sliced_widths(teacher_config, hidden, heads, ffn_units)
            except ValueError as err:
                raise ValueError(f"search_widths {spec!r}: {err}") from err
            if (hidden, heads, ffn_units) == (teacher_config.hidden_size, teacher_config.num_attention_heads,
                                              getattr(teacher_config, ffn)):
                continue
        shapes += [Shape(d, hidden, heads, ffn_units, False, args.search_width_init) for d in depths]
    return shapes


def _check_sliced_heads(teacher_config, spec: str, hidden: int, heads: int, ffn: int) -> None:
    """Sliced shapes keep whole teacher heads: hidden/heads must be the teacher's head size; say which spec works."""
    head_size = teacher_config.hidden_size // teacher_config.num_attention_heads
    if hidden // heads == head_size:
        return
    fix = (f"write '{hidden}:{hidden // head_size}:{ffn}'" if hidden % head_size == 0 else
           f"use a hidden size that is a multiple of {head_size}, e.g. "
           f"'{max(1, hidden // head_size) * head_size}:{max(1, hidden // head_size)}:{ffn}'")
    raise ValueError(
        f"search_widths {spec!r}: sliced students keep whole teacher heads, so the head size hidden/heads must be "
        f"the teacher's {head_size} ({teacher_config.hidden_size}/{teacher_config.num_attention_heads}), not "
        f"{hidden // heads}; {fix}, or pass --search_width_init fresh to train {spec!r} from a random init."
    )


def teacher_saw_selection_rows(teacher_info: dict | None, selection_rows: int, total_rows: int | None = None) -> bool | None:
    """Whether the teacher trained on the rows the search scores on, the last `selection_rows` training rows.

    `train-teacher` holds out the last `held_out_rows` rows of the same training data and trains on the first
    `train_rows` of the rest, so it saw scoring rows when it held out fewer of them than the search scores on;
    given `total_rows` (the training rows before any hold-out) it saw them only if its rows reach past
    `total_rows - selection_rows`. None when unknown: no hf_distill_teacher.json (a teacher from elsewhere), or
    one written before `held_out_rows` was recorded.
    """
    held = (teacher_info or {}).get("held_out_rows")
    if held is None:
        return None
    train_rows = teacher_info.get("train_rows")
    if total_rows is not None and train_rows is not None and int(train_rows) + int(held) < total_rows:
        return int(train_rows) > total_rows - selection_rows  # a teacher trained on the first rows only
    return int(held) < selection_rows


def relation_heads_for(teacher_config, shape: Shape) -> int:
    """The largest relation-head count <= the teacher's head count that divides both widths (384 and 256 -> 8)."""
    widths = (teacher_config.hidden_size, shape.hidden_size)
    return max(r for r in range(1, teacher_config.num_attention_heads + 1) if all(w % r == 0 for w in widths))


def successive_halving(shapes: list, score_fn, first_steps: int, rounds: int, keep: float) -> list[dict]:
    """Train every shape for `first_steps`, keep the best `keep` share, double the budget, repeat.

    `score_fn(shape, steps) -> float` distils a fresh student of that shape for `steps` and scores it.
    Returns one record per (shape, round) evaluated.
    """
    history, alive, steps = [], list(shapes), first_steps
    for round_index in range(rounds):
        scores = []
        for shape in alive:
            score = score_fn(shape, steps)
            history.append({"shape": shape, "round": round_index, "steps": steps, "score": score})
            scores.append((score, shape))
        if round_index == rounds - 1 or len(alive) <= 1:
            break
        scores.sort(key=lambda pair: -pair[0])
        alive = [shape for _, shape in scores[: max(1, round(len(scores) * keep))]]
        steps *= 2
    return history


def pareto_front(points: list[dict]) -> list[dict]:
    """Points not beaten by another that is at least as accurate and at least as fast (strictly better in one)."""
    front = []
    for p in points:
        dominated = any(
            q["accuracy"] >= p["accuracy"]
            and q["latency_ms_b32"] <= p["latency_ms_b32"]
            and (q["accuracy"] > p["accuracy"] or q["latency_ms_b32"] < p["latency_ms_b32"])
            for q in points
        )
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p["latency_ms_b32"])


def choose(points: list[dict], teacher_score: float, args: SearchArguments) -> dict:
    """The fastest point meeting the goal among the longest-trained ones; else the most accurate."""
    top_steps = max(p["steps"] for p in points)
    finalists = [p for p in points if p["steps"] == top_steps]
    if args.latency_budget_ms is not None:
        fitting = [p for p in finalists if p["latency_ms_b32"] <= args.latency_budget_ms] or finalists
        return max(fitting, key=lambda p: p["accuracy"])
    meeting = [p for p in finalists if p["accuracy"] >= args.goal_retention * teacher_score]
    if meeting:
        return min(meeting, key=lambda p: p["latency_ms_b32"])
    return max(finalists, key=lambda p: p["accuracy"])


def run_search(model_args, data_args, config, search_args: SearchArguments, teacher_path: str, output_dir: str) -> dict:
    """Search student shapes for `teacher_path` on the task; writes search.json, search.md and search.png."""
    import copy

    from transformers import AutoTokenizer, Trainer

    from .architectures import ffn_field
    from .assets import resolve_model_path
    from .data import load_task_data, tokenize_split
    from .measure import count_parameters, measure_latency_ms
    from .metrics import compute_metrics_for, metric_names_for_task
    from .recipe import apply_token_rule, resolve_max_length
    from .student import set_dropout, student_from_config, student_from_teacher
    from .teacher import load_teacher
    from .trainer import DistillationTrainer

    if not data_args.train_slice_for_selection:
        data_args.train_slice_for_selection = 2000
    data = load_task_data(data_args)
    apply_token_rule(data, config)
    selection_rows = data_args.train_slice_for_selection
    teacher_source = resolve_model_path(teacher_path)
    teacher_info = read_teacher_info(teacher_source)
    total_rows = len(data.train) + selection_rows if data_args.max_train_samples is None else None
    saw = teacher_saw_selection_rows(teacher_info, selection_rows, total_rows)
    if saw:
        held = teacher_info["held_out_rows"]
        logger.warning(
            "The teacher in %s was trained with train_slice_for_selection %d, but the search scores on the last %d "
            "training rows: the teacher trained on up to %d of them, so its held-out score (the reference for "
            "goal_retention) is inflated and the search asks too much of the students. Retrain the teacher with "
            "--train_slice_for_selection %d, e.g. `hf-distill train-teacher ... --train_slice_for_selection %d`%s.",
            teacher_path, held, selection_rows, selection_rows - held, selection_rows, selection_rows,
            f", or search with --train_slice_for_selection {held}" if held else "",
        )
    elif saw is None:
        logger.info("search: %s has no %s with held_out_rows; cannot tell whether the teacher trained on the "
                    "scoring rows", teacher_path, TEACHER_INFO)
    teacher = load_teacher(teacher_source)
    tokenizer = AutoTokenizer.from_pretrained(teacher_source)
    resolve_max_length(data_args, data, tokenizer)
    train = tokenize_split(data.train, data, tokenizer, data_args.max_length, teacher.config.label2id)
    held_out = tokenize_split(data.selection, data, tokenizer, data_args.max_length, teacher.config.label2id)
    texts = data.plain_texts("selection")  # for latency
    pairs = data.texts("selection")[1]  # sentence pairs, QA's contexts; None for single texts
    metrics_fn = compute_metrics_for(data_args.task_name, data, teacher)
    main_metric = metric_names_for_task(data_args.task_name, data.is_regression, data.kind.per_token, data.kind.span)[0]
    collator = data.kind.data_collator(tokenizer)

    def evaluate(model) -> float:
        if data.kind.span:  # QA: SQuAD F1 from the answer strings
            from .report import evaluate_qa

            return evaluate_qa(model, tokenizer, texts, pairs, list(data.selection[data.label_column]),
                               max_length=data_args.max_length, doc_stride=data.doc_stride)[main_metric]
        args = copy.copy(config)
        args.output_dir = os.path.join(output_dir, "eval")
        trainer = Trainer(model=model, args=args, eval_dataset=held_out, processing_class=tokenizer,
                          data_collator=collator, compute_metrics=metrics_fn)
        return float(trainer.evaluate()[f"eval_{main_metric}"])

    def build(shape: Shape):
        student = shaped(shape)
        if model_args.student_dropout is not None:  # as `distill` builds it (build_student)
            set_dropout(student, model_args.student_dropout)
        return student

    def shaped(shape: Shape):
        if shape.init == "copied":
            return student_from_teacher(teacher, num_layers=shape.layers)
        if shape.init == "sliced":  # the same evenly spaced layers, cut to the width (weight selection)
            return student_from_teacher(teacher, num_layers=shape.layers, hidden_size=shape.hidden_size,
                                        num_attention_heads=shape.num_attention_heads,
                                        intermediate_size=shape.intermediate_size)
        return student_from_config(teacher, num_hidden_layers=shape.layers, hidden_size=shape.hidden_size,
                                   num_attention_heads=shape.num_attention_heads,
                                   **{ffn_field(teacher.config): shape.intermediate_size})

    def score(shape: Shape, steps: int) -> float:
        args = copy.copy(config)
        args.output_dir = os.path.join(output_dir, "candidates", shape.name)
        args.max_steps, args.save_strategy, args.eval_strategy = steps, "no", "no"
        student = build(shape)
        if args.attention_weight > 0 and shape.num_attention_heads != teacher.config.num_attention_heads:
            args.attention_loss = "minilm"  # TinyBERT maps need equal head counts; relations do not
            args.relation_heads = relation_heads_for(teacher.config, shape)
        trainer = DistillationTrainer(model=student, teacher=teacher, teacher_tokenizer=tokenizer, args=args,
                                      train_dataset=train, processing_class=tokenizer,
                                      data_collator=collator)
        trainer.train()
        result = evaluate(student)
        logger.info("search: %s after %d steps: %.4f", shape.name, steps, result)
        return result

    start = time.time()
    teacher_score = evaluate(teacher)
    shapes = candidate_shapes(teacher.config, search_args)
    history = successive_halving(shapes, score, search_args.search_first_steps, search_args.search_rounds,
                                 search_args.search_keep)
    latency, params = {}, {}
    for shape in shapes:  # one build per shape for its size and its measured latency
        model = build(shape)
        params[shape.name] = count_parameters(model)
        latency[shape.name] = measure_latency_ms(model, tokenizer, texts, search_args.latency_batch_size, text_pairs=pairs,
                                                 max_length=data_args.max_length, runs=10, warmup=2)["median"]
    teacher_latency = measure_latency_ms(teacher, tokenizer, texts, search_args.latency_batch_size, text_pairs=pairs,
                                         max_length=data_args.max_length, runs=10, warmup=2)["median"]
    best = {}
    for record in history:  # each shape at the largest budget it reached
        name = record["shape"].name
        if name not in best or record["steps"] > best[name]["steps"]:
            best[name] = record
    points = [
        {**asdict(r["shape"]), "name": name, "steps": r["steps"], "accuracy": r["score"],
         "latency_ms_b32": latency[name], "params": params[name]}
        for name, r in best.items()
    ]
    chosen = choose(points, teacher_score, search_args)
    result = {
        "metric": main_metric,
        "selection_rows": len(held_out),
        "teacher": {"accuracy": teacher_score, "latency_ms_b32": teacher_latency},
        "teacher_info": teacher_info,
        "teacher_saw_selection_rows": saw,
        "width_init": search_args.search_width_init,
        "goal": {"retention": search_args.goal_retention, "latency_budget_ms": search_args.latency_budget_ms},
        "candidates": points,
        "rounds": [{"name": r["shape"].name, "round": r["round"], "steps": r["steps"], "score": r["score"]} for r in history],
        "pareto": pareto_front(points),
        "chosen": chosen,
        "wall_time_s": time.time() - start,
    }
    write_search(result, output_dir)
    return result


def write_search(result: dict, output_dir: str) -> None:
    """search.json, search.md (a table) and search.png (accuracy against latency, frontier joined)."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "search.json"), "w") as f:
        json.dump(result, f, indent=2)
    lines = [
        f"Teacher: {result['metric']} {result['teacher']['accuracy']:.4f}, "
        f"{result['teacher']['latency_ms_b32']:.1f} ms at batch 32. Scored on {result['selection_rows']} held-out "
        "training rows.",
        "",
        _teacher_rows_line(result),
        "",
        _goal_line(result),
        "",
        "| shape | layers | hidden | steps | score | latency b32 (ms) | params (M) | pareto | chosen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    front = {p["name"] for p in result["pareto"]}
    for p in sorted(result["candidates"], key=lambda p: p["latency_ms_b32"]):
        lines.append(
            f"| {p['name']} | {p['layers']} | {p['hidden_size']} | {p['steps']} | {p['accuracy']:.4f} | "
            f"{p['latency_ms_b32']:.1f} | {p['params'] / 1e6:.1f} | {'yes' if p['name'] in front else ''} | "
            f"{'**yes**' if p['name'] == result['chosen']['name'] else ''} |"
        )
    if any(p.get("init") == "sliced" for p in result["candidates"]):
        lines += ["", "`-sliced` shapes start from the teacher's evenly spaced layers cut to the width (first "
                  "dims, whole first heads, first FFN units); `-fresh` shapes from a random init."]
    with open(os.path.join(output_dir, "search.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for p in result["candidates"]:
        ax.scatter(p["latency_ms_b32"], p["accuracy"], color="tab:blue")
        ax.annotate(p["name"], (p["latency_ms_b32"], p["accuracy"]), fontsize=7)
    front_points = result["pareto"]
    ax.plot([p["latency_ms_b32"] for p in front_points], [p["accuracy"] for p in front_points], color="tab:blue")
    ax.scatter([result["teacher"]["latency_ms_b32"]], [result["teacher"]["accuracy"]], color="tab:red", label="teacher")
    ax.axhline(result["goal"]["retention"] * result["teacher"]["accuracy"], color="gray", ls="--", label="goal")
    ax.set_xlabel("CPU latency at batch 32 (ms)")
    ax.set_ylabel(f"{result['metric']} (held-out training rows)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(output_dir, "search.png"), dpi=120)
    plt.close(fig)


def _goal_line(result: dict) -> str:
    """search.md's line on the goal and whether the chosen shape met it at its search budget."""
    goal, chosen = result["goal"], result["chosen"]
    if goal["latency_budget_ms"] is not None:
        fits = chosen["latency_ms_b32"] <= goal["latency_budget_ms"]
        return (f"Goal: the most accurate shape within {goal['latency_budget_ms']:.1f} ms at batch 32; "
                + (f"chosen: {chosen['name']}." if fits else
                   f"no shape fits, chosen: the most accurate, {chosen['name']} ({chosen['latency_ms_b32']:.1f} ms)."))
    bar = goal["retention"] * result["teacher"]["accuracy"]
    head = f"Goal: keep {goal['retention']:.1%} of the teacher's {result['metric']} (>= {bar:.4f})"
    if chosen["accuracy"] >= bar:
        return f"{head}; chosen: the fastest shape that met it, {chosen['name']}."
    return (f"{head}: no shape met it after its short search budget; chosen: the most accurate, {chosen['name']} "
            f"({chosen['accuracy']:.4f} after {chosen['steps']} steps). Its full distillation decides.")


def _teacher_rows_line(result: dict) -> str:
    """search.md's line on whether the teacher trained on the scoring rows (its score would be inflated)."""
    saw, info = result.get("teacher_saw_selection_rows"), result.get("teacher_info") or {}
    if saw is None:
        return ("Teacher saw the scoring rows: unknown (the teacher folder has no hf_distill_teacher.json with "
                "`held_out_rows`); if it trained on them, its score above is inflated.")
    if saw:
        return (f"Teacher saw the scoring rows: **yes** (it held out {info['held_out_rows']} rows, the search scores "
                f"on {result['selection_rows']}): its score above is inflated. Retrain it with "
                f"`hf-distill train-teacher ... --train_slice_for_selection {result['selection_rows']}`.")
    return f"Teacher saw the scoring rows: no (it held out {info['held_out_rows']} training rows)."
