"""The Notion API example connector (examples/notion.yaml) end to end, against its loopback server.

What it shows: a Bearer integration token and the `Notion-Version` header from a setting with a
default (overridable per Engine, its environment variable read only when allowed); one cursor
paginator whose `start_cursor` goes into the JSON body of POST queries and the query string of
GET lists; `has_more: false` on an exactly full last page and on an empty database; nested
property values in a JSON body; Notion's `{"object": "error", ...}` bodies as typed errors;
a 429 `rate_limited` waited out by its Retry-After; the CLI.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "examples" / "notion.yaml")
TOKEN = "secret_SECRETnotionINTEGRATIONtoken0123"
servers = server_module("notion")
run_cli = cli_runner("--manifest", MANIFEST)
DB, PAGE = servers.DATABASE_ID, servers.PAGE_ID


@pytest.fixture
def api():
    with servers.NotionServer(token=TOKEN, rows=5, blocks=5, users=3) as server:
        yield server


@pytest.fixture
def connect(api, monkeypatch):
    """Engines on the loopback server; retry waits are recorded in `.waits` instead of slept."""
    for name in ("NOTION_TOKEN", "NOTION_BASE_URL", "NOTION_VERSION"):
        monkeypatch.delenv(name, raising=False)
    yield from engines(MANIFEST, api.url + "/v1", token=TOKEN)


def test_token_and_notion_version_go_on_every_call(api, connect):
    page = connect().run("pages.retrieve", {"page_id": PAGE.replace("-", "")})
    assert page["object"] == "page" and page["id"] == PAGE
    (req,) = api.requests
    assert (req.method, req.path) == ("GET", "/v1/pages/" + PAGE.replace("-", ""))
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["notion-version"] == "2022-06-28"


def test_the_version_setting_is_overridden_per_engine_and_read_from_the_env_only_when_allowed(
        api, connect, monkeypatch):
    connect(notion_version="2022-02-22").run("users.list")
    monkeypatch.setenv("NOTION_VERSION", "2021-08-16")
    connect().run("users.list")
    connect(allow_env=["NOTION_VERSION"]).run("users.list")
    assert [r.headers["notion-version"] for r in api.requests] == ["2022-02-22", "2022-06-28", "2021-08-16"]


def test_database_query_sends_the_cursor_in_the_json_body(api, connect):
    flt = {"property": "Status", "select": {"equals": "Todo"}}
    rows = list(connect().paginate("databases.query", {"database_id": DB, "filter": flt, "page_size": 2}))
    assert [r["properties"]["Name"]["title"][0]["plain_text"] for r in rows] == ["Task 0", "Task 2", "Task 4"]
    first, second = api.requests
    assert first.json() == {"filter": flt, "page_size": 2} and first.query == {}
    assert second.json() == {"filter": flt, "page_size": 2, "start_cursor": rows[2]["id"]}
    assert second.headers["content-type"] == "application/json"


def test_an_exactly_full_last_page_and_an_empty_database_end_on_has_more(api, connect):
    eng = connect()
    del api.pages[next(iter(api.pages))]  # four rows, pages of two
    assert len(list(eng.paginate("databases.query", {"database_id": DB, "page_size": 2}))) == 4
    assert len(api.requests) == 2
    api.pages.clear()
    assert list(eng.paginate("databases.query", {"database_id": DB})) == [] and len(api.requests) == 3


def test_search_walks_every_page_of_one(api, connect):
    found = list(connect().paginate("search", {"query": "task", "page_size": 1}))
    assert [f["object"] for f in found] == ["database"] + ["page"] * 5
    assert len(api.requests) == 6
    assert [r.json().get("start_cursor") for r in api.requests] == [None] + [f["id"] for f in found[1:]]


def test_block_children_and_users_send_the_cursor_in_the_query(api, connect):
    eng = connect()
    lines = [b["paragraph"]["rich_text"][0]["plain_text"] for b in
             eng.paginate("blocks.children.list", {"block_id": PAGE, "page_size": 2})]
    assert lines == [f"Line {i}" for i in range(5)]
    assert [r.query.get("start_cursor") for r in api.requests] == [None, [api.blocks[PAGE][2]["id"]],
                                                                    [api.blocks[PAGE][4]["id"]]]
    assert all(r.body == b"" and r.method == "GET" for r in api.requests)
    assert [u["name"] for u in eng.paginate("users.list", {})] == ["Person 0", "Person 1", "Person 2"]
    assert api.requests[-1].query == {}


def test_pages_create_sends_nested_property_values_as_given(api, connect):
    properties = {"Name": {"title": [{"type": "text", "text": {"content": "Ship it", "link": None}}]},
                  "Status": {"select": {"name": "Todo"}}}
    children = [{"object": "block", "type": "to_do",
                 "to_do": {"rich_text": [{"type": "text", "text": {"content": "tests"}}], "checked": False}}]
    page = connect().run("pages.create", {"parent": {"database_id": DB}, "properties": properties,
                                          "children": children, "icon": {"type": "emoji", "emoji": "🚀"}})
    assert page["properties"] == properties and page["icon"] == {"type": "emoji", "emoji": "🚀"}
    assert api.requests[0].json() == {"parent": {"database_id": DB}, "properties": properties,
                                      "children": children, "icon": {"type": "emoji", "emoji": "🚀"}}
    assert api.blocks[page["id"]][0]["to_do"]["checked"] is False


def test_appended_blocks_come_last_in_the_next_walk(api, connect):
    eng = connect()
    block = {"object": "block", "type": "heading_2",
             "heading_2": {"rich_text": [{"type": "text", "text": {"content": "Next steps"}}]}}
    added = eng.run("blocks.children.append", {"block_id": PAGE, "children": [block]})
    assert added["object"] == "list" and added["results"][0]["type"] == "heading_2"
    assert api.requests[0].method == "PATCH" and api.requests[0].json() == {"children": [block]}
    walked = list(eng.paginate("blocks.children.list", {"block_id": PAGE, "page_size": 3}))
    assert len(walked) == 6 and walked[-1]["id"] == added["results"][0]["id"]


def test_an_icon_given_as_none_is_sent_as_null_to_remove_it(api, connect):
    eng = connect()
    eng.run("pages.update", {"page_id": PAGE, "icon": {"type": "emoji", "emoji": "📝"}})
    page = eng.run("pages.update", {"page_id": PAGE, "icon": None, "archived": True})
    assert page["icon"] is None and page["in_trash"] is True
    assert api.requests[-1].method == "PATCH" and api.requests[-1].json() == {"icon": None, "archived": True}


def test_notion_error_bodies_become_typed_errors(api, connect):
    eng = connect()
    with pytest.raises(engine.NotFoundError) as caught:
        eng.run("databases.query", {"database_id": "0" * 32})
    assert caught.value.code == "object_not_found" and "shared with your integration" in caught.value.message
    with pytest.raises(engine.BadRequestError) as caught:
        eng.run("pages.create", {"parent": {"database_id": DB}, "properties": {"Owner": {"people": []}}})
    err = caught.value
    assert (err.status_code, err.code) == (400, "validation_error")
    assert err.message == "HTTP 400: Owner is not a property that exists."
    assert err.body["object"] == "error" and err.body["status"] == 400
    with pytest.raises(engine.BadRequestError, match="start_cursor provided is invalid"):
        eng.run("users.list", {"start_cursor": "not-a-cursor"})
    with pytest.raises(engine.AuthenticationError) as caught:
        connect(token="secret_wrong").run("users.list")
    assert caught.value.code == "unauthorized" and "secret_wrong" not in str(caught.value)
    assert len(api.requests) == 4  # none of these is retried


def test_a_rate_limit_is_waited_out_by_its_retry_after(api, connect):
    api.rate_limit_next(retry_after=3)
    eng = connect()
    assert eng.run("pages.retrieve", {"page_id": PAGE})["id"] == PAGE
    assert eng.waits == [3] and len(api.requests) == 2


def test_bad_params_are_refused_before_anything_is_sent(api, connect):
    with pytest.raises(engine.ValidationError) as caught:
        connect().run("databases.query", {"database_id": "not-an-id", "page_size": 101})
    assert "database_id" in str(caught.value) and "page_size" in str(caught.value)
    assert api.requests == []


def test_cli_lists_describes_and_dry_runs():
    code, out, _ = run_cli("actions")
    assert code == 0 and "POST /databases/{database_id}/query" in out and "8 actions" in out
    code, out, _ = run_cli("describe", "databases.query")
    assert code == 0 and "start_cursor: string, optional, in body" in out and "pagination: start_cursor" in out
    code, out, _ = run_cli("run", "databases.query", "-p", f"database_id={DB}",
                           "-p", 'filter={"property":"Status","select":{"equals":"Done"}}', "--dry-run")
    assert code == 0
    assert f"https://api.notion.com/v1/databases/{DB}/query" in out
    assert "Notion-Version: 2022-06-28" in out and "$NOTION_TOKEN" in out
    assert json.loads(out.split("--data-raw ")[1].strip().strip("'")) == {
        "filter": {"property": "Status", "select": {"equals": "Done"}}}
