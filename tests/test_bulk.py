"""Bulk work: `map` (ordered, bounded, paced by rate-limit headers) and batch jobs (split, resumable)."""
from __future__ import annotations

import email.parser
import email.policy
import hashlib
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import engine
from engine import cli
from engine import BatchRequestError
from engine.bulk import parse_duration
from conftest import API_KEY
from loopback import Loopback, Reply

ROOT = Path(__file__).resolve().parents[1]
CHAT = "/v1/chat/completions"


class Clock:
    """A fake clock advanced only by the fake sleep, shared by threads."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def __call__(self) -> float:
        with self.lock:
            return self.now


def make_engine(srv: Loopback, *extra_manifests: Path, **kw) -> engine.Engine:
    manifest = [engine.manifest.BUNDLED, *extra_manifests] if extra_manifests else None
    return engine.Engine(manifest, api_key=API_KEY, base_url=srv.url + "/v1", max_retries=0, **kw)


def chat(text: str) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}


# --- map ---------------------------------------------------------------------------------

def embeddings_server(srv: Loopback, delay=lambda text: 0.0, headers=lambda: {}) -> dict:
    """Embeds "fail..." inputs with a 400, others with their length; tracks calls in flight."""
    state = {"in_flight": 0, "peak": 0, "calls": 0}
    lock = threading.Lock()

    def handler(req):
        text = req.json()["input"]
        with lock:
            state["in_flight"] += 1
            state["calls"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        time.sleep(delay(text))
        with lock:
            state["in_flight"] -= 1
        if text.startswith("fail"):
            return Reply(400, {"error": {"message": f"cannot embed {text}", "type": "invalid_request_error"}},
                         headers())
        return Reply(200, {"object": "list", "data": [{"object": "embedding", "index": 0,
                                                       "embedding": [float(len(text))]}], "model": "m"}, headers())

    srv.route("POST", "/v1/embeddings", handler)
    return state


def test_map_yields_in_input_order_with_typed_errors_and_bounded_concurrency():
    texts = ["a" * n if n % 5 else f"fail{n}" for n in range(1, 41)]
    inputs = [{"model": "text-embedding-3-small", "input": t} for t in texts]
    inputs[6] = {"input": "no model"}  # invalid: never sent
    with Loopback() as srv:
        # Later inputs answer sooner, so completion order is not input order.
        state = embeddings_server(srv, delay=lambda text: 0.002 * max(0, 40 - len(text)) if text[0] == "a" else 0)
        eng = make_engine(srv)
        out = list(eng.map("embeddings.create", inputs, concurrency=4))
    assert len(out) == 40
    for n, (text, result) in enumerate(zip(texts, out), 1):
        if n == 7:
            assert isinstance(result, engine.ValidationError) and result.problems[0].param == "model"
        elif text.startswith("fail"):
            assert isinstance(result, engine.BadRequestError) and result.status_code == 400
            assert f"cannot embed {text}" in str(result)
        else:
            assert result["data"][0]["embedding"] == [float(n)]
    assert state["calls"] == 39
    assert 1 < state["peak"] <= 4


def test_map_raw_returns_results_with_headers():
    with Loopback() as srv:
        embeddings_server(srv, headers=lambda: {"x-ratelimit-remaining-requests": "99",
                                                "x-ratelimit-reset-requests": "1s"})
        eng = make_engine(srv)
        out = list(eng.map("embeddings.create", [{"model": "m", "input": "abc"}], raw=True))
    assert isinstance(out[0], engine.Result) and out[0].data["data"][0]["embedding"] == [3.0]
    assert out[0].rate_limits["x-ratelimit-remaining-requests"] == "99"


@pytest.mark.parametrize("text, seconds", [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5),
                                           ("0.5", 0.5), ("", None), ("soon", None), ("5x", None),
                                           ("inf", None), ("nan", None), ("-5", None), ("1e400s", None)])
def test_reset_durations(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_map_waits_for_the_request_budget_to_reset_instead_of_hitting_429():
    """The server allows 5 requests a second (on the fake clock); a 6th within the second gets a 429."""
    clock = Clock()
    window = {"start": clock(), "used": 0}
    lock = threading.Lock()
    rejected = []

    def handler(req):
        with lock:
            now = clock()
            if now >= window["start"] + 1.0:
                window["start"], window["used"] = now, 0
            reset_ms = int(round((window["start"] + 1.0 - now) * 1000))
            if window["used"] >= 5:
                rejected.append(req.json()["input"])
                return Reply(429, {"error": {"message": "Rate limit reached"}},
                             {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": f"{reset_ms}ms"})
            window["used"] += 1
            remaining = 5 - window["used"]
        return Reply(200, {"data": [{"embedding": [len(req.json()["input"])]}]},
                     {"x-ratelimit-remaining-requests": str(remaining),
                      "x-ratelimit-reset-requests": f"{reset_ms}ms"})

    with Loopback() as srv:
        srv.route("POST", "/v1/embeddings", handler)
        eng = make_engine(srv)
        eng.transport.sleep, eng.transport.clock = clock.sleep, clock
        out = list(eng.map("embeddings.create", ({"model": "m", "input": "x" * n} for n in range(1, 21)),
                           concurrency=3))
    assert rejected == []
    assert [r["data"][0]["embedding"] for r in out] == [[n] for n in range(1, 21)]
    # 20 requests at 5 a second need at least 3 waits for a reset, none longer than the window.
    assert len(clock.sleeps) >= 3 and all(0 < s <= 1.0 for s in clock.sleeps)


def test_map_waits_when_the_token_budget_runs_low():
    clock = Clock()
    tokens = iter(["150000", "1500", "150000", "150000"])

    def handler(req):
        return Reply(200, {"data": []}, {"x-ratelimit-remaining-tokens": next(tokens),
                                         "x-ratelimit-reset-tokens": "0m45s"})

    with Loopback() as srv:
        srv.route("POST", "/v1/embeddings", handler)
        eng = make_engine(srv)
        eng.transport.sleep, eng.transport.clock = clock.sleep, clock
        out = list(eng.map("embeddings.create", [{"model": "m", "input": str(n)} for n in range(4)], concurrency=1))
    assert out == [{"data": []}] * 4
    # Below the declared 2000 tokens after the 2nd answer: the 3rd call waits for the reset, once.
    assert clock.sleeps == [45.0]


@pytest.mark.parametrize("layer, cap", [(None, 60.0), ("connector:\n  bulk:\n    max_wait: 5\n", 5.0)])
def test_map_caps_the_wait_for_an_announced_reset(tmp_path, layer, cap):
    """`999999h` is 114 years: the wait stops at the retry policy's Retry-After cap, or `bulk.max_wait`."""
    clock = Clock()

    def handler(req):
        return Reply(200, {"data": []}, {"x-ratelimit-remaining-requests": "0",
                                         "x-ratelimit-reset-requests": "999999h"})

    extra = []
    if layer:
        extra.append(tmp_path / "layer.yaml")
        extra[0].write_text(layer)
    with Loopback() as srv:
        srv.route("POST", "/v1/embeddings", handler)
        eng = make_engine(srv, *extra)
        eng.transport.sleep, eng.transport.clock = clock.sleep, clock
        out = list(eng.map("embeddings.create", [{"model": "m", "input": str(n)} for n in range(3)], concurrency=1))
        assert len(srv.requests) == 3
    assert out == [{"data": []}] * 3
    assert clock.sleeps == [cap, cap]


def test_map_reads_an_endless_iterable_lazily():
    pulled = 0

    def inputs():
        nonlocal pulled
        for n in range(10 ** 9):
            pulled += 1
            yield {"model": "m", "input": "a" * (n % 7 + 1)}

    with Loopback() as srv:
        embeddings_server(srv)
        eng = make_engine(srv)
        results = eng.map("embeddings.create", inputs(), concurrency=8)
        got = list(itertools.islice(results, 300))
        assert pulled <= 300 + 8 + 1
        results.close()
    assert [r["data"][0]["embedding"][0] for r in got] == [float(n % 7 + 1) for n in range(300)]


def test_map_rejects_an_unknown_action_at_once():
    eng = engine.Engine(api_key=API_KEY)
    with pytest.raises(engine.UnknownActionError):
        eng.map("embeddings.creat", iter(()))
    with pytest.raises(ValueError):
        eng.map("embeddings.create", iter(()), concurrency=0)


# --- batch: a fake Batch API on the loopback server ------------------------------------------

def parse_multipart(req) -> dict:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + req.headers["content-type"].encode() + b"\r\n\r\n" + req.body)
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[name] = (part.get_filename(), part.get_payload(decode=True))
    return out


class BatchAPI:
    """Files, batches and their output/error files, as the API reference describes them.

    A request whose last message says "bad ..." fails with a 400 in the error file;
    `expire[k] = n` makes the k-th batch expire after answering its first n lines,
    listing the next one as `batch_expired` in its error file and leaving the rest out.
    Output lines come in reverse order, as nothing promises input order.
    """

    def __init__(self, srv: Loopback, polls_before_done: int = 0) -> None:
        self.srv = srv
        self.files: dict[str, bytes] = {}
        self.uploads: list[dict] = []
        self.creates: list[dict] = []
        self.batches: dict[str, dict] = {}
        self.downloads: list[str] = []
        self.cancels: list[str] = []
        self.expire: dict[int, int] = {}
        self.polls_before_done = polls_before_done
        self.fail_create_at: int | None = None
        self.failed: dict[int, dict] = {}  # batch number -> its `errors` object: the batch fails validation
        self.rewrite = lambda data: data  # what the server does to an output file's bytes before serving it
        self.lock = threading.Lock()
        srv.route("POST", "/v1/files", self.upload)
        srv.route("POST", "/v1/batches", self.create)
        srv.route("GET", "/v1/batches/*", self.retrieve)
        srv.route("POST", "/v1/batches/*", self.cancel)
        srv.route("GET", "/v1/files/*", self.content)

    def upload(self, req):
        form = parse_multipart(req)
        with self.lock:
            file_id = f"file-in{len(self.files)}"
            self.files[file_id] = form["file"][1]
            self.uploads.append({"purpose": form["purpose"][1].decode(), "filename": form["file"][0],
                                 "lines": [json.loads(x) for x in form["file"][1].splitlines()]})
        return Reply(200, {"id": file_id, "object": "file", "purpose": "batch", "bytes": len(form["file"][1])})

    def create(self, req):
        body = req.json()
        with self.lock:
            if self.fail_create_at == len(self.creates):
                return Reply(500, {"error": {"message": "The server had an error"}})
            k = len(self.creates)
            self.creates.append(body)
            batch_id = f"batch_{k}"
            self.batches[batch_id] = {"k": k, "polls": 0, **body}
        return Reply(200, {"id": batch_id, "object": "batch", "status": "validating", **body})

    def _finish(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        if batch["k"] in self.failed:
            return {"status": "failed", "errors": self.failed[batch["k"]]}
        lines = self.files[batch["input_file_id"]].splitlines()
        limit = self.expire.get(batch["k"], len(lines))
        out, err = [], []
        for n, raw in enumerate(lines):
            line = json.loads(raw)
            if n == limit:
                err.append({"id": f"batch_req_{n}", "custom_id": line["custom_id"], "response": None,
                            "error": {"code": "batch_expired",
                                      "message": "This request could not be executed before the completion window expired."}})
                continue
            if n > limit:
                continue
            text = line["body"]["messages"][-1]["content"]
            if text.startswith("bad"):
                err.append({"id": f"batch_req_{n}", "custom_id": line["custom_id"], "error": None,
                            "response": {"status_code": 400, "request_id": f"req_{n}",
                                         "body": {"error": {"message": f"Invalid prompt: {text}",
                                                            "type": "invalid_request_error", "code": None}}}})
            else:
                out.append({"id": f"batch_req_{n}", "custom_id": line["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": f"req_{n}",
                                         "body": {"object": "chat.completion",
                                                  "choices": [{"index": 0, "message": {
                                                      "role": "assistant", "content": text.upper()}}]}}})
        result = {"status": "expired" if batch["k"] in self.expire else "completed"}
        for field, items in (("output_file_id", out[::-1]), ("error_file_id", err)):
            if items:
                self.files[f"{batch_id}-{field}"] = b"".join(json.dumps(x).encode() + b"\n" for x in items)
                if field == "output_file_id":
                    self.files[f"{batch_id}-{field}"] = self.rewrite(self.files[f"{batch_id}-{field}"])
                result[field] = f"{batch_id}-{field}"
        return result

    def retrieve(self, req):
        batch_id = req.path.rsplit("/", 1)[1]
        with self.lock:
            batch = self.batches[batch_id]
            batch["polls"] += 1
            if batch["polls"] <= self.polls_before_done:
                return Reply(200, {"id": batch_id, "object": "batch", "status": "in_progress"},
                             {"openai-poll-after-ms": "250"})
            if "final" not in batch:
                batch["final"] = self._finish(batch_id)
            return Reply(200, {"id": batch_id, "object": "batch", "endpoint": batch["endpoint"], **batch["final"]})

    def cancel(self, req):
        batch_id = req.path.split("/")[3]
        with self.lock:
            self.cancels.append(batch_id)
        return Reply(200, {"id": batch_id, "object": "batch", "status": "cancelling"})

    def content(self, req):
        file_id = req.path.split("/")[3]
        with self.lock:
            self.downloads.append(file_id)
        return Reply(200, self.files[file_id], {"Content-Type": "application/octet-stream"})


@pytest.fixture
def small_batches(tmp_path):
    path = tmp_path / "small-batches.yaml"
    path.write_text("connector:\n  batch:\n    max_requests: 3\n")
    return path


def fast(eng: engine.Engine) -> Clock:
    clock = Clock()
    eng.transport.sleep = clock.sleep
    return clock


def test_batch_splits_by_max_requests_and_yields_in_input_order(small_batches):
    prompts = ["one", "two", "bad three", "four", "five", "six", "seven"]
    with Loopback() as srv:
        api = BatchAPI(srv, polls_before_done=1)
        eng = make_engine(srv, small_batches)
        clock = fast(eng)
        job = eng.batch("chat.completions.create", (chat(p) for p in prompts))
        assert [b["count"] for b in job.handle["batches"]] == [3, 3, 1]
        assert json.loads(json.dumps(job.handle)) == job.handle
        results = list(job.results())
    # The request input format of the Batch API reference: custom_id, method, url, body.
    assert [len(u["lines"]) for u in api.uploads] == [3, 3, 1]
    lines = [line for u in api.uploads for line in u["lines"]]
    assert all(set(line) == {"custom_id", "method", "url", "body"} for line in lines)
    assert all(line["method"] == "POST" and line["url"] == CHAT for line in lines)
    assert [line["body"] for line in lines] == [chat(p) for p in prompts]
    assert len({line["custom_id"] for line in lines}) == 7
    assert all(u["purpose"] == "batch" and u["filename"].endswith(".jsonl") for u in api.uploads)
    assert api.creates == [{"input_file_id": f"file-in{k}", "endpoint": CHAT, "completion_window": "24h"}
                           for k in range(3)]
    assert [i for i, _ in results] == list(range(7))
    for (i, result), prompt in zip(results, prompts):
        if prompt.startswith("bad"):
            assert isinstance(result, engine.BadRequestError) and result.status_code == 400
            assert "Invalid prompt: bad three" in str(result) and result.request_id == "req_2"
        else:
            assert result["choices"][0]["message"]["content"] == prompt.upper()
    # One in_progress answer per batch with a 250 ms poll hint: the declared polling honours it.
    assert clock.sleeps == [0.25, 0.25, 0.25]
    assert sorted(api.downloads) == sorted(["batch_0-output_file_id", "batch_0-error_file_id",
                                            "batch_1-output_file_id", "batch_2-output_file_id"])
    assert api.cancels == []
    assert (job.done, job.failed, job.pending) == (7, 1, 0)
    assert not os.path.exists(job.handle["dir"])


def test_batch_splits_by_max_bytes():
    prompts = [f"p{n}" for n in range(5)]
    line_size = len(json.dumps({"custom_id": "x", "method": "POST", "url": CHAT, "body": chat("p0")}))
    with Loopback() as srv:
        api = BatchAPI(srv)
        eng = make_engine(srv)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat(p) for p in prompts], max_bytes=2 * line_size + 60)
        results = list(job.results())
    assert [len(u["lines"]) for u in api.uploads] == [2, 2, 1]
    assert all(len(api.files[f"file-in{k}"]) <= 2 * line_size + 60 for k in range(3))
    assert [r["choices"][0]["message"]["content"] for _, r in results] == [p.upper() for p in prompts]


def test_expired_batch_gives_typed_errors_for_unfinished_requests(small_batches):
    with Loopback() as srv:
        api = BatchAPI(srv)
        api.expire = {1: 1}  # the second batch answers its first line, lists the next as expired, drops the last
        eng = make_engine(srv, small_batches)
        fast(eng)
        results = list(eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(6)]).results())
    values = [r for _, r in results]
    assert [v["choices"][0]["message"]["content"] for v in values[:4]] == ["Q0", "Q1", "Q2", "Q3"]
    assert isinstance(values[4], BatchRequestError) and isinstance(values[4], engine.APIError)
    assert values[4].code == "batch_expired" and values[4].batch_status == "expired"
    assert isinstance(values[5], BatchRequestError) and values[5].batch_status == "expired"
    assert "batch_1" in str(values[5]) and "expired" in str(values[5])


def test_a_failed_batch_gives_its_reason_to_each_of_its_inputs(small_batches):
    errors = {"object": "list", "data": [{"code": "invalid_json_line", "line": 2, "param": None,
                                          "message": "This line is not parseable as valid JSON."}]}
    with Loopback() as srv:
        api = BatchAPI(srv)
        api.failed = {0: errors}
        eng = make_engine(srv, small_batches)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(4)])
        results = [r for _, r in job.results()]
    assert all(isinstance(r, BatchRequestError) for r in results[:3])
    assert {(r.code, r.batch_status) for r in results[:3]} == {("invalid_json_line", "failed")}
    assert "not parseable as valid JSON" in str(results[0])
    assert results[3]["choices"][0]["message"]["content"] == "Q3"
    assert job.failed == 3 and api.downloads == ["batch_1-output_file_id"]


def test_a_line_that_is_not_json_does_not_hide_the_other_answers():
    with Loopback() as srv:
        api = BatchAPI(srv)
        api.rewrite = lambda data: data + b"<html>Bad Gateway</html>\n"
        eng = make_engine(srv)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat("q")])
        assert [(i, r["choices"][0]["message"]["content"]) for i, r in job.results()] == [(0, "Q")]


def test_a_bad_input_is_reported_before_anything_is_uploaded():
    inputs = [chat("fine"), {"model": "gpt-4o-mini"}, chat("fine"), {**chat("x"), "temperature": 9}]
    with Loopback() as srv:
        eng = make_engine(srv)
        with pytest.raises(engine.ValidationError) as info:
            eng.batch("chat.completions.create", inputs)
        assert srv.requests == []
    problems = info.value.problems
    assert [p.param for p in problems] == ["messages", "temperature"]
    assert problems[0].message.startswith("input 1: ") and problems[1].message.startswith("input 3: ")


def test_batch_refuses_what_the_batch_api_cannot_carry():
    with Loopback() as srv:
        eng = make_engine(srv)
        with pytest.raises(engine.Error, match="cannot be sent as a batch"):
            eng.batch("images.generate", [{"prompt": "a cat"}])
        with pytest.raises(engine.ValidationError) as info:
            eng.batch("chat.completions.create", [{**chat("hi"), "stream": True}])
        assert info.value.problems[0].param == "stream"
        with pytest.raises(engine.ValidationError) as info:
            eng.batch("chat.completions.create", [chat("hi")], completion_window="1h")
        assert info.value.problems[0].param == "completion_window"
        assert srv.requests == []


def test_a_failed_create_cancels_the_batches_already_created(small_batches):
    with Loopback() as srv:
        api = BatchAPI(srv)
        api.fail_create_at = 1
        eng = make_engine(srv, small_batches)
        with pytest.raises(engine.InternalServerError):
            eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(5)])
    assert api.cancels == ["batch_0"]


def test_poll_deadline_then_resume(small_batches):
    with Loopback() as srv:
        api = BatchAPI(srv, polls_before_done=3)
        eng = make_engine(srv, small_batches)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(4)], poll_interval=1,
                        poll_timeout=0.1)
        with pytest.raises(engine.PollTimeoutError):
            next(job.results())
        again = eng.batch_results(job.handle)
        fast(eng)
        assert [r["choices"][0]["message"]["content"] for _, r in again.results()] == ["Q0", "Q1", "Q2", "Q3"]
    assert api.cancels == []


RESUME = textwrap.dedent("""
    import json, sys
    import engine
    eng = engine.Engine([engine.manifest.BUNDLED, sys.argv[3]], api_key="k", base_url=sys.argv[1], max_retries=0)
    job = eng.batch_results(json.load(open(sys.argv[2])), poll_interval=0.01)
    for index, result in job.results():
        print(json.dumps([index, result["choices"][0]["message"]["content"]
                          if isinstance(result, dict) else type(result).__name__]))
""")


def test_resume_from_a_handle_in_a_new_process(tmp_path, small_batches):
    with Loopback() as srv:
        api = BatchAPI(srv)
        eng = make_engine(srv, small_batches)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(8)])
        results = job.results()
        first = [next(results) for _ in range(4)]  # the first batch and one line of the second
        results.close()
        handle = tmp_path / "handle.json"
        handle.write_text(json.dumps(job.handle))
        downloaded = list(api.downloads)
        proc = subprocess.run([sys.executable, "-c", RESUME, srv.url + "/v1", str(handle), str(small_batches)],
                              capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert [r["choices"][0]["message"]["content"] for _, r in first] == ["Q0", "Q1", "Q2", "Q3"]
    rest = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rest == [[n, f"Q{n}"] for n in range(4, 8)]
    assert downloaded == ["batch_0-output_file_id", "batch_1-output_file_id"]
    # Nothing downloaded twice, nothing cancelled, nothing created again.
    assert api.downloads == downloaded + ["batch_2-output_file_id"]
    assert api.cancels == [] and len(api.creates) == 3
    assert not os.path.exists(job.handle["dir"])


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_batch_writes_results_shows_progress_and_resumes(tmp_path, small_batches, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    params = tmp_path / "params.jsonl"
    params.write_text("".join(json.dumps(chat(p)) + "\n" for p in ["a", "bad b", "c", "d"]))
    output, handle = tmp_path / "results.jsonl", tmp_path / "job.json"
    with Loopback() as srv:
        api = BatchAPI(srv)
        argv = ["--manifest", "bundled", "--manifest", str(small_batches), "--base-url", srv.url + "/v1",
                "batch", "chat.completions.create", "--input", str(params), "--output", str(output),
                "--handle", str(handle)]
        err = TTY()
        assert cli.main(argv, io.StringIO(), err) == cli.EXIT_OK
        lines = [json.loads(x) for x in output.read_text().splitlines()]
        assert [x["index"] for x in lines] == [0, 1, 2, 3]
        assert lines[0]["result"]["choices"][0]["message"]["content"] == "A"
        assert lines[1]["error"]["type"] == "BadRequestError"
        # Inputs are named by their index everywhere: progress, failures and the results file.
        assert "inputs 0..3 done, 1 failed, 0 batches pending" in err.getvalue()
        assert "inputs 0..0 done, 0 failed, 2 batches pending" in err.getvalue()
        assert "input 1 failed: BadRequestError: " in err.getvalue()
        # Resuming from a handle saved mid-way rewrites only what came after it.
        saved = json.loads(handle.read_text())
        assert saved["next"] == 4
        saved["next"] = 2
        handle.write_text(json.dumps(saved))
        with output.open("a") as fh:
            fh.write(json.dumps({"index": 2, "result": "written before the handle was saved"}) + "\n")
        resume = [a for a in argv if a not in ("--input", str(params))]  # the handle alone is enough
        assert cli.main(resume, io.StringIO(), io.StringIO()) == cli.EXIT_OK
        again = [json.loads(x) for x in output.read_text().splitlines()]
        assert again == lines
        assert len(api.creates) == 2 and api.cancels == []


def test_cli_batch_without_input_or_handle_is_a_usage_error(tmp_path):
    err = io.StringIO()
    argv = ["batch", "chat.completions.create", "--output", str(tmp_path / "out.jsonl")]
    assert cli.main(argv, io.StringIO(), err) == cli.EXIT_USAGE
    assert "--input" in err.getvalue() and not (tmp_path / "out.jsonl").exists()


FLAT = textwrap.dedent("""
    import sys
    import engine
    def hwm():  # peak RSS of this program since exec, in KiB
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    eng = engine.Engine(api_key="k", base_url=sys.argv[1], max_retries=0)
    eng.transport.sleep = lambda seconds: None
    text = "x" * 4000
    list(eng.map("chat.completions.create", [{"model": "m", "messages": [{"role": "user", "content": "warm"}]}]))
    base = hwm()
    inputs = ({"model": "m", "messages": [{"role": "user", "content": f"{n} {text}"}]} for n in range(int(sys.argv[2])))
    job = eng.batch("chat.completions.create", inputs, max_bytes=40 << 20)
    checked = 0
    for index, result in job.results():
        assert result["choices"][0]["message"]["content"].startswith(f"{index} "), index
        checked += 1
    print(checked, len(job.handle["batches"]), hwm() - base)
""")


@pytest.mark.slow
def test_a_large_batch_runs_in_flat_memory():
    """100 MB of requests up and 100 MB of answers down; the client's peak memory grows far less."""
    count = 25_000
    files: dict[str, list[tuple[str, str]]] = {}
    batches: dict[str, str] = {}

    def upload(req):
        form = parse_multipart(req)
        lines = [json.loads(x) for x in form["file"][1].splitlines()]
        file_id = f"file-{len(files)}"
        files[file_id] = [(x["custom_id"], x["body"]["messages"][0]["content"].split(" ", 1)[0]) for x in lines]
        return Reply(200, {"id": file_id, "object": "file"})

    def create(req):
        batch_id = f"batch_{len(batches)}"
        batches[batch_id] = req.json()["input_file_id"]
        return Reply(200, {"id": batch_id, "object": "batch", "status": "validating"})

    def retrieve(req):
        batch_id = req.path.rsplit("/", 1)[1]
        return Reply(200, {"id": batch_id, "object": "batch", "status": "completed", "output_file_id": f"out-{batch_id}"})

    def content(req):
        answers = files[batches[req.path.split("/")[3][len("out-"):]]]

        def lines():
            for custom_id, number in reversed(answers):
                body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": f"{number} " + "y" * 4000}}]}
                yield json.dumps({"custom_id": custom_id, "response": {"status_code": 200, "body": body},
                                  "error": None}).encode() + b"\n"
        return Reply(200, chunks=lines(), headers={"Content-Type": "application/octet-stream"})

    with Loopback() as srv:
        srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, {"choices": []}))
        srv.route("POST", "/v1/files", upload)
        srv.route("POST", "/v1/batches", create)
        srv.route("GET", "/v1/batches/*", retrieve)
        srv.route("GET", "/v1/files/*", content)
        proc = subprocess.run([sys.executable, "-c", FLAT, srv.url + "/v1", str(count)], capture_output=True,
                              text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    checked, parts, grew_kib = map(int, proc.stdout.split())
    assert checked == count and parts == 3
    assert grew_kib < 32 * 1024, f"peak RSS grew by {grew_kib} KiB for 100 MB each way"


# --- batch: tampered handles, planted files, broken answer lines -------------------------------

def finished_job(srv: Loopback, small_batches: Path) -> tuple[engine.Engine, dict]:
    """A job whose every result was delivered: resuming it has nothing to send, only its folder to remove."""
    BatchAPI(srv)
    eng = make_engine(srv, small_batches)
    fast(eng)
    job = eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(4)])
    results = job.results()
    next(results)
    handle = job.handle
    results.close()
    handle["next"] = handle["total"]
    return eng, handle


def victims(tmp_path: Path, own_dir: str) -> dict[str, Any]:
    """Folders a handle might name that the engine must never remove, by what is wrong with each.

    The current folder is tmp_path/home/cwd, so `..` and relative names land on tmp_path/home.
    """
    home = tmp_path / "home"
    mine = home / "my-documents"
    unmarked = home / "engine-batch-unmarked"
    other = home / "engine-batch-other-token"
    link = home / "engine-batch-link"
    parent_link = home / "parent-link"
    for folder in (mine, unmarked, other, home / "cwd" / "engine-batch-x"):
        folder.mkdir(parents=True)
        (folder / "precious.txt").write_text("keep me")
    (home / "precious.txt").write_text("keep me")
    (other / ".engine-batch-job").write_text("0" * 32)
    link.symlink_to(own_dir, target_is_directory=True)
    parent_link.symlink_to(os.path.dirname(own_dir), target_is_directory=True)
    return {"a user's folder": str(mine), "the parent folder": "..", "a relative name": "engine-batch-x",
            "a folder with no marker": str(unmarked), "another token's folder": str(other),
            "a symlink to the job's folder": str(link),
            "a path through a symlink": str(parent_link / os.path.basename(own_dir)),
            "a path with ..": str(home / "my-documents" / ".." / "my-documents"),
            "not text": [str(mine)]}


@pytest.mark.parametrize("case", ["a user's folder", "the parent folder", "a relative name", "a folder with no marker",
                                  "another token's folder", "a symlink to the job's folder", "a path through a symlink",
                                  "a path with ..", "not text"])
def test_a_handle_naming_a_folder_the_job_did_not_make_is_refused_and_nothing_is_removed(
        tmp_path, small_batches, monkeypatch, case):
    with Loopback() as srv:
        eng, handle = finished_job(srv, small_batches)
        own = handle["dir"]
        handle["dir"] = victims(tmp_path, own)[case]
        monkeypatch.chdir(tmp_path / "home" / "cwd")
        before = list(os.walk(tmp_path)), len(srv.requests)
        with pytest.raises(engine.BatchHandleError):
            list(eng.batch_results(handle).results())
        assert (list(os.walk(tmp_path)), len(srv.requests)) == before
        assert (tmp_path / "home" / "my-documents" / "precious.txt").read_text() == "keep me"
        assert os.path.isdir(own)
        handle["dir"] = own  # the job's own folder, with its token, is removed once all is delivered
        assert list(eng.batch_results(handle).results()) == [] and not os.path.exists(own)


def test_a_handle_whose_token_is_wrong_or_missing_cannot_claim_the_jobs_folder(small_batches):
    with Loopback() as srv:
        eng, handle = finished_job(srv, small_batches)
        for token in ("f" * 32, None, 7):
            with pytest.raises(engine.BatchHandleError, match="not this job's folder"):
                eng.batch_results({**handle, "token": token})
        assert os.path.isdir(handle["dir"])
        shutil.rmtree(handle["dir"])


MALFORMED = {"batches": [["batch_0", 0, 3]], "next": "4", "files": ["x"],
             "count": [{"id": "batch_0", "first": 0, "count": 10 ** 12}]}


@pytest.mark.parametrize("bad", [{"junk": 1}, "job.json", {"format": 1}, *MALFORMED])
def test_a_malformed_handle_is_a_typed_error(small_batches, bad, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the job's folder is left: keep it in tmp_path
    with Loopback() as srv:
        eng, handle = finished_job(srv, small_batches)
        if isinstance(bad, str) and bad in MALFORMED:
            handle["batches" if bad == "count" else bad] = MALFORMED[bad]
        else:
            handle = bad
        with pytest.raises(engine.BatchHandleError):
            eng.batch_results(handle)


def test_files_planted_in_the_jobs_folder_are_not_taken_for_downloads(tmp_path, small_batches):
    with Loopback() as srv:
        api = BatchAPI(srv)
        eng = make_engine(srv, small_batches)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(6)])
        results = job.results()
        assert next(results)[1]["choices"][0]["message"]["content"] == "Q0"
        handle = job.handle
        results.close()
        folder, prefix = Path(handle["dir"]), handle["custom_id_prefix"]
        forged = b"".join(json.dumps({"custom_id": f"{prefix}-{n}", "error": None, "response": {
            "status_code": 200, "body": "FORGED"}}).encode() + b"\n" for n in range(6))
        for path in folder.iterdir():  # the download the job made, changed in place
            if path.name != ".engine-batch-job":
                path.write_bytes(forged)
        for n in range(2):  # and files under every name the job might look for
            for field in ("output_file_id", "error_file_id"):
                (folder / f"{n}-{field}.jsonl").write_bytes(forged)
        victim = tmp_path / "victim.txt"
        victim.write_bytes(forged)
        handle.setdefault("files", {})["1-output_file_id"] = {"name": "../" + victim.name, "size": len(forged),
                                               "sha256": hashlib.sha256(forged).hexdigest()}
        rest = list(eng.batch_results(handle).results())
    assert [(i, r["choices"][0]["message"]["content"]) for i, r in rest] == [(n, f"Q{n}") for n in range(1, 6)]
    assert api.downloads == ["batch_0-output_file_id"] * 2 + ["batch_1-output_file_id"]
    assert victim.read_bytes() == forged and not folder.exists()


def test_a_download_recorded_intact_is_not_fetched_again(small_batches):
    with Loopback() as srv:
        api = BatchAPI(srv)
        eng = make_engine(srv, small_batches)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(3)])
        results = job.results()
        next(results)
        handle = json.loads(json.dumps(job.handle))
        results.close()
        assert list(handle["files"]) == ["0-output_file_id"]
        rest = [i for i, _ in eng.batch_results(handle).results()]
    assert rest == [1, 2] and api.downloads == ["batch_0-output_file_id"]


def test_each_answer_line_stands_alone(small_batches):
    """Input 1's line is cut short, input 2's nested 100k deep, input 3's is garbage with no id left in it."""
    deep = b"[" * 100_000 + b"]" * 100_000

    def damage(data: bytes) -> bytes:
        out = []
        for line in data.splitlines(keepends=True):
            n = int(json.loads(line)["custom_id"].rsplit("-", 1)[1])
            if n == 1:
                line = line[:len(line) // 2] + b"\n"
            elif n == 2:
                line = b'{"custom_id": "' + json.loads(line)["custom_id"].encode() + b'", "response": ' + deep + b"}\n"
            elif n == 3:
                line = b"\x00\xff<html>Bad Gateway</html>\n"
            out.append(line)
        return b"".join(out)

    with Loopback() as srv:
        api = BatchAPI(srv)
        api.rewrite = damage
        eng = make_engine(srv, small_batches)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(6)])
        results = job.results()
        first = [next(results) for _ in range(2)]
        results.close()
        rest = list(eng.batch_results(job.handle).results())  # and a resume goes on where it stood
    got = dict(first + rest)
    assert sorted(got) == list(range(6))
    assert [got[n]["choices"][0]["message"]["content"] for n in (0, 4, 5)] == ["Q0", "Q4", "Q5"]
    assert isinstance(got[1], engine.APIResponseError) and "cannot be read" in str(got[1])
    assert isinstance(got[2], engine.APIResponseError) and "nested deeper" in str(got[2])
    assert isinstance(got[3], BatchRequestError) and got[3].batch_status == "completed"
    assert "no answer for this input (1 line of its answer files could not be read)" in str(got[3])


def test_a_handle_whose_folder_is_gone_gets_a_new_one_and_never_makes_the_named_path(tmp_path, small_batches):
    """As when resumed on another machine: the path the handle names is not this machine's to create."""
    with Loopback() as srv:
        BatchAPI(srv)
        eng = make_engine(srv, small_batches)
        fast(eng)
        job = eng.batch("chat.completions.create", [chat(f"q{n}") for n in range(4)])
        shutil.rmtree(job.handle["dir"])
        named = tmp_path / "elsewhere" / "engine-batch-gone"
        results = eng.batch_results({**job.handle, "dir": str(named), "token": "forged"}).results()
        got = [next(results)]
        assert not (tmp_path / "elsewhere").exists()
        got += list(results)
    assert [r["choices"][0]["message"]["content"] for _, r in got] == ["Q0", "Q1", "Q2", "Q3"]
    assert not (tmp_path / "elsewhere").exists()
