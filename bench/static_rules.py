"""The static student's settings, chosen on 3,000 held-out SST-2 training rows (never the validation rows).

    python bench/static_rules.py --run_dir runs/sst2_minilm         # after the README's main job (~25 min on 2 cores)

The teacher labels, once (cached in <run_dir>/static_rules_cache.npz): the other training texts, 8 perturbed copies
of each (`hf_distill.augment`) and one concatenation of two training texts each. Each candidate then trains on its
share, single-threaded, and is scored on the held-out rows after every epoch; the best epoch is reported ("long":
the held-out rows of >= 12 words, nearer the full sentences of the validation set). Writes
bench/results/static_rules.json and static_rules.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import suite_data
import torch

RESULTS = os.path.join(suite_data.REPO, "bench", "results")
HELD_OUT, MAX_COPIES, LONG_WORDS = 3000, 8, 12
BASE = dict(copies=2, concat=0, dim=256, lr=3e-3, T=2.0, epochs=8, batch=256, kd_w=0.5, ce_w=0.5, sparse=True)
CANDIDATES = {  # name: changes to BASE (the static student as shipped before this benchmark)
    "base": {}, "dense_adam": dict(sparse=False), "copies8": dict(copies=8), "concat1": dict(concat=1),
    "copies8_concat1": dict(copies=8, concat=1), "dim384": dict(dim=384), "kd_only": dict(kd_w=1.0, ce_w=0.0),
    "lr1e-2": dict(lr=1e-2), "T1": dict(T=1.0), "T0.5": dict(T=0.5), "T1_concat1": dict(T=1.0, concat=1),
    "T1_dim384": dict(T=1.0, dim=384), "T1_kd0.7": dict(T=1.0, kd_w=0.7, ce_w=0.3), "T1_12_epochs": dict(T=1.0, epochs=12),
}


def sst2_train():
    import csv

    with open(os.path.join(suite_data.SHARED, "sst2", "train.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [r["sentence"].strip() for r in rows], np.array([int(r["label"]) for r in rows])


def label_once(run_dir: str, path: str) -> None:
    """Teacher logits for the training texts, their copies and concatenations; token vectors (384, PCA order)."""
    from transformers import AutoTokenizer

    from hf_distill.augment import augment_texts, word_frequencies
    from hf_distill.report import predict_logits
    from hf_distill.static import teacher_token_vectors
    from hf_distill.teacher import load_teacher

    torch.set_num_threads(os.cpu_count() or 1)
    teacher_dir = os.path.join(run_dir, "teacher")
    teacher, tok = load_teacher(teacher_dir).float().eval(), AutoTokenizer.from_pretrained(teacher_dir)
    texts, _ = sst2_train()
    rng = np.random.default_rng(42)
    order = rng.permutation(len(texts))
    train = [texts[i] for i in order[HELD_OUT:]]
    copies = augment_texts(train, MAX_COPIES, 0.1, 0.1, tok.mask_token, rng, word_frequencies(train))
    copies = [v for versions in zip(*copies) for v in versions]  # copy 1 of every text, then copy 2, ...
    concat = [a + " " + train[j] for a, j in zip(train, rng.permutation(len(train)))]
    logits = {k: predict_logits(teacher, tok, v, max_length=64, batch_size=128)
              for k, v in (("train", train), ("copies", copies), ("concat", concat))}
    np.savez(path, order=order, vectors=teacher_token_vectors(teacher, tok, 384), **{f"logits_{k}": v for k, v in logits.items()},
             copies=np.array(copies, dtype=object), concat=np.array(concat, dtype=object))


def train_candidate(run_dir: str, cache: dict, changes: dict) -> dict:
    from transformers import AutoTokenizer

    from hf_distill import losses
    from hf_distill.static import static_token_ids, token_bag

    torch.set_num_threads(1)
    v = {**BASE, **changes}
    tok = AutoTokenizer.from_pretrained(os.path.join(run_dir, "teacher"))
    texts, labels = sst2_train()
    held, train = cache["order"][:HELD_OUT], cache["order"][HELD_OUT:]
    n = len(train)
    all_texts = [texts[i] for i in train] + list(cache["copies"][: v["copies"] * n]) + list(cache["concat"][: v["concat"] * n])
    targets = torch.from_numpy(np.concatenate([cache["logits_train"], cache["logits_copies"][: v["copies"] * n],
                                               cache["logits_concat"][: v["concat"] * n]])).float()
    gold = torch.from_numpy(np.concatenate([labels[train], np.full(len(all_texts) - n, -100)])).long()
    ids, held_ids = static_token_ids(tok, all_texts), static_token_ids(tok, [texts[i] for i in held])
    long = np.array([len(texts[i].split()) >= LONG_WORDS for i in held])
    torch.manual_seed(42)
    rng = np.random.default_rng(42)
    emb = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(cache["vectors"][:, : v["dim"]].copy()), freeze=False,
                                                mode="mean", sparse=v["sparse"])
    head = torch.nn.Linear(v["dim"], 2)
    optimizers = ([torch.optim.SparseAdam(list(emb.parameters()), lr=v["lr"]), torch.optim.Adam(head.parameters(), lr=v["lr"])]
                  if v["sparse"] else [torch.optim.Adam(list(emb.parameters()) + list(head.parameters()), lr=v["lr"])])
    history, start = [], time.perf_counter()
    for epoch in range(1, v["epochs"] + 1):
        order = rng.permutation(len(ids))
        for s in range(0, len(ids), v["batch"]):
            idx = order[s : s + v["batch"]]
            logits = head(emb(*token_bag([ids[k] for k in idx])))
            loss = (v["kd_w"] * losses.soft_kl(logits, targets[idx], v["T"])
                    + v["ce_w"] * losses.hard_label_loss(logits, gold[idx])).mean()
            for o in optimizers:
                o.zero_grad()
            loss.backward()
            for o in optimizers:
                o.step()
        with torch.inference_mode():
            right = head(emb(*token_bag(held_ids))).argmax(-1).numpy() == labels[held]
        history.append({"epoch": epoch, "held_out": float(right.mean()), "long": float(right[long].mean()),
                        "train_s": time.perf_counter() - start})
    best = max(history, key=lambda h: h["held_out"])
    return {"settings": v, "history": history, "best": best, "long_rows": int(long.sum())}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", default=os.path.join(suite_data.REPO, "runs", "sst2_minilm"))
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    args = parser.parse_args()
    path = os.path.join(args.run_dir, "static_rules_cache.npz")
    if not os.path.isfile(path):
        label_once(args.run_dir, path)
    cache = dict(np.load(path, allow_pickle=True))
    out = {name: train_candidate(args.run_dir, cache, CANDIDATES[name]) for name in (args.only or CANDIDATES)}
    with open(os.path.join(RESULTS, "static_rules.json"), "w") as f:
        json.dump({"held_out_rows": HELD_OUT, "candidates": out}, f, indent=2)
    lines = ["# Static student settings on 3,000 held-out SST-2 training rows (`python bench/static_rules.py`)", "",
             "| candidate | changes | best held-out accuracy (epoch) | long rows (>= 12 words) | train s |",
             "|---|---|---|---|---|"]
    for name, r in out.items():
        b = r["best"]
        lines.append(f"| {name} | {CANDIDATES[name] or '-'} | {b['held_out']:.4f} ({b['epoch']}) | {b['long']:.4f} | "
                     f"{r['history'][-1]['train_s']:.0f} |")
    with open(os.path.join(RESULTS, "static_rules.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
