"""Teacher placement: its dtype under each mixed precision, and under DeepSpeed ZeRO-3 a DeepSpeed inference engine,
so the teacher is sharded too.

Everywhere else (CPU, one GPU, DDP, FSDP, ZeRO-1/2) the teacher is simply moved to the process's device in the
training dtype (`DistillationTrainer._place_teacher`): it has no trainable parameters, so it is never wrapped
in DDP/FSDP, and each process holds a full frozen copy (an encoder teacher is small next to activations).
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import time

import torch
from transformers.hf_argparser import string_to_bool

logger = logging.getLogger("hf_distill")

# The teacher's dtype under each mixed precision (`--bf16`, `--fp16`, or the accelerate config's): the live teacher
# is cast to it and the teacher cache runs its forward under autocast in it; "no" keeps the weights' own dtype.
HALF_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# CPU flags of native bf16 arithmetic: without one, bf16 autocast is emulated (30x slower than fp32 on an AVX2 EPYC).
NATIVE_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
BF16_MIN_SPEEDUP = 1.1  # `bf16: auto` on a CPU turns bf16 on only when it measured at least this much faster


def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether the CPU lists native bf16 arithmetic (NATIVE_BF16_CPU_FLAGS); None where there is no cpuinfo file."""
    if not os.path.isfile(cpuinfo):
        return None
    with open(cpuinfo) as f:
        flags = set(f.read().split())
    return any(flag in flags for flag in NATIVE_BF16_CPU_FLAGS)


def cpu_bf16_speedup(rows: int = 512, repeats: int = 3) -> float:
    """fp32 time / bf16-autocast time of a BERT-sized feed-forward block's forward and backward on this CPU.

    Under a second where bf16 is native; an emulated bf16 is cut short after one timed pass (it is many times slower).
    """
    generator = torch.Generator().manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Linear(384, 1536), torch.nn.GELU(), torch.nn.Linear(1536, 384))
    x = torch.randn(rows, 384, generator=generator)  # (rows, 384): a batch of tokens

    def seconds(bf16: bool, passes: int) -> float:
        start = time.perf_counter()
        for _ in range(passes):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = block(x).float().sum()
            out.backward()
        return (time.perf_counter() - start) / passes

    seconds(False, 1)  # warm-up
    fp32 = seconds(False, repeats)
    seconds(True, 1)
    bf16 = seconds(True, 1)
    if bf16 < 3 * fp32:  # close: time it as long as fp32
        bf16 = seconds(True, repeats)
    return fp32 / bf16


@functools.cache
def auto_bf16(use_cpu: bool) -> tuple[bool, str]:
    """`bf16: auto` (the recipes' setting): (whether to train in bf16 autocast, why), by the device that will run.

    A CUDA GPU: bf16 where it supports it. A CPU: bf16 only when it has native bf16 (AMX or AVX512-BF16) and a
    short measurement (`cpu_bf16_speedup`) finds it faster; in a multi-process launch the flags alone decide, so
    that every rank decides alike. Anything else: fp32.
    """
    if not use_cpu and torch.cuda.is_available():
        supported = torch.cuda.is_bf16_supported()
        return supported, f"this GPU {'supports' if supported else 'does not support'} bf16"
    if not use_cpu and (torch.backends.mps.is_available() or getattr(torch, "xpu", None) and torch.xpu.is_available()):
        return False, "an accelerator other than CUDA: fp32 (set bf16 true to try it)"
    native = cpu_bf16_flags()
    if native is False:
        return False, f"this CPU lists none of {', '.join(NATIVE_BF16_CPU_FLAGS)}: bf16 would be emulated, slower"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return bool(native), "a multi-process launch: decided by the CPU flags alone"
    speedup = cpu_bf16_speedup()
    return speedup >= BF16_MIN_SPEEDUP, f"bf16 autocast measured {speedup:.2f}x the speed of fp32 on this CPU"


def precision_of(args) -> str:
    """"bf16", "fp16" or "fp32": what TrainingArguments `args` train in (after `bf16: auto` is resolved)."""
    return "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"


def resolve_auto_precision(argv: list[str]) -> list[str]:
    """`--bf16 auto` (or `--bf16=auto`) in an argument list -> `--bf16 true|false` by `auto_bf16`, before parsing.

    The device is the one `--use_cpu` (the last given) names; `auto_bf16` measures at most once per process.
    """
    argv = list(argv)
    autos = [i for i, item in enumerate(argv)
             if item == "--bf16=auto" or (item == "--bf16" and i + 1 < len(argv) and argv[i + 1] == "auto")]
    if not autos:
        return argv
    use_cpu = False  # read as HfArgumentParser reads a bool: a bare flag is true
    for i, item in enumerate(argv):
        if item == "--use_cpu":
            use_cpu = i + 1 >= len(argv) or argv[i + 1].startswith("--") or string_to_bool(argv[i + 1])
        elif item.startswith("--use_cpu="):
            use_cpu = string_to_bool(item.split("=", 1)[1])
    bf16, why = auto_bf16(use_cpu)
    logger.info("bf16: auto -> %s (%s)", str(bf16).lower(), why)
    for i in reversed(autos):
        argv[i : i + (1 if argv[i] == "--bf16=auto" else 2)] = ["--bf16", str(bf16).lower()]
    return argv


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
