"""Declared polling composites: call, then retrieve until terminal, with hints and deadlines."""
from __future__ import annotations

import pytest
from responses import matchers

import engine
from conftest import BASE

RUN_TERMINAL = ["requires_action", "cancelled", "completed", "failed", "expired", "incomplete"]


class Clock:
    """A fake monotonic clock advanced by the fake sleep, so no test really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(eng, monkeypatch):
    c = Clock()
    eng.transport.sleep = c.sleep
    monkeypatch.setattr("engine.composite.time.monotonic", c)
    return c


@pytest.mark.parametrize("final", RUN_TERMINAL)
def test_create_and_poll_until_each_terminal_status(eng, mocked, clock, final):
    mocked.post(f"{BASE}/threads/thread_1/runs", json={"id": "run_1", "status": "queued"},
                match=[matchers.json_params_matcher({"assistant_id": "asst_1"})])
    mocked.get(f"{BASE}/threads/thread_1/runs/run_1", json={"id": "run_1", "status": "in_progress"})
    mocked.get(f"{BASE}/threads/thread_1/runs/run_1", json={"id": "run_1", "status": final})
    out = eng.run("threads.runs.create_and_poll", {"thread_id": "thread_1", "assistant_id": "asst_1"})
    assert out == {"id": "run_1", "status": final}
    assert len(mocked.calls) == 3
    assert clock.sleeps == [1.0, 1.0]
    assert all(c.request.headers["OpenAI-Beta"] == "assistants=v2" for c in mocked.calls)


def test_poll_after_header_sets_the_interval(eng, mocked, clock):
    mocked.post(f"{BASE}/threads/runs", json={"id": "run_2", "thread_id": "thread_9", "status": "queued"},
                headers={"openai-poll-after-ms": "250"})
    mocked.get(f"{BASE}/threads/thread_9/runs/run_2", json={"id": "run_2", "status": "in_progress"},
               headers={"openai-poll-after-ms": "1500"})
    mocked.get(f"{BASE}/threads/thread_9/runs/run_2", json={"id": "run_2", "status": "completed"})
    out = eng.run("threads.create_and_run_poll", {"assistant_id": "asst_1", "poll_interval": 5})
    assert out["status"] == "completed"
    assert clock.sleeps == [0.25, 1.5]


def test_poll_interval_and_timeout_from_the_caller(eng, mocked, clock):
    mocked.get(f"{BASE}/batches/batch_1", json={"id": "batch_1", "status": "in_progress"})
    with pytest.raises(engine.PollTimeoutError) as info:
        eng.run("batches.wait", {"batch_id": "batch_1", "poll_interval": 2, "poll_timeout": 7})
    assert clock.sleeps == [2, 2, 2]
    assert "in_progress" in str(info.value) and info.value.body["status"] == "in_progress"
    assert info.value.action == "batches.wait"


def test_already_terminal_means_no_poll(eng, mocked, clock):
    mocked.get(f"{BASE}/fine_tuning/jobs/ftjob-1", json={"id": "ftjob-1", "status": "succeeded"})
    assert eng.run("fine_tuning.jobs.wait", {"fine_tuning_job_id": "ftjob-1"})["status"] == "succeeded"
    assert clock.sleeps == [] and len(mocked.calls) == 1


def test_vector_store_file_poll_draws_ids_from_params_and_result(eng, mocked, clock):
    mocked.post(f"{BASE}/vector_stores/vs_1/files", json={"id": "file-7", "status": "in_progress"},
                match=[matchers.json_params_matcher({"file_id": "file-7"})])
    mocked.get(f"{BASE}/vector_stores/vs_1/files/file-7", json={"id": "file-7", "status": "failed"})
    out = eng.run("vector_stores.files.create_and_poll", {"vector_store_id": "vs_1", "file_id": "file-7"})
    assert out["status"] == "failed"


def test_file_batch_poll(eng, mocked, clock):
    mocked.post(f"{BASE}/vector_stores/vs_1/file_batches", json={"id": "vsfb_1", "status": "in_progress"})
    mocked.get(f"{BASE}/vector_stores/vs_1/file_batches/vsfb_1", json={"id": "vsfb_1", "status": "completed"})
    out = eng.run("vector_stores.file_batches.create_and_poll", {"vector_store_id": "vs_1", "file_ids": ["f1"]})
    assert out["id"] == "vsfb_1"


def test_submit_tool_outputs_and_poll(eng, mocked, clock):
    mocked.post(f"{BASE}/threads/t/runs/r/submit_tool_outputs", json={"id": "r", "status": "queued"},
                match=[matchers.json_params_matcher({"tool_outputs": [{"tool_call_id": "c", "output": "1"}]})])
    mocked.get(f"{BASE}/threads/t/runs/r", json={"id": "r", "status": "completed"})
    out = eng.run("threads.runs.submit_tool_outputs_and_poll",
                  {"thread_id": "t", "run_id": "r", "tool_outputs": [{"tool_call_id": "c", "output": "1"}]})
    assert out["status"] == "completed"


def test_composite_params_are_validated_first(eng, mocked):
    with pytest.raises(engine.ValidationError) as info:
        eng.run("threads.runs.create_and_poll", {"thread_id": "t", "poll_timeout": -1, "stream": True})
    params = {p.param for p in info.value.problems}
    assert params == {"assistant_id", "poll_timeout", "stream"}
    assert len(mocked.calls) == 0


def test_errors_while_polling_propagate_typed(eng, mocked, clock):
    mocked.post(f"{BASE}/threads/t/runs", json={"id": "r", "status": "queued"})
    mocked.get(f"{BASE}/threads/t/runs/r", status=404, json={"error": {"message": "No run found"}})
    with pytest.raises(engine.NotFoundError, match="No run found"):
        eng.run("threads.runs.create_and_poll", {"thread_id": "t", "assistant_id": "a"})


def test_composites_have_form_schemas(eng):
    schema = eng.action("threads.runs.create_and_poll").input_schema()
    assert {"thread_id", "assistant_id", "poll_interval", "poll_timeout"} <= set(schema["properties"])
    assert "stream" not in schema["properties"]
    up = eng.action("uploads.upload_file").input_schema()
    assert set(up["required"]) == {"file", "purpose", "mime_type"}


def test_a_composite_has_no_one_request_to_prepare(manifest):
    eng = engine.Engine(manifest, api_key="sk-test")
    with pytest.raises(engine.ValidationError, match="assistant_id"):  # its params are still checked first
        eng.prepare("threads.runs.create_and_poll", {"thread_id": "thread_1"})
    with pytest.raises(engine.Error, match=r"composite action.*\(threads\.runs\.create, threads\.runs\.retrieve\)"):
        eng.prepare("threads.runs.create_and_poll", {"thread_id": "thread_1", "assistant_id": "asst_1"})


@pytest.mark.parametrize("hint", ["nan", "-500", "inf"])
def test_a_poll_after_hint_that_is_no_wait_falls_back_to_the_interval(eng, mocked, clock, hint):
    mocked.get(f"{BASE}/batches/batch_1", json={"id": "batch_1", "status": "in_progress"},
               headers={"openai-poll-after-ms": hint})
    mocked.get(f"{BASE}/batches/batch_1", json={"id": "batch_1", "status": "completed"})
    out = eng.run("batches.wait", {"batch_id": "batch_1", "poll_interval": 2})
    assert out["status"] == "completed"
    assert clock.sleeps == [2]


@pytest.mark.parametrize("name, value", [("poll_interval", float("nan")), ("poll_interval", float("inf")),
                                         ("poll_timeout", float("nan")), ("poll_timeout", float("inf"))])
def test_a_non_finite_interval_or_timeout_is_refused_before_any_call(eng, mocked, name, value):
    with pytest.raises(engine.ValidationError) as info:
        eng.run("batches.wait", {"batch_id": "batch_1", name: value})
    assert [p.param for p in info.value.problems] == [name]
    assert len(mocked.calls) == 0


def test_upload_and_poll_helpers_run_offline(tmp_path):
    """The SDK's upload-then-attach helpers, declared as composites, end at a processed file or batch."""
    doc = tmp_path / "notes.txt"
    doc.write_text("hello")
    with engine.Engine(sandbox=True) as eng:
        store = eng.run("vector_stores.create", {"name": "kb"})
        one = eng.run("vector_stores.files.upload_and_poll",
                      {"vector_store_id": store["id"], "file": str(doc), "poll_interval": 0.01})
        assert one["object"] == "vector_store.file" and one["status"] == "completed"
        batch = eng.run("vector_stores.file_batches.upload_and_poll",
                        {"vector_store_id": store["id"], "files": [str(doc), str(doc)], "poll_interval": 0.01})
        assert batch["status"] == "completed"
        uploaded = eng.run("files.create", {"file": doc, "purpose": "assistants"})
        done = eng.run("files.wait_for_processing", {"file_id": uploaded["id"], "poll_interval": 0.01})
        assert done["status"] == "processed"
    assert [c.name for c in eng.actions() if c.composite and "upload_and_poll" in c.name] == [
        "vector_stores.files.upload_and_poll", "vector_stores.file_batches.upload_and_poll"]


def test_an_interval_read_from_params_is_judged_before_the_first_call(mocked):
    """A composite whose schema lets 0 through still sends nothing: the poll's interval is checked first."""
    m = engine.load({
        "manifest_version": 2,
        "connector": {"name": "jobs", "base_url": BASE, "credentials": {"open": {"type": "none"}}},
        "actions": [
            {"name": "jobs.create", "method": "POST", "path": "/jobs", "body": "json", "response": {"type": "json"}},
            {"name": "jobs.retrieve", "method": "GET", "path": "/jobs/{job_id}", "response": {"type": "json"},
             "params": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]}],
        "composites": [{
            "name": "jobs.run", "params": [{"name": "every", "schema": {"type": "number", "minimum": 0}}],
            "steps": [{"name": "job", "type": "call", "action": "jobs.create", "params": {}},
                      {"type": "poll", "action": "jobs.retrieve", "params": {"job_id": "{{ steps.job.id }}"},
                       "until": "{{ response.done }}", "interval": "{{ params.every }}",
                       "timeout": "{{ steps.job.ttl | default(60) }}"}]}]})
    with engine.Engine(manifest=m) as eng:
        with pytest.raises(engine.ValidationError, match="interval must be a positive number"):
            eng.run("jobs.run", {"every": 0})
        assert len(mocked.calls) == 0
        mocked.post(f"{BASE}/jobs", json={"id": "j1", "done": True})
        assert eng.run("jobs.run", {"every": 1}) == {"id": "j1", "done": True}  # a timeout over steps waits its turn
