"""Teacher-labelled augmentation: perturbed copies of training rows, for the teacher to label.

    from hf_distill.augment import with_augmented_rows
    train = tokenize_split(data.train, data, tokenizer, max_length, label2id)
    train = with_augmented_rows(train, data.train, data, tokenizer, max_length, label2id, copies=1, min_words=15)
    # then build the teacher cache over `train` (hf-distill distill/cache: --augment_copies 1 --augment_min_words 15)

A distilled student learns from the teacher's outputs, and the teacher can label any input, so more inputs near
the task's data are more to learn from (Tang et al. 2019, arXiv:1903.12136; TinyBERT, arXiv:1909.10351). Each
copy replaces every word, independently, with the mask token (probability `mask_prob`) or with a word drawn from
the split's own word frequencies (`replace_prob`); Tang et al.'s masking and a tagger-free stand-in for their
part-of-speech replacement. Sentence pairs can also have the two texts of a copy swapped (`swap_prob`) or its second
text taken from another row (`cross_prob`: unrelated pairs, the low end of a similarity scale, which the copies of
related pairs never show); with `cross_neighbours` k that row is one of the k whose second text shares the most words
with the copy's first text (TF-IDF cosine), so crossed pairs are related to some degree, the middle of the scale
rather than its low end (Augmented SBERT's sampling of pairs for a cross-encoder to label: Thakur et al. 2021,
arXiv:2010.08240). On single texts these do nothing, so one recipe serves both kinds. A perturbed row's gold label
may no longer hold, so augmented rows carry label -100: the hard-label term skips them and only the
teacher terms train on them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .data import check_chances, check_probabilities, tokenize_split


def augment_texts(texts: list[str], copies: int, mask_prob: float, replace_prob: float, mask_token: str,
                  rng: np.random.Generator, vocabulary: tuple[list[str], np.ndarray]) -> list[list[str]]:
    """`copies` perturbed versions of each text (whitespace words), each differing from the text in >= 1 word."""
    words, cdf = vocabulary
    out = []
    for text in texts:
        tokens = text.split()
        versions = []
        for _ in range(copies):
            new = list(tokens)
            draws = rng.random(len(tokens))
            for i in np.flatnonzero(draws < mask_prob + replace_prob):
                new[i] = mask_token if draws[i] < mask_prob else words[min(np.searchsorted(cdf, rng.random()), len(words) - 1)]
            if new == tokens and tokens:  # nothing drawn: perturb one word, so no copy duplicates its source
                new[rng.integers(len(tokens))] = mask_token
            versions.append(" ".join(new))
        out.append(versions)
    return out


def mix_pairs(first: list[str], second: list[str], swap_prob: float, cross_prob: float,
              rng: np.random.Generator, partners: np.ndarray | None = None) -> tuple[list[str], list[str]]:
    """The pairs (first[i], second[i]) with, for each i, chance `cross_prob` that its second text is replaced by the
    second text of another row (before any swap), then chance `swap_prob` that the two texts trade places.

    The other row is drawn uniformly, or from `partners[i]` (`(n, k)` row indices, e.g. `word_neighbours`) if given."""
    if len(first) != len(second):
        raise ValueError(f"mix_pairs needs as many first as second texts, got {len(first)} and {len(second)}.")
    n = len(first)
    if partners is not None and (partners.ndim != 2 or len(partners) != n or partners.shape[1] == 0):
        raise ValueError(f"partners must be (n={n}, k>=1) row indices, got shape {partners.shape}.")
    first, source = list(first), list(second)

    def other(i: int) -> int:
        return int(rng.integers(n)) if partners is None else int(partners[i, rng.integers(partners.shape[1])])

    second = [source[other(i)] if draw < cross_prob else text
              for i, (draw, text) in enumerate(zip(rng.random(n), source))]
    for i in np.flatnonzero(rng.random(n) < swap_prob):
        first[i], second[i] = second[i], first[i]
    return first, second


def word_neighbours(queries: list[str], documents: list[str], k: int, chunk: int = 512) -> np.ndarray:
    """`(len(queries), k)`: for each query, the indices of the `k` documents most similar to it by the TF-IDF cosine
    of their words (fitted on both lists), best first, leaving out the document of its own index (its own pair).

    Cost: one sparse product per `chunk` queries against every document, O(queries x documents); pair augmentation
    only runs on small data (`augment_pairs_to_rows`), where that is seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if k < 1 or k >= len(documents):
        raise ValueError(f"k must be in 1..{len(documents) - 1} (the documents but one), got {k}.")
    vectorizer = TfidfVectorizer(lowercase=True).fit(queries + documents)  # rows are L2-normalised: dot = cosine
    q, d = vectorizer.transform(queries), vectorizer.transform(documents).T.tocsc()
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        sims = (q[start:start + chunk] @ d).toarray()
        own = np.arange(start, start + len(sims))
        own = own[own < len(documents)]  # the queries' own documents: never their neighbours
        sims[own - start, own] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        out[start:start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def word_frequencies(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The split's words and their cumulative relative frequencies (what a replaced word is drawn from)."""
    counts = Counter(w for t in texts for w in t.split())
    words = sorted(counts)
    freq = np.array([counts[w] for w in words], dtype=np.float64)
    return words, np.cumsum(freq) / freq.sum()


def augment_split(split, data, copies: int = 1, mask_prob: float = 0.1, replace_prob: float = 0.1,
                  min_words: int = 0, seed: int = 42, mask_token: str = "[MASK]", swap_prob: float = 0.0,
                  cross_prob: float = 0.0, cross_neighbours: int = 0):
    """Perturbed copies of the rows of `split` (a raw `datasets.Dataset` of `data`, a `TaskData`) that have at least
    `min_words` words (pairs: both texts together), as a raw split with the same columns.

    Tokenize it with `tokenize_split(..., gold_labels=False)`: the copies keep their source's label column only so
    that the split has the task's schema."""
    from datasets import Dataset

    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}.")
    check_probabilities(mask_prob, replace_prob)
    check_chances(swap_prob=swap_prob, cross_prob=cross_prob)
    columns = [data.text_column] + ([data.text_pair_column] if data.text_pair_column else [])
    texts = {c: [t if isinstance(t, str) else "" for t in split[c]] for c in columns}
    n_words = sum(np.array([len(t.split()) for t in texts[c]]) for c in columns)
    keep = np.flatnonzero(n_words >= min_words)
    if len(keep) == 0:
        raise ValueError(f"No row has {min_words} or more words: lower min_words (the longest has {n_words.max()}).")
    rng = np.random.default_rng(seed)
    vocabulary = word_frequencies([t for c in columns for t in texts[c]])
    kept = {c: [texts[c][i] for i in keep] for c in columns}
    rows = {c: augment_texts(kept[c], copies, mask_prob, replace_prob, mask_token, rng, vocabulary) for c in columns}
    out = {c: [v for versions in rows[c] for v in versions] for c in columns}
    if data.text_pair_column and (swap_prob or cross_prob):
        partners = None
        if cross_neighbours and cross_prob and len(keep) > 1:  # a kept row's neighbours, as the same copy of each
            # (the copies lie row-major: row r's copy c is at r * copies + c)
            near = word_neighbours(kept[data.text_column], kept[data.text_pair_column],
                                   min(cross_neighbours, len(keep) - 1))
            copy = np.arange(len(keep) * copies) % copies
            partners = near.repeat(copies, axis=0) * copies + copy[:, None]
        out[data.text_column], out[data.text_pair_column] = mix_pairs(
            out[data.text_column], out[data.text_pair_column], swap_prob, cross_prob, rng, partners)
    labels = split[data.label_column]
    out[data.label_column] = [labels[i] for i in keep for _ in range(copies)]
    return Dataset.from_dict(out, features=split.select_columns(list(out)).features)


def with_augmented_rows(rows, raw, data, tokenizer, max_length: int, label2id, copies: int, min_words: int = 0,
                        mask_prob: float = 0.1, replace_prob: float = 0.1, seed: int = 42, swap_prob: float = 0.0,
                        cross_prob: float = 0.0, cross_neighbours: int = 0):
    """Tokenized `rows` followed by the tokenized copies of `raw` (the same rows, untokenized), labels -100."""
    from datasets import concatenate_datasets

    if mask_prob > 0 and tokenizer.mask_token is None:
        raise ValueError("The tokenizer has no mask token: pass mask_prob=0 (--augment_mask_prob 0).")
    extra = augment_split(raw, data, copies=copies, mask_prob=mask_prob, replace_prob=replace_prob,
                          min_words=min_words, seed=seed, mask_token=tokenizer.mask_token or "", swap_prob=swap_prob,
                          cross_prob=cross_prob, cross_neighbours=cross_neighbours)
    return concatenate_datasets([rows, tokenize_split(extra, data, tokenizer, max_length, label2id, gold_labels=False)])
