"""The Twilio example connector (examples/twilio.yaml), end to end against its loopback server.

What is checked is what goes on the wire (Basic auth with the Account SID and Auth Token or an API key,
the Account SID in every path from a setting, form bytes with repeated `MediaUrl`, `DateSent<` filters)
and what comes back (every page by the relative `next_page_uri` until it is null, typed errors with
Twilio's code and message, the retry of a 429, a call polled until it ends), through the Engine and
through the command line."""
from __future__ import annotations

import base64
import json
import pathlib
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = pathlib.Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "examples" / "twilio.yaml")
twilio_server = server_module("twilio")

SID = twilio_server.ACCOUNT_SID
TOKEN = twilio_server.AUTH_TOKEN
BASIC = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
ENV = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET", "TWILIO_BASE_URL")
ME, SENDER = "+15558675310", "+15017122661"


@pytest.fixture(autouse=True)
def _no_twilio_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[Any]:
    with twilio_server.TwilioServer(messages=8, calls=4, numbers=3) as s:
        yield s


@pytest.fixture
def make(server) -> Iterator[Any]:
    """Engines on the server; retry and poll waits are recorded in `.waits` instead of slept."""
    yield from engines(MANIFEST, server.url, auth_token=server.login, account_sid=server.account_sid)


@pytest.fixture
def eng(make) -> engine.Engine:
    return make()


def newest_first(store: dict[str, dict[str, Any]]) -> list[str]:
    return [o["sid"] for o in sorted(store.values(), key=lambda o: (o["_order"], o["sid"]), reverse=True)]


def sent_query(req) -> list[tuple[str, str]]:
    return parse_qsl(req.query_string, keep_blank_values=True)


# -- auth and the account in the path -----------------------------------------------------------------------

def test_basic_auth_is_the_account_sid_and_auth_token_and_the_sid_is_in_the_path(eng, server):
    account = eng.run("accounts.retrieve")
    assert account["sid"] == SID and account["status"] == "active"
    (req,) = server.calls()
    assert (req.method, req.path) == ("GET", f"/2010-04-01/Accounts/{SID}.json")
    assert req.headers["authorization"] == BASIC


def test_an_api_key_is_the_other_credential_chosen_by_a_layer(server, tmp_path):
    layer = tmp_path / "api_key.yaml"
    layer.write_text("manifest_version: 2\nconnector:\n  default_credential: api_key\n")
    with engine.Engine(manifest=[MANIFEST, str(layer)], base_url=server.url, api_key=server.api_key,
                       account_sid=SID) as e:
        assert e.run("accounts.retrieve")["sid"] == SID
    want = b"Basic " + base64.b64encode(f"{twilio_server.API_KEY_SID}:{twilio_server.API_KEY_SECRET}".encode())
    assert server.calls()[-1].headers["authorization"] == want.decode()
    # Without the layer the same pair goes in the default slot: the wire is the same.
    with engine.Engine(manifest=MANIFEST, base_url=server.url, auth_token=server.api_key, account_sid=SID) as e:
        assert e.run("accounts.retrieve")["sid"] == SID
    assert server.calls()[-1].headers["authorization"] == want.decode()


def test_a_wrong_token_is_a_typed_401_that_never_shows_the_token(make, server):
    wrong = "twilio-WRONG-secret-token-0000"
    with pytest.raises(engine.AuthenticationError) as err:
        make(auth_token=(SID, wrong)).run("messages.list", {})
    exc = err.value
    assert exc.status_code == 401 and exc.code == 20003
    assert exc.message == "HTTP 401: Authenticate"
    assert exc.body["more_info"] == "https://www.twilio.com/docs/errors/20003"
    assert exc.request_id.startswith("RQ")
    assert wrong not in str(exc) and wrong not in repr(exc)
    assert len(server.calls()) == 1  # a 401 is not retried


def test_no_credential_or_no_account_sid_is_refused_before_anything_is_sent(server):
    with engine.Engine(manifest=MANIFEST, base_url=server.url, account_sid=SID) as e:
        with pytest.raises(engine.MissingCredentialError):
            e.run("messages.list", {})
    with engine.Engine(manifest=MANIFEST, base_url=server.url, auth_token=server.login) as e:
        with pytest.raises(engine.TemplateError, match="config.account_sid"):
            e.run("messages.list", {})
    assert server.calls() == []


def test_a_subaccount_is_another_engine_and_other_accounts_are_refused(make, server):
    other = "AC" + "9" * 32
    with pytest.raises(engine.AuthenticationError) as err:
        make(account_sid=other).run("accounts.retrieve")
    assert err.value.code == 20003
    assert server.calls()[0].path == f"/2010-04-01/Accounts/{other}.json"


# -- form bodies --------------------------------------------------------------------------------------------

def test_a_message_is_sent_as_a_form_with_media_urls_repeated(eng, server):
    message = eng.run("messages.create", {
        "To": ME, "From": SENDER, "Body": "Hello & welcome",
        "MediaUrl": ["https://demo.twilio.com/owl.png", "https://demo.twilio.com/cat.jpg?size=2"],
        "StatusCallback": "https://example.com/status"}, raw=True)
    assert message.status_code == 201
    (req,) = server.calls("POST", server.path("/Messages.json"))
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.headers["authorization"] == BASIC
    assert req.body == (b"To=%2B15558675310&From=%2B15017122661&Body=Hello%20%26%20welcome"
                        b"&MediaUrl=https%3A%2F%2Fdemo.twilio.com%2Fowl.png"
                        b"&MediaUrl=https%3A%2F%2Fdemo.twilio.com%2Fcat.jpg%3Fsize%3D2"
                        b"&StatusCallback=https%3A%2F%2Fexample.com%2Fstatus")
    assert req.form()["MediaUrl"] == ["https://demo.twilio.com/owl.png", "https://demo.twilio.com/cat.jpg?size=2"]
    data = message.data
    assert data["sid"].startswith("MM") and data["num_media"] == "2" and data["status"] == "queued"
    assert (data["to"], data["from"], data["body"]) == (ME, SENDER, "Hello & welcome")
    assert server.messages[data["sid"]]["_status_callback"] == "https://example.com/status"


def test_redacting_a_message_sends_an_empty_body(eng, server):
    sid = newest_first(server.messages)[0]
    updated = eng.run("messages.update", {"Sid": sid, "Body": ""})
    (req,) = server.calls("POST")
    assert req.path == server.path(f"/Messages/{sid}.json") and req.body == b"Body="
    assert updated["sid"] == sid and updated["body"] == ""
    assert eng.run("messages.retrieve", {"Sid": sid})["body"] == ""


def test_only_a_scheduled_message_can_be_canceled(eng, server):
    sid = newest_first(server.messages)[0]
    with pytest.raises(engine.BadRequestError) as err:
        eng.run("messages.update", {"Sid": sid, "Status": "canceled"})
    assert err.value.code == 20001 and server.calls()[-1].body == b"Status=canceled"
    server.messages[sid]["status"] = "scheduled"
    assert eng.run("messages.update", {"Sid": sid, "Status": "canceled"})["status"] == "canceled"


def test_a_deleted_message_is_204_then_a_typed_404(eng, server):
    sid = newest_first(server.messages)[0]
    result = eng.run("messages.delete", {"Sid": sid}, raw=True)
    assert result.status_code == 204 and result.data is None
    assert server.calls()[-1].method == "DELETE" and server.calls()[-1].body == b""
    with pytest.raises(engine.NotFoundError) as err:
        eng.run("messages.retrieve", {"Sid": sid})
    exc = err.value
    assert exc.code == 20404 and exc.body["status"] == 404
    assert exc.body["more_info"] == "https://www.twilio.com/docs/errors/20404"
    assert exc.message.startswith("HTTP 404: The requested resource /2010-04-01/Accounts/")
    assert exc.message.endswith(f"/Messages/{sid}.json was not found")


def test_a_call_with_inline_twiml_and_repeated_callback_events(eng, server):
    call = eng.run("calls.create", {
        "To": ME, "From": SENDER, "Twiml": "<Response><Say>Ahoy & hi</Say></Response>",
        "StatusCallback": "https://example.com/calls", "StatusCallbackEvent": ["ringing", "answered", "completed"],
        "Record": True, "Timeout": 20})
    (req,) = server.calls("POST", server.path("/Calls.json"))
    assert req.body == (b"To=%2B15558675310&From=%2B15017122661"
                        b"&Twiml=%3CResponse%3E%3CSay%3EAhoy%20%26%20hi%3C%2FSay%3E%3C%2FResponse%3E"
                        b"&StatusCallback=https%3A%2F%2Fexample.com%2Fcalls"
                        b"&StatusCallbackEvent=ringing&StatusCallbackEvent=answered&StatusCallbackEvent=completed"
                        b"&Timeout=20&Record=true")
    assert call["sid"].startswith("CA") and call["status"] == "queued"


def test_bad_params_are_refused_before_anything_is_sent(eng, server):
    with pytest.raises(engine.ValidationError) as err:
        eng.run("messages.update", {"Sid": "SM123", "Body": "not empty"})
    assert sorted((p.param, p.rule) for p in err.value.problems) == [("Body", "const"), ("Sid", "pattern")]
    with pytest.raises(engine.ValidationError) as err:
        eng.run("messages.list", {"DateSentBefore": "yesterday", "PageSize": 1001})
    assert sorted((p.param, p.rule) for p in err.value.problems) == [("DateSentBefore", "pattern"),
                                                                    ("PageSize", "maximum")]
    with pytest.raises(engine.ValidationError) as err:
        eng.run("messages.create", {"Body": "hi", "MediaUrl": ["u"] * 11})
    assert sorted((p.param, p.rule) for p in err.value.problems) == [("MediaUrl", "maxItems"), ("To", "required")]
    assert server.calls() == []


# -- paging -------------------------------------------------------------------------------------------------

def test_every_page_is_walked_by_the_relative_next_page_uri(eng, server):
    items = list(eng.paginate("messages.list", {"PageSize": 3}))
    assert [m["sid"] for m in items] == newest_first(server.messages)
    pages = server.calls("GET", server.path("/Messages.json"))
    assert [sent_query(r) for r in pages] == [
        [("PageSize", "3")],
        [("PageSize", "3"), ("Page", "1"), ("PageToken", "PA" + items[2]["sid"])],
        [("PageSize", "3"), ("Page", "2"), ("PageToken", "PA" + items[5]["sid"])],
    ]  # the third page's next_page_uri is null: no fourth request
    assert all(r.headers["authorization"] == BASIC for r in pages)


def test_a_page_says_where_the_next_one_is_and_the_last_says_null(eng, server):
    first = eng.run("messages.list", {"PageSize": 5})
    assert (first["page"], first["page_size"], len(first["messages"])) == (0, 5, 5)
    next_uri = first["next_page_uri"]
    assert next_uri.startswith(f"/2010-04-01/Accounts/{SID}/Messages.json?") and "PageToken=PA" in next_uri
    query = dict(parse_qsl(urlsplit(next_uri).query))
    last = eng.run("messages.list", {"PageSize": 5, "Page": int(query["Page"]), "PageToken": query["PageToken"]})
    assert last["page"] == 1 and len(last["messages"]) == 3 and last["next_page_uri"] is None


def test_date_filters_go_out_with_their_operator_names_and_stay_on_every_page(eng, server):
    got = list(eng.paginate("messages.list", {"DateSentAfter": "2024-03-02", "DateSentBefore": "2024-03-07",
                                              "PageSize": 2}))
    assert [m["date_sent"][5:16] for m in got] == [
        "07 Mar 2024", "06 Mar 2024", "05 Mar 2024", "04 Mar 2024", "03 Mar 2024", "02 Mar 2024"]
    pages = server.calls("GET", server.path("/Messages.json"))
    assert len(pages) == 3
    assert pages[0].query_string == "DateSent%3C=2024-03-07&DateSent%3E=2024-03-02&PageSize=2"  # declared order
    for page in pages:
        assert page.query["DateSent>"] == ["2024-03-02"] and page.query["DateSent<"] == ["2024-03-07"]


def test_to_and_date_sent_filters(eng, server):
    to = server.messages[newest_first(server.messages)[0]]["to"]
    got = list(eng.paginate("messages.list", {"To": to, "PageSize": 1}))
    assert got and all(m["to"] == to for m in got)
    assert [m["sid"] for m in got] == [s for s in newest_first(server.messages) if server.messages[s]["to"] == to]
    (one,) = eng.paginate("messages.list", {"DateSent": "2024-03-04"})
    assert one["body"] == "Message 3"


def test_calls_and_numbers_read_their_items_under_their_own_names(eng, server):
    calls = list(eng.paginate("calls.list", {"PageSize": 3}))
    assert [c["sid"] for c in calls] == newest_first(server.calls_)
    numbers = list(eng.paginate("incoming_phone_numbers.list", {"PageSize": 2}))
    assert [n["sid"] for n in numbers] == newest_first(server.numbers)
    assert len(server.calls("GET", server.path("/Calls.json"))) == 2
    assert len(server.calls("GET", server.path("/IncomingPhoneNumbers.json"))) == 2


def test_an_empty_list_is_one_request(eng, server):
    assert list(eng.paginate("messages.list", {"To": "+19990000000"})) == []
    assert len(server.calls()) == 1


def test_a_checkpoint_resumes_the_walk_on_the_next_page_uri(make, server):
    walk = make().paginate("messages.list", {"PageSize": 3})
    first = []
    for item in walk:
        first.append(item["sid"])
        if len(first) == 4:
            saved = json.loads(json.dumps(walk.checkpoint))
            break
    rest = [m["sid"] for m in make().paginate("messages.list", resume=saved)]
    assert first + rest == newest_first(server.messages)


# -- errors and retries -------------------------------------------------------------------------------------

def test_an_invalid_to_number_is_a_typed_400_with_twilios_code(eng, server):
    before = len(server.messages)
    with pytest.raises(engine.BadRequestError) as err:
        eng.run("messages.create", {"To": "+1555", "From": SENDER, "Body": "hi"})
    exc = err.value
    assert (exc.status_code, exc.code) == (400, 21211)
    assert exc.message == "HTTP 400: Invalid 'To' Phone Number: +1555"
    assert exc.body == {"code": 21211, "message": "Invalid 'To' Phone Number: +1555",
                        "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}
    assert len(server.calls()) == 1 and len(server.messages) == before  # a 400 is final


@pytest.mark.parametrize("params, code", [({"To": ME, "From": SENDER}, 21602), ({"To": ME, "Body": "x"}, 21603)])
def test_what_a_message_lacks_is_twilios_400(eng, params, code):
    with pytest.raises(engine.BadRequestError) as err:
        eng.run("messages.create", params)
    assert err.value.code == code


def test_a_429_is_retried_and_the_message_sent_once(eng, server):
    server.throttle_next("POST", server.path("/Messages.json"))
    before = len(server.messages)
    result = eng.run("messages.create", {"To": ME, "From": SENDER, "Body": "retry me"}, raw=True)
    assert result.status_code == 201 and result.attempts == 2
    assert len(server.messages) == before + 1
    first, second = server.calls("POST", server.path("/Messages.json"))
    assert first.body == second.body == b"To=%2B15558675310&From=%2B15017122661&Body=retry%20me"
    assert eng.waits == [1.0]  # initial_delay, no jitter in tests


def test_a_429_that_persists_is_a_rate_limit_error_with_code_20429(eng, server):
    server.throttle_next("GET", server.path("/Calls.json"), times=3)
    with pytest.raises(engine.RateLimitError) as err:
        eng.run("calls.list", {})
    exc = err.value
    assert exc.code == 20429 and exc.message == "HTTP 429: Too Many Requests" and exc.attempts == 3
    assert len(server.calls()) == 3 and eng.waits == [1.0, 2.0]


def test_a_page_walk_rides_out_a_429(eng, server):
    server.throttle_next("GET", server.path("/Messages.json"))
    assert len(list(eng.paginate("messages.list", {"PageSize": 4}))) == 8
    assert len(server.calls()) == 3


def test_a_server_error_on_a_create_is_not_retried(eng, server):
    server.faults.add(twilio_server.TwilioError(500, 20500, "Internal Server Error"), "POST",
                      server.path("/Calls.json"))
    with pytest.raises(engine.InternalServerError) as err:
        eng.run("calls.create", {"To": ME, "From": SENDER, "Url": "https://example.com/twiml"})
    assert err.value.code == 20500 and len(server.calls()) == 1


# -- the composite: create a call, then poll it until it ends -----------------------------------------------

def test_create_and_wait_polls_the_call_until_it_completes(eng, server):
    call = eng.run("calls.create_and_wait", {"To": ME, "From": SENDER, "Url": "https://example.com/twiml",
                                             "poll_interval": 0.5})
    assert call["status"] == "completed" and call["end_time"] is not None
    reqs = server.calls()
    assert (reqs[0].method, reqs[0].path) == ("POST", server.path("/Calls.json"))
    assert reqs[0].body == b"To=%2B15558675310&From=%2B15017122661&Url=https%3A%2F%2Fexample.com%2Ftwiml"
    assert [(r.method, r.path) for r in reqs[1:]] == [("GET", server.path(f"/Calls/{call['sid']}.json"))] * 3
    assert eng.waits == [0.5, 0.5, 0.5]  # queued -> ringing -> in-progress -> completed


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed", "canceled"])
def test_create_and_wait_ends_on_every_final_status(eng, server, outcome):
    server.outcomes[ME] = outcome
    call = eng.run("calls.create_and_wait", {"To": ME, "From": SENDER, "Twiml": "<Response/>", "poll_interval": 0.01})
    assert call["status"] == outcome
    assert len(server.calls("GET")) == 2  # ringing, then the outcome


def test_create_and_wait_gives_up_at_its_deadline_with_the_last_call_seen(make, server):
    server.outcomes[ME] = "busy"
    server.progress.clear()
    e = make(sleep=True)
    original = server._new_call

    def never_ends(form, status="queued"):
        call = original(form, status)
        server.progress[call["sid"]] = ["ringing"] + ["in-progress"] * 10_000
        return call

    server._new_call = never_ends
    with pytest.raises(engine.PollTimeoutError) as err:
        e.run("calls.create_and_wait", {"To": ME, "From": SENDER, "Twiml": "<Response/>",
                                        "poll_interval": 0.02, "poll_timeout": 0.2})
    assert err.value.body["status"] == "in-progress" and err.value.body["sid"].startswith("CA")


def test_create_and_wait_without_twiml_fails_at_the_create_with_twilios_400(eng, server):
    with pytest.raises(engine.BadRequestError) as err:
        eng.run("calls.create_and_wait", {"To": ME, "From": SENDER})
    assert err.value.code == 21205 and len(server.calls()) == 1


# -- platform: the From dropdown -------------------------------------------------------

def test_a_poll_interval_of_zero_is_refused_before_the_call_is_placed(eng, server):
    with pytest.raises(engine.ValidationError) as err:
        eng.run("calls.create_and_wait", {"To": ME, "From": SENDER, "Twiml": "<Response/>", "poll_interval": 0})
    assert [(p.param, p.rule) for p in err.value.problems] == [("poll_interval", "exclusiveMinimum")]
    assert server.calls() == []


def test_the_from_numbers_dropdown(make, server):
    options = make().options("messages.create", "From")
    assert [o["value"] for o in options] == [server.numbers[s]["phone_number"] for s in newest_first(server.numbers)]
    assert options[0]["label"] == "Line 2 (+14155550002)"


# -- command line -------------------------------------------------------------------------------------------

run_cli = cli_runner("--manifest", MANIFEST)


def test_cli_lists_describes_and_dry_runs(monkeypatch):
    code, out, _ = run_cli("actions")
    assert code == 0
    for name in ("messages.create", "messages.list", "messages.retrieve", "messages.update", "messages.delete",
                 "calls.create", "calls.list", "calls.retrieve", "incoming_phone_numbers.list",
                 "accounts.retrieve", "calls.create_and_wait"):
        assert name in out
    code, out, _ = run_cli("describe", "messages.list")
    assert code == 0 and "DateSentBefore" in out and "DateSent<" in out and "pagination: next_page_uri" in out
    code, out, _ = run_cli("describe", "calls.create_and_wait")
    assert code == 0 and "poll_timeout" in out and "Twiml" in out

    # The account SID is a setting: on the command line it comes from the environment, when allowed.
    code, _, err = run_cli("run", "messages.list", "--dry-run")
    assert code == 1 and "config.account_sid" in err
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    code, out, err = run_cli("--allow-env", "TWILIO_ACCOUNT_SID", "run", "messages.create", "-p", f"To={ME}",
                             "-p", f"From={SENDER}", "-p", "Body=Hi",
                             "-p", 'MediaUrl=["https://a.example/1.png","https://a.example/2.png"]', "--dry-run")
    assert code == 0, err
    assert f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json" in out
    assert '-u "$TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN"' in out
    assert ("To=%2B15558675310&From=%2B15017122661&Body=Hi&MediaUrl=https%3A%2F%2Fa.example%2F1.png"
            "&MediaUrl=https%3A%2F%2Fa.example%2F2.png") in out
    code, out, err = run_cli("--allow-env", "TWILIO_ACCOUNT_SID", "run", "messages.list", "-p",
                             "DateSentAfter=2024-03-02", "--dry-run")
    assert code == 0, err
    assert "Messages.json?DateSent%3E=2024-03-02" in out


def test_cli_walks_every_page_and_reports_twilios_errors(monkeypatch, server):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    allow = ("--allow-env", "TWILIO_ACCOUNT_SID", "--allow-env", "TWILIO_AUTH_TOKEN", "--base-url", server.url)
    code, out, err = run_cli(*allow, "run", "messages.list", "-p", "PageSize=3", "--all")
    assert code == 0, err
    assert [json.loads(line)["sid"] for line in out.splitlines()] == newest_first(server.messages)
    assert len(server.calls()) == 3 and all(r.headers["authorization"] == BASIC for r in server.calls())
    code, out, err = run_cli(*allow, "run", "messages.create", "-p", "To=+1555", "-p", f"From={SENDER}",
                             "-p", "Body=hi")
    assert code == 4 and "Invalid 'To' Phone Number: +1555" in err and "21211" in err
    assert TOKEN not in out + err
