"""`hf-distill cache`: run the teacher once over the training data and store what the losses read, so that
`distill --teacher_cache_dir DIR` trains from disk (`distill` also builds a missing cache on first use).

    hf-distill cache --config recipes/sst2_minilm.yaml --teacher runs/sst2_minilm/teacher --teacher_cache_dir runs/cache
"""

from __future__ import annotations

from ..arguments import ModelArguments, Parsed
from ..cache import write_cache
from ..config import DistillationConfig
from ..data import DataArguments
from .distill import prepare, with_assistants

SUMMARY = "run the teacher once over the training data and store its outputs (--teacher_cache_dir)"
ARGUMENTS = (ModelArguments, DataArguments, DistillationConfig)


def run(args: Parsed) -> str:
    if args.model.teacher is None or args.config.teacher_cache_dir is None:
        raise ValueError("cache needs --teacher and --teacher_cache_dir.")
    return build_cache(args.model, args.data, args.config, args.teacher_dir, args.config.teacher_cache_dir)


def build_cache(model_args: ModelArguments, data_args: DataArguments, config, teacher_path: str, cache_dir: str) -> str:
    """Run the teacher once over the training data and store what the configured losses need (hf_distill.cache),
    for the student and the assistants `distill` would distil it through (`with_assistants`)."""
    model_args = with_assistants(model_args, data_args, config, teacher_path)
    _, teacher, tokenizer, student, train = prepare(model_args, data_args, teacher_path, "cache", config)
    return write_cache(config, data_args, teacher, tokenizer, student, train, cache_dir,
                       also_depths=tuple(model_args.assistant_depths()))
