"""Build a student: from the teacher's own layers (whole or width-sliced), or from a smaller config.

    student = student_from_teacher(teacher, num_layers=3)          # layers 1, 3, 5 of a 6-layer teacher
    student = student_from_teacher(teacher, layers=[1, 4])         # explicit, 1-based like hidden_states
    student = student_from_teacher(teacher, num_layers=3, hidden_size=256, num_attention_heads=8,
                                   intermediate_size=1024)         # the same layers, width-sliced
    student = student_from_config(teacher, hidden_size=256, num_attention_heads=4, intermediate_size=1024)
"""

from __future__ import annotations

import copy
import re

import torch
from torch import nn

from .architectures import arch_of, ffn_field, get_layers


def parse_width(spec: str, option: str) -> tuple[int, int, int]:
    """'hidden:heads:ffn' (e.g. '256:8:1024') -> (256, 8, 1024); `option` names the flag in the error."""
    try:
        hidden, heads, ffn = (int(x) for x in spec.split(":"))
    except ValueError as err:
        raise ValueError(f"{option}: cannot read {spec!r}; write hidden:heads:ffn, e.g. '256:8:1024'.") from err
    return hidden, heads, ffn


def default_student_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced teacher layers starting at the first: 6 -> 3 gives [1, 3, 5], 6 -> 2 gives [1, 4]."""
    if not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"num_layers must be between 1 and the teacher's {teacher_layers}, got {student_layers}.")
    return [1 + i * teacher_layers // student_layers for i in range(student_layers)]


def _layer_key_pattern(model: nn.Module) -> re.Pattern:
    """State-dict keys of the layers: `bert.encoder.layer.N.*` in a task model, `encoder.layer.N.*` in a bare encoder."""
    layers = arch_of(model).layers
    prefix = layers if model.base_model is model else f"{model.base_model_prefix}.{layers}"
    return re.compile(rf"^({re.escape(prefix)})\.(\d+)\.(.*)$")


def sliced_widths(
    teacher_config, hidden_size: int | None = None, num_attention_heads: int | None = None,
    intermediate_size: int | None = None,
) -> dict[str, int]:
    """The student's widths for weight selection from the teacher, checked; `{field: student value}`.

    Whole attention heads are kept, so the student's head size (hidden_size / num_attention_heads) must be the
    teacher's. A width left out defaults to what that rule gives (`num_attention_heads` from `hidden_size` and the
    reverse), else to the teacher's.

    Args:
        teacher_config (`PretrainedConfig`): the teacher's config.
        hidden_size (`int`, *optional*): residual-stream width, at most the teacher's.
        num_attention_heads (`int`, *optional*): heads per layer, at most the teacher's.
        intermediate_size (`int`, *optional*): FFN units per layer, at most the teacher's.
    """
    ffn = ffn_field(teacher_config)  # "intermediate_size", or DistilBERT's "hidden_dim"
    requested = {"hidden_size": hidden_size, "num_attention_heads": num_attention_heads, ffn: intermediate_size}
    for name, value in requested.items():
        if value is not None and not hasattr(teacher_config, name):
            raise ValueError(
                f"{type(teacher_config).__name__} has no {name} field, so the student's {name} cannot be set for "
                f"model_type {teacher_config.model_type!r}; leave {name} unset to keep the teacher's."
            )
    big_d, big_h = teacher_config.hidden_size, teacher_config.num_attention_heads
    if big_d % big_h:
        raise ValueError(f"The teacher's hidden_size {big_d} is not divisible by its {big_h} heads; cannot slice heads.")
    head_size = big_d // big_h
    d, h = hidden_size, num_attention_heads
    if d is None and h is None:
        d, h = big_d, big_h
    elif h is None:
        if d % head_size:
            raise ValueError(
                f"hidden_size {d} is not a multiple of the teacher's head size {head_size} ({big_d} / {big_h} heads); "
                f"whole heads are kept, so use a multiple of {head_size}, e.g. {max(1, d // head_size) * head_size}."
            )
        h = d // head_size
    elif d is None:
        d = h * head_size
    if d % h or d // h != head_size:
        fix = (f"use num_attention_heads={d // head_size} for hidden_size {d}" if d % head_size == 0 else
               f"use a hidden_size that is a multiple of {head_size}, e.g. {max(1, d // head_size) * head_size}")
        raise ValueError(
            f"Weight selection keeps whole attention heads, so the student's head size must equal the teacher's: "
            f"hidden_size {d} / num_attention_heads {h} gives head size {d / h:g}, the teacher's is {head_size} "
            f"({big_d} / {big_h}); {fix}."
        )
    widths = {"hidden_size": d, "num_attention_heads": h}
    if hasattr(teacher_config, ffn):
        widths[ffn] = intermediate_size or getattr(teacher_config, ffn)
    for name, value in widths.items():
        if not 1 <= value <= getattr(teacher_config, name):
            raise ValueError(f"{name} must be between 1 and the teacher's {getattr(teacher_config, name)} to slice, "
                             f"got {value}; for a wider student use student_from_config.")
    return widths


def slice_to(tensor: torch.Tensor, shape, roles: dict[tuple[int, int], str], name: str = "tensor") -> torch.Tensor:
    """The leading block `tensor[:shape[0], :shape[1], ...]` (a copy), once every dim that shrinks is a known width.

    `roles` maps (teacher size, student size) to the width it is, e.g. `{(384, 256): "hidden_size"}`. The first
    indices of every width are kept: residual dims 0..d-1 everywhere, the first heads (Q/K/V rows are head-major,
    so the first h heads are the first h * head_size rows), the first FFN units. A dim that shrinks by any other
    pair (a fused Q/K/V, say) has no known role, and slicing it would scramble it: that is an error.
    """
    if tensor.dim() != len(shape):
        raise ValueError(f"Cannot slice {name}: the teacher's has {tensor.dim()} dims, the student's {len(shape)}.")
    for dim, (t, s) in enumerate(zip(tensor.shape, shape)):
        if t != s and (t, s) not in roles:
            known = ", ".join(f"{r} {a}->{b}" for (a, b), r in roles.items()) or "none"
            raise ValueError(
                f"Cannot slice {name}: its dim {dim} is {t} in the teacher and {s} in the student, which is none of "
                f"the sliced widths ({known}), so its role is unknown (a fused or reshaped tensor?). This "
                "architecture cannot be width-sliced; build a fresh narrower student with student_from_config."
            )
    return tensor[tuple(slice(0, s) for s in shape)].detach().clone()


def _check_sliceable(teacher: nn.Module) -> None:
    """Slicing needs separate head-major Q/K/V Linears as wide as the residual stream (BERT-style attention)."""
    block = get_layers(teacher)[0]
    arch, width = arch_of(teacher), teacher.config.hidden_size
    for part in (arch.query, arch.key, arch.value):
        module = block.get_submodule(part)
        if not isinstance(module, nn.Linear) or (module.in_features, module.out_features) != (width, width):
            raise ValueError(
                f"Cannot width-slice model_type {teacher.config.model_type!r}: its {part} is not a Linear from and to "
                f"hidden_size {width}, so the roles of its dims are unknown. Use student_from_config for a narrower "
                "student, or student_from_teacher without widths."
            )


def student_from_teacher(
    teacher: nn.Module, num_layers: int | None = None, layers: list[int] | None = None, *,
    hidden_size: int | None = None, num_attention_heads: int | None = None, intermediate_size: int | None = None,
) -> nn.Module:
    """A model of the teacher's own class with its embeddings, the chosen layers, pooler and classifier copied.

    With widths, every copied tensor is sliced to its leading block ("weight selection", Xu et al. 2023,
    arXiv:2311.18823): one fixed set of residual dims (the first `hidden_size`) everywhere, the first
    `num_attention_heads` whole heads, the first `intermediate_size` FFN units. The head size must stay the
    teacher's (see `sliced_widths`). The teacher's widths are recorded in `config.hf_distill_sliced_from`.

    Args:
        teacher (`PreTrainedModel`): any model whose `model_type` is in `ARCHITECTURES`.
        num_layers (`int`, *optional*): keep this many layers, evenly spaced (`default_student_layers`).
        layers (`list[int]`, *optional*): the teacher layers to keep, 1-based (layer `i` produces hidden state `i`).
        hidden_size (`int`, *optional*): slice the residual stream to this width; default the teacher's.
        num_attention_heads (`int`, *optional*): keep this many heads; default hidden_size / the teacher's head size.
        intermediate_size (`int`, *optional*): keep this many FFN units; default the teacher's.
    """
    total = teacher.config.num_hidden_layers
    if layers is None:
        if num_layers is None:
            raise ValueError("Pass num_layers=k or layers=[...] to choose the student's layers.")
        layers = default_student_layers(total, num_layers)
    layers = [int(i) for i in layers]
    bad = [i for i in layers if not 1 <= i <= total]
    if bad or not layers or len(set(layers)) != len(layers):
        raise ValueError(f"layers must be distinct teacher layers in 1..{total} (1-based), got {layers}.")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    config.hf_distill_teacher_layers = layers  # recorded in config.json: where the student came from
    roles = {}  # (teacher size, student size) -> width name, for the dims that shrink
    if any(w is not None for w in (hidden_size, num_attention_heads, intermediate_size)):
        widths = sliced_widths(teacher.config, hidden_size, num_attention_heads, intermediate_size)
        teacher_widths = {name: getattr(teacher.config, name) for name in widths}
        roles = {(teacher_widths[n], s): n for n, s in widths.items() if s != teacher_widths[n]}
        if roles:
            _check_sliceable(teacher)
            for name, value in widths.items():
                setattr(config, name, value)
            config.hf_distill_sliced_from = teacher_widths  # the student's widths are the first indices of these
    student = type(teacher)(config)

    pattern = _layer_key_pattern(teacher)
    source_of = {new: old for new, old in enumerate(layers)}  # student 0-based block -> teacher 1-based layer
    teacher_state = teacher.state_dict()
    new_state, used = {}, set()
    for key, target in student.state_dict().items():
        match = pattern.match(key)
        source_key = f"{match.group(1)}.{source_of[int(match.group(2))] - 1}.{match.group(3)}" if match else key
        source = teacher_state.get(source_key)
        if source is None or (source.shape != target.shape and not roles):
            raise ValueError(
                f"Cannot copy {source_key} into the student's {key}: "
                f"{'missing in the teacher' if source is None else f'shape {tuple(source.shape)} vs {tuple(target.shape)}'}."
            )
        new_state[key] = slice_to(source, target.shape, roles, source_key)
        used.add(source_key)
    dropped = [k for k in teacher_state if k not in used and not pattern.match(k)]
    if dropped:  # e.g. ELECTRA's embeddings_project vanishes when the new hidden_size equals embedding_size
        raise ValueError(f"At these widths the student's config has no place for the teacher's {', '.join(dropped)}, "
                         "so the copy would compute something else; choose other widths.")
    student.load_state_dict(new_state, strict=True)
    return student.to(next(teacher.parameters()).dtype)


def student_from_config(teacher: nn.Module, **overrides) -> nn.Module:
    """A freshly initialised model of the teacher's class from the teacher's config with `overrides` applied
    (e.g. `num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024`).

    The label names, vocabulary and tokenizer-facing fields stay the teacher's, so the same inputs feed both.
    Where the width differs, hidden-state losses get a learned projection (see `DistillationConfig`).
    """
    config = copy.deepcopy(teacher.config)
    for name, value in overrides.items():
        if not hasattr(config, name):
            raise ValueError(f"{type(config).__name__} has no field {name!r}; check the spelling of the override.")
        setattr(config, name, value)
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(
            f"hidden_size {config.hidden_size} is not divisible by num_attention_heads {config.num_attention_heads}."
        )
    return type(teacher)(config).to(next(teacher.parameters()).dtype)


def set_dropout(model: nn.Module, p: float) -> nn.Module:
    """`model` with every dropout set to `p`: its `nn.Dropout` modules (embeddings, attention probabilities, residual
    branches, head; transformers reads their `p` at each call, the sdpa path included) and the config fields that
    `ARCHITECTURES` names, so that the saved config records what the student trained with."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {p}.")
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p
    for name in arch_of(model).dropouts:
        if hasattr(model.config, name):
            setattr(model.config, name, p)
    return model


def copied_layers(student: nn.Module) -> list[int] | None:
    """The teacher layers a student was built from, if it was built by `student_from_teacher`."""
    return getattr(student.config, "hf_distill_teacher_layers", None)


def sliced_from(student: nn.Module) -> dict[str, int] | None:
    """The teacher widths a width-sliced student was cut from (`{"hidden_size": 384, ...}`), else None."""
    return getattr(student.config, "hf_distill_sliced_from", None)


__all__ = [
    "default_student_layers", "student_from_teacher", "student_from_config", "copied_layers", "sliced_from",
    "sliced_widths", "slice_to", "get_layers", "set_dropout",
]


def _pretrained_base(model_args, teacher):
    """--pretrained_model as a classifier with the teacher's labels (a new head): where `student_init pretrained`
    cuts its layers from. It must be the teacher's architecture and vocabulary."""
    from .assets import resolve_model_path
    from .tasks import task_of_model

    labels = teacher.config
    base = task_of_model(teacher).model_class().from_pretrained(
        resolve_model_path(model_args.pretrained_model), trust_remote_code=model_args.trust_remote_code,
        num_labels=labels.num_labels, id2label=labels.id2label, label2id=labels.label2id,
        problem_type=labels.problem_type,
    )
    mine, theirs = base.config, teacher.config
    if (mine.model_type, mine.vocab_size, mine.hidden_size) != (theirs.model_type, theirs.vocab_size, theirs.hidden_size):
        raise ValueError(
            f"student_init pretrained: --pretrained_model {model_args.pretrained_model!r} is a {mine.model_type} "
            f"(vocab {mine.vocab_size}, hidden {mine.hidden_size}) but the teacher is a {theirs.model_type} (vocab "
            f"{theirs.vocab_size}, hidden {theirs.hidden_size}). Pass the teacher's own base as --pretrained_model, "
            "or --student_init teacher."
        )
    return base


def build_student(model_args, teacher):
    """The student the arguments describe: an existing model, a narrower config, or the teacher's own layers
    (or, with `student_init pretrained`, the same layers of the encoder the teacher was fine-tuned from), with
    `student_dropout` applied when given."""
    student = _described_student(model_args, teacher)
    if model_args.student_dropout is not None:
        set_dropout(student, model_args.student_dropout)
    return student


def _described_student(model_args, teacher):
    from .assets import resolve_model_path
    from .tasks import task_of_model

    if model_args.student:
        return task_of_model(teacher).model_class().from_pretrained(
            resolve_model_path(model_args.student), trust_remote_code=model_args.trust_remote_code
        )
    if model_args.student_config:
        overrides = {}
        for item in model_args.student_config.split(","):
            key, _, value = item.partition("=")
            if not value:
                raise ValueError(f"student_config: cannot read {item!r}; write key=value pairs separated by commas.")
            overrides[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
        return student_from_config(teacher, **overrides)
    source = _pretrained_base(model_args, teacher) if model_args.student_init == "pretrained" else teacher
    width = {}
    if model_args.student_width:
        hidden, heads, ffn = parse_width(model_args.student_width, "student_width")
        width = {"hidden_size": hidden, "num_attention_heads": heads, "intermediate_size": ffn}
    if model_args.student_layers:
        layers = [int(x) for x in model_args.student_layers.split(",") if x.strip()]
        return student_from_teacher(source, layers=layers, **width)
    return student_from_teacher(source, num_layers=model_args.student_num_layers, **width)
