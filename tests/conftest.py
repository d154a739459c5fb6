"""Shared fixtures: tiny BERTs built in-process, a tiny WordPiece tokenizer, and the real MiniLM / SST-2 files."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification, BertTokenizerFast

WORDS = (
    "the a an is was it this that movie film story plot actor actors good great bad awful boring fun "
    "funny dull best worst love hate not very really and but of to in with for on at by from as so too "
    "i you he she we they me my his her our their one two three"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LETTERS = list("abcdefghijklmnopqrstuvwxyz.,!?'") + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
TINY_VOCAB = SPECIAL + WORDS + [c for c in LETTERS if c not in WORDS]

POSITIVE = ["a great movie", "really good fun", "the best film", "i love this story", "very funny and great"]
NEGATIVE = ["an awful movie", "really bad and dull", "the worst plot", "i hate this film", "boring and not fun"]


def make_tokenizer(tmp_path=None) -> BertTokenizerFast:
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(TINY_VOCAB)}, do_lower_case=True)
    tok.model_max_length = 64
    return tok


def tiny_bert(num_layers=4, hidden=32, heads=4, num_labels=2, seed=0, id2label=None, vocab_size=None, **kw):
    """A BERT classifier small enough to train in milliseconds on CPU."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size or len(TINY_VOCAB),
        hidden_size=hidden,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
        num_labels=num_labels,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **kw,
    )
    if id2label is not None:
        config.id2label = dict(enumerate(id2label))
        config.label2id = {v: k for k, v in config.id2label.items()}
    return BertForSequenceClassification(config).eval()


TAGS = ["O", "B-PER", "I-PER", "B-MISC"]
TAGGED = [  # (words, tags): names are people, "movie"/"film" are works
    ("i love this movie".split(), [0, 0, 0, 3]),
    ("he and she were great".split(), [1, 0, 1, 0, 0]),
    ("they hate the film".split(), [1, 0, 0, 3]),
    ("zorg was so funny".split(), [1, 0, 0, 0]),  # zorg splits into sub-tokens (z ##o ##r ##g)
]


def tiny_token_bert(num_layers=4, hidden=32, heads=4, seed=0):
    """A BERT token classifier with the TAGS labels, small enough to train in milliseconds."""
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(TINY_VOCAB), hidden_size=hidden, num_hidden_layers=num_layers,
                        num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=64,
                        num_labels=len(TAGS), id2label=dict(enumerate(TAGS)), label2id={t: i for i, t in enumerate(TAGS)},
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForTokenClassification(config).eval()


def tiny_token_dataset(tokenizer, n=16, max_length=16):
    """Tagged rows tokenized as `hf_distill.token_data` does: labels on each word's first sub-token, else -100."""
    from datasets import Dataset

    from hf_distill.token_data import align_labels

    words = [TAGGED[i % len(TAGGED)][0] for i in range(n)]
    tags = [TAGGED[i % len(TAGGED)][1] for i in range(n)]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    labels = [align_labels(enc.word_ids(i), tags[i]) for i in range(n)]
    return Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels})


def tiny_dataset(tokenizer, n=32, max_length=16):
    """A labelled `datasets.Dataset` of short positive/negative phrases, tokenized without padding."""
    from datasets import Dataset

    texts, labels = [], []
    for i in range(n):
        pool, label = (POSITIVE, 1) if i % 2 == 0 else (NEGATIVE, 0)
        texts.append(pool[(i // 2) % len(pool)])
        labels.append(label)
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels})


@pytest.fixture
def tokenizer():
    return make_tokenizer()


@pytest.fixture
def pretrained(tmp_path):
    """A tiny pretrained encoder (4 layers, hidden 32) saved with its tokenizer, for `--pretrained_model`."""
    path = tmp_path / "pretrained"
    tiny_bert(num_layers=4, hidden=32, heads=4, seed=3).save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def minilm_path():
    from hf_distill.assets import minilm_l6_path

    return minilm_l6_path()


@pytest.fixture(scope="session")
def sst2_path():
    from hf_distill.assets import sst2_dir

    return sst2_dir()


QA_ROWS = [  # SQuAD-style rows in the tiny vocabulary; answer_start is a character offset into the context
    {"id": "q0", "title": "t", "question": "who was funny", "context": "the movie was fun and he was very funny",
     "answers": {"text": ["he"], "answer_start": [22]}},
    {"id": "q1", "title": "t", "question": "what was the plot", "context": "i love this film but the plot was dull",
     "answers": {"text": ["dull"], "answer_start": [34]}},
    {"id": "q2", "title": "t", "question": "who is the best actor",
     "context": "she is the best actor in the film and we love her story",
     "answers": {"text": ["she"], "answer_start": [0]}},
    {"id": "q3", "title": "t", "question": "what was boring", "context": "the story was great but the film was boring",
     "answers": {"text": ["the film"], "answer_start": [24]}},
]


def tiny_qa_bert(num_layers=4, hidden=32, heads=4, seed=0):
    """A BERT extractive-QA model (start/end logits per token), small enough to train in milliseconds."""
    from transformers import BertForQuestionAnswering

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(TINY_VOCAB), hidden_size=hidden, num_hidden_layers=num_layers,
                        num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=64,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForQuestionAnswering(config).eval()


def tiny_qa_dataset(tokenizer, n=16, max_length=16, doc_stride=4):
    """QA features as `hf_distill.qa.prepare_features` makes them (some contexts split into two windows)."""
    from datasets import Dataset

    from hf_distill.qa import prepare_features

    rows = [dict(QA_ROWS[i % len(QA_ROWS)], id=f"q{i}") for i in range(n)]
    features = prepare_features(rows, tokenizer, max_length=max_length, doc_stride=doc_stride)
    keep = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions", "context_mask")
    return Dataset.from_dict({k: features[k] for k in keep})
