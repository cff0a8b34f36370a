"""`openai-connector import`: an OpenAPI 3.0/3.1 description -> a manifest that loads and sends what it says.

Each description is written here in full; the requests are built with Engine.prepare (nothing is sent).
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

import engine
from engine import cli
from engine.importer import import_spec, render

ROOT = Path(__file__).resolve().parent.parent
OPENAI_SPEC = ROOT / "openapi" / "openai-2025-01-21.yaml.xz"  # vendored: no test reads outside the clone

PETSTORE = """
openapi: 3.0.3
info: {title: Pet Store, version: 1.0.0}
servers:
  - url: https://{env}.petstore.example.com/{version}
    variables:
      env: {default: api, enum: [api, sandbox]}
      version: {default: v1}
security: [{apiKey: []}]
paths:
  /pets:
    get:
      operationId: listPets
      tags: [pets]
      summary: List all pets
      parameters:
        - $ref: '#/components/parameters/Limit'
        - {name: cursor, in: query, schema: {type: string}}
      responses:
        '200':
          description: A page of pets
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pets'}
    post:
      operationId: createPet
      tags: [pets]
      requestBody: {$ref: '#/components/requestBodies/NewPet'}
      responses:
        '201': {$ref: '#/components/responses/OnePet'}
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, schema: {type: string}}
    get:
      operationId: showPetById
      tags: [pets]
      responses:
        '200': {$ref: '#/components/responses/OnePet'}
  /health:
    get:
      responses:
        '204': {description: alive}
components:
  securitySchemes:
    apiKey: {type: apiKey, in: header, name: X-API-Key, description: The store key.}
  parameters:
    Limit:
      name: limit
      in: query
      description: How many pets a page holds.
      schema: {type: integer, minimum: 1, maximum: 100}
  requestBodies:
    NewPet:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/NewPet'}
  responses:
    OnePet:
      description: One pet
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Pet'}
  schemas:
    NewPet:
      type: object
      required: [name]
      properties:
        name: {type: string, maxLength: 64}
        tag: {type: string, nullable: true}
    Pet:
      allOf:
        - $ref: '#/components/schemas/NewPet'
        - type: object
          required: [id]
          properties:
            id: {type: integer, readOnly: true}
    Pets:
      type: array
      items: {$ref: '#/components/schemas/Pet'}
"""

QUERY_KEY = """
openapi: 3.1.0
info: {title: Catalog Search, version: '2'}
servers: [{url: https://search.example.com/api/}]
security: [{key: []}]
paths:
  /items:
    get:
      operationId: searchItems
      tags: [items]
      parameters:
        - {name: ids, in: query, explode: false, schema: {type: array, items: {type: integer}}}
        - {name: tags, in: query, style: spaceDelimited, explode: false, schema: {type: array, items: {type: string}}}
        - {name: colors, in: query, style: pipeDelimited, explode: false, schema: {type: array, items: {type: string}}}
        - {name: filter, in: query, style: deepObject, explode: true,
           schema: {type: object, properties: {min: {type: integer}, max: {type: integer}}}}
        - {name: sort, in: query, schema: {type: array, items: {type: string}}}
        - {name: X-Trace, in: header, schema: {type: array, items: {type: string}}}
        - {name: note, in: query, schema: {type: [string, 'null']}}
      responses:
        '200':
          description: Items
          content:
            application/json:
              schema:
                type: object
                properties:
                  items: {type: array, items: {$ref: '#/components/schemas/Item'}}
  /events:
    post:
      operationId: createEvents
      tags: [events]
      security: [{oauth: [write]}]
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                topic: {type: string}
                stream: {type: boolean}
      responses:
        '200':
          description: The events, or a stream of them
          content:
            application/json: {schema: {type: object}}
            text/event-stream: {schema: {type: string}}
components:
  securitySchemes:
    key: {type: apiKey, in: query, name: api_key}
    oauth:
      type: oauth2
      flows: {clientCredentials: {tokenUrl: 'https://auth.example.com/token', scopes: {write: Write}}}
  schemas:
    Item:
      type: object
      properties:
        id: {type: integer}
        name: {type: [string, 'null']}
        code: {type: string, pattern: '[a-z'}
        weight: {type: number, minimum: five}
"""

FORMS = """
openapi: 3.0.1
info: {title: Document Vault, version: '2024-05-01'}
servers: [{url: https://vault.example.com}]
security: [{basicAuth: []}]
paths:
  /forms:
    post:
      operationId: submitForm
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string}
                tags: {type: array, items: {type: string}}
                meta: {type: object, additionalProperties: {type: string}}
            encoding:
              meta: {style: deepObject, explode: true}
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: object}}}}
  /documents:
    post:
      operationId: uploadDocument
      tags: [documents]
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file, title]
              properties:
                file: {type: string, format: binary}
                title: {type: string}
            encoding:
              file: {contentType: application/pdf}
          application/json:
            schema:
              type: object
              required: [title, url]
              properties:
                title: {type: string}
                url: {type: string, format: uri}
      responses:
        '201': {description: created, content: {application/json: {schema: {$ref: '#/components/schemas/Document'}}}}
  /documents/{id}/content:
    put:
      operationId: putContent
      tags: [documents]
      security: [{token: []}]
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/octet-stream: {schema: {type: string, format: binary}}
      responses:
        '204': {description: stored}
    get:
      operationId: getContent
      tags: [documents]
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200': {description: the bytes, content: {application/pdf: {schema: {type: string, format: binary}}}}
  /status:
    get:
      operationId: getStatus
      security: []
      responses:
        '200': {description: up, content: {text/plain: {schema: {type: string}}}}
components:
  securitySchemes:
    basicAuth: {type: http, scheme: basic}
    token: {type: http, scheme: bearer}
  schemas:
    Document:
      type: object
      properties:
        id: {type: string}
        title: {type: string}
"""


# What a description should not say, but some do: it still gives a manifest that loads, with notes.
ODD = r"""
openapi: 3.1.0
info: {title: "123 Odd API!", version: 3}
servers: [{url: "{scheme}://odd.example.com:{port}/base", variables: {scheme: {default: https}, port: {default: '8443'}}}]
paths:
  /nodes/{node-id}:
    $ref: '#/components/pathItems/Node'
  /things:
    get:
      parameters:
        - {name: page, in: query, schema: {type: integer}}
        - {name: session, in: cookie, schema: {type: string}}
        - {name: Accept, in: header, schema: {type: string}}
        - {name: q, in: query, content: {application/json: {schema: {type: object}}}}
      responses:
        '200': {description: x, content: {application/json: {schema: {type: array, items: {$ref: '#/components/schemas/Tree'}}}}}
    post:
      servers: [{url: https://other.example.com}]
      requestBody:
        content:
          application/json: {schema: {type: array, items: {type: string}}}
          text/plain: {schema: {type: string}}
      responses: {'201': {description: ok}}
    head:
      responses: {'200': {description: ok}}
  /things/{id}:
    get:
      operationId: get-thing
      parameters: [{name: id, in: path, required: true, schema: {$ref: 'other.yaml#/Id'}}]
      responses: {default: {description: x, content: {application/xml: {schema: {type: string}}}}}
    put:
      operationId: get-thing
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                pic: {type: string, contentMediaType: image/png}
                id: {type: string}
                meta: {type: object}
                parts: {type: array, items: {type: string, format: binary}}
      responses: {'200': {description: ok, content: {text/event-stream: {schema: {type: string}}}}}
    patch:
      requestBody:
        content:
          application/merge-patch+json: {schema: {$ref: '#/components/schemas/Tree'}}
      responses: {'200': {description: ok}}
    delete:
      requestBody:
        content:
          'image/*': {schema: {}}
      responses: {'204': {description: ok}}
components:
  securitySchemes:
    c: {type: apiKey, in: cookie, name: sid}
    d: {type: http, scheme: digest}
    m: {type: mutualTLS}
    o: {type: openIdConnect, openIdConnectUrl: https://x.example.com}
  pathItems:
    Node:
      parameters: [{name: node-id, in: path, required: true, schema: {type: string}}]
      get: {operationId: getNode, responses: {'200': {description: ok}}}
  schemas:
    Tree:
      type: object
      properties:
        children: {type: array, items: {$ref: '#/components/schemas/Tree'}}
        self: {$ref: '#/components/schemas/Tree/properties/children'}
        bad: {$ref: '#/components/schemas/Nope'}
        "a/b": {$ref: '#/components/schemas/Weird~1Name'}
    Weird/Name: {type: string, $id: 'x', pattern: '\Z'}
security: [{c: [], d: []}]
"""

def _import(tmp_path: Path, text: str, name: str = "spec.yaml") -> tuple[dict, list]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return import_spec(path)


def _action(manifest: dict, name: str) -> dict:
    return next(a for a in manifest["actions"] if a["name"] == name)


def _query(req) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(req.url).query, keep_blank_values=True)


def test_petstore_30_header_key_refs_and_server_variables(tmp_path):
    manifest, notes = _import(tmp_path, PETSTORE)
    conn = manifest["connector"]
    assert conn["name"] == "pet_store" and conn["version"] == "1.0.0"
    assert conn["base_url"] == "https://api.petstore.example.com/v1"
    assert conn["credentials"] == {"api_key": {"type": "header", "header": "X-API-Key", "env": "PET_STORE_API_KEY",
                                               "description": "The store key."}}
    assert conn["default_credential"] == "api_key"
    assert [a["name"] for a in manifest["actions"]] == ["pets.list", "pets.create", "pets.show_by_id", "health.list"]
    listing = _action(manifest, "pets.list")
    limit = listing["params"][0]
    assert limit == {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                     "description": "How many pets a page holds."}
    assert listing["response"] == {"type": "json", "schema": {"$ref": "#/schemas/Pets"}}
    create = _action(manifest, "pets.create")
    assert create["body"] == {"type": "json"}
    assert create["params"] == [{"name": "name", "in": "body", "required": True,
                                 "schema": {"type": "string", "maxLength": 64}},
                                {"name": "tag", "in": "body", "schema": {"type": ["string", "null"]}}]
    assert create["response"]["schema"] == {"$ref": "#/schemas/Pet"}
    assert set(manifest["schemas"]) == {"NewPet", "Pet", "Pets"}  # reached through refs, copied once
    assert manifest["schemas"]["Pets"]["items"] == {"$ref": "#/schemas/Pet"}
    assert _action(manifest, "health.list")["response"] == {"type": "none"}
    assert {(n.kind, n.where) for n in notes} == {("paging", "pets.list"), ("name", "health.list")}

    eng = engine.Engine(manifest=engine.load(manifest), api_key="k-123")
    req = eng.prepare("pets.list", {"limit": 5, "cursor": "c1"})
    assert req.url == "https://api.petstore.example.com/v1/pets?limit=5&cursor=c1"
    assert req.headers["X-API-Key"] == "k-123"
    req = eng.prepare("pets.create", {"name": "Rex"})
    assert json.loads(req.body) == {"name": "Rex"} and req.headers["Content-Type"] == "application/json"
    req = eng.prepare("pets.show_by_id", {"petId": "a/b"})
    assert req.url == "https://api.petstore.example.com/v1/pets/a%2Fb"
    with pytest.raises(engine.ValidationError):
        eng.prepare("pets.list", {"limit": 0})


def test_query_key_31_styles_and_streams(tmp_path):
    manifest, notes = _import(tmp_path, QUERY_KEY)
    conn = manifest["connector"]
    assert conn["base_url"] == "https://search.example.com/api"
    assert conn["credentials"]["key"] == {"type": "query", "param": "api_key", "env": "CATALOG_SEARCH_KEY"}
    assert conn["credentials"]["oauth"]["type"] == "header" and conn["credentials"]["oauth"]["prefix"] == "Bearer "
    assert conn["default_credential"] == "key"
    search = _action(manifest, "items.search")
    styles = {p["name"]: p.get("style") for p in search["params"]}
    assert styles == {"ids": "comma", "tags": "space", "colors": "pipe", "filter": "deep_object", "sort": None,
                      "x_trace": None, "note": None}
    trace = next(p for p in search["params"] if p["name"] == "x_trace")
    assert trace["wire"] == "X-Trace" and trace["in"] == "header"
    assert manifest["schemas"]["Item"]["properties"]["name"] == {"type": ["string", "null"]}
    assert "pattern" not in manifest["schemas"]["Item"]["properties"]["code"]  # not a regular expression
    assert manifest["schemas"]["Item"]["properties"]["weight"] == {"type": "number"}  # the invalid keyword goes
    events = _action(manifest, "events.create")
    assert events["credential"] == "oauth"
    assert events["stream"] == {"use": "sse", "when": "stream"}
    assert manifest["definitions"]["streams"]["sse"]["type"] == "sse"
    kinds = {(n.kind, n.where) for n in notes}
    assert {("auth", "credentials.oauth"), ("stream", "events.create"), ("schema", "schemas.Item")} <= kinds
    assert ("paging", "items.search") not in kinds  # a list, but no param a page could be asked with

    eng = engine.Engine(manifest=engine.load(manifest), key="q-key", oauth="tok")
    req = eng.prepare("items.search", {"ids": [1, 2], "tags": ["a", "b"], "colors": ["red", "blue"],
                                       "filter": {"min": 1, "max": 9}, "sort": ["x", "y"], "x_trace": ["t1", "t2"],
                                       "note": None})
    assert urlsplit(req.url).path == "/api/items"
    assert _query(req) == [("ids", "1,2"), ("tags", "a b"), ("colors", "red|blue"), ("filter[min]", "1"),
                           ("filter[max]", "9"), ("sort", "x"), ("sort", "y"), ("note", ""), ("api_key", "q-key")]
    assert req.headers["X-Trace"] == "t1,t2"
    req = eng.prepare("events.create", {"topic": "t", "stream": True})
    assert req.headers["Authorization"] == "Bearer tok" and "api_key" not in req.url


def test_basic_auth_form_choice_raw_and_no_security(tmp_path):
    manifest, notes = _import(tmp_path, FORMS)
    conn = manifest["connector"]
    assert conn["name"] == "document_vault" and conn["version"] == "2024-05-01"
    assert conn["credentials"]["basic_auth"] == {"type": "basic", "username_env": "DOCUMENT_VAULT_BASIC_AUTH_USERNAME",
                                                 "password_env": "DOCUMENT_VAULT_BASIC_AUTH_PASSWORD"}
    assert conn["credentials"]["token"] == {"type": "header", "header": "Authorization", "prefix": "Bearer ",
                                            "env": "DOCUMENT_VAULT_TOKEN"}
    assert conn["default_credential"] == "basic_auth"
    form = _action(manifest, "forms.submit")
    assert form["body"] == {"type": "form", "arrays": "repeat", "objects": "brackets"}
    upload = _action(manifest, "documents.upload")
    assert upload["body"] == {"type": "choice", "options": [{"when": "files", "body": {"type": "multipart"}},
                                                            {"body": {"type": "json"}}]}
    by_name = {p["name"]: p for p in upload["params"]}
    assert by_name["file"] == {"name": "file", "in": "body", "file": {"default_content_type": "application/pdf"}}
    assert by_name["title"]["required"] is True  # required by both content types
    assert "required" not in by_name["url"]  # only the JSON form needs it
    put = _action(manifest, "documents.put_content")
    assert put["credential"] == "token"
    assert put["body"] == {"type": "raw", "param": "body", "content_type": "application/octet-stream"}
    assert put["response"] == {"type": "none"}
    get = _action(manifest, "documents.get_content")
    assert get["response"] == {"type": "binary"} and get["headers"] == {"Accept": "application/pdf"}
    status = _action(manifest, "status.get")
    assert status["credential"] == "none" and status["response"] == {"type": "text"}
    assert notes == []

    eng = engine.Engine(manifest=engine.load(manifest), basic_auth=("ann", "s3cret"), token="tk")
    req = eng.prepare("forms.submit", {"name": "a b", "tags": ["x", "y"], "meta": {"k": "v"}})
    assert req.body == b"name=a%20b&tags=x&tags=y&meta[k]=v"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"ann:s3cret").decode()
    req = eng.prepare("documents.upload", {"title": "Deed", "file": ("deed.pdf", b"%PDF-1.7")})
    assert req.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    sent = b"".join(bytes(c) for c in req.body)
    assert b'name="title"' in sent and b"Content-Type: application/pdf" in sent and b"%PDF-1.7" in sent
    req = eng.prepare("documents.upload", {"title": "Deed", "url": "https://files.example.com/deed.pdf"})
    assert json.loads(req.body) == {"title": "Deed", "url": "https://files.example.com/deed.pdf"}
    req = eng.prepare("documents.put_content", {"id": "d1", "body": b"\x00\x01raw"})
    assert b"".join(bytes(c) for c in req.body) == b"\x00\x01raw"
    assert req.headers["Content-Type"] == "application/octet-stream" and req.headers["Authorization"] == "Bearer tk"
    req = eng.prepare("status.get", {})
    assert "Authorization" not in req.headers and req.url == "https://vault.example.com/status"


def test_rendered_manifest_loads_from_file_with_marked_notes(tmp_path):
    manifest, notes = _import(tmp_path, PETSTORE)
    text = render(manifest, notes, "spec.yaml")
    out = tmp_path / "mine.yaml"
    out.write_text(text, encoding="utf-8")
    assert len(engine.load(str(out)).actions) == 4
    lines = text.splitlines()
    at = lines.index("- name: pets.list")
    assert lines[at - 1] == "# import: could not infer paging; see docs/language.md#paging"
    assert yaml.safe_load(text) == json.loads(json.dumps(manifest))


def test_cli_import_writes_refuses_to_overwrite_and_prints_to_stdout(tmp_path):
    spec = tmp_path / "vault.yaml"
    spec.write_text(FORMS, encoding="utf-8")
    target = tmp_path / "mine.yaml"
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["import", str(spec), "-o", str(target)], out, err) == 0
    assert out.getvalue() == ""
    assert "imported 5 actions" in err.getvalue()
    assert len(engine.load(str(target)).actions) == 5
    before = target.read_bytes()
    err = io.StringIO()
    assert cli.main(["import", str(spec), "-o", str(target)], io.StringIO(), err) == 2
    assert "exists" in err.getvalue() and target.read_bytes() == before
    assert cli.main(["import", str(spec), "-o", str(target), "--force"], io.StringIO(), io.StringIO()) == 0
    out, err = io.StringIO(), io.StringIO()
    petstore = tmp_path / "petstore.yaml"
    petstore.write_text(PETSTORE, encoding="utf-8")
    assert cli.main(["import", str(petstore), "-o", "-"], out, err) == 0
    assert yaml.safe_load(out.getvalue())["connector"]["name"] == "pet_store"
    assert "to check (1 name, 1 paging" in err.getvalue()
    assert "[paging] pets.list: could not infer paging" in err.getvalue()
    bad = tmp_path / "bad.yaml"
    bad.write_text("swagger: '2.0'\npaths: {}\n", encoding="utf-8")
    err = io.StringIO()
    assert cli.main(["import", str(bad), "-o", str(tmp_path / "x.yaml")], io.StringIO(), err) == 2
    assert "not an OpenAPI description" in err.getvalue()


def test_openai_description_imports_and_loads():
    manifest, notes = import_spec(OPENAI_SPEC)
    loaded = engine.load(manifest)
    assert len(loaded.actions) == 110
    assert manifest["connector"]["credentials"]["api_key_auth"]["prefix"] == "Bearer "
    assert any(n.kind == "paging" for n in notes)


def test_drift_follows_refs_outside_component_schemas(tmp_path):
    """The drift report reads a description as the import does: a `#/components/parameters/...` ref
    resolves, and one that does not is reported (the param it stood for is gone), not a crash."""
    from engine import drift

    manifest, _ = _import(tmp_path, PETSTORE)
    loaded = engine.load(manifest)
    assert [p.name for p in loaded.action("pets.list").params] == ["limit", "cursor"]
    assert loaded.action("pets.list").by_name["limit"].schema == {"type": "integer", "minimum": 1, "maximum": 100}
    spec = yaml.safe_load(PETSTORE)
    assert drift.compare(loaded, spec)["drift"] is False
    spec["paths"]["/pets"]["get"]["parameters"][0] = {"$ref": "#/components/parameters/Nope"}
    report = drift.compare(loaded, spec)
    assert [(c["action"], c["changes"]) for c in report["changed"]] == [("pets.list", ["param limit: removed"])]
    spec["paths"]["/pets"]["get"]["parameters"][0] = {"$ref": "#/components/parameters/Limit"}
    spec["components"]["parameters"]["Limit"]["schema"]["maximum"] = 50  # followed, not just found
    report = drift.compare(loaded, spec)
    assert [(c["action"], c["changes"]) for c in report["changed"]] == [
        ("pets.list", ["param limit: maximum 100 -> 50"])]


def test_odd_description_still_loads_and_says_what_it_left_out(tmp_path):
    manifest, notes = _import(tmp_path, ODD)
    loaded = engine.load(manifest)
    conn = manifest["connector"]
    assert conn["name"] == "api_123_odd_api" and conn["base_url"] == "https://odd.example.com:8443/base"
    assert conn["credentials"]["c"] == {"type": "header", "header": "Cookie", "prefix": "sid=",
                                        "env": "API_123_ODD_API_C"}
    assert "m" not in conn["credentials"]  # mutual TLS cannot be declared
    assert sorted(loaded.actions) == ["nodes.get", "things.create", "things.delete", "things.get", "things.get_2",
                                      "things.list", "things.update"]
    assert [p["name"] for p in _action(manifest, "things.list")["params"]] == ["page", "q"]  # no cookie, no Accept
    create = _action(manifest, "things.create")  # an array body: one param, the whole body
    assert create["body"] == {"type": "json", "template": "{{ params.body }}"}
    put = _action(manifest, "things.get_2")
    assert {p["name"]: p.get("file") for p in put["params"]} == {"id": None, "pic": True, "id_body": None,
                                                                  "meta": None, "parts": True}
    assert put["stream"] == {"use": "sse"}
    assert _action(manifest, "things.update")["body"]["content_type"] == "application/merge-patch+json"
    assert _action(manifest, "things.delete")["body"] == {"type": "raw", "param": "body",
                                                          "content_type": "application/octet-stream"}
    assert manifest["schemas"]["Tree"]["properties"]["self"]["items"] == {"$ref": "#/schemas/Tree"}
    assert "pattern" not in manifest["schemas"]["Weird_Name"] and "$id" not in manifest["schemas"]["Weird_Name"]
    said = [str(n) for n in notes]
    assert "HEAD /things: the engine sends GET, POST, PUT, PATCH and DELETE only: left out" in said
    assert any("cookie param 'session'" in n for n in said)
    assert any("'other.yaml#/Id' could not be resolved" in n for n in said)
    assert any(n.startswith("things.get_2: PUT /things/{id} would have the name 'things.get'") for n in said)
    eng = engine.Engine(manifest=loaded, c="abc", d="x")
    req = eng.prepare("things.get_2", {"id": "7", "pic": b"\x89PNG", "parts": [b"a", b"b"]})
    assert req.headers["Cookie"] == "sid=abc" and req.url == "https://odd.example.com:8443/base/things/7"
    assert b"".join(bytes(c) for c in req.body).count(b'name="parts"') == 2
