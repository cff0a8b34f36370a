"""Each built-in component on its own: the registry, auth, paging, bodies, waits, error maps, framing."""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import pytest

import engine
from engine import components
from engine.components import auth
from engine.components.paging import Page, PageRequest
from engine.components.paths import MISSING, Path


def build(family, spec):
    return components.build(family, spec)


# -- registry ---------------------------------------------------------------------------------------

def test_every_family_has_builtins_with_valid_schemas_and_examples():
    import jsonschema

    for family in components.FAMILIES:
        kinds = components.registry(family)
        assert kinds, family
        schema = components.family_schema(family)
        for kind, cls in kinds.items():
            jsonschema.Draft202012Validator.check_schema(components._fragment(cls))
            errors = [e.message for e in jsonschema.Draft202012Validator(
                {**schema, "$defs": {f"component_{f}": {"type": "object"} for f in components.FAMILIES}})
                .iter_errors(cls.example)]
            assert errors == [], (family, kind, errors)


def test_register_refuses_a_type_taken_unless_replaced_and_checks_the_class():
    class Dup(auth.HeaderAuth):
        pass

    with pytest.raises(ValueError, match="already registered"):
        components.register(Dup)
    with pytest.raises(TypeError, match="family"):
        components.register(type("Bad", (), {"family": "nope", "type": "x", "schema": {}}))
    with pytest.raises(TypeError, match="type"):
        components.register(type("Bad", (), {"family": "auth", "type": "two words", "schema": {}}))


def test_fingerprint_changes_when_a_component_is_registered():
    before = components.fingerprint()

    class Signed(auth.HeaderAuth):
        type = "test_signed_fingerprint"

    components.register(Signed)
    try:
        assert components.fingerprint() != before
        assert "test_signed_fingerprint" in components.family_schema("auth")["properties"]["type"]["enum"]
    finally:
        del components._registry["auth"]["test_signed_fingerprint"]
        components._schemas.clear()


# -- paths ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,doc,want", [
    ("data", {"data": [1]}, [1]),
    ("meta.total", {"meta": {"total": 3}}, 3),
    ("items[-1].id", {"items": [{"id": "a"}, {"id": "b"}]}, "b"),
    ("items[5]", {"items": []}, MISSING),
    ("$", [1, 2], [1, 2]),
    ("a.b", {"a": "text"}, MISSING),
    ("a[0]", {"a": "text"}, MISSING),
])
def test_paths(text, doc, want):
    assert Path(text).get(doc) == want


# -- auth -------------------------------------------------------------------------------------------

def _apply(block, given=None, env=None):
    a = build("auth", block)
    secret = a.read(given, (env or {}).get)
    headers, query = {}, []
    if secret is not None:
        a.apply(secret, headers, query)
    return a, secret, headers, query


def test_header_auth_with_prefix_and_env():
    a, secret, headers, _ = _apply({"type": "header", "header": "Authorization", "prefix": "Token ",
                                    "env": "K"}, env={"K": "abc123456"})
    assert headers == {"Authorization": "Token abc123456"}
    assert a.header_names() == {"Authorization"} and a.placeholder() == ("$K",)


def test_query_auth():
    a, _, headers, query = _apply({"type": "query", "param": "api_key"}, given="k-123456789")
    assert headers == {} and query == [("api_key", "k-123456789")] and a.query_names() == {"api_key"}


def test_basic_auth_pair_and_key_as_username():
    a, secret, headers, _ = _apply({"type": "basic", "username_env": "U", "password_env": "P"},
                                   env={"U": "ann", "P": "s3cret-pass"})
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ann:s3cret-pass").decode()
    assert base64.b64encode(b"ann:s3cret-pass").decode() in a.masks(secret)
    a, _, headers, _ = _apply({"type": "basic", "key_as": "username", "env": "S"}, given="sk_live_123")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"sk_live_123:").decode()
    with pytest.raises(TypeError):
        build("auth", {"type": "basic"}).read("just-one-string", {}.get)


def test_unset_credential_reads_as_none():
    assert build("auth", {"type": "header", "header": "X-Key", "env": "NOPE"}).read(None, {}.get) is None


# -- paging -----------------------------------------------------------------------------------------

def _page(body, headers=None, url="https://api.test/v1/things", number=1):
    return Page(body, headers or {}, 200, url, number)


def _walk(pager, pages, params=None):
    """Feed `pages` (bodies or (body, headers)) to the paginator; return every item and the requests made."""
    request = pager.first(params or {})
    seen: set = set()
    items_out, requests = [], [request]
    for n, raw in enumerate(pages, 1):
        body, headers = raw if isinstance(raw, tuple) else (raw, {})
        page = _page(body, headers, request.url or "https://api.test/v1/things", n)
        items = pager.items(page)
        items_out += items
        request = pager.next(request, page, items, seen)
        if request is None:
            return items_out, requests
        requests.append(request)
    raise AssertionError(f"the walk did not end: next request {request.to_json()}")


def test_cursor_after_last_id_like_openai():
    pager = build("paginator", {"type": "cursor", "items": "data", "next": {"body": "last_id", "last_item": "id"},
                                "send": {"param": "after"}, "has_more": "has_more", "item_cursor": "id",
                                "reverse": {"param": "before", "next": {"body": "first_id", "last_item": "id"}}})
    items, reqs = _walk(pager, [{"data": [{"id": "a"}, {"id": "b"}], "has_more": True},
                                {"data": [{"id": "c"}], "has_more": False}])
    assert [i["id"] for i in items] == ["a", "b", "c"] and reqs[1].params == {"after": "b"}
    # walking backwards reads the first item and sends `before`
    _, reqs = _walk(pager, [{"data": [{"id": "x"}, {"id": "y"}], "has_more": True}, {"data": [], "has_more": False}],
                    {"before": "z"})
    assert reqs[1].params == {"before": "x"}
    assert pager.checkpoint(PageRequest({"limit": 2}), {"id": "q"})[0].params == {"limit": 2, "after": "q"}


def test_page_token_and_opaque_next_over_a_root_array_in_a_header():
    pager = build("paginator", {"type": "cursor", "items": "$", "next": {"header": "X-Next"},
                                "send": {"query": "page_token"}})
    items, reqs = _walk(pager, [([1, 2], {"X-Next": "t2"}), ([3], {})])
    assert items == [1, 2, 3] and reqs[1].inject == {"query": {"page_token": "t2"}}


def test_link_header_is_followed_as_a_url_and_resolved_against_the_page():
    pager = build("paginator", {"type": "cursor", "items": "$", "next": {"link": "next"}, "send": {"url": True}})
    items, reqs = _walk(pager, [([1], {"link": '</v1/things?page=2>; rel="next", </v1/things?page=9>; rel="last"'}),
                                ([2], {"link": '</v1/things?page=1>; rel="first"'})])
    assert items == [1, 2] and reqs[1].url == "https://api.test/v1/things?page=2"


def test_cursor_into_a_body_field_and_a_header():
    for where in ("body", "header"):
        pager = build("paginator", {"type": "cursor", "items": "results", "next": {"body": "next_cursor"},
                                    "send": {where: "cursor"}})
        _, reqs = _walk(pager, [{"results": [1], "next_cursor": "c2"}, {"results": [2], "next_cursor": None}])
        assert reqs[1].inject == {where: {"cursor": "c2"}}


def test_a_missing_items_path_is_an_error_not_an_empty_walk():
    pager = build("paginator", {"type": "cursor", "items": "data", "next": {"body": "next"}, "send": {"param": "p"}})
    with pytest.raises(engine.PaginationError, match="'data' is missing"):
        _walk(pager, [[{"id": 1}]])
    with pytest.raises(engine.PaginationError, match="not a list"):
        _walk(pager, [{"data": {"id": 1}}])


def test_cycles_empty_pages_claiming_more_and_more_without_a_cursor_are_errors():
    pager = build("paginator", {"type": "cursor", "items": "data", "next": {"body": "next"}, "send": {"param": "p"},
                                "has_more": "more"})
    with pytest.raises(engine.PaginationError, match="repeated"):
        _walk(pager, [{"data": [1], "next": "a", "more": True}, {"data": [2], "next": "b", "more": True},
                      {"data": [3], "next": "a", "more": True}])
    with pytest.raises(engine.PaginationError, match="empty page"):
        _walk(pager, [{"data": [], "more": True}])
    with pytest.raises(engine.PaginationError, match="nothing to continue"):
        _walk(pager, [{"data": [1], "more": True}])


def test_offset_walks_by_items_received_until_the_total():
    pager = build("paginator", {"type": "offset", "items": "results", "offset": {"param": "offset"},
                                "limit": {"param": "limit", "default": 50}, "total": "total"})
    pages = [{"results": list(range(i, min(i + 50, 120))), "total": 120} for i in (0, 50, 100)]
    items, reqs = _walk(pager, pages)
    assert items == list(range(120))
    assert [r.params for r in reqs] == [{"limit": 50}, {"limit": 50, "offset": 50}, {"limit": 50, "offset": 100}]


def test_offset_survives_a_server_that_caps_the_page_size():
    pager = build("paginator", {"type": "offset", "items": "results", "offset": {"param": "offset"},
                                "limit": {"param": "limit", "default": 100}})
    pages = [{"results": list(range(i, min(i + 50, 120)))} for i in (0, 50, 100)] + [{"results": []}]
    items, _ = _walk(pager, pages)
    assert items == list(range(120))


def test_page_numbers_until_the_last_page_or_an_empty_one():
    pager = build("paginator", {"type": "page_number", "items": "data", "page": {"param": "page", "start": 1},
                                "total_pages": "pages"})
    items, reqs = _walk(pager, [{"data": [1], "pages": 2}, {"data": [2], "pages": 2}])
    assert items == [1, 2] and reqs[1].params == {"page": 2}
    pager = build("paginator", {"type": "page_number", "items": "data", "page": {"param": "page"}})
    items, _ = _walk(pager, [{"data": [1]}, {"data": [2]}, {"data": []}])
    assert items == [1, 2]


def test_page_requests_round_trip_through_json():
    req = PageRequest({"a": 1}, {"query": {"t": "x"}}, "https://api.test/next")
    again = PageRequest(**json.loads(json.dumps(req.to_json())))
    assert (again.params, again.inject, again.url) == (req.params, req.inject, req.url)


# -- bodies -----------------------------------------------------------------------------------------

def _form(spec, fields):
    body, ctype = build("body", {"type": "form", **spec}).encode(list(fields.items()), [], {"params": fields})
    assert ctype == "application/x-www-form-urlencoded"
    return parse_qsl(body.decode(), keep_blank_values=True)


def test_form_nests_objects_and_lists_as_declared():
    fields = {"card": {"number": "4242", "exp": {"month": 1}}, "tags": ["a", "b"], "ok": True,
              "items": [{"price": "p1", "qty": 2}]}
    assert _form({}, fields) == [("card[number]", "4242"), ("card[exp][month]", "1"), ("tags[]", "a"),
                                 ("tags[]", "b"), ("ok", "true"), ("items[0][price]", "p1"), ("items[0][qty]", "2")]
    assert _form({"arrays": "indexed"}, {"tags": ["a", "b"]}) == [("tags[0]", "a"), ("tags[1]", "b")]
    assert _form({"arrays": "repeat"}, {"tags": ["a", "b"]}) == [("tags", "a"), ("tags", "b")]
    assert _form({"objects": "json"}, {"o": {"a": 1}}) == [("o", '{"a":1}')]


def test_json_body_keeps_openai_bytes():
    body, ctype = build("body", {"type": "json"}).encode([("model", "m"), ("n", 2)], [], {})
    assert body == b'{"model":"m","n":2}' and ctype == "application/json"


def test_raw_body_sends_the_param_with_its_type():
    body, ctype = build("body", {"type": "raw", "param": "sdp", "content_type": "application/sdp"}).encode(
        [], [], {"params": {"sdp": "v=0\r\n"}})
    assert body == b"v=0\r\n" and ctype == "application/sdp"


def test_deep_nesting_in_a_form_does_not_recurse():
    value: dict = {}
    node = value
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    node["a"] = 1
    pairs = _form({}, {"x": value})
    assert pairs[0][1] == "1" and pairs[0][0].count("[a]") == 5001


# -- waits ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("block,raw,want", [
    ({"type": "milliseconds"}, "1500", 1.5),
    ({"type": "seconds"}, "2", 2.0),
    ({"type": "seconds"}, "nan", None),
    ({"type": "seconds", "or_http_date": True}, "Thu, 01 Jan 1970 00:01:40 GMT", 40.0),
    ({"type": "http_date"}, "Thu, 01 Jan 1970 00:01:40 GMT", 40.0),
    ({"type": "epoch_seconds"}, "160", 100.0),
    ({"type": "duration"}, "6m0s", 360.0),
    ({"type": "duration"}, "1.5s", 1.5),
    ({"type": "duration"}, "20ms", 0.02),
    ({"type": "duration"}, "1h2m3.5s", 3723.5),
    ({"type": "duration"}, "soon", None),
])
def test_wait_formats(block, raw, want):
    wait = build("wait", {**block, "header": "h"})
    got = wait.seconds({"h": raw}, 60.0)
    assert got == pytest.approx(want) if want is not None else got is None


# -- error maps -------------------------------------------------------------------------------------

def test_error_map_reads_paths_and_keeps_text():
    m = build("errors", {"type": "json", "message": "errors[0].detail", "code": "errors[0].code",
                         "error_type": "errors[0].title"})
    got = m.read({"errors": [{"detail": "bad", "code": "E1", "title": "Invalid"}]}, {}, 400)
    assert got == {"message": "bad", "type": "Invalid", "code": "E1", "param": None}
    assert m.read("plain text", {}, 502)["message"] == "plain text"
    assert m.read({"errors": "nope"}, {}, 400)["message"] is None


# -- stream framing ---------------------------------------------------------------------------------

def test_jsonl_framing_joins_lines_across_chunks():
    framing = build("stream", {"type": "jsonl"})
    chunks = [b'{"a":', b'1}\n\n{"b":2}\n{"c"', b":3}"]
    assert [e.raw for e in framing.frame(chunks)] == ['{"a":1}', '{"b":2}', '{"c":3}']


def test_sse_framing_gives_names_and_payloads():
    framing = build("stream", {"type": "sse", "done": "[DONE]"})
    out = list(framing.frame([b"event: x\ndata: {\"n\":1}\n\ndata: [DONE]\n\n"]))
    assert [(e.event, e.raw) for e in out] == [("x", '{"n":1}'), (None, "[DONE]")]


# -- templates inside components --------------------------------------------------------------------

def test_template_values_in_a_paginator():
    pager = build("paginator", {"type": "cursor", "items": "data",
                                "next": {"body": "{{ response.body.meta.cursors.after or none }}"},
                                "send": {"param": "after"},
                                "stop_when": "{{ response.body.meta.page >= response.body.meta.pages }}"})
    items, reqs = _walk(pager, [{"data": [1], "meta": {"cursors": {"after": "c2"}, "page": 1, "pages": 2}},
                                {"data": [2], "meta": {"cursors": {"after": "c3"}, "page": 2, "pages": 2}}])
    assert items == [1, 2] and reqs[1].params == {"after": "c2"}


def test_a_json_body_template_nests_the_fields_and_keeps_types():
    body, _ = build("body", {"type": "json", "template": {"user": "{{ body }}", "notify": "{{ params.n > 1 }}"}}) \
        .encode([("name", "Ann"), ("age", 7)], [], {"params": {"n": 2}, "config": {}})
    assert json.loads(body) == {"user": {"name": "Ann", "age": 7}, "notify": True}


def test_a_choice_body_picks_multipart_for_files_and_json_otherwise():
    choice = build("body", {"type": "choice", "options": [{"when": "files", "body": {"type": "multipart"}},
                                                          {"body": "json"}]})
    assert choice.carries_files
    assert choice.choose({}, files=True).type == "multipart"
    assert choice.choose({}, files=False).type == "json"


def test_a_broken_template_in_a_block_fails_at_build_with_its_file():
    with pytest.raises(engine.ManifestError, match="m.yaml"):
        components.build("paginator", {"type": "cursor", "items": "data", "next": {"body": "{{ response.body. }}"},
                                       "send": {"param": "p"}}, components.Where("m.yaml", 3))
    with pytest.raises(engine.ManifestError, match="respons"):
        components.build("errors", {"type": "json", "message": "{{ respons.body }}"}, components.Where("m.yaml", 3))


def test_every_registered_type_builds_from_its_own_example():
    for family in components.FAMILIES:
        for kind, cls in components.registry(family).items():
            built = components.build(family, cls.example)
            assert isinstance(built, cls), (family, kind)


def test_the_component_reference_in_docs_is_generated_from_these_schemas():
    """docs/components.md is what tools/gen_docs.py writes today: a stale reference fails here."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "tools" / "gen_docs.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_wait_header_can_be_read_only_on_some_statuses():
    wait = build("wait", {"type": "epoch_seconds", "header": "x-reset", "statuses": [403, 429]})
    assert wait.seconds({"x-reset": "160"}, 60.0, 403) == 100.0
    assert wait.seconds({"x-reset": "160"}, 60.0, 502) is None


def test_delimited_query_styles_keep_their_separator_literal():
    from engine.request import QUERY_STYLES, encode_query_value

    got = {k: [encode_query_value(v) for _, v in QUERY_STYLES[k]("l", ["a b", "c,d"])] for k in ("comma", "pipe", "space")}
    assert got == {"comma": ["a%20b,c%2Cd"], "pipe": ["a%20b%7Cc%2Cd"], "space": ["a%20b%20c%2Cd"]}


def test_a_wait_until_an_rfc3339_time():
    wait = build("wait", {"type": "timestamp", "header": "h"})
    assert wait.seconds({"h": "1970-01-01T00:01:40Z"}, 60.0) == pytest.approx(40.0)
    assert wait.seconds({"h": "1970-01-01T00:01:40+00:00"}, 60.0) == pytest.approx(40.0)
    assert wait.seconds({"h": "soon"}, 60.0) is None


# -- fixes the example connectors' authors asked for ---------------------------------------------------

def _tiny(**extra):
    base = {"manifest_version": 2,
            "connector": {"name": "tiny", "base_url": "http://127.0.0.1:9",
                          "credentials": {"key": {"type": "query", "param": "api_key"},
                                          "token": {"type": "header", "header": "Authorization", "prefix": "Bearer "},
                                          "login": {"type": "basic", "username_env": "TINY_USER",
                                                    "password_env": "TINY_PASS"}}},
            "actions": [{"name": "things.list", "method": "GET", "path": "/things", "credential": ["token", "key"],
                         "response": {"type": "json"}},
                        {"name": "things.upload", "method": "POST", "path": "/things", "credential": "login",
                         "body": {"type": "raw", "param": "data", "content_type": "application/octet-stream"},
                         "params": [{"name": "data", "in": "body"}], "response": {"type": "json"}}]}
    base.update(extra)
    return base


def test_an_action_may_take_either_of_two_credentials():
    with engine.Engine(_tiny(), key="k-123456789") as eng:
        assert "api_key=k-123456789" in eng.prepare("things.list").url
    with engine.Engine(_tiny(), key="k-123456789", token="t-123456789") as eng:
        req = eng.prepare("things.list")
        assert req.headers["Authorization"] == "Bearer t-123456789" and "api_key" not in req.url
    with engine.Engine(_tiny()) as eng, pytest.raises(engine.MissingCredentialError):
        eng.prepare("things.list")


def test_a_raw_body_takes_a_file_object_without_a_file_declaration():
    import io

    with engine.Engine(_tiny(), login=("u", "p")) as eng:
        req = eng.prepare("things.upload", {"data": io.BytesIO(b"\x00\x01raw")})
        assert b"".join(bytes(c) for c in req.body) == b"\x00\x01raw" and req.headers["Content-Length"] == "5"


def test_a_dry_run_writes_redacted_basic_credentials_as_curl_u():
    from engine import cli

    with engine.Engine(_tiny(), allow_env=["TINY_USER", "TINY_PASS"]) as eng:
        line = cli.to_curl(eng.prepare("things.upload", {"data": b"x"}, redact=True))
    assert '-u "$TINY_USER:$TINY_PASS"' in line and "Basic" not in line


def test_an_error_map_template_that_does_not_fit_leaves_the_field_unset():
    m = build("errors", {"type": "json", "message": "{{ response.body.error.message }}", "code": "error.code"})
    got = m.read({"error": "Couldn't authenticate you"}, {}, 401)
    assert got["message"] is None and got["code"] is None


def test_permanent_codes_match_as_text_or_numbers():
    from engine.transport import RetryPolicy

    policy = RetryPolicy({"permanent": [{"status": 401, "code": 25, "reason": "quota"}]})
    assert policy.permanent_reason(401, {"code": "25"}) == "quota"
    assert policy.permanent_reason(401, {"code": 25}) == "quota"


def test_urllib3_debug_lines_carry_no_query_key(caplog):
    import logging

    from loopback import Loopback, Reply

    with Loopback() as srv:
        srv.route("GET", "/things", lambda req: Reply(200, {"data": []}))
        with engine.Engine(_tiny(connector={**_tiny()["connector"], "base_url": srv.url}), key="k-SECRET-0123456789",
                           max_retries=0) as eng, caplog.at_level(logging.DEBUG, logger="urllib3"):
            eng.run("things.list")
    assert any("things" in r.getMessage() for r in caplog.records if r.name.startswith("urllib3"))
    assert all("k-SECRET-0123456789" not in r.getMessage() for r in caplog.records)


def test_a_budget_without_a_reset_and_with_a_fractional_count_still_paces():
    from engine.bulk import Pacer

    waits: list = []
    pacer = Pacer({"points": {"remaining": "x-quota-left", "slow_below": 1}}, sleep=waits.append,
                  clock=lambda: 100.0, max_wait=30.0)
    pacer.acquire()
    pacer.release({"x-quota-left": "0.5"})
    clock_moves = iter([100.0, 131.0])
    pacer._clock = lambda: next(clock_moves, 131.0)
    pacer.acquire()
    assert waits == [30.0]  # no reset announced: the longest allowed wait, then the server is asked again


def test_a_2xx_that_says_it_failed_is_a_typed_error():
    from loopback import Loopback, Reply

    doc = _tiny(connector={"name": "slackish", "base_url": "", "credentials": {"token": {
        "type": "header", "header": "Authorization", "prefix": "Bearer "}},
        "errors": {"type": "json", "message": "error", "code": "error", "failed_when": "{{ response.body.ok == false }}",
                   "failed_status": 403}})
    doc["actions"] = [{"name": "chat.post", "method": "POST", "path": "/chat.postMessage", "body": "json",
                       "params": [{"name": "text", "in": "body", "schema": {"type": "string"}}],
                       "response": {"type": "json"}}]
    with Loopback() as srv:
        srv.route("POST", "/chat.postMessage", lambda req: Reply(200, {"ok": req.json()["text"] == "hi",
                                                                       "error": "channel_not_found"}))
        doc["connector"]["base_url"] = srv.url
        with engine.Engine(doc, token="xoxb-123456789", max_retries=0) as eng:
            assert eng.run("chat.post", {"text": "hi"})["ok"] is True
            with pytest.raises(engine.PermissionDeniedError) as info:
                eng.run("chat.post", {"text": "nope"})
    assert info.value.code == "channel_not_found" and info.value.status_code == 403


def test_empty_pages_can_be_followed_when_they_name_a_next_page():
    pager = build("paginator", {"type": "cursor", "items": "channels", "next": {"body": "meta.next_cursor"},
                                "send": {"param": "cursor"}, "empty_pages": "follow"})
    items, reqs = _walk(pager, [{"channels": [1], "meta": {"next_cursor": "a"}},
                                {"channels": [], "meta": {"next_cursor": "b"}},
                                {"channels": [2, 3], "meta": {"next_cursor": ""}}])
    assert items == [1, 2, 3] and [r.params for r in reqs] == [{}, {"cursor": "a"}, {"cursor": "b"}]


def test_a_named_paginator_can_be_used_with_other_items():
    doc = _tiny()
    doc["definitions"] = {"paginations": {"cursor": {"type": "cursor", "items": "data", "next": {"body": "next"},
                                                     "send": {"param": "cursor"}}}}
    doc["actions"][0]["params"] = [{"name": "cursor", "in": "query", "schema": {"type": "string"}}]
    doc["actions"][0]["pagination"] = {"use": "cursor", "items": "members"}
    m = engine.load(doc)
    assert m.action("things.list").pagination["items"] == "members"
    doc["actions"][0]["pagination"] = {"use": "cursr", "items": "members"}
    with pytest.raises(engine.ManifestError, match="did you mean 'cursor'"):
        engine.load(doc)
