"""Extractive question answering, the parts that do not depend on the model: SQuAD files, features with a document
stride, the post-processing from start/end logits to an answer string, and the official SQuAD v1.1 metrics.

    python -c "from hf_distill.qa import squad_scores; print(squad_scores({'q1': 'the Eiffel tower'}, {'q1': ['Eiffel Tower']}))"

The metric follows the official evaluate-v1.1.py: answers are normalised (lower case, punctuation and the articles
a/an/the removed, whitespace collapsed); exact match is 1 when the prediction equals any gold answer; F1 is the
token-overlap F1 against the best gold answer; both are averaged over questions, in percent. The trainer's side
(KD on the start and end distributions over the context's tokens) is `hf_distill.tasks.QUESTION_ANSWERING`; the
features carry a `context_mask` (1 on the context's tokens) that `QACollator` pads and the trainer reads.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter

ARTICLES = re.compile(r"\b(a|an|the)\b")
QA_COLUMNS = ("question", "context", "answers")  # what a row of QA data holds (SQuAD, the Hub's `squad`)
CONTEXT_MASK = "context_mask"  # a feature's column: 1 on the context's tokens, 0 on the question, specials, padding


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse whitespace (SQuAD v1.1)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised answers (0 when they share no token)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: dict[str, str], gold: dict[str, list[str]]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent over the questions of `gold` (a question without a prediction scores 0),
    each the best over that question's gold answers."""
    if not gold:
        raise ValueError("squad_scores needs at least one question.")
    em = sum(max(exact_match(predictions.get(q, ""), g) for g in answers) for q, answers in gold.items())
    f = sum(max(f1(predictions.get(q, ""), g) for g in answers) for q, answers in gold.items())
    return {"exact_match": 100.0 * em / len(gold), "f1": 100.0 * f / len(gold)}


def is_squad_file(path: str) -> bool:
    """A JSON file in the official SQuAD layout ({"data": [{"paragraphs": ...}]}), judged by its first bytes."""
    with open(path, encoding="utf-8") as f:
        head = f.read(4096)
    stripped = head.lstrip()
    return stripped.startswith("{") and '"data"' in head and ('"paragraphs"' in head or '"title"' in head)


def read_squad(path: str) -> list[dict]:
    """Rows {"id", "title", "context", "question", "answers": {"text": [...], "answer_start": [...]}} of an official
    SQuAD v1.1 JSON file (the Hub's `squad` columns)."""
    with open(path, encoding="utf-8") as f:
        articles = json.load(f).get("data")
    if not isinstance(articles, list):
        raise ValueError(f"{path!r} is not a SQuAD file: it needs {{'data': [{{'paragraphs': [...]}}, ...]}}.")
    rows = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                rows.append({"id": qa["id"], "title": article.get("title", ""), "context": paragraph["context"],
                             "question": qa["question"],
                             "answers": {"text": [a["text"] for a in qa["answers"]],
                                         "answer_start": [a["answer_start"] for a in qa["answers"]]}})
    return rows


def write_squad(rows: list[dict], path, title: str = "") -> str:
    """Rows as `read_squad` returns them, written as an official-layout SQuAD v1.1 file (one article, a paragraph
    per row) that `read_squad` reads back; returns the path."""
    paragraphs = [{"context": r["context"], "qas": [{"id": r["id"], "question": r["question"], "answers": [
        {"text": t, "answer_start": s} for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"])]}]}
        for r in rows]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": "1.1", "data": [{"title": title, "paragraphs": paragraphs}]}, f)
    return str(path)


def prepare_features(rows: list[dict], tokenizer, max_length: int = 384, doc_stride: int = 128) -> dict:
    """Question + context windows: contexts longer than `max_length` become several features overlapping by
    `doc_stride` tokens. Each feature has its example's index, the offsets of its context tokens (None elsewhere)
    and, where the first answer lies inside it, start/end token positions (else 0, 0: the [CLS] token)."""
    questions = [r["question"].lstrip() for r in rows]
    enc = tokenizer(questions, [r["context"] for r in rows], truncation="only_second", max_length=max_length,
                    stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
    starts, ends, example_ids, offsets = [], [], [], []
    for i, mapping in enumerate(enc["offset_mapping"]):
        example = enc["overflow_to_sample_mapping"][i]
        sequence = enc.sequence_ids(i)
        example_ids.append(example)
        offsets.append([o if sequence[k] == 1 else None for k, o in enumerate(mapping)])
        answers = rows[example]["answers"]
        start_pos = end_pos = 0
        if answers["text"]:
            first, last = answers["answer_start"][0], answers["answer_start"][0] + len(answers["text"][0])
            context = [k for k, s in enumerate(sequence) if s == 1]
            if mapping[context[0]][0] <= first and mapping[context[-1]][1] >= last:  # the answer is in this window
                start_pos = next(k for k in context if mapping[k][1] > first)
                end_pos = next(k for k in reversed(context) if mapping[k][0] < last)
        starts.append(start_pos)
        ends.append(end_pos)
    features = {k: enc[k] for k in enc if k not in ("offset_mapping", "overflow_to_sample_mapping")}
    context_mask = [[int(o is not None) for o in feature] for feature in offsets]
    return {**features, "start_positions": starts, "end_positions": ends, "example_id": example_ids,
            "offsets": offsets, CONTEXT_MASK: context_mask}


def tokenize_qa(split, tokenizer, max_length: int, doc_stride: int):
    """A `datasets.Dataset` of rows -> one of training features: the model's inputs, start/end positions and
    `context_mask` (`prepare_features`; offsets and example ids are left out: evaluation rebuilds them)."""
    from datasets import Dataset

    if doc_stride >= max_length // 2:
        raise ValueError(f"doc_stride {doc_stride} must be below half of max_length {max_length}: windows would repeat "
                         "most of the context. Use --doc_stride 128 with --max_length 384 (run_qa.py's).")
    features = prepare_features(list(split), tokenizer, max_length=max_length, doc_stride=doc_stride)
    keep = [k for k in features if k not in ("example_id", "offsets")]
    return Dataset.from_dict({k: features[k] for k in keep})


class QACollator:
    """Pads QA features: the tokenizer's inputs by `DataCollatorWithPadding`, `context_mask` with 0 to the same
    length (right padding, as the tokenizer pads), start/end positions as they are."""

    def __init__(self, tokenizer):
        from transformers import DataCollatorWithPadding

        self.pad = DataCollatorWithPadding(tokenizer)
        self.left = getattr(tokenizer, "padding_side", "right") == "left"

    def __call__(self, features: list[dict]) -> dict:
        masks = [f.get(CONTEXT_MASK) for f in features]
        batch = self.pad([{k: v for k, v in f.items() if k != CONTEXT_MASK} for f in features])
        if all(m is not None for m in masks):
            import torch

            width = batch["input_ids"].size(1)
            padded = [([0] * (width - len(m)) + list(m)) if self.left else (list(m) + [0] * (width - len(m))) for m in masks]
            batch[CONTEXT_MASK] = torch.tensor(padded, dtype=torch.long)
        return batch


def feature_scores(rows: list[dict], features: dict, start_logits, end_logits) -> dict[str, float]:
    """SQuAD EM/F1 of `rows` from the start/end logits of their `features` (`prepare_features`, in order; logits
    may be padded past each feature's length): `best_answers`, then `squad_scores` against the rows' answers."""
    predicted = best_answers(rows, features["example_id"], features["offsets"], start_logits, end_logits)
    return squad_scores(predicted, {r["id"]: r["answers"]["text"] for r in rows})


def qa_rows(questions, contexts, answers) -> list[dict]:
    """Parallel questions, contexts and answers as rows (ids "0", "1", ...), what `prepare_features` takes."""
    if not len(questions) == len(contexts) == len(answers):
        raise ValueError(f"{len(questions)} questions, {len(contexts)} contexts and {len(answers)} answers")
    return [{"id": str(i), "question": q, "context": c, "answers": a}
            for i, (q, c, a) in enumerate(zip(questions, contexts, answers))]


def best_answers(rows: list[dict], example_ids: list[int], offsets: list[list], start_logits, end_logits,
                 n_best: int = 20, max_answer_length: int = 30) -> dict[str, str]:
    """The answer string of each example: over all its features, the n-best start and end positions inside the
    context, with start <= end < start + max_answer_length, the pair of highest start + end logit."""
    best: dict[int, tuple[float, str]] = {}
    for f, example in enumerate(example_ids):
        starts = sorted(range(len(offsets[f])), key=lambda k: -float(start_logits[f][k]))[:n_best]
        ends = sorted(range(len(offsets[f])), key=lambda k: -float(end_logits[f][k]))[:n_best]
        context = rows[example]["context"]
        for s in starts:
            for e in ends:
                if offsets[f][s] is None or offsets[f][e] is None or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(start_logits[f][s]) + float(end_logits[f][e])
                if example not in best or score > best[example][0]:
                    best[example] = (score, context[offsets[f][s][0] : offsets[f][e][1]])
    return {rows[i]["id"]: best.get(i, (0.0, ""))[1] for i in range(len(rows))}


__all__ = ["CONTEXT_MASK", "QA_COLUMNS", "QACollator", "best_answers", "exact_match", "f1", "feature_scores",
           "is_squad_file", "normalize_answer", "prepare_features", "qa_rows", "read_squad", "squad_scores", "tokenize_qa",
           "write_squad"]
