"""The Anthropic example connector (examples/anthropic.yaml), end to end against its loopback server.

Everything runs through `engine.Engine(manifest=...)` or the command line on 127.0.0.1: what goes on the
wire (the bare `x-api-key`, the `anthropic-version` setting, JSON bodies, cursors), every page of a list
both ways, server-sent events that end on `message_stop` or break, in-band `error` events, retries on
429 and 529 after `retry-after`, the typed errors, and a batch polled until it ends (or its deadline).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = str(ROOT / "examples" / "anthropic.yaml")

server = server_module("anthropic")

KEY = server.API_KEY
MODEL = "claude-sonnet-4-20250514"
HELLO = [{"role": "user", "content": "Hello, Claude"}]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_BETA"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api() -> Iterator[Any]:
    with server.AnthropicServer() as s:
        yield s


@pytest.fixture
def make(api) -> Iterator[Callable[..., engine.Engine]]:
    """Engines on the server; unless `sleep=True`, each records its waits in `.waits` instead of sleeping."""
    yield from engines(MANIFEST, api.url, api_key=KEY, max_retries=0)


cli_run = cli_runner("--manifest", MANIFEST)


# -- messages -------------------------------------------------------------------------------------

def test_create_sends_the_bare_key_the_version_and_exactly_the_given_body(api, make):
    params = {"model": MODEL, "max_tokens": 64, "messages": HELLO, "system": "Be brief.",
              "temperature": 0.5, "metadata": {"user_id": "u-42"}}
    msg = make().run("messages.create", params)
    assert msg["type"] == "message" and msg["role"] == "assistant" and msg["stop_reason"] == "end_turn"
    assert msg["content"] == [{"type": "text", "text": "Hello! You said: Hello, Claude"}]
    [req] = api.requests
    assert (req.method, req.path, req.query) == ("POST", "/v1/messages", {})
    assert req.headers["x-api-key"] == KEY                        # no prefix, no Authorization header
    assert "authorization" not in req.headers
    assert req.headers["anthropic-version"] == "2023-06-01"        # the setting's default
    assert "anthropic-beta" not in req.headers                     # an unset setting is not sent
    assert req.headers["content-type"].startswith("application/json")
    assert req.json() == params                                    # nothing added, nothing dropped
    assert b'"max_tokens":64,' in req.body and b'": ' not in req.body   # compact JSON


def test_settings_are_headers_and_an_unknown_version_is_the_servers_400(api, make):
    eng = make(anthropic_beta="message-batches-2024-09-24,token-counting-2024-11-01")
    assert eng.run("messages.count_tokens", {"model": MODEL, "messages": HELLO}) == {"input_tokens": 5}
    assert api.requests[-1].headers["anthropic-beta"] == "message-batches-2024-09-24,token-counting-2024-11-01"
    assert api.requests[-1].path == "/v1/messages/count_tokens"
    assert api.requests[-1].json() == {"model": MODEL, "messages": HELLO}
    with pytest.raises(engine.BadRequestError) as caught:
        make(anthropic_version="2099-01-01").run("models.retrieve", {"model_id": MODEL})
    assert api.requests[-1].headers["anthropic-version"] == "2099-01-01"
    assert caught.value.type == "invalid_request_error"
    assert caught.value.message.startswith("HTTP 400: anthropic-version: header is required")


def test_stream_hands_out_named_events_and_ends_on_message_stop(api, make):
    events = list(make().run("messages.create", {"model": MODEL, "max_tokens": 64, "messages": HELLO,
                                                 "stream": True}))
    names = [e.event for e in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(e.data["delta"]["text"] for e in events if e.event == "content_block_delta")
    assert text == "Hello! You said: Hello, Claude"
    assert events[0].data["message"]["usage"]["input_tokens"] == 5
    assert events[-2].data["delta"]["stop_reason"] == "end_turn"
    assert api.requests[0].json()["stream"] is True


@pytest.mark.parametrize("fault", ["cut", "truncated"])
def test_a_stream_that_ends_before_message_stop_is_a_connection_error(api, make, fault):
    """A reset mid-body, or a body that ends cleanly but without `message_stop`: never a short success."""
    api.stream_fault = fault
    seen = []
    with pytest.raises(engine.APIConnectionError):
        for event in make().run("messages.create", {"model": MODEL, "max_tokens": 64, "messages": HELLO,
                                                    "stream": True}):
            seen.append(event.event)
    assert seen[:4] == ["message_start", "content_block_start", "ping", "content_block_delta"]
    assert "message_stop" not in seen


def test_an_error_event_mid_stream_is_raised_typed(api, make):
    api.stream_fault = "overloaded"
    seen = []
    with pytest.raises(engine.APIError) as caught:
        for event in make().run("messages.create", {"model": MODEL, "max_tokens": 64, "messages": HELLO,
                                                    "stream": True}):
            seen.append(event.event)
    assert seen[-1] == "content_block_delta" and "error" not in seen
    assert caught.value.type == "overloaded_error"
    assert caught.value.message == "Overloaded"
    assert not isinstance(caught.value, engine.APIConnectionError)


# -- retries and errors -------------------------------------------------------------------------

def test_529_overloaded_once_is_retried_after_retry_after(api, make):
    api.fail_next("POST", "/v1/messages", 529, "overloaded_error", "Overloaded", {"retry-after": "3"})
    eng = make(max_retries=2)
    result = eng.run("messages.create", {"model": MODEL, "max_tokens": 8, "messages": HELLO}, raw=True)
    assert result.data["type"] == "message"
    assert result.attempts == 2 and eng.waits == [3.0]
    assert [r.json() for r in api.requests] == [api.requests[0].json()] * 2   # the same body twice
    assert result.rate_limits["anthropic-ratelimit-requests-remaining"] == "49"


def test_429_is_retried_after_its_seconds_and_raised_typed_when_retries_run_out(api, make):
    api.fail_next("GET", "/v1/models", 429, "rate_limit_error", "Number of requests has exceeded your "
                  "per-minute rate limit", {"retry-after": "2"})
    eng = make(max_retries=1)
    assert len(list(eng.paginate("models.list"))) == 7
    assert eng.waits == [2.0] and len(api.requests) == 2
    for _ in range(2):
        api.fail_next("GET", "/v1/models", 429, "rate_limit_error", "Number of requests has exceeded your "
                      "per-minute rate limit", {"retry-after": "1"})
    with pytest.raises(engine.RateLimitError) as caught:
        eng.run("models.list")
    err = caught.value
    assert (err.status_code, err.type) == (429, "rate_limit_error")
    assert err.message == "HTTP 429: Number of requests has exceeded your per-minute rate limit"
    assert err.request_id.startswith("req_") and err.request_id == err.headers["request-id"]
    assert eng.waits == [2.0, 1.0]


def test_the_server_can_forbid_a_retry_and_a_wait_too_long_is_not_waited(api, make):
    eng = make(max_retries=2)
    api.fail_next("POST", "/v1/messages", 529, "overloaded_error", "Overloaded", {"x-should-retry": "false"})
    with pytest.raises(engine.InternalServerError) as caught:
        eng.run("messages.create", {"model": MODEL, "max_tokens": 8, "messages": HELLO})
    assert (caught.value.status_code, caught.value.type, caught.value.attempts) == (529, "overloaded_error", 1)
    api.fail_next("GET", "/v1/models", 429, "rate_limit_error", "Slow down", {"retry-after": "600"})
    with pytest.raises(engine.RateLimitError):
        eng.run("models.list")                                     # 600 s is above max_retry_after (60)
    assert eng.waits == [] and len(api.requests) == 2


def test_a_wrong_key_is_a_401_authentication_error_that_never_shows_the_key(api, make):
    wrong = "sk-ant-api03-WRONG-SECRET-9876543210"
    with pytest.raises(engine.AuthenticationError) as caught:
        make(api_key=wrong).run("models.list")
    err = caught.value
    assert (err.status_code, err.type, err.message) == (401, "authentication_error", "HTTP 401: invalid x-api-key")
    assert err.body["type"] == "error" and err.request_id == err.body["request_id"]
    assert wrong not in str(err) and wrong not in repr(err)
    assert api.requests[0].headers["x-api-key"] == wrong


def test_a_missing_key_fails_before_anything_is_sent(api):
    with engine.Engine(manifest=MANIFEST, base_url=api.url) as eng:
        with pytest.raises(engine.MissingCredentialError):
            eng.run("models.list")
    assert api.requests == []


def test_the_key_is_read_from_its_environment_variable(api, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with engine.Engine(manifest=MANIFEST, base_url=api.url) as eng:     # not read unless allowed
        with pytest.raises(engine.MissingCredentialError):
            eng.run("models.list")
    with engine.Engine(manifest=MANIFEST, base_url=api.url, allow_env=["ANTHROPIC_API_KEY"]) as eng:
        assert eng.run("models.retrieve", {"model_id": "claude-3-haiku-20240307"})["display_name"] == "Claude Haiku 3"
    assert api.requests[0].path == "/v1/models/claude-3-haiku-20240307"


def test_a_path_param_cannot_change_the_path_and_unknown_ids_are_typed_404s(api, make):
    with pytest.raises(engine.NotFoundError) as caught:
        make().run("models.retrieve", {"model_id": "../messages/batches"})
    assert api.requests[0].path == "/v1/models/..%2Fmessages%2Fbatches"
    assert caught.value.type == "not_found_error"


def test_bad_params_are_all_reported_before_anything_is_sent(api, make):
    with pytest.raises(engine.ValidationError) as caught:
        make().run("messages.create", {"model": MODEL, "messages": [{"role": "system", "content": "x"}],
                                       "temperature": 1.5, "thinking": {"type": "enabled", "budget_tokens": 10}})
    text = str(caught.value)
    for name in ("max_tokens", "messages", "temperature", "thinking"):
        assert name in text
    with pytest.raises(engine.ValidationError):
        make().run("messages.batches.create", {"requests": [{"custom_id": "has space", "params": {}}]})
    with pytest.raises(engine.ValidationError):
        make().run("models.list", {"limit": 1001})
    assert api.requests == []


# -- paging -------------------------------------------------------------------------------------

def test_models_list_walks_every_page_forwards_by_after_id(api, make):
    models = list(make().paginate("models.list", {"limit": 3}))
    assert [m["id"] for m in models] == [m[0] for m in server.MODELS]      # 3 + 3 + 1, in order
    assert [r.query for r in api.requests] == [
        {"limit": "3"},
        {"limit": "3", "after_id": server.MODELS[2][0]},
        {"limit": "3", "after_id": server.MODELS[5][0]},
    ]


def test_models_list_walks_backwards_by_before_id(api, make):
    start = server.MODELS[6][0]
    models = list(make().paginate("models.list", {"limit": 2, "before_id": start}))
    ids = [m[0] for m in server.MODELS]
    assert [m["id"] for m in models] == ids[4:6] + ids[2:4] + ids[0:2]    # page by page, back to the newest
    assert [r.query.get("before_id") for r in api.requests] == [start, ids[4], ids[2]]
    assert all("after_id" not in r.query for r in api.requests)


def test_batches_list_stops_on_a_full_last_page_and_on_an_empty_list(api, make):
    eng = make()
    assert list(eng.paginate("messages.batches.list")) == []
    assert len(api.requests) == 1
    ids = api.add_batches(4)
    batches = list(eng.paginate("messages.batches.list", {"limit": 2}))
    assert [b["id"] for b in batches] == ids
    assert [r.query.get("after_id") for r in api.requests[1:]] == [None, ids[1]]   # no third request


# -- batches ------------------------------------------------------------------------------------

def _requests(*ids: str) -> list[dict[str, Any]]:
    return [{"custom_id": i, "params": {"model": MODEL, "max_tokens": 16,
                                        "messages": [{"role": "user", "content": f"request {i}"}]}} for i in ids]


def test_a_batch_is_created_retrieved_and_its_results_stream_as_json_lines(api, make):
    eng = make()
    reqs = _requests("first", "second")
    batch = eng.run("messages.batches.create", {"requests": reqs})
    assert batch["processing_status"] == "in_progress" and batch["request_counts"]["processing"] == 2
    assert api.requests[-1].json() == {"requests": reqs}
    with pytest.raises(engine.BadRequestError):
        eng.run("messages.batches.delete", {"message_batch_id": batch["id"]})
    with pytest.raises(engine.BadRequestError) as caught:
        list(eng.run("messages.batches.results", {"message_batch_id": batch["id"]}))
    assert "has not yet ended" in caught.value.message
    while eng.run("messages.batches.retrieve", {"message_batch_id": batch["id"]})["processing_status"] != "ended":
        pass
    lines = list(eng.run("messages.batches.results", {"message_batch_id": batch["id"]}))
    assert [(e.event, e.data["custom_id"]) for e in lines] == [("succeeded", "first"), ("succeeded", "second")]
    assert lines[1].data["result"]["message"]["content"][0]["text"] == "Hello! You said: request second"
    assert api.requests[-1].path == f"/v1/messages/batches/{batch['id']}/results"
    assert api.requests[-1].headers["accept"] == "application/binary"
    assert eng.run("messages.batches.delete", {"message_batch_id": batch["id"]}) == \
        {"id": batch["id"], "type": "message_batch_deleted"}


def test_a_canceled_batch_ends_with_canceled_results(api, make):
    eng = make()
    batch = eng.run("messages.batches.create", {"requests": _requests("a")})
    canceling = eng.run("messages.batches.cancel", {"message_batch_id": batch["id"]})
    assert canceling["processing_status"] == "canceling" and canceling["cancel_initiated_at"]
    assert (api.requests[-1].method, api.requests[-1].path) == ("POST", f"/v1/messages/batches/{batch['id']}/cancel")
    assert api.requests[-1].body == b""
    ended = eng.run("messages.batches.retrieve", {"message_batch_id": batch["id"]})
    assert ended["request_counts"]["canceled"] == 1
    assert [e.event for e in eng.run("messages.batches.results", {"message_batch_id": batch["id"]})] == ["canceled"]


def test_create_and_poll_polls_until_the_batch_has_ended(api, make):
    reqs = _requests("ok") + [{"custom_id": "gone", "params": {"model": "claude-2.0", "max_tokens": 8,
                                                              "messages": HELLO}}]
    done = make(sleep=True).run("messages.batches.create_and_poll", {"requests": reqs, "poll_interval": 0.01})
    assert done["processing_status"] == "ended"
    assert done["request_counts"] == {"processing": 0, "succeeded": 1, "errored": 1, "canceled": 0, "expired": 0}
    assert [(r.method, r.path) for r in api.requests] == [("POST", "/v1/messages/batches")] + \
        [("GET", f"/v1/messages/batches/{done['id']}")] * 2        # in_progress, then ended
    assert api.requests[0].json() == {"requests": reqs}            # the composite's own params stay home


def test_create_and_poll_gives_up_at_its_deadline_with_the_last_batch_seen(api, make):
    api.polls_to_end = 10_000
    with pytest.raises(engine.PollTimeoutError) as caught:
        make(sleep=True).run("messages.batches.create_and_poll",
                   {"requests": _requests("slow"), "poll_interval": 0.02, "poll_timeout": 0.15})
    assert caught.value.body["processing_status"] == "in_progress"
    assert caught.value.body["id"] == api.batches[0]["id"]           # enough to resume or cancel
    assert 1 <= len(api.requests) <= 9


# -- command line -------------------------------------------------------------------------------

def test_cli_lists_describes_dry_runs_pages_and_streams(api, monkeypatch):
    code, out, _ = cli_run("actions")
    assert code == 0
    for name in ("messages.create", "messages.count_tokens", "models.list", "models.retrieve",
                 "messages.batches.create", "messages.batches.retrieve", "messages.batches.list",
                 "messages.batches.cancel", "messages.batches.delete", "messages.batches.results",
                 "messages.batches.create_and_poll"):
        assert name in out
    code, out, _ = cli_run("describe", "messages.create")
    assert code == 0 and "max_tokens" in out and "temperature" in out
    code, out, _ = cli_run("run", "messages.create", "-p", f"model={MODEL}", "-p", "max_tokens=16",
                           "-p", 'messages=[{"role": "user", "content": "hi"}]', "--dry-run")
    assert code == 0
    assert "https://api.anthropic.com/v1/messages" in out
    assert "x-api-key: $ANTHROPIC_API_KEY" in out and "anthropic-version: 2023-06-01" in out
    assert '"max_tokens":16' in out
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    code, out, err = cli_run("--base-url", api.url, "--allow-env", "ANTHROPIC_API_KEY", "run", "models.list",
                             "-p", "limit=3", "--all")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == [m[0] for m in server.MODELS]
    assert len(api.requests) == 3
    code, out, err = cli_run("--base-url", api.url, "--allow-env", "ANTHROPIC_API_KEY", "run", "messages.create",
                             "-p", f"model={MODEL}", "-p", "max_tokens=16", "-p", f"messages={json.dumps(HELLO)}",
                             "--stream")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]                  # {"event", "data"} a line
    assert events[0]["event"] == "message_start" and events[-1] == {"event": "message_stop",
                                                                     "data": {"type": "message_stop"}}
    assert api.requests[-1].json()["stream"] is True


def test_the_server_stops_with_no_thread_or_connection_left():
    import threading

    before = set(threading.enumerate())
    with server.AnthropicServer() as s:
        with engine.Engine(manifest=MANIFEST, base_url=s.url, api_key=KEY) as eng:
            eng.run("models.retrieve", {"model_id": MODEL})        # a keep-alive connection stays open
    # The engine's watchdog is one daemon thread for the whole process, started by the first call that
    # has a deadline: whether this test or an earlier one started it is no leak of the server's.
    assert {t for t in threading.enumerate() if t.name != "engine-deadline"} <= before
