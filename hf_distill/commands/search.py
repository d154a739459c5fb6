"""`hf-distill search`: distil candidate student shapes briefly, measure their latency, pick the smallest that
keeps the goal (hf_distill.search), and print the `distill` options of the chosen shape.

    hf-distill search --config recipes/sst2_minilm.yaml --teacher runs/sst2_minilm/teacher --output_dir runs/search
"""

from __future__ import annotations

from ..arguments import ModelArguments, Parsed
from ..config import DistillationConfig
from ..data import DataArguments
from ..search import SearchArguments, run_search

SUMMARY = "distil candidate student shapes briefly, measure their latency, pick the smallest that keeps the goal"
ARGUMENTS = (ModelArguments, DataArguments, DistillationConfig, SearchArguments)


def run(args: Parsed) -> dict:
    if args.model.teacher is None:
        raise ValueError("search needs --teacher (a fine-tuned teacher folder or Hub id).")
    result = run_search(args.model, args.data, args.config, args.search, args.teacher_dir, args.output_dir)
    chosen = result["chosen"]
    print(f"chosen: {chosen['name']} ({chosen['accuracy']:.4f} held-out, {chosen['latency_ms_b32']:.1f} ms at "
          f"batch 32). Distil it fully with: hf-distill distill <same options> {distill_options(chosen)}")
    return result


def distill_options(chosen: dict) -> str:
    """The `hf-distill distill` options that build the chosen shape."""
    if chosen["init"] == "fresh":
        return (f"--student_config num_hidden_layers={chosen['layers']},hidden_size={chosen['hidden_size']},"
                f"num_attention_heads={chosen['num_attention_heads']},intermediate_size={chosen['intermediate_size']}")
    shape = f"--student_num_layers {chosen['layers']}"
    if chosen["init"] == "sliced":
        shape += f" --student_width {chosen['hidden_size']}:{chosen['num_attention_heads']}:{chosen['intermediate_size']}"
    return shape
