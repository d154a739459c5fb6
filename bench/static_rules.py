"""The static student's settings, chosen on 1,000 held-out SST-2 training sentences (never the validation rows).

    python bench/static_rules.py --run_dir runs/sst2_minilm         # after the README's main job (~35 min on 2 cores)

SST-2's training rows are the phrases of parse trees: a random held-out row has its own phrases among the training
rows, so it scores ~9 points above the validation sentences and ranks settings by how well they memorise phrases.
The held-out set is `suite_data.sst2_held_out_sentences` (whole sentences of >= 15 words, as
bench/recipe_candidates.py --held_out sentences), and no phrase of theirs is trained on.

The teacher labels once (cached in <run_dir>/static_rules_cache.npz, ~20 min): the training texts outside a seeded
3,000 and 8 perturbed copies of each (`hf_distill.augment`); a candidate trains on those of them that are not
phrases of a held-out sentence (and their copies). Each candidate is `hf_distill.static.train_static` on its share,
single-threaded (--jobs at once), scored on the held-out sentences after every epoch; the best epoch is reported.
Writes bench/results/static_rules.json and static_rules.md.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import suite_data
import torch

RESULTS = os.path.join(suite_data.REPO, "bench", "results")
DRAWN, MAX_COPIES, SEED = 3000, 8, 42
BASE = dict(static_dim=256, static_learning_rate=3e-3, static_temperature=1.0, static_epochs=10, static_batch_size=256,
            static_kd_weight=0.5, static_hard_label_weight=0.5, static_hidden=0, static_augment_copies=2)
CANDIDATES = {  # name: changes to BASE (the static student as shipped before this benchmark: a linear head)
    "linear": {}, "linear_copies8": dict(static_augment_copies=8),
    "mlp256": dict(static_hidden=256), "mlp512": dict(static_hidden=512), "mlp1024": dict(static_hidden=1024),
    "mlp512_copies4": dict(static_hidden=512, static_augment_copies=4),
    "mlp512_copies8": dict(static_hidden=512, static_augment_copies=8),
    "mlp1024_copies8": dict(static_hidden=1024, static_augment_copies=8),
    "mlp512_copies8_kd_only": dict(static_hidden=512, static_augment_copies=8, static_kd_weight=1.0,
                                   static_hard_label_weight=0.0),
}


def sst2_train() -> tuple[list[str], np.ndarray]:
    """SST-2's training texts and labels, read as `hf-distill` reads them."""
    from hf_distill.data import DataArguments, load_task_data

    data = load_task_data(DataArguments(train_file=os.path.join(suite_data.SHARED, "sst2", "train.tsv"),
                                        class_names="negative,positive"))
    return [t.strip() for t in data.train[data.text_column]], np.array(data.train[data.label_column])


def label_once(run_dir: str, path: str) -> None:
    """Teacher logits for the training texts outside the drawn 3,000 and for 8 copies of each; token vectors."""
    from transformers import AutoTokenizer

    from hf_distill.augment import augment_texts, word_frequencies
    from hf_distill.report import predict_logits
    from hf_distill.static import teacher_token_vectors
    from hf_distill.teacher import load_teacher

    torch.set_num_threads(os.cpu_count() or 1)
    teacher_dir = os.path.join(run_dir, "teacher")
    teacher, tok = load_teacher(teacher_dir).float().eval(), AutoTokenizer.from_pretrained(teacher_dir)
    texts, _ = sst2_train()
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(texts))
    train = [texts[i] for i in order[DRAWN:]]
    copies = augment_texts(train, MAX_COPIES, 0.1, 0.1, tok.mask_token, rng, word_frequencies(train))
    copies = [v for versions in zip(*copies) for v in versions]  # copy 1 of every text, then copy 2, ...
    np.savez(path, order=order, vectors=teacher_token_vectors(teacher, tok, 384),
             logits_train=predict_logits(teacher, tok, train, max_length=64, batch_size=128),
             logits_copies=predict_logits(teacher, tok, copies, max_length=64, batch_size=128),
             copies=np.array(copies, dtype=object))


def train_candidate(run_dir: str, cache: dict, changes: dict) -> dict:
    from transformers import AutoTokenizer

    from hf_distill.arguments import StaticArguments
    from hf_distill.static import static_token_ids, train_static

    torch.set_num_threads(1)
    settings = {**BASE, **changes}
    args = StaticArguments(**settings)
    tok = AutoTokenizer.from_pretrained(os.path.join(run_dir, "teacher"))
    texts, labels = sst2_train()
    order = cache["order"]
    train, held = suite_data.sst2_held_out_sentences(texts)
    position = {i: k for k, i in enumerate(order[DRAWN:])}  # row index -> its place in the cache's rows
    train = [i for i in train if i in position]
    keep = np.array([position[i] for i in train])
    n = len(order) - DRAWN
    copies = np.concatenate([keep + c * n for c in range(args.static_augment_copies)]).astype(int)
    all_texts = [texts[i] for i in train] + [str(t) for t in cache["copies"][copies]]
    logits = np.concatenate([cache["logits_train"][keep], cache["logits_copies"][copies]])
    gold = np.concatenate([labels[train], np.full(len(copies), -100)])
    _, history = train_static(cache["vectors"][:, : args.static_dim].copy(), static_token_ids(tok, all_texts), logits,
                              gold, static_token_ids(tok, [texts[i] for i in held]), labels[held], args, seed=SEED)
    best = max(history, key=lambda h: h["held_out_accuracy"])
    return {"settings": settings, "history": history, "best": best, "held_out_sentences": len(held),
            "train_rows": len(train), "train_texts": len(all_texts)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", default=os.path.join(suite_data.REPO, "runs", "sst2_minilm"))
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="candidates trained at once")
    args = parser.parse_args()
    path = os.path.join(args.run_dir, "static_rules_cache.npz")
    if not os.path.isfile(path):
        label_once(args.run_dir, path)
    cache = dict(np.load(path, allow_pickle=True))
    names = args.only or list(CANDIDATES)
    with ProcessPoolExecutor(args.jobs) as pool:  # each candidate single-threaded
        runs = pool.map(train_candidate, [args.run_dir] * len(names), [cache] * len(names), [CANDIDATES[n] for n in names])
        out = dict(zip(names, runs))
    first = next(iter(out.values()))
    with open(os.path.join(RESULTS, "static_rules.json"), "w") as f:
        json.dump({"drawn_rows": DRAWN, "held_out_sentences": first["held_out_sentences"],
                   "train_rows": first["train_rows"], "base": BASE, "candidates": out}, f, indent=2)
    lines = [f"# Static student settings on {first['held_out_sentences']} held-out SST-2 training sentences "
             "(`python bench/static_rules.py`)", "",
             f"Training rows: {first['train_rows']:,} (none a phrase of a held-out sentence). Teacher: the README main "
             "job's MiniLM-L6. Validation rows never used. Base: "
             + ", ".join(f"{k.removeprefix('static_')} {v}" for k, v in BASE.items()) + ".", "",
             "| candidate | changes | best held-out accuracy (epoch) | mean over epochs | train s |", "|---|---|---|---|---|"]
    for name, r in out.items():
        b, h = r["best"], r["history"]
        changes = ", ".join(f"{k.removeprefix('static_')} {v}" for k, v in CANDIDATES[name].items()) or "-"
        lines.append(f"| {name} | {changes} | {b['held_out_accuracy']:.4f} ({b['epoch']}) | "
                     f"{np.mean([e['held_out_accuracy'] for e in h]):.4f} | {h[-1]['train_s']:.0f} |")
    with open(os.path.join(RESULTS, "static_rules.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
