"""The manifest is reproducible from its sources: regenerating gives the committed file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import generate_manifest as gen  # noqa: E402
from engine.errors import Error  # noqa: E402

SPEC = gen.DEFAULT_SPEC


def test_regenerating_gives_the_committed_manifest():
    text = gen.render(gen.build(SPEC, gen.DEFAULT_OVERRIDES))
    committed = (ROOT / "connector.yaml").read_text(encoding="utf-8")
    assert text == committed, "connector.yaml drifted from its sources: run tools/generate_manifest.py"


@pytest.mark.slow
def test_check_mode_reports_drift(tmp_path):
    out = tmp_path / "connector.yaml"
    out.write_text("stale\n")
    cmd = [sys.executable, str(ROOT / "tools" / "generate_manifest.py"), "--output", str(out)]
    assert subprocess.run(cmd + ["--check"], capture_output=True).returncode == 1
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert subprocess.run(cmd + ["--check"], capture_output=True).returncode == 0


def test_overrides_for_unknown_operations_fail_loudly(tmp_path):
    ov = yaml.safe_load(gen.DEFAULT_OVERRIDES.read_text())
    ov["actions"]["noSuchOperation"] = {"name": "x.y"}
    path = tmp_path / "ov.yaml"
    path.write_text(yaml.safe_dump(ov))
    with pytest.raises(Error, match="noSuchOperation"):
        gen.build(SPEC, path)


def test_override_is_kept_on_regeneration(tmp_path):
    ov = yaml.safe_load(gen.DEFAULT_OVERRIDES.read_text())
    ov["actions"]["listModels"] = {"summary": "Every model you can use"}
    path = tmp_path / "ov.yaml"
    path.write_text(yaml.safe_dump(ov))
    built = gen.build(SPEC, path)
    models = next(a for a in built["actions"] if a["operation_id"] == "listModels")
    assert models["summary"] == "Every model you can use"


def test_derive_name_rules():
    from engine.openapi import derive_name

    colls = frozenset({"/threads/{thread_id}/runs"})
    assert derive_name("/threads/{thread_id}/runs", "POST", colls) == "threads.runs.create"
    assert derive_name("/threads/{thread_id}/runs/{run_id}/cancel", "POST", colls) == "threads.runs.cancel"
    assert derive_name("/assistants/{assistant_id}", "POST") == "assistants.update"
    assert derive_name("/assistants", "GET") == "assistants.list"
    assert derive_name("/models/{model}", "DELETE") == "models.delete"


def test_convert_schema_from_openapi_30():
    from engine.openapi import convert_schema

    out = convert_schema({"type": "string", "nullable": True, "enum": ["a"], "example": "a",
                          "x-oaiTypeLabel": "t", "oneOf": [{"$ref": "#/components/schemas/X"}]})
    assert out == {"type": ["string", "null"], "enum": ["a", None], "examples": ["a"],
                   "anyOf": [{"$ref": "#/schemas/X"}]}
    # A required name the object does not declare is the description's slip, not a rule.
    assert convert_schema({"type": "object", "properties": {"name": {"type": "string"}},
                           "required": ["type", "name"]})["required"] == ["name"]
    assert "required" not in convert_schema({"type": "object", "properties": {"a": {}}, "required": ["b"]})
    # Beside an allOf the other part may declare it: left alone.
    assert convert_schema({"allOf": [{"properties": {"b": {}}}], "properties": {"a": {}},
                           "required": ["b"]})["required"] == ["b"]
    assert convert_schema({"type": "integer", "description": "Limit can range between 1 and 10,000."}) == {
        "type": "integer", "description": "Limit can range between 1 and 10,000.", "minimum": 1, "maximum": 10000}
