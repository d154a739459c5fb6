"""`DistillationTrainer`: a `transformers.Trainer` whose loss distils a teacher into the model being trained.

    trainer = DistillationTrainer(model=student, teacher="path/to/teacher", args=DistillationConfig(...),
                                  train_dataset=train, eval_dataset=validation, processing_class=tokenizer)
    trainer.train()
    trainer.save_model("student")   # a standard model: no projections, no hf_distill needed to load it

Read top to bottom: construction (teacher, checks, projections), the loss, logging, saving and resuming.
"""

from __future__ import annotations

import logging
import os

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, Trainer
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from transformers.utils import ModelOutput

from . import losses
from .architectures import hidden_size, num_heads, num_layers, unwrap
from .averaging import WeightAverage
from .capture import capture_qkv, check_captured
from .checks import check_tokenizers
from .config import DistillationConfig
from .labels import check_labels
from .layer_map import PROJECTIONS_ATTR, PROJECTIONS_FILE, HiddenProjections, resolve_pairs
from .placement import HALF_DTYPES, deepspeed_inference_engine
from .qa import CONTEXT_MASK
from .recipe import apply_min_train_steps
from .tasks import position_mean, task_of_model
from .teacher import LiveTeacher, TeacherNeeds, TeacherOutputs, load_teacher

logger = logging.getLogger(__name__)


class DistillationTrainer(Trainer):
    """A `Trainer` that adds `teacher=` (a model, a folder or a Hub id) and an optional `teacher_tokenizer=`.

    The teacher is frozen, in eval mode, run in `torch.inference_mode` on the student's device and dtype, and never
    wrapped for gradient sync. Each loss term is logged under `loss/<name>` (weighted, so they add up to `loss`).
    """

    def __init__(self, model=None, args: DistillationConfig | None = None, teacher=None, teacher_tokenizer=None, **kwargs):
        if not isinstance(args, DistillationConfig):
            raise TypeError("DistillationTrainer needs args=DistillationConfig(...) (a TrainingArguments subclass).")
        if model is None:
            raise ValueError("DistillationTrainer needs the student as model=...; model_init is not supported.")
        if teacher is None and args.teacher_cache_dir is None:
            raise ValueError("Pass teacher= (a model, a folder or a Hub id), or set teacher_cache_dir.")
        if isinstance(teacher, (str, os.PathLike)) and teacher_tokenizer is None and os.path.isdir(teacher):
            try:
                teacher_tokenizer = AutoTokenizer.from_pretrained(teacher)
            except (OSError, ValueError):
                teacher_tokenizer = None
        teacher = load_teacher(teacher)
        self.teacher_config = teacher.config if teacher is not None else _cached_teacher_config(args)

        # -- which layers teach which, and whether the shapes allow it (before any long work) --------------------
        self.layer_pairs, self.attention_pairs = resolve_pairs(args, self.teacher_config.num_hidden_layers, num_layers(model))
        if args.attention_weight > 0:
            self._check_attention(model, args)
        self.teacher_label_order = check_labels(self.teacher_config, model.config)
        self.task = task_of_model(unwrap(model))  # where the logits sit (tasks.py)

        # -- projections: trained with the student (a submodule, so DDP syncs them), never in a saved student ----
        if args.hidden_weight > 0 and hidden_size(model) != self.teacher_config.hidden_size:
            self._attach_projections(model)

        if args.freeze_word_embeddings:  # before the Trainer builds its optimizer over the trainable weights
            unwrap(model).get_input_embeddings().requires_grad_(False)
        super().__init__(model=model, args=args, **kwargs)
        self._apply_min_train_steps(args)
        self.weight_average = self._add_weight_average(args)
        check_tokenizers(self.processing_class, teacher_tokenizer, model.config, self.teacher_config, self.train_dataset)

        self.teacher = self._place_teacher(teacher) if teacher is not None else None
        # -- where teacher outputs come from: the on-disk cache or the live teacher, behind one contract ---------
        self.teacher_needs = TeacherNeeds.for_losses(args, self.layer_pairs, self.attention_pairs)
        self.teacher_cache = None
        if args.teacher_cache_dir is not None:
            from .cache import TeacherCache

            self.teacher_cache = TeacherCache.open(args.teacher_cache_dir, self)
        self.teacher_source = self.teacher_cache if self.teacher_cache is not None else LiveTeacher(self.teacher)
        # MixKD's mixed rows are in no cache: the live teacher scores them, beside a cache that serves the other terms
        self.mixup_teacher = self._mixup_teacher() if args.mixup_weight > 0 else None
        # We reduce the loss over the whole accumulated batch ourselves (see compute_loss), so the Trainer must
        # count num_items_in_batch and must not divide by the accumulation steps again.
        self.model_accepts_loss_kwargs = True
        self.loss_is_scaled_for_ga = True
        self._term_sums: dict[str, torch.Tensor] = {}  # on the device: no host sync per step, only at logging
        self._term_steps = 0

    def _apply_min_train_steps(self, args: DistillationConfig):
        """Raise `max_steps` to `min_train_steps` where the epochs give fewer optimizer steps (hf_distill.recipe)."""
        if hasattr(self.train_dataset, "__len__"):
            apply_min_train_steps(args, len(self.train_dataset), args.min_train_steps, "min_train_steps")

    def _add_weight_average(self, args: DistillationConfig) -> WeightAverage | None:
        """The callback that replaces the last weights by their average over the last steps (hf_distill.averaging)."""
        if args.weight_averaging_fraction == 0:
            return None
        if self.is_fsdp_enabled or is_deepspeed_zero3_enabled():
            raise ValueError("weight_averaging_fraction needs each process to hold the whole student, which FSDP and "
                             "DeepSpeed ZeRO-3 shard: set weight_averaging_fraction 0, or use DDP or ZeRO-1/2.")
        callback = WeightAverage(args.weight_averaging_fraction)
        self.add_callback(callback)
        return callback

    def _attach_projections(self, model):
        """One Linear(student width -> teacher width) per mapped student layer, as `model.hf_distill_projections`.

        Left out of every `save_pretrained` (`_keys_to_ignore_on_save`), saved beside checkpoints by `_save`. They
        run inside the student's forward (a forward hook appends the projected states to `hidden_states`), so
        DDP/FSDP see them used by that forward.
        """
        student_layers = [s for _, s in self.layer_pairs]
        projections = HiddenProjections(student_layers, hidden_size(model), self.teacher_config.hidden_size)
        setattr(model, PROJECTIONS_ATTR, projections.to(next(model.parameters()).dtype))
        keys = {f"{PROJECTIONS_ATTR}.{k}" for k in projections.state_dict()}
        model._keys_to_ignore_on_save = set(model._keys_to_ignore_on_save or ()) | keys
        if getattr(model, "_hf_distill_hook", None) is not None:  # a student reused by a second trainer
            model._hf_distill_hook.remove()
        model._hf_distill_hook = model.register_forward_hook(_append_projected_states(projections, student_layers))
        logger.info(
            "hidden widths differ (student %d, teacher %d): training %d projections",
            hidden_size(model), self.teacher_config.hidden_size, len(student_layers),
        )

    def _check_attention(self, model, args):
        t_heads, s_heads = self.teacher_config.num_attention_heads, num_heads(model)
        if args.attention_loss == "tinybert" and t_heads != s_heads:
            raise ValueError(
                f"attention_loss='tinybert' compares attention maps head by head, but the teacher has {t_heads} heads "
                f"and the student {s_heads}. Use attention_loss='minilm' (relations work across head counts and "
                "widths), or give the student the teacher's head count."
            )
        if args.attention_loss == "minilm":
            heads = args.relation_heads or t_heads
            widths = (self.teacher_config.hidden_size, hidden_size(model))
            if any(w % heads for w in widths):
                raise ValueError(
                    f"relation_heads={heads} must divide both hidden sizes {widths}; set relation_heads to a common "
                    "divisor (MiniLMv2 uses 12 for base-size and 48 for large teachers)."
                )

    def _mixup_teacher(self) -> LiveTeacher:
        """The live teacher that scores MixKD's mixed rows (the teacher source itself when that is live)."""
        if self.teacher is None or self._teacher_is_zero3():
            raise ValueError("mixup_weight > 0 runs the teacher on mixed inputs each step: pass teacher= (a model or a "
                             "folder; with teacher_cache_dir too, it runs only for the mixed rows), outside ZeRO-3.")
        if self.task.token_level:
            raise ValueError(f"mixup_weight mixes whole rows, for sequence tasks; this is {self.task.name}: set "
                             "mixup_weight 0.")
        return self.teacher_source if isinstance(self.teacher_source, LiveTeacher) else LiveTeacher(self.teacher)

    def _teacher_is_zero3(self) -> bool:
        """Whether the teacher is placed as a DeepSpeed ZeRO-3 inference engine (its weights sharded)."""
        return self.is_deepspeed_enabled and self.accelerator.state.deepspeed_plugin.zero_stage == 3

    def _place_teacher(self, teacher):
        """Frozen, eval, student's device and dtype (half when training in fp16/bf16); never DDP/FSDP-wrapped."""
        teacher.eval()
        teacher.requires_grad_(False)
        precision = self.accelerator.mixed_precision  # set by --bf16/--fp16 or by the accelerate config
        dtype = HALF_DTYPES.get(precision, next(self.model.parameters()).dtype)
        if self._teacher_is_zero3():
            return deepspeed_inference_engine(teacher, self.accelerator)
        return teacher.to(device=self.args.device, dtype=dtype)

    # -- the loss ------------------------------------------------------------------------------------------------
    def _get_num_items_in_batch(self, batch_samples, device):
        """Rows, not labels != -100: the loss is a mean over examples, and rows without a gold label (-100, from
        `hf_distill.augment`) still carry the teacher terms. The Trainer's own count then gathers it."""
        if not all("input_ids" in b for b in batch_samples):
            return super()._get_num_items_in_batch(batch_samples, device)
        rows = [{"labels": torch.zeros(len(b["input_ids"]), dtype=torch.long)} for b in batch_samples]
        return super()._get_num_items_in_batch(rows, device)

    def _set_signature_columns_if_needed(self):
        """The model's inputs and labels, plus QA's `context_mask` (the trainer reads it; the model never sees it)."""
        super()._set_signature_columns_if_needed()
        if CONTEXT_MASK not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, CONTEXT_MASK]

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        return super().prediction_step(model, _model_inputs(inputs), prediction_loss_only, ignore_keys)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training:  # evaluation: the student's own task loss; predictions are its logits
            outputs = model(**_model_inputs(inputs))
            return (outputs.loss, outputs) if return_outputs else outputs.loss

        terms, outputs = self.loss_terms(model, inputs)
        per_example = torch.stack(list(terms.values())).sum(0)  # (B,)
        args = self.args
        if num_items_in_batch is not None:  # exact mean over the whole accumulated (and gathered) batch
            loss = per_example.sum() / num_items_in_batch
            if args.average_tokens_across_devices and self.accelerator.num_processes > 1:
                loss = loss * self.accelerator.num_processes  # DDP averages gradients over processes
        else:
            loss = per_example.mean() / self.current_gradient_accumulation_steps
        self._check_finite(loss, terms)
        self._record(terms)
        if return_outputs:  # the task's output class, without the hidden states
            if self.task.span:
                return loss, type(outputs)(loss=loss, start_logits=outputs.start_logits, end_logits=outputs.end_logits)
            return loss, type(outputs)(loss=loss, logits=outputs.logits)
        return loss

    def loss_terms(self, model, inputs) -> tuple[dict[str, torch.Tensor], ModelOutput]:
        """Each weighted loss term per example, name -> (B,), and the student's outputs."""
        args = self.args
        labels = self.task.labels_of(inputs)  # (B,), (B, T) or QA's (B, 2); None without gold labels
        model_inputs = {k: v for k, v in _model_inputs(inputs).items() if k not in self.task.label_columns}
        context = inputs.get(CONTEXT_MASK)  # QA: the tokens an answer may start or end on
        mask = inputs.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(inputs["input_ids"])
        need_hidden = args.hidden_weight > 0
        att_on = args.attention_weight > 0
        parts = self.args.attention_parts
        s_att_layers = [s for _, s in self.attention_pairs] if att_on else []

        with capture_qkv(unwrap(model), s_att_layers, parts) as s_qkv:
            outputs = model(**model_inputs, output_hidden_states=need_hidden)
        if att_on:
            check_captured(s_qkv, s_att_layers, parts, "student")
        teacher = self.teacher_outputs(inputs) if args.uses_teacher else None  # labels only: no teacher at all

        # logit terms per position (B, P, C) with the positions that count (B, P): P = 1 for a sequence task, the
        # labelled tokens for a token task, start and end over the context's tokens for QA (tasks.py)
        student_logits, positions = self.task.positions(self.task.logits_of(outputs), mask, labels, context)
        per_position = lambda loss, *x: position_mean(loss(*(t.flatten(0, 1) for t in x)).view(positions.shape), positions)  # noqa: E731
        terms: dict[str, torch.Tensor] = {}
        if args.hard_label_weight > 0 and labels is not None:
            terms["ce"] = args.hard_label_weight * per_position(losses.hard_label_loss, student_logits,
                                                                self.task.position_labels(labels))
        if args.logit_weight > 0:
            teacher_logits, _ = self.task.positions(teacher.logits, mask, labels, context)
            terms["kd"] = args.logit_weight * per_position(self._logit_loss, student_logits, teacher_logits)
        if need_hidden:
            terms["hidden"] = args.hidden_weight * self._hidden_loss(model, outputs.hidden_states, teacher, mask)
        if att_on:
            terms["attention"] = args.attention_weight * self._attention_loss(model, s_qkv, teacher, mask)
        if args.mixup_weight > 0:
            terms["mixup"] = args.mixup_weight * self._mixup_loss(model, model_inputs, mask)

        return terms, outputs

    def _logit_loss(self, student_logits, teacher_logits) -> torch.Tensor:
        """(N, C), (N, C) -> (N,): the logit term's loss, KL at the temperature or (regression, 'mse') MSE."""
        if self.args.logit_loss == "kl" and student_logits.size(-1) > 1:
            return losses.soft_kl(student_logits, teacher_logits, self.args.temperature)
        return losses.logit_mse(student_logits, teacher_logits)

    def teacher_outputs(self, inputs) -> TeacherOutputs:
        """What the losses read from the teacher for a collated batch, from the cache or the live teacher (the
        trainer does not know which), logits in the student's label order."""
        return self.teacher_source.outputs(inputs, self.teacher_needs).in_label_order(self.teacher_label_order)

    def _mixup_loss(self, model, model_inputs, mask) -> torch.Tensor:
        """(B,): MixKD. Each row's word embeddings mixed with another row's of the batch (a random pairing, weights
        ~ Beta(alpha, alpha)), attended over both rows' tokens, each token keeping its own row's segment where it has
        one; the student's logits on the mix against the live teacher's."""
        ids = model_inputs["input_ids"]
        partner = torch.randperm(ids.size(0), device=ids.device)
        alpha = torch.tensor(float(self.args.mixup_alpha))
        lam = torch.distributions.Beta(alpha, alpha).sample((ids.size(0),)).to(ids.device)
        extra = {"attention_mask": torch.maximum(mask, mask[partner])}
        if model_inputs.get("token_type_ids") is not None:
            types = model_inputs["token_type_ids"]
            extra["token_type_ids"] = torch.where(mask.bool(), types, types[partner])
        with torch.inference_mode():  # the teacher's mix: no autograd, as its forward in `LiveTeacher.outputs`
            embeds = losses.mix_rows(unwrap(self.teacher).get_input_embeddings()(ids), partner, lam)
        teacher_logits = self.mixup_teacher.outputs({"inputs_embeds": embeds, **extra}, TeacherNeeds()).in_label_order(
            self.teacher_label_order).logits
        embeds = losses.mix_rows(unwrap(model).get_input_embeddings()(ids), partner, lam)
        student_logits = self.task.logits_of(model(inputs_embeds=embeds, **extra))
        return self._logit_loss(student_logits, teacher_logits)

    def _hidden_loss(self, model, student_hidden, teacher, mask) -> torch.Tensor:
        projected = hasattr(unwrap(model), PROJECTIONS_ATTR)  # then the forward appended one state per pair
        extra = len(self.layer_pairs) if projected else 0
        loss_fn = losses.hidden_mse if self.args.hidden_loss == "mse" else losses.hidden_cosine
        total = 0
        for i, (t, s) in enumerate(self.layer_pairs):
            h = student_hidden[len(student_hidden) - extra + i] if projected else student_hidden[s]  # (B, T, Dt)
            total = total + loss_fn(h, teacher.hidden[t], mask)
        return total

    def _attention_loss(self, model, s_qkv, teacher, mask) -> torch.Tensor:
        t_qkv, total = teacher.qkv, 0
        if self.args.attention_loss == "tinybert":
            s_heads, t_heads = num_heads(unwrap(model)), self.teacher_config.num_attention_heads
            for t, s in self.attention_pairs:
                s_scores = losses.attention_scores(s_qkv[(s, "q")], s_qkv[(s, "k")], s_heads)  # (B, H, T, T)
                t_scores = losses.attention_scores(t_qkv[(t, "q")], t_qkv[(t, "k")], t_heads)
                total = total + losses.attention_score_mse(s_scores, t_scores, mask)
            return total
        heads = self.args.relation_heads or self.teacher_config.num_attention_heads
        for t, s in self.attention_pairs:
            for a, b in self.args.relations:  # e.g. "qq" -> (q, q); "qk" -> attention distribution
                total = total + losses.relation_kl(
                    s_qkv[(s, a)], s_qkv[(s, b)], t_qkv[(t, a)], t_qkv[(t, b)], mask, heads
                )
        return total

    def _check_finite(self, loss, terms):
        if not torch.isfinite(loss.detach()):
            values = {k: float(v.detach().float().mean()) for k, v in terms.items()}
            raise FloatingPointError(
                f"The distillation loss is {float(loss.detach())} at step {self.state.global_step} (terms: {values}). "
                f"Training stopped; checkpoints already in {self.args.output_dir} are kept. Lower learning_rate, "
                "train in fp32 (no fp16), check the data for empty or corrupt rows, or lower the weight of the "
                "term that diverged, then resume from the last checkpoint."
            )

    # -- logging: every weighted term under its own name, averaged over the logging window ------------------------
    def _record(self, terms):
        for name, value in terms.items():
            self._term_sums[name] = self._term_sums.get(name, 0) + value.detach().float().mean()
        self._term_steps += 1

    def log(self, logs, start_time=None):
        if "loss" in logs and self._term_steps:
            names = sorted(self._term_sums)
            local = torch.stack([self._term_sums[n] for n in names]).to(self.args.device) / self._term_steps
            if self.accelerator.num_processes > 1:
                local = self.accelerator.reduce(local, reduction="mean")
            for name, value in zip(names, local.tolist()):
                logs[f"loss/{name}"] = round(value, 6)
            self._term_sums.clear()
            self._term_steps = 0
        super().log(logs, start_time)

    # -- saving and resuming: projections beside the student, never inside it ------------------------------------
    def _save(self, output_dir=None, state_dict=None):
        super()._save(output_dir, state_dict)
        projections = getattr(unwrap(self.model), PROJECTIONS_ATTR, None)
        if projections is not None and self.args.should_save:
            output_dir = output_dir if output_dir is not None else self.args.output_dir
            tensors = {k: v.detach().cpu().contiguous() for k, v in projections.state_dict().items()}
            save_file(tensors, os.path.join(output_dir, PROJECTIONS_FILE), metadata={"format": "pt"})

    def _load_projections(self, folder):
        projections = getattr(unwrap(self.model), PROJECTIONS_ATTR, None)
        path = os.path.join(folder, PROJECTIONS_FILE)
        if projections is None:
            return
        if not os.path.isfile(path):
            logger.warning("%s has no %s: the hidden-state projections start from scratch.", folder, PROJECTIONS_FILE)
            return
        projections.load_state_dict(load_file(path, device="cpu"))

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        self._load_projections(resume_from_checkpoint)
        if self.weight_average is not None:
            self.weight_average.load(resume_from_checkpoint, self.args.device)

    def _load_best_model(self):
        super()._load_best_model()
        self._load_projections(self.state.best_model_checkpoint)


def _model_inputs(inputs: dict) -> dict:
    """The batch without what only the losses read (QA's context_mask)."""
    return {k: v for k, v in inputs.items() if k != CONTEXT_MASK}


def _append_projected_states(projections, student_layers):
    """A forward hook: in training, append `projection(hidden_states[s])` for each mapped student layer `s`
    to the output's `hidden_states` tuple, (B, T, Ds) -> (B, T, Dt)."""

    def hook(module, args, output):
        if module.training and getattr(output, "hidden_states", None) is not None:
            states = tuple(output.hidden_states)
            output.hidden_states = states + tuple(projections(s, states[s]) for s in student_layers)
        return output

    return hook


def _cached_teacher_config(args):
    from .cache import TeacherCache

    return TeacherCache.read_teacher_config(args.teacher_cache_dir)


__all__ = ["DistillationTrainer", "load_teacher"]
