"""The connector language end to end: manifests (dicts and YAML files) run by `engine.Engine` against the
loopback server, each test asserting what goes on the wire and what comes back (docs/language.md is the spec)."""
from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import yaml

import engine
from conftest import run_cli
from loopback import Reply

KEY = "qk-SECRET-query-key-0123456789"
TOKEN = "tk-SECRET-token-0123456789"


def manifest(*actions, credentials=None, **connector):
    """A minimal v2 manifest around these actions (base_url is replaced by the test server's)."""
    return {"manifest_version": 2,
            "connector": {"name": "demo", "base_url": "http://127.0.0.1:9/api",
                          "credentials": credentials or {"token": {"type": "header", "header": "X-Token"}},
                          **connector},
            "actions": list(actions)}


def action(name="things.list", method="GET", path="/things", params=(), **more):
    return {"name": name, "method": method, "path": path, "params": list(params), "response": {"type": "json"},
            **more}


def query_param(name, **more):
    return {"name": name, "in": "query", "schema": more.pop("schema", {"type": "string"}), **more}


def body_param(name, schema=None, **more):
    return {"name": name, "in": "body", "schema": schema or {"type": "string"}, **more}


@pytest.fixture
def make(srv):
    """Engines on `srv` for a manifest, closed when the test ends."""
    made = []

    def build(m, **kw):
        kw.setdefault("max_retries", 0)
        e = engine.Engine(m, base_url=srv.url + "/api", **kw)
        made.append(e)
        return e

    yield build
    for e in made:
        e.close()


def write(tmp_path: Path, data, name="m.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return p


def q(req):
    return parse_qsl(req.query, keep_blank_values=True)


# -- auth ---------------------------------------------------------------------------------------------

def test_header_auth_with_prefix(srv, make):
    srv.route("GET", "/api/things", lambda r: Reply(200, {"ok": 1}))
    m = manifest(action(), credentials={"token": {"type": "header", "header": "Authorization", "prefix": "Token "}})
    assert make(m, token=TOKEN).run("things.list") == {"ok": 1}
    assert srv.requests[0].headers["authorization"] == f"Token {TOKEN}"


def _query_auth_manifest():
    return manifest(action(params=[query_param("q")]),
                    credentials={"key": {"type": "query", "param": "api_key", "env": "DEMO_KEY"}})


def test_query_auth_goes_in_the_query_and_is_masked_in_hooks_errors_and_logs(srv, make, caplog):
    srv.script("GET", "/api/things", Reply(200, {"ok": 1}),
               Reply(400, {"error": {"message": f"bad key {KEY}"}}))
    seen = []
    hooks = {"before_request": lambda a, req: seen.append(req.url)}
    eng = make(_query_auth_manifest(), key=KEY, hooks=hooks)
    assert eng.run("things.list", {"q": "x"}) == {"ok": 1}
    assert q(srv.requests[0]) == [("q", "x"), ("api_key", KEY)]
    assert seen and all(KEY not in u for u in seen), seen
    assert "api_key=" in seen[0]
    caplog.set_level(logging.DEBUG, logger="engine")
    with pytest.raises(engine.BadRequestError) as info:
        eng.run("things.list", {"q": "y"})
    assert KEY not in str(info.value) and KEY not in repr(info.value) and KEY not in str(info.value.body)
    assert caplog.records and KEY not in caplog.text
    assert KEY not in repr(eng)


def test_query_auth_is_masked_in_a_dry_run_curl(tmp_path):
    path = write(tmp_path, _query_auth_manifest())
    code, out, err = run_cli("--manifest", str(path), "run", "things.list", "-p", "q=x", "--dry-run")
    assert code == 0, err
    assert '"http://127.0.0.1:9/api/things?q=x&api_key=${DEMO_KEY}"' in out and KEY not in out  # runs as is


def test_basic_auth_user_password_and_key_as_username(srv, make):
    srv.route("GET", "/api/things", lambda r: Reply(200, {}))
    srv.route("GET", "/api/other", lambda r: Reply(200, {}))
    m = manifest(action(), action("other.get", path="/other", credential="stripe"),
                 credentials={"login": {"type": "basic"}, "stripe": {"type": "basic", "key_as": "username"}},
                 default_credential="login")
    eng = make(m, login=("ann", "pw-SECRET-123"), stripe="sk_live_SECRET_1")
    eng.run("things.list")
    eng.run("other.get")
    assert srv.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"ann:pw-SECRET-123").decode()
    assert srv.requests[1].headers["authorization"] == "Basic " + base64.b64encode(b"sk_live_SECRET_1:").decode()


def test_several_credentials_a_default_and_per_action_choice(srv, make, tmp_path):
    srv.route("GET", "/api/things", lambda r: Reply(200, {}))
    srv.route("GET", "/api/admin", lambda r: Reply(200, {}))
    srv.route("GET", "/api/public", lambda r: Reply(200, {}))
    creds = {"user": {"type": "header", "header": "Authorization", "prefix": "Bearer "},
             "admin": {"type": "header", "header": "X-Admin-Key"}}
    m = manifest(action(), action("admin.get", path="/admin", credential="admin"),
                 action("public.get", path="/public", credential="none"),
                 credentials=creds, default_credential="user")
    eng = make(m, user=TOKEN, admin="adm-SECRET-0123456789")
    for name in ("things.list", "admin.get", "public.get"):
        eng.run(name)
    r0, r1, r2 = srv.requests
    assert r0.headers["authorization"] == f"Bearer {TOKEN}" and "x-admin-key" not in r0.headers
    assert r1.headers["x-admin-key"] == "adm-SECRET-0123456789" and "authorization" not in r1.headers
    assert "authorization" not in r2.headers and "x-admin-key" not in r2.headers
    with pytest.raises(engine.MissingCredentialError, match="'admin'"):
        make(m, user=TOKEN).run("admin.get")
    path = write(tmp_path, m)
    code, out, _ = run_cli("--manifest", str(path), "describe", "things.list")
    assert code == 0 and "credential: user" in out
    code, out, _ = run_cli("--manifest", str(path), "describe", "admin.get")
    assert code == 0 and "credential: admin" in out


# -- templates ----------------------------------------------------------------------------------------

def test_header_templates_over_settings_and_params_and_query_templates(srv, make):
    srv.route("GET", "/api/things", lambda r: Reply(200, {}))
    m = manifest(action(params=[query_param("q"), query_param("n", schema={"type": "integer"})],
                        headers={"X-Trace": "t-{{ params.q }}-{{ config.region }}"},
                        query={"region": "{{ config.region }}", "twice": "{{ params.n * 2 }}"}),
                 settings={"region": {"default": "eu", "description": "where"}},
                 headers={"X-Client": "demo/{{ config.region }}"})
    make(m, token=TOKEN).run("things.list", {"q": "a b", "n": 4})
    make(m, token=TOKEN, region="us").run("things.list", {"q": "c", "n": 1})
    r0, r1 = srv.requests
    assert r0.headers["x-client"] == "demo/eu" and r0.headers["x-trace"] == "t-a b-eu"
    assert dict(q(r0)) == {"q": "a b", "n": "4", "region": "eu", "twice": "8"}
    assert r1.headers["x-client"] == "demo/us" and dict(q(r1))["region"] == "us" and dict(q(r1))["twice"] == "2"


def test_path_template_over_config_is_percent_encoded(srv, make):
    srv.route("GET", "/api/ws/*", lambda r: Reply(200, {}))
    m = manifest(action(path="/ws/{{ config.workspace }}/items/{item}",
                        params=[{"name": "item", "in": "path", "required": True, "schema": {"type": "string"}}]),
                 settings={"workspace": {"default": "a/b c"}})
    make(m, token=TOKEN).run("things.list", {"item": "x?y"})
    assert srv.requests[0].path == "/api/ws/a%2Fb%20c/items/x%3Fy"


def test_json_body_template_nests_the_body_and_keeps_types(srv, make):
    srv.route("POST", "/api/users", lambda r: Reply(200, {"id": 1}))
    m = manifest(action("users.create", "POST", "/users",
                        params=[body_param("name"), body_param("n", {"type": "integer"}),
                                body_param("tags", {"type": "array", "items": {"type": "string"}})],
                        body={"type": "json", "template": {"user": "{{ body }}", "count": "{{ params.n }}",
                                                           "label": "n={{ params.n }}"}}))
    make(m, token=TOKEN).run("users.create", {"name": "ann", "n": 3, "tags": ["a"]})
    req = srv.requests[0]
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"user": {"name": "ann", "n": 3, "tags": ["a"]}, "count": 3, "label": "n=3"}


def test_a_template_with_an_unknown_name_fails_at_load_with_file_and_line(tmp_path):
    text = textwrap.dedent("""\
        manifest_version: 2
        connector:
          name: demo
          base_url: http://127.0.0.1:9/api
          credentials: {token: {type: header, header: X-Token}}
        actions:
          - name: things.list
            method: GET
            path: /things
            params: []
            headers:
              X-A: "{{ parms.q }}"
            response: {type: json}
        """)
    path = write(tmp_path, text)
    with pytest.raises(engine.ManifestError) as info:
        engine.load(path)
    err = info.value
    assert err.file == str(path) and err.line == 12, (err.file, err.line, str(err))
    assert "parms" in str(err)


def test_a_missing_key_at_run_time_is_a_template_error_without_values(srv, make):
    srv.route("POST", "/api/x", lambda r: Reply(200, {}))
    m = manifest(action("x.create", "POST", "/x",
                        params=[body_param("meta", {"type": "object"})],
                        body={"type": "json", "template": {"v": "{{ params.meta.missing }}"}}))
    eng = make(m, token=TOKEN)
    with pytest.raises(engine.TemplateError) as info:
        eng.run("x.create", {"meta": {"present": "VALUE-SHOWN-NOWHERE"}})
    assert "VALUE-SHOWN-NOWHERE" not in str(info.value) and "missing" in str(info.value)
    assert srv.requests == []


@pytest.mark.parametrize("where, template", [
    ("headers", "{{ credentials.token }}"),
    ("query", "{{ token }}"),
    ("body", "{{ credentials }}"),
])
def test_no_template_sees_a_credential(where, template):
    spec = {"body": {"type": "json", "template": {"x": template}}} if where == "body" else {where: {"X": template}}
    m = manifest(action(method="POST", **spec))
    with pytest.raises(engine.ManifestError, match="known names"):
        engine.load(m)


def test_config_holds_settings_never_a_credential(srv, make):
    m = manifest(action(headers={"X": "{{ config.token }}"}))
    with pytest.raises(engine.TemplateError):
        make(m, token=TOKEN).run("things.list")
    assert srv.requests == []


def _lazy_jinja(tmp_path, m, code):
    path = write(tmp_path, m)
    script = textwrap.dedent(f"""\
        import os, sys
        os.environ["OPENAI_CONNECTOR_CACHE"] = {str(tmp_path / 'cache')!r}
        import engine
        eng = engine.Engine({str(path)!r}, base_url="http://127.0.0.1:9/api", token="t")
        {code}
        print("jinja2" in sys.modules)
        """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                         env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_jinja2_is_imported_only_for_a_manifest_with_templates(tmp_path):
    plain = manifest(action(params=[query_param("q")], headers={"X-Plain": "v"}))
    assert _lazy_jinja(tmp_path, plain, "eng.prepare('things.list', {'q': 'a'})") == "False"
    path_only = manifest(action(params=[body_param("n", {"type": "integer"})], method="POST",
                                body={"type": "json", "template": {"n": "{{ params.n }}"}}))
    assert _lazy_jinja(tmp_path, path_only, "eng.prepare('things.list', {'n': 1})") == "False"
    templated = manifest(action(params=[query_param("q")], headers={"X-T": "q={{ params.q | upper }}"}))
    assert _lazy_jinja(tmp_path, templated, "eng.prepare('things.list', {'q': 'a'})") == "True"


# -- paging -------------------------------------------------------------------------------------------

def _walk(make, pagination, declared=(), **kw):
    spec = action(params=list(declared), pagination=pagination)
    return make(manifest(spec), token=TOKEN).paginate("things.list", **kw)


def test_cursor_in_the_body_sent_as_a_param(srv, make):
    pages = {"": {"data": [1, 2], "next": "c2"}, "c2": {"data": [3], "next": None}}
    srv.route("GET", "/api/things", lambda r: Reply(200, pages[dict(q(r)).get("after", "")]))
    walk = _walk(make, {"type": "cursor", "items": "data", "next": {"body": "next"}, "send": {"param": "after"}},
                 [query_param("after")], params={})
    assert list(walk) == [1, 2, 3]
    assert [r.query for r in srv.requests] == ["", "after=c2"]


def test_header_cursor_sent_as_a_raw_query_field(srv, make):
    def handler(r):
        token = dict(q(r)).get("page_token")
        if token is None:
            return Reply(200, {"results": ["a"]}, {"X-Next-Page-Token": "t2"})
        return Reply(200, {"results": ["b"]})
    srv.route("GET", "/api/things", handler)
    walk = _walk(make, {"type": "cursor", "items": "results", "next": {"header": "X-Next-Page-Token"},
                        "send": {"query": "page_token"}}, params={})
    assert list(walk) == ["a", "b"]
    assert [r.query for r in srv.requests] == ["", "page_token=t2"]


def test_link_header_followed_as_the_next_url(srv, make):
    def handler(r):
        if r.query == "":
            return Reply(200, [1, 2], {"Link": f'<{srv.url}/api/things?page=2&per_page=2>; rel="next", '
                                               f'<{srv.url}/api/things?page=9>; rel="last"'})
        return Reply(200, [3])
    srv.route("GET", "/api/things", handler)
    walk = _walk(make, {"type": "cursor", "items": "$", "next": {"link": "next"}, "send": {"url": True}},
                 params={})
    assert list(walk) == [1, 2, 3]
    assert [r.query for r in srv.requests] == ["", "page=2&per_page=2"]
    assert all(r.headers["x-token"] == TOKEN for r in srv.requests)


def test_a_next_url_on_another_origin_is_a_pagination_error_and_nothing_goes_there(srv, make):
    other = srv.url.replace("127.0.0.1", "localhost")
    srv.route("GET", "/api/things", lambda r: Reply(200, [1], {"Link": f'<{other}/api/things?page=2>; rel="next"'}))
    walk = _walk(make, {"type": "cursor", "items": "$", "next": {"link": "next"}, "send": {"url": True}},
                 params={})
    with pytest.raises(engine.PaginationError, match="another origin"):
        list(walk)
    assert len(srv.requests) == 1  # the server listens on both names: nothing went to localhost


def _offset_server(srv, total, cap):
    def handler(r):
        args = dict(q(r))
        off, lim = int(args.get("offset", 0)), min(int(args["limit"]), cap)
        return Reply(200, {"results": list(range(total))[off:off + lim], "total": total})
    srv.route("GET", "/api/things", handler)


def _offset_walk(make, **kw):
    return _walk(make, {"type": "offset", "items": "results", "offset": {"param": "offset"},
                        "limit": {"param": "limit", "default": 50}, "total": "total"},
                 [query_param("offset", schema={"type": "integer"}), query_param("limit", schema={"type": "integer"})],
                 **kw)


def test_offset_with_total_walks_every_item(srv, make):
    _offset_server(srv, 120, 50)
    assert list(_offset_walk(make, params={})) == list(range(120))
    assert [r.query for r in srv.requests] == ["limit=50", "offset=50&limit=50", "offset=100&limit=50"]


def test_offset_against_a_server_that_caps_the_page_loses_nothing(srv, make):
    _offset_server(srv, 120, 50)
    assert list(_offset_walk(make, params={"limit": 100})) == list(range(120))
    assert [dict(q(r)).get("offset", "0") for r in srv.requests] == ["0", "50", "100"]
    assert {dict(q(r))["limit"] for r in srv.requests} == {"100"}


def test_page_number_with_total_pages(srv, make):
    def handler(r):
        n = int(dict(q(r)).get("page", 1))
        return Reply(200, {"results": [n * 10, n * 10 + 1], "total_pages": 3})
    srv.route("GET", "/api/things", handler)
    walk = _walk(make, {"type": "page_number", "items": "results", "page": {"param": "page", "start": 1},
                        "total_pages": "total_pages"}, [query_param("page", schema={"type": "integer"})], params={})
    assert list(walk) == [10, 11, 20, 21, 30, 31]
    assert [r.query for r in srv.requests] == ["", "page=2", "page=3"]  # the first page is the server's default


def test_a_page_without_the_declared_items_is_a_pagination_error(srv, make):
    srv.route("GET", "/api/things", lambda r: Reply(200, {"items": [1]}))
    walk = _walk(make, {"type": "cursor", "items": "data", "next": {"body": "next"}, "send": {"query": "c"}},
                 params={})
    with pytest.raises(engine.PaginationError, match="data"):
        list(walk)


def test_stop_when_template_ends_the_walk(srv, make):
    def handler(r):
        n = int(dict(q(r)).get("c", 0))
        return Reply(200, {"data": [n], "next": str(n + 1), "final": n == 1})
    srv.route("GET", "/api/things", handler)
    walk = _walk(make, {"type": "cursor", "items": "data", "next": {"body": "next"}, "send": {"query": "c"},
                        "stop_when": "{{ response.body.final }}"}, params={})
    assert list(walk) == [0, 1] and len(srv.requests) == 2


def test_max_items_and_max_pages(srv, make):
    _offset_server(srv, 120, 10)
    assert list(_offset_walk(make, params={"limit": 10}, max_items=25)) == list(range(25))
    assert len(srv.requests) == 3
    del srv.requests[:]
    walk = _offset_walk(make, params={"limit": 10}, max_pages=2)
    assert list(walk) == list(range(20)) and len(srv.requests) == 2


def test_checkpoint_resumes_a_url_following_walk(srv, make):
    def handler(r):
        n = int(dict(q(r)).get("page", 1))
        link = {"Link": f'<{srv.url}/api/things?page={n + 1}>; rel="next"'} if n < 3 else {}
        return Reply(200, [n * 10, n * 10 + 1], link)
    srv.route("GET", "/api/things", handler)
    pagination = {"type": "cursor", "items": "$", "next": {"link": "next"}, "send": {"url": True}}
    walk = _walk(make, pagination, params={})
    got = [next(walk), next(walk), next(walk)]
    mark = json.loads(json.dumps(walk.checkpoint))
    del srv.requests[:]
    rest = list(_walk(make, pagination, resume=mark))
    assert got + rest == [10, 11, 20, 21, 30, 31]
    assert [r.query for r in srv.requests] == ["page=2", "page=3"]


def test_checkpoint_resumes_a_body_injected_cursor_on_a_post_search(srv, make):
    def handler(r):
        body = r.json()
        n = int(body.get("cursor") or 0)
        assert body["query"] == "cats"
        return Reply(200, {"hits": [n], "next": str(n + 1) if n < 2 else None})
    srv.route("POST", "/api/search", handler)
    pagination = {"type": "cursor", "items": "hits", "next": {"body": "next"}, "send": {"body": "cursor"}}
    spec = action(method="POST", path="/search", params=[body_param("query")], body={"type": "json"},
                  pagination=pagination)
    eng = make(manifest(spec), token=TOKEN)
    walk = eng.paginate("things.list", {"query": "cats"})
    assert [next(walk), next(walk)] == [0, 1]
    mark = json.loads(json.dumps(walk.checkpoint))
    del srv.requests[:]
    assert list(eng.paginate("things.list", resume=mark)) == [2]
    # The page the checkpoint stands in is fetched again (its first item skipped), then the next one.
    assert [r.json() for r in srv.requests] == [{"query": "cats", "cursor": "1"}, {"query": "cats", "cursor": "2"}]


# -- bodies -------------------------------------------------------------------------------------------

def test_form_body_nested_objects_with_brackets_and_indexed_arrays_exact_bytes(srv, make):
    srv.route("POST", "/api/customers", lambda r: Reply(200, {}))
    obj = {"type": "object"}
    m = manifest(action("customers.create", "POST", "/customers", body={"type": "form", "arrays": "indexed"},
                        params=[body_param("email"), body_param("metadata", obj),
                                body_param("items", {"type": "array", "items": obj}),
                                body_param("tags", {"type": "array", "items": {"type": "string"}})]))
    make(m, token=TOKEN).run("customers.create", {
        "email": "a+b@x.io", "metadata": {"plan": {"tier": "pro"}, "n": 2},
        "items": [{"price": "p_1", "qty": 1}, {"price": "p 2"}], "tags": ["x", "y"]})
    req = srv.requests[0]
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.body == (b"email=a%2Bb%40x.io&metadata[plan][tier]=pro&metadata[n]=2"
                        b"&items[0][price]=p_1&items[0][qty]=1&items[1][price]=p%202&tags[0]=x&tags[1]=y")
    assert req.headers["content-length"] == str(len(req.body))


def _raw_manifest():
    return manifest(action("blobs.put", "PUT", "/blobs/{name}", params=[
        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "kind", "in": "query", "schema": {"type": "string"}},
        {"name": "data", "in": "body", "required": True, "file": {}}],
        body={"type": "raw", "param": "data", "content_type": "{{ params.kind | default('application/octet-stream') }}"}))


def test_raw_body_from_bytes_and_from_a_path_with_a_templated_content_type(srv, make, tmp_path):
    srv.route("PUT", "/api/blobs/*", lambda r: Reply(200, {}))
    eng = make(_raw_manifest(), token=TOKEN)
    payload = bytes(range(256)) * 3
    eng.run("blobs.put", {"name": "a", "kind": "image/png", "data": payload})
    src = tmp_path / "b.bin"
    src.write_bytes(b"\x00line\r\n" * 1000)
    eng.run("blobs.put", {"name": "b", "data": src})
    r0, r1 = srv.requests
    assert r0.body == payload and r0.headers["content-type"] == "image/png"
    assert r0.headers["content-length"] == str(len(payload))
    assert r1.body == src.read_bytes() and r1.headers["content-type"] == "application/octet-stream"
    assert r1.headers["content-length"] == str(src.stat().st_size) and "transfer-encoding" not in r1.headers


def test_choice_body_multipart_with_a_file_json_otherwise(srv, make):
    srv.route("POST", "/api/docs", lambda r: Reply(200, {}))
    m = manifest(action("docs.create", "POST", "/docs", params=[
        body_param("title"), {"name": "file", "in": "body", "file": {"default_content_type": "text/plain"}}],
        body={"type": "choice", "options": [{"when": "files", "body": {"type": "multipart"}},
                                            {"body": {"type": "json"}}]}))
    eng = make(m, token=TOKEN)
    eng.run("docs.create", {"title": "t"})
    eng.run("docs.create", {"title": "t", "file": ("a.txt", b"hello")})
    r0, r1 = srv.requests
    assert r0.headers["content-type"] == "application/json" and r0.json() == {"title": "t"}
    ctype = r1.headers["content-type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    boundary = ctype.split("boundary=")[1].encode()
    assert r1.body == (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="title"\r\n\r\nt\r\n'
                       b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
                       b"Content-Type: text/plain\r\n\r\nhello\r\n--" + boundary + b"--\r\n")


# -- errors and retries -------------------------------------------------------------------------------

def _recording(eng):
    """Each retry wait recorded instead of slept, without jitter."""
    eng.waits = []
    eng.transport.sleep = eng.waits.append
    eng.transport.rand = lambda: 0.0
    return eng


def test_error_map_with_paths(srv, make):
    srv.route("GET", "/api/things", lambda r: Reply(422, {"errors": [
        {"detail": "name is too long", "code": "too_long", "source": {"pointer": "/name"}, "title": "Invalid"}]}))
    m = manifest(action(), errors={"type": "json", "message": "errors[0].detail", "code": "errors[0].code",
                                   "param": "errors[0].source.pointer", "error_type": "errors[0].title"})
    with pytest.raises(engine.UnprocessableEntityError) as info:
        make(m, token=TOKEN).run("things.list")
    e = info.value
    assert (e.message, e.code, e.param, e.type, e.status_code) == ("HTTP 422: name is too long", "too_long", "/name",
                                                                   "Invalid", 422)


def test_error_map_with_templates(srv, make):
    srv.route("GET", "/api/things", lambda r: Reply(404, {"msg": "gone", "kind": "missing"}, {"X-Err": "E42"}))
    m = manifest(action(errors={"type": "json", "message": "{{ response.body.msg }} ({{ response.status }})",
                                "code": "{{ response.headers['X-Err'] }}", "error_type": "kind"}))
    with pytest.raises(engine.NotFoundError) as info:
        make(m, token=TOKEN).run("things.list")
    assert (info.value.message, info.value.code, info.value.type) == ("HTTP 404: gone (404)", "E42", "missing")


def _retrying(make, **retry):
    m = manifest(action(), retry={"initial_delay": 0.01, **retry})
    return _recording(make(m, token=TOKEN, max_retries=None))


def test_retry_when_a_403_says_no_requests_remain(srv, make):
    srv.script("GET", "/api/things", Reply(403, {"error": {"message": "rate"}}, {"X-RateLimit-Remaining": "0"}),
               Reply(200, {"ok": 1}))
    eng = _retrying(make, when=[{"status": 403, "header": "x-ratelimit-remaining", "equals": "0"}])
    assert eng.run("things.list") == {"ok": 1} and len(srv.requests) == 2


def test_a_403_without_the_header_is_not_retried(srv, make):
    srv.script("GET", "/api/things", Reply(403, {"error": {"message": "forbidden"}}), Reply(200, {"ok": 1}))
    eng = _retrying(make, when=[{"status": 403, "header": "x-ratelimit-remaining", "equals": "0"}])
    with pytest.raises(engine.PermissionDeniedError):
        eng.run("things.list")
    assert len(srv.requests) == 1 and eng.waits == []


def test_epoch_seconds_wait_is_waited_until_and_too_far_is_not_retried(srv, make):
    now = 1_767_225_600.0
    srv.script("GET", "/api/things", Reply(429, {"error": {"message": "slow"}}, {"X-RateLimit-Reset": str(int(now) + 7)}),
               Reply(200, {"ok": 1}))
    eng = _retrying(make, wait=[{"type": "epoch_seconds", "header": "x-ratelimit-reset"}], max_retry_after=60)
    eng.transport.clock = lambda: now
    assert eng.run("things.list") == {"ok": 1}
    assert eng.waits == [pytest.approx(7.0, abs=0.01)]
    srv.script("GET", "/api/things", Reply(429, {"error": {"message": "slow"}}, {"X-RateLimit-Reset": str(int(now) + 3600)}))
    del srv.requests[:]
    with pytest.raises(engine.RateLimitError) as info:
        eng.run("things.list")
    assert len(srv.requests) == 1 and "not retried" in str(info.value)


def test_duration_wait(srv, make):
    srv.script("GET", "/api/things", Reply(429, {"error": {"message": "slow"}}, {"X-Reset": "1m2.5s"}),
               Reply(429, {"error": {"message": "slow"}}, {"X-Reset": "20ms"}), Reply(200, {"ok": 1}))
    eng = _retrying(make, wait=[{"type": "duration", "header": "x-reset"}], max_retry_after=120)
    assert eng.run("things.list") == {"ok": 1}
    assert eng.waits == [pytest.approx(62.5), pytest.approx(0.02)]


def test_a_permanent_rule_on_a_mapped_code_is_not_retried(srv, make):
    srv.script("GET", "/api/things", Reply(429, {"errors": [{"detail": "quota gone", "code": "quota"}]}),
               Reply(200, {"ok": 1}))
    m = manifest(action(), errors={"type": "json", "message": "errors[0].detail", "code": "errors[0].code"},
                 retry={"permanent": [{"status": 429, "code": "quota", "reason": "the quota is used up"}]})
    eng = _recording(make(m, token=TOKEN, max_retries=3))
    with pytest.raises(engine.RateLimitError) as info:
        eng.run("things.list")
    assert info.value.code == "quota" and "the quota is used up" in str(info.value)
    assert len(srv.requests) == 1 and eng.waits == []


# -- streams ------------------------------------------------------------------------------------------

def _stream_manifest(framing, when="stream", errors=None):
    spec = action("chat.create", "POST", "/chat", body={"type": "json"},
                  params=[body_param("prompt"), body_param("stream", {"type": "boolean"})],
                  stream={"use": "s", **({"when": when} if when else {})})
    m = manifest(spec)
    m["definitions"] = {"streams": {"s": framing}}
    if errors:
        m["connector"]["errors"] = errors
    return m


def _sse(*events):
    return Reply(200, headers={"Content-Type": "text/event-stream"},
                 chunks=[e if e is None else e.encode() for e in events])


ANTHROPIC_LIKE = {"type": "sse", "terminal_events": ["message_stop"], "error_events": ["error"]}


def test_sse_ends_cleanly_after_a_terminal_event_without_done(srv, make):
    srv.route("POST", "/api/chat", lambda r: _sse('event: message_start\ndata: {"n": 1}\n\n',
                                                  'event: message_stop\ndata: {"n": 2}\n\n'))
    events = list(make(_stream_manifest(ANTHROPIC_LIKE), token=TOKEN).run("chat.create",
                                                                          {"prompt": "hi", "stream": True}))
    assert [(e.event, e.data) for e in events] == [("message_start", {"n": 1}), ("message_stop", {"n": 2})]
    assert srv.requests[0].json() == {"prompt": "hi", "stream": True}


@pytest.mark.parametrize("cut", [None, "clean"])
def test_sse_cut_before_its_terminal_event_is_a_connection_error(srv, make, cut):
    chunks = ['event: message_start\ndata: {"n": 1}\n\n'] + ([None] if cut is None else [])
    srv.route("POST", "/api/chat", lambda r: _sse(*chunks))
    stream = make(_stream_manifest(ANTHROPIC_LIKE), token=TOKEN).run("chat.create", {"prompt": "hi", "stream": True})
    assert next(stream).event == "message_start"
    with pytest.raises(engine.APIConnectionError):
        next(stream)


def test_sse_event_field_names_events_and_an_error_field_is_mapped(srv, make):
    framing = {"type": "sse", "event_field": "type", "error_field": "error",
               "terminal_events": ["response.completed"]}
    errors = {"type": "json", "message": "error.msg", "error_type": "error.kind", "code": "error.code"}
    srv.script("POST", "/api/chat",
               _sse('data: {"type": "response.delta", "d": "a"}\n\n', 'data: {"type": "response.completed"}\n\n'),
               _sse('data: {"type": "response.delta", "d": "a"}\n\n',
                    'data: {"error": {"msg": "overloaded", "kind": "server", "code": "E529"}}\n\n'))
    eng = make(_stream_manifest(framing, errors=errors), token=TOKEN)
    assert [e.event for e in eng.run("chat.create", {"stream": True})] == ["response.delta", "response.completed"]
    stream = eng.run("chat.create", {"stream": True})
    assert next(stream).data == {"type": "response.delta", "d": "a"}
    with pytest.raises(engine.APIError) as info:
        next(stream)
    assert (info.value.message, info.value.type, info.value.code) == ("overloaded", "server", "E529")


def test_jsonl_stream_that_ends_on_close_and_is_always_streamed(srv, make):
    srv.route("POST", "/api/chat", lambda r: Reply(200, headers={"Content-Type": "application/x-ndjson"},
                                                   chunks=[b'{"a": 1}\n\n{"a"', b': 2}\n']))
    m = _stream_manifest({"type": "jsonl", "ends_on_close": True}, when=None)
    assert [e.data for e in make(m, token=TOKEN).run("chat.create", {"prompt": "x"})] == [{"a": 1}, {"a": 2}]
    assert srv.requests[0].json() == {"prompt": "x"}


def test_a_payload_that_is_not_json_is_an_api_response_error(srv, make):
    srv.route("POST", "/api/chat", lambda r: _sse('data: {"ok": 1}\n\n', "data: not json\n\n",
                                                  "event: message_stop\ndata: {}\n\n"))
    stream = make(_stream_manifest(ANTHROPIC_LIKE), token=TOKEN).run("chat.create", {"stream": True})
    assert next(stream).data == {"ok": 1}
    with pytest.raises(engine.APIResponseError, match="not JSON"):
        next(stream)


# -- composites ---------------------------------------------------------------------------------------

def _jobs_manifest(*composites):
    id_param = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    m = manifest(
        action("jobs.create", "POST", "/jobs", params=[body_param("input")], body={"type": "json"}),
        action("jobs.retrieve", "GET", "/jobs/{job_id}", params=[id_param]),
        action("jobs.cancel", "POST", "/jobs/{job_id}/cancel", params=[id_param]),
        action("jobs.publish", "POST", "/jobs/{job_id}/publish", params=[id_param]),
        action("items.get", "GET", "/items/{id}", params=[{**id_param, "name": "id"}]),
        action("parts.put", "PUT", "/uploads/{upload_id}/parts/{n}", body={"type": "raw", "param": "data",
                                                                            "content_type": "application/octet-stream"},
               params=[{**id_param, "name": "upload_id"}, {"name": "n", "in": "path", "required": True,
                                                          "schema": {"type": "integer"}},
                       {"name": "data", "in": "body", "required": True, "file": {}}]))
    m["composites"] = list(composites)
    return m


def _poll_composite(**more):
    return {"name": "jobs.run", "params_from": "jobs.create",
            "params": [{"name": "every", "schema": {"type": "number"}},
                       {"name": "publish", "schema": {"type": "boolean"}}],
            "steps": [{"name": "job", "type": "call", "action": "jobs.create"},
                      {"name": "done", "type": "poll", "action": "jobs.retrieve",
                       "params": {"job_id": "{{ steps.job.id }}"},
                       "until": "{{ response.status in ['done', 'failed'] }}",
                       "interval": "{{ params.every | default(1) }}",
                       "hint": {"type": "milliseconds", "header": "retry-after-ms"}},
                      {"type": "call", "action": "jobs.publish", "if": "{{ params.publish | default(false) }}",
                       "params": {"job_id": "{{ steps.job.id }}"}}],
            "result": "{{ {'id': steps.job.id, 'status': steps.done.status} }}", **more}


def test_call_then_poll_until_with_interval_from_a_param_and_the_hint_header(srv, make):
    srv.route("POST", "/api/jobs", lambda r: Reply(200, {"id": "j1", "status": "queued"}))
    srv.script("GET", "/api/jobs/j1", Reply(200, {"id": "j1", "status": "running"}, {"retry-after-ms": "30"}),
               Reply(200, {"id": "j1", "status": "done"}))
    eng = make(_jobs_manifest(_poll_composite()), token=TOKEN)
    waits = []
    eng.transport.sleep = waits.append
    assert eng.run("jobs.run", {"input": "x", "every": 0.5}) == {"id": "j1", "status": "done"}
    assert [(r.method, r.path) for r in srv.requests] == [("POST", "/api/jobs"), ("GET", "/api/jobs/j1"),
                                                          ("GET", "/api/jobs/j1")]
    assert srv.requests[0].json() == {"input": "x"}  # the composite's own params are not passed on
    assert waits == [0.5, pytest.approx(0.03)]


def test_if_runs_a_step_only_when_it_holds(srv, make):
    srv.route("POST", "/api/jobs", lambda r: Reply(200, {"id": "j1", "status": "done"}))
    srv.route("POST", "/api/jobs/j1/publish", lambda r: Reply(200, {"published": True}))
    eng = make(_jobs_manifest(_poll_composite()), token=TOKEN)
    eng.run("jobs.run", {"input": "x"})
    assert [r.path for r in srv.requests] == ["/api/jobs"]  # done already: no poll, no publish
    del srv.requests[:]
    eng.run("jobs.run", {"input": "x", "publish": True})
    assert [r.path for r in srv.requests] == ["/api/jobs", "/api/jobs/j1/publish"]


def test_poll_timeout_at_the_composite_timeout(srv, make):
    srv.route("POST", "/api/jobs", lambda r: Reply(200, {"id": "j1", "status": "queued"}))
    srv.route("GET", "/api/jobs/j1", lambda r: Reply(200, {"id": "j1", "status": "running"}))
    eng = make(_jobs_manifest(_poll_composite(timeout=0.3)), token=TOKEN)
    with pytest.raises(engine.PollTimeoutError):
        eng.run("jobs.run", {"input": "x", "every": 0.05})
    assert 2 <= len(srv.requests) <= 10


def test_on_failure_runs_and_the_original_error_is_raised(srv, make):
    srv.route("POST", "/api/jobs", lambda r: Reply(200, {"id": "j1", "status": "queued"}))
    srv.route("GET", "/api/jobs/j1", lambda r: Reply(500, {"error": {"message": "broken"}}))
    srv.route("POST", "/api/jobs/j1/cancel", lambda r: Reply(500, {"error": {"message": "cancel failed too"}}))
    comp = _poll_composite(on_failure=[{"type": "call", "action": "jobs.cancel", "if": "{{ 'job' in steps }}",
                                        "params": {"job_id": "{{ steps.job.id }}"}}])
    eng = make(_jobs_manifest(comp), token=TOKEN)
    with pytest.raises(engine.InternalServerError, match="broken"):
        eng.run("jobs.run", {"input": "x", "every": 0.01})
    assert [r.path for r in srv.requests] == ["/api/jobs", "/api/jobs/j1", "/api/jobs/j1/cancel"]


def test_for_each_over_a_template_list_with_concurrency_results_in_order(srv, make, released):
    import threading

    last_arrived = threading.Event()

    def handler(r):
        n = r.path.rsplit("/", 1)[1]
        if n == "c":
            last_arrived.set()
        else:
            last_arrived.wait(2)  # answers only once every item is in flight: they run at once
        return Reply(200, {"name": n.upper()})
    srv.route("GET", "/api/items/*", handler)
    comp = {"name": "items.get_many", "params": [{"name": "ids", "schema": {"type": "array", "items": {"type": "string"}}}],
            "steps": [{"name": "each", "type": "for_each", "over": "{{ params.ids }}", "concurrency": 3,
                       "do": {"type": "call", "action": "items.get", "params": {"id": "{{ item }}"}}}],
            "result": "{{ steps.each | map(attribute='name') | list }}"}
    eng = make(_jobs_manifest(comp), token=TOKEN)
    assert eng.run("items.get_many", {"ids": ["a", "b", "c"]}) == ["A", "B", "C"]
    assert last_arrived.is_set() and sorted(r.path for r in srv.requests) == ["/api/items/a", "/api/items/b",
                                                                            "/api/items/c"]


def test_split_file_and_for_each_upload_exact_bytes_per_part(srv, make, tmp_path):
    srv.route("PUT", "/api/uploads/*", lambda r: Reply(200, {"n": int(r.path.rsplit("/", 1)[1])}))
    comp = {"name": "uploads.file", "params": [{"name": "file", "required": True, "schema": {"type": "string"}},
                                               {"name": "upload_id", "schema": {"type": "string"}}],
            "steps": [{"name": "file", "type": "split_file", "param": "file", "part_size": 1000},
                      {"name": "parts", "type": "for_each", "over": "{{ steps.file.parts }}", "concurrency": 2,
                       "do": {"type": "call", "action": "parts.put",
                              "params": {"upload_id": "{{ params.upload_id }}", "n": "{{ index }}",
                                         "data": "{{ item }}"}}}],
            "result": "{{ {'size': steps.file.size, 'parts': steps.parts | map(attribute='n') | list} }}"}
    data = bytes(range(256)) * 10  # 2560 bytes: 1000 + 1000 + 560
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    eng = make(_jobs_manifest(comp), token=TOKEN)
    assert eng.run("uploads.file", {"file": src, "upload_id": "u1"}) == {"size": 2560, "parts": [0, 1, 2]}
    got = {r.path: r for r in srv.requests}
    assert sorted(got) == [f"/api/uploads/u1/parts/{n}" for n in range(3)]
    for n in range(3):
        req = got[f"/api/uploads/u1/parts/{n}"]
        assert req.body == data[n * 1000:(n + 1) * 1000]
        assert req.headers["content-length"] == str(len(req.body))
        assert req.headers["content-type"] == "application/octet-stream"


# -- a component registered from outside the package --------------------------------------------------

def _hmac_auth():
    import hashlib
    import hmac

    from engine.components.auth import Auth

    class HmacAuth(Auth):
        """Signs every request: an HMAC-SHA256 of a fixed message, hex, in a header."""

        type = "test_hmac"
        schema = {"properties": {"header": {"type": "string"}, "env": {"type": "string"}},
                  "required": ["header"]}
        example = {"type": "test_hmac", "header": "X-Signature"}

        def apply(self, secret, headers, query):
            headers[self.spec["header"]] = hmac.new(secret[0].encode(), b"demo", hashlib.sha256).hexdigest()

        def header_names(self):
            return {self.spec["header"]}

    return HmacAuth


@pytest.fixture
def hmac_auth():
    from engine import components

    cls = engine.register(_hmac_auth())
    yield cls
    del components._registry["auth"][cls.type]
    components._schemas.clear()


def test_a_component_registered_from_outside_is_loaded_checked_and_used(srv, make, hmac_auth):
    import hashlib
    import hmac

    srv.route("GET", "/api/things", lambda r: Reply(200, {"ok": 1}))
    m = manifest(action(), credentials={"sig": {"type": "test_hmac", "header": "X-Signature"}})
    assert make(m, sig="shh-SECRET-0123456789").run("things.list") == {"ok": 1}
    assert srv.requests[0].headers["x-signature"] == hmac.new(b"shh-SECRET-0123456789", b"demo",
                                                              hashlib.sha256).hexdigest()
    bad = manifest(action(), credentials={"sig": {"type": "test_hmac", "header": "X-Signature", "algo": "md5"}})
    with pytest.raises(engine.ManifestError) as info:
        engine.load(bad)
    assert "'algo'" in str(info.value) and "env, header" in str(info.value)


# -- manifest authoring -------------------------------------------------------------------------------

BASE = textwrap.dedent("""\
    manifest_version: 2
    connector:
      name: demo
      base_url: http://127.0.0.1:9/api
      credentials:
        token: {type: header, header: X-Token}
    definitions:
      paginations:
        cursor: {type: cursor, items: data, next: {body: next}, send: {param: after}}
    actions:
      - name: things.list
        method: GET
        path: /things
        params:
          - {name: after, in: query, schema: {type: string}}
        response: {type: json}
        pagination: cursor
    """)

OVERLAY = textwrap.dedent("""\
    connector:
      credentials:
        admin: {type: bearr, header: X-Admin}
    actions:
      - name: widgets.list
        method: GET
        path: /widgets
        params:
          - name: after
            in: querry
            schema: {type: string}
          - name: limit
            in: query
            schema: {type: strng}
        response: {type: json}
        pagination: cursorr
    """)


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_every_mistake_reported_at_once_with_did_you_mean_at_the_line_in_the_overlay(tmp_path):
    base, mine = write(tmp_path, BASE, "base.yaml"), write(tmp_path, OVERLAY, "mine.yaml")
    with pytest.raises(engine.ManifestError) as info:
        engine.load([base, mine])
    problems = info.value.problems
    found = {p.line: p for p in problems}
    assert all(p.file == str(mine) for p in problems), [(p.file, p.line) for p in problems]
    wanted = {"type: bearr": ("'bearr'", "allowed: basic, header, none, query"),
              "in: querry": ("'querry'", "did you mean 'query'"),
              "type: strng": ("'strng'", "did you mean 'string'"),
              "pagination: cursorr": ("'cursorr'", "did you mean 'cursor'")}
    for needle, (value, hint) in wanted.items():
        line = line_of(OVERLAY, needle)
        assert line in found, (needle, line, [(p.line, p.rule) for p in problems])
        assert value in found[line].rule and hint in found[line].rule, found[line].rule
    assert len(problems) >= 4 and f"{len(problems)} problems" in str(info.value)


def test_duplicate_action_names_in_one_overlay_file_are_an_error(tmp_path):
    dup = textwrap.dedent("""\
        actions:
          - {name: things.list, method: GET, path: /a, params: [], response: {type: json}}
          - {name: things.list, method: GET, path: /b, params: [], response: {type: json}}
        """)
    base, mine = write(tmp_path, BASE, "base.yaml"), write(tmp_path, dup, "mine.yaml")
    with pytest.raises(engine.ManifestError, match="things.list") as info:
        engine.load([base, mine])
    assert info.value.file == str(mine) and info.value.line == 3


def test_an_overlay_that_replaces_an_action_is_shown_by_describe_and_export(tmp_path):
    over = textwrap.dedent("""\
        actions:
          - {name: things.list, method: GET, path: /v2/things, params: [], response: {type: json}}
        """)
    base, mine = write(tmp_path, BASE, "base.yaml"), write(tmp_path, over, "mine.yaml")
    code, out, err = run_cli("--manifest", str(base), "--manifest", str(mine), "describe", "things.list")
    assert code == 0, err
    assert "/v2/things" in out and "replaces the action of the same name from" in out and str(base) in out
    code, out, err = run_cli("--manifest", str(base), "--manifest", str(mine), "export")
    assert code == 0, err
    entry = next(a for a in json.loads(out)["actions"] if a["name"] == "things.list")
    assert str(base) in entry["replaces"]


# -- the command line on a manifest of another API --------------------------------------------------------

PETS = textwrap.dedent("""\
    manifest_version: 2
    connector:
      name: petstore
      base_url: http://127.0.0.1:9/v1
      credentials:
        key: {type: header, header: X-API-Key, env: PETSTORE_KEY}
    actions:
      - name: pets.list
        summary: List the pets
        method: GET
        path: /pets
        params:
          - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
          - {name: cursor, in: query, schema: {type: string}}
        response: {type: json, schema: {type: object, properties: {data: {type: array, items: {$ref: "#/schemas/Pet"}}}}}
        pagination: {type: cursor, items: data, next: {body: next_cursor}, send: {param: cursor}}
      - name: pets.create
        summary: Add a pet
        method: POST
        path: /pets
        body: json
        params:
          - {name: name, in: body, required: true, schema: {type: string, maxLength: 64}}
          - {name: tags, in: body, schema: {type: array, items: {type: string}}}
        response: {type: json, schema: {$ref: "#/schemas/Pet"}}
      - name: pets.retrieve
        summary: One pet
        method: GET
        path: /pets/{pet_id}
        params:
          - {name: pet_id, in: path, required: true, schema: {type: string}}
        response: {type: json, schema: {$ref: "#/schemas/Pet"}}
    schemas:
      Pet: {type: object, properties: {id: {type: string}, name: {type: string}}}
    """)


def test_the_cli_on_another_apis_manifest(tmp_path):
    path = str(write(tmp_path, PETS, "pets.yaml"))
    code, out, err = run_cli("--manifest", path, "actions")
    assert code == 0, err
    assert out.splitlines() == ["pets.list      GET /pets           List the pets",
                                "pets.create    POST /pets          Add a pet",
                                "pets.retrieve  GET /pets/{pet_id}  One pet", "",
                                "3 actions, 0 composite actions"]
    code, out, err = run_cli("--manifest", path, "describe", "pets.create")
    assert code == 0, err
    assert "POST /pets" in out and "credential: key; body: json" in out
    assert "name: string, required, in body" in out and "maxLength=64" in out
    code, out, err = run_cli("--manifest", path, "run", "pets.create", "-p", "name=rex", "--dry-run")
    assert code == 0, err
    assert out == ("curl -X POST http://127.0.0.1:9/v1/pets -H \"X-API-Key: $PETSTORE_KEY\" "
                   "-H 'Content-Type: application/json' --data-raw '{\"name\":\"rex\"}'\n")


def test_the_sandbox_answers_any_manifests_actions(tmp_path):
    path = str(write(tmp_path, PETS, "pets.yaml"))
    state = str(tmp_path / "state.json")
    code, out, err = run_cli("--manifest", path, "--sandbox-state", state, "run", "pets.create", "-p", "name=rex")
    assert code == 0, err
    created = json.loads(out)
    assert created["name"] == "rex" and created["id"]
    code, out, err = run_cli("--manifest", path, "--sandbox-state", state, "run", "pets.list", "--all")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [created]
    code, out, err = run_cli("--manifest", path, "--sandbox-state", state, "run", "pets.retrieve",
                             "-p", f"pet_id={created['id']}")
    assert code == 0 and json.loads(out) == created, err
    code, out, err = run_cli("--manifest", path, "--sandbox", "run", "pets.create", "-p", "nme=rex")
    assert code != 0 and "nme" in err


@pytest.mark.parametrize("block", [
    {"body": {"type": "json", "template": {"user": {"name": "{{ parms.a }}"}}}},
    {"body": {"type": "raw", "param": "a", "content_type": "{{ parms.a }}"}},
    {"body": {"type": "choice", "options": [{"when": "{{ parms.a }}", "body": {"type": "json"}},
                                            {"body": {"type": "form"}}]}},
])
def test_a_broken_body_template_names_its_file_and_line(tmp_path, block):
    m = manifest(action(method="POST", params=[body_param("a")], **block))
    path = write(tmp_path, m)
    with pytest.raises(engine.ManifestError, match="parms") as info:
        engine.load(path)
    assert info.value.file == str(path) and info.value.line == line_of(path.read_text(), "- name: things.list")


def test_a_broken_composite_template_names_its_file_and_line(tmp_path):
    comp = _poll_composite()
    comp["steps"][1]["until"] = "{{ respons.status == 'done' }}"
    path = write(tmp_path, _jobs_manifest(comp))
    with pytest.raises(engine.ManifestError, match="respons") as info:
        engine.load(path)
    assert info.value.file == str(path) and info.value.line == line_of(path.read_text(), "- name: jobs.run")


def test_a_query_credential_goes_once_on_a_followed_next_url(srv, make):
    def handler(r):
        if "page=2" not in r.query:
            return Reply(200, [1], {"Link": f'<{srv.url}/api/things?page=2>; rel="next"'})
        return Reply(200, [2])
    srv.route("GET", "/api/things", handler)
    m = manifest(action(pagination={"type": "cursor", "items": "$", "next": {"link": "next"}, "send": {"url": True}}),
                 credentials={"key": {"type": "query", "param": "api_key"}})
    assert list(make(m, key=KEY).paginate("things.list")) == [1, 2]
    assert [q(r) for r in srv.requests] == [[("api_key", KEY)], [("page", "2"), ("api_key", KEY)]]
