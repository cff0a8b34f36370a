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
SPECS = ROOT / "openapi"  # the vendored descriptions the bundled manifests are generated from
OLD, NEW = SPECS / "openai-2025-01-21.yaml.xz", SPECS / "openai-2026-08-21.yaml.xz"


@pytest.fixture(scope="module")
def old_spec():
    return openapi.load_spec(str(OLD))


@pytest.fixture(scope="module")
def new_spec():
    """The 2.6 MB description, parsed once for the whole file (tests that change it copy what they change)."""
    return openapi.load_spec(str(NEW))


@pytest.fixture(scope="module")
def new_report(manifest, new_spec):
    return drift.compare(manifest, new_spec)


@pytest.fixture(scope="module")
def new_changes(new_report):
    return {c["action"]: c["changes"] for c in new_report["changed"]}


def test_no_drift_against_its_own_description():
    code, out, _ = call("drift", str(OLD))
    assert code == 0 and out.startswith("drift: 0 added, 0 removed, 0 changed")


def test_newer_description_reports_added_and_changed_operations(new_report):
    added = {op["operation_id"] for op in new_report["added"]}
    assert "createResponse" in added and len(added) == 178
    changed = {c["action"]: c["changes"] for c in new_report["changed"]}
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


@pytest.mark.slow
def test_regenerating_from_a_newer_description_keeps_the_overrides(new_spec):
    sys.path.insert(0, str(ROOT / "tools"))
    import generate_manifest as gen

    m = engine.load(gen.build(NEW, gen.DEFAULT_OVERRIDES))
    assert len(m.actions) == 288
    assert m.action("files.content").response_kind == "binary"                   # an override, kept
    assert m.action("organization.users.list").credential == "admin_key"          # a rule, kept
    assert m.action("threads.create_and_run").path == "/threads/runs"             # a declared name, kept
    assert "threads.runs.create_and_poll" in m.composites
    eng = engine.Engine(m, api_key="k", trust_manifest=True)
    beta = next(n for n in m.actions if n.startswith("responses.input_tokens.beta"))
    assert eng.prepare(beta, {"model": "x"}).url.endswith("/responses/input_tokens?beta=true")
    # What drift still finds is what the generator does not carry over from the description (yet):
    # the admin security of the `/projects/...` role operations, content types after the first, stream
    # switches other than a body flag. Never a param's types, limits or enums.
    report = drift.compare(m, new_spec)
    assert not report["added"] and not report["removed"]
    kinds = {d["kind"] for c in report["changed"] for d in c["details"]}
    assert kinds <= {"security", "content_type", "stream", "param"}, kinds
    admin = {op["operationId"] for path, method, op in openapi.operations(new_spec)
             if op.get("security") == [{"AdminApiKeyAuth": []}]}
    wrong = {a.name for a in m.actions.values() if a.spec["operation_id"] in admin and a.credential != "admin_key"}
    reported = {c["action"] for c in report["changed"] if any(d["kind"] == "security" for d in c["details"])}
    assert reported == wrong


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
    assert report == {"added": [], "removed": [], "changed": [], "webhooks": {"added": [], "removed": []},
                      "drift": False}


def test_a_change_deep_in_nested_alternatives_is_still_reported(flat_manifest, tmp_path):
    text = NESTED_SPEC.replace("- {type: array, items: {type: string}}", "- {type: integer}")
    text = text.replace("enum: [huge]", "enum: [giant]")
    changes = drift.compare(flat_manifest, _spec(tmp_path, text))["changed"][0]["changes"]
    assert sorted(changes) == ["param size: enum +'giant' -'huge'",
                               "param stop: types ['array', 'null', 'string'] -> ['integer', 'null', 'string']"]


def test_the_2026_description_keeps_stop_and_image_sizes(new_changes):
    """It allows a string or a list of them for `stop`, and the same sizes as before, more, and any
    `WIDTHxHEIGHT` (an open set: `anyOf: [string, enum]`)."""
    assert not [c for c in new_changes["chat.completions.create"] if c.startswith("param stop:")]
    for action in ("images.generate", "images.edit"):
        size = [c for c in new_changes[action] if c.startswith("param size:")]
        assert size == ["param size: enum +'1024x1536', +'1536x1024', +'auto' (any other value now accepted too)"], \
            (action, size)


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


# Between the bundled manifest (the 2025 description) and the 2026 description: lines that are true.
TRUE_CHANGES = [
    # a limit the 2026 description states (16 pairs) where the 2025 one said nothing
    ("chat.completions.create", "param metadata: maxProperties None -> 16"),
    ("vector_stores.file_batches.create", "param file_ids: maxItems 500 -> 2000"),
    # every request content type, not only the first: image edits take JSON too, with its own params
    ("images.edit", "content types: +application/json"),
    ("images.edit", "param images: added (body)"),
    # the stream switches: a body flag, and a format whose values include an event stream
    ("images.generate", "stream switches: +body stream"),
    ("audio.transcriptions.create", "stream switches: +body stream"),
    ("audio.speech.create", "stream switches: +body stream_format=sse"),
    # a closed list that became any string, and one that became open with more known values
    ("realtime.sessions.create",
     "param input_audio_format: enum no longer restricted (was 'g711_alaw', 'g711_ulaw', 'pcm16')"),
    ("audio.speech.create", "param voice: enum +'ash', +'ballad', +'cedar', +'coral', +'marin', +'sage', +'verse' "
                            "(any other value now accepted too)"),
    ("organization.projects.api_keys.delete",
     "path: '/organization/projects/{project_id}/api_keys/{key_id}' -> "
     "'/organization/projects/{project_id}/api_keys/{api_key_id}'"),
    ("organization.users.update", "param role: required True -> False"),
    ("files.create", "param purpose: enum +'evals', +'user_data'"),
]

# Lines that would be false: each limit moved into `anyOf: [..., {type: null}]` (or became an int64
# format), an open set of values dropping a name it still accepts, a switch or content type that is
# the same, security the action already meets.
NON_CHANGES = [
    ("assistants.create", "param description: maxLength"),
    ("assistants.create", "param name: maxLength"),
    ("assistants.update", "param instructions: maxLength"),
    ("chat.completions.create", "param temperature:"),
    ("chat.completions.create", "param top_p:"),
    ("threads.create", "param metadata:"),
    ("vector_stores.update", "param metadata:"),
    ("completions.create", "param seed:"),
    ("assistants.update", "param model: enum -"),
    ("audio.speech.create", "param voice: enum +'ash', +'ballad', +'cedar', +'coral', +'marin', +'sage', +'verse' -"),
    ("chat.completions.create", "stream switches:"),
    ("chat.completions.create", "content types:"),
    ("files.create", "content types:"),
    ("organization.projects.list", "security:"),
    ("organization.admin_api_keys.create", "security:"),
]


@pytest.mark.parametrize("action,line", TRUE_CHANGES)
def test_a_true_change_between_the_bundled_descriptions_is_reported(new_changes, action, line):
    assert line in new_changes[action]


@pytest.mark.parametrize("action,start", NON_CHANGES)
def test_a_non_change_between_the_bundled_descriptions_is_not_reported(new_changes, action, start):
    assert not [c for c in new_changes.get(action, []) if c.startswith(start)]


def test_every_action_already_sends_the_credential_the_2026_security_asks_for(new_report):
    """Security that moved from ApiKeyAuth or undefined schemes to AdminApiKeyAuth is met by admin_key."""
    assert not [c for op in new_report["changed"] for c in op["changes"] if c.startswith("security:")]


def test_a_security_change_is_reported(manifest, new_spec):
    spec = {**new_spec, "paths": copy.copy(new_spec["paths"])}
    spec["paths"]["/models"] = {"get": {**new_spec["paths"]["/models"]["get"], "security": [{"AdminApiKeyAuth": []}]}}
    spec["paths"]["/models/{model}"] = {**new_spec["paths"]["/models/{model}"]}
    spec["paths"]["/models/{model}"]["get"] = {**new_spec["paths"]["/models/{model}"]["get"], "security": []}
    changes = {c["action"]: c["changes"] for c in drift.compare(manifest, spec)["changed"]}
    assert changes["models.list"] == ["security: credential 'api_key' -> 'AdminApiKeyAuth' (sent as 'admin_key')"]
    assert changes["models.retrieve"] == ["security: credential 'api_key' -> none (the operation takes no credential)"]


def test_webhook_events_added_are_reported(manifest, new_report):
    assert len(new_report["webhooks"]["added"]) == 16 and new_report["webhooks"]["removed"] == []
    assert {"batch.completed", "response.completed", "realtime.call.incoming"} <= set(new_report["webhooks"]["added"])
    assert "+ webhook event response.failed" in drift.render_text(new_report).splitlines()


def test_webhook_events_the_manifest_declares_are_not_drift(manifest, new_spec):
    m = copy.copy(manifest)  # the session's manifest with a webhook block of its own
    m.connector = {**m.connector, "webhooks": {"type": "standard_webhooks", "events": {
        kind: True for kind in drift.compare(m, new_spec)["webhooks"]["added"] if kind != "batch.failed"} | {
        "thing.made": True}}}
    assert drift.compare(m, new_spec)["webhooks"] == {"added": ["batch.failed"], "removed": ["thing.made"]}


def test_beta_paths_are_the_same_path_with_a_fixed_query(new_report):
    beta = [op for op in new_report["added"] if op.get("query")]
    assert len(beta) == 7
    assert all(op["query"] == {"beta": "true"} and op["variant_of"] == op["operation_id"].removeprefix("beta_")
               for op in beta)
    shown = [(op["method"], op["path"], tuple(sorted((op.get("query") or {}).items()))) for op in new_report["added"]]
    assert len(shown) == len(set(shown))                                 # nothing listed twice
    text = drift.render_text(new_report)
    assert "+ POST /responses?beta=true  (beta_createResponse: createResponse with the fixed query beta=true)" in text
    assert "+ POST /responses  (createResponse)" in text


def test_added_operations_carry_their_switches_content_types_and_security(new_report):
    added = {op["operation_id"]: op for op in new_report["added"]}
    assert added["getResponse"]["stream"] == ["query stream"]                  # GET /responses/{id}?stream=true
    assert added["createResponse"]["stream"] == ["body stream"]
    assert added["CreateContainerFile"]["content_types"] == ["application/json", "multipart/form-data"]
    assert added["create-realtime-call"]["content_types"] == ["application/sdp", "multipart/form-data"]
    assert added["list-project-roles"]["security"] == "AdminApiKeyAuth"


def test_the_2025_description_against_its_own_manifest_reports_nothing(manifest, old_spec):
    """Not even its explicit security (schemes it never defines), met by the admin key throughout."""
    assert drift.compare(manifest, old_spec) == {"added": [], "removed": [], "changed": [],
                                                 "webhooks": {"added": [], "removed": []}, "drift": False}


def test_no_limit_is_reported_removed_against_2026(new_report):
    """Before, 31 of the 140 change lines said a limit was gone that had only moved into a null form."""
    limits = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "maxProperties", "pattern")
    lines = [c for op in new_report["changed"] for c in op["changes"]]
    assert not [c for c in lines if c.endswith("-> None") and c.split(": ", 1)[1].split()[0] in limits]


DEMO_MANIFEST = """
manifest_version: 2
connector:
  name: demo
  base_url: "http://127.0.0.1:9"
  credentials: {key: {type: header, header: X-K}, admin: {type: header, header: X-A}}
  default_credential: key
definitions:
  streams: {sse: {type: sse}}
actions:
  - name: things.create
    operation_id: createThing
    method: POST
    path: /things
    body: json
    stream: {use: sse, when: stream}
    params:
      - {name: name, in: body, schema: {type: string}}
      - {name: stream, in: body, schema: {type: boolean}}
    response: {type: json}
  - name: things.list
    operation_id: listThings
    method: GET
    path: /things
    credential: admin
    response: {type: json}
"""

DEMO_SPEC = """
openapi: 3.0.0
info: {title: demo, version: "1"}
security: [{Key: []}]
paths:
  /things:
    post:
      operationId: createThing
      security: [{Admin: []}]
      requestBody:
        content:
          multipart/form-data:
            schema: {type: object, properties: {name: {type: string}, file: {type: string, format: binary}}}
          application/json:
            schema:
              type: object
              properties: {name: {type: string}, stream_format: {type: string, enum: [sse, plain]}}
      responses: {"200": {description: ok}}
    get:
      operationId: listThings
      security: [{Admin: []}]
      responses: {"200": {description: ok}}
  /things?beta=true:
    post:
      operationId: beta_createThing
      responses: {"200": {description: ok}}
webhooks:
  thing_made:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {type: {type: string, enum: [thing.made]}}}
      responses: {"200": {description: ok}}
"""


def test_the_json_report_carries_every_kind_of_change(tmp_path):
    (tmp_path / "m.yaml").write_text(DEMO_MANIFEST)
    (tmp_path / "spec.yaml").write_text(DEMO_SPEC)
    code, out, err = call("--manifest", str(tmp_path / "m.yaml"), "drift", str(tmp_path / "spec.yaml"), "--json")
    assert code == cli.EXIT_DRIFT, err
    report = json.loads(out)
    assert report["added"] == [{"operation_id": "beta_createThing", "method": "POST", "path": "/things",
                                "query": {"beta": "true"}, "variant_of": "createThing", "content_types": [],
                                "stream": [], "security": "Key"}]
    assert report["webhooks"] == {"added": ["thing.made"], "removed": []}
    [changed] = report["changed"]
    assert changed["action"] == "things.create"
    assert changed["details"] == [
        {"kind": "content_type", "change": "content types: +multipart/form-data"},
        {"kind": "stream", "change": "stream switches: +body stream_format=sse -body stream"},
        {"kind": "param", "change": "param file: added (body)"},
        {"kind": "param", "change": "param stream: removed"},
        {"kind": "param", "change": "param stream_format: added (body)"},
        {"kind": "security", "change": "security: credential 'key' -> 'Admin' (sent as 'admin')"},
    ]
    assert changed["changes"] == [d["change"] for d in changed["details"]]


RENAMED_MANIFEST = """
manifest_version: 2
connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {type: header, header: X-K}}}
actions:
  - name: things.list
    operation_id: listThings
    method: GET
    path: /things
    params:
      - {name: tenant, wire: X-Tenant, in: header, required: true, schema: {type: string}}
      - {name: kinds, wire: "kind[]", in: query, schema: {type: array, items: {type: string}}}
    response: {type: json}
  - name: things.upload
    operation_id: uploadThing
    method: PUT
    path: /things/{id}
    body: {type: raw, param: content, content_type: application/octet-stream}
    params:
      - {name: id, in: path, required: true, schema: {type: string}}
      - {name: content, in: body, required: true, file: true}
    response: {type: json}
"""

RENAMED_SPEC = """
openapi: 3.0.0
info: {title: demo, version: "1"}
paths:
  /things:
    get:
      operationId: listThings
      parameters:
        - {name: x-tenant, in: header, required: true, schema: {type: string}}
        - {name: "kind[]", in: query, schema: {type: array, items: {type: string}}}
      responses: {"200": {description: ok}}
  /things/{id}:
    put:
      operationId: uploadThing
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      requestBody:
        required: true
        content:
          application/octet-stream:
            schema: {type: string, format: binary}
      responses: {"200": {description: ok}}
"""


def test_a_param_the_manifest_names_its_own_way_is_matched_on_the_wire(tmp_path):
    """`tenant` is the header `X-Tenant` (header names in any case), `kinds` the query's `kind[]`, and
    `content` the raw body the import calls `body`: where they go on the wire is the same, so no drift."""
    path = tmp_path / "m.yaml"
    path.write_text(RENAMED_MANIFEST)
    m = engine.load(path)
    assert drift.compare(m, _spec(tmp_path, RENAMED_SPEC))["drift"] is False
    # The header's wire name changes: what `tenant` sends is gone, and another header is asked for.
    report = drift.compare(m, _spec(tmp_path, RENAMED_SPEC.replace("name: x-tenant,", "name: X-Tenant-Id,")))
    assert [(c["action"], c["changes"]) for c in report["changed"]] == [
        ("things.list", ["param tenant: removed", "param x_tenant_id: added (header, required)"])]
    # A wire name that changes under the same name reads as that change, named as the manifest does.
    text = RENAMED_SPEC.replace('name: "kind[]"', "name: kinds")
    [changed] = drift.compare(m, _spec(tmp_path, text))["changed"]
    assert changed["changes"] == ["param kinds: wire 'kind[]' -> 'kinds'"]


def test_the_fields_of_a_content_type_the_import_leaves_out_are_still_compared(flat_manifest, tmp_path):
    """The import sends JSON where a body also takes a form; drift still reads the form's own fields."""
    form = """          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [color]
              properties: {stop: {type: string}, color: {type: string, enum: [red, blue]}}
      responses:"""
    text = NESTED_SPEC.replace("      responses:", form, 1)  # after the JSON body's schema
    [changed] = drift.compare(flat_manifest, _spec(tmp_path, text))["changed"]
    assert changed["changes"] == ["content types: +application/x-www-form-urlencoded",
                                  "param color: added (body, required)"]
