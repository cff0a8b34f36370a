"""The `engine` logger: one DEBUG line per attempt with what an operator needs, and no secrets."""
from __future__ import annotations

import logging
import re

import pytest

import engine
from conftest import API_KEY
from loopback import Reply


@pytest.fixture
def leng(loopback_engine):
    return loopback_engine(max_retries=2, timeout=(2, 1.0), record_waits=True)


def lines(caplog):
    return [r for r in caplog.records if r.name == "engine"]


LINE = re.compile(r"^(?P<action>\S+) attempt (?P<n>\d+): (?P<method>[A-Z]+) (?P<url>\S+) -> "
                  r"(?P<outcome>.+?) (?:in|after) (?P<ms>\d+\.\d) ms(?: request_id=(?P<rid>\S+))?$")


def test_one_line_per_attempt_with_status_time_and_request_id(srv, leng, caplog):
    caplog.set_level(logging.DEBUG, logger="engine")
    srv.script("GET", "/v1/models/gpt-4o", Reply(503, {"error": {"message": "busy"}}, {"x-request-id": "req_a"}),
               lambda req: req.reset(), Reply(200, {"id": "gpt-4o"}, {"x-request-id": "req_c"}))
    leng.run("models.retrieve", {"model": "gpt-4o"})
    records = lines(caplog)
    assert len(records) == 3 and all(r.levelno == logging.DEBUG for r in records)
    parsed = [LINE.match(r.getMessage()) for r in records]
    assert all(parsed), [r.getMessage() for r in records]
    assert [(m["action"], m["n"], m["method"], m["url"], m["outcome"], m["rid"]) for m in parsed] == [
        ("models.retrieve", "1", "GET", f"{srv.url}/v1/models/gpt-4o", "503", "req_a"),
        ("models.retrieve", "2", "GET", f"{srv.url}/v1/models/gpt-4o", "connection error", None),
        ("models.retrieve", "3", "GET", f"{srv.url}/v1/models/gpt-4o", "200", "req_c"),
    ]


def test_timeouts_are_logged_with_their_phase(srv, leng, caplog, released):
    caplog.set_level(logging.DEBUG, logger="engine")
    srv.route("GET", "/v1/models", lambda req: released.wait(10) and None)
    with pytest.raises(engine.APITimeoutError):
        leng.run("models.list", max_retries=0)
    (record,) = lines(caplog)
    match = LINE.match(record.getMessage())
    assert match["outcome"] == "read timeout" and float(match["ms"]) >= 200


def test_no_query_and_no_secret_in_the_logged_url(srv, leng, caplog):
    caplog.set_level(logging.DEBUG, logger="engine")
    srv.route("GET", "/v1/assistants", lambda req: Reply(200, {"object": "list", "data": [], "has_more": False}))
    srv.route("GET", "/v1/files/*", lambda req: Reply(200, {"id": "x", "object": "file"}))
    leng.run("assistants.list", {"after": "cursor-that-is-private", "limit": 5})
    leng.run("files.retrieve", {"file_id": API_KEY})  # a caller who pasted the key in the wrong field
    first, second = (r.getMessage() for r in lines(caplog))
    assert f"{srv.url}/v1/assistants -> 200" in first and "?" not in first and "private" not in first
    assert f"{srv.url}/v1/files/<redacted> -> 200" in second and API_KEY not in second


def test_silent_above_debug(srv, leng, caplog):
    caplog.set_level(logging.INFO, logger="engine")
    srv.route("GET", "/v1/models", lambda req: Reply(500, {"error": {"message": "x"}}))
    with pytest.raises(engine.InternalServerError):
        leng.run("models.list")
    assert lines(caplog) == []
