"""The public API: environment defaults, error classes, decoding, secrets kept out of sight."""
from __future__ import annotations

import json
import logging
import re

import pytest
import requests

import engine
from conftest import ADMIN_KEY, API_KEY, BASE


def test_defaults_come_from_the_environment(monkeypatch, manifest, mocked):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_1")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v9/")
    eng = engine.Engine(manifest)
    mocked.get("http://127.0.0.1:1/v9/models", json={"object": "list", "data": []})
    assert eng.run("models.list") == {"object": "list", "data": []}
    headers = mocked.calls[0].request.headers
    assert headers["Authorization"] == "Bearer sk-env-key"
    assert headers["OpenAI-Organization"] == "org-1"
    assert headers["OpenAI-Project"] == "proj_1"


def test_explicit_values_win_over_the_environment(monkeypatch, manifest, mocked):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
    eng = engine.Engine(manifest, api_key="sk-mine", organization="org-9", base_url=BASE)
    mocked.get(f"{BASE}/models", json={"data": []})
    eng.run("models.list")
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer sk-mine"
    assert mocked.calls[0].request.headers["OpenAI-Organization"] == "org-9"


def test_missing_key_is_an_error_at_call_time_not_construction(manifest, mocked):
    eng = engine.Engine(manifest)
    with pytest.raises(engine.MissingCredentialError) as info:
        eng.run("models.list")
    assert str(info.value) == ("models.list: needs the 'api_key' credential: "
                               "pass Engine(api_key=...) or set OPENAI_API_KEY")
    assert len(mocked.calls) == 0


def test_unknown_engine_option_suggests(manifest):
    with pytest.raises(TypeError, match="did you mean 'api_key'"):
        engine.Engine(manifest, apikey="x")


@pytest.mark.parametrize("url, why", [
    ("http://[::1/v1", "cannot be parsed"),
    ("http://host:notaport/v1", "cannot be parsed"),
    ("api.openai.com/v1", "absolute http:// or https://"),
    ("ftp://host/v1", "absolute http:// or https://"),
    ("http:///v1", "with a host"),
])
def test_unusable_base_url_is_an_engine_error_that_hides_the_url(manifest, monkeypatch, url, why):
    with pytest.raises(engine.Error, match=why) as info:
        engine.Engine(manifest, api_key=API_KEY, base_url=url)
    assert url not in str(info.value)  # a URL may carry user:password
    monkeypatch.setenv("OPENAI_BASE_URL", url)  # the environment is checked the same way
    with pytest.raises(engine.Error, match=why):
        engine.Engine(manifest, api_key=API_KEY)


def test_module_level_run_uses_a_default_engine(monkeypatch, mocked):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default")
    monkeypatch.setattr(engine, "_default", None)
    mocked.get(f"{BASE}/models/gpt-4o", json={"id": "gpt-4o", "object": "model"})
    assert engine.run("models.retrieve", {"model": "gpt-4o"})["id"] == "gpt-4o"
    monkeypatch.setattr(engine, "_default", None)


def test_actions_listing_and_objects(eng):
    names = [a.name for a in eng.actions() if not a.composite]
    assert len(names) == 110 and len(set(names)) == 110
    assert {a.name for a in eng.actions() if a.composite} >= {"threads.runs.create_and_poll", "uploads.upload_file"}
    audio = eng.actions("audio")
    assert {a.name for a in audio} == {"audio.speech.create", "audio.transcriptions.create",
                                        "audio.translations.create"}
    a = eng.action("threads.runs.create")
    assert (a.group, a.method, a.path) == ("assistants", "POST", "/threads/{thread_id}/runs")
    assert a.summary


def test_prepare_sends_nothing_and_adds_no_defaults(eng, mocked):
    req = eng.prepare("assistants.list", {})
    assert req.url == f"{BASE}/assistants" and req.method == "GET"
    req = eng.prepare("embeddings.create", {"model": "m", "input": "hi"})
    assert json.loads(req.body) == {"model": "m", "input": "hi"}
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("value,encoded", [
    ("a/b", "a%2Fb"), ("../x", "..%2Fx"), ("..", "%2E%2E"), (".", "%2E"), ("a?b#c", "a%3Fb%23c"),
    ("a b", "a%20b"), ("ü", "%C3%BC"), ("%2F", "%252F"),
])
def test_path_values_cannot_change_the_path(eng, value, encoded):
    req = eng.prepare("files.retrieve", {"file_id": value})
    assert req.url == f"{BASE}/files/{encoded}"


def test_validation_lists_every_problem_at_once(eng, mocked):
    with pytest.raises(engine.ValidationError) as info:
        eng.run("chat.completions.create", {"model": 5, "mesages": [], "temperature": 3, "n": "two"})
    err = info.value
    by_param = {p.param: p for p in err.problems}
    assert set(by_param) == {"mesages", "messages", "model", "temperature", "n"}
    assert "did you mean 'messages'" in by_param["mesages"].message
    assert by_param["messages"].rule == "required"
    assert by_param["temperature"].rule == "maximum"
    assert err.action == "chat.completions.create"
    assert "chat.completions.create" in str(err) and "5 invalid parameters" in str(err)
    assert len(mocked.calls) == 0


def test_params_must_be_a_mapping(eng):
    with pytest.raises(engine.ValidationError, match="mapping"):
        eng.run("models.list", ["x"])


STATUS_CLASSES = [
    (400, engine.BadRequestError), (401, engine.AuthenticationError), (403, engine.PermissionDeniedError),
    (404, engine.NotFoundError), (409, engine.ConflictError), (422, engine.UnprocessableEntityError),
    (429, engine.RateLimitError), (500, engine.InternalServerError), (503, engine.InternalServerError),
    (418, engine.APIStatusError),
]


@pytest.mark.parametrize("status,cls", STATUS_CLASSES)
def test_every_status_has_its_error_class(eng, mocked, status, cls):
    body = {"error": {"message": "Something is off", "type": "invalid_request_error",
                      "code": "bad_thing", "param": "model"}}
    mocked.get(f"{BASE}/models", status=status, json=body, headers={"x-request-id": "req_123"})
    with pytest.raises(cls) as info:
        eng.run("models.list")
    err = info.value
    assert type(err) is cls
    assert isinstance(err, engine.APIStatusError) and isinstance(err, engine.APIError)
    assert err.status_code == status
    assert err.request_id == "req_123"
    assert err.body == body
    assert (err.message, err.type, err.code, err.param) == (f"HTTP {status}: Something is off",
                                                            "invalid_request_error", "bad_thing", "model")
    assert err.action == "models.list" and err.attempts == 1
    for text in ("models.list", "Something is off", "req_123", "bad_thing"):
        assert text in str(err)


def test_error_without_json_body(eng, mocked):
    mocked.get(f"{BASE}/models", status=502, body="<html>Bad gateway</html>", content_type="text/html")
    with pytest.raises(engine.InternalServerError) as info:
        eng.run("models.list")
    assert "Bad gateway" in str(info.value) and info.value.body == "<html>Bad gateway</html>"


def test_connection_error(eng, mocked):
    mocked.get(f"{BASE}/models", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(engine.APIConnectionError) as info:
        eng.run("models.list")
    assert not isinstance(info.value, engine.APITimeoutError)


@pytest.mark.parametrize("exc,phase", [(requests.exceptions.ConnectTimeout, "connect"),
                                       (requests.exceptions.ReadTimeout, "read")])
def test_timeout_errors_say_which(eng, mocked, exc, phase):
    mocked.get(f"{BASE}/models", body=exc("slow"))
    with pytest.raises(engine.APITimeoutError) as info:
        eng.run("models.list", timeout=(1.5, 7))
    assert info.value.phase == phase
    assert info.value.timeout == (1.5 if phase == "connect" else 7)
    assert f"{phase} timeout after" in str(info.value)


def test_invalid_json_answer_is_a_typed_error(eng, mocked):
    mocked.get(f"{BASE}/models", body="{not json", content_type="application/json")
    with pytest.raises(engine.APIResponseError, match="not valid JSON"):
        eng.run("models.list")


def test_html_where_json_was_declared(eng, mocked):
    """A proxy's page with a 200 is not the answer: the caller would get a string where it maps fields."""
    mocked.get(f"{BASE}/models", body="<html>sign in to the wifi</html>", content_type="text/html")
    with pytest.raises(engine.APIResponseError, match="expected JSON, got content type 'text/html'"):
        eng.run("models.list")


@pytest.mark.parametrize("fmt, ctype", [("srt", "application/x-subrip"), ("vtt", "text/vtt"),
                                        ("text", "text/plain; charset=utf-8")])
def test_a_text_format_asked_for_comes_back_as_text_whatever_its_type(eng, mocked, fmt, ctype):
    mocked.post(f"{BASE}/audio/translations", body="1\n00:00:00,000 --> 00:00:01,000\nHello\n", content_type=ctype)
    out = eng.run("audio.translations.create", {"file": ("a.mp3", b"ID3"), "model": "whisper-1",
                                                "response_format": fmt})
    assert out == "1\n00:00:00,000 --> 00:00:01,000\nHello\n"


def test_json_formats_of_a_text_capable_action_stay_json(eng, mocked):
    mocked.post(f"{BASE}/audio/transcriptions", json={"text": "Hello"})
    assert eng.run("audio.transcriptions.create", {"file": ("a.mp3", b"ID3"), "model": "whisper-1",
                                                   "response_format": "verbose_json"}) == {"text": "Hello"}
    mocked.post(f"{BASE}/audio/transcriptions", body="Hello", content_type="text/plain")
    with pytest.raises(engine.APIResponseError):  # JSON was asked for (the default), text came
        eng.run("audio.transcriptions.create", {"file": ("a.mp3", b"ID3"), "model": "whisper-1"})


def test_unknown_answer_fields_are_kept(eng, mocked):
    mocked.get(f"{BASE}/models/m", json={"id": "m", "brand_new_field": {"x": 1}})
    assert eng.run("models.retrieve", {"model": "m"})["brand_new_field"] == {"x": 1}


def test_text_answers_for_text_formats(eng, mocked):
    mocked.post(f"{BASE}/audio/transcriptions", body="hello world\n", content_type="text/plain; charset=utf-8")
    out = eng.run("audio.transcriptions.create", {"file": ("a.mp3", b"ID3"), "model": "whisper-1",
                                                  "response_format": "text"})
    assert out == "hello world\n"


def test_raw_result_carries_headers_and_rate_limits(eng, mocked):
    mocked.get(f"{BASE}/models", json={"data": []},
               headers={"x-request-id": "req_9", "x-ratelimit-remaining-requests": "99"})
    res = eng.run("models.list", raw=True)
    assert isinstance(res, engine.Result)
    assert res.data == {"data": []} and res.status_code == 200 and res.request_id == "req_9"
    assert res.rate_limits == {"x-ratelimit-remaining-requests": "99"}
    assert res.attempts == 1 and res.elapsed >= 0


def test_secrets_stay_out_of_reprs_errors_and_logs(manifest, mocked, caplog):
    eng = engine.Engine(manifest, api_key=API_KEY, admin_key=ADMIN_KEY, max_retries=1)
    eng.transport.sleep = lambda s: None
    caplog.set_level(logging.DEBUG)
    seen = [repr(eng), str(eng), repr(eng.__dict__)]
    mocked.get(f"{BASE}/models", status=401, json={"error": {"message": "Incorrect API key provided"}})
    mocked.get(f"{BASE}/organization/users", body=requests.exceptions.ConnectionError("boom"))
    mocked.get(f"{BASE}/models/m", status=500, json={"error": {"message": "oops"}})
    calls = [lambda: eng.run("models.list"), lambda: eng.run("organization.users.list"),
             lambda: eng.run("models.retrieve", {"model": "m"}),
             lambda: eng.run("models.list", {"bogus": API_KEY, "other": ADMIN_KEY})]
    for call in calls:
        with pytest.raises(engine.Error) as info:
            call()
        seen += [str(info.value), repr(info.value), repr(info.value.__dict__)]
    seen += [r.getMessage() for r in caplog.records]
    assert sum("attempt" in r.getMessage() for r in caplog.records) >= 4, "one debug line per attempt"
    blob = "\n".join(seen)
    assert API_KEY not in blob and ADMIN_KEY not in blob


def test_authorization_is_not_forwarded_to_another_host(eng, mocked):
    mocked.get(f"{BASE}/files/f/content", status=302, headers={"Location": "https://files.example.invalid/blob"})
    mocked.get("https://files.example.invalid/blob", body=b"data")
    assert eng.run("files.content", {"file_id": "f"}) == b"data"
    assert mocked.calls[1].request.headers.get("Authorization") is None


def test_errors_say_why_they_were_not_retried(manifest, mocked):
    eng = engine.Engine(manifest, api_key=API_KEY, max_retries=2)
    waits = []
    eng.transport.sleep = waits.append
    mocked.get(f"{BASE}/models", status=429, json={"error": {"message": "Rate limit reached"}},
               headers={"retry-after": "120"})
    with pytest.raises(engine.RateLimitError) as info:
        eng.run("models.list")
    assert "not retried: the server asked to wait 120s, more than the 60s cap" in str(info.value)
    assert waits == [] and info.value.attempts == 1

    mocked.post(f"{BASE}/chat/completions", status=429,
                json={"error": {"message": "You exceeded your current quota", "code": "insufficient_quota",
                                "type": "insufficient_quota"}})
    with pytest.raises(engine.RateLimitError) as info:
        eng.run("chat.completions.create", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert info.value.attempts == 1 and info.value.code == "insufficient_quota"
    assert "not retried: the account's quota is used up" in str(info.value)


def test_extras_send_what_the_manifest_does_not_know_yet(eng, mocked):
    mocked.post(f"{BASE}/chat/completions", json={"id": "c", "object": "chat.completion"})
    eng.run("chat.completions.create", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
                                        "temperature": 1},
            extra_body={"temperature": 0.2, "brand_new": {"on": True}}, extra_query={"tag": ["a", "b"]},
            extra_headers={"X-Trace-Id": "t-1"})
    sent = mocked.calls[0].request
    assert sent.url == f"{BASE}/chat/completions?tag=a&tag=b"
    assert sent.headers["X-Trace-Id"] == "t-1"
    assert json.loads(sent.body) == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
                                     "temperature": 0.2, "brand_new": {"on": True}}
    # A multipart action takes extra fields as form fields.
    mocked.post(f"{BASE}/files", json={"id": "file-1", "object": "file"})
    eng.run("files.create", {"file": ("a.jsonl", b"{}"), "purpose": "batch"}, extra_body={"note": "x"})
    data = b"".join(mocked.calls[1].request.body)  # a streamed multipart body
    assert b'name="note"\r\n\r\nx\r\n' in data


@pytest.mark.parametrize("extras, where", [
    ({"extra_body": {"a": 1}}, "extra_body"),
    ({"extra_headers": {"Bad Name": "x"}}, "extra_headers.Bad Name"),
    ({"extra_headers": {"X-Ok": "a\r\nInjected: 1"}}, "extra_headers.X-Ok"),
    ({"extra_headers": {"X-Ok": 5}}, "extra_headers.X-Ok"),
])
def test_extras_that_would_break_the_request_are_refused_before_sending(eng, mocked, extras, where):
    with pytest.raises(engine.ValidationError) as info:
        eng.run("models.list", **extras)
    assert [p.param for p in info.value.problems] == [where]
    assert len(mocked.calls) == 0


def test_extras_must_be_mappings(eng, mocked):
    with pytest.raises(TypeError, match="extra_body must be a mapping, not list"):
        eng.run("chat.completions.create", {"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
                extra_body=[("a", 1)])
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("name, params, where, send", [
    ("chat.completions.create", {"n": 2.0}, "n", "send 2"),
    ("chat.completions.create", {"max_completion_tokens": 100.0}, "max_completion_tokens", "send 100"),
    ("assistants.list", {"limit": 20.0}, "limit", "send 20"),   # a query value would go out as "20.0"
    ("fine_tuning.jobs.create", {"hyperparameters": {"n_epochs": 3.0}}, "hyperparameters.n_epochs", "send 3"),
    ("vector_stores.create", {"chunking_strategy": {"type": "static", "static": {
        "max_chunk_size_tokens": 800.0, "chunk_overlap_tokens": 400}}},
     "chunking_strategy.static.max_chunk_size_tokens", "send 800"),
])
def test_a_whole_number_with_a_decimal_point_is_refused_where_an_integer_goes(eng, mocked, name, params, where, send):
    """JSON Schema counts 2.0 as an integer; the API answers "expected an integer, but got a decimal number"."""
    base = {"chat.completions.create": {"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
            "fine_tuning.jobs.create": {"model": "gpt-4o-mini", "training_file": "file-1"}}.get(name, {})
    with pytest.raises(engine.ValidationError) as info:
        eng.run(name, {**base, **params})
    (problem,) = info.value.problems
    assert problem.param == where and send in problem.message
    assert len(mocked.calls) == 0


def test_decimals_stay_welcome_where_a_number_goes(eng, mocked):
    mocked.post(f"{BASE}/chat/completions", json={"id": "c", "object": "chat.completion"})
    eng.run("chat.completions.create", {"model": "m", "messages": [{"role": "user", "content": "Hi"}],
                                        "temperature": 1.0, "top_p": 1.0, "n": 2})
    assert json.loads(mocked.calls[0].request.body)["temperature"] == 1.0


def test_error_headers_are_looked_up_whatever_their_case(eng, mocked):
    mocked.get(f"{BASE}/models", status=429, json={"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
               headers={"Retry-After": "7", "X-RateLimit-Remaining-Requests": "0"})
    with pytest.raises(engine.RateLimitError) as info:
        eng.run("models.list")
    assert info.value.headers.get("retry-after") == "7"
    assert info.value.headers["x-ratelimit-remaining-requests"] == "0"


@pytest.mark.parametrize("params, where", [
    ({"temperature": float("nan")}, "temperature"),
    ({"top_p": float("inf")}, "top_p"),
    ({"logit_bias": {"50256": float("-inf")}}, "logit_bias.50256"),
])
def test_nan_and_infinity_are_refused_before_sending(eng, mocked, params, where):
    """They pass every bound (no comparison with NaN is true) but JSON cannot carry them."""
    with pytest.raises(engine.ValidationError) as info:
        eng.run("chat.completions.create", {"model": "m", "messages": [{"role": "user", "content": "Hi"}], **params})
    assert [p.param for p in info.value.problems] == [where]
    assert "finite" in info.value.problems[0].message and len(mocked.calls) == 0


@pytest.mark.parametrize("hooks, message", [
    ({"before_requests": print}, "unknown hook 'before_requests'; did you mean 'before_request'"),
    ({"before_request": 5}, "hook 'before_request' must be callable, not int"),
    (object(), "has none of before_request, after_response"),
])
def test_hook_mistakes_fail_when_the_engine_is_built(manifest, hooks, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        engine.Engine(manifest, api_key=API_KEY, hooks=hooks)


def test_a_refused_connection_says_where_and_why(manifest):
    import socket

    with socket.socket() as s:  # a port that was just free: nothing listens there now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eng = engine.Engine(manifest, api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1?token=x", max_retries=0)
    with pytest.raises(engine.APIConnectionError) as info:
        eng.run("models.list")
    assert f"connection error talking to http://127.0.0.1:{port}: connection refused" in str(info.value)
    assert "token" not in str(info.value)


def test_repr_of_an_engine_whose_setup_failed_is_still_a_repr(manifest):
    """A traceback shows the half-built Engine's repr: it must not raise in turn (nor show a key)."""
    eng = engine.Engine.__new__(engine.Engine)
    assert repr(eng) == "<Engine (not set up)>"
    with pytest.raises(TypeError, match="unexpected keyword argument 'api_kee'"):
        engine.Engine(manifest, api_kee=API_KEY)


def test_a_none_credential_needs_nothing_even_as_the_default():
    """`type: none` (what an import without `security` declares as the default) is always "set"."""
    m = engine.load({"manifest_version": 2,
                     "connector": {"name": "open", "base_url": "https://api.example.com",
                                   "credentials": {"anonymous": {"type": "none"}}},
                     "actions": [{"name": "things.list", "method": "GET", "path": "/things",
                                  "response": {"type": "json"}}]})
    eng = engine.Engine(manifest=m)
    req = eng.prepare("things.list", {})
    assert req.url == "https://api.example.com/things" and "Authorization" not in req.headers
    assert "anonymous=set" in repr(eng)
