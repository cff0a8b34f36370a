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
def test_the_responses_flow_in_the_sandbox_section_runs_as_pasted(tmp_path):
    """The one-paste Responses flow on the 2026 surface: create, stream, retrieve, list input items."""
    section = README[README.index("### Try a whole flow offline"):]
    script = re.findall(r"```sh\n(.*?)```", section, re.S)[1]
    assert "--manifest openai-2026-08-21" in script and "--stream" in script
    bindir = Path(sys.executable).parent
    if shutil.which("openai-connector", path=str(bindir)) is None:
        pytest.skip("the console script is not installed beside this interpreter")
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"event"')]
    assert [e["event"] for e in events][0] == "response.created"
    assert events[-1]["event"] == "response.completed"
    assert events[-1]["data"]["response"]["status"] == "completed"
    numbers = [e["data"]["sequence_number"] for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    decoder, text, at, objects = json.JSONDecoder(), proc.stdout, 0, []
    while True:  # the pretty-printed answers after the events
        start = text.find("\n{\n", at)
        if start < 0:
            break
        obj, at = decoder.raw_decode(text, start + 1)
        objects.append(obj)
    response, items = objects
    assert response["object"] == "response" and response["status"] == "completed"
    assert response["output"][0]["content"][0]["text"]
    assert items["data"][0]["content"][0]["text"] == "What is 2+2?"
    assert items["data"][0]["role"] == "user"
