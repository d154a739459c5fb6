"""Token-classification data: CoNLL files, tag names, and labels aligned from words to sub-tokens.

    python -c "from hf_distill.token_data import read_conll; print(read_conll('../shared/data/conll2003/valid.txt')[:1])"

A CoNLL file has one word per line (`word POS chunk TAG`, the tag last), a blank line between sentences and
`-DOCSTART-` lines between documents; it becomes rows `{"tokens": [...], "ner_tags": [...]}`, the columns of the
Hub's `conll2003` dataset. A tokenizer splits words into sub-tokens; the word's label goes on its first sub-token
and -100 on the rest and on special tokens, as transformers' `run_ner.py` does, so the loss and the metrics count
each word once (`label_all_tokens`: every sub-token carries it, a B- tag continued as its I- tag).
"""

from __future__ import annotations

import os

TOKENS_COLUMN = "tokens"
TAGS_COLUMN = "ner_tags"
CONLL_EXTENSIONS = ("conll", "txt")


def read_conll(path: str) -> list[dict]:
    """Rows {"tokens": [word, ...], "ner_tags": [tag, ...]} of a CoNLL file (the tag is each line's last field)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Data file not found: {path!r}. Check the path passed as --train_file/--validation_file.")
    rows, words, tags = [], [], []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    rows.append({TOKENS_COLUMN: words, TAGS_COLUMN: tags})
                words, tags = [], []
                continue
            if len(fields) < 2:
                raise ValueError(f"{path}:{number}: {line.strip()!r} has no tag: a CoNLL line is `word ... TAG`.")
            words.append(fields[0])
            tags.append(fields[-1])
    if words:
        rows.append({TOKENS_COLUMN: words, TAGS_COLUMN: tags})
    if not rows:
        raise ValueError(f"{path!r} holds no sentences: a CoNLL file has one `word ... TAG` line per word.")
    return rows


def tag_order(tags) -> list[str]:
    """Tag names in a stable order: O first, then by entity type, B- before I- (B-LOC, I-LOC, B-MISC, ...)."""
    def key(tag: str):
        prefix, _, entity = tag.partition("-")
        return (tag != "O", entity or prefix, prefix)

    return sorted(set(tags), key=key)


def continuation_ids(label_names: list[str]) -> list[int]:
    """`ids[i]`: the label of a word's later sub-tokens when it is labelled i (B-X -> I-X where I-X exists)."""
    index = {n: i for i, n in enumerate(label_names)}
    return [index.get("I-" + n[2:], i) if n.startswith("B-") else i for i, n in enumerate(label_names)]


def align_labels(word_ids: list[int | None], word_labels: list[int], label_all_tokens: bool = False,
                 continuation: list[int] | None = None) -> list[int]:
    """Per sub-token labels from per-word labels: the word's label on its first sub-token, -100 on special tokens
    (word id None) and, unless `label_all_tokens`, on its later sub-tokens (which then get `continuation[label]`)."""
    out, previous = [], None
    for w in word_ids:
        if w is None:
            out.append(-100)
        elif w != previous:
            out.append(word_labels[w])
        elif label_all_tokens:
            out.append(continuation[word_labels[w]] if continuation is not None else word_labels[w])
        else:
            out.append(-100)
        previous = w
    return out


def tokenize_words(split, data, tokenizer, max_length: int, perm: list[int] | None, label_all_tokens: bool = False):
    """Tokenize rows of words (`is_split_into_words`, no padding) with labels aligned to sub-tokens; `perm[i]` is the
    model's id of the data's tag i."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"Token classification needs a fast tokenizer (its word_ids map sub-tokens to words), but "
                         f"{type(tokenizer).__name__} is a slow one: save the model with its tokenizer.json, or load "
                         "AutoTokenizer.from_pretrained(..., use_fast=True).")
    model_names = None
    if perm is not None:
        inverse = {model_id: i for i, model_id in enumerate(perm)}
        model_names = [data.label_names[inverse[j]] for j in range(len(perm))]
    continuation = continuation_ids(model_names or data.label_names)

    def encode(batch):
        words = [[w for w in row] for row in batch[data.text_column]]
        enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
        labels = []
        for i, tags in enumerate(batch[data.label_column]):
            ids = [perm[t] for t in tags] if perm is not None else list(tags)
            labels.append(align_labels(enc.word_ids(i), ids, label_all_tokens, continuation))
        enc["labels"] = labels
        return enc

    return split.map(encode, batched=True, remove_columns=split.column_names, desc="tokenize words")
