"""The second bundled manifest: the 2026-08-21 surface, generated exactly, named as the SDK names it,
selectable by name, and sending what each operation's description asks for (over real sockets)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import engine
from engine import manifest as manifest_module, openapi
from conftest import ADMIN_KEY, API_KEY, run_cli
from loopback import Reply
from test_uploads import parse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import generate_manifest as gen  # noqa: E402
from engine.errors import Error  # noqa: E402

pytestmark = pytest.mark.slow  # each test here takes seconds (see setup.cfg)

NAME = "openai-2026-08-21"
SPEC = ROOT / "openapi" / "openai-2026-08-21.yaml.xz"
OVERRIDES = ROOT / "tools" / "overrides-2026.yaml"
OUTPUT = ROOT / "engine" / "_data" / "openai-2026-08-21.yaml"
LOAD_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def m26():
    started = time.perf_counter()
    loaded = engine.load(NAME)
    LOAD_TIMES["first load in this run (cold cache)"] = time.perf_counter() - started
    return loaded


@pytest.fixture(scope="module")
def spec26():
    return openapi.load_spec(str(SPEC))


@pytest.fixture
def eng26(m26, srv):
    e = engine.Engine(m26, api_key=API_KEY, admin_key=ADMIN_KEY, base_url=srv.url + "/v1", max_retries=0)
    yield e
    e.close()


# --- generation ----------------------------------------------------------------------------

def test_generation_is_exact_and_check_mode_agrees():
    text = gen.render(gen.build(SPEC, OVERRIDES))
    assert text == OUTPUT.read_text(encoding="utf-8"), f"{OUTPUT.name} drifted from its sources: regenerate it"
    assert gen.main(["--spec", str(SPEC), "--overrides", str(OVERRIDES), "--output", str(OUTPUT), "--check"]) == 0


def test_overrides_extend_the_first_surface(tmp_path):
    """`extends` merges the base file under this one: its connector, composites and names carry over."""
    ov = gen.load_overrides(OVERRIDES)
    base = gen.load_overrides(gen.DEFAULT_OVERRIDES)
    own = yaml.safe_load(OVERRIDES.read_text())["connector"]["sandbox"]  # the sandbox data only this surface has
    assert {k: v for k, v in ov["connector"].items() if k != "sandbox"} == \
        {k: v for k, v in base["connector"].items() if k != "sandbox"}
    for key, value in base["connector"]["sandbox"].items():
        merged = ov["connector"]["sandbox"][key]
        assert merged == value or key in own and (merged == own[key] or merged == {**value, **own[key]}), key
    names = [c["name"] for c in ov["composites"]]
    assert names[:len(base["composites"])] == [c["name"] for c in base["composites"]]  # carried over, in order
    assert names[len(base["composites"]):] == ["responses.create_and_poll", "responses.wait"]  # and its own
    assert ov["rules"][:len(base["rules"])] == base["rules"]
    assert ov["actions"]["createThreadAndRun"]["name"] == "threads.create_and_run"
    assert set(ov["definitions"]["streams"]) == {"sse", "responses_sse", "images_sse", "transcription_sse", "speech_sse"}
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\n")
    with pytest.raises(Error, match="extends itself"):
        gen.load_overrides(loop)


# --- surface and names ---------------------------------------------------------------------

def test_every_operation_is_one_action(m26, spec26):
    ops = [op["operationId"] for _, _, op in openapi.operations(spec26)]
    assert len(ops) == len(m26.actions) == 288
    assert sorted(a.spec["operation_id"] for a in m26.actions.values()) == sorted(ops)


# operationId -> the official openai-python SDK's method (`client.` left out; `admin.` too, see overrides-2026.yaml)
SDK_NAMES = {
    "createResponse": "responses.create",
    "cancelResponse": "responses.cancel",
    "listInputItems": "responses.input_items.list",
    "Getinputtokencounts": "responses.input_tokens.count",
    "Compactconversation": "responses.compact",
    "beta_createResponse": "beta.responses.create",
    "beta_listInputItems": "beta.responses.input_items.list",
    "createConversationItems": "conversations.items.create",
    "listConversationItems": "conversations.items.list",
    "CreateContainerFile": "containers.files.create",
    "RetrieveContainerFileContent": "containers.files.content.retrieve",
    "getEvalRunOutputItems": "evals.runs.output_items.list",
    "cancelEvalRun": "evals.runs.cancel",
    "searchVectorStore": "vector_stores.search",
    "retrieveVectorStoreFileContent": "vector_stores.files.content",
    "create-realtime-client-secret": "realtime.client_secrets.create",
    "create-realtime-call": "realtime.calls.create",
    "accept-realtime-call": "realtime.calls.accept",
    "createVideo": "videos.create",
    "RetrieveVideoContent": "videos.download_content",
    "CreateVideoRemix": "videos.remix",
    "CreateVideoEdit": "videos.edit",
    "GetSkillVersionContent": "skills.versions.content.retrieve",
    "runGrader": "fine_tuning.alpha.graders.run",
    "pauseFineTuningJob": "fine_tuning.jobs.pause",
    "listFineTuningCheckpointPermissions": "fine_tuning.checkpoints.permissions.list",
    "getChatCompletionMessages": "chat.completions.messages.list",
    "CreateChatSessionMethod": "beta.chatkit.sessions.create",
    "ListThreadItemsMethod": "beta.chatkit.threads.list_items",
    "activateOrganizationCertificates": "organization.certificates.activate",
    "list-project-roles": "organization.projects.roles.list",
    "usage-web-search-calls": "organization.usage.web_search_calls",
    "CreateanAPIkeyforaserviceaccount": "organization.projects.service_accounts.api_keys.create",
}


@pytest.mark.parametrize("operation_id,name", sorted(SDK_NAMES.items()))
def test_names_are_the_sdks(m26, operation_id, name):
    assert m26.action(name).spec["operation_id"] == operation_id


def test_the_110_keep_their_names(m26, manifest):
    by_operation = {a.spec["operation_id"]: a.name for a in m26.actions.values()}
    changed = {a.spec["operation_id"]: (a.name, by_operation[a.spec["operation_id"]])
               for a in manifest.actions.values() if by_operation[a.spec["operation_id"]] != a.name}
    assert changed == {}


def test_beta_paths_are_one_action_each_sending_the_beta_query(m26):
    beta = {n: a for n, a in m26.actions.items() if a.spec.get("query") == {"beta": "true"}}
    assert sorted(beta) == sorted(n for n in m26.actions if n.startswith("beta.responses."))
    assert len(beta) == 7
    for name, action in beta.items():
        assert m26.action(name[len("beta."):]).path == action.path  # the same operation without ?beta=true


# --- credentials and headers from the description --------------------------------------------

def test_each_credential_follows_the_operations_security(m26, spec26):
    admin = {op["operationId"] for _, _, op in openapi.operations(spec26)
             if any("AdminApiKeyAuth" in req for req in op.get("security", spec26.get("security", [])))}
    assert len(admin) > 100
    for action in m26.actions.values():
        expected = "admin_key" if action.spec["operation_id"] in admin else "api_key"
        assert action.credential == expected, action.name
    projects = [a for a in m26.actions.values() if a.path.startswith("/projects/")]
    assert len(projects) == 13 and {a.credential for a in projects} == {"admin_key"}


def test_admin_and_project_keys_go_where_security_says(eng26, srv):
    srv.route("GET", "/v1/projects/proj_1/roles", lambda req: Reply(200, {"object": "list", "data": []}))
    srv.route("POST", "/v1/responses", lambda req: Reply(200, {"id": "resp_1", "object": "response"}))
    eng26.run("organization.projects.roles.list", {"project_id": "proj_1"})
    eng26.run("responses.create", {"model": "gpt-5", "input": "hi"})
    assert srv.requests[0].headers["authorization"] == f"Bearer {ADMIN_KEY}"
    assert srv.requests[1].headers["authorization"] == f"Bearer {API_KEY}"


def test_beta_headers(eng26, srv):
    srv.route("POST", "/v1/chatkit/sessions", lambda req: Reply(200, {"id": "cksess_1"}))
    srv.route("POST", "/v1/threads", lambda req: Reply(200, {"id": "thread_1"}))
    srv.route("POST", "/v1/responses", lambda req: Reply(200, {"id": "resp_1"}))
    eng26.run("beta.chatkit.sessions.create", {"workflow": {"id": "wf_1"}, "user": "u"})
    eng26.run("threads.create", {})
    eng26.run("beta.responses.create", {"model": "gpt-5", "input": "hi", "betas": ["responses_multi_agent=v1"]})
    chatkit, thread, beta = srv.requests
    assert chatkit.headers["openai-beta"] == "chatkit_beta=v1"
    assert thread.headers["openai-beta"] == "assistants=v2"
    assert beta.headers["openai-beta"] == "responses_multi_agent=v1" and beta.query == "beta=true"


# --- content types ---------------------------------------------------------------------------

def test_a_choice_body_is_multipart_with_a_file_and_json_without(eng26, srv):
    srv.route("POST", "/v1/containers/cntr_1/files", lambda req: Reply(200, {"id": "cfile_1"}))
    eng26.run("containers.files.create", {"container_id": "cntr_1", "file": ("notes.txt", b"hello")})
    eng26.run("containers.files.create", {"container_id": "cntr_1", "file_id": "file_1"})
    upload, by_id = srv.requests
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert [(n, f, body) for n, f, _, body in parse(upload.body, upload.headers["content-type"])] == [
        ("file", "notes.txt", b"hello")]
    assert by_id.headers["content-type"] == "application/json" and by_id.json() == {"file_id": "file_1"}


def test_a_realtime_call_sends_sdp(eng26, srv):
    offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"
    srv.route("POST", "/v1/realtime/calls",
              lambda req: Reply(201, "v=0\r\ns=answer\r\n", headers={"Content-Type": "application/sdp"}))
    answer = eng26.run("realtime.calls.create", {"sdp": offer})
    with_session = eng26.run("realtime.calls.create", {"sdp": offer, "session": {"type": "realtime"}})
    plain, form = srv.requests
    assert plain.headers["content-type"] == "application/sdp" and plain.body == offer.encode()
    assert plain.headers["accept"] == "application/sdp"
    assert answer == with_session == "v=0\r\ns=answer\r\n"
    parts = {n: body for n, _, _, body in parse(form.body, form.headers["content-type"])}
    assert parts["sdp"] == offer.encode() and json.loads(parts["session"]) == {"type": "realtime"}


def test_binary_answers_ask_for_their_real_types(m26):
    assert m26.action("videos.download_content").spec["headers"]["Accept"] == "video/mp4, image/webp, application/json"
    assert m26.action("videos.download_content").response_kind == "binary"
    assert m26.action("skills.content.retrieve").spec["headers"]["Accept"].startswith("application/zip")
    assert m26.action("containers.files.content.retrieve").response_kind == "binary"
    assert m26.action("responses.delete").response_kind == "none"  # a 200 without a body


def test_header_arrays_and_object_filters_use_the_descriptions_style(eng26, srv):
    srv.route("GET", "/v1/fine_tuning/jobs", lambda req: Reply(200, {"object": "list", "data": [], "has_more": False}))
    srv.route("GET", "/v1/responses/resp_1", lambda req: Reply(200, {"id": "resp_1"}))
    eng26.run("fine_tuning.jobs.list", {"metadata": {"team": "a b"}})
    twice = ["responses_multi_agent=v1"] * 2  # the description's only value, twice: a list of two
    eng26.run("beta.responses.retrieve", {"response_id": "resp_1", "betas": twice})
    jobs, beta = srv.requests
    assert jobs.query == "metadata%5Bteam%5D=a%20b"
    assert beta.headers["openai-beta"] == "responses_multi_agent=v1,responses_multi_agent=v1"


# --- Responses streams -----------------------------------------------------------------------

def _sse(kind: str, n: int, **fields) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': n, **fields})}\n\n".encode()


CREATED, DELTA = _sse("response.created", 0, response={"id": "resp_1"}), _sse("response.output_text.delta", 1, delta="Hi")
SSE = {"Content-Type": "text/event-stream"}


def test_a_responses_stream_ends_cleanly_on_response_completed(eng26, srv):
    done = _sse("response.completed", 2, response={"id": "resp_1", "status": "completed"})
    srv.route("POST", "/v1/responses", lambda req: Reply(200, chunks=[CREATED, DELTA, done], headers=SSE))
    stream = eng26.run("responses.create", {"model": "gpt-5", "input": "hi", "stream": True})
    events = list(stream)
    assert [(e.event, e.data["sequence_number"]) for e in events] == [
        ("response.created", 0), ("response.output_text.delta", 1), ("response.completed", 2)]
    assert stream.closed


def test_a_responses_stream_without_its_terminal_event_is_an_error(eng26, srv):
    srv.route("POST", "/v1/responses", lambda req: Reply(200, chunks=[CREATED, DELTA], headers=SSE))
    with pytest.raises(engine.APIConnectionError):
        list(eng26.run("responses.create", {"model": "gpt-5", "input": "hi", "stream": True}))


def test_an_error_event_in_a_responses_stream_raises(eng26, srv):
    error = _sse("error", 2, code="server_error", message="boom")
    srv.route("POST", "/v1/responses", lambda req: Reply(200, chunks=[CREATED, error], headers=SSE))
    stream = eng26.run("responses.create", {"model": "gpt-5", "input": "hi", "stream": True})
    assert next(stream).event == "response.created"
    with pytest.raises(engine.APIError):
        next(stream)


# --- selection by name, trust, start-up ------------------------------------------------------

def test_selectable_by_name_and_alias_and_the_110_stay_the_default(m26, manifest):
    assert engine.load("openai-latest").action("responses.create").path == "/responses"
    assert manifest_module.bundled_names()["openai-latest"] == manifest_module.bundled_names()[NAME]
    assert len(engine.load().actions) == 110 and len(engine.load("openai-2025-01-21").actions) == 110
    with engine.Engine(manifest=NAME, api_key="k") as e:
        assert len(e.manifest.actions) == 288
    code, out, _ = run_cli("--manifest", "openai-latest", "actions")
    assert code == 0 and "responses.input_items.list" in out and "beta.chatkit.threads.list_items" in out


def test_a_bundled_manifest_by_name_reads_its_variables_as_the_default_one_does(srv, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url + "/v1")
    srv.route("GET", "/v1/videos", lambda req: Reply(200, {"object": "list", "data": [], "has_more": False}))
    with engine.Engine(manifest="openai-latest", max_retries=0) as e:
        e.run("videos.list")
    assert srv.requests[0].headers["authorization"] == "Bearer sk-from-env"


def test_a_warm_start_reads_the_cache(m26, monkeypatch):
    """Once checked (the description's YAML dates too), the manifest loads from the cache: nothing is checked."""
    def no_check(*args, **kwargs):
        raise AssertionError("a warm start checked the manifest again")

    monkeypatch.setattr(manifest_module, "_check", no_check)
    started = time.perf_counter()
    warm = engine.load("openai-latest")
    LOAD_TIMES["warm (from the cache)"] = time.perf_counter() - started
    assert len(warm.actions) == 288
    code = ("import time; t = time.perf_counter(); import engine; "
            "m = engine.load('openai-latest'); print(time.perf_counter() - t, len(m.actions))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    LOAD_TIMES["warm, new process (import + load)"] = float(out[0])
    assert out[1] == "288"
    print("\n" + "\n".join(f"openai-2026-08-21 load, {k}: {v:.3f} s" for k, v in LOAD_TIMES.items()))


def test_no_drift_against_its_own_description():
    code, out, _ = run_cli("--manifest", NAME, "drift", str(SPEC))
    assert code == 0 and out.startswith("drift: 0 added, 0 removed, 0 changed"), out


def test_the_wheel_ships_every_package_and_bundled_manifest():
    """setup.cfg lists each engine package (components too) and data that covers every bundled manifest."""
    import configparser
    import fnmatch

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    packages = {p.strip() for p in cfg["options"]["packages"].split(",")}
    found = {".".join(d.relative_to(ROOT).parts) for d in (ROOT / "engine").rglob("*")
             if d.is_dir() and (d / "__init__.py").exists()} | {"engine"}
    assert found <= packages, found - packages
    data = [g.strip() for g in cfg["options.package_data"]["engine._data"].split(",")]
    shipped = {p.name for p in manifest_module.bundled_names().values()} | {"aliases.json"}
    assert all(any(fnmatch.fnmatch(name, g) for g in data) for name in shipped), (shipped, data)


def test_yaml_dates_in_the_descriptions_examples_become_text():
    """`version: 2024-10-01` in an example is the text JSON carries, so a cold and a warm load agree."""
    import datetime

    import yaml

    def dates(node):
        if isinstance(node, dict):
            return [d for v in node.values() for d in dates(v)]
        if isinstance(node, list):
            return [d for v in node for d in dates(v)]
        return [node] if isinstance(node, datetime.date) else []

    assert dates(yaml.load(OUTPUT.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))) == []
    assert openapi.convert_schema({"example": {"version": datetime.date(2024, 10, 1)}}) == {
        "examples": [{"version": "2024-10-01"}]}


def test_speech_streams_when_asked_for_sse_events_and_responses_resume_when_kept():
    m = engine.load("openai-2026-08-21")
    speech = m.action("audio.speech.create")
    assert (speech.stream_param, speech.stream_value) == ("stream_format", "sse")
    with engine.Engine("openai-2026-08-21", api_key="sk-test-123456789") as eng:
        assert eng._streaming(speech, {"stream_format": "sse"}) and not eng._streaming(speech, {"stream_format": "audio"})
    framing = m.action("responses.create").framing
    assert framing.resume is not None and framing.resume.action == "responses.retrieve"
    assert m.action("responses.retrieve").stream_param == "stream"
    events = m.webhooks.spec["events"] if hasattr(m.webhooks, "spec") else m.data["connector"]["webhooks"]["events"]
    assert "batch.completed" in events and "response.completed" in events


def test_a_background_response_is_created_and_polled_to_a_terminal_status():
    from loopback import Loopback, Reply

    states = iter(["in_progress", "completed"])
    with Loopback() as srv:
        srv.route("POST", "/v1/responses", lambda req: Reply(200, {"id": "resp_1", "object": "response",
                                                                   "status": "queued", "background": True}))
        srv.route("GET", "/v1/responses/resp_1", lambda req: Reply(200, {"id": "resp_1", "object": "response",
                                                                          "status": next(states)}))
        with engine.Engine("openai-2026-08-21", api_key="sk-test-123456789", base_url=srv.url + "/v1",
                           max_retries=0) as eng:
            done = eng.run("responses.create_and_poll", {"model": "gpt-4o", "input": "hi", "poll_interval": 0.01})
            assert done["status"] == "completed"
            sent = srv.requests[0].json()
            assert sent == {"model": "gpt-4o", "input": "hi", "background": True}
            assert [r.method for r in srv.requests] == ["POST", "GET", "GET"]


def test_metadata_key_and_value_limits_survive_the_new_wording():
    """The 2026 description says "Keys are strings with a maximum length of 64 characters" (the 2025 one
    "Keys can be a maximum of 64 characters"): the limits are kept either way, so a long key is refused."""
    metadata = engine.load("openai-2026-08-21").schemas["Metadata"]["anyOf"][0]
    assert metadata["propertyNames"] == {"maxLength": 64}
    assert metadata["additionalProperties"] == {"type": "string", "maxLength": 512}
    with engine.Engine("openai-2026-08-21", api_key="sk-test-123456789") as eng:
        with pytest.raises(engine.ValidationError, match="metadata"):
            eng.prepare("vector_stores.create", {"metadata": {"k" * 65: "v"}})
