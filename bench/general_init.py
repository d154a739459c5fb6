"""Task-agnostic distillation of a cut student (an experiment): does a 3-layer student that first learns to follow its
pretrained 6-layer base on general text distil a task better than the plain cut?

    python bench/general_init.py --out runs/general/minilm_l3 --steps 1100        # 20 min on 2 cores (1,056 steps)
    python bench/general_init.py --out /tmp/general_smoke --steps 3 --smoke        # seconds
    python bench/recipe_rules.py --tasks stsb --teacher_from teacher_lr1e-4_fp32 --candidates s2k_gen_aug_cross_nb3_noatt
    python bench/general_init.py --out runs/general/minilm_l3_stsb --steps 1500 --minutes 25 \
        --text_file runs/recipe_rules/stsb/data/train.jsonl        # STS-B's training texts (held-out rows not in it)
    python bench/recipe_rules.py --tasks stsb --teacher_from teacher_lr1e-4_fp32 --candidates s2k_gentask_aug_cross_nb3_noatt

The student is the PyPI MiniLM-L6 cut to its layers 1, 3, 5 (as `student_init pretrained` cuts it); the teacher is the
same uncut MiniLM (frozen). Each student layer i learns teacher layer 2i's hidden states (MSE per token, TinyBERT's
intermediate term) and the last layer also its Q-Q, K-K, V-V relations (MiniLMv2, arXiv:2012.15828). TinyBERT
(arXiv:1909.10351) runs such a general stage before its task distillation.

Text: none of STS-B's, on which the candidates are scored. Sentences of Wikipedia paragraphs (the SQuAD contexts in
../shared/data/squad) and of the 50,000 unlabelled IMDB reviews, fed as a third single sentences, a third adjacent
pairs and a third random pairs (the `[SEP]`-joined input of pair tasks); or, with --text_file, a pair task's own
training rows (a third one text alone, a third the row's pair, a third crossed with another row's second text). The
student is saved as a plain encoder (AutoModel) with the base's tokenizer: `--student_init pretrained
--pretrained_model <out> --student_layers 1,2,3` distils a task into it. Its record (steps, time, the loss every 50
steps) goes to <out>/general_distill.json and bench/results/general_init/<out's name>.json; the task scores to
bench/results/recipe_rules/ (the candidates above).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import time

import suite_data
import torch
from suite_data import read_rows
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

from hf_distill import losses, student_from_teacher
from hf_distill.assets import resolve_model_path
from hf_distill.capture import capture_qkv

DATA = suite_data.SHARED
RESULTS = os.path.join(suite_data.REPO, "bench", "results", "general_init")  # the record, beside the student's own
STUDENT_LAYERS = [1, 3, 5]
PAIRS = [(2, 1), (4, 2), (6, 3)]  # (teacher hidden state, student hidden state), 1-based layers
RELATION_HEADS = 12  # divides 384; MiniLMv2's choice for base-size teachers
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def sentences(smoke: bool) -> list[str]:
    """Sentences of >= 5 words from Wikipedia paragraphs and IMDB reviews, in document order (adjacent ones follow)."""
    texts = []
    for name in ("dev-v1.1.json", "train-subset-44-articles.json"):
        with open(os.path.join(DATA, "squad", name)) as f:
            texts += [p["context"] for a in json.load(f)["data"] for p in a["paragraphs"]]
    texts += [r["text"].replace("<br />", " ") for r in read_rows(os.path.join(DATA, "imdb", "unsup.jsonl"))]
    if smoke:
        texts = texts[:100]
    out = []
    for text in texts:
        out += [s for s in SENTENCE_END.split(text.strip()) if len(s.split()) >= 5]
    return out


def sentence_inputs(sents: list[str]):
    """Draw one input from sentences in document order: a third single, a third adjacent pairs, a third random pairs."""

    def draw(rng: random.Random) -> tuple[str, str | None]:
        i, kind = rng.randrange(len(sents) - 1), rng.randrange(3)
        return sents[i], None if kind == 0 else sents[i + 1] if kind == 1 else rng.choice(sents)

    return draw


def pair_inputs(rows: list[tuple[str, str]]):
    """Draw one input from a pair task's rows: a third one text alone, a third the row's pair, a third crossed."""

    def draw(rng: random.Random) -> tuple[str, str | None]:
        a, b = rng.choice(rows)
        kind = rng.randrange(3)
        return (rng.choice((a, b)), None) if kind == 0 else (a, b) if kind == 1 else (a, rng.choice(rows)[1])

    return draw


def loss_of(student, teacher, inputs) -> tuple[torch.Tensor, dict]:
    """The batch's mean of sum over PAIRS of hidden MSE (B, T, 384) plus the last layer's Q-Q, K-K, V-V relation KLs
    (B, 12, T, T), the terms' values for the log."""
    mask = inputs["attention_mask"]  # (B, T)
    last_s, last_t = len(STUDENT_LAYERS), PAIRS[-1][0]
    with torch.inference_mode(), capture_qkv(teacher, [last_t], {"q", "k", "v"}) as t_qkv:
        t_hidden = teacher(**inputs, output_hidden_states=True).hidden_states
    # out of inference mode (the losses save them for backward), the mapped layers only, as hf_distill.teacher does
    t_qkv = {k: v.clone() for k, v in t_qkv.items()}
    t_hidden = {t: t_hidden[t].clone() for t, _ in PAIRS}
    with capture_qkv(student, [last_s], {"q", "k", "v"}) as s_qkv:
        s_hidden = student(**inputs, output_hidden_states=True).hidden_states
    hidden = sum(losses.hidden_mse(s_hidden[s], t_hidden[t], mask) for t, s in PAIRS).mean()
    relations = sum(losses.relation_kl(s_qkv[(last_s, p)], s_qkv[(last_s, p)], t_qkv[(last_t, p)], t_qkv[(last_t, p)],
                                       mask, RELATION_HEADS) for p in "qkv").mean()
    return hidden + relations, {"hidden": float(hidden.detach()), "relations": float(relations.detach())}


def main(args):
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    base = resolve_model_path(args.base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    teacher = AutoModel.from_pretrained(base).eval().requires_grad_(False)
    student = student_from_teacher(teacher, layers=STUDENT_LAYERS).train().requires_grad_(True)
    if args.text_file:  # a task's own training texts instead of general text
        columns = args.text_columns.split(",")
        rows = [tuple(r[c] for c in columns) for r in read_rows(args.text_file)]
        draw, corpus = (pair_inputs(rows) if len(columns) == 2 else sentence_inputs([r[0] for r in rows])), len(rows)
    else:
        sents = sentences(args.smoke)
        draw, corpus = sentence_inputs(sents), len(sents)
    print(f"{corpus} texts", flush=True)
    steps = args.steps or 10**9
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.learning_rate, weight_decay=0.01)
    # the step count is unknown under --minutes: warm up over 200 steps, then decay to 0 at the budget's estimate
    schedule = get_linear_schedule_with_warmup(optimizer, min(200, max(1, steps // 10)), steps if args.steps else
                                               args.estimated_steps)
    start, log = time.time(), []
    step = 0
    while True:
        step += 1
        batch = [draw(rng) for _ in range(args.batch_size)]
        encoded = [tokenizer(text, pair, truncation=True, max_length=args.max_length) for text, pair in batch]
        inputs = tokenizer.pad(encoded, return_tensors="pt")
        loss, terms = loss_of(student, teacher, dict(inputs))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        elapsed = time.time() - start
        if step % 50 == 0 or step == 1:
            log.append({"step": step, "s": round(elapsed, 1), **{k: round(v, 5) for k, v in terms.items()}})
            print(json.dumps(log[-1]), flush=True)
        if step >= steps or elapsed >= args.minutes * 60:
            break
    os.makedirs(args.out, exist_ok=True)
    student.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    record = {"base": args.base, "student_layers": STUDENT_LAYERS, "pairs": PAIRS, "steps": step, "minutes": args.minutes,
              "batch_size": args.batch_size, "max_length": args.max_length, "learning_rate": args.learning_rate,
              "text_file": args.text_file, "texts": corpus, "train_s": round(time.time() - start, 1), "log": log}
    paths = [os.path.join(args.out, "general_distill.json")]
    if not args.smoke:  # a smoke run's record stays beside its student
        paths.append(os.path.join(RESULTS, f"{os.path.basename(os.path.normpath(args.out))}.json"))
    for path in paths:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(record, f, indent=2)
    print(f"saved {args.out}: {step} steps in {record['train_s']} s", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--base", default="pypi:all-MiniLM-L6-v2")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: by --minutes)")
    p.add_argument("--estimated_steps", type=int, default=3000, help="where the linear decay reaches 0 under --minutes")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--max_length", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--smoke", action="store_true", help="a few hundred sentences")
    p.add_argument("--text_file", help="a task's jsonl training rows instead of general text (e.g. STS-B's, held-out "
                   "rows excluded: runs/recipe_rules/stsb/data/train.jsonl)")
    p.add_argument("--text_columns", default="sentence1,sentence2", help="the text column(s) of --text_file")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
