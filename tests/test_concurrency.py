"""One Engine shared by many threads: every answer reaches the caller that asked, over reused connections."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from loopback import Reply

THREADS, CALLS = 32, 100


@pytest.mark.slow
def test_32_threads_share_one_engine(srv, loopback_engine):
    first_try = set()
    lock = threading.Lock()

    def echo(req):
        value = req.path.rsplit("/", 1)[1]
        if value.endswith("7"):  # every tenth value fails once: retry state must stay per call
            with lock:
                fresh = value not in first_try
                first_try.add(value)
            if fresh:
                return Reply(503, {"error": {"message": "busy"}})
        return Reply(200, {"id": value, "object": "model"}, {"x-request-id": f"req-{value}"})

    srv.route("GET", "/v1/models/*", echo)
    eng = loopback_engine(max_retries=1, record_waits=True)
    start = threading.Barrier(THREADS)

    def worker(t):
        start.wait(10)
        wrong = []
        for i in range(CALLS):
            value = f"t{t:02d}-{i:03d}"
            res = eng.run("models.retrieve", {"model": value}, raw=True)
            expected_attempts = 2 if value.endswith("7") else 1
            if (res.data["id"], res.request_id, res.attempts) != (value, f"req-{value}", expected_attempts):
                wrong.append((value, res.data, res.request_id, res.attempts))
        return wrong

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))

    assert [w for w in results if w] == []
    assert len(srv.requests) == THREADS * CALLS * 11 // 10
    # Connections are pooled and kept alive: at most one per thread, never one per call.
    assert 1 <= len(srv.connections) <= THREADS
