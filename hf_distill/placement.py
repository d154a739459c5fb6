"""Teacher placement: its dtype under each mixed precision, and under DeepSpeed ZeRO-3 a DeepSpeed inference engine,
so the teacher is sharded too.

Everywhere else (CPU, one GPU, DDP, FSDP, ZeRO-1/2) the teacher is simply moved to the process's device in the
training dtype (`DistillationTrainer._place_teacher`): it has no trainable parameters, so it is never wrapped
in DDP/FSDP, and each process holds a full frozen copy (an encoder teacher is small next to activations).
"""

from __future__ import annotations

import copy

import torch

# The teacher's dtype under each mixed precision (`--bf16`, `--fp16`, or the accelerate config's): the live teacher
# is cast to it and the teacher cache runs its forward under autocast in it; "no" keeps the weights' own dtype.
HALF_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def zero3_inference_config(train_config: dict, hidden_size: int) -> dict:
    """The training DeepSpeed config, stripped of optimizer and scheduler, with ZeRO-3 'auto' sizes resolved."""
    config = copy.deepcopy(train_config)
    config.pop("optimizer", None)
    config.pop("scheduler", None)
    zero = config.setdefault("zero_optimization", {})
    zero["stage"] = 3
    auto_sizes = {
        "reduce_bucket_size": hidden_size * hidden_size,
        "stage3_param_persistence_threshold": 10 * hidden_size,
        "stage3_prefetch_bucket_size": int(0.9 * hidden_size * hidden_size),
    }
    for key, value in auto_sizes.items():
        if zero.get(key, "auto") == "auto":
            zero[key] = value
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"):
        if config.get(key) == "auto":
            config.pop(key)
    config.setdefault("train_micro_batch_size_per_gpu", 1)
    return config


def deepspeed_inference_engine(teacher, accelerator):
    """Wrap the frozen teacher in a DeepSpeed engine with the training run's ZeRO-3 config (no optimizer)."""
    import deepspeed

    plugin = accelerator.state.deepspeed_plugin
    config = zero3_inference_config(plugin.deepspeed_config, teacher.config.hidden_size)
    engine, *_ = deepspeed.initialize(model=teacher, config=config)
    engine.eval()
    engine.config = teacher.config  # callers read .config.num_hidden_layers etc.
    return engine


def is_main_process() -> bool:
    """Whether this process writes shared files (reports, cards, info files): the only one, or rank 0."""
    from accelerate import PartialState

    return PartialState().is_main_process
