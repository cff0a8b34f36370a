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
import time

import pytest
import requests
from requests.adapters import HTTPAdapter

import engine
from conftest import run_cli
from loopback import Loopback, Reply

CALLS = 40


def echo_model(req):
    """The model id the caller asked for, so each caller can tell its own answer from another's.

    A short pause keeps both processes waiting on their answers at once, as real calls do.
    """
    time.sleep(0.003)
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
            os.write(w, b"+")  # started: the parent starts too, so both really run at once
            os.write(w, json.dumps(child()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data, ended = b"", False
    try:
        if select.select([r], [], [], wait)[0]:
            os.read(r, 1)
        mine = parent()
        while not ended and select.select([r], [], [], wait)[0]:
            chunk = os.read(r, 65536)
            data += chunk
            ended = not chunk  # the child has exited
    finally:
        os.close(r)
        if not ended:
            os.kill(pid, signal.SIGKILL)  # never left hanging, whatever happened
        os.waitpid(pid, 0)
    return mine, json.loads(data) if data else None


def crossed_answers(run) -> tuple[list[str], list[str]]:
    """Wrong answers in parent and child, each making CALLS calls at once after a fork.

    Which process reads a shared connection first is a race, so this forks up to
    three times and reports the first round that went wrong.
    """
    for _ in range(3):
        assert run("models.retrieve", {"model": "warm"})["id"] == "warm"  # a keep-alive connection to share
        parent, child = forked(lambda: wrong_answers(run, "child"), lambda: wrong_answers(run, "parent"))
        if parent or child != []:
            break
    return parent, child


# --- forked processes ----------------------------------------------------------------

def test_a_forked_child_does_not_share_the_parents_connections(srv, loopback_engine):
    srv.route("GET", "/v1/models/*", echo_model)
    eng = loopback_engine(timeout=3)
    assert crossed_answers(eng.run) == ([], [])


def test_the_default_engine_gives_a_forked_child_its_own_connections(srv, monkeypatch):
    srv.route("GET", "/v1/models/*", echo_model)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-default-engine-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url + "/v1")
    monkeypatch.setattr(engine, "_default", None)
    try:
        assert crossed_answers(lambda name, params: engine.run(name, params, timeout=3, max_retries=0)) == ([], [])
    finally:
        engine.default_engine().close()


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


# --- a caller's own session -------------------------------------------------------------------

@pytest.fixture
def proxy_env(monkeypatch):
    """An environment naming a proxy and a CA bundle of its own, as a platform's may."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: nothing answers there
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/env/ca-bundle.pem")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def test_a_callers_session_keeps_its_proxy_over_the_environments(srv, manifest, proxy_env):
    srv.route("GET", "/v1/models", lambda req: Reply(200, {"object": "list", "data": [{"id": "direct"}]}))
    with Loopback() as proxy:
        # A proxy is sent the whole URL as the request target, and answers for the server.
        proxy.route("GET", "*", lambda req: Reply(200, {"object": "list", "data": [{"id": "via-proxy"}]}))
        session = requests.Session()
        session.proxies = {"http": proxy.url}
        with engine.Engine(manifest, api_key="k" * 20, base_url=srv.url + "/v1", session=session,
                           max_retries=0) as eng:
            assert eng.run("models.list")["data"] == [{"id": "via-proxy"}]
    assert [r.path for r in proxy.requests] == [srv.url + "/v1/models"] and srv.requests == []



def test_an_engines_own_session_still_takes_the_environments_proxy(srv, manifest, proxy_env, monkeypatch):
    with Loopback() as proxy:
        proxy.route("GET", "*", lambda req: Reply(200, {"object": "list", "data": [{"id": "via-proxy"}]}))
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with engine.Engine(manifest, api_key="k" * 20, base_url=srv.url + "/v1", max_retries=0) as eng:
            assert eng.run("models.list")["data"] == [{"id": "via-proxy"}]
    assert len(proxy.requests) == 1 and srv.requests == []

class SpyAdapter(HTTPAdapter):
    """Records what the session hands the adapter for each request."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict] = []

    def send(self, request, **kwargs):
        self.seen.append(kwargs)
        return super().send(request, **kwargs)


@pytest.mark.parametrize("trust_env, verify, cert, expected", [
    (True, "ca.pem", ("client.pem", "client.key"), "ca.pem"),  # the caller's wins over the environment's
    (True, True, None, "/env/ca-bundle.pem"),  # unset: the environment fills it in, as requests would
    (False, True, "both.pem", True),  # a session told not to read the environment does not
])
def test_a_callers_session_keeps_its_ca_bundle_and_client_certificate(srv, manifest, proxy_env, tmp_path,
                                                                      trust_env, verify, cert, expected):
    def path(name):  # a file that exists: requests checks a client certificate is there, even for http
        (tmp_path / name).touch()
        return str(tmp_path / name)

    verify, expected = (path(v) if isinstance(v, str) and "/" not in v else v for v in (verify, expected))
    cert = tuple(map(path, cert)) if isinstance(cert, tuple) else path(cert) if cert else None
    srv.route("GET", "/v1/models", lambda req: Reply(200, {"object": "list", "data": []}))
    session = requests.Session()
    session.trust_env, session.verify, session.cert = trust_env, verify, cert
    session.proxies = {"http": None}  # direct: the loopback server is the target (a None proxy means none)
    spy = SpyAdapter()
    session.mount("http://", spy)
    with engine.Engine(manifest, api_key="k" * 20, base_url=srv.url + "/v1", session=session, max_retries=0) as eng:
        eng.run("models.list")
    assert [(kw["verify"], kw["cert"]) for kw in spy.seen] == [(expected, cert)]
    assert len(srv.requests) == 1


# --- redirects: no downgrade, and nothing identifying to another host ----------------------

CHAT = {"model": "m", "messages": [{"role": "user", "content": "a private prompt"}]}
COMPLETION = {"id": "c", "object": "chat.completion", "choices": []}
HTTPS_BASE = "https://api.openai.com/v1"  # answered by `responses`, never reached


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_from_https_to_http_is_refused_and_nothing_is_sent_in_cleartext(srv, manifest, mocked, status):
    for method in ("POST", "GET"):  # 301, 302 and 303 turn a POST into a GET
        srv.route(method, "/v1/chat/completions", lambda req: Reply(200, COMPLETION))
    mocked.add("POST", HTTPS_BASE + "/chat/completions", status=status,
               headers={"Location": srv.url + "/v1/chat/completions"})
    mocked.add_passthru(srv.url)  # followed, the redirect would reach the real (cleartext) loopback server
    with engine.Engine(manifest, api_key="sk-test-0123456789", organization="org-1", project="proj-1",
                       max_retries=2) as eng:
        with pytest.raises(engine.APIError) as info:
            eng.run("chat.completions.create", CHAT)
    assert type(info.value) is engine.APIError and info.value.attempts == 1  # typed, and not retried
    assert "https://api.openai.com" in str(info.value) and srv.url in str(info.value)
    assert len(mocked.calls) == 1 and srv.requests == []


def test_a_redirect_to_another_host_carries_no_credential_and_no_identifying_header(srv, loopback_engine):
    with Loopback("127.0.0.2") as other:
        srv.route("POST", "/v1/chat/completions",
                  lambda req: Reply(307, b"", {"Location": other.url + "/v1/chat/completions"}))
        other.route("POST", "/v1/chat/completions", lambda req: Reply(200, COMPLETION))
        eng = loopback_engine(organization="org-1", project="proj-1")
        assert eng.run("chat.completions.create", CHAT)["id"] == "c"
    first, = srv.requests
    assert first.headers["openai-organization"] == "org-1" and first.headers["openai-project"] == "proj-1"
    second, = other.requests
    assert not {"authorization", "openai-organization", "openai-project"} & set(second.headers)
    assert second.json() == CHAT  # a 307 re-sends the body: to another host over the same scheme, as HTTP says


DEMO = {
    "manifest_version": 2,
    "connector": {"name": "demo", "base_url": "http://127.0.0.1:9/api",
                  "credentials": {"token": {"type": "header", "header": "X-Token"}},
                  "settings": {"tenant": {"header": "X-Tenant"}}},
    "actions": [{"name": "widgets.list", "method": "GET", "path": "/widgets", "credential": "token",
                 "params": [], "response": {"type": "json"}}],
}


@pytest.mark.parametrize("shared", [False, True])
def test_the_headers_dropped_on_a_redirect_to_another_host_are_the_ones_the_manifest_declares(srv, manifest,
                                                                                                shared):
    """Also when the session is shared with an Engine of another manifest that guarded it first."""
    session = requests.Session() if shared else None
    first = engine.Engine(manifest, session=session) if shared else None
    with Loopback("127.0.0.2") as other:
        srv.route("GET", "/api/widgets", lambda req: Reply(302, b"", {"Location": other.url + "/api/widgets"}))
        other.route("GET", "/api/widgets", lambda req: Reply(200, {"data": []}))
        with engine.Engine(engine.load(DEMO), token="t" * 20, tenant="acme", base_url=srv.url + "/api",
                           session=session) as eng:
            assert eng.run("widgets.list") == {"data": []}
    assert first is None or first.session is session
    assert srv.requests[0].headers["x-token"] == "t" * 20 and srv.requests[0].headers["x-tenant"] == "acme"
    assert not {"x-token", "x-tenant"} & set(other.requests[0].headers)
