"""Every recipe in recipes/ parses: no unknown keys, valid values."""

from pathlib import Path

import pytest

from hf_distill.cli import parse

RECIPES = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_recipe_parses(recipe, tmp_path):
    first = recipe.read_text().splitlines()[:6]
    assert any(line.startswith("#   hf-distill") for line in first), "a recipe starts with its command"
    model_args, data_args, config, *_ = parse(["--config", str(recipe), "--output_dir", str(tmp_path)])
    assert data_args.task_name or data_args.train_file
    assert config.hard_label_weight + config.logit_weight + config.hidden_weight + config.attention_weight > 0
