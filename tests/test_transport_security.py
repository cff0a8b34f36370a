"""Requests go only where they should, on real sockets and processes.

A forked child gets its own connections; a password in base_url is refused
without being shown; a caller's own session keeps its proxies and CA bundle;
a redirect never downgrades https to http, and one to another host carries no
credential and none of the manifest's identifying headers.
"""
from __future__ import annotations

import json
import os
import select
import signal

import pytest

import engine
from loopback import Reply

CALLS = 40


def echo_model(req):
    """The model id the caller asked for, so each caller can tell its own answer from another's."""
    return Reply(200, {"id": req.path.rsplit("/", 1)[1], "object": "model"})


def wrong_answers(run, who: str) -> list[str]:
    """Make CALLS calls, each with its own token; list every answer that was not the caller's own."""
    wrong = []
    for i in range(CALLS):
        token = f"{who}-{i}"
        try:
            got = run("models.retrieve", {"model": token})["id"]
        except engine.Error as exc:
            got = type(exc).__name__
        if got != token:
            wrong.append(f"{token}: {got}")
    return wrong


def forked(child, parent=lambda: None, wait: float = 60.0):
    """Fork; run `parent()` here while `child()` runs in the child, which reports its JSON result by a pipe.

    The child is killed if it has not reported within `wait` seconds; it then reports None.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any of pytest's teardown
        try:
            os.close(r)
            os.write(w, json.dumps(child()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    try:
        mine = parent()
        while select.select([r], [], [], wait)[0]:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)  # never left hanging, whatever happened
            os.waitpid(pid, 0)
    return mine, json.loads(data) if data else None


# --- forked processes ----------------------------------------------------------------

def test_a_forked_child_does_not_share_the_parents_connections(srv, loopback_engine):
    srv.route("GET", "/v1/models/*", echo_model)
    eng = loopback_engine(timeout=3)
    assert eng.run("models.retrieve", {"model": "warm"})["id"] == "warm"  # a keep-alive connection in the pool
    parent, child = forked(lambda: wrong_answers(eng.run, "child"), lambda: wrong_answers(eng.run, "parent"))
    assert parent == [] and child == []


def test_the_default_engine_gives_a_forked_child_its_own_connections(srv, monkeypatch):
    srv.route("GET", "/v1/models/*", echo_model)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-default-engine-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url + "/v1")
    monkeypatch.setattr(engine, "_default", None)
    try:
        assert engine.run("models.retrieve", {"model": "warm"}, timeout=3)["id"] == "warm"
        run = lambda name, params: engine.run(name, params, timeout=3)  # noqa: E731
        parent, child = forked(lambda: wrong_answers(run, "child"), lambda: wrong_answers(run, "parent"))
    finally:
        engine.default_engine().close()
    assert parent == [] and child == []


def test_a_child_forked_while_another_thread_builds_the_default_engine_can_still_use_it(srv, monkeypatch):
    """The lock guarding the default Engine's creation may be held at the fork: the child must not wait on it."""
    srv.route("GET", "/v1/models/*", echo_model)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-default-engine-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url + "/v1")
    monkeypatch.setattr(engine, "_default", None)
    with engine._default_lock:
        _, child = forked(lambda: engine.run("models.retrieve", {"model": "mine"}, timeout=3)["id"], wait=10)
    assert child == "mine"
