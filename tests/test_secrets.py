"""Keys stay secret: not in errors (nor their causes), reprs, logs, hooks, dry runs or CLI output.

The server here is hostile: it echoes the Authorization header back in error
messages, error fields, response headers, content types, redirect targets
and stream events, and it fails in every way a call can fail. Every text
the caller could see is gathered and searched for either key, case-blind.
"""
from __future__ import annotations

import logging

import pytest

import engine
from conftest import ADMIN_KEY, API_KEY, run_cli
from loopback import Loopback, Reply

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def echo_error(status, *, json_body=True):
    """An error answer that repeats the caller's Authorization header everywhere it can."""
    def handler(req):
        auth = req.headers.get("authorization", "")
        headers = {"x-request-id": auth, "x-echo": auth, "retry-after-ms": "1"}
        if not json_body:
            return Reply(status, f"<html>bad credentials: {auth}</html>", {**headers, "Content-Type": "text/html"})
        return Reply(status, {"error": {"message": f"Incorrect API key provided: {auth}", "type": auth,
                                        "code": auth, "param": auth}}, headers)
    return handler


def echo_content_type(req):
    return Reply(200, b"\x89PNG", {"Content-Type": "application/x-" + req.headers["authorization"].split()[1],
                                   "x-request-id": req.headers["authorization"]})


def echo_bad_json(req):
    return Reply(200, b'{"echo": "' + req.headers["authorization"].encode() + b'",',
                 {"Content-Type": "application/json", "x-request-id": req.headers["authorization"]})


def echo_redirect(req):
    return Reply(302, b"", {"Location": "gopher://127.0.0.1/?auth=" + req.headers["authorization"].split()[1]})


def echo_stream_error(req):
    auth = req.headers["authorization"]
    return Reply(200, chunks=[b'event: error\ndata: {"message": "bad key ' + auth.encode() + b'", "code": "'
                              + auth.encode() + b'"}\n\n'],
                 headers={"Content-Type": "text/event-stream", "x-request-id": auth})


def echo_ok(req):
    return Reply(200, {"object": "list", "data": []}, {"x-request-id": req.headers["authorization"]})


@pytest.fixture
def hostile(srv, released):
    """Routes under /v1 that fail in every way; each echoes the key it was sent where it can."""
    srv.route("GET", "/v1/models", echo_error(400))
    srv.route("GET", "/v1/models/m401", echo_error(401))
    srv.route("GET", "/v1/models/m429", echo_error(429))
    srv.route("GET", "/v1/models/m500", echo_error(500, json_body=False))
    srv.route("GET", "/v1/models/reset", lambda req: req.reset())
    srv.route("GET", "/v1/models/stall", lambda req: released.wait(10) and None)
    srv.route("GET", "/v1/models/ctype", echo_content_type)
    srv.route("GET", "/v1/models/badjson", echo_bad_json)
    srv.route("GET", "/v1/models/redirect", echo_redirect)
    srv.route("GET", "/v1/files/f/content", lambda req: req.send_raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nx-request-id: " + req.headers["authorization"].encode()
        + b"\r\n\r\npartial") or req.reset())
    srv.route("POST", "/v1/chat/completions", echo_stream_error)
    srv.route("GET", "/v1/organization/users", echo_error(403))
    srv.route("GET", "/v1/organization/projects", echo_ok)
    return srv


CALLS = [
    ("models.list", {}), ("models.retrieve", {"model": "m401"}), ("models.retrieve", {"model": "m429"}),
    ("models.retrieve", {"model": "m500"}), ("models.retrieve", {"model": "reset"}),
    ("models.retrieve", {"model": "stall"}), ("models.retrieve", {"model": "ctype"}),
    ("models.retrieve", {"model": "badjson"}), ("models.retrieve", {"model": "redirect"}),
    ("organization.users.list", {}),
]


def chain(exc):
    """The exception and every cause and context behind it."""
    out = []
    while exc is not None and all(exc is not e for e in out):
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def texts_of(exc):
    return [t for e in chain(exc) for t in (str(e), repr(e), repr(vars(e)))]


def assert_no_key(texts):
    blob = "\n".join(texts).lower()
    assert API_KEY.lower() not in blob, "the API key leaked"
    assert ADMIN_KEY.lower() not in blob, "the admin key leaked"


def test_no_key_anywhere_when_every_call_fails(hostile, loopback_engine, caplog, tmp_path):
    for name in ("engine", "urllib3", "requests", None):
        caplog.set_level(logging.DEBUG, logger=name)
    seen = []

    def before(action, request):
        seen.extend([repr(request), repr(dict(request.headers)), repr(vars(request))])

    def after(action, response, elapsed):
        seen.extend([repr(response), repr(dict(response.request.headers))])
        seen.extend(repr(dict(r.request.headers)) for r in response.history)

    eng = loopback_engine(max_retries=1, timeout=(2, 1.0), hooks={"before_request": before, "after_response": after},
                          record_waits=True)
    errors = []
    for name, params in CALLS:
        with pytest.raises(engine.Error) as info:
            eng.run(name, params)
        errors.append(info.value)
    with pytest.raises(engine.APIConnectionError) as info:
        eng.run("files.content", {"file_id": "f"}, output=tmp_path / "out.bin")
    errors.append(info.value)
    with pytest.raises(engine.APIError) as info:
        list(eng.run("chat.completions.create", {**CHAT, "stream": True}))
    errors.append(info.value)
    result = eng.run("organization.projects.list", raw=True)

    assert {type(e) for e in errors} >= {engine.BadRequestError, engine.AuthenticationError, engine.RateLimitError,
                                         engine.InternalServerError, engine.PermissionDeniedError,
                                         engine.APIConnectionError, engine.APITimeoutError, engine.APIResponseError}
    # The server did send the keys back: what follows proves they were masked, not absent.
    assert "<redacted>" in str(errors[0]) and errors[0].code == "Bearer <redacted>"
    assert errors[0].headers["x-echo"] == "Bearer <redacted>"
    texts = seen + [repr(eng), str(eng), repr(vars(eng)), repr(vars(eng.transport)), repr(result),
                    repr(vars(result)) if hasattr(result, "__dict__") else "", str(result.request_id)]
    texts += [repr(a) for a in eng.actions()]
    for err in errors:
        texts += texts_of(err)
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len(seen) > len(CALLS) and len(caplog.records) > len(CALLS)
    assert_no_key(texts)


def test_hooks_see_masked_credentials_even_across_redirects(srv, loopback_engine):
    srv.route("GET", "/v1/models/a", lambda req: Reply(302, b"", {"Location": "/v1/models/b"}))
    srv.route("GET", "/v1/models/b", lambda req: Reply(200, {"id": "b", "object": "model"}))
    got = {}
    eng = loopback_engine(hooks={
        "before_request": lambda action, req: got.setdefault("before", req.headers["Authorization"]),
        "after_response": lambda action, resp, elapsed: got.update(
            after=resp.request.headers["Authorization"],
            history=[r.request.headers["Authorization"] for r in resp.history])})
    assert eng.run("models.retrieve", {"model": "a"})["id"] == "b"
    assert srv.requests[1].headers["authorization"] == f"Bearer {API_KEY}"  # the wire kept the key
    assert got == {"before": "<redacted>", "after": "<redacted>", "history": ["<redacted>"]}


def test_dry_run_and_the_cli_show_no_key(hostile, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEY)
    base = ["--base-url", hostile.url + "/v1", "run"]
    runs = [
        (["models.list", "--dry-run"], 0),
        (["organization.users.list", "--dry-run"], 0),
        (["chat.completions.create", "-p", "model=m", "-p", 'messages=[{"role":"user","content":"x"}]', "--dry-run"], 0),
        (["models.list"], 4), (["models.retrieve", "-p", "model=m500"], 4), (["organization.users.list"], 4),
        (["models.retrieve", "-p", "model=reset"], 5), (["models.retrieve", "-p", "model=ctype"], 4),
        (["chat.completions.create", "-p", "model=m", "-p", 'messages=[{"role":"user","content":"x"}]', "--stream"], 4),
    ]
    texts = []
    for argv, code in runs:
        got, out, err = run_cli(*base, *argv)
        assert got == code, (argv, err)
        texts += [out, err]
    assert "$OPENAI_API_KEY" in texts[0] and "$OPENAI_ADMIN_KEY" in texts[2]
    assert "<redacted>" in texts[7]  # the 400's echoed key, masked
    texts += [r.getMessage() for r in caplog.records]
    assert_no_key(texts)


def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(manifest):
    for bad in (API_KEY + "\u2019", "\u200b" + API_KEY):  # a pasted smart quote, a zero-width space
        with pytest.raises(engine.Error) as info:
            engine.Engine(manifest, api_key=bad)
        assert "'api_key'" in str(info.value)
        assert_no_key(texts_of(info.value))


# --- redirects to another origin on real sockets ---------------------------------------

@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_credentials_are_not_forwarded_to_another_origin(srv, loopback_engine, host):
    a = srv
    with Loopback() as b:
        target = b.url.replace("127.0.0.1", host) + "/blob"
        a.route("GET", "/v1/files/f/content", lambda req: Reply(302, b"", {"Location": target}))
        a.route("GET", "/v1/files/g/content", lambda req: Reply(302, b"", {"Location": "/v1/same-origin"}))
        a.route("GET", "/v1/same-origin", lambda req: Reply(200, b"mine", {"Content-Type": "application/octet-stream"}))
        b.route("GET", "/blob", lambda req: Reply(200, b"data", {"Content-Type": "application/octet-stream"}))
        eng = loopback_engine(organization="org-1")
        assert eng.run("files.content", {"file_id": "f"}) == b"data"
        assert eng.run("files.content", {"file_id": "g"}) == b"mine"
    assert len(b.requests) == 1 and "authorization" not in b.requests[0].headers
    assert "openai-organization" not in b.requests[0].headers  # it identifies the caller too: dropped
    same = [r for r in a.requests if r.path == "/v1/same-origin"]
    assert same[0].headers["authorization"] == f"Bearer {API_KEY}"  # same origin: kept


def test_a_deeply_nested_error_body_is_masked_without_running_out_of_stack(srv, loopback_engine):
    """Masking walks what the server sent; a body nested 900 deep must not end in a RecursionError."""
    depth = 900
    body = ('{"error": {"message": "bad key ' + API_KEY + '", "detail": ' + "[" * depth + '"' + API_KEY + '"'
            + "]" * depth + "}}").encode()
    srv.route("GET", "/v1/models", lambda req: Reply(400, body, {"Content-Type": "application/json"}))
    eng = loopback_engine()
    with pytest.raises(engine.BadRequestError) as info:
        eng.run("models.list")
    assert_no_key(texts_of(info.value))
    assert "bad key <redacted>" in str(info.value)
    node = info.value.body["error"]["detail"]
    for _ in range(depth):
        node = node[0]
    assert node == "<redacted>"
