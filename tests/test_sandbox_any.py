"""The offline sandbox on manifests other than OpenAI's: what connector authors met, now right.

Each manifest here is the smallest one that shows a rule; the last test runs every action of every
example connector (examples/*.yaml) in the sandbox.
"""
from __future__ import annotations

import copy
import io
import json
import socket
from typing import Any

import pytest

import engine
from engine import cli

BASE = "http://127.0.0.1:9/v1"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a socket fails the test: the sandbox must answer in process."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the sandbox touched the network: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


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
