"""`bf16: auto`: the recipes' precision, bf16 autocast only where the device runs it faster (hf_distill/placement.py)."""

from pathlib import Path

import pytest

from hf_distill import placement
from hf_distill.cli import parse

DEFAULT_RECIPE = str(Path(__file__).resolve().parent.parent / "recipes" / "sst2_minilm.yaml")


@pytest.fixture(autouse=True)
def fresh_decision():
    placement.auto_bf16.cache_clear()
    yield
    placement.auto_bf16.cache_clear()


def cpuinfo(tmp_path, flags: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 {flags}\n")
    return str(path)


def test_cpu_flags_name_native_bf16(tmp_path):
    assert placement.cpu_bf16_flags(cpuinfo(tmp_path, "avx512f amx_bf16 amx_tile")) is True
    assert placement.cpu_bf16_flags(cpuinfo(tmp_path, "avx512f avx512_bf16")) is True
    assert placement.cpu_bf16_flags(cpuinfo(tmp_path, "avx512f avx512_vnni")) is False  # avx512f alone emulates bf16
    assert placement.cpu_bf16_flags(str(tmp_path / "missing")) is None


def test_cpu_without_native_bf16_gets_fp32_without_measuring(monkeypatch):
    monkeypatch.setattr(placement, "cpu_bf16_flags", lambda: False)
    monkeypatch.setattr(placement, "cpu_bf16_speedup", lambda: pytest.fail("no measurement needed"))
    bf16, why = placement.auto_bf16(use_cpu=True)
    assert bf16 is False and "amx_bf16" in why


@pytest.mark.parametrize("speedup, expected", [(1.8, True), (1.05, False), (0.5, False)])
def test_cpu_with_native_bf16_goes_by_the_measurement(monkeypatch, speedup, expected):
    monkeypatch.setattr(placement, "cpu_bf16_flags", lambda: True)
    monkeypatch.setattr(placement, "cpu_bf16_speedup", lambda: speedup)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    bf16, why = placement.auto_bf16(use_cpu=True)
    assert bf16 is expected and f"{speedup:.2f}x" in why


def test_ranks_of_a_multi_process_launch_decide_by_flags_alone(monkeypatch):
    monkeypatch.setattr(placement, "cpu_bf16_flags", lambda: True)
    monkeypatch.setattr(placement, "cpu_bf16_speedup", lambda: pytest.fail("ranks must not time: they could disagree"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert placement.auto_bf16(use_cpu=True)[0] is True


def test_speedup_is_measured_on_this_cpu():
    assert placement.cpu_bf16_speedup(rows=32, repeats=1) > 0


@pytest.mark.parametrize("argv, use_cpu, expected", [
    (["--bf16", "auto", "--use_cpu", "true"], True, ["--bf16", "false", "--use_cpu", "true"]),
    (["--use_cpu", "--bf16=auto"], True, ["--use_cpu", "--bf16", "false"]),
    (["--bf16", "auto", "--use_cpu", "false"], False, ["--bf16", "false", "--use_cpu", "false"]),
    # the command line after the recipe: the last --bf16 wins in the parser, every auto is resolved alike
    (["--bf16", "auto", "--bf16", "auto"], False, ["--bf16", "false", "--bf16", "false"]),
])
def test_auto_is_resolved_before_parsing_for_the_named_device(monkeypatch, argv, use_cpu, expected):
    seen = []
    monkeypatch.setattr(placement, "auto_bf16", lambda cpu: seen.append(cpu) or (False, "test"))
    assert placement.resolve_auto_precision(argv) == expected
    assert seen == [use_cpu]


def test_explicit_precision_is_left_alone(monkeypatch):
    monkeypatch.setattr(placement, "auto_bf16", lambda cpu: pytest.fail("nothing to resolve"))
    assert placement.resolve_auto_precision(["--bf16", "true", "--x", "auto"]) == ["--bf16", "true", "--x", "auto"]


@pytest.mark.parametrize("native", [True, False])
def test_default_recipe_trains_in_the_precision_the_cpu_runs_faster(monkeypatch, tmp_path, native):
    monkeypatch.setattr(placement, "cpu_bf16_flags", lambda: native)
    monkeypatch.setattr(placement, "cpu_bf16_speedup", lambda: 1.8)
    *_, config, _, _, _, _ = parse(["--config", DEFAULT_RECIPE, "--output_dir", str(tmp_path)])
    assert config.bf16 is native
    *_, config, _, _, _, _ = parse(["--config", DEFAULT_RECIPE, "--output_dir", str(tmp_path),
                                    "--bf16", "true"])
    assert config.bf16 is True  # the command line still wins
