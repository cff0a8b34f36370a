"""Requests go only where they should, on real sockets and processes.

A forked child gets its own connections; a password in base_url is refused
without being shown; a caller's own session keeps its proxies and CA bundle;
a redirect never downgrades https to http, and one to another host carries no
credential and none of the manifest's identifying headers.
"""
from __future__ import annotations

import json
import os
import re
import select
import signal

import pytest

import engine
from conftest import run_cli
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


# --- a password in base_url ----------------------------------------------------------------

PASSWORD = "pw-SECRET-in-the-url-4242"


REFUSED = "user name or password|cannot be parsed"


@pytest.mark.parametrize("userinfo", [f"user:{PASSWORD}@", f"{PASSWORD}@", f"user:{PASSWORD}:x@",
                                      f"user:{PASSWORD}?x@"])  # "?" ends the authority: the password reads as a port
def test_a_base_url_with_a_password_is_refused_without_showing_it(srv, manifest, monkeypatch, caplog, userinfo):
    """Refused, never used or shown: not in the error, a log, a hook, a dry run or the CLI's output."""
    caplog.set_level("DEBUG")
    url = srv.url.replace("://", "://" + userinfo) + "/v1"
    seen = []
    hooks = {"before_request": lambda *a: seen.append(a), "after_response": lambda *a: seen.append(a)}
    texts = []
    with pytest.raises(engine.Error, match=REFUSED) as info:
        engine.Engine(manifest, api_key="k" * 20, base_url=url, hooks=hooks)
    texts += [str(info.value), repr(info.value), repr(info.value.args)]
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    with pytest.raises(engine.Error) as info:
        engine.Engine(manifest, api_key="k" * 20, hooks=hooks)
    texts += [str(info.value), repr(info.value)]
    monkeypatch.delenv("OPENAI_BASE_URL")
    for argv in (["--base-url", url, "run", "models.list", "--dry-run"], ["--base-url", url, "run", "models.list"]):
        code, out, err = run_cli(*argv)
        assert code != 0 and re.search(REFUSED, err)
        texts += [out, err]
    texts += [r.getMessage() for r in caplog.records]
    assert seen == [] and srv.requests == []
    assert not [t for t in texts if PASSWORD in t]
