"""The Zendesk example connector (examples/zendesk.yaml) end to end, against its loopback server.

What Zendesk needs from the language: Basic auth with `{email}/token`, bodies nested under
`ticket` by a template, cursor pages followed by their `links.next` URL while `meta.has_more`
holds, offset pages by a `next_page` URL, a raw upload with the caller's Content-Type, 429 with
Retry-After, and `{"error", "description", "details"}` error bodies.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = str(ROOT / "examples" / "zendesk.yaml")
zendesk_server = server_module("zendesk")
ZendeskServer = zendesk_server.ZendeskServer
TOKEN = zendesk_server.API_TOKEN
run_cli = cli_runner()
BASIC = "Basic " + base64.b64encode(f"agent@example.com/token:{TOKEN}".encode()).decode()


@pytest.fixture(autouse=True)
def _no_zendesk_env(monkeypatch):
    for name in ("ZENDESK_USERNAME", "ZENDESK_API_TOKEN", "ZENDESK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def zd():
    with ZendeskServer() as server:
        yield server


@pytest.fixture
def make(zd):
    """Engines on the server; retry waits are recorded in `e.waits` instead of slept."""
    yield from engines(MANIFEST, zd.url, max_retries=0, api_token=zd.login)


# -- auth ------------------------------------------------------------------------------------------

def test_basic_auth_sends_email_slash_token_and_the_api_token(zd, make):
    ticket = make().run("tickets.show", {"ticket_id": 2})["ticket"]
    assert ticket["id"] == 2 and ticket["subject"] == "Ticket 2"
    [req] = zd.requests
    assert (req.method, req.path) == ("GET", "/api/v2/tickets/2.json")
    assert req.headers["authorization"] == BASIC


def test_a_wrong_token_is_a_401_with_zendesks_message_and_the_token_never_shows(zd, make):
    wrong = "zd-WRONG-secret-token-0000"
    with pytest.raises(engine.AuthenticationError) as info:
        make(api_token=("agent@example.com/token", wrong)).run("tickets.show", {"ticket_id": 1})
    exc = info.value
    assert exc.status_code == 401
    assert exc.message == "HTTP 401: Couldn't authenticate you"
    assert exc.request_id == "req-1"
    assert wrong not in str(exc) and wrong not in repr(exc)


def test_no_credential_is_refused_before_anything_is_sent(zd):
    with engine.Engine(manifest=MANIFEST, base_url=zd.url) as e:
        with pytest.raises(engine.MissingCredentialError):
            e.run("tickets.show", {"ticket_id": 1})
    assert zd.requests == []


# -- cursor paging ---------------------------------------------------------------------------------

def test_tickets_walk_every_page_by_links_next_until_has_more_is_false(zd, make):
    walk = make().paginate("tickets.list", {"page_size": 2, "sort": "id"})
    assert [t["id"] for t in walk] == [1, 2, 3, 4, 5]
    reqs = zd.calls("/api/v2/tickets.json")
    assert len(reqs) == 3  # 2 + 2 + 1: the last page says has_more false and links.next null
    assert reqs[0].query == {"page[size]": ["2"], "sort": ["id"]}
    for req in reqs[1:]:  # each later page is the previous page's links.next, whole
        assert req.query["sort"] == ["id"] and req.query["page[size]"] == ["2"] and "page[after]" in req.query
    assert all(r.headers["authorization"] == BASIC for r in reqs)


def test_has_more_false_ends_the_walk_even_when_the_last_page_still_links_a_next(zd, make):
    zd.stale_next_on_last_page = True
    assert len(list(make().paginate("tickets.list", {"page_size": 2}))) == 5
    assert len(zd.calls("/api/v2/tickets.json")) == 3


def test_an_empty_list_is_one_request_and_no_items(zd, make):
    assert list(make().paginate("tickets.list", {"external_id": "no-such-ticket"})) == []
    assert len(zd.requests) == 1


def test_a_next_url_on_another_origin_is_refused_and_gets_no_credential(zd, make):
    with ZendeskServer() as decoy:
        zd.next_origin = decoy.origin
        seen = []
        with pytest.raises(engine.PaginationError, match="another origin"):
            for ticket in make().paginate("tickets.list", {"page_size": 2}):
                seen.append(ticket["id"])
        assert decoy.requests == []
    assert seen == [1, 2]  # the first page is handed out; the walk never ends short silently
    assert len(zd.requests) == 1


def test_a_walk_resumes_from_its_checkpoint_in_another_engine_at_the_next_url(zd, make):
    walk = make().paginate("tickets.list", {"page_size": 2})
    got = [next(walk)["id"] for _ in range(3)]
    saved = json.loads(json.dumps(walk.checkpoint))  # plain JSON: the page's whole next URL and a skip
    assert saved["url"].startswith(zd.origin + "/api/v2/tickets.json?")
    zd.requests.clear()
    rest = [t["id"] for t in make().paginate("tickets.list", resume=saved)]
    assert got + rest == [1, 2, 3, 4, 5]
    assert len(zd.requests) == 2  # page 2 again (to skip what was handed out) and page 3


def test_a_tickets_comments_walk_every_page_in_the_order_asked(zd, make):
    e = make()
    for n in range(4):
        e.run("tickets.update", {"ticket_id": 1, "comment": {"body": f"reply {n}", "public": n % 2 == 0}})
    zd.requests.clear()
    comments = list(e.paginate("tickets.comments.list", {"ticket_id": 1, "page_size": 2, "sort_order": "desc",
                                                         "include_inline_images": True}))
    assert [c["body"] for c in comments] == ["reply 3", "reply 2", "reply 1", "reply 0", "Help 1"]
    reqs = zd.calls("/api/v2/tickets/1/comments.json")
    assert len(reqs) == 3
    assert reqs[0].query == {"page[size]": ["2"], "sort_order": ["desc"], "include_inline_images": ["true"]}


def test_users_by_several_roles_send_role_brackets_once_each(zd, make):
    users = list(make().paginate("users.list", {"roles": ["agent", "admin"], "page_size": 1}))
    assert [(u["id"], u["role"]) for u in users] == [(1, "admin"), (2, "agent"), (4, "agent")]
    reqs = zd.calls("/api/v2/users.json")
    assert len(reqs) == 3
    assert reqs[0].query == {"role[]": ["agent", "admin"], "page[size]": ["1"]}


def test_user_search_follows_next_page_until_it_is_null(zd, make):
    users = list(make().paginate("users.search", {"query": "user", "per_page": 2}))
    assert [u["id"] for u in users] == [1, 2, 3, 4, 5]
    reqs = zd.calls("/api/v2/users/search.json")
    assert [r.query.get("page") for r in reqs] == [None, ["2"], ["3"]]


# -- bodies nested under "ticket" ------------------------------------------------------------------

def test_create_nests_the_flat_params_under_ticket_on_the_wire(zd, make):
    answer = make().run("tickets.create", {
        "tags": ["printer", "fire"],
        "subject": "Mon imprimante brûle !",
        "comment": {"body": "The smoke is very colorful.", "public": True},
        "custom_fields": [{"id": 27642, "value": "745"}],
        "priority": "urgent",
    })
    assert answer["ticket"]["id"] == 6 and answer["ticket"]["priority"] == "urgent"
    [req] = zd.calls("/api/v2/tickets.json")
    assert req.method == "POST"
    assert req.headers["content-type"] == "application/json"
    # Compact UTF-8 JSON, the fields in the manifest's declaration order, all under "ticket".
    assert req.body == ('{"ticket":{"comment":{"body":"The smoke is very colorful.","public":true},'
                        '"subject":"Mon imprimante brûle !","priority":"urgent","tags":["printer","fire"],'
                        '"custom_fields":[{"id":27642,"value":"745"}]}}').encode("utf-8")


def test_update_nests_too_and_nothing_unasked_is_sent(zd, make):
    make().run("tickets.update", {"ticket_id": 3, "status": "solved", "assignee_id": None,
                                  "comment": {"body": "Fixed.", "public": False}})
    [req] = zd.calls("/api/v2/tickets/3.json")
    assert req.method == "PUT"
    assert req.json() == {"ticket": {"status": "solved", "assignee_id": None,
                                     "comment": {"body": "Fixed.", "public": False}}}
    assert zd.tickets[3]["status"] == "solved"


def test_params_are_checked_before_anything_is_sent(zd, make):
    with pytest.raises(engine.ValidationError) as info:
        make().run("tickets.create", {"priority": "asap", "comment": {"text": "x"}})
    assert {p.param for p in info.value.problems} >= {"priority", "comment"}
    assert zd.requests == []


# -- errors ----------------------------------------------------------------------------------------

def test_a_missing_ticket_is_not_found_with_type_and_message_from_the_body(zd, make):
    with pytest.raises(engine.NotFoundError) as info:
        make().run("tickets.show", {"ticket_id": 99})
    assert (info.value.message, info.value.type) == ("HTTP 404: Not found", "RecordNotFound")


def test_a_forbidden_answer_reads_its_message_from_the_nested_error_object(zd, make):
    zd.forbidden.add("/api/v2/users.json")
    with pytest.raises(engine.PermissionDeniedError) as info:
        make().run("users.list")
    assert info.value.message.startswith("HTTP 403: You do not have access to this page")
    assert info.value.type is None  # `error` is an object here, not a name


def test_record_invalid_is_a_422_naming_the_field(zd, make):
    with pytest.raises(engine.UnprocessableEntityError) as info:
        make().run("tickets.create", {"comment": {"body": "hi"}, "requester": {"name": "X", "email": "not-an-email"}})
    exc = info.value
    assert (exc.status_code, exc.type, exc.message, exc.param) == \
        (422, "RecordInvalid", "HTTP 422: Record validation errors", "requester")
    assert exc.body["details"]["requester"][0]["error"] == "InvalidValue"


def test_a_stale_safe_update_is_a_conflict(zd, make):
    with pytest.raises(engine.ConflictError) as info:
        make(max_retries=None).run("tickets.update", {"ticket_id": 1, "status": "open", "safe_update": True,
                                                      "updated_stamp": "2020-01-01T00:00:00Z"})
    assert info.value.type == "UpdateConflict"
    assert len(zd.requests) == 1  # a 409 is not retried


# -- rate limits -----------------------------------------------------------------------------------

def test_a_429_waits_retry_after_seconds_then_succeeds_and_the_key_makes_it_safe(zd, make):
    zd.rate_limit["/api/v2/tickets.json"] = 1
    e = make(max_retries=None)
    result = e.run("tickets.create", {"comment": {"body": "once"}, "idempotency_key": "create-once-1"}, raw=True)
    assert result.status_code == 201 and result.data["ticket"]["id"] == 6
    assert result.attempts == 2 and e.waits == [1.0]
    assert result.rate_limits == {"x-rate-limit": "700", "x-rate-limit-remaining": "699"}
    assert result.headers["x-idempotency-lookup"] == "miss"
    first, second = zd.calls("/api/v2/tickets.json")
    assert first.body == second.body and first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert len(zd.tickets) == 6


def test_a_walk_waits_out_a_429_mid_way_and_still_gets_every_page(zd, make):
    e = make(max_retries=None)
    walk = e.paginate("users.list", {"page_size": 2})
    first = next(walk)
    zd.rate_limit["/api/v2/users.json"] = 1
    assert [first["id"]] + [u["id"] for u in walk] == [1, 2, 3, 4, 5]
    assert e.waits == [1.0] and len(zd.calls("/api/v2/users.json")) == 4


def test_a_429_when_retries_are_spent_is_a_rate_limit_error(zd, make):
    zd.rate_limit["/api/v2/tickets/1.json"] = 5
    with pytest.raises(engine.RateLimitError) as info:
        make(max_retries=0).run("tickets.show", {"ticket_id": 1})
    assert info.value.type == "APIRateLimitExceeded"
    assert info.value.message == "HTTP 429: Number of allowed API requests per minute exceeded"
    assert info.value.headers["retry-after"] == "1"


def test_a_retry_after_longer_than_the_manifest_allows_is_not_waited(zd, make):
    zd.rate_limit["/api/v2/tickets/1.json"] = 1
    zd.retry_after = "3600"
    e = make(max_retries=None)
    with pytest.raises(engine.RateLimitError):
        e.run("tickets.show", {"ticket_id": 1})
    assert e.waits == [] and len(zd.requests) == 1


# -- raw uploads -----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def test_an_upload_sends_the_exact_bytes_with_the_files_content_type(zd, make):
    e = make()
    upload = e.run("uploads.create", {"filename": "screen shot.png", "file": PNG, "content_type": "image/png"})
    token = upload["upload"]["token"]
    [req] = zd.calls("/api/v2/uploads.json")
    assert req.method == "POST"
    assert req.body == PNG
    assert req.headers["content-type"] == "image/png"
    assert req.query == {"filename": ["screen shot.png"]}
    assert upload["upload"]["attachment"]["size"] == len(PNG)

    # A second file into the same upload, with no type given: Zendesk's documented default.
    e.run("uploads.create", {"filename": "notes.txt", "file": io.BytesIO(b"plain notes\n"), "token": token})
    second = zd.calls("/api/v2/uploads.json")[1]
    assert second.body == b"plain notes\n" and second.headers["content-type"] == "application/binary"
    assert second.query == {"filename": ["notes.txt"], "token": [token]}

    # The token goes into a comment: the ticket carries both files.
    answer = e.run("tickets.update", {"ticket_id": 2, "comment": {"body": "see files", "uploads": [token]}})
    assert answer["ticket"]["id"] == 2
    files = [a["file_name"] for a in zd.comments[2][-1]["attachments"]]
    assert files == ["screen shot.png", "notes.txt"]


def test_an_upload_is_resent_whole_after_a_429(zd, make):
    zd.rate_limit["/api/v2/uploads.json"] = 1
    e = make(max_retries=None)
    e.run("uploads.create", {"filename": "a.bin", "file": io.BytesIO(PNG), "content_type": "application/pdf"})
    first, second = zd.calls("/api/v2/uploads.json")
    assert first.body == second.body == PNG
    assert second.headers["content-type"] == "application/pdf"
    assert e.waits == [1.0]


# -- the command line ------------------------------------------------------------------------------

def test_cli_lists_describes_and_dry_runs_without_a_credential(zd):
    code, out, _ = run_cli("--manifest", MANIFEST, "actions")
    assert code == 0
    for name in ("tickets.list", "tickets.show", "tickets.create", "tickets.update", "tickets.comments.list",
                 "users.list", "users.search", "uploads.create"):
        assert name in out

    code, out, _ = run_cli("--manifest", MANIFEST, "describe", "tickets.create")
    assert code == 0 and "comment" in out and "idempotency_key" in out

    code, out, _ = run_cli("--manifest", MANIFEST, "--base-url", zd.url, "run", "tickets.create", "--dry-run",
                           "-p", "subject=Hi", "-p", 'comment={"body": "Hello"}')
    assert code == 0
    assert zd.url + "/tickets.json" in out
    assert '{"ticket":{' in out.replace(" ", "")
    assert TOKEN not in out
    assert zd.requests == []


def test_cli_walks_every_page_with_the_credential_from_the_environment(zd, monkeypatch):
    monkeypatch.setenv("ZENDESK_USERNAME", zd.login[0])
    monkeypatch.setenv("ZENDESK_API_TOKEN", zd.login[1])
    walk = ("--manifest", MANIFEST, "--base-url", zd.url, "run", "tickets.list", "--all", "-p", "page_size=2")
    code, out, err = run_cli(*walk)  # a manifest that is not the bundled one reads no env var unasked
    assert code != 0 and "ZENDESK_" in err and zd.requests == []
    code, out, err = run_cli("--trust-manifest", *walk)
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1, 2, 3, 4, 5]
    assert len(zd.requests) == 3 and all(r.headers["authorization"] == BASIC for r in zd.requests)
