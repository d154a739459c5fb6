"""The student where it runs: ONNX export (dynamic batch and length), dynamic int8 quantization, and an ONNX Runtime
classifier that scores and is timed the same way as a PyTorch model.

    hf-distill export --student_dir runs/sst2_minilm/student          # -> runs/sst2_minilm/student/onnx/
    from hf_distill.export import export_onnx, OnnxModel
    folder = export_onnx("runs/sst2_minilm/student")                 # model.onnx, model_int8.onnx, tokenizer, config
    logits = OnnxModel(folder / "model_int8.onnx")(**tokenizer(texts, padding=True, return_tensors="np"))

The export goes through `torch.onnx.export` (the TorchScript exporter: transformers 5 is ahead of optimum's
exporter), checks the ONNX logits against PyTorch's on real inputs (max |difference| <= 1e-4, else refused) and
writes into a new folder that replaces `onnx/` only when complete. The folder runs with plain `onnxruntime` and the
tokenizer saved beside it (see `OnnxModel`, or the README's snippet): no torch, no hf_distill.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
EXPORT_INFO = "export.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_OPSET = 17
MAX_ABS_DIFF = 1e-4  # fp32 ONNX logits against PyTorch's
PROBE_TEXTS = ["A touching, beautifully acted film.", "It is a dull, lifeless and far too long story.", "ok"]
# The CPU session settings every ONNX figure is measured with (export.json records them; the card's snippet uses
# them). On the SST-2 int8 3-layer student, batch 32, 2 threads (bench/results/int8_variants.md), each alone:
# - denormals as zero: softmax over masked attention scores makes denormal floats, and the CPU slows on them
#   (softmax 6.4 -> 1.7 ms a batch; logits unchanged to 1e-6);
# - no SkipLayerNormFusion: onnxruntime's fused Add + LayerNorm kernel took 4.9 ms a batch for 3 layers where the
#   plain Add and LayerNormalization take ~1.5 ms.
SESSION_CONFIG = {"session.set_denormal_as_zero": "1"}
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def _require_onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError("ONNX export and scoring need onnxruntime and onnx: pip install onnxruntime onnx") from err
    return onnxruntime


def _load_saved(model_dir: Path):
    """The saved model (its task's auto class, fp32, eager attention) and tokenizer, or a clear error."""
    from transformers import AutoConfig, AutoTokenizer

    from .tasks import task_of

    if not (model_dir / "config.json").is_file() or not any(model_dir.glob("*.safetensors")):
        raise FileNotFoundError(f"{model_dir} is not a saved student: it needs config.json and model.safetensors "
                                "(the folder `hf-distill distill` writes, <output_dir>/student).")
    kind = task_of(AutoConfig.from_pretrained(model_dir).architectures)
    model = kind.model_class().from_pretrained(model_dir, dtype="float32", attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(model_dir), kind


class _LogitsOnly(torch.nn.Module):
    """The model's forward with positional inputs and the logits out (what the exporter traces; QA: (B, T, 2),
    start and end per token)."""

    def __init__(self, model, names, kind):
        super().__init__()
        self.model, self.names, self.kind = model, names, kind

    def forward(self, *inputs):
        return self.kind.logits_of(self.model(**dict(zip(self.names, inputs))))


def export_onnx(student_dir, output_dir=None, opset: int = DEFAULT_OPSET, quantize: bool = True) -> Path:
    """Export a saved student to `<student_dir>/onnx` (or `output_dir`): model.onnx (fp32), model_int8.onnx (dynamic
    int8 weights, `quantize`), its tokenizer and config, export.json (opset, inputs, the fp32 check). Returns the
    folder. Raises FileNotFoundError (not a saved model), ImportError (no onnxruntime/onnx), ValueError (an opset
    the installed exporter lacks, or ONNX logits that differ from PyTorch's)."""
    ort = _require_onnxruntime()
    student_dir = Path(student_dir)
    out = Path(output_dir) if output_dir is not None else student_dir / ONNX_DIR
    model, tokenizer, kind = _load_saved(student_dir)
    from torch.onnx import _constants

    if not 7 <= opset <= _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET:
        raise ValueError(f"opset {opset} is not one this torch can export (7..{_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET}); "
                         f"use --opset {DEFAULT_OPSET}.")
    from .teacher import forward_arg_names

    names = [n for n in INPUTS if n in forward_arg_names(model)]
    enc = tokenizer(PROBE_TEXTS, padding=True, return_tensors="pt")
    names = [n for n in names if n in enc]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=out.parent))
    try:
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        axes["logits"] = {0: "batch", 1: "sequence"} if kind.token_level else {0: "batch"}
        with torch.no_grad():
            reference = kind.logits_of(model(**{n: enc[n] for n in names})).numpy()  # before the export, in eval mode
            torch.onnx.export(_LogitsOnly(model, names, kind).eval(), tuple(enc[n] for n in names), str(tmp / FP32_FILE),
                              input_names=names, output_names=["logits"], dynamic_axes=axes, opset_version=opset,
                              dynamo=False)
        model.eval()  # the exporter restores the wrapper's mode; keep the model in eval whatever it did
        session = cpu_session(tmp / FP32_FILE)
        got = session.run(None, {n: enc[n].numpy().astype(np.int64) for n in names})[0]
        diff = float(np.abs(got - reference).max())
        if diff > MAX_ABS_DIFF:
            raise ValueError(f"The exported ONNX model's logits differ from PyTorch's by {diff:.2e} (> {MAX_ABS_DIFF}): "
                             f"the export is wrong for this architecture; nothing was written to {out}.")
        info = {"opset": opset, "inputs": names, "fp32_max_abs_diff": diff, "files": [FP32_FILE],
                "onnxruntime": ort.__version__, "torch": torch.__version__, "source": str(student_dir),
                "session": {"config": SESSION_CONFIG, "disabled_optimizers": list(DISABLED_OPTIMIZERS)}}
        if quantize:
            quantize_int8(tmp / FP32_FILE, tmp / INT8_FILE)
            info["files"].append(INT8_FILE)
            info["int8"] = "dynamic quantization (onnxruntime.quantization.quantize_dynamic, QInt8 weights)"
        tokenizer.save_pretrained(tmp)
        model.config.to_json_file(tmp / "config.json")
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)  # an earlier export, replaced only now that this one is complete
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("exported %s to %s (fp32 logits within %.1e of PyTorch)", student_dir, out, diff)
    return out


def quantize_int8(fp32_path, int8_path) -> Path:
    """Dynamic int8 quantization of an ONNX model's weights (activations quantized at run time)."""
    _require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
    return Path(int8_path)


def cpu_session(path, num_threads: int | None = None, config: dict | None = None,
                disabled_optimizers=None, optimized_model_path=None):
    """An onnxruntime CPU session with `num_threads` intra-op threads (all cores by default), the session `config`
    entries (SESSION_CONFIG by default; {} for onnxruntime's own) and its graph fusions but `disabled_optimizers`
    (DISABLED_OPTIMIZERS by default; () for none). `optimized_model_path`: where to write the graph onnxruntime
    runs after its fusions (to inspect them)."""
    ort = _require_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(num_threads) if num_threads else (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    for key, value in (SESSION_CONFIG if config is None else config).items():
        options.add_session_config_entry(key, value)
    if optimized_model_path:
        options.optimized_model_filepath = str(optimized_model_path)
    disabled = DISABLED_OPTIMIZERS if disabled_optimizers is None else disabled_optimizers
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled))


class OnnxModel:
    """An ONNX Runtime session (`cpu_session`, its keyword arguments) that takes a tokenizer's output (numpy or
    torch) and returns the logits (numpy)."""

    def __init__(self, path, num_threads: int | None = None, **session):
        self.path = str(path)
        self.session = cpu_session(self.path, num_threads, **session)
        self.threads = self.session.get_session_options().intra_op_num_threads
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, **inputs) -> np.ndarray:
        feed = {}
        for name in self.input_names:
            value = inputs[name]
            value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
            feed[name] = value.astype(np.int64)
        return self.session.run(None, feed)[0]


def read_export(folder) -> dict | None:
    """export.json of an ONNX folder, or None."""
    path = Path(folder) / EXPORT_INFO
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["DISABLED_OPTIMIZERS", "EXPORT_INFO", "FP32_FILE", "INT8_FILE", "ONNX_DIR", "OnnxModel", "SESSION_CONFIG",
           "cpu_session", "export_onnx", "quantize_int8", "read_export"]
