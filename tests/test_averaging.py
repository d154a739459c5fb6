"""Weight averaging (hf_distill.averaging): the saved student is the mean of its weights over the last steps."""

import pytest
import torch
from test_trainer import full_and_resumed, make_trainer
from transformers import TrainerCallback

from hf_distill import DistillationConfig
from hf_distill.averaging import AVERAGE_FILE, start_step


class Record(TrainerCallback):
    """The trainable weights after each optimizer step, by step."""

    def __init__(self):
        self.after = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.after[state.global_step] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_start_step_leaves_the_last_fraction_and_at_least_one_step():
    assert start_step(8, 0.25) == 6  # steps 7 and 8 averaged
    assert start_step(8, 0.5) == 4
    assert start_step(8, 0.01) == 7  # the last step alone, never none
    assert start_step(2000, 0.2) == 1600


def test_saved_weights_are_the_mean_over_the_last_steps(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=4, weight_averaging_fraction=0.5)
    record = Record()
    trainer.add_callback(record)
    trainer.train()
    for name, param in trainer.model.named_parameters():
        mean = (record.after[3][name] + record.after[4][name]) / 2
        torch.testing.assert_close(param.detach(), mean, rtol=1e-5, atol=1e-6)
    moved = [n for n in record.after[4] if not torch.allclose(record.after[4][n], record.after[3][n])]
    assert moved  # the average is not the last weights: the test above could fail


def test_resumed_run_continues_the_same_average(tmp_path):
    full, resumed = full_and_resumed(tmp_path, weight_averaging_fraction=0.75)  # steps 2, 3 and 4 averaged
    assert (tmp_path / "cut" / "checkpoint-2" / AVERAGE_FILE).is_file()  # the average of step 2 alone
    for (name, a), (_, b) in zip(full.model.named_parameters(), resumed.model.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)


@pytest.mark.parametrize("kw, message", [
    (dict(weight_averaging_fraction=1.0), "in \\[0, 1\\)"),
    (dict(weight_averaging_fraction=-0.1), "in \\[0, 1\\)"),
    (dict(weight_averaging_fraction=0.2, load_best_model_at_end=True, eval_strategy="steps", save_strategy="steps"),
     "load_best_model_at_end"),
])
def test_config_refuses_bad_fractions(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        DistillationConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **kw)
