"""`poll_timeout` is a deadline: it bounds every wait and every request of a polling composite, retries included."""
from __future__ import annotations

import threading
import time

import pytest

import engine
from loopback import Reply

STALL = 5.0
RUN = {"id": "run_1", "object": "thread.run", "thread_id": "thread_1", "status": "queued"}


def _stalling(released: threading.Event, answered: threading.Event, reply: Reply):
    """A handler that holds its answer for STALL seconds (or until the test ends), then says it answered."""
    def handler(req) -> Reply:
        released.wait(STALL)
        answered.set()
        return reply
    return handler


@pytest.mark.parametrize("max_retries", [0, None], ids=["no-retries", "manifest-retries"])
def test_a_stalled_poll_answer_ends_at_the_deadline(srv, loopback_engine, released, max_retries):
    answered = threading.Event()
    srv.route("POST", "/v1/threads/thread_1/runs", lambda req: Reply(200, RUN))
    srv.route("GET", "/v1/threads/thread_1/runs/run_1",
              _stalling(released, answered, Reply(200, {**RUN, "status": "completed"})))
    eng = loopback_engine(max_retries=max_retries)
    t0 = time.monotonic()
    with pytest.raises(engine.PollTimeoutError) as info:
        eng.run("threads.runs.create_and_poll", {"thread_id": "thread_1", "assistant_id": "asst_1",
                                                 "poll_interval": 0.05, "poll_timeout": 1})
    took = time.monotonic() - t0
    assert not answered.is_set()  # it gave up on the stalled answer, not waited it out
    assert took < 4  # about the 1 s deadline; far from the 5 s stall or a retry of it
    assert info.value.action == "threads.runs.create_and_poll" and info.value.body["status"] == "queued"
    assert "timeout=1s" in str(info.value)


def test_a_stalled_first_call_ends_at_the_deadline(srv, loopback_engine, released):
    answered = threading.Event()
    srv.route("GET", "/v1/batches/batch_1", _stalling(released, answered, Reply(200, {"id": "batch_1"})))
    eng = loopback_engine(max_retries=None)
    with pytest.raises(engine.PollTimeoutError) as info:
        eng.run("batches.wait", {"batch_id": "batch_1", "poll_timeout": 0.5})
    assert not answered.is_set() and info.value.body is None


def test_a_retry_wait_past_the_deadline_is_not_taken(srv, loopback_engine):
    srv.route("POST", "/v1/threads/thread_1/runs", lambda req: Reply(200, RUN))
    srv.route("GET", "/v1/threads/thread_1/runs/run_1",
              lambda req: Reply(503, {"error": {"message": "busy"}}, headers={"Retry-After": "3"}))
    eng = loopback_engine(max_retries=None, record_waits=True)
    with pytest.raises(engine.InternalServerError) as info:
        eng.run("threads.runs.create_and_poll", {"thread_id": "thread_1", "assistant_id": "asst_1",
                                                 "poll_interval": 0.05, "poll_timeout": 1})
    assert eng.waits == [0.05] and info.value.attempts == 1 and "deadline" in str(info.value)


def test_no_poll_wait_runs_past_the_deadline(srv, loopback_engine):
    srv.route("POST", "/v1/threads/thread_1/runs",
              lambda req: Reply(200, RUN, headers={"openai-poll-after-ms": "60000"}))
    eng = loopback_engine()
    slept: list[float] = []
    eng.transport.sleep = slept.append
    with pytest.raises(engine.PollTimeoutError):
        eng.run("threads.runs.create_and_poll", {"thread_id": "thread_1", "assistant_id": "asst_1",
                                                 "poll_timeout": 2})
    assert slept == [] and len(srv.requests) == 1


def test_a_shorter_timeout_of_the_callers_stays_a_read_timeout(srv, loopback_engine, released):
    answered = threading.Event()
    srv.route("GET", "/v1/batches/batch_1", _stalling(released, answered, Reply(200, {"id": "batch_1"})))
    eng = loopback_engine(timeout=0.3)
    with pytest.raises(engine.APITimeoutError) as info:
        eng.run("batches.wait", {"batch_id": "batch_1", "poll_timeout": 30})
    assert not isinstance(info.value, engine.PollTimeoutError)
    assert info.value.phase == "read" and info.value.timeout == 0.3 and not answered.is_set()
