"""Why the int8 student stopped near 4.6x the fp32 teacher at batch 32, and what moved it: onnxruntime's session
settings and its graph fusions tried before the int8 step, each timed on the same SST-2 batches as the shipped export
(issue 17).

    hf-distill pipeline --config recipes/sst2_minilm.yaml --output_dir runs/sst2_minilm     # the README's main job
    python bench/int8_variants.py --run_dir runs/sst2_minilm                               # then this (~4 min, alone)

The shipped model_int8.onnx under four session settings (`hf_distill.export.cpu_session`):
- `ort_defaults`: onnxruntime's own; `denormals_as_zero`: session.set_denormal_as_zero only; `no_skip_layer_norm`:
  the SkipLayerNormFusion optimizer disabled only; `shipped`: both (SESSION_CONFIG and DISABLED_OPTIMIZERS, what
  OnnxModel, the report and the model card's snippet use).
Variants of the student's fp32 ONNX graph (`hf-distill export`), each quantized by the same dynamic int8 call and run
with the shipped settings:
- `fused_attention`: `onnxruntime.transformers.optimizer` for BERT (Attention, SkipLayerNorm, BiasGelu, EmbedLayerNorm);
- `fused_mha`: the same with MultiHeadAttention in place of Attention;
- `fused_no_attention`: the same fusions but attention left as MatMul/Softmax;
- `fused_fast_gelu`: the attention fusion with the tanh approximation of GELU.
The fp32 PyTorch teacher is timed before and after on the same batches (2 threads, median of each batch's forward).
Writes bench/results/int8_variants.json and int8_variants.md.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter

import suite_data

RESULTS = os.path.join(suite_data.REPO, "bench", "results")
VARIANTS = ("shipped", "fused_attention", "fused_mha", "fused_no_attention", "fused_fast_gelu")
SESSIONS = {"ort_defaults": {"config": {}, "disabled_optimizers": ()},
            "denormals_as_zero": {"disabled_optimizers": ()},
            "no_skip_layer_norm": {"config": {}}}  # and "shipped": cpu_session's defaults


def make_variant(name: str, fp32: str, folder: str, heads: int, hidden: int) -> tuple[str, dict]:
    """The variant's int8 file and the op counts of its fp32 graph before quantization."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    out = os.path.join(folder, f"{name}_int8.onnx")
    if name == "shipped":
        ops = Counter(n.op_type for n in onnx.load(fp32).graph.node)
        return os.path.join(os.path.dirname(fp32), "model_int8.onnx"), dict(ops)
    options = FusionOptions("bert")
    options.enable_attention = name != "fused_no_attention"
    options.use_multi_head_attention = name == "fused_mha"
    options.enable_gelu_approximation = name == "fused_fast_gelu"
    model = optimize_model(fp32, model_type="bert", num_heads=heads, hidden_size=hidden, optimization_options=options)
    fused = os.path.join(folder, f"{name}_fp32.onnx")
    model.save_model_to_file(fused)
    # contrib ops (Attention, SkipLayerNormalization, ...) defeat shape inference: their outputs are float
    quantize_dynamic(fused, out, weight_type=QuantType.QInt8,
                     extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT})
    return out, dict(Counter(n.op_type for n in model.model.graph.node))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", default=os.path.join(suite_data.REPO, "runs", "sst2_minilm"))
    parser.add_argument("--runs", type=int, default=27, help="timed batches of 32 (after 3 warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", default=RESULTS)
    args = parser.parse_args()

    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from hf_distill.data import DataArguments, load_task_data
    from hf_distill.export import FP32_FILE, INT8_FILE, ONNX_DIR, OnnxModel, export_onnx
    from hf_distill.measure import measure_latency_ms, measure_runtime_latency_ms

    teacher_dir, student_dir = os.path.join(args.run_dir, "teacher"), os.path.join(args.run_dir, "student")
    onnx_dir = os.path.join(student_dir, ONNX_DIR)
    if not os.path.isfile(os.path.join(onnx_dir, FP32_FILE)):
        export_onnx(student_dir)
    data = load_task_data(DataArguments(task_name="sst2", train_file=os.path.join(suite_data.SHARED, "sst2", "train.tsv"),
                                        validation_file=os.path.join(suite_data.SHARED, "sst2", "validation.tsv")))
    texts = [t.strip() for t in data.validation[data.text_column]]
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    config = AutoConfig.from_pretrained(student_dir)
    same = dict(tokenizer=tokenizer, texts=texts, batch_size=32, max_length=128, runs=args.runs, warmup=3)

    def teacher_ms() -> float:
        return measure_latency_ms(teacher, num_threads=args.threads, **same)["median"]

    folder = os.path.join(args.run_dir, "int8_variants")
    os.makedirs(folder, exist_ok=True)
    result = {"threads": args.threads, "batch_size": 32, "timed_batches": args.runs, "teacher_torch_fp32_ms": [teacher_ms()],
              "variants": {}}
    shipped = os.path.join(onnx_dir, INT8_FILE)
    for name, session in SESSIONS.items():
        ms = measure_runtime_latency_ms(OnnxModel(shipped, num_threads=args.threads, **session), threads=args.threads,
                                        **same)["median"]
        result["variants"][name] = {"ms_b32": ms, "session": session}
        print(name, f"{ms:.1f} ms", flush=True)
    for name in VARIANTS:
        path, ops = make_variant(name, os.path.join(onnx_dir, FP32_FILE), folder, config.num_attention_heads,
                                 config.hidden_size)
        ms = measure_runtime_latency_ms(OnnxModel(path, num_threads=args.threads), threads=args.threads, **same)["median"]
        result["variants"][name] = {"ms_b32": ms, "fp32_graph_ops": ops}
        print(name, f"{ms:.1f} ms", flush=True)
    result["teacher_torch_fp32_ms"].append(teacher_ms())
    teacher_b32 = sum(result["teacher_torch_fp32_ms"]) / 2
    for v in result["variants"].values():
        v["speedup_b32"] = teacher_b32 / v["ms_b32"]
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "int8_variants.json"), "w") as f:
        json.dump(result, f, indent=2)
    lines = ["# int8 student variants at batch 32 (`python bench/int8_variants.py`)", "",
             f"The fp32 PyTorch teacher on the same {args.runs} batches of 32 SST-2 validation texts: "
             f"{' and '.join(f'{t:.1f}' for t in result['teacher_torch_fp32_ms'])} ms (before and after); "
             f"{args.threads} threads.", "", "| variant | int8 ms at b32 | speed-up vs fp32 torch teacher |", "|---|---|---|"]
    lines += [f"| {k} | {v['ms_b32']:.1f} | {v['speedup_b32']:.2f}x |" for k, v in result["variants"].items()]
    with open(os.path.join(args.results, "int8_variants.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
