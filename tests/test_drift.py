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
VENDORED = ROOT / "openapi"
OLD, NEW = VENDORED / "openai-2025-01-21.yaml.xz", VENDORED / "openai-2026-08-21.yaml.xz"


@pytest.fixture(scope="module")
def old_spec():
    return openapi.load_spec(str(OLD))


def test_no_drift_against_its_own_description():
    code, out, _ = call("drift", str(OLD))
    assert code == 0 and out.startswith("drift: 0 added, 0 removed, 0 changed")


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
    eng = engine.Engine(m, api_key="k", trust_manifest=True)
    beta = next(n for n in m.actions if n.startswith("responses.input_tokens.beta"))
    assert eng.prepare(beta, {"model": "x"}).url.endswith("/responses/input_tokens?beta=true")
    assert drift.compare(m, openapi.load_spec(str(NEW)))["drift"] is False


def test_fixed_query_from_the_path_is_sent(tmp_path):
    text = """
manifest_version: 2
connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {type: header, header: X-K}}}
actions:
  - name: things.count
    method: GET
    path: /things/count
    query: {beta: "true"}
    credential: k
    params: [{name: kind, in: query, schema: {type: string}}]
    response: {type: json}
"""
    p = tmp_path / "m.yaml"
    p.write_text(text)
    eng = engine.Engine(p, k="secret", trust_manifest=True)
    assert eng.prepare("things.count", {"kind": "a b"}).url == "http://127.0.0.1:9/things/count?beta=true&kind=a%20b"


# A manifest whose parameters state flatly what the descriptions below nest: `nullable` over a `oneOf`
# (which converts to an anyOf inside an anyOf) and alternatives behind $refs that nest again.
FLAT_MANIFEST = """
manifest_version: 2
connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {type: header, header: X-K}}}
actions:
  - name: things.create
    operation_id: createThing
    method: POST
    path: /things
    credential: k
    body: json
    params:
      - {name: stop, in: body, schema: {type: [string, array, "null"]}}
      - {name: size, in: body, schema: {type: [string, "null"], enum: [small, large, huge, null]}}
    response: {type: json, schema: {$ref: "#/schemas/Thing"}}
schemas:
  Thing: {type: object, properties: {id: {type: string}}}
"""

NESTED_SPEC = """
openapi: 3.0.0
info: {title: demo, version: "1"}
paths:
  /things:
    post:
      operationId: createThing
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/CreateThingRequest"}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
components:
  schemas:
    Thing: {type: object, properties: {id: {type: string}}}
    CreateThingRequest:
      type: object
      properties:
        stop:
          nullable: true
          oneOf:
            - {type: string}
            - {type: array, items: {type: string}}
        size:
          nullable: true
          anyOf:
            - {$ref: "#/components/schemas/Size"}
    Size:
      oneOf:
        - {type: string, enum: [small, large]}
        - {$ref: "#/components/schemas/BigSize"}
    BigSize: {type: string, enum: [huge]}
"""


@pytest.fixture
def flat_manifest(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(FLAT_MANIFEST)
    return engine.load(path)


def _spec(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return openapi.load_spec(str(path))


def test_nested_alternatives_are_the_types_and_values_they_allow(flat_manifest, tmp_path):
    report = drift.compare(flat_manifest, _spec(tmp_path, NESTED_SPEC))
    assert report == {"added": [], "removed": [], "changed": [], "drift": False}


def test_a_change_deep_in_nested_alternatives_is_still_reported(flat_manifest, tmp_path):
    text = NESTED_SPEC.replace("- {type: array, items: {type: string}}", "- {type: integer}")
    text = text.replace("enum: [huge]", "enum: [giant]")
    changes = drift.compare(flat_manifest, _spec(tmp_path, text))["changed"][0]["changes"]
    assert sorted(changes) == ["param size: enum +'giant' -'huge'",
                               "param stop: types ['array', 'null', 'string'] -> ['integer', 'null', 'string']"]


def test_the_2026_description_keeps_stop_and_image_sizes():
    """It allows a string or a list of them for `stop`, and the same sizes as before (and more)."""
    code, out, _ = call("drift", str(NEW), "--json")
    changed = {c["action"]: c["changes"] for c in json.loads(out)["changed"]}
    assert not [c for c in changed["chat.completions.create"] if c.startswith("param stop:")]
    for action in ("images.generate", "images.edit"):
        size = [c for c in changed[action] if c.startswith("param size:")]
        assert size == ["param size: enum +'1024x1536', +'1536x1024', +'auto'"], (action, size)


def test_a_file_that_is_not_yaml_is_a_usage_error_naming_it(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.0\npaths:\n  /x: {get: [\n")
    code, out, err = call("drift", str(bad))
    assert code == cli.EXIT_USAGE and out == ""
    assert err.startswith(f"openai-connector: {bad}:4: not valid YAML")
    assert "Traceback" not in err
    with pytest.raises(engine.Error, match="not valid YAML"):
        openapi.load_spec(str(bad))


@pytest.mark.parametrize("text", ["{}\n", "- a\n- b\n", "openapi: 3.0.0\ninfo: {title: t}\n", "paths: {}\n"])
def test_yaml_that_is_not_an_openapi_description_is_a_usage_error(tmp_path, text):
    path = tmp_path / "other.yaml"
    path.write_text(text)
    code, out, err = call("drift", str(path))
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err == f"openai-connector: {path}: not an OpenAPI description (it needs an `openapi` version and `paths`)\n"
