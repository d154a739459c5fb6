"""Resuming an interrupted run: the last checkpoint of a run with the same settings, refused for other settings."""

import json
import logging
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file
from test_cli import sentences, write_rows

from hf_distill.arguments import ModelArguments
from hf_distill.checkpoints import (
    CHECKPOINT_DONE,
    RUN_FILE,
    last_whole_checkpoint,
    resume_point,
    settings_differences,
    student_settings,
    teacher_settings,
)
from hf_distill.cli import main
from hf_distill.commands.distill import DISTILL_INFO
from hf_distill.config import DistillationConfig
from hf_distill.data import DataArguments
from hf_distill.teacher import TEACHER_INFO

RECORDS = {"teacher": TEACHER_INFO, "student": DISTILL_INFO}


def settings_of(who="student", teacher_weights="ab12", **changes):
    model = {k: changes.pop(k) for k in list(changes) if k in ModelArguments.__dataclass_fields__}
    data = {"train_file": "t.csv", **{k: changes.pop(k) for k in list(changes) if k in DataArguments.__dataclass_fields__}}
    config = DistillationConfig(**{"output_dir": "/tmp/o", "use_cpu": True, "report_to": "none", **changes})
    if who == "teacher":
        return teacher_settings(config, ModelArguments(**model), DataArguments(**data))
    return student_settings(config, ModelArguments(**model), DataArguments(**data), teacher_weights)


def test_student_settings_change_with_the_weights_not_with_logging_or_saving():
    same = settings_of()
    assert settings_of(output_dir="/tmp/elsewhere", logging_steps=7, save_steps=9, report_to="none") == same
    for change in ({"hidden_weight": 2.0}, {"learning_rate": 3e-4}, {"student_num_layers": 2},
                   {"augment_copies": 2}, {"max_length": 64}):
        assert settings_of(**change) != same, change


def test_what_chooses_the_best_checkpoint_counts_only_where_a_run_keeps_its_best(tmp_path):
    def best(**changes):
        return settings_of(**{"eval_strategy": "steps", "save_strategy": "steps", "eval_steps": 10, "save_steps": 10,
                              "validation_file": "v.csv", **changes})

    assert best() == settings_of()  # scored and saved, but the last weights are kept: the same weights
    keeps_best = best(load_best_model_at_end=True)
    assert keeps_best != best()
    assert best(load_best_model_at_end=True, logging_steps=3, output_dir="/tmp/elsewhere") == keeps_best
    for change in ({"eval_steps": 5, "save_steps": 10}, {"metric_for_best_model": "accuracy"},
                   {"validation_file": "other.csv"}, {"max_eval_samples": 100}):
        assert best(load_best_model_at_end=True, **change) != keeps_best, change
    os.makedirs(folder := os.path.join(tmp_path, "run"))
    with open(os.path.join(folder, RUN_FILE), "w") as f:
        json.dump(best(), f)
    shown = settings_differences(folder, keeps_best)  # the refusal names what only one side counted as unrecorded
    assert "load_best_model_at_end: not recorded there, True now" in shown
    assert "metric_for_best_model: not recorded there" in shown and "None there" not in shown


def test_student_settings_know_the_teacher_by_its_weights_not_its_path_or_training():
    same = settings_of(teacher="runs/teacher")
    assert settings_of(teacher="runs/./teacher") == same  # one teacher, named another way
    assert settings_of(teacher="runs/teacher", teacher_weights="cd34") != same  # trained again into its folder
    for change in ({"teacher_learning_rate": 1e-4}, {"teacher_num_train_epochs": 5.0}, {"pretrained_model": "other"}):
        assert settings_of(**change) == same, change  # the teacher's own training; the cut is from the teacher
    pretrained = settings_of(student_init="pretrained")
    assert settings_of(student_init="pretrained", pretrained_model="other") != pretrained  # the cut is from it


def test_teacher_settings_ignore_what_only_the_student_uses():
    same = settings_of("teacher")
    for change in ({"hidden_weight": 2.0}, {"temperature": 4.0}, {"min_train_steps": 10}, {"student_num_layers": 2},
                   {"augment_copies": 2}, {"unlabeled_file": "u.jsonl"}):
        assert settings_of("teacher", **change) == same, change
    for change in ({"teacher_learning_rate": 1e-4}, {"pretrained_model": "other"}, {"seed": 7}, {"max_length": 64}):
        assert settings_of("teacher", **change) != same, change


def test_a_teacher_cache_counts_by_whether_one_is_used_not_where(tmp_path):
    cached = settings_of(teacher_cache_dir="/tmp/run/student_assistant_l5_cache")
    (tmp_path / RUN_FILE).write_text(json.dumps(cached))
    assert settings_differences(str(tmp_path), settings_of(teacher_cache_dir="/tmp/run/teacher_cache")) == ""
    assert "teacher_cache_dir" in settings_differences(str(tmp_path), settings_of())  # a live teacher instead
    assert "hidden_weight" in settings_differences(str(tmp_path), settings_of(teacher_cache_dir="/c", hidden_weight=2.0))


def test_a_record_from_before_a_field_was_added_is_a_run_of_its_old_value(tmp_path):
    old = {k: v for k, v in settings_of().items() if k not in ("weight_averaging_fraction", "assisted_cut")}
    (tmp_path / RUN_FILE).write_text(json.dumps(old))
    assert settings_differences(str(tmp_path), settings_of()) == ""
    assert "weight_averaging_fraction" in settings_differences(str(tmp_path), settings_of(weight_averaging_fraction=0.5))
    assert "assisted_cut" in settings_differences(str(tmp_path), settings_of(assisted_cut="top"))


def test_resume_point_resumes_the_same_run_refuses_another_and_records_settings(tmp_path):
    out = tmp_path / "student"
    assert resume_point(str(out), {"a": 1}, None, "distill") is None  # nothing there: from the start
    assert json.loads((out / RUN_FILE).read_text()) == {"a": 1}
    for step in (2, 10):
        (out / f"checkpoint-{step}").mkdir()
        (out / f"checkpoint-{step}" / CHECKPOINT_DONE).write_text("{}")
    assert resume_point(str(out), {"a": 1}, None, "distill") == str(out / "checkpoint-10")
    with pytest.raises(ValueError, match=r"checkpoint-10 of a run with other settings: a: 1 there, 2 now.*--output_dir"):
        resume_point(str(out), {"a": 2}, None, "distill")
    assert json.loads((out / RUN_FILE).read_text()) == {"a": 1}  # the record of the checkpoints is kept
    assert resume_point(str(out), {"a": 2}, "elsewhere/checkpoint-5", "distill") == "elsewhere/checkpoint-5"
    assert json.loads((out / RUN_FILE).read_text()) == {"a": 2}  # the settings of the checkpoints it saves from now
    assert resume_point(str(out), {"a": 2}, None, "distill") == str(out / "checkpoint-10")
    (out / RUN_FILE).unlink()
    with pytest.raises(ValueError, match=rf"no {RUN_FILE}.*--resume_from_checkpoint {out / 'checkpoint-10'}"):
        resume_point(str(out), {"a": 1}, None, "distill")


def test_a_checkpoint_whose_save_was_cut_short_is_passed_over(tmp_path, caplog):
    out = tmp_path / "student"
    assert last_whole_checkpoint(str(out), "distill") is None  # no folder yet
    for step, whole in ((1000, True), (2000, True), (3000, False), (250, False)):
        folder = out / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"")  # a stop between the weights and the trainer state
        if whole:
            (folder / CHECKPOINT_DONE).write_text("{}")
    (out / "checkpoint-x").mkdir()  # not a step: ignored
    (out / "checkpoint-9000").write_text("")  # a file, not a checkpoint
    with caplog.at_level(logging.WARNING, logger="hf_distill"):
        assert last_whole_checkpoint(str(out), "distill") == str(out / "checkpoint-2000")
    assert "checkpoint-3000" in caplog.text and "resuming from checkpoint-2000" in caplog.text
    (out / RUN_FILE).write_text(json.dumps({"a": 1}))
    assert resume_point(str(out), {"a": 1}, None, "distill") == str(out / "checkpoint-2000")
    for step in (1000, 2000):
        (out / f"checkpoint-{step}" / CHECKPOINT_DONE).unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_distill"):
        assert resume_point(str(out), {"a": 1}, None, "distill") is None  # none whole: from the start
    assert "starting afresh" in caplog.text


def test_rerun_pipeline_resumes_teacher_and_student_as_if_never_stopped_and_refuses_new_settings(
        tmp_path, pretrained, capsys):
    train = write_rows(tmp_path / "train.csv", sentences(24))
    val = write_rows(tmp_path / "val.csv", sentences(6))
    out = tmp_path / "run"
    argv = ["pipeline", "--pretrained_model", pretrained, "--train_file", train, "--validation_file", val,
            "--output_dir", str(out), "--student_num_layers", "2", "--hidden_weight", "1", "--max_steps", "4",
            "--teacher_min_train_steps", "0", "--per_device_train_batch_size", "8", "--use_cpu", "true",
            "--report_to", "none", "--latency_runs", "2", "--latency_warmup", "1", "--save_strategy", "steps",
            "--save_steps", "2", "--save_total_limit", "3"]
    assert main(argv) == 0
    full = {who: load_file(out / who / "model.safetensors") for who in ("teacher", "student")}

    def stop_after_step_2(*stages):  # as if stopped after the checkpoint of step 2: no step 4, no saved model
        for who in stages:
            for name in ("checkpoint-4", "model.safetensors", "config.json"):
                path = out / who / name
                path.unlink() if path.is_file() else shutil.rmtree(path)

    def assert_resumed(*stages):
        for who in stages:
            record = json.loads((out / who / RECORDS[who]).read_text())
            assert record["steps"] == 4 and record["resumed_from"] == str(out / who / "checkpoint-2"), who
            resumed = load_file(out / who / "model.safetensors")
            for name, tensor in full[who].items():
                assert torch.allclose(resumed[name], tensor, atol=1e-5), (who, name)

    stop_after_step_2("teacher", "student")
    assert main(argv) == 0
    assert_resumed("teacher", "student")
    stop_after_step_2("student")  # the teacher finished, the student did not: the pipeline keeps one, resumes the other
    teacher_saved = (out / "teacher" / "model.safetensors").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "teacher" / "model.safetensors").stat().st_mtime_ns == teacher_saved
    assert_resumed("student")

    capsys.readouterr()
    assert main([*argv, "--hidden_weight", "2"]) == 2  # new loss weights, same folder
    err = capsys.readouterr().err
    assert "other settings: hidden_weight: 1.0 there, 2.0 now" in err and "another --output_dir" in err
    assert (out / "student" / "checkpoint-4").is_dir()  # nothing the user had is lost
