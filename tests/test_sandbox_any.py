"""The offline sandbox on manifests other than OpenAI's: what connector authors met, now right.

Each manifest here is the smallest one that shows a rule; the last test runs every action of every
example connector (examples/*.yaml) in the sandbox.
"""
from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

import engine
from engine import cli

BASE = "http://127.0.0.1:9/v1"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


pytestmark = pytest.mark.usefixtures("no_network")  # the sandbox answers in process (conftest)


def manifest(actions: list[dict[str, Any]], schemas: dict[str, Any] | None = None,
             credentials: dict[str, Any] | None = None, **connector: Any) -> dict[str, Any]:
    return {"manifest_version": 2,
            "connector": {"name": "thing", "base_url": BASE,
                          "credentials": credentials or {"key": {"type": "header", "header": "X-Key"}},
                          **connector},
            "schemas": copy.deepcopy(schemas or {}), "actions": copy.deepcopy(actions)}


def sandbox(m: dict[str, Any], **values: Any) -> engine.Engine:
    e = engine.Engine(m, sandbox=True, max_retries=0, **values)
    e.transport.sleep = lambda seconds: None
    return e


# -- credentials ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key_as", ["username", "password"])
def test_a_basic_credential_of_one_key_gets_a_stand_in_of_its_shape(key_as):
    m = manifest([{"name": "things.get", "method": "GET", "path": "/things", "response": {"type": "json"}}],
                 credentials={"key": {"type": "basic", "key_as": key_as, "env": "THING_KEY"}})
    with sandbox(m) as e:
        assert e.run("things.get") == {}
        auth = e.prepare("things.get", {}).headers["Authorization"]
        assert auth.startswith("Basic ")


def test_a_basic_credential_of_two_parts_gets_a_stand_in_of_each():
    m = manifest([{"name": "things.get", "method": "GET", "path": "/things", "response": {"type": "json"}}],
                 credentials={"key": {"type": "basic", "username_env": "THING_USER", "password_env": "THING_PW"}})
    with sandbox(m) as e:
        assert e.run("things.get") == {}


def test_the_stripe_example_creates_a_customer_in_the_sandbox_from_the_command_line():
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--manifest", str(EXAMPLES / "stripe.yaml"), "--sandbox", "run", "customers.create",
                     "-p", "email=a@b.c"], out, err)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["email"] == "a@b.c"


# -- routes: every path the engine sends is matched ---------------------------------------------------

THING = {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}


def _things(path: str, item: str, **more: Any) -> dict[str, Any]:
    """A list at `path` and a thing at `item` (whose placeholder is `{id}`), each as the engine sends it."""
    ident = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    name = [{"name": "name", "in": "body", "schema": {"type": "string"}}]
    return manifest([
        {"name": "things.list", "method": "GET", "path": path, "pagination": {"type": "single", "items": "data"},
         "response": {"type": "json", "schema": {"type": "object", "properties": {
             "data": {"type": "array", "items": {"$ref": "#/schemas/Thing"}}}}}},
        {"name": "things.create", "method": "POST", "path": path, "body": "json", "params": name,
         "response": {"type": "json", "schema": {"$ref": "#/schemas/Thing"}}},
        {"name": "things.get", "method": "GET", "path": item, "params": ident,
         "response": {"type": "json", "schema": {"$ref": "#/schemas/Thing"}}},
        {"name": "things.rename", "method": "POST", "path": item, "params": ident + name, "body": "json",
         "response": {"type": "json", "schema": {"$ref": "#/schemas/Thing"}}},
    ], {"Thing": THING}, **more)


def test_a_path_ending_in_a_slash_is_routed_as_declared():
    with sandbox(_things("/things/", "/things/{id}/")) as e:
        made = e.run("things.create", {"name": "a"})
        assert e.prepare("things.get", {"id": made["id"]}).url.endswith(f"/things/{made['id']}/")
        assert e.run("things.get", {"id": made["id"]}) == made
        assert e.run("things.list") == {"data": [made]}


@pytest.mark.parametrize("path, item", [("/things.json", "/things/{id}.json"),
                                        ("/things", "/things/x{id}"),
                                        ("/things", "/things/{id}:view")])
def test_a_placeholder_within_a_segment_is_routed(path, item):
    with sandbox(_things(path, item)) as e:
        assert e.run("things.create", {"name": "a"})["name"] == "a"
        assert e.run("things.rename", {"id": "abc", "name": "b"})["name"] == "b"  # routed, not a 404
        assert e.run("things.get", {"id": "abc"}) == {"id": "abc"}  # the path param, said back
        assert e.sandbox._route("GET", e.prepare("things.get", {"id": "a b"}).path_url)[1] == {"id": "a b"}


def test_a_templated_part_of_a_path_is_routed_as_the_setting_renders():
    m = _things("/accounts/{{ config.acct }}/things.json", "/accounts/{{ config.acct }}/things/{id}.json",
                settings={"acct": {"description": "The account every path names."}})
    with sandbox(m, acct="AC 1/2") as e:
        assert "/accounts/AC%201%2F2/things.json" in e.prepare("things.list", {}).url
        made = e.run("things.create", {"name": "a"})
        assert e.run("things.list") == {"data": [made]}
        assert e.run("things.rename", {"id": "abc", "name": "b"})["name"] == "b"
    # The adapter alone, without the settings: a template matches any one segment's text.
    from engine.sandbox import SandboxAdapter

    adapter = SandboxAdapter(engine.manifest.load(m), BASE)
    route, params = adapter._route("GET", "/v1/accounts/whatever/things/abc.json")
    assert (route.action.name, params) == ("things.get", {"id": "abc"})
    with pytest.raises(Exception) as caught:
        adapter._route("GET", "/v1/accounts/a/b/things/abc.json")
    assert caught.value.status == 404


def test_a_setting_only_templates_read_gets_a_stand_in_and_one_sent_as_a_header_does_not():
    m = _things("/accounts/{{ config.acct }}/things.json", "/accounts/{{ config.acct }}/things/{id}.json",
                settings={"acct": {"env": "THING_ACCOUNT"}, "team": {"header": "X-Team"}})
    with sandbox(m) as e:
        request = e.prepare("things.list", {})
        assert "/accounts/sandbox/things.json" in request.url and "X-Team" not in request.headers
        assert e.run("things.list") == {"data": []}
    with pytest.raises(engine.Error, match="acct"):  # outside the sandbox the setting is still needed
        engine.Engine(m, key="k").prepare("things.list", {})


# -- templated bodies: read back through their template ------------------------------------------------

CONTACT = {"type": "object", "properties": {
    "id": {"type": "string"},
    "properties": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
    "archived": {"type": "boolean"}}}


def _contacts(template: Any = None, body: str = "json") -> dict[str, Any]:
    ident = [{"name": "contact_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    fields = [{"name": "email", "in": "body", "required": True, "schema": {"type": "string", "maxLength": 20}},
              {"name": "firstname", "in": "body", "schema": {"type": "string"}}]
    shape = {"type": body, **({"template": template} if template is not None else {})}
    one = {"type": "json", "schema": {"$ref": "#/schemas/Contact"}}
    return manifest([
        {"name": "contacts.list", "method": "GET", "path": "/contacts", "pagination": {
            "type": "cursor", "items": "results", "next": {"body": "paging.next.after"}, "send": {"param": "after"}},
         "params": [{"name": "after", "in": "query", "schema": {"type": "string"}}],
         "response": {"type": "json", "schema": {"type": "object", "properties": {
             "results": {"type": "array", "items": {"$ref": "#/schemas/Contact"}},
             "paging": {"type": "object", "properties": {"next": {"type": "object", "properties": {
                 "after": {"type": "string"}}}}}}}}},
        {"name": "contacts.create", "method": "POST", "path": "/contacts", "body": shape, "params": fields,
         "response": one},
        {"name": "contacts.retrieve", "method": "GET", "path": "/contacts/{contact_id}", "params": ident,
         "response": one},
        {"name": "contacts.update", "method": "PATCH", "path": "/contacts/{contact_id}", "body": shape,
         "params": ident + [{**f, "required": False} for f in fields], "response": one},
    ], {"Contact": CONTACT})


@pytest.mark.parametrize("body", ["json", "form"])
def test_a_body_nested_by_its_template_is_read_back_and_the_object_kept(body):
    with sandbox(_contacts({"properties": "{{ body }}"}, body)) as e:
        sent = e.prepare("contacts.create", {"email": "ada@example.com", "firstname": "Ada"}).body
        assert (b'"properties"' if body == "json" else b"properties[email]=") in sent
        made = e.run("contacts.create", {"email": "ada@example.com", "firstname": "Ada"})
        assert made["properties"] == {"email": "ada@example.com", "firstname": "Ada"}  # as sent, where it goes
        assert e.run("contacts.retrieve", {"contact_id": made["id"]}) == made
        assert e.run("contacts.list") == {"results": [made]}
        changed = e.run("contacts.update", {"contact_id": made["id"], "firstname": "Augusta"})
        assert changed["properties"] == {"email": "ada@example.com", "firstname": "Augusta"}  # only what was sent
        assert e.run("contacts.retrieve", {"contact_id": made["id"]}) == changed


def test_a_templated_body_is_still_checked_as_the_fields_it_carries():
    with sandbox(_contacts({"properties": "{{ body }}"})) as e:
        with pytest.raises(engine.BadRequestError) as caught:  # a field the action does not declare
            e.run("contacts.create", {"email": "ada@example.com"}, extra_body={"colour": "teal"})
        assert "colour" in json.dumps(caught.value.body)
        session = e.session
        url = BASE + "/contacts"
        bad = session.post(url, json={"properties": {"email": "x" * 21}}, headers={"X-Key": "k"})
        assert bad.status_code == 400 and "email" in bad.text  # longer than the schema allows
        assert session.post(url, json={"properties": {}}).status_code == 400  # email is required
        assert session.post(url, json={"email": "a@b.c"}).status_code == 400  # not where the template puts it


def test_a_template_that_places_fields_one_by_one_is_taken_unchecked():
    with sandbox(_contacts({"contact": {"mail": "{{ body.email }}"}, "v": 2})) as e:
        assert e.prepare("contacts.create", {"email": "a@b.c"}).body == b'{"contact":{"mail":"a@b.c"},"v":2}'
        assert e.run("contacts.create", {"email": "a@b.c"})["id"]


# -- answers that are arrays ---------------------------------------------------------------------------

def test_an_answer_whose_schema_is_an_array_is_a_list():
    item = {"type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}
    m = manifest([
        {"name": "names.all", "method": "GET", "path": "/names",
         "response": {"type": "json", "schema": {"type": "array", "items": item}}},
        {"name": "names.parse", "method": "POST", "path": "/names/parse", "body": "json",
         "params": [{"name": "n", "in": "body", "schema": {"type": "integer"}}],
         "response": {"type": "json", "schema": {"type": "array", "items": item}}},
        {"name": "words.all", "method": "GET", "path": "/words",
         "response": {"type": "json", "schema": {"type": "array", "items": {"type": "string"}}}},
        {"name": "things.all", "method": "GET", "path": "/things",
         "response": {"type": "json", "schema": {"type": "array", "items": {"$ref": "#/schemas/Thing"}}}},
        {"name": "things.create", "method": "POST", "path": "/things", "body": "json",
         "params": [{"name": "name", "in": "body", "schema": {"type": "string"}}],
         "response": {"type": "json", "schema": {"$ref": "#/schemas/Thing"}}},
    ], {"Thing": THING})
    with sandbox(m) as e:
        assert e.run("names.all") == [{"name": ""}]  # made from the items' schema
        assert e.run("names.parse", {"n": 3}) == [{"name": "", "n": 3}]  # which takes what was sent
        assert e.run("words.all") == [""]
        assert e.run("things.all") == []  # a list of objects of a type: the ones kept
        made = [e.run("things.create", {"name": name}) for name in ("a", "b")]
        assert e.run("things.all") == made


# -- objects whose id is not text, or that have none ------------------------------------------------------

def _tickets(ticket: dict[str, Any]) -> dict[str, Any]:
    """Zendesk-like: items nested under `tickets`, the walk's flags and links at nested paths."""
    ident = [{"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
    return manifest([
        {"name": "tickets.list", "method": "GET", "path": "/tickets",
         "params": [{"name": "after", "in": "query", "schema": {"type": "string"}}],
         "pagination": {"type": "cursor", "items": "tickets", "has_more": "meta.has_more",
                        "next": {"body": "links.next"}, "send": {"url": True}},
         "response": {"type": "json", "schema": {"type": "object", "properties": {
             "tickets": {"type": "array", "items": {"$ref": "#/schemas/Ticket"}},
             "meta": {"type": "object", "properties": {"has_more": {"type": "boolean"}}},
             "links": {"type": "object", "properties": {"next": {"type": ["string", "null"]}}}}}}},
        {"name": "tickets.create", "method": "POST", "path": "/tickets", "body": "json",
         "params": [{"name": "subject", "in": "body", "schema": {"type": "string"}}],
         "response": {"type": "json", "schema": {"$ref": "#/schemas/Ticket"}}},
        {"name": "tickets.show", "method": "GET", "path": "/tickets/{ticket_id}", "params": ident,
         "response": {"type": "json", "schema": {"$ref": "#/schemas/Ticket"}}},
    ], {"Ticket": ticket})


def test_an_integer_id_is_made_an_integer_and_found_by_its_text():
    ticket = {"type": "object", "required": ["id"],
              "properties": {"id": {"type": "integer", "minimum": 1}, "subject": {"type": "string"}}}
    with sandbox(_tickets(ticket)) as e:
        made = e.run("tickets.create", {"subject": "Help"})
        assert isinstance(made["id"], int) and made["id"] >= 1 and made["subject"] == "Help"
        assert e.run("tickets.show", {"ticket_id": made["id"]}) == made
        page = e.run("tickets.list")
        assert page == {"tickets": [made], "meta": {"has_more": False}, "links": {"next": None}}
        assert list(e.paginate("tickets.list")) == [made]
        with pytest.raises(engine.NotFoundError):
            e.run("tickets.show", {"ticket_id": made["id"] + 1})


def _events() -> dict[str, Any]:
    """A list of events, which have no id and which no action makes."""
    event = {"type": "object", "required": ["object", "note"], "properties": {
        "object": {"type": "string", "const": "event"}, "note": {"type": "string"}}}
    return manifest([{"name": "events.list", "method": "GET", "path": "/events",
                      "params": [{"name": "after", "in": "query", "schema": {"type": "string"}}],
                      "pagination": {"type": "cursor", "items": "data", "next": {"body": "last", "last_item": "id"},
                                     "send": {"param": "after"}, "has_more": "more"},
                      "response": {"type": "json", "schema": {"type": "object", "properties": {
                          "data": {"type": "array", "items": {"$ref": "#/schemas/Event"}},
                          "more": {"type": "boolean"}, "last": {"type": ["string", "null"]}}}}}],
                    {"Event": event})


def test_objects_without_an_id_are_kept_and_listed():
    m = _events()
    with sandbox(m) as e:
        page = e.run("events.list")  # no action makes events: one appears when first listed
        assert page == {"data": [{"object": "event", "note": ""}], "more": False, "last": None}
        assert list(e.paginate("events.list")) == page["data"]


def test_integer_ids_and_objects_without_one_are_kept_in_a_state_file(tmp_path):
    ticket = {"type": "object", "properties": {"id": {"type": "integer"}, "subject": {"type": "string"}}}
    state = tmp_path / "state.json"
    with engine.Engine(_tickets(ticket), sandbox_state=state) as e:
        made = e.run("tickets.create", {"subject": "Help"})
    with engine.Engine(_events(), sandbox_state=state) as e:
        listed = e.run("events.list")["data"]
    with engine.Engine(_tickets(ticket), sandbox_state=state) as e:  # the file read back, as written
        assert e.run("tickets.show", {"ticket_id": made["id"]}) == made
    with engine.Engine(_events(), sandbox_state=state) as e:
        assert e.run("events.list")["data"] == listed
    kept = json.loads(state.read_text())["objects"]
    assert list(kept["Ticket"]) == [str(made["id"])] and [k[0] for k in kept["event"]] == ["#"]


def test_the_zendesk_example_lists_tickets_in_the_sandbox():
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--manifest", str(EXAMPLES / "zendesk.yaml"), "--sandbox", "run", "tickets.list"], out, err)
    assert code == 0, err.getvalue()
    page = json.loads(out.getvalue())
    assert [type(t["id"]) for t in page["tickets"]] == [int] and page["meta"]["has_more"] is False


# -- raw bodies --------------------------------------------------------------------------------------------

def test_a_raw_file_body_with_a_templated_content_type_is_read_as_the_file():
    m = manifest([{"name": "uploads.create", "method": "POST", "path": "/uploads",
                   "body": {"type": "raw", "param": "file",
                            "content_type": "{{ params.content_type | default('application/binary', true) }}"},
                   "params": [{"name": "file", "in": "body", "required": True, "file": {}},
                              {"name": "content_type", "in": "body", "schema": {"type": "string"}}],
                   "response": {"type": "json", "schema": {"type": "object", "properties": {
                       "token": {"type": "string"}}}}}])
    with sandbox(m) as e:
        assert e.run("uploads.create", {"file": b"hello"}) == {}
        assert e.run("uploads.create", {"file": b"\x00\xff", "content_type": "image/png"}) == {}


# -- errors: worded for any connector -----------------------------------------------------------------------

def test_the_sandboxs_errors_say_what_is_wrong_for_a_connector_that_words_none():
    with sandbox(_contacts()) as e:
        with pytest.raises(engine.NotFoundError, match="No Contact found with id 'nobody'"):
            e.run("contacts.retrieve", {"contact_id": "nobody"})
        with pytest.raises(engine.BadRequestError, match="Unknown parameter: 'colour'"):
            e.run("contacts.create", {"email": "a@b.c"}, extra_body={"colour": "teal"})
        nowhere = e.session.get(BASE + "/nowhere")
        assert nowhere.status_code == 404
        assert nowhere.json()["error"]["message"] == "No action of this connector answers GET /v1/nowhere."
        missing = e.session.post(BASE + "/contacts", json={})
        assert missing.json()["error"]["message"] == "Missing required parameter: 'email'."
        assert e.session.post(BASE + "/contacts", data=b"[1]").json()["error"]["message"] == \
            "The body is not a JSON object."


# -- walks: every paginator style pages through what is kept -------------------------------------------------

def _walked(e: engine.Engine, action: str, params: dict[str, Any] | None = None) -> tuple[list[Any], int]:
    sent, send = [], e.sandbox.send
    e.sandbox.send = lambda request, **kw: sent.append(request.url) or send(request, **kw)
    items = list(e.paginate(action, params or {}, max_pages=5))  # a walk that would not end stops
    return items, len(sent)


PAGE = {"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": "integer"}}}


def _pages(pagination: dict[str, Any], page: dict[str, Any], params: list[dict[str, Any]],
           method: str = "GET") -> dict[str, Any]:
    return manifest([
        {"name": "things.list", "method": method, "path": "/things" + ("/search" if method == "POST" else ""),
         "params": params, "pagination": pagination, "body": "json" if method == "POST" else "none",
         "response": {"type": "json", "schema": {"type": "object", "properties": page}}},
        {"name": "things.create", "method": "POST", "path": "/things", "body": "json",
         "params": [{"name": "n", "in": "body", "schema": {"type": "integer"}}],
         "response": {"type": "json", "schema": {"$ref": "#/schemas/Thing"}}}], {"Thing": PAGE})


ITEMS = {"type": "array", "items": {"$ref": "#/schemas/Thing"}}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer"}}


@pytest.mark.parametrize("name, m, params", [
    ("a token at a nested path, absent at the end", _pages(
        {"type": "cursor", "items": "results", "next": {"body": "paging.next.after"}, "send": {"param": "after"}},
        {"results": ITEMS, "paging": {"type": "object", "properties": {"next": {"type": "object", "properties": {
            "after": {"type": "string"}}}}}},
        [LIMIT, {"name": "after", "in": "query", "schema": {"type": "string"}}]), {"limit": 10}),
    ("a token in the body of a POST search", _pages(
        {"type": "cursor", "items": "results", "next": {"body": "paging.next.after"}, "send": {"param": "after"}},
        {"results": ITEMS, "paging": {"type": "object", "properties": {"next": {"type": "object", "properties": {
            "after": {"type": "string"}}}}}},
        [{**LIMIT, "in": "body"}, {"name": "after", "in": "body", "schema": {"type": "string"}}], "POST"),
     {"limit": 10}),
    ("more told by a template over the token, empty at the end", _pages(
        {"type": "cursor", "items": "members", "next": {"body": "meta.next_cursor"}, "send": {"param": "cursor"},
         "has_more": "{{ response.body.meta.next_cursor != '' }}"},
        {"members": ITEMS, "meta": {"type": "object", "properties": {"next_cursor": {"type": "string"}}}},
        [LIMIT, {"name": "cursor", "in": "query", "schema": {"type": "string"}}]), {"limit": 10}),
    ("an offset up to a total", _pages(
        {"type": "offset", "items": "results", "offset": {"param": "offset"}, "total": "totalResults"},
        {"results": ITEMS, "totalResults": {"type": "integer"}},
        [{"name": "offset", "in": "query", "schema": {"type": "integer"}}]), {}),
    ("an offset with no total", _pages(
        {"type": "offset", "items": "results", "offset": {"param": "offset"}},
        {"results": ITEMS}, [{"name": "offset", "in": "query", "schema": {"type": "integer"}}]), {}),
    ("numbered pages up to a count a template reads", _pages(
        {"type": "page_number", "items": "results", "page": {"param": "page"},
         "total_pages": "{{ [response.body.total_pages, 500] | min }}"},
        {"results": ITEMS, "total_pages": {"type": "integer"}},
        [{"name": "page", "in": "query", "schema": {"type": "integer"}}]), {}),
    ("a next URL", _pages(
        {"type": "cursor", "items": "results", "next": {"body": "next"}, "send": {"url": True},
         "has_more": "more"},
        {"results": ITEMS, "next": {"type": ["string", "null"]}, "more": {"type": "boolean"}}, []), {}),
])
def test_a_walk_pages_through_every_kept_object(name, m, params):
    with sandbox(m) as e:
        made = [e.run("things.create", {"n": i}) for i in range(25)]
        items, requests_sent = _walked(e, "things.list", params)
        assert items == made, name
        assert requests_sent <= 3, name  # pages of 10, or one page of everything


# -- every action of every example connector -----------------------------------------------------------------

try:  # the regular expression parser, to write a text a `pattern` accepts
    import re._parser as _sre
    from re import _constants as _sre_c
except ImportError:  # Python 3.10
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre  # type: ignore[no-redef]


def _text_for(pattern: str) -> str:
    """The shortest plain text a regular expression matches (first alternatives, fewest repeats)."""
    def emit(parsed: Any) -> str:
        out = []
        for op, arg in parsed:
            if op is _sre_c.LITERAL:
                out.append(chr(arg))
            elif op is _sre_c.ANY:
                out.append("a")
            elif op is _sre_c.IN:
                out.append(first_in(arg))
            elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT):
                low, _, sub = arg
                out.append(emit(sub) * low)
            elif op is _sre_c.SUBPATTERN:
                out.append(emit(arg[-1]))
            elif op is _sre_c.BRANCH:
                out.append(emit(arg[1][0]))
            elif op is _sre_c.CATEGORY:
                out.append(category(arg))
        return "".join(out)

    def first_in(items: Any) -> str:
        for op, arg in items:
            if op is _sre_c.LITERAL:
                return chr(arg)
            if op is _sre_c.RANGE:
                return chr(arg[0])
            if op is _sre_c.CATEGORY:
                return category(arg)
        return "a"

    def category(arg: Any) -> str:
        return "0" if "DIGIT" in str(arg) else " " if "SPACE" in str(arg) else "a"

    return emit(_sre.parse(pattern))


def _minimal(schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """A small value the schema accepts: what a careful caller would type for a required param."""
    import jsonschema

    if not isinstance(schema, dict) or depth > 12:
        return "x"
    if "$ref" in schema:
        return _minimal({**defs[schema["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in schema.items()
                                                                         if k != "$ref"}}, defs, depth + 1)
    for key in ("const", "default"):
        if schema.get(key) is not None:
            return schema[key]
    if schema.get("enum"):
        return next(v for v in schema["enum"] if v is not None)
    if schema.get("examples"):
        return schema["examples"][0]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "allOf")}
    if schema.get("anyOf") or schema.get("oneOf"):
        tries = [_minimal({**rest, **alt}, defs, depth + 1) for alt in schema.get("anyOf") or schema["oneOf"]
                 if alt.get("type") != "null"]
        root = {**schema, "$defs": defs}
        return next((t for t in tries if jsonschema.Draft202012Validator(root).is_valid(t)), tries[0])
    if schema.get("allOf"):
        merged: dict[str, Any] = dict(rest)
        for part in schema["allOf"]:
            part = defs[part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part
            merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
            merged["required"] = [*merged.get("required", []), *part.get("required", [])]
            merged.setdefault("type", part.get("type"))
        return _minimal(merged, defs, depth + 1)
    kind = schema.get("type")
    kind = next((t for t in kind if t != "null"), None) if isinstance(kind, list) else kind
    kind = kind or ("object" if "properties" in schema else "array" if "items" in schema else "string")
    if kind == "string":
        if "pattern" in schema:
            return _text_for(schema["pattern"])
        known = {"email": "ada@example.com", "uri": "https://example.com/a", "url": "https://example.com/a",
                 "date-time": "2024-01-02T03:04:05Z", "date": "2024-01-02",
                 "uuid": "00000000-0000-4000-8000-000000000000"}
        return known.get(schema.get("format"), "x" * max(1, schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return max(int(low) + (1 if "exclusiveMinimum" in schema else 0), 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return [_minimal(schema.get("items", {}), defs, depth + 1) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "object":
        props = schema.get("properties", {})
        names = list(dict.fromkeys([*schema.get("required", []), *list(props)[:schema.get("minProperties", 0)]]))
        return {k: _minimal(props.get(k, {}), defs, depth + 1) for k in names}
    return None


def _params(action: Any) -> dict[str, Any]:
    schema = action.input_schema()
    defs = schema.get("$defs", {})
    out = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        out[name] = ("upload.txt", b"hello") if prop.get("format") == "binary" else _minimal(prop, defs)
    return out


class _Clock:
    """A clock the sleeps move: a composite that polls runs to its deadline at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def _outcome(e: engine.Engine, action: Any, params: dict[str, Any]) -> str:
    """'ok', or the typed error's class name; any other exception fails the test."""
    from engine.composite import run_composite

    try:
        if action.composite:
            action.validate(params)
            clock = _Clock()
            run_composite(e, action, params, sleep=clock.sleep, clock=clock)
        else:
            result = e.run(action.name, params)
            if action.paginator is not None and not action.streamed_always:
                list(e.paginate(action.name, params, max_pages=5))
            if action.response_kind == "json" and action.response_schema and not action.streamed_always:
                kind = e.sandbox.synth.resolve(action.response_schema)
                assert isinstance(result, list) == (kind.get("type") == "array"), action.name
    except engine.ValidationError as exc:
        # Only where the sandbox's own answers feed a later call (a composite's next step).
        assert action.composite, f"{action.name}: the params made for the test are invalid: {exc}"
        return type(exc).__name__
    except engine.Error as exc:
        text = str(exc)
        assert action.name in text or action.composite, text
        said = text.split("HTTP ", 1)[1].split(": ", 1)[1] if "HTTP " in text else text
        assert " " in said.strip(), f"{action.name}: {text!r} does not say what is wrong"
        return type(exc).__name__
    return "ok"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_action_of_every_example_runs_in_the_sandbox(path):
    with sandbox(engine.manifest.load(str(path))) as e:
        outcomes = {a.name: _outcome(e, a, _params(a)) for a in e.actions()}
    # An error is a typed engine.Error that says what is wrong (an unknown id's 404, say); some answer.
    assert "ok" in outcomes.values(), outcomes
