"""One module per `hf-distill` command. Each starts with its command, says what it does (`SUMMARY`), which
argument classes it reads (`ARGUMENTS`: what its `--help` shows) and has `run(parsed)`; `pipeline` composes
train-teacher, distill and evaluate. `hf_distill.cli` only parses and dispatches.
"""

from . import cache, distill, evaluate, export, pipeline, push, search, static, train_teacher

COMMANDS = {
    "train-teacher": train_teacher,
    "distill": distill,
    "evaluate": evaluate,
    "cache": cache,
    "pipeline": pipeline,
    "search": search,
    "push": push,
    "export": export,
    "static": static,
}
