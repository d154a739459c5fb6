"""Measuring a model: parameters, size of its weight files on disk, and latency of a forward callable.

    from hf_distill.measure import count_parameters, size_on_disk_mb, measure_latency_ms, time_forward
    measure_latency_ms(model, tokenizer, texts, batch_size=32)    # fp32, eval, inference mode, real texts

Latency is measured the same way for every model: fp32, eval mode, `torch.inference_mode`,
`torch.set_num_threads(os.cpu_count())`, real texts in order, each batch tokenized once up front with dynamic
padding (to the longest text of the batch, truncated at `max_length`), and only the forward pass timed with
`time.perf_counter`; the median over `runs` timed runs after `warmup` untimed ones. `time_forward` times any
callable the same way (another runtime later). Reporting (metrics, assembling, rendering) is hf_distill.report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

WEIGHT_SUFFIXES = (".safetensors", ".bin")
# .bin files that Trainer / accelerate write next to the weights but which are not weights.
NON_WEIGHT_BIN = frozenset({"training_args.bin"})


# --------------------------------------------------------------------------- size


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared / tied tensors counted once)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def weight_files(model_dir: str | os.PathLike) -> list[Path]:
    """The weight files of a saved model folder: its *.safetensors files, or, if there are none, its *.bin
    files (not `training_args.bin`). A folder holding both formats holds the same weights twice, so only
    the safetensors copy is counted."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise NotADirectoryError(f"Not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    safetensors = [p for p in files if p.name.endswith(".safetensors")]
    if safetensors:
        return safetensors
    return [p for p in files if p.name.endswith(".bin") and p.name not in NON_WEIGHT_BIN]


def size_on_disk_mb(model_dir: str | os.PathLike) -> float:
    """Size of the weight files in `model_dir` (see `weight_files`) in MB (1 MB = 1e6 bytes)."""
    files = weight_files(model_dir)
    if not files:
        raise FileNotFoundError(f"No *.safetensors or *.bin weight file in {model_dir}")
    return sum(p.stat().st_size for p in files) / 1e6


# --------------------------------------------------------------------------- inputs


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _tokenize(tokenizer, texts: Sequence[str], text_pairs: Sequence[str] | None, max_length: int) -> dict:
    """One batch, padded to its longest member, truncated at `max_length`."""
    args = (list(texts),) if text_pairs is None else (list(texts), list(text_pairs))
    return dict(tokenizer(*args, padding="longest", truncation=True, max_length=max_length, return_tensors="pt"))


def _check_pairs(texts: Sequence[str], text_pairs: Sequence[str] | None) -> None:
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(text_pairs)} text_pairs")


def _ensure_fp32(model: torch.nn.Module) -> None:
    """Cast floating-point parameters / buffers to fp32 in place if they are not already."""
    if any(t.is_floating_point() and t.dtype != torch.float32 for t in list(model.parameters()) + list(model.buffers())):
        model.float()


# --------------------------------------------------------------------------- latency


def time_forward(forward: Callable[[Any], Any], batches: Sequence[Any], warmup: int = 3,
                 sync: Callable[[], None] | None = None, num_threads: int | None = None) -> dict:
    """Milliseconds per call of any forward callable (a transformers model, an ONNX session, a static-embedding
    lookup): `warmup` untimed calls on batches `i % len(batches)`, then one timed call per batch, `sync` after
    each (CUDA), with `num_threads` torch threads (restored afterwards). {"median", "p90", "mean", "min", "max"}."""
    if not batches:
        raise ValueError("time_forward needs at least one batch")
    sync = sync or (lambda: None)
    previous_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    times_ms: list[float] = []
    try:
        for i in range(warmup):
            forward(batches[i % len(batches)])
        sync()
        for batch in batches:
            start = time.perf_counter()
            forward(batch)
            sync()
            times_ms.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(previous_threads)
    arr = np.asarray(times_ms)
    return {"median": float(np.median(arr)), "p90": float(np.percentile(arr, 90)), "mean": float(arr.mean()),
            "min": float(arr.min()), "max": float(arr.max())}


def latency_batches(tokenizer, texts: Sequence[str], batch_size: int, runs: int, max_length: int,
                    text_pairs: Sequence[str] | None = None) -> list[dict]:
    """The batches every latency figure times: batch j holds texts j*batch_size ... (j+1)*batch_size - 1 (cycled
    when there are fewer), tokenized up front (torch tensors) with dynamic padding, truncated at `max_length`."""
    n = len(texts)
    batches = []
    for j in range(runs):
        idx = [(j * batch_size + k) % n for k in range(batch_size)]
        pairs = None if text_pairs is None else [text_pairs[i] for i in idx]
        batches.append(_tokenize(tokenizer, [texts[i] for i in idx], pairs, max_length))
    return batches


def measure_runtime_latency_ms(forward: Callable[..., Any], tokenizer, texts: Sequence[str], batch_size: int,
                               max_length: int = 64, runs: int = 30, warmup: int = 3,
                               text_pairs: Sequence[str] | None = None, threads: int | None = None) -> dict:
    """Latency of another runtime's forward (an ONNX Runtime session: `forward(**numpy inputs)`) on the same
    batches as `measure_latency_ms`, timed the same way. `threads` is what the runtime was given (recorded)."""
    batches = [{k: v.numpy() for k, v in b.items()} for b in latency_batches(tokenizer, texts, batch_size, runs,
                                                                             max_length, text_pairs)]
    timing = time_forward(lambda batch: forward(**batch), batches, warmup=warmup)
    return {**timing, "batch_size": int(batch_size), "runs": int(runs), "warmup": int(warmup),
            "threads": int(threads or os.cpu_count() or 1), "max_length": int(max_length),
            "mean_seq_len": float(np.mean([b["input_ids"].shape[1] for b in batches]))}


def measure_latency_ms(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    batch_size: int,
    max_length: int = 64,
    runs: int = 30,
    warmup: int = 3,
    text_pairs: Sequence[str] | None = None,
    num_threads: int | None = None,
) -> dict:
    """Forward-pass latency of `model` in milliseconds per batch of `batch_size` real texts.

    Run i (warm-up runs first, then the timed runs) uses batch `i % runs`; batch j holds texts
    `j*batch_size ... (j+1)*batch_size - 1` of `texts` (cycled when there are fewer). All batches are
    tokenized before timing with dynamic padding and truncation at `max_length`. The model runs in fp32
    (cast in place if needed), eval mode and `torch.inference_mode`, with `torch.set_num_threads(os.cpu_count())`
    (the previous thread count and training mode are restored afterwards); `num_threads` overrides the
    thread count (e.g. 1 on a machine shared with other jobs, where waiting OpenMP threads inflate timings).

    Returns {"median", "p90", "mean", "min", "max"} in ms, plus "batch_size", "runs", "warmup", "threads",
    "max_length", "dtype" and "mean_seq_len" (mean padded length of the batches).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if runs < 1:
        raise ValueError("runs must be >= 1")
    if warmup < 0:
        raise ValueError("warmup must be >= 0")
    if not texts:
        raise ValueError("texts is empty")
    _check_pairs(texts, text_pairs)

    batches = latency_batches(tokenizer, texts, batch_size, runs, max_length, text_pairs)
    device = _model_device(model)
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    was_training = model.training
    threads = int(num_threads) if num_threads else (os.cpu_count() or 1)
    _ensure_fp32(model)
    model.eval()
    try:
        with torch.inference_mode():
            timing = time_forward(lambda batch: model(**batch), batches, warmup=warmup, sync=sync, num_threads=threads)
    finally:
        model.train(was_training)
    return {
        **timing,
        "batch_size": int(batch_size),
        "runs": int(runs),
        "warmup": int(warmup),
        "threads": int(threads),
        "max_length": int(max_length),
        "dtype": "fp32",
        "mean_seq_len": float(np.mean([b["input_ids"].shape[1] for b in batches])),
    }


__all__ = ["count_parameters", "latency_batches", "measure_latency_ms", "measure_runtime_latency_ms", "size_on_disk_mb",
           "time_forward", "weight_files"]
