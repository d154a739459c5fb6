"""`hf-distill`: fine-tune a teacher, distil a student, evaluate both, write the card, push to the Hub.

    hf-distill pipeline --config recipes/sst2_minilm.yaml --output_dir runs/sst2
    hf-distill distill --config recipes/sst2_minilm.yaml --teacher runs/sst2/teacher --output_dir runs/sst2b
    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml -m hf_distill distill --config ...
    hf-distill push --student_dir runs/sst2/student --hub_model_id user/minilm-l3-sst2

A recipe is a YAML file of the same keys as the command-line options; options given on the command line win.
An unknown key, in the recipe or on the command line, is an error that names it.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import shlex
import sys
from dataclasses import fields

import yaml
from transformers import HfArgumentParser

from .arguments import ExportArguments, ModelArguments, Parsed, RunArguments, StaticArguments
from .commands import COMMANDS
from .config import DistillationConfig
from .data import DataArguments
from .placement import resolve_auto_precision
from .search import SearchArguments

STAGES = {name: command.SUMMARY for name, command in COMMANDS.items()}  # what `hf-distill --help` lists
DATACLASSES = (ModelArguments, DataArguments, DistillationConfig, RunArguments, SearchArguments, ExportArguments,
               StaticArguments)
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
        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, keys, 1)) else "")
                 for k in unknown]
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
    return parser.parse_args_into_dataclasses(args=resolve_auto_precision(recipe_argv + rest))


def run(stage: str, argv: list[str]) -> dict | str:
    """Parse `argv` (recipe and options) and run the command `stage`."""
    from .card import redact

    if stage not in COMMANDS:
        raise ValueError(f"Unknown stage {stage!r}: use one of {', '.join(COMMANDS)}.")
    command = COMMANDS[stage]
    if stage == "push":
        return command.run_argv(argv)
    args = Parsed(*parse(argv))
    if args.run.command is None:  # what the card records: this very command, tokens redacted
        args.run.command = shlex.join(["hf-distill", stage, *redact(argv)])
    # The stock Trainer would push checkpoints with training_args.bin and projections; we push once, at the end,
    # standard files only (hf_distill.hub.push_student).
    args.push, args.config.push_to_hub = args.config.push_to_hub, False
    if args.push and not args.config.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id user/name.")
    if args.config.teacher_cache_dir == "auto":  # the recipe's default: beside the run, built on first use
        args.config.teacher_cache_dir = os.path.join(args.output_dir, "teacher_cache")
    return command.run(args)


def stage_help(stage: str) -> None:
    """`hf-distill <stage> --help`: the stage's own options (its ARGUMENTS), then exit."""
    command = COMMANDS[stage]
    if stage == "push":
        command.parser().parse_args(["--help"])
    parser = HfArgumentParser(command.ARGUMENTS, prog=f"hf-distill {stage}", description=command.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args_into_dataclasses(args=["--help"])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__)
        print("stages:\n" + "\n".join(f"  {k:<14} {v}" for k, v in STAGES.items()))
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", level=logging.INFO)
    stage, rest = argv[0], argv[1:]
    if "-h" in rest or "--help" in rest:
        stage_help(stage)
    from .hub import PushError

    try:
        result = run(stage, rest)
    except (ValueError, FileNotFoundError, TypeError, PushError) as err:
        if os.environ.get("HF_DISTILL_DEBUG"):
            raise
        print(f"hf-distill {stage}: error: {err}\n(set HF_DISTILL_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
    finally:
        _leave_process_group()
    if isinstance(result, dict) and "retention" in result:
        main_metric = result["metric_name"]
        print(
            f"teacher {main_metric} {_number(result['teacher']['metrics'].get(main_metric))}, student "
            f"{_number(result['student']['metrics'].get(main_metric))}, retention {_number(result['retention'])}"
            f"{' (undefined: the teacher scores 0)' if result['retention'] is None else ''}, "
            f"speed-up at batch 32: {_number(result.get('speedup_b32'), '.2f')}x"
        )
    return 0


def _leave_process_group() -> None:
    """Under `accelerate launch`, close the process group before the interpreter exits: left to exit, a process could
    abort tearing down gloo's threads ("terminate called without an active exception") after its work was done, and
    the launcher failed the whole run. Local, not a collective: a process that stops on an error does not wait."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _number(value, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
