"""The rules that adapt the default recipe to the data: how long to train, how long the inputs, how many
teacher-labelled copies. Pure functions of the data's size and token lengths, so a user changes only data paths
and column names (`recipes/sst2_minilm.yaml` states the same rules in its comments).

    python -c "from hf_distill.recipe import training_steps; print(training_steps(4949, 32, 4, 2000))"

- **Length by optimizer steps.** A recipe's epochs are a floor and `min_train_steps` another: SST-2 (67k rows,
  2,100 steps an epoch) trains its 4 epochs, a 5k-row task trains 2,000 steps (13 epochs). Few steps, not the
  loss mix alone, is what made the shipped 2-epoch recipe lose to labels-only on small data
  (`bench/results/recipe_rules.md`).
- **max_length from the texts.** When not given: the 99th percentile of the training rows' token lengths (pairs
  counted together), rounded up to a multiple of 16, at most the model's limit; batches are padded dynamically,
  so a long tail costs only its own rows.
"""

from __future__ import annotations

import logging
import math
import random

logger = logging.getLogger(__name__)

LENGTH_PERCENTILE = 99
LENGTH_SAMPLE = 2000  # rows tokenized to find the percentile (a seeded sample of the training rows)


def steps_per_epoch(rows: int, rows_per_step: int) -> int:
    """Optimizer steps in one epoch of `rows` rows when each step consumes `rows_per_step` (the last batch kept)."""
    if rows_per_step <= 0:
        raise ValueError(f"rows_per_step must be > 0, got {rows_per_step}.")
    return max(1, math.ceil(rows / rows_per_step))


def training_steps(rows: int, rows_per_step: int, epochs: float, min_steps: int) -> int:
    """The optimizer steps to train: `epochs` over the rows, and at least `min_steps`."""
    return max(math.ceil(epochs * steps_per_epoch(rows, rows_per_step)), int(min_steps))


def max_length_for(tokenizer, texts: list[str], pairs: list[str] | None = None, seed: int = 0) -> int:
    """`LENGTH_PERCENTILE`th percentile of the token lengths of (a seeded sample of) the rows, rounded up to a
    multiple of 16, between 16 and the tokenizer's `model_max_length` (512 when it states none)."""
    if not texts:
        raise ValueError("max_length_for needs at least one text.")
    idx = list(range(len(texts)))
    if len(idx) > LENGTH_SAMPLE:
        idx = sorted(random.Random(seed).sample(idx, LENGTH_SAMPLE))
    sample = [texts[i] or "" for i in idx]
    sample_pairs = [pairs[i] or "" for i in idx] if pairs is not None else None
    lengths = sorted(len(ids) for ids in tokenizer(sample, sample_pairs, truncation=False)["input_ids"])
    value = lengths[min(len(lengths) - 1, math.ceil(LENGTH_PERCENTILE / 100 * len(lengths)) - 1)]
    limit = tokenizer.model_max_length if 0 < (tokenizer.model_max_length or 0) <= 100_000 else 512
    return int(min(limit, max(16, 16 * math.ceil(value / 16))))


def resolve_max_length(data_args, data, tokenizer) -> int:
    """`data_args.max_length`, set from the training texts' token lengths when it was not given (hf_distill.recipe)."""
    if data_args.max_length is None:
        split = "train" if data.train is not None else "validation"
        texts, pairs = data.texts(split)
        data_args.max_length = max_length_for(tokenizer, texts, pairs)
        logger.info("max_length %d: the 99th percentile of the %s texts' token lengths", data_args.max_length, split)
    return data_args.max_length
