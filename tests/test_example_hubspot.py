"""The HubSpot CRM v3 example connector (examples/hubspot.yaml) end to end, against its loopback server.

What HubSpot needs from the language: a private-app token as `Authorization: Bearer` and the legacy
`hapikey` query key as a second credential chosen per action (the token by default); a contact's
fields nested under `properties` by a body template; `properties=email,firstname` as a comma list;
cursor pages by `paging.next.after` (absent on the last page), sent in the query of a GET list and
in the JSON body of a search; `{"status": "error", "category", "errors": [...]}` bodies as typed
errors; a 429 waited out by its Retry-After (a DAILY one never retried); a budget read from the
`X-HubSpot-RateLimit-*` headers that paces `map`; the CLI, dry runs and the sandbox.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "examples" / "hubspot.yaml")
servers = server_module("hubspot")
TOKEN, HAPIKEY = servers.TOKEN, servers.HAPIKEY
BEARER = f"Bearer {TOKEN}"
run_cli = cli_runner("--manifest", MANIFEST)
ENV = ("HUBSPOT_ACCESS_TOKEN", "HUBSPOT_API_KEY", "HUBSPOT_BASE_URL")


@pytest.fixture(autouse=True)
def _no_hubspot_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api():
    with servers.HubSpotServer(contacts=25, owners=3) as server:
        yield server


@pytest.fixture
def connect(api):
    """Engines on the loopback server with both credentials; retry waits are recorded in `.waits`."""
    yield from engines(MANIFEST, api.url, access_token=TOKEN, hapikey=HAPIKEY)


def emails(contacts):
    return [c["properties"]["email"] for c in contacts]


# -- credentials -----------------------------------------------------------------------------------

def test_the_access_token_is_the_default_credential_and_goes_as_a_bearer_header(api, connect):
    contact = connect().run("crm.contacts.retrieve", {"contactId": "3"})
    assert contact["id"] == "3" and contact["properties"]["email"] == "person3@example.com"
    (req,) = api.requests
    assert (req.method, req.path, req.raw_query) == ("GET", "/crm/v3/objects/contacts/3", "")
    assert req.headers["authorization"] == BEARER


def test_the_legacy_endpoint_sends_the_hapikey_in_the_query_and_no_bearer(api, connect):
    owners = connect().run("legacy.owners.list", {"includeInactive": False})
    assert [o["ownerId"] for o in owners] == [100, 101, 102]
    (req,) = api.requests
    assert req.path == "/owners/v2/owners"
    assert req.query == {"includeInactive": ["false"], "hapikey": [HAPIKEY]}
    assert "authorization" not in req.headers


def test_each_action_needs_only_its_own_credential(api):
    with engine.Engine(manifest=MANIFEST, base_url=api.url, access_token=TOKEN) as eng:
        assert eng.run("crm.contacts.retrieve", {"contactId": "1"})["id"] == "1"
        with pytest.raises(engine.MissingCredentialError, match="hapikey"):
            eng.run("legacy.owners.list")
    with engine.Engine(manifest=MANIFEST, base_url=api.url, hapikey=HAPIKEY) as eng:
        assert len(eng.run("legacy.owners.list")) == 3
        with pytest.raises(engine.MissingCredentialError, match="access_token"):
            eng.run("crm.contacts.list")
    assert [r.path for r in api.requests] == ["/crm/v3/objects/contacts/1", "/owners/v2/owners"]


def test_a_bad_token_is_a_401_with_hubspots_category_and_never_shows(api, connect):
    wrong = "pat-na1-WRONG-0000-secret"
    with pytest.raises(engine.AuthenticationError) as caught:
        connect(access_token=wrong).run("crm.contacts.list")
    err = caught.value
    assert err.type == "INVALID_AUTHENTICATION" and err.message.startswith("HTTP 401: Authentication credentials")
    assert err.request_id == err.headers["x-hubspot-correlation-id"]
    assert wrong not in str(err) and wrong not in repr(err) and len(api.requests) == 1  # not retried
    with pytest.raises(engine.AuthenticationError, match="API key provided is invalid"):
        connect(hapikey="hk-wrong").run("legacy.owners.list")


# -- lists: paging.next.after until paging is absent -----------------------------------------------

def test_list_sends_limit_properties_as_a_comma_list_and_archived(api, connect):
    page = connect().run("crm.contacts.list", {"limit": 100, "properties": ["email", "firstname"], "archived": False})
    assert len(page["results"]) == 25 and "paging" not in page
    assert page["results"][0]["properties"] == {"email": "person1@example.com", "firstname": "First1",
                                                "createdate": servers.EPOCH, "hs_object_id": "1",
                                                "lastmodifieddate": servers.EPOCH}
    (req,) = api.requests
    assert req.raw_query == "limit=100&properties=email,firstname&archived=false"
    assert req.body == b""


def test_list_walks_every_page_sending_the_opaque_after_back_and_ends_without_paging(api, connect):
    walked = list(connect().paginate("crm.contacts.list", {"limit": 10, "properties": ["email"]}))
    assert emails(walked) == [f"person{i}@example.com" for i in range(1, 26)]
    reqs = api.calls("/crm/v3/objects/contacts")
    assert len(reqs) == 3  # 10 + 10 + 5: the third answer has no `paging`
    assert [r.one("after") for r in reqs] == [None, servers.cursor(10), servers.cursor(20)]
    assert servers.cursor(10) == "MDEwCg%3D%3D"  # HubSpot's `after` holds `%3D`: it goes back as text,
    assert "after=MDEwCg%253D%253D" in reqs[1].raw_query  # percent-encoded once more on the wire
    assert all(r.one("limit") == "10" and r.one("properties") == "email" for r in reqs)


def test_a_list_of_one_full_page_is_one_request(api, connect):
    assert len(list(connect().paginate("crm.contacts.list", {"limit": 25}))) == 25
    assert len(api.requests) == 1


def test_a_walk_resumes_from_its_checkpoint_in_another_engine(api, connect):
    walk = connect().paginate("crm.contacts.list", {"limit": 10})
    first = [next(walk)["id"] for _ in range(12)]
    saved = json.loads(json.dumps(walk.checkpoint))
    rest = [c["id"] for c in connect().paginate("crm.contacts.list", resume=saved)]
    assert first + rest == [str(i) for i in range(1, 26)]


def test_owners_walk_every_page(api, connect):
    owners = list(connect().paginate("owners.list", {"limit": 2}))
    assert [o["email"] for o in owners] == ["owner0@example.com", "owner1@example.com", "owner2@example.com"]
    reqs = api.calls("/crm/v3/owners/")
    assert [r.one("after") for r in reqs] == [None, servers.cursor(2)]
    assert all(r.headers["authorization"] == BEARER for r in reqs)


# -- search: `after` in the JSON body --------------------------------------------------------------

def test_search_sends_filters_sorts_and_after_in_the_body_and_walks_every_page(api, connect):
    groups = [{"filters": [{"propertyName": "company", "operator": "EQ", "value": "Acme"}]}]
    sorts = [{"propertyName": "email", "direction": "ASCENDING"}]
    eng = connect()
    first = eng.run("crm.contacts.search", {"filterGroups": groups, "sorts": sorts, "limit": 5,
                                            "properties": ["email", "company"]})
    assert first["total"] == 13 and len(first["results"]) == 5 and first["paging"]["next"]["after"] == "5"
    api.requests.clear()
    found = list(eng.paginate("crm.contacts.search", {"filterGroups": groups, "sorts": sorts, "limit": 5,
                                                      "properties": ["email", "company"]}))
    assert len(found) == 13 and {c["properties"]["company"] for c in found} == {"Acme"}
    assert emails(found) == sorted(emails(found))
    assert len(api.requests) == 3  # 5 + 5 + 3, the last without `paging`
    bodies = [r.body for r in api.requests]
    assert bodies[0] == (b'{"filterGroups":[{"filters":[{"propertyName":"company","operator":"EQ","value":"Acme"}]}],'
                         b'"sorts":[{"propertyName":"email","direction":"ASCENDING"}],'
                         b'"properties":["email","company"],"limit":5}')
    assert [json.loads(b).get("after") for b in bodies] == [None, "5", "10"]
    assert all(r.raw_query == "" and r.headers["content-type"] == "application/json" for r in api.requests)


def test_search_by_text_with_no_match_is_one_empty_page(api, connect):
    assert list(connect().paginate("crm.contacts.search", {"query": "nobody-here"})) == []
    assert len(api.requests) == 1


# -- bodies nested under "properties" --------------------------------------------------------------

def test_create_nests_the_flat_fields_under_properties(api, connect):
    contact = connect().run("crm.contacts.create", {"email": "ada@example.com", "firstname": "Ada",
                                                    "lastname": "Lovelace", "lifecyclestage": "customer"})
    assert contact["id"] == "26" and contact["properties"]["email"] == "ada@example.com"
    (req,) = api.requests
    assert (req.method, req.path) == ("POST", "/crm/v3/objects/contacts")
    assert req.body == (b'{"properties":{"email":"ada@example.com","firstname":"Ada","lastname":"Lovelace",'
                        b'"lifecyclestage":"customer"}}')
    assert req.headers["content-type"] == "application/json" and req.headers["authorization"] == BEARER


def test_associations_stay_at_the_top_beside_the_nested_properties(api, connect):
    links = [{"to": {"id": "101"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]
    connect().run("crm.contacts.create", {"email": "cy@example.com", "associations": links})
    assert api.requests[0].json() == {"properties": {"email": "cy@example.com"}, "associations": links}


def test_custom_properties_given_as_extra_body_are_nested_too(api, connect):
    contact = connect().run("crm.contacts.create", {"email": "bo@example.com"},
                            extra_body={"favorite_color": "teal"})
    assert api.contacts[contact["id"]]["properties"]["favorite_color"] == "teal"
    assert api.requests[0].json() == {"properties": {"email": "bo@example.com", "favorite_color": "teal"}}


def test_update_patches_only_the_fields_given_nested_too(api, connect):
    eng = connect()
    updated = eng.run("crm.contacts.update", {"contactId": "2", "phone": "+1 555 0100", "jobtitle": ""})
    assert updated["properties"]["hs_object_id"] == "2"
    (req,) = api.requests
    assert (req.method, req.path) == ("PATCH", "/crm/v3/objects/contacts/2")
    assert req.json() == {"properties": {"phone": "+1 555 0100", "jobtitle": ""}}
    assert api.contacts["2"]["properties"]["phone"] == "+1 555 0100"


def test_retrieve_by_email_with_id_property(api, connect):
    contact = connect().run("crm.contacts.retrieve", {"contactId": "person7@example.com", "idProperty": "email",
                                                      "properties": ["email", "company"]})
    assert contact["id"] == "7"
    assert api.requests[0].path == "/crm/v3/objects/contacts/person7%40example.com"
    assert api.requests[0].raw_query == "properties=email,company&idProperty=email"


def test_archive_is_a_204_with_no_body_and_the_contact_leaves_the_list(api, connect):
    eng = connect()
    assert eng.run("crm.contacts.archive", {"contactId": "4"}) is None
    result = eng.run("crm.contacts.archive", {"contactId": "4"}, raw=True)  # archiving again is a 204 too
    assert result.status_code == 204 and result.data is None
    assert "4" not in [c["id"] for c in eng.paginate("crm.contacts.list", {"limit": 100})]
    assert [c["id"] for c in eng.paginate("crm.contacts.list", {"archived": True})] == ["4"]
    with pytest.raises(engine.NotFoundError):
        eng.run("crm.contacts.retrieve", {"contactId": "4"})
    assert eng.run("crm.contacts.retrieve", {"contactId": "4", "archived": True})["archived"] is True


def test_batch_read_sends_inputs_and_a_partial_answer_is_a_207(api, connect):
    eng = connect()
    both = eng.run("crm.contacts.batch_read", {"inputs": [{"id": "1"}, {"id": "2"}], "properties": ["email"]})
    assert both["status"] == "COMPLETE" and emails(both["results"]) == ["person1@example.com", "person2@example.com"]
    assert api.requests[0].json() == {"inputs": [{"id": "1"}, {"id": "2"}], "properties": ["email"]}
    partial = eng.run("crm.contacts.batch_read", {"inputs": [{"id": "1"}, {"id": "999"}]}, raw=True)
    assert partial.status_code == 207 and partial.data["numErrors"] == 1
    assert partial.data["errors"][0]["context"] == {"ids": ["999"]}


def test_bad_params_are_refused_before_anything_is_sent(api, connect):
    eng = connect()
    with pytest.raises(engine.ValidationError) as caught:
        eng.run("crm.contacts.list", {"limit": 101, "properties": "email,firstname"})
    assert "limit" in str(caught.value) and "properties" in str(caught.value)
    with pytest.raises(engine.ValidationError, match="email"):
        eng.run("crm.contacts.create", {"firstname": "No email"})
    with pytest.raises(engine.ValidationError, match="inputs"):
        eng.run("crm.contacts.batch_read", {"inputs": [{"id": str(i)} for i in range(101)]})
    with pytest.raises(engine.ValidationError, match="limit"):
        eng.run("crm.contacts.search", {"limit": 201})
    assert api.requests == []


# -- errors ----------------------------------------------------------------------------------------

def test_a_validation_error_is_typed_with_category_code_and_the_property(api, connect):
    with pytest.raises(engine.BadRequestError) as caught:
        connect().run("crm.contacts.create", {"email": "not-an-email", "firstname": "X"})
    err = caught.value
    assert err.message == "HTTP 400: Property values were not valid: Email address not-an-email is invalid"
    assert (err.status_code, err.type, err.code, err.param) == (400, "VALIDATION_ERROR", "INVALID_EMAIL", "email")
    assert err.body["status"] == "error" and err.body["correlationId"]
    assert err.request_id == err.headers["x-hubspot-correlation-id"]
    assert len(api.requests) == 1  # a 400 is not retried


def test_a_missing_contact_is_not_found_and_a_duplicate_email_a_conflict(api, connect):
    eng = connect()
    with pytest.raises(engine.NotFoundError) as caught:
        eng.run("crm.contacts.update", {"contactId": "999", "firstname": "Nobody"})
    assert (caught.value.type, caught.value.message) == ("OBJECT_NOT_FOUND", "HTTP 404: resource not found")
    with pytest.raises(engine.ConflictError) as caught:
        eng.run("crm.contacts.create", {"email": "person1@example.com"})
    assert caught.value.type == "CONFLICT" and caught.value.message.endswith("Existing ID: 1")
    assert caught.value.code is None and caught.value.param is None
    assert len(api.requests) == 2


def test_a_429_waits_its_retry_after_then_succeeds(api, connect):
    api.fail_next(*servers.rate_limited(retry_after=3))
    eng = connect()
    result = eng.run("crm.contacts.retrieve", {"contactId": "1"}, raw=True)
    assert result.data["id"] == "1" and result.attempts == 2
    assert eng.waits == [3] and len(api.requests) == 2
    assert all(r.headers["authorization"] == BEARER for r in api.requests)
    assert result.rate_limits["x-hubspot-ratelimit-max"] == "100"
    assert result.rate_limits["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    assert int(result.rate_limits["x-hubspot-ratelimit-remaining"]) == 98


def test_a_search_walk_waits_out_a_429_mid_way_and_loses_no_page(api, connect):
    api.fail_next(*servers.rate_limited(retry_after=2), method="POST", path="/crm/v3/objects/contacts/search",
                  after=1)
    eng = connect()
    assert len(list(eng.paginate("crm.contacts.search", {"limit": 10}))) == 25
    assert eng.waits == [2]
    assert [json.loads(r.body).get("after") for r in api.requests] == [None, "10", "10", "20"]


def test_the_daily_limit_is_never_retried(api, connect):
    api.fail_next(*servers.rate_limited(retry_after=1, policy="DAILY"))
    eng = connect()
    with pytest.raises(engine.RateLimitError) as caught:
        eng.run("crm.contacts.list")
    err = caught.value
    assert (err.type, err.code) == ("RATE_LIMIT", "DAILY") and err.attempts == 1
    assert err.message == ("HTTP 429: You have reached your daily limit. "
                           "(not retried: the daily request limit is used up)")
    assert eng.waits == [] and len(api.requests) == 1


def test_retries_spent_on_429s_is_a_rate_limit_error(api, connect):
    for _ in range(3):
        api.fail_next(*servers.rate_limited(retry_after=1))
    eng = connect()
    with pytest.raises(engine.RateLimitError) as caught:
        eng.run("crm.contacts.list", max_retries=2)
    assert caught.value.attempts == 3 and eng.waits == [1, 1] and caught.value.code == "TEN_SECONDLY_ROLLING"


class Clock:
    """A fake clock advanced only by the fake sleep."""

    def __init__(self) -> None:
        self.now, self.sleeps, self.lock = 1000.0, [], threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def __call__(self) -> float:
        with self.lock:
            return self.now


def test_map_slows_down_when_the_ten_second_budget_runs_low(api, connect):
    """At 5 requests left in the window or fewer, `map` waits one window (10 s) before the next call."""
    eng = connect()
    clock = Clock()
    eng.transport.sleep, eng.transport.clock = clock.sleep, clock
    api.remaining = 8  # the answers say 7, 6, 5, 4, 3, ...
    out = list(eng.map("crm.contacts.retrieve", [{"contactId": str(i)} for i in range(1, 7)], concurrency=1))
    assert [c["id"] for c in out] == [str(i) for i in range(1, 7)]
    assert clock.sleeps == [10.0, 10.0, 10.0]  # after the answers saying 5, 4 and 3
    assert len(api.requests) == 6


# -- command line, dry runs, sandbox ---------------------------------------------------------------

def test_cli_lists_and_describes():
    code, out, _ = run_cli("actions")
    assert code == 0 and "9 actions" in out
    assert "POST /crm/v3/objects/contacts/search" in out and "GET /owners/v2/owners" in out
    code, out, _ = run_cli("describe", "crm.contacts.search")
    assert code == 0 and "after: string, optional, in body" in out and "pagination: after" in out
    code, out, _ = run_cli("describe", "legacy.owners.list")
    assert code == 0 and "hapikey" in out


def test_dry_runs_show_the_wire_and_no_credential(monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HUBSPOT_API_KEY", HAPIKEY)
    allow = ("--allow-env", "HUBSPOT_ACCESS_TOKEN", "--allow-env", "HUBSPOT_API_KEY")
    code, out, err = run_cli(*allow, "run", "crm.contacts.list", "-p", "limit=100",
                             "-p", 'properties=["email","firstname"]', "--dry-run")
    assert code == 0, err
    assert "'https://api.hubapi.com/crm/v3/objects/contacts?limit=100&properties=email,firstname'" in out
    assert "Authorization: Bearer $HUBSPOT_ACCESS_TOKEN" in out
    code, out, err = run_cli(*allow, "run", "crm.contacts.create", "-p", "email=ada@example.com",
                             "-p", "firstname=Ada", "--dry-run")
    assert code == 0, err
    assert json.loads(out.split("--data-raw ")[1].strip().strip("'")) == {
        "properties": {"email": "ada@example.com", "firstname": "Ada"}}
    code, out2, err2 = run_cli(*allow, "run", "legacy.owners.list", "--dry-run")
    assert code == 0 and "hapikey=${HUBSPOT_API_KEY}" in out2 and "Authorization" not in out2
    for text in (out, err, out2, err2):
        assert TOKEN not in text and HAPIKEY not in text
    with engine.Engine(manifest=MANIFEST, access_token=TOKEN, hapikey=HAPIKEY) as eng:
        for action, params in (("crm.contacts.list", {}), ("legacy.owners.list", {})):
            prepared = eng.prepare(action, params, redact=True)
            assert TOKEN not in str(prepared.headers) + prepared.url and HAPIKEY not in prepared.url


def test_cli_walks_every_page_with_the_token_from_an_allowed_variable(api, monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    walk = ("--base-url", api.url, "run", "crm.contacts.list", "-p", "limit=10", "--all")
    code, _, err = run_cli(*walk)  # a manifest that is not bundled reads no variable unasked
    assert code == 6 and "HUBSPOT_ACCESS_TOKEN" in err and api.requests == []
    code, out, err = run_cli("--allow-env", "HUBSPOT_ACCESS_TOKEN", *walk)
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == [str(i) for i in range(1, 26)]
    assert len(api.requests) == 3 and TOKEN not in out + err


def test_the_sandbox_answers_lists_searches_and_reads_offline():
    with engine.Engine(manifest=MANIFEST, sandbox=True) as eng:
        assert list(eng.paginate("crm.contacts.list", {"limit": 10, "properties": ["email"]})) == []
        assert list(eng.paginate("crm.contacts.search", {"limit": 10})) == []
        assert "status" in eng.run("crm.contacts.batch_read", {"inputs": [{"id": "1"}]})
        with pytest.raises(engine.NotFoundError):
            eng.run("crm.contacts.retrieve", {"contactId": "1"})
    code, out, err = run_cli("--sandbox", "run", "crm.contacts.list", "-p", "limit=5")
    assert code == 0 and json.loads(out) == {"results": []}


def test_the_sandbox_creates_a_contact_from_a_templated_body():
    with engine.Engine(manifest=MANIFEST, sandbox=True) as eng:
        created = eng.run("crm.contacts.create", {"email": "ada@example.com", "firstname": "Ada"})
        assert eng.run("crm.contacts.retrieve", {"contactId": created["id"]})["id"] == created["id"]
        assert created["properties"] == {"email": "ada@example.com", "firstname": "Ada"}  # nested, as sent
        assert list(eng.paginate("crm.contacts.list")) == [created]


def test_the_sandbox_lists_owners_at_their_trailing_slash_path():
    with engine.Engine(manifest=MANIFEST, sandbox=True) as eng:
        assert eng.prepare("owners.list", {}).path_url == "/crm/v3/owners/"
        # No action creates an owner: as for any such type, the sandbox makes one when first listed.
        owners = eng.run("owners.list")["results"]
        assert [sorted(o) for o in owners] == [["id"]] and eng.run("owners.list")["results"] == owners


def test_the_sandbox_answers_a_list_for_an_array_schema():
    with engine.Engine(manifest=MANIFEST, sandbox=True) as eng:
        assert isinstance(eng.run("legacy.owners.list"), list)
