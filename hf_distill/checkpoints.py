"""Resuming an interrupted run: `train-teacher`, `distill` and `pipeline` go on from the last checkpoint in their
output folder when it was saved by a run with the same settings, and refuse one saved with other settings.

    hf-distill pipeline --config recipes/sst2_minilm.yaml --output_dir runs/sst2_minilm   # again, after a stop

Each run writes its settings to `hf_distill_run.json` in its output folder before it trains: every field of the
training arguments, the model and data arguments that shape the weights (after the recipe's rules), and a student's
teacher by its weights (a digest: the same teacher reached by another path is the same, one trained again into its folder is not).
A later run in that folder compares its own settings with them when `checkpoint-*` folders are there:
- the same: it resumes from the last checkpoint (the Trainer restores weights, optimizer, scheduler, RNG and the
  data order; `DistillationTrainer` also the hidden-state projections);
- different: it stops before training with the settings that differ. Starting afresh there would mix the old
  checkpoints with the new ones (`save_total_limit` would rotate by step number and could delete the new ones).

An explicit `--resume_from_checkpoint PATH` resumes from PATH without the comparison.

A checkpoint counts once it is whole: the Trainer writes `trainer_state.json` last, so a folder without it is one
whose save a stop cut short; the run resumes from the last whole one before it and says which it passed over.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .arguments import ModelArguments
from .config import DistillationConfig
from .placement import is_main_process

RUN_FILE = "hf_distill_run.json"
# Fields that leave the trained weights as they are: where the run writes, logs, saves and evaluates, and how
# its batches are loaded. Every other field must match for a checkpoint to be resumed.
FREE_FIELDS = frozenset({
    "output_dir", "resume_from_checkpoint", "report_to", "run_name", "project", "disable_tqdm", "local_rank",
    "ddp_timeout", "skip_memory_metrics", "push_to_hub", "do_train", "do_eval", "do_predict",
    "per_device_eval_batch_size", "prediction_loss_only", "batch_eval_metrics", "include_for_metrics",
    "load_best_model_at_end", "metric_for_best_model", "greater_is_better", "dataloader_num_workers",
    "dataloader_pin_memory", "dataloader_persistent_workers", "dataloader_prefetch_factor",
    "dataloader_multiprocessing_context", "validation_file", "max_eval_samples",
})
FREE_PREFIXES = ("logging_", "log_", "save_", "eval_", "hub_", "trackio_")
# Free fields that choose the saved weights in a run that keeps its best checkpoint (`load_best_model_at_end`): which
# steps are scored, on which rows, by which metric. They must match where either run keeps its best.
BEST_FIELDS = frozenset({"load_best_model_at_end", "metric_for_best_model", "greater_is_better", "eval_strategy",
                         "eval_steps", "eval_delay", "validation_file", "max_eval_samples"})
# Fields naming where something lives whose contents are checked apart: only whether one is given counts. A teacher
# cache is refused on opening when its teacher or rows are not the run's (cache.TeacherCache.open), so the same cache
# moved, or a chain's one shared cache where an earlier run gave each stage its own, trains the same weights.
PLACE_FIELDS = frozenset({"teacher_cache_dir"})
# Fields added after runs began recording their settings, whose defaults train as runs before them did: a record
# without one is a run of its default.
ADDED_FIELDS = (("weight_averaging_fraction", DistillationConfig), ("assisted_cut", ModelArguments),
                ("mixup_weight", DistillationConfig), ("mixup_alpha", DistillationConfig))
STUDENT_ONLY = frozenset({"teacher", "unlabeled_file", "max_unlabeled_samples", "assistant_layers", "pair_assistants",
                          "assistant_steps_fraction", "assisted_steps_fraction", "assisted_cut"})  # and student_*, augment_*
SHOWN_DIFFERENCES = 6
CHECKPOINT_DONE = TRAINER_STATE_NAME  # the file the Trainer writes last into a checkpoint folder


def student_settings(config, model_args, data_args, teacher_weights: str) -> dict:
    """What shapes a student's weights: every training argument (after the recipe's rules), the model and data
    arguments, and the teacher it learns from, by its weights (`cache.teacher_fingerprint`), not the path it was
    given: a teacher trained again into the same folder is another teacher, one folder named two ways the same."""
    model = {k: v for k, v in dataclasses.asdict(model_args).items()
             if k != "teacher" and not k.startswith("teacher_")  # the teacher's own training: in its weights
             and (k != "pretrained_model" or model_args.student_init == "pretrained")}  # else it is the teacher's base
    return _settings(json.loads(config.to_json_string()), model, dataclasses.asdict(data_args),
                     {"teacher_weights": teacher_weights})


def teacher_settings(args, model_args, data_args) -> dict:
    """What shapes a teacher's weights: the Trainer's own arguments (not the distillation fields), the `teacher_*`
    and base-model arguments, and the data arguments but the rows only distillation adds."""
    from transformers import TrainingArguments

    trainer_fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    return _settings({k: v for k, v in json.loads(args.to_json_string()).items() if k in trainer_fields},
                     {k: v for k, v in dataclasses.asdict(model_args).items() if k not in STUDENT_ONLY
                      and not k.startswith("student")},
                     {k: v for k, v in dataclasses.asdict(data_args).items() if k not in STUDENT_ONLY
                      and not k.startswith("augment_")})


def _settings(*groups: dict) -> dict:
    settings = json.loads(json.dumps({k: v for group in groups for k, v in group.items()}, default=str))
    kept = BEST_FIELDS if settings.get("load_best_model_at_end") else frozenset()
    return {k: v for k, v in settings.items()
            if k in kept or (k not in FREE_FIELDS and not k.startswith(FREE_PREFIXES))}


def last_whole_checkpoint(output_dir: str, who: str) -> str | None:
    """The `checkpoint-N` folder of `output_dir` with the highest N whose save finished (it holds `CHECKPOINT_DONE`);
    None when there is none. Folders with a higher N whose save a stop cut short are passed over, with a warning."""
    if not os.path.isdir(output_dir):
        return None
    steps = {}
    for name in os.listdir(output_dir):
        number = name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
        if number != name and number.isdigit() and os.path.isdir(os.path.join(output_dir, name)):
            steps[int(number)] = os.path.join(output_dir, name)
    newest_first = sorted(steps, reverse=True)
    whole = next((step for step in newest_first if os.path.isfile(os.path.join(steps[step], CHECKPOINT_DONE))), None)
    cut_short = [os.path.basename(steps[step]) for step in newest_first if whole is None or step > whole]
    if cut_short:
        logging.getLogger("hf_distill").warning(
            "%s: %s in %s has no %s (its save was cut short): %s", who, ", ".join(cut_short), output_dir,
            CHECKPOINT_DONE, f"resuming from {os.path.basename(steps[whole])}" if whole is not None else "starting afresh")
    return steps[whole] if whole is not None else None


def settings_differences(output_dir: str, settings: dict) -> str:
    """How `settings` differ from those the run in `output_dir` recorded in its RUN_FILE ('' when they are the
    same), the first SHOWN_DIFFERENCES of them written out."""
    with open(os.path.join(output_dir, RUN_FILE)) as f:
        saved = json.load(f)
    saved = {**{k: getattr(owner, k) for k, owner in ADDED_FIELDS if k in settings}, **saved}
    differ = sorted(k for k in saved.keys() | settings.keys() if not _same(k, saved.get(k), settings.get(k)))
    shown = "; ".join(f"{k}: {_shown(saved, k)} there, {_shown(settings, k)} now" for k in differ[:SHOWN_DIFFERENCES])
    return shown + (f" (and {len(differ) - SHOWN_DIFFERENCES} more)" if len(differ) > SHOWN_DIFFERENCES else "")


def _shown(settings: dict, field: str) -> str:
    """A field's value as a refusal shows it; 'not recorded' where that run did not count it (a BEST_FIELDS field of a
    run that keeps its last weights)."""
    return repr(settings[field]) if field in settings else "not recorded"


def _same(field: str, saved, now) -> bool:
    return (saved is None) == (now is None) if field in PLACE_FIELDS else saved == now


def resume_point(output_dir: str, settings: dict, requested: str | None, who: str) -> str | None:
    """The checkpoint to resume from in `output_dir` (None: train from the start), or `requested` (a path the user
    gave); records `settings` there, for the checkpoints this run will save.

    Raises:
        ValueError: `output_dir` holds checkpoints of a run with other settings, or with no record of them.
    """
    path = os.path.join(output_dir, RUN_FILE)
    last = requested or last_whole_checkpoint(output_dir, who)
    if last is not None and not requested:
        if not os.path.isfile(path):
            raise ValueError(f"{who}: {output_dir} holds {os.path.basename(last)} but no {RUN_FILE} saying which "
                             f"settings made it. Pass --resume_from_checkpoint {last} to resume from it anyway, or "
                             "another --output_dir to start afresh.")
        differ = settings_differences(output_dir, settings)
        if differ:
            raise ValueError(f"{who}: {output_dir} holds {os.path.basename(last)} of a run with other settings: "
                             f"{differ}. Use another --output_dir to start afresh (the checkpoints there are "
                             f"kept), or the same settings to resume; --resume_from_checkpoint {last} resumes it "
                             "with the new ones.")
        logging.getLogger("hf_distill").info("%s: resuming from %s (a run with the same settings)", who, last)
    if is_main_process():  # written whole, then renamed: another process may be reading it
        os.makedirs(output_dir, exist_ok=True)
        with open(f"{path}.tmp", "w") as f:
            json.dump(settings, f, indent=2, sort_keys=True)
        os.replace(f"{path}.tmp", path)
    return last
