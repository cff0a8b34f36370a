"""The retry policy on real sockets: what is retried, how often, how long it waits, and what never is.

Expected waits come from the policy the API's official SDKs follow (and the
manifest declares): 0.5 s doubling per retry up to 8 s, minus up to 25 %
jitter; a server's `retry-after-ms` / `Retry-After` wins up to a 60 s cap;
`x-should-retry` overrides the status. The Transport's `sleep`, `clock` and
`rand` are patched, so nothing here really waits.
"""
from __future__ import annotations

import email.utils
import textwrap

import pytest

import engine
from engine.manifest import BUNDLED
from conftest import API_KEY
from loopback import Reply

OK = Reply(200, {"object": "list", "data": []}, {"x-request-id": "req_ok"})
NOW = 1_700_000_000  # a fixed clock for HTTP-date arithmetic


def busy(status: int = 503, headers: dict | None = None, body: dict | None = None) -> Reply:
    return Reply(status, body or {"error": {"message": "busy", "type": "server_error"}}, headers)


@pytest.fixture
def make(loopback_engine):
    """Engines on the loopback server under the declared policy unless told, waits recorded, clock fixed."""
    def build(max_retries=None, **options):
        eng = loopback_engine(max_retries, record_waits=True, **options)
        eng.transport.clock = lambda: float(NOW)
        return eng
    return build


@pytest.fixture
def leng(make):
    return make()  # the declared policy: max_retries 2


def hits(srv, path="/v1/models"):
    return sum(r.path == path for r in srv.requests)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 520, 599])
def test_retryable_statuses_twice_then_success(srv, leng, status):
    srv.script("GET", "/v1/models", busy(status), busy(status), OK)
    res = leng.run("models.list", raw=True)
    assert res.data == {"object": "list", "data": []}
    assert res.attempts == 3 and hits(srv) == 3
    assert leng.waits == [0.5, 1.0] and res.waits == [0.5, 1.0]
    assert res.request_id == "req_ok" and res.status_code == 200


@pytest.mark.parametrize("status,cls", [(400, engine.BadRequestError), (401, engine.AuthenticationError),
                                        (403, engine.PermissionDeniedError), (404, engine.NotFoundError),
                                        (422, engine.UnprocessableEntityError)])
def test_other_client_errors_are_not_retried(srv, leng, status, cls):
    srv.script("GET", "/v1/models", busy(status), OK)
    with pytest.raises(cls) as info:
        leng.run("models.list")
    assert info.value.attempts == 1 and hits(srv) == 1 and leng.waits == []


def test_gives_up_after_max_retries_with_the_last_answer(srv, leng):
    srv.script("GET", "/v1/models", busy(500), busy(502), busy(503, {"x-request-id": "req_last"}), OK)
    with pytest.raises(engine.InternalServerError) as info:
        leng.run("models.list")
    err = info.value
    assert (err.status_code, err.attempts, err.request_id) == (503, 3, "req_last")
    assert hits(srv) == 3 and leng.waits == [0.5, 1.0]
    assert "not retried" not in str(err) and "attempts=3" in str(err)


def test_backoff_doubles_up_to_the_cap_minus_jitter(srv, make):
    eng = make(max_retries=6)
    eng.transport.rand = lambda: 1.0  # the most jitter: a quarter off
    srv.route("GET", "/v1/models", lambda req: busy())
    with pytest.raises(engine.InternalServerError) as info:
        eng.run("models.list")
    assert eng.waits == [0.375, 0.75, 1.5, 3.0, 6.0, 6.0]
    assert info.value.attempts == 7 and hits(srv) == 7


def test_jitter_is_drawn_per_wait(srv, leng):
    draws = iter([0.2, 0.6])
    leng.transport.rand = lambda: next(draws)
    srv.script("GET", "/v1/models", busy(), busy(), OK)
    leng.run("models.list")
    assert leng.waits == pytest.approx([0.5 * (1 - 0.25 * 0.2), 1.0 * (1 - 0.25 * 0.6)])


def test_max_retries_per_engine_and_per_call(srv, make):
    eng = make(max_retries=4)
    srv.route("GET", "/v1/models", lambda req: busy())
    with pytest.raises(engine.InternalServerError) as info:
        eng.run("models.list")
    assert info.value.attempts == 5 and hits(srv) == 5
    for per_call, attempts in ((1, 2), (0, 1), (3, 4)):
        before = hits(srv)
        with pytest.raises(engine.InternalServerError) as info:
            eng.run("models.list", max_retries=per_call)
        assert info.value.attempts == attempts and hits(srv) - before == attempts


def test_the_connector_policy_is_data_a_layered_manifest_can_change(srv, tmp_path):
    mine = tmp_path / "policy.yaml"
    mine.write_text(textwrap.dedent("""\
        connector:
          retry:
            max_retries: 4
            initial_delay: 0.25
            max_delay: 1.0
            jitter: 0.0
            statuses: [418]
            retry_5xx: false
        """))
    eng = engine.Engine(engine.load([BUNDLED, mine]), api_key=API_KEY, base_url=srv.url + "/v1")
    waits = []
    eng.transport.sleep = waits.append
    srv.script("GET", "/v1/models", busy(418), busy(418), busy(418), busy(418), OK)
    assert eng.run("models.list", raw=True).attempts == 5
    assert waits == [0.25, 0.5, 1.0, 1.0]
    srv.script("GET", "/v1/models", busy(503), OK)
    with pytest.raises(engine.InternalServerError) as info:
        eng.run("models.list")
    assert info.value.attempts == 1


# --- what the server asks for ------------------------------------------------------

@pytest.mark.parametrize("headers,wait", [
    ({"retry-after-ms": "1500"}, 1.5),
    ({"Retry-After": "3"}, 3.0),
    ({"Retry-After": "2.5"}, 2.5),
    ({"Retry-After": email.utils.formatdate(NOW + 7, usegmt=True)}, 7.0),
    ({"retry-after-ms": "250", "Retry-After": "30"}, 0.25),  # the finer one wins
    ({"Retry-After": "60"}, 60.0),                             # exactly the cap is still honoured
    ({"Retry-After": "0"}, 0.5),                               # no wait asked: the backoff applies
    ({"Retry-After": "-4"}, 0.5),
    ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.5),  # a date already past
    ({"Retry-After": "soon"}, 0.5),
    ({"Retry-After": "nan"}, 0.5),
    ({"retry-after-ms": "nan"}, 0.5),
    ({"retry-after-ms": "inf", "Retry-After": "2"}, 2.0),
])
def test_429_honours_the_servers_wait(srv, leng, headers, wait):
    srv.script("GET", "/v1/models", busy(429, headers, {"error": {"message": "Rate limit reached",
                                                                  "type": "requests"}}), OK)
    res = leng.run("models.list", raw=True)
    assert res.attempts == 2 and hits(srv) == 2
    assert leng.waits == [wait]


@pytest.mark.parametrize("headers,asked", [
    ({"Retry-After": "61"}, "61s"),
    ({"retry-after-ms": "90000"}, "90s"),
    ({"Retry-After": email.utils.formatdate(NOW + 3600, usegmt=True)}, "3600s"),
])
def test_a_wait_above_the_cap_fails_at_once_and_says_why(srv, leng, headers, asked):
    srv.script("GET", "/v1/models", busy(429, headers, {"error": {"message": "Rate limit reached"}}), OK)
    with pytest.raises(engine.RateLimitError) as info:
        leng.run("models.list")
    assert info.value.attempts == 1 and hits(srv) == 1 and leng.waits == []
    assert f"not retried: the server asked to wait {asked}, more than the 60s cap" in str(info.value)


def test_x_should_retry_overrides_the_status(srv, leng):
    srv.script("GET", "/v1/models", busy(400, {"x-should-retry": "true"}), OK)
    assert leng.run("models.list", raw=True).attempts == 2
    srv.script("GET", "/v1/models/m", busy(503, {"x-should-retry": "false"}), OK)
    with pytest.raises(engine.InternalServerError) as info:
        leng.run("models.retrieve", {"model": "m"})
    assert info.value.attempts == 1 and hits(srv, "/v1/models/m") == 1
    srv.script("GET", "/v1/models/n", busy(429, {"x-should-retry": "False", "retry-after-ms": "10"}), OK)
    with pytest.raises(engine.RateLimitError):
        leng.run("models.retrieve", {"model": "n"})
    assert hits(srv, "/v1/models/n") == 1


def test_insufficient_quota_beats_x_should_retry(srv, leng):
    srv.script("GET", "/v1/models", busy(429, {"x-should-retry": "true", "retry-after-ms": "5"},
                                         {"error": {"message": "You exceeded your current quota",
                                                    "type": "insufficient_quota", "code": "insufficient_quota"}}),
               OK)
    with pytest.raises(engine.RateLimitError) as info:
        leng.run("models.list")
    assert info.value.attempts == 1 and hits(srv) == 1 and leng.waits == []
    assert info.value.code == "insufficient_quota" and "not retried" in str(info.value)


# --- never retried -----------------------------------------------------------------

def test_a_before_request_hook_that_raises_cancels_the_call(srv, make):
    calls = []

    def before(action, request):
        calls.append(action)
        raise RuntimeError("the platform cancelled this call")

    eng = make(hooks={"before_request": before})
    eng.transport.sleep = lambda s: pytest.fail("a cancelled call must not wait for a retry")
    srv.route("GET", "/v1/models", lambda req: OK)
    with pytest.raises(RuntimeError, match="cancelled"):
        eng.run("models.list")
    assert calls == ["models.list"] and srv.requests == []


def test_keyboard_interrupt_in_an_after_hook_is_never_retried(srv, make):
    def after(action, response, elapsed):
        raise KeyboardInterrupt

    eng = make(hooks={"after_response": after})
    eng.transport.sleep = lambda s: pytest.fail("an interrupted call must not wait for a retry")
    srv.route("GET", "/v1/models", lambda req: busy())
    with pytest.raises(KeyboardInterrupt):
        eng.run("models.list")
    assert hits(srv) == 1


def test_an_error_reading_the_upload_cancels_instead_of_retrying(srv, leng):
    class Failing:
        mode, name = "rb", "train.jsonl"

        def __init__(self):
            self.reads = 0

        def seek(self, pos, whence=0):
            return 0

        def tell(self):
            return 0

        def read(self, n=-1):
            self.reads += 1
            if self.reads > 1:
                raise RuntimeError("the source went away")
            return b'{"a": 1}\n'

    srv.route("POST", "/v1/files", lambda req: Reply(200, {"id": "file-1"}))
    with pytest.raises(RuntimeError, match="went away"):
        leng.run("files.create", {"file": Failing(), "purpose": "batch"})
    assert leng.waits == [] and not any(r.path == "/v1/files" and r.body.endswith(b"--\r\n") for r in srv.requests)


def test_raw_result_reports_the_whole_exchange(srv, leng):
    srv.script("GET", "/v1/models", busy(429, {"retry-after-ms": "20", "x-request-id": "req_1"}),
               Reply(200, {"object": "list", "data": [{"id": "m"}]},
                     {"x-request-id": "req_2", "x-ratelimit-limit-requests": "500",
                      "x-ratelimit-remaining-requests": "499", "x-ratelimit-reset-requests": "120ms",
                      "openai-processing-ms": "12"}))
    res = leng.run("models.list", raw=True)
    assert (res.status_code, res.request_id, res.attempts, res.waits) == (200, "req_2", 2, [0.02])
    assert res.rate_limits == {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499",
                               "x-ratelimit-reset-requests": "120ms"}
    assert res.headers["openai-processing-ms"] == "12"
    assert res.elapsed > 0 and res.data["data"] == [{"id": "m"}]
