"""Weight averaging: the student kept as the uniform average of its weights over the last steps of training.

    DistillationConfig(..., weight_averaging_fraction=0.25)   # the mean of the weights after each of the last 25% of
                                                              # optimizer steps replaces the last weights at the end

Stochastic weight averaging (Izmailov et al., 2018) in its simplest form, on the schedule the Trainer already runs:
the average is over the weights after each optimizer step from `start_step` on, kept in fp32 beside the model
(one more copy of the trainable weights), written into the model when training ends, before it is saved. A
checkpoint holds the running average (`AVERAGE_FILE`), so a resumed run continues the same average.
"""

from __future__ import annotations

import math
import os

import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

AVERAGE_FILE = "hf_distill_weight_average.safetensors"
COUNT_KEY = "__count__"


def start_step(max_steps: int, fraction: float) -> int:
    """The last optimizer step left out of the average: the weights after steps start_step+1 .. max_steps are averaged
    (at least the last one)."""
    return min(max_steps - 1, math.floor(max_steps * (1 - fraction)))


class WeightAverage(TrainerCallback):
    """Keeps `average = mean(weights after step s for s in start_step+1 .. global_step)` of every trainable weight and
    writes it into the model on `on_train_end`. Needs full (unsharded) weights on each process: not under FSDP or
    DeepSpeed ZeRO-3 (the trainer refuses those before training)."""

    def __init__(self, fraction: float):
        self.fraction = fraction
        self.average: dict[str, torch.Tensor] = {}
        self.count = 0
        self.start = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = start_step(state.max_steps, self.fraction)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step <= self.start:
            return
        self.count += 1
        with torch.no_grad():
            for name, param in _trainable(model):
                if name not in self.average:
                    self.average[name] = param.detach().float().clone()
                else:  # the running mean: avg += (x - avg) / n
                    self.average[name].lerp_(param.detach().float(), 1 / self.count)

    def on_save(self, args, state, control, **kwargs):
        if self.count and args.should_save:
            folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
            tensors = {k: v.cpu().contiguous() for k, v in self.average.items()}
            tensors[COUNT_KEY] = torch.tensor(self.count)
            save_file(tensors, os.path.join(folder, AVERAGE_FILE), metadata={"format": "pt"})

    def load(self, folder: str, device) -> None:
        """Continue the average a checkpoint holds (none before its start step)."""
        path = os.path.join(folder, AVERAGE_FILE)
        if os.path.isfile(path):
            tensors = load_file(path, device="cpu")
            self.count = int(tensors.pop(COUNT_KEY))
            self.average = {k: v.to(device) for k, v in tensors.items()}

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if not self.count:
            return
        with torch.no_grad():
            for name, param in _trainable(model):
                param.copy_(self.average[name].to(param.dtype))


def _trainable(model):
    return ((name, p) for name, p in model.named_parameters() if p.requires_grad)
