"""Shared fixtures and helpers: Engines with fake keys (mocked or on a loopback server), and no
environment leaking in."""
from __future__ import annotations

import io
import os
import socket
import tempfile
import threading
from typing import Any, Callable, Iterator

import pytest
import responses as responses_lib

# Manifest caches written by the suite go to a folder of its own, never the user's.
os.environ["OPENAI_CONNECTOR_CACHE"] = tempfile.mkdtemp(prefix="connector-cache-")

import engine
from engine import cli
import examples_support
from loopback import Loopback

API_KEY = "sk-test-SECRET-api-key-0123456789"
ADMIN_KEY = "sk-admin-SECRET-admin-key-9876543210"
BASE = "https://api.openai.com/v1"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def manifest():
    return engine.load()


@pytest.fixture
def eng(manifest):
    e = engine.Engine(manifest, api_key=API_KEY, admin_key=ADMIN_KEY, max_retries=0)
    yield e
    e.close()


@pytest.fixture
def mocked():
    with responses_lib.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def released() -> Iterator[threading.Event]:
    """Set when the test ends, so a handler stalled on it lets its server shut down."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def srv(released) -> Iterator[Loopback]:
    """A scriptable HTTP server on 127.0.0.1 (tests/loopback.py)."""
    with Loopback() as s:
        yield s
        released.set()


@pytest.fixture
def loopback_engine(srv, manifest) -> Iterator[Callable[..., engine.Engine]]:
    """Makes Engines on `srv` with the test keys, each closed when the test ends.

    `max_retries` is 0 unless given (None: the manifest's policy). With `record_waits=True` each retry
    wait goes to the Engine's `waits` list instead of sleeping, without jitter, so waits are exact.
    Other keywords go to `engine.Engine`.
    """
    made = []

    def make(max_retries: int | None = 0, *, record_waits: bool = False, **options: Any) -> engine.Engine:
        options = {"api_key": API_KEY, "admin_key": ADMIN_KEY, **options}
        e = engine.Engine(manifest, base_url=srv.url + "/v1", max_retries=max_retries, **options)
        if record_waits:
            examples_support.record_waits(e)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


def run_cli(*argv: str) -> tuple[int, str, str]:
    """The command line run in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def schema_refs(node: Any) -> Iterator[str]:
    """Every `$ref` in a JSON Schema, however deep."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from schema_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from schema_refs(v)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test: for what must answer in process (the sandbox)."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the network was touched: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
