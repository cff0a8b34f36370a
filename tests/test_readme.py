"""The README's worked example runs as printed: its YAML block, its command and its Python line."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

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
