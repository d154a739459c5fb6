"""The rules that adapt the default recipe to the data: how long to train, how long the inputs, how many
teacher-labelled copies, which teacher assistants. Pure functions of the data's size and token lengths, so a user
changes only data paths and column names (`recipes/sst2_minilm.yaml` states the same rules in its comments).

    python -c "from hf_distill.recipe import training_steps; print(training_steps(4949, 32, 4, 4000))"

- **Length by optimizer steps.** A recipe's epochs are a floor and `min_train_steps` another: SST-2 (67k rows,
  2,100 steps an epoch) trains its 2 epochs, a 5k-row task trains 4,000 steps (26 epochs). Few steps, not the
  loss mix alone, is what made the first shipped recipe (2 epochs, no floor) lose to labels-only on small data
  (`bench/results/recipe_rules.md`); the recipe's 4,000 against 2,000 on held-out rows: BANKING77 0.903 against
  0.894, CoNLL-2003 F1 0.900 against 0.888 (`ner_rules.md`), STS-B pairs with their copies 0.811 both. Above the
  floor more epochs did not pay: on SST-2 without 1,000 held-out whole sentences (53.7k rows) the student scored
  0.859 on them after 2 epochs (3,360 steps) and 0.857 after 4 (6,720 steps; teacher 0.881), training half as long.
- **max_length from the texts.** When not given: the 99th percentile of the training rows' token lengths (pairs
  counted together), rounded up to a multiple of 16, at most the model's limit; batches are padded dynamically,
  so a long tail costs only its own rows.
- **The teacher's learning rate by width.** With `teacher_lr_reference_width` set, `teacher_learning_rate` is for
  an encoder that wide, and one of hidden size h fine-tunes at lr x width / h (Adam's update size per weight is set
  by the learning rate, while a wider layer sums more of them): the recipe's 1e-4 at width 384 (MiniLM) is 5e-5
  for the 768-wide MPNet. The student keeps `learning_rate` as given: a 6-layer MPNet student scored higher at 1e-4
  than at 5e-5 on held-out rows (bench/results/recipe_rules.md).
- **The teacher's learning rate by the size of the data.** With `teacher_large_data_learning_rate` set, a teacher
  whose epochs alone fill its step floor (`teacher_min_train_steps`; 2,000 steps of 32 rows: about 64k rows for 1
  epoch) fine-tunes at that rate, a smaller one at `teacher_learning_rate` (the floor stretches it over several
  passes), both scaled by width as above. The recipe's 5e-5 and 1e-4, measured on held-out training rows at both
  ends: on SST-2 (67k rows, 1 epoch) the 3-layer student distilled from the 5e-5 teacher scored 0.895 on 1,000
  held-out sentences against 0.880 from the 1e-4 one; on BANKING77 (10k rows, 6 passes) the 1e-4 teacher scored
  0.924 against 0.880, and the student distilled from it 0.894 against 0.886.
- **Teacher-labelled copies for sentence pairs.** With `augment_pairs_to_rows` set (the recipe: 30,000), sentence-
  pair data gets `hf_distill.augment` copies until the rows reach about that many (at most 8 copies), and the copies do
  not lengthen training: the epochs count the real rows. On 800 held-out STS-B training pairs the 3-layer student
  scored Pearson 0.811 with 6 copies against 0.764 without (teacher 0.861), the same 2,000 steps, and 0.820 when a
  fifth of the copies cross pairs (the recipe's `augment_cross_prob` 0.2: the second text from another row, so the
  teacher also scores unrelated pairs; half the copies swapped instead: 0.811); single texts get
  none: on BANKING77 copies lost (0.873 against 0.894, same steps), and on held-out SST-2 sentences an earlier
  augmented candidate scored 0.881 against 0.887 (3 epochs with copies against 4 without).
- **Teacher assistants for small sentence-pair data** (`pair_assistants` 2, `assistant_steps_fraction` 0.5,
  `assisted_steps_fraction` 0.5, `assisted_cut` top, with
  the copies' crossed pairs drawn from rows sharing words, `augment_cross_neighbours` 3). Where the pair rule gives
  copies, the student given by its depth is cut from the last of up to 2 assistants (`pair_assistant_depths`: 5 then
  4 layers between a 6-layer teacher and a 3-layer student), each distilled from the teacher with the same settings
  for half the student's steps and cut from the one before (`distill`'s `through_assistants`). On the same 800
  STS-B pairs (fp32 teacher 0.857, 2,000 student steps): 0.8438 (seed 42), and with full-length assistants 0.8435
  and 0.8401 with two seeds, against 0.836 and 0.833 for the direct cut (0.833 and 0.831 without the neighbours):
  the largest gain any 3-layer change made on pairs. The student, from its last assistant, trains half the steps it
  would train alone (`assisted_steps_fraction`), so the chain costs about as many steps as a student alone: with the
  held-out teacher retrained (0.8531), the student from the same assistants scored 0.8442, 0.8450 and 0.8443 after
  1,000, 2,000 and 4,000 steps (seed 43: 0.8395 and 0.8421 after 2,000 and 4,000; 0.001 on average for half the
  time, within the seeds' spread). It is cut from that assistant's layers but the last and its top one, the one its
  head reads (`assisted_cut` top, 1, 2, 4 of 4): 0.8466 and 0.8421 with two seeds against 0.8450 and 0.8395 for its
  bottom three. Not adopted (0.8466 and 0.8421 to beat): the same cut at every stage of the chain (assistants 0.8557
  and 0.8484 against 0.8518 and 0.8473) 0.8455 and 0.8396, twice the copies 0.8457, student dropout 0.2 0.8433,
  frozen word embeddings 0.8457 and 0.8409, the copies' words masked and replaced at 0.2 each 0.8404 or 0.05 each
  0.8435, MixKD (`mixup_weight` 0.5, a live teacher on mixed rows) 0.8427 in 2.1x the time, the hidden term as
  cosine 0.8460, the learning rate warmed up over a tenth of the steps 0.8463, the hidden term at 1 0.8478 and 0.8411,
  the logit term at 1.5 0.8469. Single texts get none: they already kept
  their teachers' metric (bench/results/tasks.md) and were not measured with assistants.
- **No attention term** (the recipe's `attention_weight` 0, on every kind of data). The TinyBERT term at 0.1 lost
  on each kind, scored on rows held out of training (`bench/results/recipe_rules.md`): on the same 800 STS-B pairs,
  with an fp32 teacher of 0.857 (6 copies, a fifth crossed, 2,000 steps), 0.833 without it against 0.820, where it
  was ~45% of the logged loss and the student fitted its teacher's scores on its own training pairs at Pearson 0.962
  with it, 0.970 without (it underfits, and more data or push did not help: 12 copies 0.822, the logit term at 2
  0.817, the student at 2e-4 0.820, the hidden term at 1 0.832 or 0 0.823, the student without dropout 0.830, no
  label term 0.832, twice the crossed share 0.834, crossing to rows that share words, `augment_cross_neighbours` 3,
  0.836, the student cut from layers 1, 2, 3 instead of 1, 3, 5 0.839, the cut first trained 20-25 min to follow its
  6-layer base on general text 0.837 or on the task's texts 0.839 (+0.004 over two seeds), the student cut from a chain
  of teacher assistants 0.8435 and 0.8401 (above); a 4-layer student 0.845: on pairs the limit is the 3-layer
  student's capacity); SST-2 without
  1,000 held-out sentences, 2 epochs: 0.864 against 0.859 (teacher 0.881); BANKING77 from 2,000 labelled rows: 0.849
  against 0.848; CoNLL-2003: F1 0.888 against 0.862 (`ner_rules.md`; the token rule, `apply_token_rule`, keeps it
  off for per-token tasks in recipes that turn it on).
- **Unlabelled texts do not lengthen training** (`apply_unlabeled_rows`). Texts given by `--unlabeled_file` are
  labelled by the teacher (only its terms train on them), and the epochs and the step floor count the labelled rows.
  On BANKING77 with 2,000 labelled training rows and the other 7,003 training texts unlabelled (1,000 held out;
  teacher 0.870), the same 2,000 steps: 0.856 with them, 0.848 without, labels alone 0.840.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random

logger = logging.getLogger(__name__)

LENGTH_PERCENTILE = 99
LENGTH_SAMPLE = 2000  # rows tokenized to find the percentile (a seeded sample of the training rows)
MAX_PAIR_COPIES = 8


def steps_per_epoch(rows: int, rows_per_step: int) -> int:
    """Optimizer steps in one epoch of `rows` rows when each step consumes `rows_per_step` (the last batch kept)."""
    if rows_per_step <= 0:
        raise ValueError(f"rows_per_step must be > 0, got {rows_per_step}.")
    return max(1, math.ceil(rows / rows_per_step))


def training_steps(rows: int, rows_per_step: int, epochs: float, min_steps: int) -> int:
    """The optimizer steps to train: `epochs` over the rows, and at least `min_steps`."""
    return max(math.ceil(epochs * steps_per_epoch(rows, rows_per_step)), int(min_steps))


def rows_per_step(args) -> int:
    """Training rows one optimizer step consumes under `args` (TrainingArguments): batch x accumulation x processes."""
    return args.train_batch_size * args.gradient_accumulation_steps * args.world_size


def apply_min_train_steps(args, rows: int, min_steps: int, who: str) -> None:
    """Raise `args.max_steps` (TrainingArguments) to `min_steps` where `args.num_train_epochs` over `rows` rows give
    fewer optimizer steps; an explicit `max_steps` wins."""
    if not min_steps or args.max_steps > 0:
        return
    by_epochs = training_steps(rows, rows_per_step(args), args.num_train_epochs, 0)
    if by_epochs < min_steps:
        args.max_steps = int(min_steps)
        logger.info("%s: %g epochs are %d optimizer steps, under the %d-step floor: training %d steps (%.1f epochs)",
                    who, args.num_train_epochs, by_epochs, min_steps, min_steps,
                    min_steps / steps_per_epoch(rows, rows_per_step(args)))


def pair_copies(rows: int, target_rows: int) -> int:
    """Teacher-labelled copies of each row so that rows x (1 + copies) reaches about `target_rows` (0 to 8)."""
    if target_rows <= 0 or rows <= 0:
        return 0
    return max(0, min(MAX_PAIR_COPIES, math.ceil(target_rows / rows) - 1))


def apply_pair_augmentation(data_args, data, config) -> int:
    """The pair rule (`data_args.augment_pairs_to_rows`): for sentence-pair data distilled with a teacher term and no
    explicit `augment_copies`, set `augment_copies` by `pair_copies` and divide `config.num_train_epochs` by
    (1 + copies), so that the epochs (and the step floor) count the real rows. Returns the copies it set (0: none)."""
    if (data_args.augment_copies or not data_args.augment_pairs_to_rows or data.text_pair_column is None
            or data.kind.token_level or data.train is None or not config.uses_teacher):
        return 0
    copies = pair_copies(len(data.train), data_args.augment_pairs_to_rows)
    if copies:
        data_args.augment_copies = copies
        config.num_train_epochs = config.num_train_epochs / (1 + copies)
        logger.info("sentence pairs: %d teacher-labelled copies of each of the %d rows (augment_pairs_to_rows %d); "
                    "the epochs count the real rows", copies, len(data.train), data_args.augment_pairs_to_rows)
    return copies


def pair_assistant_depths(teacher_depth: int, student_depth: int, most: int) -> list[int]:
    """The pair rule's assistants: at most `most` depths strictly between the student's and the teacher's, evenly
    spaced, deepest first (6 -> 3 with 2: [5, 4]; 12 -> 6: [10, 8]; 12 -> 3: [9, 6]; 6 -> 3 with 1: [5])."""
    count = min(most, teacher_depth - student_depth - 1)
    if count <= 0:
        return []
    step = (teacher_depth - student_depth) / (count + 1)
    return [math.floor(student_depth + step * k + 0.5) for k in range(count, 0, -1)]


def apply_pair_assistants(model_args, data_args, data, teacher_depth: int):
    """The pair rule's assistants (`model_args.pair_assistants`): sentence pairs that `apply_pair_augmentation` gives
    copies (small pair data, no explicit `augment_copies`), with the student given by its depth and no
    `assistant_layers`, are distilled through `pair_assistant_depths` assistants first (TAKD; `distill`'s
    `through_assistants`). Returns `model_args`, with `assistant_layers` set where the rule applies. The caller
    applies it only where a teacher term trains (the assistants are distilled students)."""
    if (not model_args.pair_assistants or model_args.assistant_layers or not model_args.cuts_by_depth()
            or model_args.student_width or data.text_pair_column is None or data.kind.token_level
            or data.train is None or data_args.augment_copies or not data_args.augment_pairs_to_rows
            or not pair_copies(len(data.train), data_args.augment_pairs_to_rows)):
        return model_args
    depths = pair_assistant_depths(teacher_depth, model_args.student_num_layers, model_args.pair_assistants)
    if not depths:
        return model_args
    logger.info("sentence pairs: distilled through teacher assistants of %s layers first (pair_assistants %d), each "
                "trained %g of the student's steps", ", ".join(map(str, depths)), model_args.pair_assistants,
                model_args.assistant_steps_fraction)
    return dataclasses.replace(model_args, assistant_layers=",".join(map(str, depths)))


def apply_unlabeled_rows(config, rows: int, unlabeled_rows: int) -> None:
    """The transfer-set rule: unlabelled rows (`--unlabeled_file`, labelled by the teacher) do not lengthen training.
    `config.num_train_epochs` is scaled by rows / (rows + unlabeled_rows), so that the epochs (and the step floor)
    count the `rows` training rows (with their copies, which the pair rule already counts as real rows)."""
    if unlabeled_rows and rows:
        config.num_train_epochs = config.num_train_epochs * rows / (rows + unlabeled_rows)
        logger.info("%d unlabelled rows for the teacher to label beside the %d training rows; the epochs count the "
                    "training rows", unlabeled_rows, rows)


def apply_token_rule(data, config) -> bool:
    """The token rule: for per-token tasks (token classification, QA), `config.token_hidden_weight`,
    `token_attention_weight` and `token_min_train_steps` (where set) replace hidden_weight, attention_weight and
    min_train_steps. On CoNLL-2003 valid.txt (bench/results/ner_rules.md) the sequence recipe's TinyBERT attention
    term outweighed the per-word logit terms some 20 to 1 and cost 2-5 F1 points; without it, 4,000 steps gained
    1.2 points on 2,000. Returns whether it changed anything."""
    if not data.kind.token_level:
        return False
    changed = False
    for name in ("hidden_weight", "attention_weight", "min_train_steps"):
        value = getattr(config, f"token_{name}")
        if value is not None and value != getattr(config, name):
            logger.info("token rule: %s %s for %s data (was %s)", name, value, data.kind.name, getattr(config, name))
            setattr(config, name, value)
            changed = True
    return changed


def teacher_learning_rate(rate: float, large_data_rate: float | None, rows: int, rows_per_step: int, epochs: float,
                          min_steps: int) -> float:
    """The teacher's rate by the size of its data: `large_data_rate` when `epochs` over `rows` alone reach the
    `min_steps` floor (large data, every row seen once or so), else `rate` (the floor adds passes over small data).
    None, or no floor (`min_steps` 0): `rate` whatever the size."""
    if large_data_rate is None or min_steps <= 0 or training_steps(rows, rows_per_step, epochs, 0) < min_steps:
        return rate
    return large_data_rate


def scaled_learning_rate(learning_rate: float, hidden_size: int, reference_width: int | None) -> float:
    """`learning_rate` for a model of `hidden_size`, when the rate was set for `reference_width` (None: as given)."""
    if reference_width is None:
        return learning_rate
    if reference_width <= 0 or hidden_size <= 0:
        raise ValueError(f"widths must be > 0, got reference {reference_width} and hidden size {hidden_size}.")
    return learning_rate * reference_width / hidden_size


def apply_learning_rate_rule(learning_rate: float, model, reference_width: int | None, who: str) -> float:
    """`scaled_learning_rate` for `model` (its config's hidden_size), logged when it changes the rate."""
    hidden = getattr(model.config, "hidden_size", None)
    if reference_width is None or hidden is None:
        return learning_rate
    scaled = scaled_learning_rate(learning_rate, hidden, reference_width)
    if scaled != learning_rate:
        logger.info("%s learning rate %.3g: %.3g is for width %d, this model is %d wide (teacher_lr_reference_width)",
                    who, scaled, learning_rate, reference_width, hidden)
    return scaled


QA_MAX_LENGTH = 384  # question answering: windows of at most this many tokens (run_qa.py's), however long the contexts


def max_length_for(tokenizer, texts: list[str], pairs: list[str] | None = None, seed: int = 0) -> int:
    """`LENGTH_PERCENTILE`th percentile of the token lengths of (a seeded sample of) the rows (texts, or lists of
    words for a token task), rounded up to a
    multiple of 16, between 16 and the tokenizer's `model_max_length` (512 when it states none)."""
    if not texts:
        raise ValueError("max_length_for needs at least one text.")
    idx = list(range(len(texts)))
    if len(idx) > LENGTH_SAMPLE:
        idx = sorted(random.Random(seed).sample(idx, LENGTH_SAMPLE))
    sample = [texts[i] or "" for i in idx]
    sample_pairs = [pairs[i] or "" for i in idx] if pairs is not None else None
    words = isinstance(sample[0], list)  # a token task: rows of words
    encoded = tokenizer(sample, sample_pairs, truncation=False, **({"is_split_into_words": True} if words else {}))["input_ids"]
    lengths = sorted(len(ids) for ids in encoded)
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
        if data.kind.span and data_args.max_length > QA_MAX_LENGTH:  # longer contexts are read in windows
            data_args.max_length = QA_MAX_LENGTH
            logger.info("max_length %d for question answering: longer contexts become windows (doc_stride %d)",
                        QA_MAX_LENGTH, data.doc_stride)
    return data_args.max_length
