"""What an integration platform asks of a connector: connection checks, dynamic options, polling triggers,
forms and sample answers, all declared in the manifest (engine/platform.py).

A small connector of its own ("widgets") runs against the loopback server, so each outcome is a real
answer on a real socket; the OpenAI manifest's declarations run in the sandbox.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from urllib.parse import parse_qs

import jsonschema
import pytest

import engine
from conftest import run_cli
from loopback import Loopback, Reply

KEY = "widgets-key-0123456789"
ADMIN = "widgets-admin-9876543210"
PROJECT_KEY = "widgets-project-key-55555"
READER = "widgets-reader-key-44444"
ROOT = Path(__file__).resolve().parent.parent

WIDGETS = textwrap.dedent("""\
    manifest_version: 2
    connector:
      name: widgets
      base_url: https://widgets.example.com/v1
      credentials:
        key: {type: header, header: X-Key, env: WIDGETS_KEY}
        admin: {type: header, header: X-Admin, env: WIDGETS_ADMIN}
      default_credential: key
      errors: {type: json, message: error.message, code: error.code}
      checks:
        key: {action: parts.list}
        admin:
          action: admin.ping
          params: {deep: true}
          wrong_kind:
            - {status: [401, 403], code: project_key}
    definitions:
      paginations:
        cursor: {type: cursor, items: data, next: {body: next}, send: {param: cursor}}
    actions:
      - name: parts.list
        method: GET
        path: /parts
        params:
          - {name: cursor, in: query, schema: {type: string}}
          - {name: shape, in: query, schema: {type: string}}
        response: {type: json}
        pagination: cursor
      - name: tags.all
        method: GET
        path: /tags
        response: {type: json}
      - name: admin.ping
        method: GET
        path: /admin/ping
        credential: admin
        params:
          - {name: deep, in: query, schema: {type: boolean}}
        response: {type: json}
      - name: widgets.make
        method: POST
        path: /widgets
        body: json
        params:
          - name: shape
            in: body
            schema: {type: string, enum: [round, square]}
            title: Shape
            order: 1
          - name: part_id
            in: body
            required: true
            schema: {type: string}
            title: Part
            help: The part the widget is built from.
            order: 2
            options:
              action: parts.list
              params: {shape: "{{ params.shape | default(none) }}"}
              label: "{{ item.name }} ({{ item.id }})"
              filter: "{{ params.color is not defined or item.color == params.color }}"
          - {name: color, in: body, schema: {type: string}, order: 0}
          - {name: tag, in: body, schema: {type: string},
             options: {action: tags.all, items: result.tags, value: "{{ item }}", cache_seconds: 0}}
          - {name: token, in: body, schema: {type: string}, secret: true, advanced: true}
        response: {type: json, schema: {type: object, required: [id, part_id], properties: {id: {type: string}, part_id: {type: string}}}}
      - name: jobs.list
        method: GET
        path: /jobs
        params:
          - {name: cursor, in: query, schema: {type: string}}
          - {name: queue, in: query, schema: {type: string}}
        response: {type: json}
        pagination: cursor
    triggers:
      - name: jobs.created
        kind: new_items
        action: jobs.list
        order_by: created_at
        event: job.created
      - name: jobs.created_newest_first
        kind: new_items
        action: jobs.list
        order_by: created_at
        newest_first: true
        first_run: {backfill: 2}
      - name: jobs.finished
        kind: status_reached
        action: jobs.list
        statuses: [done, failed]
        event: "job.{{ item.status }}"
        params:
          - {name: queue, schema: {type: string}}
      - name: jobs.finished_backfill
        kind: status_reached
        action: jobs.list
        statuses: [done, failed]
        first_run: {backfill: 1}
    """)


@pytest.fixture
def widgets_file(tmp_path):
    path = tmp_path / "widgets.yaml"
    path.write_text(WIDGETS)
    return path


class Api:
    """The widgets API on the loopback server: lists in pages of two, keys checked per route."""

    def __init__(self, srv: Loopback) -> None:
        self.srv = srv
        self.parts = [{"id": f"p{i}", "name": f"Part {i}", "color": "red" if i % 2 else "blue",
                       "shape": "round"} for i in range(5)]
        self.jobs: list[dict] = []
        self.newest_first = False
        self.lock = threading.Lock()
        srv.route("GET", "/v1/parts", lambda req: self.page(req, self.parts, {"x-key": KEY}))
        srv.route("GET", "/v1/jobs", lambda req: self.page(req, self.ordered_jobs(), {"x-key": KEY}))
        srv.route("GET", "/v1/tags", lambda req: Reply(200, {"result": {"tags": ["a", "b", "a"]}}))
        srv.route("GET", "/v1/admin/ping", self.ping)

    def ordered_jobs(self) -> list[dict]:
        with self.lock:
            jobs = sorted(self.jobs, key=lambda j: j["created_at"])
        return list(reversed(jobs)) if self.newest_first else jobs

    def page(self, req, items, keys) -> Reply:
        for header, value in keys.items():
            if req.headers.get(header) != value:
                return Reply(401, {"error": {"message": "Incorrect key provided", "code": "invalid_key"}})
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        items = [i for i in items if "shape" not in q or i.get("shape") == q["shape"]]
        start = int(q.get("cursor", 0))
        nxt = start + 2 if start + 2 < len(items) else None
        return Reply(200, {"data": items[start:start + 2], "next": str(nxt) if nxt is not None else None})

    def ping(self, req) -> Reply:
        given = req.headers.get("x-admin")
        if given == ADMIN:
            return Reply(200, {"ok": True})
        if given == PROJECT_KEY:
            return Reply(403, {"error": {"message": "Project keys cannot do this", "code": "project_key"}})
        if given == READER:
            return Reply(403, {"error": {"message": "Missing the admin role", "code": "forbidden"}})
        return Reply(401, {"error": {"message": f"Incorrect key {given}", "code": "invalid_key"}})

    def requests(self, path: str) -> int:
        return sum(1 for r in self.srv.requests if r.path == path)


@pytest.fixture
def api(srv):
    return Api(srv)


@pytest.fixture
def widgets(widgets_file, srv):
    made = []

    def make(**creds):
        e = engine.Engine(str(widgets_file), base_url=srv.url + "/v1", max_retries=0, **creds)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- connection checks ----------------------------------------------------------------------------------------
def test_check_says_ok_per_credential(api, widgets):
    assert widgets(key=KEY, admin=ADMIN).check() == {"key": {"ok": True}, "admin": {"ok": True}}
    assert any("deep=true" in r.query for r in api.srv.requests if r.path == "/v1/admin/ping")


def test_check_reasons_bad_key_missing_wrong_kind_no_permission(api, widgets):
    bad = widgets(key="not-the-widgets-key-123").check()
    assert bad["key"]["ok"] is False and bad["key"]["reason"] == "bad_key"
    assert bad["admin"]["reason"] == "missing" and "WIDGETS_ADMIN" in bad["admin"]["message"]
    assert widgets(admin=PROJECT_KEY).check(["admin"])["admin"]["reason"] == "wrong_kind"
    assert widgets(admin=READER).check(["admin"])["admin"]["reason"] == "no_permission"
    echoed = widgets(admin="admin-key-the-server-echoes").check(["admin"])["admin"]
    assert echoed["reason"] == "bad_key" and "admin-key-the-server-echoes" not in echoed["message"]


def test_check_network_refused_is_network_and_tried_once(widgets_file):
    with engine.Engine(str(widgets_file), base_url=f"http://127.0.0.1:{_closed_port()}/v1", key=KEY,
                       admin=ADMIN) as e:
        found = e.check()
    assert {r["reason"] for r in found.values()} == {"network"}


def test_check_cli_lines_json_and_exit_codes(api, widgets_file, srv, monkeypatch):
    base = ["--manifest", str(widgets_file), "--base-url", srv.url + "/v1", "--allow-env", "WIDGETS_KEY",
            "--allow-env", "WIDGETS_ADMIN"]
    code, out, _ = run_cli(*base, "check")
    assert code == 6 and out.count("missing") == 2  # nothing set: nothing proven
    monkeypatch.setenv("WIDGETS_KEY", KEY)
    code, out, _ = run_cli(*base, "check")
    assert code == 0 and out.splitlines()[0].split() == ["key", "ok"] and "admin  missing" in out
    monkeypatch.setenv("WIDGETS_ADMIN", READER)
    code, out, _ = run_cli(*base, "check", "--json")
    assert code == 4 and json.loads(out)["admin"]["reason"] == "no_permission"
    code, out, _ = run_cli("--manifest", str(widgets_file), "--base-url", f"http://127.0.0.1:{_closed_port()}/v1",
                           "--allow-env", "WIDGETS_KEY", "check", "key")
    assert code == 5 and out.startswith("key  network: ")


def test_the_sandbox_passes_every_openai_check():
    with engine.Engine(sandbox=True) as e:
        assert e.check() == {"api_key": {"ok": True}, "admin_key": {"ok": True}}
    code, out, _ = run_cli("--sandbox", "check")
    assert code == 0 and out.split() == ["api_key", "ok", "admin_key", "ok"]


# -- dynamic options ------------------------------------------------------------------------------------------
def test_options_follow_every_page_filter_and_are_cached(api, widgets):
    e = widgets(key=KEY)
    every = e.options("widgets.make", "part_id")
    assert [o["value"] for o in every] == ["p0", "p1", "p2", "p3", "p4"]
    assert every[1]["label"] == "Part 1 (p1)"
    assert api.requests("/v1/parts") == 3  # pages of two
    assert e.options("widgets.make", "part_id") == every
    assert api.requests("/v1/parts") == 3  # cached
    red = e.options("widgets.make", "part_id", {"color": "red"})
    assert [o["value"] for o in red] == ["p1", "p3"]
    assert e.options("widgets.make", "part_id", {"shape": "square"}) == []  # sent as the list's own filter
    assert any("shape=square" in r.query for r in api.srv.requests)
    before = api.requests("/v1/parts")
    e.options("widgets.make", "part_id", {"color": "red"})
    assert api.requests("/v1/parts") == before
    with widgets(key=KEY) as other:  # the cache is per Engine
        other.options("widgets.make", "part_id")
    assert api.requests("/v1/parts") == before + 3


def test_options_from_an_answer_that_is_not_paged_and_not_cached(api, widgets):
    e = widgets(key=KEY)
    assert e.options("widgets.make", "tag") == [{"value": "a", "label": "a"}, {"value": "b", "label": "b"}]
    e.options("widgets.make", "tag")
    assert api.requests("/v1/tags") == 2  # cache_seconds: 0
    with pytest.raises(engine.ValidationError, match="declares no options"):
        e.options("widgets.make", "color")


def test_options_cli(api, widgets_file, srv, monkeypatch):
    monkeypatch.setenv("WIDGETS_KEY", KEY)
    base = ["--manifest", str(widgets_file), "--base-url", srv.url + "/v1", "--allow-env", "WIDGETS_KEY"]
    code, out, _ = run_cli(*base, "options", "widgets.make", "part_id", "-p", "color=blue")
    assert code == 0 and out.splitlines() == ["p0  Part 0 (p0)", "p2  Part 2 (p2)", "p4  Part 4 (p4)"]
    code, out, _ = run_cli(*base, "options", "widgets.make", "part_id", "--json")
    assert code == 0 and len(json.loads(out)) == 5


def test_openai_options_in_the_sandbox():
    with engine.Engine(sandbox=True) as e:
        models = [o["value"] for o in e.options("chat.completions.create", "model")]
        assert "gpt-4o-mini" in models
        made = e.run("files.create", {"file": ("train.jsonl", b"{}\n"), "purpose": "fine-tune"})
        e.run("files.create", {"file": ("in.jsonl", b"{}\n"), "purpose": "batch"})
        assert [o["value"] for o in e.options("fine_tuning.jobs.create", "training_file")] == [made["id"]]
        assert len(e.options("files.retrieve", "file_id")) == 2
        store = e.run("vector_stores.create", {"name": "Docs"})
        assert e.options("vector_stores.files.create", "vector_store_id") == [{"value": store["id"], "label": "Docs"}]


# -- forms ----------------------------------------------------------------------------------------------------
def test_input_schema_carries_form_fields(widgets_file):
    schema = engine.load(str(widgets_file)).action("widgets.make").input_schema()
    props = schema["properties"]
    assert list(props) == ["color", "shape", "part_id", "tag", "token"]  # by x-order, the rest after
    assert props["part_id"]["title"] == "Part" and props["part_id"]["description"] == \
        "The part the widget is built from."
    assert props["part_id"]["x-options"] == {"action": "parts.list", "depends_on": ["shape", "color"]}
    assert props["token"]["writeOnly"] is True and props["token"]["x-advanced"] is True
    assert props["shape"]["x-order"] == 1 and "x-advanced" not in props["shape"]
    jsonschema.Draft202012Validator.check_schema(schema)


def test_openai_forms_declared_in_the_overrides(manifest):
    props = manifest.action("chat.completions.create").input_schema()["properties"]
    assert list(props)[:2] == ["model", "messages"]
    assert props["model"]["title"] == "Model" and props["model"]["x-options"]["action"] == "models.list"
    assert props["model"]["description"] == "The model that answers."
    assert props["temperature"]["x-advanced"] is True
    comp = manifest.action("threads.runs.create_and_poll").input_schema()["properties"]
    assert comp["assistant_id"]["x-options"]["action"] == "assistants.list"  # composites share their action's


@pytest.mark.parametrize("name", ["models.list", "chat.completions.create", "files.list", "batches.create",
                                  "threads.runs.create_and_poll"])
def test_sample_output_fits_the_output_schema(manifest, name):
    action = manifest.action(name)
    sample = action.sample_output()
    assert isinstance(sample, dict) and sample
    engine.params.offline_validator(action.output_schema()).validate(sample)


def test_sample_output_of_binary_and_plain_actions(manifest, widgets_file):
    assert manifest.action("files.content").sample_output() == b""
    sample = engine.load(str(widgets_file)).action("widgets.make").sample_output()
    assert set(sample) == {"id", "part_id"}


# -- triggers -------------------------------------------------------------------------------------------------
def _job(api: Api, ident: str, at: int, status: str = "queued") -> dict:
    job = {"id": ident, "created_at": at, "status": status}
    with api.lock:
        api.jobs.append(job)
    return job


def _ids(events):
    return [e["data"]["id"] for e in events]


def test_new_items_from_now_then_each_new_item_once(api, widgets):
    e = widgets(key=KEY)
    _job(api, "j1", 100)
    events, state = e.poll_trigger("jobs.created")
    assert events == [] and json.loads(json.dumps(state)) == state
    _job(api, "j2", 101)
    _job(api, "j3", 102)
    events, state = e.poll_trigger("jobs.created", state)
    assert events[0] == {"id": "jobs.created:j2", "type": "job.created", "created_at": 101,
                         "data": {"id": "j2", "created_at": 101, "status": "queued"}}
    assert _ids(events) == ["j2", "j3"]
    events, state = e.poll_trigger("jobs.created", state)
    assert events == []


def test_new_items_sharing_the_boundary_time(api, widgets):
    e = widgets(key=KEY)
    _job(api, "a", 100)
    _job(api, "b", 100)
    events, state = e.poll_trigger("jobs.created")
    assert events == [] and state["last"] == {"at": 100, "ids": ["a", "b"]}
    _job(api, "c", 100)  # same second as the last poll's newest
    events, state = e.poll_trigger("jobs.created", state)
    assert _ids(events) == ["c"] and state["last"] == {"at": 100, "ids": ["a", "b", "c"]}
    _job(api, "d", 101)
    _job(api, "e", 101)
    events, state = e.poll_trigger("jobs.created", state)
    assert _ids(events) == ["d", "e"] and state["last"] == {"at": 101, "ids": ["d", "e"]}
    _job(api, "f", 101)
    assert _ids(e.poll_trigger("jobs.created", state)[0]) == ["f"]


def test_new_items_backfill_and_newest_first_stops_early(api, widgets):
    api.newest_first = True
    e = widgets(key=KEY)
    for i in range(8):
        _job(api, f"j{i}", 100 + i)
    events, state = e.poll_trigger("jobs.created_newest_first")
    assert _ids(events) == ["j6", "j7"]  # the newest two, oldest first
    assert api.requests("/v1/jobs") == 2  # one page would do; the second shows the next is older
    _job(api, "j8", 108)
    before = api.requests("/v1/jobs")
    events, state = e.poll_trigger("jobs.created_newest_first", state)
    # Page one (j8, j7) ends at the last poll's time, so page two is read, and its first item (j6) is older:
    # two of the five pages.
    assert _ids(events) == ["j8"] and api.requests("/v1/jobs") - before == 2


def test_first_run_from_now_on_an_empty_list_reports_what_comes_later(api, widgets):
    e = widgets(key=KEY)
    events, state = e.poll_trigger("jobs.created")
    assert events == [] and state["last"] == {"at": None, "ids": []}
    _job(api, "j1", 5)
    assert _ids(e.poll_trigger("jobs.created", state)[0]) == ["j1"]


def test_status_reached_reports_each_object_once_per_status(api, widgets):
    e = widgets(key=KEY)
    _job(api, "old", 1, "done")
    running = _job(api, "run", 2, "running")
    events, state = e.poll_trigger("jobs.finished")
    assert events == []  # already finished before the first poll: from now
    running["status"] = "done"
    _job(api, "bad", 3, "failed")
    events, state = e.poll_trigger("jobs.finished", state)
    assert [(ev["id"], ev["type"]) for ev in events] == [("jobs.finished:run:done", "job.done"),
                                                          ("jobs.finished:bad:failed", "job.failed")]
    assert isinstance(events[0]["created_at"], int)
    assert e.poll_trigger("jobs.finished", state)[0] == []
    events, _ = e.poll_trigger("jobs.finished_backfill")
    assert _ids(events) == ["bad"]


def test_trigger_state_is_checked(api, widgets):
    e = widgets(key=KEY)
    _, state = e.poll_trigger("jobs.created")
    for bad in ([1], {"version": 1}, {**state, "trigger": "jobs.finished"}, {**state, "last": {"at": 1}},
                {**state, "last": {"at": 1, "ids": [{}]}}, {**state, "version": 9}):
        with pytest.raises(engine.TriggerStateError):
            e.poll_trigger("jobs.created", bad)
    _, state = e.poll_trigger("jobs.finished", None, {"queue": "q1"})
    with pytest.raises(engine.TriggerStateError, match="other params"):
        e.poll_trigger("jobs.finished", state, {"queue": "q2"})
    with pytest.raises(engine.UnknownTriggerError, match="did you mean 'jobs.created'"):
        e.poll_trigger("jobs.create")
    with pytest.raises(engine.ValidationError):
        e.poll_trigger("jobs.finished", None, {"queue": 5})


def test_trigger_cli_saves_state_after_the_events(api, widgets_file, srv, tmp_path, monkeypatch):
    monkeypatch.setenv("WIDGETS_KEY", KEY)
    state = tmp_path / "jobs.state.json"
    base = ["--manifest", str(widgets_file), "--base-url", srv.url + "/v1", "--allow-env", "WIDGETS_KEY",
            "trigger", "jobs.created", "--state", str(state)]
    _job(api, "j1", 1)
    assert run_cli(*base)[:2] == (0, "") and json.loads(state.read_text())["last"]["ids"] == ["j1"]
    _job(api, "j2", 2)
    code, out, _ = run_cli(*base)
    assert code == 0 and [json.loads(line)["data"]["id"] for line in out.splitlines()] == ["j2"]
    state.write_text("{not json")
    code, _, err = run_cli(*base)
    assert code == 1 and "not JSON" in err


def test_a_crash_between_the_events_and_the_save_repeats_them_and_loses_none(api, widgets_file, srv, tmp_path):
    """The process dies right after writing the events (before the state is saved): the next poll
    reports them again, with the same ids, and nothing is lost."""
    state = tmp_path / "jobs.state.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WIDGETS_KEY": KEY}
    argv = ["--manifest", str(widgets_file), "--base-url", srv.url + "/v1", "--allow-env", "WIDGETS_KEY",
            "trigger", "jobs.created", "--state", str(state)]
    crash = ("import os, sys\nfrom engine import cli, platform\n"
             "platform.write_state = lambda *a: os._exit(137)\nsys.exit(cli.main(sys.argv[1:]))\n")

    def poll(crashing: bool) -> tuple[int, list[str]]:
        cmd = [sys.executable, "-c", crash, *argv] if crashing else [sys.executable, "-m", "engine.cli", *argv]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode, [json.loads(line)["id"] for line in done.stdout.splitlines()]

    _job(api, "j1", 1)
    assert poll(False) == (0, [])
    _job(api, "j2", 2)
    _job(api, "j3", 3)
    assert poll(True) == (137, ["jobs.created:j2", "jobs.created:j3"])
    _job(api, "j4", 4)
    assert poll(False) == (0, ["jobs.created:j2", "jobs.created:j3", "jobs.created:j4"])
    assert poll(False) == (0, [])


def test_openai_triggers_in_the_sandbox(tmp_path):
    with engine.Engine(sandbox=True) as e:
        events, state = e.poll_trigger("files.created")
        assert events == []
        made = e.run("files.create", {"file": ("a.jsonl", b"{}\n"), "purpose": "batch"})
        events, state = e.poll_trigger("files.created", state)
        assert [(ev["type"], ev["data"]["id"]) for ev in events] == [("file.created", made["id"])]
        assert set(events[0]) == {"id", "type", "created_at", "data"}
        with pytest.raises(engine.ValidationError, match="vector_store_id"):
            e.poll_trigger("vector_stores.files.processed")
        store = e.run("vector_stores.create", {"name": "Docs"})
        _, vs_state = e.poll_trigger("vector_stores.files.processed", None, {"vector_store_id": store["id"]})
        e.run("vector_stores.files.create", {"vector_store_id": store["id"], "file_id": made["id"]})
        e.run("vector_stores.files.retrieve", {"vector_store_id": store["id"], "file_id": made["id"]})
        events, _ = e.poll_trigger("vector_stores.files.processed", vs_state, {"vector_store_id": store["id"]})
        assert [ev["type"] for ev in events] == ["vector_store.file.completed"]
        assert e.options("vector_stores.files.processed", "vector_store_id") == [{"value": store["id"],
                                                                                  "label": "Docs"}]
        form = e.manifest.triggers["vector_stores.files.processed"].input_schema()
        assert form["required"] == ["vector_store_id"] and "x-options" in form["properties"]["vector_store_id"]
        line = json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/embeddings",
                           "body": {"model": "text-embedding-3-small", "input": "hi"}}) + "\n"
        _, batch_state = e.poll_trigger("batches.finished")
        _, created_state = e.poll_trigger("batches.created")
        upload = e.run("files.create", {"file": ("in.jsonl", line.encode()), "purpose": "batch"})
        batch = e.run("batches.create", {"input_file_id": upload["id"], "endpoint": "/v1/embeddings",
                                         "completion_window": "24h"})
        assert [ev["type"] for ev in e.poll_trigger("batches.created", created_state)[0]] == ["batch.created"]
        assert e.poll_trigger("batches.finished", batch_state)[0] == []
        e.run("batches.wait", {"batch_id": batch["id"], "poll_interval": 0.01})
        events, _ = e.poll_trigger("batches.finished", batch_state)
        assert [ev["id"] for ev in events] == [f"batches.finished:{batch['id']}:completed"]
        _, job_state = e.poll_trigger("fine_tuning.jobs.finished")
        job = e.run("fine_tuning.jobs.create", {"model": "gpt-4o-mini", "training_file": upload["id"]})
        e.run("fine_tuning.jobs.wait", {"fine_tuning_job_id": job["id"], "poll_interval": 0.01})
        events, _ = e.poll_trigger("fine_tuning.jobs.finished", job_state)
        assert [ev["type"] for ev in events] == ["fine_tuning.job.succeeded"]
    assert set(engine.load().triggers) == {"files.created", "batches.created", "batches.finished",
                                           "fine_tuning.jobs.finished", "vector_stores.files.processed"}


# -- checked at load ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    (("checks:\n    key: {action: parts.list}", "checks:\n    nokey: {action: parts.list}"),
     "check for 'nokey': no such credential"),
    (("key: {action: parts.list}", "key: {action: admin.ping}"), "does not send that credential"),
    (("action: parts.list\n          params", "action: parts.lst\n          params"),
     "no action 'parts.lst'; did you mean 'parts.list'"),
    (("action: tags.all, items: result.tags,", "action: tags.all,"), "say where its answer keeps the items"),
    (("label: \"{{ item.name }} ({{ item.id }})\"", "label: \"{{ thing.name }}\""), "uses 'thing'"),
    (("    order_by: created_at\n    event: job.created", "    event: job.created"),
     "needs `order_by`"),
    (("kind: status_reached\n    action: jobs.list\n    statuses: [done, failed]\n    event",
      "kind: status_reached\n    action: jobs.list\n    event"), "needs `statuses`"),
    (("first_run: {backfill: 2}", "first_run: {backfill: -1}"), "first_run"),
])
def test_platform_blocks_are_checked_at_load(tmp_path, change, message):
    text = WIDGETS.replace(*change)
    assert text != WIDGETS
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(engine.ManifestError) as info:
        engine.load(str(path))
    assert message in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("crash_at", ["before appending", "after appending", "mid-line"])
def test_with_an_output_file_a_crash_neither_drops_nor_repeats_an_event(api, widgets_file, srv, tmp_path, crash_at):
    """`trigger --output FILE` journals each batch first: whatever point a crash cuts, the next run
    finishes the delivery, and every event is in the file exactly once."""
    state, output = tmp_path / "jobs.state.json", tmp_path / "events.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WIDGETS_KEY": KEY}
    argv = ["--manifest", str(widgets_file), "--base-url", srv.url + "/v1", "--allow-env", "WIDGETS_KEY",
            "trigger", "jobs.created", "--state", str(state), "--output", str(output)]
    crashes = {
        "before appending": "platform._append_missing = lambda *a: os._exit(137)\n",
        "after appending": ("real = platform.write_state\ncalls = []\n"
                            "def write(path, st):\n    calls.append(path)\n"
                            "    if len(calls) == 2: os._exit(137)\n    real(path, st)\n"
                            "platform.write_state = write\n"),
        "mid-line": ("def cut(path, events):\n    open(path, 'a').write('{\"id\": \"jobs.created:j2\", \"ty')\n"
                     "    os._exit(137)\nplatform._append_missing = cut\n"),
    }
    crash = "import os, sys\nfrom engine import cli, platform\n" + crashes[crash_at] + "sys.exit(cli.main(sys.argv[1:]))\n"

    def poll(crashing: bool) -> int:
        cmd = [sys.executable, "-c", crash, *argv] if crashing else [sys.executable, "-m", "engine.cli", *argv]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60).returncode

    _job(api, "j1", 1)
    assert poll(False) == 0
    _job(api, "j2", 2)
    _job(api, "j3", 3)
    assert poll(True) == 137
    _job(api, "j4", 4)
    assert poll(False) == 0 and poll(False) == 0
    ids = []
    for line in output.read_text().splitlines():
        try:
            ids.append(json.loads(line)["id"])
        except ValueError:
            continue  # the line the crash cut
    assert ids == ["jobs.created:j2", "jobs.created:j3", "jobs.created:j4"]
