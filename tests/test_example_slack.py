"""The Slack Web API example connector (examples/slack.yaml) end to end, against its loopback server.

What it shows: a Bearer bot token; Slack's `200 {"ok": false, "error": ...}` failures made typed
errors by the error map's `failed_when`; cursor paging where an empty `next_cursor` ends the walk,
a history whose last page has no `response_metadata`, and a page Slack emptied by filtering
(which the engine refuses rather than cutting the walk short); a 429 waited out by Retry-After;
a JSON body with the charset Slack asks for; comma lists and booleans in the query; the CLI.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "examples" / "slack.yaml")
TOKEN = "xoxb-1111-2222-SECRETslacktoken"
servers = server_module("slack")
run_cli = cli_runner("--manifest", MANIFEST)


@pytest.fixture
def api():
    with servers.SlackServer(token=TOKEN, channels=7, users=5, messages=5) as server:
        yield server


@pytest.fixture
def connect(api, monkeypatch):
    """Engines on the loopback server; retry waits are recorded in `.waits` instead of slept."""
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_BASE_URL", raising=False)
    yield from engines(MANIFEST, api.url + "/api", token=TOKEN)


def test_the_token_goes_as_a_bearer_header(api, connect):
    me = connect().run("auth.test")
    assert me["ok"] is True and me["bot_id"] == "B001"
    (req,) = api.requests
    assert (req.method, req.path, req.body) == ("POST", "/api/auth.test", b"")
    assert req.headers["authorization"] == f"Bearer {TOKEN}"


def test_post_message_sends_json_with_the_charset_slack_asks_for(api, connect):
    answer = connect().run("chat.post_message", {"channel": "C001", "text": "Deploy done",
                                                 "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                                         "text": "*Deploy* done"}}],
                                                 "thread_ts": "1700000100.000100", "unfurl_links": False})
    assert answer["channel"] == "C001" and answer["message"]["thread_ts"] == "1700000100.000100"
    (req,) = api.requests
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    assert req.json() == {"channel": "C001", "text": "Deploy done", "thread_ts": "1700000100.000100",
                          "unfurl_links": False,
                          "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy* done"}}]}


def test_ok_false_is_a_typed_error_with_slacks_code(api, connect):
    eng = connect()
    with pytest.raises(engine.BadRequestError) as caught:
        eng.run("chat.post_message", {"channel": "C404", "text": "hello"})
    err = caught.value
    assert (err.status_code, err.code, err.message) == (400, "channel_not_found", "HTTP 400: channel_not_found")
    assert err.body == {"ok": False, "error": "channel_not_found"} and err.request_id.startswith("req-")
    with pytest.raises(engine.BadRequestError, match="already_reacted"):
        eng.run("reactions.add", {"channel": "C000", "timestamp": "1700000100.000100", "name": "tada"})
        eng.run("reactions.add", {"channel": "C000", "timestamp": "1700000100.000100", "name": "tada"})
    assert len(api.requests) == 3  # an ok:false answer is final: never retried


def test_a_wrong_or_missing_token_is_slacks_invalid_auth_or_not_authed(api, connect):
    with pytest.raises(engine.APIStatusError) as caught:
        connect(token="xoxb-wrong").run("users.info", {"user": "U001"})
    assert caught.value.code == "invalid_auth" and "xoxb-wrong" not in str(caught.value)
    with pytest.raises(engine.MissingCredentialError):
        connect(token=None).run("users.info", {"user": "U001"})
    assert len(api.requests) == 1  # nothing is sent without a token


def test_users_list_walks_every_page_until_the_empty_cursor(api, connect):
    ids = [u["id"] for u in connect().paginate("users.list", {"limit": 2})]
    assert ids == ["U000", "U001", "U002", "U003", "U004"]
    assert [r.one("limit") for r in api.requests] == ["2", "2", "2"]
    assert [r.one("cursor") for r in api.requests][0] is None
    assert all(r.one("cursor") for r in api.requests[1:])
    assert len({r.one("cursor") for r in api.requests}) == 3


def test_a_list_that_fits_one_page_and_an_empty_list_make_one_request_each(api, connect):
    eng = connect()
    assert len(list(eng.paginate("users.list", {}))) == 5 and len(api.requests) == 1
    api.users.clear()
    assert list(eng.paginate("users.list", {"limit": 2})) == [] and len(api.requests) == 2


def test_history_ends_on_has_more_false_without_response_metadata(api, connect):
    got = [m["text"] for m in connect().paginate("conversations.history", {"channel": "C000", "limit": 2})]
    assert got == [f"message {i}" for i in range(5)]
    assert len(api.requests) == 3
    assert api.requests[0].query == {"channel": ["C000"], "limit": ["2"]}


def test_channels_list_sends_comma_types_and_boolean_switches(api, connect):
    ids = [c["id"] for c in connect().paginate("conversations.list", {
        "limit": 3, "types": ["public_channel", "private_channel"], "exclude_archived": True})]
    assert ids == ["C000", "C001", "C003", "C004", "C006"]
    assert api.requests[0].query == {"limit": ["3"], "types": ["public_channel,private_channel"],
                                     "exclude_archived": ["true"]}


def test_a_page_slack_emptied_by_filtering_is_an_error_not_a_short_walk(api, connect):
    # limit=1 with exclude_archived: C002's page comes back empty with a cursor after it.
    with pytest.raises(engine.PaginationError, match="empty page"):
        list(connect().paginate("conversations.list", {"limit": 1, "exclude_archived": True}))
    assert len(api.requests) == 3


def test_a_429_is_waited_out_by_its_retry_after_then_succeeds(api, connect):
    api.rate_limit_next("users.info", retry_after=7)
    eng = connect()
    assert eng.run("users.info", {"user": "U003"})["user"]["name"] == "user3"
    assert eng.waits == [7] and len(api.requests) == 2


def test_a_429_in_the_middle_of_a_walk_resends_the_same_cursor(api, connect):
    api.rate_limit_next("users.list", retry_after=2, after=1)
    eng = connect()
    assert len(list(eng.paginate("users.list", {"limit": 2}))) == 5
    cursors = [r.one("cursor") for r in api.requests]
    assert len(cursors) == 4 and cursors[1] == cursors[2] is not None and eng.waits == [2]


def test_an_ok_false_page_ends_the_walk_with_the_typed_error(api, connect):
    with pytest.raises(engine.BadRequestError) as caught:
        list(connect().paginate("users.list", {"limit": 2, "cursor": "bm90LWEtY3Vyc29y"}))
    assert caught.value.code == "invalid_cursor" and len(api.requests) == 1


def test_bad_params_are_refused_before_anything_is_sent(api, connect):
    with pytest.raises(engine.ValidationError) as caught:
        connect().run("conversations.list", {"limit": 5000, "types": ["channels"]})
    assert "limit" in str(caught.value) and "types" in str(caught.value)
    assert api.requests == []


def test_cli_lists_describes_and_dry_runs():
    code, out, _ = run_cli("actions")
    assert code == 0 and "chat.post_message" in out and "POST /chat.postMessage" in out and "8 actions" in out
    code, out, _ = run_cli("describe", "conversations.history")
    assert code == 0 and "channel: string, required, in query" in out
    code, out, _ = run_cli("run", "chat.post_message", "-p", "channel=C001", "-p", "text=hi",
                           "-p", "thread_ts=1700000100.000100", "--dry-run")
    assert code == 0
    assert "https://slack.com/api/chat.postMessage" in out and "$SLACK_BOT_TOKEN" in out
    assert json.loads(out.split("--data-raw ")[1].strip().strip("'")) == {
        "channel": "C001", "text": "hi", "thread_ts": "1700000100.000100"}
