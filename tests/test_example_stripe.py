"""The Stripe example connector (examples/stripe.yaml), end to end against its loopback server.

What is checked is what goes on the wire (Basic auth with the key as username, Stripe-Version, nested
form bytes, paging params) and what comes back (every page, typed errors with Stripe's fields, the
retry on a rate limit, Stripe-Should-Retry)."""
from __future__ import annotations

import base64
import json
import pathlib
from typing import Any, Iterator
from urllib.parse import parse_qsl

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = pathlib.Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "examples" / "stripe.yaml")
stripe_server = server_module("stripe")

KEY = stripe_server.SECRET_KEY


@pytest.fixture(autouse=True)
def _no_stripe_env(monkeypatch):
    for name in ("STRIPE_SECRET_KEY", "STRIPE_VERSION", "STRIPE_ACCOUNT", "STRIPE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[Any]:
    with stripe_server.StripeServer(customers=25, charges=7) as s:
        yield s


@pytest.fixture
def make(server) -> Iterator[Any]:
    """Engines on the server; retry waits are recorded in `.waits` instead of slept."""
    yield from engines(MANIFEST, server.url + "/v1", secret_key=KEY)


@pytest.fixture
def eng(make) -> engine.Engine:
    return make()


def newest_first(server) -> list[str]:
    return [c["id"] for c in sorted(server.customers.values(), key=lambda c: c["created"], reverse=True)]


# -- auth and headers ---------------------------------------------------------------------------------------

def test_secret_key_is_the_basic_username_with_an_empty_password(eng, server):
    customer_id = newest_first(server)[0]
    got = eng.run("customers.retrieve", {"customer": customer_id})
    assert got["id"] == customer_id and got["object"] == "customer"
    (req,) = server.calls()
    assert req.headers["authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert req.headers["stripe-version"] == "2024-06-20"
    assert KEY not in req.path + req.query


def test_stripe_version_and_account_come_from_settings(make, server):
    make(stripe_version="2023-10-16", stripe_account="acct_1Connected").run("customers.list", {"limit": 1})
    assert server.calls()[-1].headers["stripe-version"] == "2023-10-16"
    assert server.calls()[-1].headers["stripe-account"] == "acct_1Connected"
    make().run("customers.list", {"limit": 1})
    assert "stripe-account" not in server.calls()[-1].headers
    with pytest.raises(engine.BadRequestError) as err:
        make(stripe_version="1999-01-01").run("customers.list", {"limit": 1})
    assert err.value.message == "HTTP 400: Invalid Stripe API version: 1999-01-01"


def test_key_and_version_are_read_from_the_environment_only_when_allowed(monkeypatch, server):
    monkeypatch.setenv("STRIPE_SECRET_KEY", KEY)
    monkeypatch.setenv("STRIPE_VERSION", "2024-04-10")
    with engine.Engine(manifest=MANIFEST, base_url=server.url + "/v1") as eng:
        with pytest.raises(engine.MissingCredentialError):
            eng.run("customers.list", {"limit": 1})
    with engine.Engine(manifest=MANIFEST, base_url=server.url + "/v1",
                       allow_env=["STRIPE_SECRET_KEY", "STRIPE_VERSION"]) as eng:
        assert len(eng.run("customers.list", {"limit": 1})["data"]) == 1
    (req,) = server.calls()
    assert req.headers["stripe-version"] == "2024-04-10"


def test_a_wrong_key_is_a_401_with_stripes_message_and_no_secret(make, server):
    wrong = "sk_test_51WrongWrongWrongWrongWrong9999"
    with pytest.raises(engine.AuthenticationError) as err:
        make(secret_key=wrong).run("customers.list", {})
    exc = err.value
    assert exc.status_code == 401 and exc.type == "invalid_request_error"
    assert exc.message.startswith("HTTP 401: Invalid API Key provided: sk_test_") and exc.message.endswith("9999")
    assert exc.request_id and exc.request_id.startswith("req_")
    assert wrong not in str(exc) and wrong not in repr(exc)
    assert len(server.calls()) == 1  # a 401 is not retried


def test_no_key_is_refused_before_anything_is_sent(server):
    with engine.Engine(manifest=MANIFEST, base_url=server.url + "/v1") as eng:
        with pytest.raises(engine.MissingCredentialError):
            eng.run("customers.list", {})
    assert server.calls() == []


# -- form bodies --------------------------------------------------------------------------------------------

def test_nested_form_fields_are_sent_as_stripe_parses_them(eng, server):
    intent = eng.run("payment_intents.create", {
        "amount": 2000, "currency": "usd", "metadata": {"order": "1"}, "payment_method_types": ["card"],
        "shipping": {"name": "Jenny Rosen", "address": {"city": "Berlin", "line1": "Unter den Linden 1"}},
        "confirm": False, "idempotency_key": "order-1"})
    (req,) = server.calls("POST", "/v1/payment_intents")
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.headers["idempotency-key"] == "order-1"
    assert req.body == (b"amount=2000&currency=usd&payment_method_types[0]=card&confirm=false"
                        b"&shipping[name]=Jenny%20Rosen&shipping[address][city]=Berlin"
                        b"&shipping[address][line1]=Unter%20den%20Linden%201&metadata[order]=1")
    assert intent["metadata"] == {"order": "1"} and intent["payment_method_types"] == ["card"]
    assert intent["shipping"]["address"]["city"] == "Berlin"
    assert intent["status"] == "requires_payment_method"


def test_arrays_of_objects_are_indexed(eng, server):
    customer_id = newest_first(server)[0]
    sub = eng.run("subscriptions.create", {
        "customer": customer_id, "items": [{"price": "price_basic"}, {"price": "price_pro", "quantity": 2}],
        "metadata": {"plan": "team"}})
    (req,) = server.calls("POST", "/v1/subscriptions")
    assert "idempotency-key" not in req.headers
    assert req.body == (f"customer={customer_id}&items[0][price]=price_basic"
                        "&items[1][price]=price_pro&items[1][quantity]=2&metadata[plan]=team").encode()
    assert [(i["price"]["id"], i["quantity"]) for i in sub["items"]["data"]] == [("price_basic", 1), ("price_pro", 2)]


def test_invoice_custom_fields_and_an_unknown_price_names_the_nested_param(eng, server):
    customer_id = newest_first(server)[0]
    invoice = eng.run("invoices.create", {
        "customer": customer_id, "collection_method": "send_invoice", "days_until_due": 30,
        "custom_fields": [{"name": "PO", "value": "4711"}, {"name": "Ref", "value": "a&b=c"}]})
    assert invoice["status"] == "draft" and invoice["custom_fields"][1] == {"name": "Ref", "value": "a&b=c"}
    assert b"custom_fields[1][value]=a%26b%3Dc" in server.calls("POST", "/v1/invoices")[0].body
    with pytest.raises(engine.NotFoundError) as err:
        eng.run("subscriptions.create", {"customer": customer_id,
                                         "items": [{"price": "price_basic"}, {"price": "price_gone"}]})
    assert (err.value.code, err.value.param) == ("resource_missing", "items[1][price]")
    assert err.value.message == "HTTP 404: No such price: 'price_gone'"


def test_update_merges_metadata_and_an_empty_value_unsets_a_key(eng, server):
    created = eng.run("customers.create", {"email": "a@example.com", "metadata": {"keep": "1", "drop": "2"}})
    updated = eng.run("customers.update", {"customer": created["id"], "name": "Ann", "metadata": {"drop": ""}})
    assert server.calls("POST")[-1].body == b"name=Ann&metadata[drop]="
    assert updated["metadata"] == {"keep": "1"} and updated["name"] == "Ann"


def test_bad_params_are_refused_before_anything_is_sent(eng, server):
    with pytest.raises(engine.ValidationError) as err:
        eng.run("payment_intents.create", {"amount": 100_000_000, "currency": "USD",
                                           "metadata": {"k" * 41: "v"}, "statement_descriptor": "x" * 23})
    assert [(p.param, p.rule) for p in err.value.problems] == [
        ("amount", "maximum"), ("currency", "pattern"), ("metadata", "maxLength"), ("statement_descriptor", "maxLength")]
    with pytest.raises(engine.ValidationError):
        eng.run("subscriptions.create", {"customer": "cus_1", "items": [{"price": "p"}] * 21})
    assert server.calls() == []


# -- paging -------------------------------------------------------------------------------------------------

def test_a_list_is_walked_to_its_last_page_with_starting_after(eng, server):
    items = list(eng.paginate("customers.list", {"limit": 10}))
    assert [c["id"] for c in items] == newest_first(server)
    pages = server.calls("GET", "/v1/customers")
    assert [dict(parse_qsl(r.query)) for r in pages] == [
        {"limit": "10"},
        {"limit": "10", "starting_after": items[9]["id"]},
        {"limit": "10", "starting_after": items[19]["id"]},
    ]  # the third page says has_more false: no fourth request


def test_ending_before_walks_backwards_to_the_newest(eng, server):
    ids = newest_first(server)
    items = [c["id"] for c in eng.paginate("customers.list", {"limit": 10, "ending_before": ids[-1]})]
    assert sorted(items) == sorted(ids[:-1]) and len(set(items)) == 24
    sent = [dict(parse_qsl(r.query)).get("ending_before") for r in server.calls("GET", "/v1/customers")]
    assert sent == [ids[-1], ids[14], ids[4]]  # each page's first (newest) item


def test_a_checkpoint_resumes_right_after_any_item(make, server):
    walk = make().paginate("customers.list", {"limit": 10})
    first = []
    for item in walk:
        first.append(item["id"])
        if len(first) == 13:
            saved = json.loads(json.dumps(walk.checkpoint))
            break
    before = len(server.calls())
    rest = [c["id"] for c in make().paginate("customers.list", resume=saved)]
    assert first + rest == newest_first(server)
    assert dict(parse_qsl(server.calls()[before].query))["starting_after"] == first[-1]


def test_a_checkpoint_taken_walking_backwards_loses_nothing(make, server):
    """Stripe answers an `ending_before` page newest first, so the rest of a backward page is older than
    the item just handed out: `ending_before=<that item>` would skip it and repeat newer ones."""
    ids = newest_first(server)
    walk = make().paginate("customers.list", {"limit": 10, "ending_before": ids[-1]})
    first = []
    for item in walk:
        first.append(item["id"])
        if len(first) == 3:
            saved = json.loads(json.dumps(walk.checkpoint))
            break
    rest = [c["id"] for c in make().paginate("customers.list", resume=saved)]
    assert len(first + rest) == 24 and sorted(first + rest) == sorted(ids[:-1])


def test_an_empty_list_is_one_request_and_no_items(eng, server):
    assert list(eng.paginate("customers.list", {"email": "nobody@example.com"})) == []
    assert len(server.calls()) == 1


def test_an_empty_page_that_claims_more_is_a_pagination_error(eng, server):
    server.phantom_more.add("/v1/charges")
    got = []
    with pytest.raises(engine.PaginationError):
        for charge in eng.paginate("charges.list", {"limit": 3}):
            got.append(charge["id"])
    assert len(got) == 7  # every real charge was handed out before the walk stopped


def test_charges_filtered_by_a_created_range(eng, server):
    created = sorted(c["created"] for c in server.charges.values())
    got = list(eng.paginate("charges.list", {"created": {"gte": created[2], "lt": created[5]}, "limit": 2}))
    assert sorted(c["created"] for c in got) == created[2:5]
    assert server.calls()[0].query_params()["created"] == {"gte": str(created[2]), "lt": str(created[5])}


def test_search_follows_next_page_into_page(eng, server):
    items = list(eng.paginate("customers.search", {"query": "email~'example.com'", "limit": 10}))
    assert [c["id"] for c in items] == newest_first(server)
    calls = server.calls("GET", "/v1/customers/search")
    assert len(calls) == 3 and "page" not in calls[0].query_params()
    assert all(c.query_params()["query"] == "email~'example.com'" for c in calls)
    tokens = [c.query_params().get("page") for c in calls[1:]]
    assert all(tokens) and len(set(tokens)) == 2


def test_a_bad_search_query_is_a_typed_400(eng):
    with pytest.raises(engine.BadRequestError) as err:
        eng.run("customers.search", {"query": "email = 'x'"})
    assert (err.value.type, err.value.code, err.value.param) == ("invalid_request_error", "parameter_invalid", "query")


# -- errors and retries -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, code, param, decline", [
    ("pm_card_chargeDeclined", "card_declined", None, "generic_decline"),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "cvc", None),
])
def test_a_declined_card_is_a_402_card_error(eng, server, method, code, param, decline):
    with pytest.raises(engine.APIStatusError) as err:
        eng.run("payment_intents.create", {"amount": 2000, "currency": "usd", "payment_method": method,
                                           "confirm": True})
    exc = err.value
    assert type(exc) is engine.APIStatusError  # 402 has no subclass of its own
    assert exc.status_code == 402 and (exc.type, exc.code, exc.param) == ("card_error", code, param)
    assert exc.body["error"].get("decline_code") == decline
    assert exc.body["error"]["payment_intent"]["status"] == "requires_payment_method"
    assert len(server.calls()) == 1  # a decline is final


def test_an_amount_below_the_minimum_is_a_typed_400(eng):
    with pytest.raises(engine.BadRequestError) as err:
        eng.run("payment_intents.create", {"amount": 10, "currency": "usd"})
    assert (err.value.code, err.value.param) == ("amount_too_small", "amount")


def test_a_deleted_customer_is_gone(eng, server):
    customer_id = newest_first(server)[0]
    assert eng.run("customers.delete", {"customer": customer_id}) == {
        "id": customer_id, "object": "customer", "deleted": True}
    with pytest.raises(engine.NotFoundError) as err:
        eng.run("customers.retrieve", {"customer": customer_id})
    assert (err.value.code, err.value.param) == ("resource_missing", "id")
    assert err.value.message == f"HTTP 404: No such customer: '{customer_id}'"


def test_a_rate_limit_is_retried_once_and_the_customer_made_once(eng, server):
    server.fail_next("POST", "/v1/customers", 429, {
        "type": "invalid_request_error", "code": "rate_limit",
        "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your "
                   "requests."})
    before = len(server.customers)
    result = eng.run("customers.create", {"email": "r@example.com", "idempotency_key": "k-429"}, raw=True)
    assert result.data["email"] == "r@example.com" and result.attempts == 2
    assert len(server.customers) == before + 1
    calls = server.calls("POST", "/v1/customers")
    assert [c.headers["idempotency-key"] for c in calls] == ["k-429", "k-429"]
    assert calls[0].body == calls[1].body == b"email=r%40example.com"
    assert len(eng.waits) == 1


def test_rate_limit_that_persists_is_a_rate_limit_error(eng, server):
    error = {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}
    for _ in range(3):
        server.fail_next("GET", "/v1/customers", 429, error)
    with pytest.raises(engine.RateLimitError) as err:
        eng.run("customers.list", {})
    assert err.value.code == "rate_limit" and len(server.calls()) == 3  # max_retries: 2


@pytest.mark.parametrize("status, header, attempts", [(500, "false", 1), (409, "false", 1), (400, "true", 2)])
def test_stripe_should_retry_decides(eng, server, status, header, attempts):
    server.fail_next("POST", "/v1/customers", status, {"type": "api_error", "message": "try later"},
                     {"Stripe-Should-Retry": header})
    if attempts == 1:
        with pytest.raises(engine.APIStatusError) as err:
            eng.run("customers.create", {"email": "s@example.com"})
        assert err.value.status_code == status
    else:
        assert eng.run("customers.create", {"email": "s@example.com"})["email"] == "s@example.com"
    assert len(server.calls()) == attempts


def test_an_idempotency_key_replays_the_first_answer(eng, server):
    first = eng.run("customers.create", {"email": "i@example.com", "idempotency_key": "same"}, raw=True)
    again = eng.run("customers.create", {"email": "i@example.com", "idempotency_key": "same"}, raw=True)
    assert again.data["id"] == first.data["id"] and again.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(engine.BadRequestError) as err:
        eng.run("customers.create", {"email": "other@example.com", "idempotency_key": "same"})
    assert err.value.type == "idempotency_error"


def test_expand_is_sent_as_stripe_lists_it(eng, server):
    customer_id = newest_first(server)[0]
    intent = eng.run("payment_intents.create", {"amount": 500, "currency": "eur", "customer": customer_id,
                                                "payment_method": "pm_card_visa", "confirm": True,
                                                "expand": ["customer"]})
    assert intent["status"] == "succeeded" and intent["customer"]["id"] == customer_id
    assert server.calls()[-1].body.endswith(b"&expand[0]=customer")
    again = eng.run("payment_intents.retrieve", {"intent": intent["id"], "expand": ["customer"]})
    assert again["customer"]["email"] == intent["customer"]["email"]
    assert server.calls()[-1].query == "expand%5B%5D=customer"


# -- command line -------------------------------------------------------------------------------------------

run_cli = cli_runner("--manifest", MANIFEST)


def test_cli_lists_describes_and_dry_runs(monkeypatch):
    code, out, _ = run_cli("actions")
    assert code == 0
    for name in ("customers.create", "customers.search", "payment_intents.create", "invoices.create",
                 "subscriptions.create", "charges.list"):
        assert name in out
    code, out, _ = run_cli("describe", "customers.search")
    assert code == 0 and "query" in out and "page" in out
    monkeypatch.setenv("STRIPE_SECRET_KEY", KEY)
    code, out, err = run_cli("run", "payment_intents.create", "-p", "amount=2000", "-p", "currency=usd",
                             "-p", 'metadata={"order": "1"}', "--dry-run")
    assert code == 0, err
    assert "https://api.stripe.com/v1/payment_intents" in out
    assert "amount=2000&currency=usd&metadata[order]=1" in out
    assert KEY not in out


def test_cli_walks_every_page(monkeypatch, server):
    monkeypatch.setenv("STRIPE_SECRET_KEY", KEY)
    code, out, err = run_cli("--allow-env", "STRIPE_SECRET_KEY", "--base-url", server.url + "/v1", "run",
                             "customers.list", "-p", "limit=10", "--all")
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == newest_first(server)
