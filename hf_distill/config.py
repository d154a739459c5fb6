"""`DistillationConfig`: the Trainer's `TrainingArguments` plus what the distillation loss needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

LOGIT_LOSSES = ("kl", "mse")
HIDDEN_LOSSES = ("mse", "cosine")
ATTENTION_LOSSES = ("tinybert", "minilm")
RELATIONS = ("qk", "qq", "kk", "vv")


@dataclass
class DistillationConfig(TrainingArguments):
    r"""
    Arguments for [`DistillationTrainer`]. Everything of [`~transformers.TrainingArguments`] plus the weights and
    kinds of the distillation losses. The training loss is

        hard_label_weight * CE(student, labels)
      + logit_weight      * KL(teacher_T || student_T) * T^2      (or MSE on raw logits)
      + hidden_weight     * sum over mapped layers of MSE / (1 - cos) of hidden states
      + attention_weight  * sum over mapped layers of the attention loss

    Layers are indexed like the `hidden_states` tuple of a transformers model: 0 is the embedding output, `i` the
    output of layer `i` (1-based); the attention of layer `i` is the one that produces hidden state `i`.

    Parameters:
        temperature (`float`, *optional*, defaults to `2.0`):
            Softmax temperature of the logit KL. The KL is multiplied by `T^2` so its gradients keep their scale
            (Hinton et al., 2015).
        hard_label_weight (`float`, *optional*, defaults to `0.5`):
            Weight of the cross-entropy (MSE for regression) against the dataset labels; 0 disables it.
        logit_weight (`float`, *optional*, defaults to `0.5`):
            Weight of the logit distillation loss; 0 disables it.
        logit_loss (`str`, *optional*, defaults to `"kl"`):
            `"kl"` (temperature-scaled KL times T^2) or `"mse"` (MSE between raw logits).
        hidden_weight (`float`, *optional*, defaults to `0.0`):
            Weight of the hidden-state loss; 0 disables it.
        hidden_loss (`str`, *optional*, defaults to `"mse"`):
            `"mse"` or `"cosine"` (1 - cosine similarity per token). Where widths differ, a learned linear
            projection maps student states to the teacher's width; it is trained with the student, saved in
            checkpoints and left out of the saved student.
        layer_map (`str`, *optional*):
            Teacher-to-student pairs `"t:s,t:s"`, e.g. `"0:0,2:1,4:2,6:3"`. Default: uniform, teacher layer
            `s * L_t / L_s` teaches student layer `s` for `s = 1..L_s` (6 -> 3 gives `"2:1,4:2,6:3"`).
        attention_weight (`float`, *optional*, defaults to `0.0`):
            Weight of the attention loss; 0 disables it.
        attention_loss (`str`, *optional*, defaults to `"tinybert"`):
            `"tinybert"`: MSE between pre-softmax attention scores of mapped layers, padding masked (TinyBERT,
            arXiv:1909.10351); needs equal head counts. `"minilm"`: KL between self-attention relation
            distributions (MiniLMv2, arXiv:2012.15828), which works across widths and head counts.
        attention_layer_map (`str`, *optional*):
            Pairs for the attention loss, same syntax as `layer_map`; default: the pairs of `layer_map` with a
            student layer >= 1. MiniLM uses only the last layers: `"6:3"`.
        minilm_relations (`str`, *optional*, defaults to `"qq,kk,vv"`):
            Relations for `attention_loss="minilm"`: any of `qq`, `kk`, `vv` (MiniLMv2) and `qk` (the attention
            distribution itself). MiniLM v1 is `"qk,vv"` with `relation_heads` equal to the head count.
        relation_heads (`int`, *optional*, defaults to `0`):
            Number of relation heads for MiniLM relations; must divide both hidden sizes. 0 means the teacher's
            attention head count.
        teacher_cache_dir (`str`, *optional*):
            Folder of a teacher-output cache built by `hf_distill.cache.build_teacher_cache`; the trainer then
            reads teacher outputs from disk instead of running the teacher. The CLI builds it on first use;
            `"auto"` there means `<output_dir>/teacher_cache`.
        min_train_steps (`int`, *optional*, defaults to `0`):
            Train at least this many optimizer steps: when `num_train_epochs` over the training rows give fewer,
            `max_steps` is raised to it (small data gets more epochs). Ignored when `max_steps` is set.
        freeze_word_embeddings (`bool`, *optional*, defaults to `False`):
            Keep the student's word (input) embeddings as initialised: no gradient, no optimizer state. A 3-layer
            MiniLM student's 11.7M word-embedding weights are 67% of its parameters and most of Adam's and gradient
            clipping's work: its cached steps ran 1.3-1.8x faster on 2 CPU cores. Not in the default recipe: on
            1,000 held-out SST-2 sentences it scored 0.827 against 0.834 (bench/results/recipe_rules.md).
        mixup_weight (`float`, *optional*, defaults to `0.0`):
            Weight of MixKD's term (Liang et al. 2021, arXiv:2011.00593): each training row's word embeddings are
            mixed with another row's of the batch, lam * a + (1 - lam) * b with lam ~ Beta(mixup_alpha, mixup_alpha),
            and the student's logits on the mix are matched to the live teacher's (the logit loss; KL or, for
            regression, MSE). Inputs between the training rows, for the teacher to score: it costs a teacher forward
            and a second student forward each step, and needs the teacher model even when outputs are cached.
            Sequence tasks only.
        mixup_alpha (`float`, *optional*, defaults to `0.4`):
            The Beta distribution's parameter for MixKD's mixing weights.
    """

    temperature: float = field(default=2.0, metadata={"help": "Softmax temperature of the logit KL (> 0)."})
    hard_label_weight: float = field(default=0.5, metadata={"help": "Weight of the hard-label loss; 0 disables it."})
    logit_weight: float = field(default=0.5, metadata={"help": "Weight of the logit distillation loss; 0 disables it."})
    logit_loss: str = field(default="kl", metadata={"help": "Logit loss: 'kl' (with T^2) or 'mse'."})
    hidden_weight: float = field(default=0.0, metadata={"help": "Weight of the hidden-state loss; 0 disables it."})
    hidden_loss: str = field(default="mse", metadata={"help": "Hidden-state loss: 'mse' or 'cosine'."})
    layer_map: str | None = field(
        default=None, metadata={"help": "Teacher:student layer pairs, e.g. '0:0,2:1,4:2,6:3'. Default: uniform."}
    )
    attention_weight: float = field(default=0.0, metadata={"help": "Weight of the attention loss; 0 disables it."})
    attention_loss: str = field(default="tinybert", metadata={"help": "Attention loss: 'tinybert' or 'minilm'."})
    attention_layer_map: str | None = field(
        default=None, metadata={"help": "Teacher:student pairs for the attention loss. Default: those of layer_map."}
    )
    minilm_relations: str = field(
        default="qq,kk,vv", metadata={"help": "MiniLM relations, comma-separated from qq, kk, vv, qk."}
    )
    relation_heads: int = field(
        default=0, metadata={"help": "Relation heads for MiniLM relations; 0 = the teacher's head count."}
    )
    teacher_cache_dir: str | None = field(
        default=None, metadata={"help": "Read teacher outputs from this cache instead of running the teacher."}
    )

    token_hidden_weight: float | None = field(
        default=None,
        metadata={"help": "Token classification and QA (per-token logits): use this hidden_weight instead (the token "
                          "rule of recipes/conll2003_minilm.yaml, hf_distill.recipe); None: hidden_weight for every task."},
    )
    token_attention_weight: float | None = field(
        default=None,
        metadata={"help": "Token classification and QA: use this attention_weight instead; None: attention_weight."},
    )

    token_min_train_steps: int | None = field(
        default=None,
        metadata={"help": "Token classification and QA: use this min_train_steps instead; None: min_train_steps."},
    )

    min_train_steps: int = field(
        default=0,
        metadata={"help": "Train at least this many optimizer steps (more epochs on small data); 0 = the epochs as given."},
    )

    freeze_word_embeddings: bool = field(
        default=False,
        metadata={"help": "Keep the student's word embeddings fixed (no gradient or optimizer state): faster steps."},
    )

    weight_averaging_fraction: float = field(
        default=0.0,
        metadata={"help": "Keep the student as the mean of its weights after each of the last this fraction of optimizer "
                          "steps (stochastic weight averaging); 0 = the last weights."},
    )

    mixup_weight: float = field(
        default=0.0,
        metadata={"help": "Weight of the logit term on mixed inputs (MixKD): each row's word embeddings mixed with "
                          "another row's, scored by the live teacher; sequence tasks; 0 disables it."},
    )
    mixup_alpha: float = field(
        default=0.4, metadata={"help": "MixKD's mixing weights are drawn from Beta(mixup_alpha, mixup_alpha) (> 0)."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.mixup_weight < 0 or self.mixup_alpha <= 0:
            raise ValueError(f"mixup_weight must be >= 0 (0 = off) and mixup_alpha > 0, got {self.mixup_weight} and "
                             f"{self.mixup_alpha}.")
        if not 0 <= self.weight_averaging_fraction < 1:
            raise ValueError(f"weight_averaging_fraction must be in [0, 1) (0 = the last weights), got "
                             f"{self.weight_averaging_fraction}.")
        if self.weight_averaging_fraction > 0 and self.load_best_model_at_end:
            raise ValueError("weight_averaging_fraction and load_best_model_at_end both choose the saved weights: set "
                             "one of them (weight_averaging_fraction 0 keeps the best checkpoint).")
        if self.min_train_steps < 0:
            raise ValueError(f"min_train_steps must be >= 0 (0 = the epochs as given), got {self.min_train_steps}.")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}. Typical values are 1 to 8.")
        for name in ("hard_label_weight", "logit_weight", "hidden_weight", "attention_weight", "token_hidden_weight",
                     "token_attention_weight", "token_min_train_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}. Use 0 to disable the term.")
        if self.hard_label_weight + self.logit_weight + self.hidden_weight + self.attention_weight == 0:
            raise ValueError(
                "All loss weights are 0: set at least one of hard_label_weight, logit_weight, hidden_weight, "
                "attention_weight above 0."
            )
        for name, allowed in (
            ("logit_loss", LOGIT_LOSSES),
            ("hidden_loss", HIDDEN_LOSSES),
            ("attention_loss", ATTENTION_LOSSES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")
        relations = self.relations
        unknown = [r for r in relations if r not in RELATIONS]
        if unknown or not relations:
            raise ValueError(
                f"minilm_relations has {unknown or 'no relations'}: use a comma-separated subset of {RELATIONS}, "
                "e.g. 'qq,kk,vv' (MiniLMv2) or 'qk,vv' (MiniLM v1)."
            )
        if self.relation_heads < 0:
            raise ValueError(f"relation_heads must be >= 0 (0 = the teacher's head count), got {self.relation_heads}.")
        from .layer_map import parse_layer_map

        for name in ("layer_map", "attention_layer_map"):
            value = getattr(self, name)
            if value is not None:
                parse_layer_map(value, name=name)  # syntax now; ranges once the models are known

    def __getstate__(self):
        """Pickling (the Trainer's `training_args.bin`) never carries a Hub token."""
        state = self.__dict__.copy()
        for key in state:
            if key.endswith("_token") and state[key] is not None:
                state[key] = None
        return state

    @property
    def uses_teacher(self) -> bool:
        """Whether any term reads the teacher (False: labels only, the teacher is neither run nor cached)."""
        return self.logit_weight > 0 or self.hidden_weight > 0 or self.attention_weight > 0 or self.mixup_weight > 0

    @property
    def relations(self) -> list[str]:
        return [r.strip().lower() for r in self.minilm_relations.split(",") if r.strip()]

    @property
    def attention_parts(self) -> set[str]:
        """Which of Q, K, V the attention loss reads (empty when it is off)."""
        if self.attention_weight == 0:
            return set()
        if self.attention_loss == "tinybert":
            return {"q", "k"}
        return {c for relation in self.relations for c in relation}
