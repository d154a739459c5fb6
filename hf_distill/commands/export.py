"""`hf-distill export`: the student to ONNX (fp32, and dynamic int8), checked against PyTorch, in <student>/onnx.
`evaluate` then scores and times both files beside the PyTorch models (report and card); `push --push_onnx true`
uploads them.

    hf-distill export --output_dir runs/sst2_minilm              # exports runs/sst2_minilm/student
"""

from __future__ import annotations

from ..arguments import ExportArguments, Parsed

SUMMARY = "the student to ONNX (fp32 and dynamic int8) in <output_dir>/student/onnx, checked against PyTorch"
ARGUMENTS = (ExportArguments,)


def run(args: Parsed) -> str:
    from ..export import export_onnx

    folder = export_onnx(args.student_dir, opset=args.export.opset, quantize=args.export.quantize)
    print(folder)
    return str(folder)
