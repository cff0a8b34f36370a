"""The benchmark runs end to end with tiny sizes (figures themselves are not judged here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test here takes seconds (see setup.cfg)

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_runs_and_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "bench.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in ("startup_ms", "get_us", "post_us", "overhead_us", "stream_events_s", "paging_s", "transfer",
                "concurrency_calls_s"):
        assert key in res, key
    assert res["get_us"]["engine"]["median"] > 0 and res["stream_events_s"]["engine"]["median"] > 0
    assert set(res["concurrency_calls_s"]) == {"1", "8", "32"}
    assert "| GET /v1/models" in proc.stdout
