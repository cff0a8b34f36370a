"""What embedding platforms rely on: schemas for forms, the catalogue, hooks, and an engine that knows no API."""
from __future__ import annotations

import io
import json
import textwrap
from urllib.parse import parse_qs

import jsonschema
import pytest

import engine
from engine import cli
from conftest import API_KEY, ADMIN_KEY, BASE, schema_refs
from loopback import Loopback, Reply


def test_every_input_and_output_schema_is_self_contained_2020_12(eng):
    for action in eng.actions():
        for schema in (action.input_schema(), action.output_schema()):
            assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            jsonschema.Draft202012Validator.check_schema(schema)
            for ref in schema_refs(schema):
                assert ref.startswith("#/$defs/"), (action.name, ref)
                assert ref[len("#/$defs/"):] in schema["$defs"], (action.name, ref)


def test_input_schema_carries_titles_descriptions_defaults_enums_limits(eng):
    schema = eng.action("assistants.list").input_schema()
    limit = schema["properties"]["limit"]
    assert limit["title"] == "limit" and limit["default"] == 20
    assert (limit["minimum"], limit["maximum"]) == (1, 100) and "description" in limit
    assert schema["properties"]["order"]["enum"] == ["asc", "desc"]
    files = eng.action("files.create").input_schema()
    assert files["properties"]["file"]["format"] == "binary"
    assert files["required"] == ["file", "purpose"]


def test_input_schema_accepts_what_run_accepts(eng):
    params = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 1}
    schema = eng.action("chat.completions.create").input_schema()
    jsonschema.validate(params, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**params, "temperature": 9}, schema)


def test_output_schema_maps_fields(eng):
    out = eng.action("threads.runs.create").output_schema()
    run = out if "properties" in out else out["$defs"][out["$ref"].rsplit("/", 1)[-1]]
    assert {"id", "status", "thread_id"} <= set(run["properties"])
    assert eng.action("audio.speech.create").output_schema()["contentEncoding"] == "binary"


def test_export_writes_the_whole_catalogue():
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["export", "--format", "json"], out, err) == 0
    doc = json.loads(out.getvalue())
    assert doc["connector"]["name"] == "openai"
    assert doc["connector"]["credentials"]["api_key"]["env"] == "OPENAI_API_KEY"
    names = {a["name"] for a in doc["actions"]}
    assert len(names) == 121 and "threads.runs.create_and_poll" in names
    assert sum(len(g["actions"]) for g in doc["groups"]) == 121
    chat = next(a for a in doc["actions"] if a["name"] == "chat.completions.create")
    assert chat["streams_when"] == "stream" and set(chat["input_schema"]["required"]) == {"model", "messages"}
    assert API_KEY not in out.getvalue()


def test_hooks_see_every_attempt_with_credentials_masked(manifest, mocked):
    seen = []

    class Hooks:
        def before_request(self, action, request):
            seen.append(("before", action, dict(request.headers)))

        def after_response(self, action, response, elapsed):
            seen.append(("after", action, response.status_code, dict(response.request.headers), elapsed >= 0))

    eng = engine.Engine(manifest, api_key=API_KEY, admin_key=ADMIN_KEY, hooks=Hooks(), max_retries=1)
    eng.transport.sleep = lambda s: None
    mocked.get(f"{BASE}/models", status=500, json={"error": {"message": "x"}})
    mocked.get(f"{BASE}/models", json={"data": []})
    eng.run("models.list")
    assert [s[0] for s in seen] == ["before", "after", "before", "after"]
    assert seen[1][2] == 500 and seen[3][2] == 200
    assert all(s[1] == "models.list" for s in seen)
    assert seen[0][2]["Authorization"] == "<redacted>"
    assert API_KEY not in repr(seen)
    # the real request still carried the key
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_hooks_as_a_mapping(manifest, mocked):
    calls = []
    eng = engine.Engine(manifest, api_key=API_KEY, hooks={"after_response": lambda a, r, t: calls.append(a)})
    mocked.get(f"{BASE}/models", json={"data": []})
    eng.run("models.list")
    assert calls == ["models.list"]


MADE_UP = textwrap.dedent("""\
    manifest_version: 2
    connector:
      name: petstore
      base_url: http://127.0.0.1:1/api
      credentials:
        token: {type: header, env: PETSTORE_TOKEN, header: X-Api-Token}
      default_credential: token
      settings:
        tenant: {env: PETSTORE_TENANT, header: X-Tenant}
      request_id_header: x-trace-id
      errors: {type: json, message: detail.text}
      retry:
        max_retries: 1
        statuses: [429]
        retry_5xx: false
        wait: [{type: seconds, header: x-retry-in}]
    definitions:
      paginations:
        pets:
          type: cursor
          items: results
          next: {body: next, last_item: uid}
          send: {param: starting_after}
          has_more: more
    actions:
      - name: pets.list
        group: pets
        method: GET
        path: /pets
        params:
          - {name: starting_after, in: query, schema: {type: string}}
          - {name: species, in: query, schema: {type: array, items: {type: string}}}
        response: {type: json}
        pagination: pets
      - name: pets.adopt
        group: pets
        method: POST
        path: /pets/{pet_uid}/adoptions
        body: form
        params:
          - {name: pet_uid, in: path, required: true, schema: {type: string}}
          - {name: owner, in: body, required: true, schema: {type: string, minLength: 2}}
          - {name: indoor, in: body, schema: {type: boolean}}
          - {name: idempotency, wire: Idempotency-Key, in: header, schema: {type: string}}
        response: {type: json}
    """)


def test_an_engine_that_knows_no_api_runs_a_made_up_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PETSTORE_TOKEN", "pet-secret")
    path = tmp_path / "petstore.yaml"
    path.write_text(MADE_UP)
    with Loopback() as srv:
        pets = [{"uid": f"p{i}", "name": f"pet {i}"} for i in range(7)]

        def list_pets(req):
            q = parse_qs(req.query)
            start = [p["uid"] for p in pets].index(q["starting_after"][0]) + 1 if "starting_after" in q else 0
            page = pets[start:start + 3]
            return Reply(200, {"results": page, "more": start + 3 < len(pets), "next": page[-1]["uid"]},
                         {"x-trace-id": f"t{len(srv.requests)}"})

        srv.route("GET", "/api/pets", list_pets)
        srv.script("POST", "/api/pets/p%2F1/adoptions",
                   Reply(429, {"detail": {"text": "slow down"}}, {"x-retry-in": "0.01"}),
                   lambda req: Reply(201, {"ok": True, "form": parse_qs(req.body.decode()),
                                           "headers": {k: v for k, v in req.headers.items() if k.startswith("x-")
                                                       or k in ("idempotency-key", "content-type")}}))
        srv.route("POST", "/api/pets/gone/adoptions", lambda req: Reply(404, {"detail": {"text": "no such pet"}},
                                                                         {"x-trace-id": "t-404"}))
        eng = engine.Engine(path, base_url=srv.url + "/api", tenant="acme", trust_manifest=True)  # our own manifest
        waits = []
        eng.transport.sleep = waits.append

        names = [p["name"] for p in eng.paginate("pets.list", {"species": ["cat", "dog"]})]
        assert names == [f"pet {i}" for i in range(7)]
        assert "species=cat&species=dog" in srv.requests[1].query and "starting_after=p2" in srv.requests[1].query
        assert srv.requests[0].headers["x-api-token"] == "pet-secret"
        assert srv.requests[0].headers["x-tenant"] == "acme"

        res = eng.run("pets.adopt", {"pet_uid": "p/1", "owner": "ann", "indoor": True, "idempotency": "k1"}, raw=True)
        assert res.attempts == 2 and waits == [0.01]
        assert res.data["form"] == {"owner": ["ann"], "indoor": ["true"]}
        assert res.data["headers"]["content-type"] == "application/x-www-form-urlencoded"
        assert res.data["headers"]["idempotency-key"] == "k1"

        with pytest.raises(engine.NotFoundError) as info:
            eng.run("pets.adopt", {"pet_uid": "gone", "owner": "bob"})
        assert "no such pet" in str(info.value) and info.value.request_id == "t-404"

        with pytest.raises(engine.ValidationError) as info:
            eng.run("pets.adopt", {"pet_uid": "x", "owner": "a", "indor": True})
        assert {p.param for p in info.value.problems} == {"owner", "indor"}


def test_engine_source_names_no_api():
    from pathlib import Path

    for path in (Path(engine.__file__).parent).glob("*.py"):
        text = path.read_text().lower()
        for word in ("api.openai.com", "openai_api_key", "asst_", "assistants=v2", "x-ratelimit",
                     "openai-poll-after-ms", "insufficient_quota"):
            assert word not in text, f"{path.name} mentions {word!r}"


def test_custom_credential_headers_are_not_forwarded_to_another_host(tmp_path, monkeypatch):
    monkeypatch.setenv("PETSTORE_TOKEN", "pet-secret")
    path = tmp_path / "petstore.yaml"
    path.write_text(MADE_UP)
    with Loopback() as other, Loopback() as srv:
        other_url = other.url.replace("127.0.0.1", "localhost")
        srv.route("GET", "/api/pets", lambda req: Reply(302, b"", {"Location": other_url + "/elsewhere"}))
        other.route("GET", "/elsewhere", lambda req: Reply(200, {"results": [], "more": False}))
        eng = engine.Engine(path, base_url=srv.url + "/api", trust_manifest=True)
        assert eng.run("pets.list") == {"results": [], "more": False}
        assert srv.requests[0].headers["x-api-token"] == "pet-secret"
        assert "x-api-token" not in other.requests[0].headers
