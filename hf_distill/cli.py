"""`hf-distill`: fine-tune a teacher, distil a student, evaluate both, write the card, push to the Hub.

    hf-distill pipeline --config recipes/sst2_minilm.yaml --output_dir runs/sst2
    hf-distill distill --config recipes/sst2_minilm.yaml --teacher runs/sst2/teacher --output_dir runs/sst2b
    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml -m hf_distill distill --config ...
    hf-distill push --student_dir runs/sst2/student --hub_model_id user/minilm-l3-sst2

A recipe is a YAML file of the same keys as the command-line options; options given on the command line win.
An unknown key, in the recipe or on the command line, is an error that names it.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import shlex
import sys
from dataclasses import fields

import yaml
from accelerate import PartialState
from transformers import HfArgumentParser

from .config import DistillationConfig
from .data import DataArguments
from .search import SearchArguments
from .stages import ModelArguments, RunArguments

STAGES = {
    "train-teacher": "fine-tune a pretrained encoder into a teacher classifier",
    "distill": "distil the teacher into a smaller student",
    "evaluate": "teacher vs student: metric, parameters, size, CPU latency; report.json/.md and the card",
    "cache": "run the teacher once over the training data and store its outputs (--teacher_cache_dir)",
    "pipeline": "train-teacher (unless the teacher exists), distill, evaluate, card",
    "search": "distil candidate student shapes briefly, measure their latency, pick the smallest that keeps the goal",
    "push": "push a saved student (standard files only) to the Hub",
}
DATACLASSES = (ModelArguments, DataArguments, DistillationConfig, RunArguments, SearchArguments)
logger = logging.getLogger("hf_distill")


def known_keys() -> set[str]:
    return {f.name for cls in DATACLASSES for f in fields(cls) if f.init}


def recipe_to_argv(path: str) -> list[str]:
    """Read a YAML recipe into `--key value` arguments; unknown keys are errors that name the key."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Recipe not found: {path!r}.")
    with open(path) as f:
        recipe = yaml.safe_load(f) or {}
    if not isinstance(recipe, dict):
        raise ValueError(f"Recipe {path!r} must be a mapping of option: value.")
    keys = known_keys()
    unknown = [k for k in recipe if k not in keys]
    if unknown:
        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, keys, 1)) else "") for k in unknown]
        raise ValueError(f"Unknown key(s) in recipe {path}: {', '.join(hints)}. See `hf-distill <stage> --help`.")
    argv = []
    for key, value in recipe.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            argv += [f"--{key}", *map(str, value)]
        else:
            argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


def parse(argv: list[str]):
    """`[--config recipe.yaml] [--key value ...]` -> one instance of each of DATACLASSES."""
    recipe_argv: list[str] = []
    rest = list(argv)
    if "--config" in rest:
        i = rest.index("--config")
        if i + 1 >= len(rest):
            raise ValueError("--config needs the path of a YAML recipe.")
        recipe_argv = recipe_to_argv(rest[i + 1])
        del rest[i : i + 2]
    for item in rest:
        if item.startswith("--") and item[2:].split("=")[0] not in known_keys():
            key = item[2:].split("=")[0]
            match = difflib.get_close_matches(key, known_keys(), 1)
            raise ValueError(f"Unknown option --{key}" + (f" (did you mean --{match[0]}?)" if match else "") + ".")
    parser = HfArgumentParser(DATACLASSES)
    return parser.parse_args_into_dataclasses(args=recipe_argv + rest)


def run(stage: str, argv: list[str]) -> dict | str:
    from . import stages

    if stage == "push":
        return _push(argv)
    model_args, data_args, config, run_args, search_args = parse(argv)
    if run_args.command is None:  # what the card records: this very command, tokens redacted
        run_args.command = shlex.join(["hf-distill", stage, *stages.redact(argv)])
    # The stock Trainer would push checkpoints with training_args.bin and projections; we push once, at the end,
    # standard files only (hf_distill.hub.push_student).
    push, config.push_to_hub = config.push_to_hub, False
    if push and not config.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id user/name.")
    out = config.output_dir
    teacher_dir = model_args.teacher or os.path.join(out, "teacher")
    student_dir = os.path.join(out, "student")
    if config.teacher_cache_dir == "auto":  # the recipe's default: beside the run, built on first use
        config.teacher_cache_dir = os.path.join(out, "teacher_cache")

    if stage == "train-teacher":
        return stages.train_teacher(model_args, data_args, config, model_args.teacher or os.path.join(out, "teacher"))
    if stage == "distill":
        if model_args.teacher is None:
            raise ValueError("distill needs --teacher (a fine-tuned teacher folder or Hub id); or run `pipeline`.")
        return stages.distill(model_args, data_args, config, teacher_dir, student_dir, command=run_args.command)
    if stage == "cache":
        if model_args.teacher is None or config.teacher_cache_dir is None:
            raise ValueError("cache needs --teacher and --teacher_cache_dir.")
        return stages.build_cache(model_args, data_args, config, teacher_dir, config.teacher_cache_dir)
    if stage == "search":
        from .search import run_search

        if model_args.teacher is None:
            raise ValueError("search needs --teacher (a fine-tuned teacher folder or Hub id).")
        result = run_search(model_args, data_args, config, search_args, teacher_dir, out)
        chosen = result["chosen"]
        shape = f"--student_num_layers {chosen['layers']}"
        if chosen["init"] == "sliced":
            shape += f" --student_width {chosen['hidden_size']}:{chosen['num_attention_heads']}:{chosen['intermediate_size']}"
        elif chosen["init"] == "fresh":
            shape = (f"--student_config num_hidden_layers={chosen['layers']},hidden_size={chosen['hidden_size']},"
                     f"num_attention_heads={chosen['num_attention_heads']},intermediate_size={chosen['intermediate_size']}")
        print(f"chosen: {chosen['name']} ({chosen['accuracy']:.4f} held-out, {chosen['latency_ms_b32']:.1f} ms at "
              f"batch 32). Distil it fully with: hf-distill distill <same options> {shape}")
        return result
    if stage == "evaluate":
        if not PartialState().is_main_process:
            return {}
        report = stages.evaluate_pair(data_args, run_args, teacher_dir, student_dir, out)
        stages.write_student_card(report, data_args, run_args, student_dir)
        return report
    if stage == "pipeline":
        import time

        times = {"start": time.time()}
        if not os.path.isfile(os.path.join(teacher_dir, "config.json")):
            if model_args.teacher is not None:
                raise FileNotFoundError(f"Teacher not found at {teacher_dir!r}; remove --teacher to train one.")
            logger.info("stage 1/3: fine-tuning %s into a teacher -> %s", model_args.pretrained_model, teacher_dir)
            stages.train_teacher(model_args, data_args, config, teacher_dir)
        else:
            logger.info("stage 1/3: teacher found at %s, not retrained", teacher_dir)
        times["teacher"] = time.time()
        logger.info("stage 2/3: distilling -> %s", student_dir)
        stages.distill(model_args, data_args, config, teacher_dir, student_dir, command=run_args.command)
        times["student"] = time.time()
        logger.info("stage 3/3: evaluating teacher and student")
        PartialState().wait_for_everyone()
        if not PartialState().is_main_process:  # one process measures latency, writes the report and the card
            return {}
        report = stages.evaluate_pair(data_args, run_args, teacher_dir, student_dir, out)
        stages.write_student_card(report, data_args, run_args, student_dir)
        if push:
            from .hub import push_student

            print(push_student(student_dir, config.hub_model_id, token=config.hub_token, private=bool(config.hub_private_repo)))
        if run_args.results_file:
            os.makedirs(os.path.dirname(os.path.abspath(run_args.results_file)), exist_ok=True)
            with open(run_args.results_file, "w") as f:
                walls = {"teacher_s": times["teacher"] - times["start"], "distill_s": times["student"] - times["teacher"],
                         "evaluate_s": time.time() - times["student"]}
                json.dump({**stages.headline(report), "wall_s": time.time() - times["start"], "wall_time": walls}, f,
                          indent=2)
        return report
    raise ValueError(f"Unknown stage {stage!r}: use one of {', '.join(STAGES)}.")


def _push(argv: list[str]) -> str:
    import argparse

    from .hub import push_student

    parser = argparse.ArgumentParser(prog="hf-distill push")
    parser.add_argument("--student_dir", required=True)
    parser.add_argument("--hub_model_id", required=True)
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    url = push_student(args.student_dir, args.hub_model_id, private=args.private)
    print(url)
    return url


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STAGES:
        print(__doc__)
        print("stages:\n" + "\n".join(f"  {k:<14} {v}" for k, v in STAGES.items()))
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", level=logging.INFO)
    stage, rest = argv[0], argv[1:]
    if "-h" in rest or "--help" in rest:
        HfArgumentParser(DATACLASSES).parse_args_into_dataclasses(args=["--help"])
    from .hub import PushError

    try:
        result = run(stage, rest)
    except (ValueError, FileNotFoundError, TypeError, PushError) as err:
        if os.environ.get("HF_DISTILL_DEBUG"):
            raise
        print(f"hf-distill {stage}: error: {err}\n(set HF_DISTILL_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
    if isinstance(result, dict) and "retention" in result:
        main_metric = result["metric_name"]
        print(
            f"teacher {main_metric} {result['teacher']['metrics'][main_metric]:.4f}, student "
            f"{result['student']['metrics'][main_metric]:.4f}, retention {result['retention']:.4f}, "
            f"speed-up at batch 32: {result.get('speedup_b32') or float('nan'):.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
