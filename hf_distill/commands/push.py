"""`hf-distill push`: push a saved student to the Hub, standard files only (no projections, no training state).

    hf-distill push --student_dir runs/sst2_minilm/student --hub_model_id user/minilm-l3-sst2 [--private]
"""

from __future__ import annotations

import argparse

SUMMARY = "push a saved student (standard files only; --push_onnx adds its ONNX files) to the Hub"
ARGUMENTS = ()  # its own four options (argparse), not the training ones


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-distill push", description=SUMMARY)
    parser.add_argument("--student_dir", required=True, help="the student folder (<output_dir>/student)")
    parser.add_argument("--hub_model_id", required=True, help="user/name of the Hub repository")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--push_onnx", action="store_true", help="also upload onnx/*.onnx (from `hf-distill export`)")
    return parser


def run_argv(argv: list[str]) -> str:
    from ..hub import push_student

    args = parser().parse_args(argv)
    url = push_student(args.student_dir, args.hub_model_id, private=args.private, include_onnx=args.push_onnx)
    print(url)
    return url
