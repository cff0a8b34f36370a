"""The README's worked example runs as printed: its YAML block, its command and its Python line."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from conftest import run_cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _block(lang: str, after: str) -> str:
    section = README[README.index(after):]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def test_the_worked_example_adds_an_action_from_yaml_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text(_block("yaml", "### Worked example"))
    command = shlex.split(_block("sh", "### Worked example").strip())
    assert command[0] == "openai-connector"
    code, out, err = run_cli(*command[1:])
    assert code == 0, err
    assert shlex.split(out)[:4] == ["curl", "-X", "GET", "https://api.openai.com/v1/models/gpt-4o/permissions"]
    namespace = {"engine": engine}
    exec(_block("python", "### Worked example"), namespace)  # the README's own line, as a reader runs it
    eng = namespace["eng"]
    assert eng.action("models.permissions.list").pagination["type"] == "cursor"


def test_the_sandbox_flow_in_the_quick_start_runs_as_pasted(tmp_path):
    """The one-paste Assistants flow: assistant, thread, message, run polled to completion, messages listed."""
    script = _block("sh", "### Try a whole flow offline")
    bindir = Path(sys.executable).parent  # where this interpreter's console scripts live
    if shutil.which("openai-connector", path=str(bindir)) is None:
        pytest.skip("the console script is not installed beside this interpreter")
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{") and line.endswith("}")]
    messages = [json.loads(line) for line in lines]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"][0]["text"]["value"] == "What is 2+2?"
    assert '"status": "completed"' in proc.stdout


def test_the_platform_walkthrough_runs_as_pasted(tmp_path):
    """check, form, options, run and trigger, offline, as the README's "Embedding in a platform" prints them."""
    code = _block("python", "### Embedding in a platform")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "{'api_key': {'ok': True}, 'admin_key': {'ok': True}}"
    assert lines[-2].startswith("file.created notes.jsonl") and lines[-1] == "batch.completed batch_1"
