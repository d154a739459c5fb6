"""`hf-distill pipeline`: train-teacher (unless the teacher exists), distill, evaluate, card, and with
--push_to_hub the push; --results_file records the headline figures and the wall time of each stage.

    hf-distill pipeline --config recipes/sst2_minilm.yaml --output_dir runs/sst2_minilm
"""

from __future__ import annotations

import json
import logging
import os
import time

from ..arguments import ModelArguments, Parsed, RunArguments
from ..config import DistillationConfig
from ..data import DataArguments, load_task_data, load_unlabeled
from ..placement import is_main_process
from ..report import headline
from .distill import distill
from .evaluate import run as evaluate
from .train_teacher import train_teacher

SUMMARY = "train-teacher (unless the teacher exists), distill, evaluate, card"
ARGUMENTS = (ModelArguments, DataArguments, DistillationConfig, RunArguments)
logger = logging.getLogger("hf_distill")


def run(args: Parsed) -> dict:
    from accelerate import PartialState

    times = {"start": time.time()}
    teacher_dir, student_dir = args.teacher_dir, args.student_dir
    if args.data.unlabeled_file:  # a bad file is refused before the teacher trains, not after
        load_unlabeled(args.data, load_task_data(args.data))
    if not os.path.isfile(os.path.join(teacher_dir, "config.json")):
        if args.model.teacher is not None:
            raise FileNotFoundError(f"Teacher not found at {teacher_dir!r}; remove --teacher to train one.")
        logger.info("stage 1/3: fine-tuning %s into a teacher -> %s", args.model.pretrained_model, teacher_dir)
        train_teacher(args.model, args.data, args.config, teacher_dir)
    else:
        logger.info("stage 1/3: teacher found at %s, not retrained", teacher_dir)
    times["teacher"] = time.time()
    logger.info("stage 2/3: distilling -> %s", student_dir)
    distill(args.model, args.data, args.config, teacher_dir, student_dir, command=args.run.command)
    times["student"] = time.time()
    logger.info("stage 3/3: evaluating teacher and student")
    PartialState().wait_for_everyone()
    if not is_main_process():  # one process measures latency, writes the report and the card
        return {}
    report = evaluate(args)
    if args.push:
        from ..hub import push_student

        print(push_student(student_dir, args.config.hub_model_id, token=args.config.hub_token,
                           private=bool(args.config.hub_private_repo)))
    if args.run.results_file:
        os.makedirs(os.path.dirname(os.path.abspath(args.run.results_file)), exist_ok=True)
        walls = {"teacher_s": times["teacher"] - times["start"], "distill_s": times["student"] - times["teacher"],
                 "evaluate_s": time.time() - times["student"]}
        with open(args.run.results_file, "w") as f:
            json.dump({**headline(report), "wall_s": time.time() - times["start"], "wall_time": walls}, f, indent=2)
    return report
