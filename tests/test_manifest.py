"""The manifest: the bundled one is complete, and every broken rule fails at load with where and why."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import engine
from engine import openapi
from engine.manifest import SCHEMA_PATH, BUNDLED

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openai-2025-01-21.yaml.xz"

GOOD = textwrap.dedent("""\
    manifest_version: 2
    connector:
      name: demo
      base_url: http://127.0.0.1:9/api
      credentials:
        token: {type: header, header: X-Token}
    definitions:
      parameters:
        after: {name: after, in: query, schema: {type: string}}
      paginations:
        cursor: {type: cursor, items: data, next: {last_item: id}, send: {param: after}, has_more: has_more}
      streams:
        sse: {type: sse, done: "[DONE]"}
    actions:
      - name: widgets.list
        method: GET
        path: /widgets
        credential: token
        params:
          - use: after
        response: {type: json}
        pagination: cursor
      - name: widgets.retrieve
        method: GET
        path: /widgets/{widget_id}
        credential: token
        params:
          - {name: widget_id, in: path, required: true, schema: {type: string}}
        response: {type: json, schema: {$ref: "#/schemas/Widget"}}
      - name: widgets.create
        method: POST
        path: /widgets
        credential: token
        body: json
        params:
          - {name: name, in: body, required: true, schema: {type: string, maxLength: 10}}
          - {name: stream, in: body, schema: {type: boolean}}
        response: {type: json}
        stream: {when: stream, use: sse}
    schemas:
      Widget: {type: object, properties: {id: {type: string}}}
    """)


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def broken(tmp_path: Path, old: str, new: str) -> engine.ManifestError:
    assert old in GOOD, old
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(engine.ManifestError) as info:
        engine.load(path)
    err = info.value
    assert err.file == str(path)
    assert str(path) in str(err)
    return err


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_good_manifest_loads(tmp_path):
    m = engine.load(write(tmp_path, GOOD))
    assert sorted(m.actions) == ["widgets.create", "widgets.list", "widgets.retrieve"]
    lst = m.action("widgets.list")
    assert [p.name for p in lst.params] == ["after"] and lst.params[0].location == "query"
    assert lst.pagination["type"] == "cursor"


def test_not_yaml_names_the_line(tmp_path):
    path = write(tmp_path, GOOD + "  - name: [unclosed\n")
    with pytest.raises(engine.ManifestError) as info:
        engine.load(path)
    assert info.value.line is not None and info.value.line >= len(GOOD.splitlines())
    assert "not valid YAML" in str(info.value)


def test_duplicate_key_names_both_lines(tmp_path):
    text = GOOD.replace("    method: GET\n    path: /widgets\n", "    method: GET\n    method: POST\n    path: /widgets\n", 1)
    path = write(tmp_path, text)
    with pytest.raises(engine.ManifestError) as info:
        engine.load(path)
    assert "duplicate key 'method'" in str(info.value)
    assert info.value.line == line_of(text, "method: POST")


def test_schema_violation_names_the_offending_key_line_and_rule(tmp_path):
    err = broken(tmp_path, "    method: GET\n    path: /widgets/{widget_id}", "    method: FETCH\n    path: /widgets/{widget_id}")
    assert err.action == "widgets.retrieve"
    assert "FETCH" in str(err) and "did you mean 'PATCH'" in str(err)
    text = GOOD.replace("method: GET\n    path: /widgets/{widget_id}", "method: FETCH\n    path: /widgets/{widget_id}")
    assert err.line == line_of(text, "method: FETCH")


def test_unknown_field_is_rejected(tmp_path):
    err = broken(tmp_path, "    pagination: cursor", "    pagination: cursor\n    paginaton: cursor")
    assert "paginaton" in str(err)


@pytest.mark.parametrize("old, new, wanted", [
    pytest.param("- name: widgets.create", "- name: widgets.list",
                 ["duplicate action name 'widgets.list'"], id="duplicate_action_name"),
    pytest.param("path: /widgets/{widget_id}", "path: /widgets/all",
                 ["widget_id"], id="path_param_without_placeholder"),
    pytest.param("      - use: after", "      - use: aftr",
                 ["'aftr'", "did you mean 'after'"], id="unresolved_param_reference_suggests"),
    pytest.param('$ref: "#/schemas/Widget"', '$ref: "#/schemas/Gadget"',
                 ["#/schemas/Gadget"], id="unresolved_schema_reference"),
    pytest.param("    pagination: cursor", "    pagination: pages",
                 ["pagination 'pages'"], id="unknown_pagination_style"),
    pytest.param("      - use: after\n", "      - {name: since, in: query, schema: {type: string}}\n",
                 ["sends the param 'after'", "does not declare"], id="paginated_action_needs_its_cursor_param"),
    pytest.param("stream: {when: stream, use: sse}", "stream: {when: streaming, use: sse}",
                 ["stream switch 'streaming'", "body or query parameter"], id="stream_param_must_be_in_body"),
    pytest.param("    path: /widgets\n    credential: token\n    body: json",
                 "    path: /widgets\n    credential: secret\n    body: json",
                 ["credential 'secret'"], id="undeclared_credential"),
    pytest.param("    body: json\n", "    body: none\n",
                 ["in the body", "sends no body"], id="body_param_needs_a_body"),
    pytest.param("{name: stream, in: body, schema: {type: boolean}}",
                 "{name: stream, in: body, schema: {type: boolean}}\n      - {name: upload, in: body, file: true}",
                 ["needs a body that carries files"], id="file_param_needs_multipart"),
    pytest.param("schema: {type: string, maxLength: 10}", "schema: {type: string, maxLength: ten}",
                 ["invalid JSON Schema", "name"], id="invalid_inline_json_schema_fails_at_load_not_at_run"),
])
def test_a_broken_rule_is_named(tmp_path, old, new, wanted):
    """Each rule of the manifest's validation, broken once in a good manifest, is named in the error."""
    err = broken(tmp_path, old, new)
    assert all(w in err.rule for w in wanted), err.rule


def test_placeholder_without_path_param(tmp_path):
    err = broken(tmp_path, "path: /widgets/{widget_id}", "path: /widgets/{widget_id}/{part}")
    assert "{part}" in err.rule and err.action == "widgets.retrieve"


def test_header_values_with_newlines_are_rejected(tmp_path):
    err = broken(tmp_path, "    token: {type: header, header: X-Token}",
                 '    token: {type: header, header: X-Token, prefix: "a\\r\\nb"}')
    assert err.line is not None


def test_layered_manifest_adds_and_replaces_actions(tmp_path):
    base = write(tmp_path, GOOD)
    mine = write(tmp_path, textwrap.dedent("""\
        actions:
          - name: widgets.delete
            method: DELETE
            path: /widgets/{widget_id}
            credential: token
            params: [{name: widget_id, in: path, required: true, schema: {type: string}}]
            response: {type: json}
          - name: widgets.list
            method: GET
            path: /v2/widgets
            credential: token
            params: [{use: after}]
            response: {type: json}
            pagination: cursor
        connector:
          headers: {X-Extra: "1"}
        """), "mine.yaml")
    m = engine.load([base, mine])
    assert m.action("widgets.delete").method == "DELETE"
    assert m.action("widgets.list").path == "/v2/widgets"
    assert m.connector["headers"] == {"X-Extra": "1"}
    assert m.connector["base_url"] == "http://127.0.0.1:9/api"


def test_error_in_layered_manifest_names_that_file(tmp_path):
    base = write(tmp_path, GOOD)
    mine = write(tmp_path, "actions:\n  - name: widgets.x\n    method: GET\n    path: /x/{id}\n"
                 "    credential: token\n    params: []\n    response: {type: json}\n", "mine.yaml")
    with pytest.raises(engine.ManifestError) as info:
        engine.load([base, mine])
    assert info.value.file == str(mine) and "{id}" in info.value.rule


def test_unknown_action_suggests(manifest):
    with pytest.raises(engine.UnknownActionError) as info:
        manifest.action("thread.runs.create")
    assert "did you mean 'threads.runs.create'" in str(info.value)


# --- the bundled manifest --------------------------------------------------

def test_bundled_manifest_has_exactly_the_descriptions_operations(manifest):
    assert len(manifest.actions) == 110
    spec = openapi.load_spec(str(SPEC))
    ops = {op["operationId"] for item in spec["paths"].values() for m, op in item.items()
           if m in ("get", "post", "delete", "put", "patch")}
    assert {a.spec["operation_id"] for a in manifest.actions.values()} == ops


@pytest.mark.parametrize("name,method,path", [
    ("threads.runs.create", "POST", "/threads/{thread_id}/runs"),
    ("threads.runs.steps.retrieve", "GET", "/threads/{thread_id}/runs/{run_id}/steps/{step_id}"),
    ("vector_stores.file_batches.list_files", "GET", "/vector_stores/{vector_store_id}/file_batches/{batch_id}/files"),
    ("fine_tuning.jobs.checkpoints.list", "GET", "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints"),
    ("organization.projects.service_accounts.delete", "DELETE",
     "/organization/projects/{project_id}/service_accounts/{service_account_id}"),
    ("organization.usage.completions", "GET", "/organization/usage/completions"),
    ("organization.costs", "GET", "/organization/costs"),
    ("audio.speech.create", "POST", "/audio/speech"),
    ("files.content", "GET", "/files/{file_id}/content"),
    ("threads.create_and_run", "POST", "/threads/runs"),
    ("images.generate", "POST", "/images/generations"),
    ("uploads.parts.create", "POST", "/uploads/{upload_id}/parts"),
])
def test_sdk_style_names(manifest, name, method, path):
    a = manifest.action(name)
    assert (a.method, a.path) == (method, path)


def test_credentials_and_beta_headers_are_declared_per_action(manifest):
    for a in manifest.actions.values():
        assert a.credential == ("admin_key" if a.path.startswith("/organization/") else "api_key"), a.name
        beta = a.path.startswith(("/assistants", "/threads", "/vector_stores"))
        assert (a.headers.get("OpenAI-Beta") == "assistants=v2") == beta, a.name


def test_streaming_and_binary_and_pagination_are_declared(manifest):
    streaming = {a.name for a in manifest.actions.values() if a.stream_param}
    assert streaming == {"chat.completions.create", "completions.create", "threads.runs.create",
                         "threads.create_and_run", "threads.runs.submit_tool_outputs"}
    binary = {a.name for a in manifest.actions.values() if a.response_kind == "binary"}
    assert binary == {"audio.speech.create", "files.content"}
    page = {a.name for a in manifest.actions.values() if a.pagination_name == "page"}
    assert page == {"organization.costs"} | {f"organization.usage.{x}" for x in (
        "audio_speeches", "audio_transcriptions", "code_interpreter_sessions", "completions",
        "embeddings", "images", "moderations", "vector_stores")}
    assert manifest.action("assistants.list").pagination_name == "cursor"
    assert manifest.action("models.list").pagination_name == "list"


def test_shared_parameters_are_defined_once(manifest):
    raw = BUNDLED.read_text()
    actions = raw[:raw.index("\nschemas:\n")]  # the response schemas describe objects, not params
    assert actions.count("A cursor for use in pagination. `after` is an object ID") == 1
    assert actions.count("Set of 16 key-value pairs that can be attached to an object.") == 1
    meta = manifest.action("assistants.create").by_name["metadata"].schema
    assert meta["maxProperties"] == 16 and meta["propertyNames"] == {"maxLength": 64}


def test_manifest_schema_is_itself_a_valid_schema():
    import json
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


# --- the validated-manifest cache ------------------------------------------

def test_warm_load_uses_the_cache_and_validates_nothing(tmp_path, monkeypatch):
    from engine import manifest as mod

    monkeypatch.setenv("OPENAI_CONNECTOR_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path, GOOD)
    first = mod.load(path)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1

    def boom(*a, **k):
        raise AssertionError("validated twice")

    monkeypatch.setattr(mod, "_check", boom)
    monkeypatch.setattr(mod, "_read", boom)
    again = mod.load(path)
    assert sorted(again.actions) == sorted(first.actions)
    assert again.action("widgets.list").pagination == first.action("widgets.list").pagination


def test_any_change_invalidates_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_CONNECTOR_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path, GOOD)
    engine.load(path)
    path.write_text(GOOD.replace("maxLength: 10", "maxLength: 11"))
    m = engine.load(path)
    assert m.action("widgets.create").by_name["name"].schema["maxLength"] == 11
    path.write_text(GOOD.replace("method: GET\n    path: /widgets/{widget_id}", "method: FETCH\n    path: /widgets/{widget_id}"))
    with pytest.raises(engine.ManifestError):
        engine.load(path)


@pytest.mark.parametrize("damage", [
    lambda b: b[:-10],                                  # truncated
    lambda b: b"0" * 64 + b[64:],                       # wrong digest
    lambda b: b"not a cache file at all",
    lambda b: b"",
])
def test_a_damaged_cache_is_never_trusted(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("OPENAI_CONNECTOR_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path, GOOD)
    engine.load(path)
    cached = next((tmp_path / "cache").glob("*.json"))
    cached.write_bytes(damage(cached.read_bytes()))
    m = engine.load(path)
    assert sorted(m.actions) == ["widgets.create", "widgets.list", "widgets.retrieve"]


def test_tampered_cache_with_a_valid_digest_for_another_key_is_ignored(tmp_path, monkeypatch):
    import hashlib
    import json

    monkeypatch.setenv("OPENAI_CONNECTOR_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path, GOOD)
    engine.load(path)
    cached = next((tmp_path / "cache").glob("*.json"))
    payload = json.dumps({"key": "other", "data": {"actions": []}}).encode()
    cached.write_bytes(hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    assert len(engine.load(path).actions) == 3


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_CONNECTOR_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    engine.load(write(tmp_path, GOOD))
    assert not (tmp_path / "xdg").exists()


def test_a_layer_removes_a_key_by_setting_it_to_null(tmp_path):
    """JSON Merge Patch: a check or a header the base declares goes away in a later layer."""
    base = write(tmp_path, GOOD)
    with_check = write(tmp_path, textwrap.dedent("""\
        connector:
          headers: {X-Beta: "1", X-Keep: "2"}
          checks: {token: {action: widgets.list}}
        """), "checks.yaml")
    assert "token" in engine.load([base, with_check]).connector["checks"]
    mine = write(tmp_path, textwrap.dedent("""\
        connector:
          headers: {X-Beta: null}
          checks: {token: null}
        """), "mine.yaml")
    m = engine.load([base, with_check, mine])
    assert m.connector["headers"] == {"X-Keep": "2"}
    assert m.connector["checks"] == {}
