"""The command line: listing, describing, running, dry runs and exit codes."""
from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import threading

import pytest
import responses


from engine import cli
from conftest import API_KEY, BASE, run_cli as call, schema_refs
from loopback import Reply


def test_actions_lists_all_and_by_group():
    code, out, _ = call("actions")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 121 + 2 and lines[-1] == "110 actions, 11 composite actions"
    assert sum("(composite)" in line for line in lines) == 11
    starts = {line.index("/") for line in lines if " GET /" in line and len(line.split()[0]) < 40}
    assert len(starts) == 1  # the method and path column lines up
    code, out, _ = call("actions", "--group", "audio", "--json")
    assert code == 0 and {a["name"] for a in json.loads(out)} == {
        "audio.speech.create", "audio.transcriptions.create", "audio.translations.create"}


def test_unknown_group_is_a_usage_error():
    code, _, err = call("actions", "--group", "nope")
    assert code == cli.EXIT_USAGE and "groups:" in err


def test_describe_shows_params_limits_and_schema():
    code, out, _ = call("describe", "assistants.list")
    assert code == 0
    assert "limit: integer, optional, in query" in out and "maximum=100" in out
    assert "server default 20" in out
    code, out, _ = call("describe", "chat.completions.create", "--schema")
    schema = json.loads(out)
    assert schema["properties"]["temperature"]["maximum"] == 2
    assert set(schema["required"]) == {"model", "messages"}
    assert "$defs" in schema and all(r.startswith("#/$defs/") for r in schema_refs(schema))


def test_unknown_action_suggests_and_exits_usage():
    code, _, err = call("describe", "thread.runs.create")
    assert code == cli.EXIT_USAGE and "did you mean 'threads.runs.create'" in err


def test_dry_run_prints_curl_without_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    code, out, err = call("run", "threads.runs.create", "-p", "thread_id=thread/1", "-p", "assistant_id=asst_1",
                          "-p", 'metadata={"k": "v"}', "-p", "temperature=0.5", "--dry-run")
    assert code == 0, err
    assert API_KEY not in out + err
    argv = shlex.split(out)
    assert argv[:4] == ["curl", "-X", "POST", f"{BASE}/threads/thread%2F1/runs"]
    assert "Authorization: Bearer $OPENAI_API_KEY" in argv
    assert "OpenAI-Beta: assistants=v2" in argv
    body = json.loads(argv[argv.index("--data-raw") + 1])
    assert body == {"assistant_id": "asst_1", "metadata": {"k": "v"}, "temperature": 0.5}


def test_dry_run_of_an_upload_names_the_file_by_its_full_path(tmp_path, monkeypatch):
    (tmp_path / "train.jsonl").write_bytes(b'{"x": 1}\n')
    monkeypatch.chdir(tmp_path)  # a relative path on the command line
    code, out, err = call("run", "files.create", "-p", "file=@train.jsonl", "-p", "purpose=fine-tune", "--dry-run")
    assert code == 0, err
    argv = shlex.split(out)
    assert argv[:4] == ["curl", "-X", "POST", f"{BASE}/files"]
    forms = [argv[i + 1] for i, a in enumerate(argv) if a == "-F"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--form-string"] == ["purpose=fine-tune"]
    (file_form,) = [f for f in forms if f.startswith("file=")]
    source, *attrs = file_form[len("file=@"):].split(";")
    assert source == str(tmp_path / "train.jsonl") and "filename=train.jsonl" in attrs


def test_dry_run_needs_no_key():
    code, out, _ = call("run", "organization.users.list", "-p", "limit=5", "--dry-run")
    assert code == 0 and '"Authorization: Bearer $OPENAI_ADMIN_KEY"' in out and "limit=5" in out


def test_string_params_stay_strings():
    code, out, err = call("run", "models.retrieve", "-p", "model=123", "--dry-run")
    assert code == 0, err
    assert out.split()[3] == f"{BASE}/models/123"
    code, out, err = call("run", "assistants.create", "-p", "model=gpt-4o", "-p", "name=42", "--dry-run")
    assert code == 0, err
    body = json.loads(shlex.split(out)[-1])
    assert body == {"model": "gpt-4o", "name": "42"}


def test_params_file_and_flags_combine(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
    code, out, err = call("run", "chat.completions.create", "--params-file", str(f), "-p", "n=2", "--dry-run")
    assert code == 0, err
    body = json.loads(shlex.split(out)[-1])
    assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}


def test_validation_errors_exit_3_and_send_nothing():
    code, out, err = call("run", "chat.completions.create", "-p", "temperature=9", "--dry-run")
    assert code == cli.EXIT_INVALID and out == ""
    assert "messages: is required" in err and "temperature: must be <= 2" in err


def test_bad_param_syntax_is_usage():
    code, _, err = call("run", "models.list", "-p", "novalue")
    assert code == cli.EXIT_USAGE and "key=value" in err


def test_api_errors_exit_4(monkeypatch):
    import responses

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/models", status=404, json={"error": {"message": "nope"}})
        code, _, err = call("run", "models.list")
    assert code == cli.EXIT_API and "nope" in err and API_KEY not in err


def test_run_prints_json(monkeypatch):
    import responses

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/models", json={"object": "list", "data": [{"id": "m"}]})
        code, out, _ = call("run", "models.list")
    assert code == 0 and json.loads(out) == {"object": "list", "data": [{"id": "m"}]}


def test_binary_answer_needs_output_and_writes_it(monkeypatch, tmp_path):
    import responses

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    code, _, err = call("run", "files.content", "-p", "file_id=f")
    assert code == cli.EXIT_USAGE and "-o FILE" in err
    target = tmp_path / "out.bin"
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/files/f/content", body=b"\x00\x01binary")
        code, _, err = call("run", "files.content", "-p", "file_id=f", "-o", str(target))
    assert code == 0 and target.read_bytes() == b"\x00\x01binary" and "wrote 8 bytes" in err


def test_all_walks_pages_as_json_lines(monkeypatch):
    import responses
    from responses import matchers

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/batches", match=[matchers.query_param_matcher({})],
                 json={"data": [{"id": "b1"}, {"id": "b2"}], "has_more": True, "last_id": "b2"})
        rsps.get(f"{BASE}/batches", match=[matchers.query_param_matcher({"after": "b2"})],
                 json={"data": [{"id": "b3"}], "has_more": False, "last_id": "b3"})
        code, out, err = call("run", "batches.list", "--all")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["b1", "b2", "b3"]
    assert err == ""  # not a terminal: no progress line to clutter a log


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_all_shows_progress_on_a_terminal(monkeypatch):
    import responses
    from responses import matchers

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    out, err = io.StringIO(), _Terminal()
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/batches", match=[matchers.query_param_matcher({})],
                 json={"data": [{"id": "b1"}, {"id": "b2"}], "has_more": True, "last_id": "b2"})
        rsps.get(f"{BASE}/batches", match=[matchers.query_param_matcher({"after": "b2"})],
                 json={"data": [{"id": "b3"}], "has_more": False, "last_id": "b3"})
        assert cli.main(["run", "batches.list", "--all"], out, err) == 0
    assert len(out.getvalue().splitlines()) == 3  # progress never goes to stdout
    progress = err.getvalue()
    assert progress.endswith("\n") and "\r3 items, 2 pages" in progress


def test_console_script_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "actions", "--group", "models"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "models.retrieve" in proc.stdout


def test_a_reader_that_goes_away_is_no_error():
    """`openai-connector actions | head -1`: the pipe closes under us; no traceback, exit 0."""
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    err = io.StringIO()
    assert cli.main(["actions"], ClosedPipe(), err) == cli.EXIT_OK
    assert err.getvalue() == ""


def test_describe_reads_a_string_or_enum_as_one_type():
    code, out, _ = call("describe", "threads.runs.create")
    assert code == 0 and "  model: string | null, optional, in body" in out


def test_all_hands_each_page_to_a_pipe_before_fetching_the_next(srv):
    """A reader downstream (`| jq`) sees page one while page two is still being fetched."""
    read_first_page = threading.Event()
    waited: list[bool] = []

    def page(req):
        if "after=" not in req.query:
            return Reply(200, {"data": [{"id": "b1"}, {"id": "b2"}], "has_more": True, "last_id": "b2"})
        waited.append(read_first_page.wait(timeout=10))  # False: the reader never got page one in time
        return Reply(200, {"data": [{"id": "b3"}], "has_more": False, "last_id": "b3"})

    srv.route("GET", "/v1/batches", page)
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "--base-url", srv.url + "/v1", "run",
                             "batches.list", "--all"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
                                 "OPENAI_API_KEY": API_KEY})  # stdout block-buffered, as in any pipeline
    try:
        first = [json.loads(proc.stdout.readline())["id"] for _ in range(2)]
        read_first_page.set()
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert first == ["b1", "b2"] and proc.returncode == 0, err
    assert [json.loads(line)["id"] for line in rest.splitlines()] == ["b3"]
    assert waited == [True]


def test_dry_run_sends_text_fields_as_text_even_when_they_start_with_at(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    code, out, err = call("run", "images.edit", "-p", f"image=@{tmp_path / 'x.png'}", "-p", "prompt=@/etc/passwd",
                          "--dry-run")
    assert code == 0, err
    argv = shlex.split(out)
    assert argv[argv.index("--form-string") + 1] == "prompt=@/etc/passwd"  # curl must not upload that file


def test_output_flags_are_checked_before_anything_is_sent(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    missing = tmp_path / "no-such-folder" / "x.mp3"
    code, _, err = call("run", "audio.speech.create", "-p", "model=tts-1", "-p", "input=hi", "-p", "voice=alloy",
                        "-o", str(missing))
    assert code == cli.EXIT_USAGE and "no such folder" in err
    code, _, err = call("run", "models.list", "-o", str(tmp_path / "m.json"))
    assert code == cli.EXIT_USAGE and "-o is for binary answers" in err
    code, _, err = call("run", "models.retrieve", "-p", "model=gpt-4o", "--all")
    assert code == cli.EXIT_USAGE and "does not return a list" in err
    (tmp_path / "in.jsonl").write_text('{"model": "m", "input": "x"}\n')
    code, _, err = call("batch", "embeddings.create", "--input", str(tmp_path / "in.jsonl"), "--output", str(missing))
    assert code == cli.EXIT_USAGE and "no such folder" in err  # and no job was submitted: nothing is mocked


def test_binary_answer_to_stdout_with_dash(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)

    class Stdout(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.buffer = io.BytesIO()

    out, err = Stdout(), io.StringIO()
    with responses.RequestsMock() as rsps:
        rsps.post(f"{BASE}/audio/speech", body=b"ID3\x04audio", content_type="audio/mpeg")
        code = cli.main(["run", "audio.speech.create", "-p", "model=tts-1", "-p", "input=hi", "-p", "voice=alloy",
                         "-o", "-"], out, err)
    assert code == 0 and out.buffer.getvalue() == b"ID3\x04audio" and out.getvalue() == ""


def test_null_is_null_for_a_string_parameter_that_allows_it():
    code, out, _ = call("run", "assistants.create", "-p", "model=gpt-4o", "-p", "name=null", "--dry-run")
    argv = shlex.split(out)
    assert json.loads(argv[argv.index("--data-raw") + 1]) == {"model": "gpt-4o", "name": None}


def test_version():
    with pytest.raises(SystemExit) as info:
        cli._parser().parse_args(["--version"])
    assert info.value.code == 0


def test_a_path_parameter_takes_at_path_like_a_file_parameter(tmp_path):
    from engine.cli import parse_params

    action = cli.Engine(api_key=API_KEY).action("uploads.upload_file")
    assert action.by_name["file"].schema["format"] == "path"
    at = parse_params(action, [f"file=@{tmp_path / 'big.jsonl'}", "purpose=batch"], None)
    plain = parse_params(action, [f"file={tmp_path / 'big.jsonl'}", "purpose=batch"], None)
    assert at == plain == {"file": str(tmp_path / "big.jsonl"), "purpose": "batch"}


def test_a_handle_file_that_is_not_json_is_a_usage_error(tmp_path):
    handle = tmp_path / "job.json"
    for text in ("not json", "[" * 100_000):
        handle.write_text(text)
        code, out, err = call("--sandbox", "batch", "embeddings.create", "--output", str(tmp_path / "o.jsonl"),
                                 "--handle", str(handle))
        assert code == 2 and "is not a batch handle" in err, err


def test_global_flags_work_after_the_command_too():
    code, out, _ = call("run", "models.list", "--sandbox")
    assert code == 0 and "data" in json.loads(out)


def test_json_that_does_not_parse_is_shown_not_sent_as_text():
    code, _, err = call("run", "chat.completions.create", "-p", "model=m", "-p", 'messages=[{"role":"user"', "--dry-run")
    assert code == 2 and "not valid JSON" in err and "-p messages" in err


def test_a_number_where_text_was_meant_gets_a_quoting_hint():
    code, _, err = call("--sandbox", "run", "chat.completions.create", "-p", "model=m",
                        "-p", 'messages=[{"role":"user","content":"hi"}]', "-p", "stop=5")
    assert code == 3 and "hint: -p stop=5" in err and """-p 'stop="5"'""" in err


def test_a_missing_key_has_its_own_exit_code_and_says_what_to_do():
    code, _, err = call("run", "models.list")
    assert code == cli.EXIT_NO_KEY == 6
    assert "OPENAI_API_KEY" in err and "--dry-run" in err and "--sandbox" in err and "Engine(" not in err


def test_every_option_has_help_and_every_command_an_example():
    parser = cli._parser()
    subs = next(a for a in parser._actions if isinstance(a, cli.argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        assert "example: openai-connector" in sub.format_help(), name
        for action in sub._actions:
            assert action.help, (name, action.dest)


def test_describe_shows_whole_descriptions_and_composite_options():
    code, out, _ = call("describe", "organization.audit_logs.list")
    assert code == 0 and "audit-\n      logs/object" in out or "logs/object)" in out
    code, out, _ = call("describe", "threads.runs.create_and_poll")
    assert "composite: calls threads.runs.create, threads.runs.retrieve" in out
    assert "poll_timeout: number, optional, an option of the composite, not sent" in out
    assert "GET" not in out.splitlines()[1]


def test_a_variable_the_manifest_may_not_read_is_named_with_the_flag_that_allows_it(tmp_path, monkeypatch):
    mine = tmp_path / "mine.yaml"
    mine.write_text("manifest_version: 2\nconnector: {name: d, base_url: 'http://127.0.0.1:9', credentials: "
                    "{k: {type: header, header: X-K, env: MINE_KEY}}}\n"
                    "actions: [{name: t.get, method: GET, path: /t, response: {type: json}}]\n")
    monkeypatch.setenv("MINE_KEY", "set-but-not-allowed")
    code, _, err = call("--manifest", str(mine), "run", "t.get")
    assert code == cli.EXIT_NO_KEY and "--allow-env MINE_KEY" in err and "set-but-not-allowed" not in err


def test_describe_prints_int64_bounds_as_integers():
    code, out, _ = call("describe", "chat.completions.create")
    assert code == 0 and "minimum=-9223372036854775808; maximum=9223372036854775807" in out and "e+18" not in out


def test_set_gives_a_declared_setting_and_never_a_credential(monkeypatch, tmp_path):
    """`--set NAME=VALUE` is Engine(NAME=VALUE) for a setting; a typo, an engine option or a credential is refused."""
    monkeypatch.delenv("OPENAI_ORG_ID", raising=False)
    code, out, err = call("--set", "organization=org-42", "run", "models.list", "--dry-run")
    assert code == 0 and "OpenAI-Organization: org-42" in out
    manifest = tmp_path / "acct.yaml"
    manifest.write_text(
        "manifest_version: 2\n"
        "connector:\n"
        "  name: acct\n"
        "  base_url: https://api.example.com\n"
        "  settings: {account: {description: The account in every path.}}\n"
        "  credentials: {token: {type: header, header: Authorization, prefix: 'Bearer '}}\n"
        "actions:\n"
        "  - {name: things.list, method: GET, path: '/accounts/{{ config.account }}/things', response: {type: json}}\n",
        encoding="utf-8")
    code, out, err = call("--manifest", str(manifest), "--set", "account=A1", "run", "things.list", "--dry-run")
    assert code == 0 and "https://api.example.com/accounts/A1/things" in out
    code, out, err = call("--manifest", str(manifest), "--set", "acount=A1", "run", "things.list", "--dry-run")
    assert code == 2 and "no setting 'acount'; did you mean 'account'?" in err
    code, out, err = call("--manifest", str(manifest), "--set", "token=sk-secret", "run", "things.list", "--dry-run")
    assert code == 2 and "a credential is never given on the command line" in err and "sk-secret" not in err + out
    for bad in ("timeout=3", "account", "=x"):
        code, out, err = call("--manifest", str(manifest), "--set", bad, "run", "things.list", "--dry-run")
        assert code == 2 and "--set" in err, bad
