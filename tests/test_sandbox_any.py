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
