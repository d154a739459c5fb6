"""`hf-distill evaluate`: the teacher against <output_dir>/student on the validation rows (metric, parameters,
size, CPU latency), written to report.json / report.md, and the student's model card.

    hf-distill evaluate --config recipes/sst2_minilm.yaml --teacher runs/sst2_minilm/teacher --output_dir runs/sst2b
"""

from __future__ import annotations

import json
import os

from ..arguments import ModelArguments, Parsed, RunArguments
from ..card import write_student_card
from ..data import DataArguments, load_task_data
from ..placement import is_main_process
from ..recipe import resolve_max_length
from .distill import DISTILL_INFO

SUMMARY = "teacher vs student: metric, parameters, size, CPU latency; report.json/.md and the card"
ARGUMENTS = (ModelArguments, DataArguments, RunArguments)


def run(args: Parsed) -> dict:
    if not is_main_process():
        return {}
    report = evaluate_pair(args.data, args.run, args.teacher_dir, args.student_dir, args.output_dir)
    write_student_card(report, args.data, args.run, args.student_dir)
    return report


def evaluate_pair(data_args: DataArguments, run_args: RunArguments, teacher_dir: str, student_dir: str, report_dir: str) -> dict:
    """Teacher and student on the validation set: metric, parameters, size, CPU latency. Writes report.json/.md."""
    from ..report import build_report, write_report

    data = load_task_data(data_args)
    if data.validation is None:
        raise ValueError("evaluate needs validation data: pass --validation_file or --task_name.")
    if data_args.max_length is None:
        from transformers import AutoTokenizer

        resolve_max_length(data_args, data, AutoTokenizer.from_pretrained(teacher_dir))
    texts, pairs = data.texts("validation")
    labels = list(data.validation[data.label_column])  # QA: the answers of each question
    if not data.is_regression and not data.kind.span:
        from transformers import AutoConfig

        from ..labels import label_permutation

        perm = label_permutation(data.label_names, AutoConfig.from_pretrained(teacher_dir).label2id)
        labels = [[perm[t] for t in y] for y in labels] if data.kind.per_token else [perm[y] for y in labels]
    report = build_report(
        teacher_dir,
        student_dir,
        texts if data.kind.per_token else [t.strip() for t in texts],
        labels,
        data_args.task_name,
        text_pairs=[p.strip() for p in pairs] if pairs else None,
        max_length=data_args.max_length,
        latency_runs=run_args.latency_runs,
        latency_warmup=run_args.latency_warmup,
        num_threads=run_args.latency_threads,
        doc_stride=data.doc_stride,
    )
    info_path = os.path.join(student_dir, DISTILL_INFO)
    if os.path.isfile(info_path):
        with open(info_path) as f:
            report["distillation"] = json.load(f)
    if is_main_process():
        write_report(report, report_dir)
    return report
