"""`hf-distill distill`: distil a fine-tuned teacher into a smaller student, saved to <output_dir>/student.

    hf-distill distill --config recipes/sst2_minilm.yaml --teacher runs/sst2_minilm/teacher --output_dir runs/sst2b

With --teacher_cache_dir the teacher's outputs are read from disk, the cache built on first use. The student is a
standard model; hf_distill.json beside it records how it was distilled (the card reads it). With --assistant_layers
(e.g. 4) the teacher is first distilled into assistants of those depths, and the student is cut from the last one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os

from ..arguments import ModelArguments, Parsed, RunArguments
from ..assets import resolve_model_path
from ..cache import missing_needs, needs_of, teacher_fingerprint, write_cache
from ..checkpoints import resume_point, settings_differences, student_settings
from ..config import DistillationConfig
from ..data import DataArguments, load_task_data, load_unlabeled, tokenize_split
from ..placement import is_main_process, precision_of
from ..recipe import (
    apply_pair_assistants,
    apply_pair_augmentation,
    apply_token_rule,
    apply_unlabeled_rows,
    resolve_max_length,
)
from ..student import build_student
from ..tasks import task_of_model
from ..teacher import load_teacher

SUMMARY = "distil the teacher into a smaller student"
ARGUMENTS = (ModelArguments, DataArguments, DistillationConfig, RunArguments)
DISTILL_INFO = "hf_distill.json"
logger = logging.getLogger(__name__)


def run(args: Parsed) -> str:
    if args.model.teacher is None:
        raise ValueError("distill needs --teacher (a fine-tuned teacher folder or Hub id); or run `pipeline`.")
    return distill(args.model, args.data, args.config, args.teacher_dir, args.student_dir, command=args.run.command)


def distill(model_args: ModelArguments, data_args: DataArguments, config, teacher_path: str, output_dir: str,
            command: str | None = None, reuse_finished: bool = False, cache_depths: tuple[int, ...] = ()) -> str:
    """Distil `teacher_path` into a student; saves the student (a standard model) in `output_dir`, with
    hf_distill.json: how it was distilled (and `command`, the command that did it, for the card). With
    `reuse_finished`, a student already finished in `output_dir` is kept as it is when its settings are this run's
    (`check_finished`), and refused otherwise. A teacher cache it builds also holds what students of `cache_depths`
    layers read (the other stages of a chain of assistants)."""
    from ..metrics import compute_metrics_for
    from ..trainer import DistillationTrainer

    assistants = []
    model_args = with_assistants(model_args, data_args, config, teacher_path)
    chain = tuple(model_args.assistant_depths())
    if chain:
        teacher_layers = teacher_depth(teacher_path)
        check_assistant_depths(chain, teacher_layers)  # before the cache check: it maps each depth under the teacher
        # from its last assistant the student needs fewer steps than from a cut of the teacher's base
        config = scaled_steps(config, model_args.assisted_steps_fraction)
        check_chain_cache(config, teacher_layers, (*chain, model_args.student_num_layers))
        model_args, assistants = through_assistants(model_args, data_args, config, teacher_path, output_dir, command)
    data, teacher, tokenizer, student, train = prepare(model_args, data_args, teacher_path, "distill", config)
    validation = tokenize_split(data.validation, data, tokenizer, data_args.max_length, student.config.label2id)
    config.output_dir = output_dir
    if not config.uses_teacher and config.teacher_cache_dir:
        logger.info("labels only (no teacher term): no teacher cache, the teacher is not run")
        config.teacher_cache_dir = None
    settings = student_settings(config, model_args, data_args, teacher_fingerprint(teacher)["weights"])
    if reuse_finished and check_finished(output_dir, settings):
        return output_dir
    resume = resume_point(output_dir, settings, config.resume_from_checkpoint, "distill")
    if config.teacher_cache_dir and not os.path.isfile(os.path.join(config.teacher_cache_dir, "meta.json")):
        logger.info("building the teacher cache in %s", config.teacher_cache_dir)
        write_cache(config, data_args, teacher, tokenizer, student, train, config.teacher_cache_dir,
                    also_depths=(*chain, *cache_depths))
    trainer = DistillationTrainer(
        model=student,
        teacher=teacher,
        teacher_tokenizer=tokenizer,
        args=config,
        train_dataset=train,
        eval_dataset=validation if config.eval_strategy != "no" else None,
        processing_class=tokenizer,
        data_collator=data.kind.data_collator(tokenizer),
        compute_metrics=compute_metrics_for(data_args.task_name, data, student),
    )
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(output_dir)
    if is_main_process():
        info = {
            "teacher": teacher_path,
            "command": command,
            "student_layers": getattr(student.config, "hf_distill_teacher_layers", None),
            "layer_map": ",".join(f"{t}:{s}" for t, s in trainer.layer_pairs),
            "attention_layer_map": ",".join(f"{t}:{s}" for t, s in trainer.attention_pairs),
            "temperature": config.temperature,
            "loss_weights": {
                "hard_label": config.hard_label_weight,
                "logit": config.logit_weight,
                "hidden": config.hidden_weight,
                "attention": config.attention_weight,
            },
            "logit_loss": config.logit_loss,
            "hidden_loss": config.hidden_loss,
            "attention_loss": config.attention_loss if config.attention_weight > 0 else None,
            "train_runtime_s": trainer.state.log_history[-1].get("train_runtime"),  # this run's, after `resumed_from`
            "resumed_from": resume,
            "epochs": config.num_train_epochs,
            "steps": trainer.state.global_step,
            "train_rows": len(train),
            "unlabeled": {"file": data_args.unlabeled_file, "max_samples": data_args.max_unlabeled_samples}
            if data_args.unlabeled_file and config.uses_teacher else None,
            "max_length": data_args.max_length,
            "student_init": model_args.student_init,
            "assistants": assistants or None,
            "learning_rate": config.learning_rate,
            "precision": precision_of(config),  # after `bf16: auto`
            "augment": {"copies": data_args.augment_copies, "min_words": data_args.augment_min_words,
                        "mask_prob": data_args.augment_mask_prob, "replace_prob": data_args.augment_replace_prob,
                        "swap_prob": data_args.augment_swap_prob, "cross_prob": data_args.augment_cross_prob,
                        "cross_neighbours": data_args.augment_cross_neighbours}
            if data_args.augment_copies else None,
        }
        with open(os.path.join(output_dir, DISTILL_INFO), "w") as f:
            json.dump(info, f, indent=2)
    return output_dir


def assistant_folder(path: str, depth: int) -> str:
    """The assistant of `depth` layers' counterpart of the student's folder `path` (where it is saved: beside the
    student, not inside the folder that gets pushed), or of the student's teacher cache (its own layer map)."""
    return f"{os.path.normpath(path)}_assistant_l{depth}"


def bottom_layers(depth: int) -> str:
    """The `student_layers` that cut a model's bottom `depth` layers: '1,2,...,depth'."""
    return ",".join(str(i) for i in range(1, depth + 1))


def cut_layers(depth: int, source_depth: int, cut: str) -> str:
    """The `student_layers` that cut `depth` layers from a model of `source_depth`: its bottom ones ('bottom'), or
    those but the last and its top layer ('top': 3 of 4 -> '1,2,4')."""
    if cut == "bottom" or depth >= source_depth:
        return bottom_layers(depth)
    return ",".join(map(str, [*range(1, depth), source_depth]))


def teacher_depth(teacher_path: str) -> int:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(resolve_model_path(teacher_path)).num_hidden_layers


def with_assistants(model_args: ModelArguments, data_args: DataArguments, config, teacher_path: str) -> ModelArguments:
    """The student's arguments with the assistants it is distilled through (`assistant_layers`): none when no term
    reads the teacher, the pair rule's where it applies (`apply_pair_assistants`), else as given."""
    if model_args.assistant_layers and not config.uses_teacher:
        logger.info("labels only (no teacher term): no assistants, the student is cut as if none were asked for")
        return dataclasses.replace(model_args, assistant_layers=None)
    if model_args.pair_assistants and not model_args.assistant_layers and config.uses_teacher:
        return apply_pair_assistants(model_args, data_args, load_task_data(data_args), teacher_depth(teacher_path))
    return model_args


def check_chain_cache(config, teacher_layers: int, depths: tuple[int, ...]) -> None:
    """Refuse, before any training, a teacher cache that lacks what a chain's stages (students of `depths` layers)
    read: the whole chain shares the one cache, built by its first stage with every stage's layers."""
    if not config.teacher_cache_dir or not os.path.isfile(os.path.join(config.teacher_cache_dir, "meta.json")):
        return
    missing = missing_needs(config.teacher_cache_dir, needs_of(config, teacher_layers, depths))
    if missing:
        raise ValueError(f"teacher_cache_dir {config.teacher_cache_dir} lacks {missing}, which the students of "
                         f"{', '.join(map(str, depths))} layers (the assistants and the student) read: it was built "
                         "for another run. Remove it (distill builds it again on first use) or give another "
                         "teacher_cache_dir.")


def scaled_steps(config, steps_fraction: float):
    """A copy of the distillation arguments training `steps_fraction` of their optimizer steps: the epochs, step
    floors and max_steps scaled."""
    stage = copy.deepcopy(config)
    if steps_fraction != 1:
        stage.num_train_epochs = stage.num_train_epochs * steps_fraction
        stage.min_train_steps = math.ceil(stage.min_train_steps * steps_fraction)
        if stage.token_min_train_steps is not None:
            stage.token_min_train_steps = math.ceil(stage.token_min_train_steps * steps_fraction)
        if stage.max_steps > 0:
            stage.max_steps = max(1, math.ceil(stage.max_steps * steps_fraction))
    return stage


def check_assistant_depths(depths: list[int], teacher_depth: int) -> None:
    if depths and depths[0] >= teacher_depth:
        raise ValueError(f"assistant_layers: an assistant of {depths[0]} layers is not smaller than the teacher's "
                         f"{teacher_depth}; give depths between the student's and {teacher_depth - 1}.")


def check_finished(output_dir: str, settings: dict) -> bool:
    """Whether `output_dir` holds a finished student (its hf_distill.json) of a run with `settings`, to be reused.

    Raises:
        ValueError: it holds one distilled with other settings (another teacher, other data, another depth, ...).
    """
    if not os.path.isfile(os.path.join(output_dir, DISTILL_INFO)):
        return False
    differ = settings_differences(output_dir, settings)
    if differ:
        raise ValueError(f"assistant_layers: {output_dir} holds an assistant distilled with other settings: {differ}. "
                         "Move it away (it is kept, not overwritten) or use another --output_dir.")
    logger.info("%s: finished by a run with the same settings, not distilled again", output_dir)
    return True


def through_assistants(model_args: ModelArguments, data_args: DataArguments, config, teacher_path: str, output_dir: str,
                       command: str | None) -> tuple[ModelArguments, list[dict]]:
    """Teacher assistants (TAKD, Mirzadeh et al., arXiv:1902.03393): for each depth of `assistant_layers`, deepest
    first, a student of that depth distilled from the teacher with the same settings (a copy of the data and
    distillation arguments each, since the recipe's rules change them, training `assistant_steps_fraction` of the
    student's steps; the teacher cache is the student's, built by the first stage for all). The first is cut as the arguments
    say, each next one from the bottom layers of the one before (`student_init pretrained` from its folder), all saved
    by `assistant_folder`; one finished there already by a run with the same settings (its teacher's weights included)
    is not trained again, one with other settings is refused (`check_finished`). Returns the arguments that cut the
    student from the last assistant (its layers by `assisted_cut`), and each assistant's {"layers", "folder"}."""
    from accelerate import PartialState

    depths = model_args.assistant_depths()  # checked against the teacher's depth by `distill`
    # each stage is distilled as a plain student: no assistants of its own (the pair rule would give a first stage
    # deeper ones, as it is cut by depth alone), no slicing
    source = dataclasses.replace(model_args, assistant_layers=None, pair_assistants=0, student_width=None,
                                 assisted_cut=ModelArguments.assisted_cut)  # nor a cut from assistants to record
    assistants = []
    for depth in depths:
        folder = assistant_folder(output_dir, depth)
        stage = dataclasses.replace(source, student_num_layers=depth, student_layers=bottom_layers(depth) if assistants else None)
        logger.info("assistant of %d layers -> %s", depth, folder)
        stage_config = scaled_steps(config, model_args.assistant_steps_fraction)  # the student's teacher cache
        distill(stage, copy.deepcopy(data_args), stage_config, teacher_path, folder, command=command, reuse_finished=True,
                cache_depths=(*depths, model_args.student_num_layers))
        PartialState().wait_for_everyone()  # the main process has saved it: every process cuts the next from it
        assistants.append({"layers": depth, "folder": folder})
        source = dataclasses.replace(source, student_init="pretrained", pretrained_model=folder)
    student = dataclasses.replace(model_args, assistant_layers=None, student_init="pretrained",
                                  pretrained_model=assistants[-1]["folder"],
                                  student_layers=cut_layers(model_args.student_num_layers, depths[-1],
                                                            model_args.assisted_cut))
    return student, assistants


def check_task(data, teacher) -> None:
    """The data's task (sequence or token classification, QA) must be the teacher's, or nothing it says fits."""
    kind = task_of_model(teacher)
    if kind is not data.kind:
        raise ValueError(f"The teacher is a {kind.name} model ({teacher.config.architectures}) but the data is "
                         f"{data.kind.name} data: pass a teacher fine-tuned on this task (`hf-distill train-teacher`), "
                         "or --task to say how to read the data.")


def prepare(model_args: ModelArguments, data_args: DataArguments, teacher_path: str, stage: str, config):
    """Data (checked before any model loads), teacher, its tokenizer, the student, tokenized training rows (and
    their teacher-labelled copies, with --augment_copies or the pair rule of `config`'s run, hf_distill.recipe;
    then the --unlabeled_file rows, labels -100, when a teacher term trains on them)."""
    from transformers import AutoTokenizer, set_seed

    seed = config.seed
    data = load_task_data(data_args)
    if data.train is None:
        raise ValueError(f"{stage} needs training data: pass --train_file or --task_name.")
    unlabeled = load_unlabeled(data_args, data)
    if unlabeled is not None and not config.uses_teacher:
        logger.info("labels only (no teacher term): the %d unlabelled rows would teach nothing, left out", len(unlabeled))
        unlabeled = None
    apply_pair_augmentation(data_args, data, config)
    apply_token_rule(data, config)
    teacher = load_teacher(resolve_model_path(teacher_path), trust_remote_code=model_args.trust_remote_code)
    check_task(data, teacher)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(teacher_path))
    resolve_max_length(data_args, data, tokenizer)
    set_seed(seed)  # a new head (student_init pretrained, a student config) is drawn from the seeded RNG: reproducible
    student = build_student(model_args, teacher)
    train = tokenize_split(data.train, data, tokenizer, data_args.max_length, student.config.label2id)
    if data_args.augment_copies:
        from ..augment import with_augmented_rows

        train = with_augmented_rows(
            train, data.train, data, tokenizer, data_args.max_length, student.config.label2id,
            copies=data_args.augment_copies, min_words=data_args.augment_min_words,
            mask_prob=data_args.augment_mask_prob, replace_prob=data_args.augment_replace_prob, seed=seed,
            swap_prob=data_args.augment_swap_prob, cross_prob=data_args.augment_cross_prob,
            cross_neighbours=data_args.augment_cross_neighbours,
        )
        logger.info("%d training rows with their %d-fold teacher-labelled copies", len(train), data_args.augment_copies)
    if unlabeled is not None:
        from datasets import concatenate_datasets

        apply_unlabeled_rows(config, len(train), len(unlabeled))
        extra = tokenize_split(unlabeled, data, tokenizer, data_args.max_length, gold_labels=False)
        train = concatenate_datasets([train, extra])
    return data, teacher, tokenizer, student, train
