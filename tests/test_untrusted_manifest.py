"""Manifests as untrusted data: where credentials go, which environment variables are read, no network
while loading or validating, and no manifest or param value that makes loading or validation hang."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import engine
from conftest import API_KEY, run_cli
from engine.manifest import BUNDLED
from loopback import Reply

AWS = "aws-SECRET-access-key-0123456789"
LIST = {"data": [], "object": "list"}


def layer(tmp_path: Path, text: str, name: str = "user.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def guarded(code: str, timeout: float = 60) -> dict:
    """Run `code` in a fresh interpreter that prints one JSON line; a hang fails the test, not the suite."""
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout} s")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- where credentials go ----------------------------------------------------------------------------

def test_a_layer_that_moves_base_url_is_refused_before_the_key_is_sent(tmp_path, monkeypatch, srv):
    srv.route("GET", "/v1/models", lambda req: Reply(200, LIST))
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    user = layer(tmp_path, f"connector: {{base_url: '{srv.url}/v1'}}\n")
    with pytest.raises(engine.UntrustedManifestError) as info:
        engine.Engine([BUNDLED, user])
    assert "allow_origins" in str(info.value) and "trust_manifest=True" in str(info.value)
    # The caller's own key, passed explicitly, is refused the same way (a platform's key, a user's manifest).
    with pytest.raises(engine.UntrustedManifestError):
        engine.Engine([BUNDLED, user], api_key=API_KEY)
    # A layer that also re-declares the credential gains nothing: where it goes is what counts.
    redeclared = layer(tmp_path, f"""\
        connector:
          base_url: '{srv.url}/v1'
          credentials:
            api_key: {{env: OPENAI_API_KEY, header: Authorization, prefix: 'Bearer '}}
        """, "redeclared.yaml")
    with pytest.raises(engine.UntrustedManifestError):
        engine.Engine([BUNDLED, redeclared])
    assert srv.requests == []


def test_the_caller_opts_in_to_a_layer_s_origin(tmp_path, monkeypatch, srv):
    srv.route("GET", "/v1/models", lambda req: Reply(200, LIST))
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    user = layer(tmp_path, f"connector: {{base_url: '{srv.url}/v1'}}\n")
    for options in ({"allow_origins": [srv.url + "/anything"]}, {"trust_manifest": True}):
        with engine.Engine([BUNDLED, user], max_retries=0, **options) as eng:
            assert eng.run("models.list") == LIST
    # A base URL the caller chose is the caller's: the layer's is not used.
    with engine.Engine([BUNDLED, user], base_url=srv.url + "/v1", max_retries=0) as eng:
        assert eng.run("models.list") == LIST
    assert [r.headers["authorization"] for r in srv.requests] == [f"Bearer {API_KEY}"] * 3


def test_another_host_on_the_same_port_is_another_origin(tmp_path, monkeypatch, srv):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    other = srv.url.replace("127.0.0.1", "localhost")
    user = layer(tmp_path, f"connector: {{base_url: '{other}/v1'}}\n")
    with pytest.raises(engine.UntrustedManifestError):
        engine.Engine([BUNDLED, user], allow_origins=[srv.url])
    assert srv.requests == []


def test_with_nothing_to_send_or_in_the_sandbox_a_moved_base_url_is_harmless(tmp_path, monkeypatch, srv):
    user = layer(tmp_path, f"connector: {{base_url: '{srv.url}/v1'}}\n")
    with engine.Engine([BUNDLED, user]) as eng:  # no key, no setting: nothing to leak
        assert eng.base_url == srv.url + "/v1"
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with engine.Engine([BUNDLED, user], sandbox=True) as eng:  # answered in process
        assert "data" in eng.run("models.list")
    assert srv.requests == []


def test_a_standalone_manifest_sends_a_key_the_caller_gives_only_to_its_own_origin(tmp_path, srv, monkeypatch):
    mine = layer(tmp_path, f"""\
        manifest_version: 2
        connector: {{name: demo, base_url: '{srv.url}', credentials: {{k: {{type: header, header: X-K, env: DEMO_K}}}}}}
        actions: [{{name: t.get, method: GET, path: /t, credential: k, params: [], response: {{type: json}}}}]
        """)
    srv.route("GET", "/t", lambda req: Reply(200, {"ok": True}))
    with engine.Engine(mine, k="secret-value-1234") as eng:  # declared with this origin: it goes there
        assert eng.run("t.get") == {"ok": True}
    # ...but the manifest's variable is not read unless the caller allows it.
    monkeypatch.setenv("DEMO_K", "from-the-env-5678")
    with engine.Engine(mine) as eng:
        with pytest.raises(engine.MissingCredentialError, match="allow_env"):
            eng.run("t.get")
    with engine.Engine(mine, allow_env=["DEMO_K"]) as eng:
        assert eng.run("t.get") == {"ok": True}
    # A layer over it cannot move that key elsewhere.
    moved = layer(tmp_path, "connector: {base_url: 'http://localhost:9'}\n", "moved.yaml")
    with pytest.raises(engine.UntrustedManifestError):
        engine.Engine([mine, moved], k="secret-value-1234")
    assert [r.headers["x-k"] for r in srv.requests] == ["secret-value-1234", "from-the-env-5678"]


def test_the_bundled_manifest_and_a_harmless_layer_keep_working(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    mine = layer(tmp_path, """\
        actions:
          - name: models.permissions.list
            method: GET
            path: /models/{model}/permissions
            credential: api_key
            params: [{name: model, in: path, required: true, schema: {type: string}}]
            response: {type: json}
        """)
    for source in (None, [BUNDLED, mine]):
        with engine.Engine(source) as eng:
            req = eng.prepare("models.list")
            assert req.headers["Authorization"] == f"Bearer {API_KEY}"
            assert req.headers["OpenAI-Organization"] == "org-1"
    # Which layer was the bundled one survives the manifest cache (a warm load is trusted the same way).
    assert engine.load().trust == engine.load().trust
    assert engine.load().trust["env"]["api_key"] == ["OPENAI_API_KEY"]
    assert engine.load([BUNDLED, mine]).trust == engine.load().trust


# -- which environment variables are read --------------------------------------------------------------

class _Spy(dict):
    """os.environ that records every name looked up."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize("section", [
    "credentials:\n    api_key: {type: header, env: AWS_SECRET_ACCESS_KEY, header: Authorization, prefix: 'Bearer '}",
    "credentials:\n    aws: {type: header, env: AWS_SECRET_ACCESS_KEY, header: X-Aws}",
    "settings:\n    leak: {env: AWS_SECRET_ACCESS_KEY, header: X-Leak}",
    "base_url_env: AWS_SECRET_ACCESS_KEY",
])
def test_a_layer_cannot_read_a_variable_the_caller_did_not_allow(tmp_path, monkeypatch, srv, section):
    srv.route("GET", "/v1/models", lambda req: Reply(200, LIST))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS)
    spy = _Spy(os.environ)
    monkeypatch.setattr(os, "environ", spy)
    user = layer(tmp_path, f"connector:\n  {section}\n")
    # Even when the caller chose where requests go: the variable is not the manifest's to read.
    with engine.Engine([BUNDLED, user], base_url=srv.url + "/v1", max_retries=0) as eng:
        if "api_key" in section:  # the key it redeclared is simply not given, and the call says how to allow it
            with pytest.raises(engine.MissingCredentialError) as info:
                eng.run("models.list")
            assert "AWS_SECRET_ACCESS_KEY" in str(info.value) and "allow_env" in str(info.value)
            assert AWS not in str(info.value)
        else:
            eng.run("models.list", ) if "OPENAI_API_KEY" in os.environ else None
    assert "AWS_SECRET_ACCESS_KEY" not in spy.read
    assert all(AWS not in json.dumps(r.headers) + r.path + r.query for r in srv.requests)


def test_allow_env_lets_the_caller_name_a_variable(tmp_path, monkeypatch, srv):
    srv.route("GET", "/v1/models", lambda req: Reply(200, LIST))
    monkeypatch.setenv("MY_TOKEN", "my-token-value-0123")
    user = layer(tmp_path, "connector:\n  settings:\n    tenant: {env: MY_TOKEN, header: X-Tenant}\n")
    with engine.Engine([BUNDLED, user], api_key=API_KEY, base_url=srv.url + "/v1", allow_env=["MY_TOKEN"],
                       max_retries=0) as eng:
        eng.run("models.list")
    with engine.Engine([BUNDLED, user], api_key=API_KEY, base_url=srv.url + "/v1", tenant="given",
                       max_retries=0) as eng:  # a value passed in needs no variable
        eng.run("models.list")
    assert [r.headers["x-tenant"] for r in srv.requests] == ["my-token-value-0123", "given"]


def test_the_command_line_refuses_and_opts_in(tmp_path, monkeypatch, srv):
    srv.route("GET", "/v1/models", lambda req: Reply(200, LIST))
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    user = layer(tmp_path, f"connector: {{base_url: '{srv.url}/v1'}}\n")
    code, out, err = run_cli("--manifest", "bundled", "--manifest", str(user), "run", "models.list")
    assert code == 1 and "--trust-manifest" not in out and "trust_manifest" in err and srv.requests == []
    code, out, err = run_cli("--allow-origin", srv.url, "--manifest", "bundled", "--manifest", str(user),
                             "run", "models.list")
    assert code == 0 and json.loads(out) == LIST and len(srv.requests) == 1
    code, out, err = run_cli("--trust-manifest", "--manifest", "bundled", "--manifest", str(user),
                             "run", "models.list")
    assert code == 0 and json.loads(out) == LIST and len(srv.requests) == 2


# -- no network while loading or validating -------------------------------------------------------------

def _remote(url: str) -> list[str]:
    """Manifests that point a schema reference (or the base for one) at `url`."""
    head = textwrap.dedent("""\
        manifest_version: 2
        connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {type: header, header: X-K}}}
        actions:
          - name: t.c
            method: POST
            path: /t
            credential: k
            body: json
        """)
    return [
        head + f"    params: [{{name: a, in: body, schema: {{$ref: '{url}'}}}}]\n    response: {{type: json}}\n",
        head + "    params: [{name: a, in: body, schema: {$ref: '#/schemas/A'}}]\n    response: {type: json}\n"
               f"schemas:\n  A:\n    type: object\n    properties:\n      b: {{$ref: '{url}#/x'}}\n",
        head + f"    params: []\n    response: {{type: json, schema: {{$ref: '{url}'}}}}\n",
        head + "    params: [{name: a, in: body, schema: {$ref: '#/schemas/A'}}]\n    response: {type: json}\n"
               f"schemas:\n  A: {{$id: '{url}', type: object, properties: {{b: {{$ref: 'other.json'}}}}}}\n",
        head + f"    params: [{{name: a, in: body, schema: {{$dynamicRef: '{url}'}}}}]\n    response: {{type: json}}\n",
        head + "    params: [{name: a, in: body, schema: {type: string}}]\n    response: {type: json}\n"
               "composites:\n  - {name: t.wait, steps: [{type: call, action: t.c}],\n"
               f"     params: [{{name: a, schema: {{$ref: '{url}'}}}}]}}\n",
    ]


@pytest.mark.parametrize("case", range(6))
def test_a_remote_reference_is_refused_at_load_and_never_fetched(tmp_path, srv, case):
    srv.route("GET", "/*", lambda req: Reply(200, {"type": "string"}))
    path = layer(tmp_path, _remote(srv.url + "/s.json")[case], "remote.yaml")
    with pytest.raises(engine.ManifestError) as info:
        m = engine.load(path)
        with engine.Engine(m, sandbox=True) as eng:  # the old code got here and fetched while validating
            for name in m.actions:
                try:
                    eng.prepare(name, {"a": 1}, redact=True)
                except engine.ValidationError:
                    pass
                m.action(name).output_schema()
    assert info.value.file == str(path) and info.value.line is not None
    assert "nothing is fetched" in info.value.rule or "$id" in info.value.rule
    assert srv.requests == []


def test_the_param_validators_cannot_fetch_even_for_a_manifest_built_without_load(srv):
    srv.route("GET", "/*", lambda req: Reply(200, {"type": "string"}))
    data = {"manifest_version": 2,
            "connector": {"name": "demo", "base_url": "http://127.0.0.1:9", "credentials": {"k": {"type": "header", "header": "X-K"}}},
            "actions": [{"name": "t.c", "method": "POST", "path": "/t", "credential": "k", "body": "json",
                         "params": [{"name": "a", "in": "body", "schema": {"$ref": srv.url + "/s.json"}}],
                         "response": {"type": "json"}}]}
    with engine.Engine(engine.Manifest(data)) as eng:
        with pytest.raises(engine.ManifestError):
            eng.prepare("t.c", {"a": 1}, redact=True)
    assert srv.requests == []


# -- nothing hangs -------------------------------------------------------------------------------------

def _bomb() -> str:
    lines = ["manifest_version: 2",
             'connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {type: header, header: X-K}}}',
             'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines + ["actions: *a8"]) + "\n"


def test_a_yaml_alias_bomb_fails_fast_with_file_and_line(tmp_path):
    text = _bomb()
    assert len(text) < 700
    path = layer(tmp_path, text, "bomb.yaml")
    got = guarded(f"""
        import json, engine
        try:
            engine.load({str(path)!r})
            print(json.dumps({{"error": None}}))
        except engine.ManifestError as exc:
            print(json.dumps({{"error": str(exc), "file": exc.file, "line": exc.line}}))
    """)
    assert got["file"] == str(path) and 4 <= got["line"] <= 12 and "aliases" in got["error"]


def test_aliases_within_bounds_still_load_but_a_self_holding_alias_or_deep_nesting_does_not(tmp_path):
    fine = layer(tmp_path, """\
        manifest_version: 2
        connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {type: header, header: X-K}}}
        actions:
          - {name: t.a, method: GET, path: /a, credential: k, params: &none [], response: &json {type: json}}
          - {name: t.b, method: GET, path: /b, credential: k, params: *none, response: *json}
        """, "fine.yaml")
    assert set(engine.load(fine).actions) == {"t.a", "t.b"}
    looped = layer(tmp_path, "manifest_version: 2\nx: &x [1, *x]\n", "looped.yaml")
    with pytest.raises(engine.ManifestError) as info:
        engine.load(looped)
    assert info.value.line == 2
    deep = layer(tmp_path, "manifest_version: 2\nx: " + "[" * 100_000 + "]" * 100_000 + "\n", "deep.yaml")
    got = guarded(f"""
        import json, engine
        try:
            engine.load({str(deep)!r})
        except engine.ManifestError as exc:
            print(json.dumps({{"line": exc.line, "rule": exc.rule}}))
    """)  # the old code crashed the interpreter (a C stack overflow)
    assert got["line"] == 2 and "nest" in got["rule"]  # ours, or the C parser's own depth limit


CYCLES = {
    "pair": "  A: {$ref: '#/schemas/B'}\n  B: {$ref: '#/schemas/A'}\n",
    "self": "  A: {$ref: '#/schemas/A'}\n",
    "left": "  A: {anyOf: [{$ref: '#/schemas/A'}, {type: string}]}\n",
    "nested": "  A: {anyOf: [{$ref: '#/schemas/B'}, {type: string}]}\n  B: {allOf: [{$ref: '#/schemas/C'}]}\n"
              "  C: {not: {$ref: '#/schemas/B'}}\n",
}


def _with_schemas(schemas: str) -> str:
    return textwrap.dedent("""\
        manifest_version: 2
        connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {type: header, header: X-K}}}
        actions:
          - name: t.c
            method: POST
            path: /t
            credential: k
            body: json
            params: [{name: a, in: body, schema: {$ref: '#/schemas/A'}}]
            response: {type: json}
        schemas:
        """) + schemas


@pytest.mark.parametrize("kind", sorted(CYCLES))
def test_a_reference_cycle_on_the_same_value_is_refused_at_load(tmp_path, kind):
    path = layer(tmp_path, _with_schemas(CYCLES[kind]), "cycle.yaml")
    with pytest.raises(engine.ManifestError) as info:
        engine.load(path)  # the old code loaded it, and its first prepare() never returned
    assert info.value.file == str(path) and info.value.line >= 12 and "never end" in info.value.rule


def test_a_recursive_schema_through_properties_is_legitimate(tmp_path):
    path = layer(tmp_path, _with_schemas(
        "  A: {type: object, properties: {name: {type: string}, kids: {type: array, items: {$ref: '#/schemas/A'}}}}\n"),
        "tree.yaml")
    with engine.Engine(engine.load(path)) as eng:
        eng.prepare("t.c", {"a": {"name": "x", "kids": [{"name": "y", "kids": []}]}}, redact=True)
        with pytest.raises(engine.ValidationError) as info:
            eng.prepare("t.c", {"a": {"kids": [{"name": 1}]}}, redact=True)
    assert info.value.problems[0].param == "a.kids[0].name"


def test_prepare_ends_on_a_reference_cycle_that_skipped_load():
    got = guarded("""
        import json, engine
        data = {"manifest_version": 2,
                "connector": {"name": "demo", "base_url": "http://127.0.0.1:9", "credentials": {"k": {"type": "header", "header": "X-K"}}},
                "actions": [{"name": "t.c", "method": "POST", "path": "/t", "credential": "k", "body": "json",
                             "params": [{"name": "a", "in": "body", "schema": {"$ref": "#/schemas/A"}},
                                        {"name": "u", "in": "body", "schema": {"anyOf": [
                                            {"$ref": "#/schemas/A"}, {"type": "object", "properties": {"t": {"const": "x"}}}]}}],
                             "response": {"type": "json"}}],
                "schemas": {"A": {"$ref": "#/schemas/B"}, "B": {"$ref": "#/schemas/A"}}}
        eng = engine.Engine(engine.Manifest(data))
        outcome = []
        for params in ({"a": 1}, {"u": {"t": "y"}}):
            try:
                eng.prepare("t.c", params, redact=True)
                outcome.append("sent")
            except engine.Error as exc:
                outcome.append(type(exc).__name__)
        print(json.dumps(outcome))
    """)
    assert len(got) == 2


def test_a_backtracking_pattern_is_explained_without_backtracking(tmp_path):
    path = layer(tmp_path, """\
        manifest_version: 2
        connector: {name: demo, base_url: "http://127.0.0.1:9", credentials: {k: {type: header, header: X-K}}}
        actions:
          - name: t.c
            method: POST
            path: /t
            credential: k
            body: json
            params:
              - {name: a, in: body, schema: {type: string, pattern: '^(a+)+$'}}
              - {name: b, in: body, schema: {type: object, additionalProperties: false,
                                            patternProperties: {'^(a+)+$': {type: integer}}}}
              - {name: c, in: body, schema: {type: object, unevaluatedProperties: false,
                                            patternProperties: {'^(a+)+$': {type: integer}}}}
              - {name: n, in: body, schema: {type: integer}}
            response: {type: json}
        """, "pattern.yaml")
    got = guarded(f"""
        import json, engine
        eng = engine.Engine(engine.load({str(path)!r}))
        bad = "a" * 40 + "!"
        out = []
        for params in ({{"a": bad}}, {{"a": bad, "n": 2.0}}, {{"b": {{bad: 1}}}}, {{"b": {{"a" * 40: "x"}}}},
                       {{"c": {{bad: 1}}}}, {{"a": "a" * 40, "b": {{"aa": 1}}, "c": {{"a": 2}}}}):
            try:
                eng.prepare("t.c", params, redact=True)
                out.append([])
            except engine.ValidationError as exc:
                out.append(sorted([p.param, p.rule] for p in exc.problems))
        print(json.dumps(out))
    """)
    assert got == [[["a", "pattern"]], [["a", "pattern"], ["n", "type"]], [["b", "additionalProperties"]],
                   [["b." + "a" * 40, "type"]], [["c", "unevaluatedProperties"]], []]


def test_the_sandbox_judges_a_body_without_backtracking_either():
    got = guarded("""
        import json, engine
        data = {"manifest_version": 2,
                "connector": {"name": "demo", "base_url": "http://127.0.0.1:9", "credentials": {"k": {"type": "header", "header": "X-K"}}},
                "actions": [{"name": "t.c", "method": "POST", "path": "/t", "credential": "k", "body": "json",
                             "params": [{"name": "b", "in": "body", "schema": {"type": "object",
                                         "patternProperties": {"^(a+)+$": {"type": "integer"}}}}],
                             "response": {"type": "json"}}]}
        with engine.Engine(engine.load(data), sandbox=True) as eng:
            ok = eng.run("t.c", {"b": {"a" * 40 + "!": "x"}})  # no pattern matches that key: any value goes
            try:
                eng.run("t.c", {"b": {"a" * 40: "x"}})
                bad = None
            except engine.ValidationError as exc:
                bad = [p.param for p in exc.problems]
        print(json.dumps([ok, bad]))
    """)
    assert got == [{"b": {"a" * 40 + "!": "x"}}, ["b." + "a" * 40]]
