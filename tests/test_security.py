"""Weights as safetensors, no unsafe unpickling, no remote code unless asked."""

import re
from pathlib import Path

from hf_distill.arguments import ModelArguments
from hf_distill.card import redact

SOURCE = Path(__file__).resolve().parent.parent / "hf_distill"


def test_no_unsafe_loading_in_the_package():
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: {call}"
        assert not re.search(r"^\s*import pickle|pickle\.loads?\(", text, re.M), path


def test_remote_code_is_off_by_default():
    assert ModelArguments().trust_remote_code is False


def test_recorded_commands_hide_tokens():
    assert redact(["--hub_token", "hf_abc", "--x", "1", "--hub_token=hf_def"]) == [
        "--hub_token", "<redacted>", "--x", "1", "--hub_token=<redacted>"
    ]
