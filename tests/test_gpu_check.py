"""bench/gpu_check.py's dry mode: the GPU script's whole path (every mode, the cache, the ratios, the JSON) on CPU."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_check_dry_writes_every_mode(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "gpu_check.py"), "--dry", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["modes"]) == {"plain", "live_logit", "live_full", "cached_full"}
    for mode, figures in result["modes"].items():
        assert figures["steps"] == 3 and figures["steps_per_s"] > 0, mode
        assert figures["teacher_wrapped"] is False, mode
    assert result["modes"]["cached_full"]["cache_build_s"] > 0
    assert set(result["ratios"]) == {"live_logit/plain", "live_full/plain", "cached_full/plain"}
    assert result["deepspeed_zero3"] == {"skipped": "dry run"} and result["fsdp"] == {"skipped": "dry run"}
