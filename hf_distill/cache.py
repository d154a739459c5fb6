"""Teacher-output cache: run the frozen teacher once, then distil from disk instead of running it every step.

    build_teacher_cache(teacher, tokenizer, train, "teacher_cache", layers_hidden=[2, 4, 6],
                        layers_attention=[6], parts={"q", "k", "v"}, max_length=128)
    trainer = DistillationTrainer(model=student, teacher=None,
                                  args=DistillationConfig(..., teacher_cache_dir="teacher_cache"), ...)

Layout of `cache_dir` (Arrow and JSON only, never pickle):

    meta.json      fingerprints (teacher, tokenizer, data), max_length, layers, parts, widths, dtype, version
    config.json    the teacher's config (`AutoConfig.from_pretrained(cache_dir)` reads it)
    data/          a `datasets` dataset (`save_to_disk`), memory-mapped when read; one row per distinct input:
        key        blake2b-128 hex of the real tokens' input_ids (and token_type_ids when not all zero)
        length     number of real tokens n
        logits     C float16, in the TEACHER's label order (the trainer permutes); per real token (n * C) for a
                   token task, and for QA (n * 2: start and end logits)
        hidden_<t> n * D float16: hidden_states[t] of the real tokens only, flattened (0 = embeddings)
        q_<t> k_<t> v_<t>  n * D float16: the Q/K/V projections of attention layer t, real tokens only

Rows are found by content, not position: shuffling, `select`, the Trainer dropping columns or a collator
padding to any length do not matter, and duplicate inputs share one row (the teacher is deterministic in eval).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from hashlib import blake2b

import numpy as np
import pyarrow as pa
import torch

from .architectures import unwrap
from .placement import HALF_DTYPES, precision_of
from .tasks import task_of_model
from .teacher import LiveTeacher, TeacherNeeds, TeacherOutputs, forward_arg_names, load_teacher

logger = logging.getLogger(__name__)

FORMAT = "hf_distill.teacher_cache"
FORMAT_VERSION = 1
META_FILE = "meta.json"
CONFIG_FILE = "config.json"
DATA_DIR = "data"
PARTS = ("q", "k", "v")
DTYPES = ("float16", "float32")
# Compared between the cache's teacher and a live teacher (the weights hash covers everything else).
_CONFIG_KEYS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_labels")
_READ_CHUNK = 1024


# -- keys and fingerprints --------------------------------------------------------------------------------------
def row_key(input_ids, token_type_ids=None) -> str:
    """Content key of one unpadded row: blake2b-128 of its int64 ids (+ its token_type_ids if any is non-zero).

    Absent token_type_ids and all-zero ones give the same key, as they give the same teacher output.
    """
    h = blake2b(np.ascontiguousarray(input_ids, dtype="<i8").tobytes(), digest_size=16)
    if token_type_ids is not None and np.any(token_type_ids):
        h.update(b"tt")  # ids are 8-byte multiples, so this cannot collide with a longer row without it
        h.update(np.ascontiguousarray(token_type_ids, dtype="<i8").tobytes())
    return h.hexdigest()


def teacher_fingerprint(teacher) -> dict:
    """blake2b over every state_dict tensor (name, dtype, shape, bytes) plus the config fields that matter."""
    model = unwrap(teacher)
    h = blake2b(digest_size=16)
    dtype = None
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        if t.is_floating_point() and dtype is None:
            dtype = str(t.dtype).removeprefix("torch.")
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return {
        "weights": h.hexdigest(),
        "dtype": dtype,
        "config": _config_fingerprint(model.config),
        "name_or_path": getattr(model.config, "_name_or_path", "") or "",
    }


def _config_fingerprint(config) -> dict:
    return {k: getattr(config, k, None) for k in _CONFIG_KEYS} | {
        "id2label": {str(k): v for k, v in sorted(config.id2label.items())}
    }


def tokenizer_fingerprint(tokenizer) -> str:
    """blake2b of the sorted vocabulary and of the ids of a few probe texts (normalisation, special tokens)."""
    from .checks import PROBE_TEXTS

    vocab = sorted(tokenizer.get_vocab().items())
    probes = [list(tokenizer(text)["input_ids"]) for text in PROBE_TEXTS]
    return blake2b(json.dumps([vocab, probes]).encode(), digest_size=16).hexdigest()


def _column(table: pa.Table, name: str) -> list[np.ndarray] | None:
    """A list column of an Arrow chunk as per-row int64 arrays (None if absent)."""
    if name not in table.column_names:
        return None
    return [np.asarray(row, dtype=np.int64) for row in table.column(name).to_numpy(zero_copy_only=False)]


def _unpadded_rows(dataset, use_token_types: bool):
    """Yield (input_ids, token_type_ids or None) of each row of a `datasets.Dataset`, real tokens only."""
    if "input_ids" not in dataset.column_names:
        raise ValueError(f"The dataset has no input_ids column (columns: {dataset.column_names}): tokenize it first.")
    arrow = dataset.with_format("arrow")
    for start in range(0, len(dataset), _READ_CHUNK):
        chunk = arrow[start : start + _READ_CHUNK]
        ids, mask = _column(chunk, "input_ids"), _column(chunk, "attention_mask")
        tt = _column(chunk, "token_type_ids") if use_token_types else None
        for i in range(len(ids)):
            keep = mask[i].astype(bool) if mask is not None else slice(None)
            yield ids[i][keep], (tt[i][keep] if tt is not None else None)


def _forward_accepts(model, name: str) -> bool:
    return name in forward_arg_names(model)


# -- building ---------------------------------------------------------------------------------------------------
def build_teacher_cache(
    teacher,
    tokenizer,
    dataset,
    cache_dir,
    layers_hidden: list[int],
    layers_attention: list[int],
    parts: set[str],
    max_length: int,
    batch_size: int = 64,
    device=None,
    dtype: str = "float16",
    autocast_dtype: torch.dtype | None = None,
) -> str:
    """Run the frozen teacher once over a tokenized `datasets.Dataset` and write its outputs to `cache_dir`.

    Args:
        teacher: a sequence-classification, token-classification or QA model, a folder or a Hub id.
        tokenizer: the tokenizer the dataset was tokenized with (fingerprinted; pads the teacher's batches).
        dataset: columns input_ids, optional attention_mask / token_type_ids (labels and others are ignored).
        layers_hidden: hidden_states indices to keep (0 = embeddings, i = output of layer i).
        layers_attention: layers (>= 1) whose Q/K/V projections to keep, `parts` of them ({"q", "k", "v"}).
        max_length: the truncation length the dataset was tokenized with (recorded; rows must not exceed it).
        dtype: "float16" (default; half the size) or "float32".
        autocast_dtype: run the teacher's forward under `torch.autocast` in this dtype (`torch.bfloat16` when the
            run trains in bf16: on CPUs with AMX/AVX512-BF16 2.3x faster than fp32 at batch 128; None: fp32).
    Returns the cache folder. The folder is written elsewhere first and moved in place at the end, so an
    interrupted build never leaves a cache that looks valid.
    """
    from . import __version__

    teacher = load_teacher(teacher)
    layers_hidden = sorted({int(t) for t in layers_hidden})
    layers_attention = sorted({int(t) for t in layers_attention})
    parts = set(parts) if layers_attention else set()
    n_layers = teacher.config.num_hidden_layers
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}.")
    if not set(parts) <= set(PARTS):
        raise ValueError(f"parts must be a subset of {set(PARTS)}, got {sorted(parts)}.")
    if layers_attention and not parts:
        raise ValueError(
            "layers_attention is set but parts is empty: pass parts={'q', 'k'} (TinyBERT) or {'q', 'k', 'v'}."
        )
    bad = [t for t in layers_hidden if not 0 <= t <= n_layers] + [t for t in layers_attention if not 1 <= t <= n_layers]
    if bad:
        raise ValueError(
            f"Layers {bad} are out of range: the teacher has hidden states 0..{n_layers} and attention layers "
            f"1..{n_layers}."
        )
    cache_dir = os.path.abspath(os.fspath(cache_dir))
    if os.path.isdir(cache_dir) and os.listdir(cache_dir) and not os.path.isfile(os.path.join(cache_dir, META_FILE)):
        raise FileExistsError(f"{cache_dir} exists and is not a teacher cache: pick an empty or new folder.")

    live = LiveTeacher(teacher)  # the trainer's own teacher forward
    needs = TeacherNeeds(tuple(layers_hidden), tuple(layers_attention), frozenset(parts))
    accepted = live.input_names
    use_tt = "token_type_ids" in accepted and "token_type_ids" in dataset.column_names
    unique: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    data_hash, source_rows, longest = blake2b(digest_size=16), 0, 0
    for ids, tt in _unpadded_rows(dataset, use_tt):
        key = row_key(ids, tt)
        data_hash.update(bytes.fromhex(key))
        unique.setdefault(key, (ids, tt))
        source_rows += 1
        longest = max(longest, len(ids))
    if not unique:
        raise ValueError("The dataset is empty: nothing to cache.")
    if longest > max_length:
        raise ValueError(
            f"A row has {longest} tokens but max_length={max_length}: pass the max_length the dataset was "
            "tokenized with."
        )

    device = torch.device(device) if device is not None else next(teacher.parameters()).device
    was_training = teacher.training
    teacher.eval().to(device)
    keys = sorted(unique, key=lambda k: -len(unique[k][0]))  # long rows first: little padding per batch
    np_dtype = np.dtype(dtype)
    hidden_size = teacher.config.hidden_size
    widths: dict[str, int] = {}
    parent = os.path.dirname(cache_dir) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".teacher_cache-", dir=parent)
    try:
        rows_file = os.path.join(tmp, "rows.arrow")
        sink = writer = schema = None
        precision = (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None
                     else contextlib.nullcontext())
        with torch.inference_mode(), precision:
            for start in range(0, len(keys), batch_size):
                batch_keys = keys[start : start + batch_size]
                features = []
                for k in batch_keys:
                    ids, tt = unique[k]
                    row = {"input_ids": ids.tolist(), "attention_mask": [1] * len(ids)}
                    if use_tt:
                        row["token_type_ids"] = tt.tolist()
                    features.append(row)
                enc = tokenizer.pad(features, return_tensors="pt")
                inputs = {k: v.to(device) for k, v in enc.items() if k in accepted}
                out = live.outputs(inputs, needs)
                mask = inputs["attention_mask"].bool()
                lengths = mask.sum(1).cpu().numpy().astype(np.int32)
                columns = {
                    "key": pa.array(batch_keys, pa.string()),
                    "length": pa.array(lengths, pa.int32()),
                    # per row (C values), or for a token task per real token (T x C values, unpadded)
                    "logits": _token_list(out.logits, mask, lengths, np_dtype, "logits") if out.logits.dim() == 3
                    else _fixed_list(_to_storage(out.logits, np_dtype, "logits"), out.logits.size(-1)),
                }
                for t in layers_hidden:
                    columns[f"hidden_{t}"] = _token_list(out.hidden[t], mask, lengths, np_dtype, f"hidden_{t}")
                for t in layers_attention:
                    for p in sorted(parts):
                        widths[p] = out.qkv[(t, p)].size(-1)
                        columns[f"{p}_{t}"] = _token_list(out.qkv[(t, p)], mask, lengths, np_dtype, f"{p}_{t}")
                table = pa.Table.from_pydict(columns)
                if writer is None:
                    schema = _features(table.schema).arrow_schema
                    sink = pa.OSFile(rows_file, "wb")
                    writer = pa.ipc.new_stream(sink, schema)
                writer.write_table(table.cast(schema))
        writer.close()
        sink.close()

        from datasets import Dataset

        Dataset.from_file(rows_file).save_to_disk(os.path.join(tmp, DATA_DIR))
        os.remove(rows_file)
        teacher.config.to_json_file(os.path.join(tmp, CONFIG_FILE))
        probes = [
            {"input_ids": unique[k][0].tolist(), "token_type_ids": unique[k][1].tolist() if use_tt else None}
            for k in keys[-4:]  # the shortest rows: a cheap check of a live teacher in another dtype
        ]
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "hf_distill_version": __version__,
            "dtype": dtype,
            "forward_dtype": str(autocast_dtype or torch.float32).removeprefix("torch."),
            "num_rows": len(keys),
            "source_rows": source_rows,
            "max_length": int(max_length),
            "layers_hidden": layers_hidden,
            "layers_attention": layers_attention,
            "parts": sorted(parts),
            "hidden_size": hidden_size,
            "qkv_width": widths,
            "num_labels": int(out.logits.size(-1)),
            "logits_per_token": out.logits.dim() == 3,
            "key": {"hash": "blake2b-128 of int64 input_ids of real tokens (+ token_type_ids if non-zero)",
                    "token_type_ids": use_tt},
            "fingerprint": {
                "teacher": teacher_fingerprint(teacher),
                "tokenizer": tokenizer_fingerprint(tokenizer),
                "data": data_hash.hexdigest(),
            },
            "probes": probes,
        }
        with open(os.path.join(tmp, META_FILE), "w") as f:
            json.dump(meta, f, indent=1)
        if os.path.isdir(cache_dir):
            shutil.rmtree(cache_dir)  # an old cache (checked above): replaced only once the new one is complete
        os.replace(tmp, cache_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        teacher.train(was_training)
    logger.info("teacher cache: %d distinct rows of %d written to %s", len(keys), source_rows, cache_dir)
    return cache_dir


def _to_storage(x: torch.Tensor, np_dtype, name: str) -> np.ndarray:
    values = x.detach().float().cpu().numpy().astype(np_dtype)
    if not np.isfinite(values).all():
        raise ValueError(
            f"Teacher output {name} is not finite in {np_dtype} (overflow or NaN): build the cache with "
            "dtype='float32', or check the teacher."
        )
    return values


def _fixed_list(values: np.ndarray, width: int) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width)


def _token_list(x: torch.Tensor, mask: torch.Tensor, lengths: np.ndarray, np_dtype, name: str) -> pa.Array:
    """(B, T, D) -> one list per row of its real tokens' values, flattened (row-major over tokens, then D)."""
    real = _to_storage(x[mask], np_dtype, name)  # (n_tokens, D) in row order, tokens in order
    offsets = np.concatenate([[0], np.cumsum(lengths.astype(np.int64) * x.size(-1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(real.reshape(-1)))


def _features(schema: pa.Schema):
    from datasets import Features

    return Features.from_arrow_schema(schema)


# -- reading ----------------------------------------------------------------------------------------------------
def read_meta(cache_dir) -> dict:
    path = os.path.join(os.fspath(cache_dir), META_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{cache_dir} is not a teacher cache (no {META_FILE}). Build it with "
            "hf_distill.cache.build_teacher_cache(...) or `hf-distill cache ...`, or unset teacher_cache_dir."
        )
    with open(path) as f:
        meta = json.load(f)
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{cache_dir} holds a teacher cache of format {meta.get('format')!r} v{meta.get('format_version')}; "
            f"this hf_distill reads {FORMAT!r} v{FORMAT_VERSION}. Rebuild it with build_teacher_cache(...) or "
            f"`hf-distill cache ...`, or delete {cache_dir}."
        )
    return meta


class TeacherCache:
    """Teacher outputs read from a cache built by `build_teacher_cache`, checked against the trainer first."""

    def __init__(self, cache_dir, meta: dict, dataset, device):
        self.cache_dir = os.fspath(cache_dir)
        self.meta = meta
        self.dataset = dataset  # memory-mapped; arrow format
        self.device = device
        self.use_token_types = meta["key"]["token_type_ids"]
        keys = dataset.data.column("key").to_pylist()
        self.index = dict(zip(keys, range(len(keys))))
        self._views: dict[tuple[str, ...], object] = {}

    @staticmethod
    def read_teacher_config(cache_dir):
        """The teacher's `PretrainedConfig`, as saved in the cache."""
        from transformers import AutoConfig

        meta = read_meta(cache_dir)
        config = AutoConfig.from_pretrained(os.fspath(cache_dir))
        config._name_or_path = meta["fingerprint"]["teacher"]["name_or_path"]  # the teacher's, not the cache's
        return config

    @classmethod
    def open(cls, cache_dir, trainer) -> TeacherCache:
        """Open the cache for `trainer`, or raise ValueError naming what is stale and how to fix it."""
        from datasets import load_from_disk

        meta = read_meta(cache_dir)
        needs = trainer.teacher_needs
        hidden, attention, parts = list(needs.hidden), list(needs.attention), set(needs.parts)
        problems = _stale(meta, trainer, needs)
        if not problems:
            dataset = load_from_disk(os.path.join(os.fspath(cache_dir), DATA_DIR)).with_format("arrow")
            cache = cls(cache_dir, meta, dataset, trainer.args.device)
            problems = cache._check_data(trainer)
            if not problems:
                cache._check_live_teacher(trainer)
                logger.info("teacher outputs read from the cache %s (%d rows)", cache_dir, len(dataset))
                return cache
        fix = (
            f"build_teacher_cache(teacher, tokenizer, train_dataset, {os.fspath(cache_dir)!r}, layers_hidden={hidden}, "
            f"layers_attention={attention}, parts={sorted(parts)}, max_length=...)"
        )
        raise ValueError(
            f"The teacher cache {cache_dir} does not fit this training run: " + "; ".join(problems) + ". "
            f"Rebuild it with {fix} or `hf-distill cache ...`, or delete {cache_dir} and train with the live "
            "teacher (teacher_cache_dir=None)."
        )

    # -- checks before training -------------------------------------------------------------------------------
    def _check_data(self, trainer) -> list[str]:
        """Every training row must be in the cache (checked now, not at step 10 000)."""
        train = trainer.train_dataset
        if train is None or not hasattr(train, "column_names") or "input_ids" not in train.column_names:
            return []
        use_tt = self.use_token_types and "token_type_ids" in train.column_names
        if use_tt and trainer.args.remove_unused_columns and not _forward_accepts(trainer.model, "token_type_ids"):
            use_tt = False  # the Trainer drops them before the batch reaches the cache
        missing, first, total = 0, None, 0
        for i, (ids, tt) in enumerate(_unpadded_rows(train, use_tt)):
            total += 1
            if row_key(ids, tt) not in self.index:
                missing += 1
                first = i if first is None else first
        if not missing:
            return []
        sample = trainer.train_dataset[first]["input_ids"]
        text = trainer.processing_class.decode(sample) if trainer.processing_class is not None else sample
        return [
            f"{missing} of {total} training rows are not in the cache (first: row {first}, {text!r}): it was built "
            "on other data, another max_length or another tokenizer"
        ]

    def _check_live_teacher(self, trainer):
        """A live teacher with the cache's config: same weights (hash), or, when the hash differs because the
        weights went through another dtype (a bf16 teacher cast to fp32, fp16 training), same outputs on a few
        cached rows within 5% (relative L2 norm; another teacher is off by ~100%)."""
        teacher = getattr(trainer, "teacher", None)
        cached = self.meta["fingerprint"]["teacher"]
        if teacher is None:
            return
        if any(p.numel() == 0 for p in unwrap(teacher).parameters()):
            logger.warning("The teacher's weights are partitioned (ZeRO-3): the cache's teacher is not checked.")
            return
        if teacher_fingerprint(teacher)["weights"] == cached["weights"]:
            return
        hidden = self.meta["layers_hidden"]
        device = next(unwrap(teacher).parameters()).device
        for probe in self.meta.get("probes", []):
            inputs = {"input_ids": torch.tensor([probe["input_ids"]])}
            inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
            if probe["token_type_ids"] is not None:
                inputs["token_type_ids"] = torch.tensor([probe["token_type_ids"]])
            inputs = {k: v.to(device) for k, v in inputs.items() if _forward_accepts(teacher, k)}
            with torch.inference_mode():
                out = teacher(**inputs, output_hidden_states=bool(hidden))
            row = self.dataset.select_columns(["logits"] + [f"hidden_{t}" for t in hidden])[
                [self.index[row_key(probe["input_ids"], probe["token_type_ids"])]]
            ]
            live = {"logits": task_of_model(teacher).logits_of(out)} | {f"hidden_{t}": out.hidden_states[t] for t in hidden}
            for name, value in live.items():
                value = value.detach().float().cpu().reshape(-1)
                stored = _values(row, name)
                error = float((value - stored).norm() / stored.norm().clamp(min=1e-6))
                if error > 0.05:
                    raise ValueError(
                        f"The teacher cache {self.cache_dir} was built by another teacher: its weights differ from "
                        f"the given teacher's, and so does its {name} on a cached row (relative error {error:.2f}). "
                        f"Rebuild it with build_teacher_cache(...) or `hf-distill cache ...`, or delete "
                        f"{self.cache_dir}, or pass teacher=None to distil from the cache alone."
                    )
        logger.info("The given teacher's weights differ from the cache's only by precision: outputs match.")

    # -- lookup ---------------------------------------------------------------------------------------------------
    def rows(self, inputs) -> list[int]:
        """The cache row of each batch row, found by the content of its real tokens."""
        ids = inputs["input_ids"].cpu().numpy()
        mask = inputs.get("attention_mask")
        mask = mask.cpu().numpy().astype(bool) if mask is not None else np.ones(ids.shape, dtype=bool)
        tt = inputs.get("token_type_ids") if self.use_token_types else None
        tt = tt.cpu().numpy() if tt is not None else None
        rows, missing = [], []
        for b in range(ids.shape[0]):
            key = row_key(ids[b][mask[b]], tt[b][mask[b]] if tt is not None else None)
            row = self.index.get(key)
            if row is None:
                missing.append(b)
            rows.append(row)
        if missing:
            raise ValueError(
                "batch row not in the teacher cache: the cache was built on other data; rebuild it with "
                "build_teacher_cache(...) on this dataset (same tokenizer and max_length), or delete "
                f"{self.cache_dir}. {len(missing)} of {ids.shape[0]} rows are missing, the first is batch row "
                f"{missing[0]}: input_ids {ids[missing[0]][mask[missing[0]]].tolist()[:16]}."
            )
        return rows

    def outputs(self, inputs, needs: TeacherNeeds) -> TeacherOutputs:
        """Teacher outputs for a collated batch (the `TeacherSource` contract; logits in the teacher's order),
        zeros at padding."""
        rows = self.rows(inputs)
        mask = inputs.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(inputs["input_ids"])
        mask = mask.bool().cpu()
        t_hidden, t_att, parts = list(needs.hidden), list(needs.attention), set(needs.parts)
        columns = ["logits"] + [f"hidden_{t}" for t in t_hidden] + [f"{p}_{t}" for t in t_att for p in sorted(parts)]
        missing = [c for c in columns if c not in self.dataset.column_names]
        if missing:
            raise ValueError(f"The teacher cache {self.cache_dir} has no {missing}: rebuild it with those layers.")
        view = self._views.get(tuple(columns))
        if view is None:  # only the columns read; the rest of the memory map is never touched
            view = self._views[tuple(columns)] = self.dataset.select_columns(columns)
        table = view[rows]  # one gather of all rows: a pyarrow Table

        if self.meta.get("logits_per_token"):  # a token task: (B, T, C), zeros at padding
            logits = self._padded(table, "logits", mask)
        else:
            logits = _values(table, "logits").view(len(rows), -1).to(self.device)
        return TeacherOutputs(
            logits=logits,
            hidden={t: self._padded(table, f"hidden_{t}", mask) for t in t_hidden},
            qkv={(t, p): self._padded(table, f"{p}_{t}", mask) for t in t_att for p in sorted(parts)},
        )

    def _padded(self, table: pa.Table, column: str, mask: torch.Tensor) -> torch.Tensor:
        """Flat real-token values -> (B, T, D) float32 with zeros at padding, by one masked assignment."""
        values = _values(table, column)
        n = int(mask.sum())
        if values.numel() % max(n, 1):
            raise ValueError(f"Cached {column} has {values.numel()} values for {n} real tokens: the cache is corrupt.")
        out = torch.zeros(*mask.shape, values.numel() // max(n, 1))
        out[mask] = values.view(n, -1)  # row-major over (b, t): the order the tokens were stored in
        return out.to(self.device)


def _values(table: pa.Table, column: str) -> torch.Tensor:
    """A column's values, flat, as a float32 tensor (torch converts float16 2.5x faster than numpy's astype)."""
    flat = table.column(column).combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return torch.from_numpy(flat.copy()).float()


def _stale(meta, trainer, needs: TeacherNeeds) -> list[str]:
    missing = _missing(meta, needs)
    problems = [f"it lacks {missing}"] if missing else []
    tokenizer = getattr(trainer, "processing_class", None)
    if tokenizer is not None and hasattr(tokenizer, "get_vocab"):
        if tokenizer_fingerprint(tokenizer) != meta["fingerprint"]["tokenizer"]:
            problems.append("it was built with another tokenizer (vocabulary or tokenization differ)")
    max_length = getattr(trainer, "max_length", None) or getattr(trainer.args, "max_length", None)
    if max_length is not None and int(max_length) != meta["max_length"]:
        problems.append(f"it was built with max_length={meta['max_length']}, this run uses {max_length}")
    teacher = getattr(trainer, "teacher", None)
    if teacher is not None:  # the weights are checked once the data is open (TeacherCache._check_live_teacher)
        live, cached = _config_fingerprint(unwrap(teacher).config), meta["fingerprint"]["teacher"]["config"]
        if live != cached:
            diff = {k: (cached.get(k), v) for k, v in live.items() if cached.get(k) != v}
            problems.append(f"it was built by another teacher (config differs, cache vs given: {diff})")
    return problems


def needs_of(config, teacher_depth: int, student_depths) -> TeacherNeeds:
    """What `config`'s losses read from a teacher of `teacher_depth` layers for students of each of `student_depths`
    layers, together: one cache serves a student and its assistants (the layer map differs by depth)."""
    from .layer_map import resolve_pairs

    needs = TeacherNeeds()
    for depth in sorted(set(student_depths)):
        needs = needs.union(TeacherNeeds.for_losses(config, *resolve_pairs(config, teacher_depth, depth)))
    return needs


def missing_needs(cache_dir: str, needs: TeacherNeeds) -> str | None:
    """What an existing cache lacks of `needs` (its teacher layers), or None when it holds it all."""
    return _missing(read_meta(cache_dir), needs)


def _missing(meta: dict, needs: TeacherNeeds) -> str | None:
    hidden = sorted(set(needs.hidden) - set(meta["layers_hidden"]))
    attention = sorted(set(needs.attention) - set(meta["layers_attention"]))
    parts = sorted(needs.parts - set(meta["parts"])) if needs.attention else []
    lacks = [f"hidden states of teacher layers {hidden}"] if hidden else []
    if attention or parts:
        lacks.append(f"Q/K/V parts {sorted(needs.parts)} of teacher layers {list(needs.attention)} (it has "
                     f"{meta['parts']} of {meta['layers_attention']})")
    return "; ".join(lacks) or None


def write_cache(config, data_args, teacher, tokenizer, student, train, cache_dir: str, also_depths=()) -> str:
    """The teacher cache of what `config`'s losses read from `teacher` for this student, and for students of
    `also_depths` layers (its assistants): what `distill` builds on first use and `hf-distill cache` builds ahead."""
    needs = needs_of(config, teacher.config.num_hidden_layers, [student.config.num_hidden_layers, *also_depths])
    return build_teacher_cache(
        teacher,
        tokenizer,
        train,
        cache_dir,
        layers_hidden=list(needs.hidden),
        layers_attention=list(needs.attention),
        parts=set(needs.parts),
        max_length=data_args.max_length,
        batch_size=config.per_device_eval_batch_size,
        device=config.device,
        autocast_dtype=HALF_DTYPES.get(precision_of(config)),
    )


__all__ = ["TeacherCache", "build_teacher_cache", "missing_needs", "needs_of", "read_meta", "row_key", "write_cache"]
