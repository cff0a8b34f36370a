"""Drift reports against OpenAPI descriptions, and regenerating from a newer one."""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

import engine
from engine import cli, drift, openapi
from conftest import run_cli as call

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "openapi"
OLD, NEW = SHARED / "openai-2025-01-21.yaml", SHARED / "openai-2026-08-21.yaml"
needs_specs = pytest.mark.skipif(not NEW.exists(), reason="../shared/openapi is not beside the checkout")


@pytest.fixture(scope="module")
def old_spec():
    return openapi.load_spec(str(OLD))


@needs_specs
def test_no_drift_against_its_own_description():
    code, out, _ = call("drift", str(OLD))
    assert code == 0 and out.startswith("drift: 0 added, 0 removed, 0 changed")


@needs_specs
def test_newer_description_reports_added_and_changed_operations():
    code, out, _ = call("drift", str(NEW), "--json")
    assert code == cli.EXIT_DRIFT
    report = json.loads(out)
    added = {op["operation_id"] for op in report["added"]}
    assert "createResponse" in added and len(added) == 178
    changed = {c["action"]: c["changes"] for c in report["changed"]}
    assert "param store: added (body)" not in changed.get("chat.completions.create", [])
    assert any(c.startswith("param prompt_cache_key: added") for c in changed["chat.completions.create"])
    assert any(c.startswith("param purpose: enum +'evals'") for c in changed["files.create"])


@needs_specs
def test_each_kind_of_change_is_reported(old_spec, manifest):
    spec = copy.deepcopy(old_spec)
    ops = spec["paths"]
    ops["/assistants"]["get"]["parameters"][0]["required"] = True                 # limit now required
    ops["/assistants"]["get"]["parameters"][1]["schema"]["enum"] = ["asc"]         # order loses desc
    ops["/models/{model}"]["get"]["parameters"][0]["in"] = "query"                 # location
    del ops["/batches/{batch_id}/cancel"]                                          # removed
    ops["/widgets"] = {"get": {"operationId": "listWidgets", "responses": {"200": {"description": "ok"}}}}
    spec["components"]["schemas"]["CreateEmbeddingRequest"]["properties"]["dimensions"]["maximum"] = 512
    report = drift.compare(manifest, spec)
    assert [op["operation_id"] for op in report["added"]] == ["listWidgets"]
    assert [op["action"] for op in report["removed"]] == ["batches.cancel"]
    changes = {c["action"]: c["changes"] for c in report["changed"]}
    assert "param limit: required False -> True" in changes["assistants.list"]
    assert "param order: enum -'desc'" in changes["assistants.list"]
    assert any("param model: in 'path' -> 'query'" == c for c in changes["models.retrieve"])
    assert "param dimensions: maximum None -> 512" in changes["embeddings.create"]
    text = drift.render_text(report)
    assert "+ GET /widgets  (listWidgets)" in text and "- batches.cancel: POST" in text


@needs_specs
def test_regenerating_from_a_newer_description_keeps_the_overrides(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import generate_manifest as gen

    out = tmp_path / "connector.yaml"
    assert gen.main(["--spec", str(NEW), "--output", str(out)]) == 0
    m = engine.load(out)
    assert len(m.actions) == 288
    assert m.action("files.content").response_kind == "binary"                   # an override, kept
    assert m.action("organization.users.list").credential == "admin_key"          # a rule, kept
    assert m.action("threads.create_and_run").path == "/threads/runs"             # a declared name, kept
    assert "threads.runs.create_and_poll" in m.composites
    eng = engine.Engine(m, api_key="k")
    beta = next(n for n in m.actions if n.startswith("responses.input_tokens.beta"))
    assert eng.prepare(beta, {"model": "x"}).url.endswith("/responses/input_tokens?beta=true")
    assert drift.compare(m, openapi.load_spec(str(NEW)))["drift"] is False


def test_fixed_query_from_the_path_is_sent(tmp_path):
    text = """
manifest_version: 1
connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {header: X-K}}}
actions:
  - name: things.count
    method: GET
    path: /things/count
    query: {beta: "true"}
    credential: k
    params: [{name: kind, in: query, schema: {type: string}}]
    response: {kind: json}
"""
    p = tmp_path / "m.yaml"
    p.write_text(text)
    eng = engine.Engine(p, k="secret")
    assert eng.prepare("things.count", {"kind": "a b"}).url == "http://127.0.0.1:9/things/count?beta=true&kind=a%20b"
