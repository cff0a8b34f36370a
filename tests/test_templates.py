"""Manifest templates: typed single expressions, strict and sandboxed rendering, errors that say where
and never show values, plain paths read without Jinja2, and Jinja2 imported only when needed."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
import time
import traceback

import json

import pytest

import engine
from engine import templates as T

SECRET = "sk-SECRET-0123456789"
CTX = {
    "params": {"n": 5, "l": [1, 2, 3], "d": {"a-b": "dash", "items": ["data"], "k": 1}, "none": None,
               "flag": True, "f": 1.5, "s": "xyz", "q": {"a": "b c", "d": "&"}},
    "config": {"x": "abc", "key": SECRET},
}
NAMES = ("params", "config", "response")


def render(source: str, ctx=CTX, **kw):
    return T.compile(source, **kw).render(ctx)


def failure(source: str, ctx=CTX, **kw) -> engine.TemplateError:
    with pytest.raises(engine.TemplateError) as info:
        render(source, ctx, **kw)
    return info.value


def test_plain_strings_are_literals():
    for s in ["plain", "", "{ not a template }", "a } b", "50% off {#"]:
        t = T.compile(s)
        assert not T.is_template(s) and t.is_literal and t.render(CTX) is s and t.source == s
    assert T.is_template("{{ x }}") and T.is_template("{% if x %}{% endif %}") and not T.is_template(5)
    assert not T.compile("{{ params.n }}").is_literal


@pytest.mark.parametrize("source, expected", [
    ("{{ params.n }}", 5), ("{{ params.l }}", [1, 2, 3]), ("{{ params.d }}", CTX["params"]["d"]),
    ("{{ params.none }}", None), ("{{ params.flag }}", True), ("{{ params.f }}", 1.5),
    ("  {{ params.l }}\n", [1, 2, 3]),                          # surrounding whitespace is ignored
    ("{{ params.n + 1 }}", 6), ("{{ params.l | length }}", 3), ("{{ [params.n, params.none] }}", [5, None]),
    ("{{ {'n': params.n, 'ok': params.flag and true} }}", {"n": 5, "ok": True}),
    ("{{ params.none if params.flag else 1 }}", None), ("{{ params.n > 3 }}", True),
    ("{{ none }}", None), ("{{ true }}", True),                  # Jinja2 constants, not context names
])
def test_a_single_expression_keeps_its_type(source, expected):
    value = render(source, {**CTX, "none": "context", "true": "context"})
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("source, expected", [
    ("Bearer {{ config.x }}", "Bearer abc"), ("n={{ params.n }}", "n=5"), ("{{ params.n }}{{ params.n }}", "55"),
    ("{{ params.none }}!", "None!"), ("{% if params.flag %}yes{% else %}no{% endif %}", "yes"),
    ("{% for i in params.l %}{{ i }},{% endfor %}", "1,2,3,"), ("{% raw %}{{ x }}{% endraw %}", "{{ x }}"),
    ("a\n{{ params.n }}\n", "a\n5\n"),                             # a body's trailing newline is kept
    ("{{ 'user:pass' | b64encode }}", "dXNlcjpwYXNz"), ("{{ params.q | urlencode }}", "a=b+c&d=%26"),
    ("{{ params.d | tojson }}", '{"a-b": "dash", "items": ["data"], "k": 1}'),
    ("{{ params.missing | default('dflt') }}", "dflt"), ("{{ '42' | int + 1 }}", 43),
])
def test_mixed_text_and_filters(source, expected):
    value = render(source)
    assert value == expected and type(value) is type(expected)  # tojson's Markup comes back a plain str


@pytest.mark.parametrize("source, expected", [
    ("{# note #}{{ params.n }}", "5"), ("a\r\n{{ params.n }}", "a\n5"), ("{{ params.n }}}", "5}"),
    ("}{{ config.x }}{", "}abc{"),
])
def test_text_around_plain_paths_reads_as_jinja2_reads_it(source, expected):
    assert render(source) == expected


def test_now_utc_is_iso_8601_utc():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", render("{{ now_utc() }}"))


def test_attribute_style_on_a_mapping_reads_the_key_before_the_dict_method():
    assert render("{{ params.d.items }}") == ["data"]              # plain path
    assert render("{{ params.d.items | first }}") == "data"        # through Jinja2
    assert render("{{ params.d.keys() | list }}") == ["a-b", "items", "k"]  # no such key: the method


def test_undefined_at_render_is_a_typed_error_with_where_and_no_values():
    err = failure("Bearer {{ config.missing }}", file="c.yaml", line=12, where="headers.Authorization")
    assert isinstance(err, engine.Error)
    assert str(err) == ("c.yaml:12: at headers.Authorization: template 'Bearer {{ config.missing }}': "
                        "the setting 'missing' has no value: give it (Engine(missing=...), --set missing=...), "
                        "or say what to do without it (`config.missing | default(...)`)")
    assert (err.file, err.line, err.where, err.source) == ("c.yaml", 12, "headers.Authorization",
                                                           "Bearer {{ config.missing }}")
    assert "abc" not in str(err) and SECRET not in str(err)
    assert str(failure("{{ nope }}")).endswith("'nope' is undefined")
    assert str(failure("{{ [params.missing] }}")).endswith("has no attribute 'missing'")  # inside a value too
    assert str(failure("{{ params.l[7] }}")).endswith("'list object' has no element 7")


@pytest.mark.parametrize("source", [
    "{{ params[config.key] }}",                   # the missing key is the secret itself
    "x {{ params[config.key] }}",
    "{{ [1].index(config.key) }}",                # Python's message would quote the value
    "{{ config.key | int + none }}",
    "{{ config[config.key].__class__ }}",
    "{{ config.key.__class__ }}",
    "{{ params[config.key ~ '_'].x }}",
    "{{ config.key ~ (1 / 0) }}",
])
def test_no_context_value_in_any_error_text(source):
    err = failure(source, file="c.yaml", line=3)
    text = "".join(traceback.format_exception(err))
    assert str(err).startswith("c.yaml:3: template ")
    for shown in (str(err), repr(err), text):
        assert SECRET not in shown and "SECRET" not in shown
    assert err.__cause__ is None and err.__context__ is None


def test_syntax_error_is_a_manifest_error_at_compile_with_file_and_line():
    for source, why in [("{{ params.n ", "unexpected end of template"),
                        ("{% if %}x{% endif %}", "Expected an expression"),
                        ("{{ x | nofilter }}", "No filter named 'nofilter'"), ("{% frobnicate %}", "unknown tag")]:
        with pytest.raises(engine.ManifestError) as info:
            T.compile(source, file="c.yaml", line=7, where="body.n")
        assert str(info.value).startswith(f"c.yaml:7: at body.n: template {source!r}: ") and why in str(info.value)
        assert (info.value.file, info.value.line) == ("c.yaml", 7)
    with pytest.raises(engine.ManifestError, match=r"unexpected '\}' \(line 2 of the template\)"):
        T.compile("a\n{{ x }\nb", file="c.yaml", line=7)
    with pytest.raises(engine.ManifestError, match="expected token ':'"):
        T.compile("a{{{ params.n }}")  # a dict literal to Jinja2, not text then a path


def test_undeclared_names_fail_at_compile_with_did_you_mean_and_the_allowed_names():
    for source in ["{{ parms.n }}", "Bearer {{ confg.x }}", "{{ parms.n | int }}"]:  # plain paths and Jinja2 alike
        with pytest.raises(engine.ManifestError) as info:
            T.compile(source, file="c.yaml", line=4, names=NAMES)
        wrong = source.split("{{ ")[1][:5]
        assert str(info.value).startswith(f"c.yaml:4: template {source!r} uses {wrong!r} (did you mean ")
        assert "known names: config, params, response" in str(info.value)
    with pytest.raises(engine.ManifestError, match=r"uses 'a', 'zzz', not defined here"):
        T.compile("{{ a }}{% if zzz %}{% endif %}", names=NAMES)
    # Names the template sets itself and Jinja2's globals are not the context's.
    assert T.compile("{% set m = params.n %}{{ m }} {{ range(2) | list }} {{ now_utc()[:2] }}",
                     names=NAMES).render(CTX) == "5 [0, 1] 20"
    assert T.compile("{{ params.n }}", names=NAMES).render(CTX) == 5


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ params.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ params.update({'n': 6}) }}",               # immutable: the context cannot be changed
    "{{ params.l.append(4) }}",
    "{{ '{0.__class__}'.format(params) }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
])
def test_sandbox_escapes_are_refused(source):
    ctx = {"params": {"n": 5, "l": [1, 2, 3]}}
    err = failure(source, ctx)
    assert "refused by the sandbox" in str(err), str(err)
    assert ctx == {"params": {"n": 5, "l": [1, 2, 3]}}


def test_compile_tree_renders_a_fresh_copy_and_keeps_keys():
    node = {"model": "m", "n": "{{ params.n }}", "{{ params.n }}": "key stays",
            "messages": [{"role": "user", "content": "hi {{ config.x }}"}, {"parts": ["{{ params.l }}", 7, None]}],
            "static": {"deep": [1, {"x": "y"}]}}
    tree = T.compile_tree(node, names=NAMES)
    assert tree.has_templates
    out = tree.render(CTX)
    assert out == {"model": "m", "n": 5, "{{ params.n }}": "key stays",
                   "messages": [{"role": "user", "content": "hi abc"}, {"parts": [[1, 2, 3], 7, None]}],
                   "static": {"deep": [1, {"x": "y"}]}}
    out["static"]["deep"].append("changed")
    out["messages"][0]["content"] = "changed"
    assert tree.render(CTX) == {**out, "static": {"deep": [1, {"x": "y"}]},
                                "messages": [{"role": "user", "content": "hi abc"}, {"parts": [[1, 2, 3], 7, None]}]}
    assert node["static"]["deep"] == [1, {"x": "y"}] and node["n"] == "{{ params.n }}"


def test_compile_tree_without_templates_returns_the_node_itself():
    for node in [{"a": [1, {"b": "plain"}], "{{ k }}": "key only"}, "plain", 5, None, []]:
        tree = T.compile_tree(node)
        assert not tree.has_templates and tree.render(CTX) is node
    assert T.compile_tree("{{ params.n }}").render(CTX) == 5


def test_compile_tree_errors_say_where():
    lines = {("body", "messages", 1, "content"): 31}.get
    node = {"body": {"messages": [{"content": "ok"}, {"content": "{{ parms.x }}"}]}}
    with pytest.raises(engine.ManifestError) as info:
        T.compile_tree(node, file="c.yaml", lines=lines, names=NAMES)
    assert str(info.value).startswith("c.yaml:31: at body.messages[1].content: template '{{ parms.x }}' uses 'parms'")
    node["body"]["messages"][1]["content"] = "{{ params.x }}"
    with pytest.raises(engine.TemplateError, match=r"^c\.yaml:31: at body\.messages\[1\]\.content: .* 'x'$"):
        T.compile_tree(node, file="c.yaml", lines=lines, names=NAMES).render(CTX)


PATHS = ["params.n", "params.l", "params.l[0]", "params.l[-1]", "params.d['a-b']", 'params.d["a-b"]',
         "params.d.items", "params.d.items[0]", "params.s[1]", "params.none", "config.x"]
MISSING = ["params.missing", "params.l[9]", "params.l.x", "params.n.x", "params.d['nope']", "nope", "params.none.x",
           "params.d[0]", "params.s['k']", "params.d.keys"]


@pytest.mark.parametrize("path", PATHS + MISSING)
def test_the_plain_path_reader_answers_as_jinja2_does(path):
    """`{{ (path) }}` is not a plain path, so Jinja2 evaluates it: both must agree, in values and errors."""
    for fast, slow in [(f"{{{{ {path} }}}}", f"{{{{ ({path}) }}}}"), (f"x {{{{ {path} }}}}", f"x {{{{ ({path}) }}}}")]:
        assert T.compile(fast)._jinja is None and T.compile(slow)._jinja is not None  # the two routes differ
        try:
            expected = render(slow)
        except engine.TemplateError as exc:
            assert path in MISSING
            assert failure(fast).reason == exc.reason
        else:
            assert path in PATHS or path == "params.d.keys"  # no such key: Jinja2's dict method, both ways
            got = render(fast)
            assert got == expected and type(got) is type(expected)


def test_rendering_is_thread_safe(monkeypatch):
    monkeypatch.setattr(T, "_jinja_state", None)  # the shared environment is created by the racing threads
    templates = [T.compile(s) for s in ("{{ params.n }}", "id={{ params.n }}")]
    tree_source = {"a": "{{ params.n * 2 }}", "b": ["{% if params.n is even %}even{% else %}odd{% endif %}"]}
    barrier, errors, envs = threading.Barrier(8), [], set()

    def work(k: int) -> None:
        try:
            barrier.wait()
            tree = T.compile_tree(tree_source)
            envs.add(id(T._jinja().env))
            for i in range(300):
                n = k * 1000 + i
                ctx = {"params": {"n": n}}
                got = [t.render(ctx) for t in templates] + [tree.render(ctx)]
                want = [n, f"id={n}", {"a": n * 2, "b": ["even" if n % 2 == 0 else "odd"]}]
                assert got == want, (got, want)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and len(envs) == 1


LAZY = textwrap.dedent("""\
    import sys
    import engine, engine.templates as T
    assert "jinja2" not in sys.modules, "import"
    tree = T.compile_tree({"a": "plain", "b": ["{ json: text }", 1, None], "c": "{{ params.n }}",
                           "d": "Bearer {{ config.x }}"}, names=["params", "config"])
    assert tree.render({"params": {"n": 5}, "config": {"x": "k"}}) == {
        "a": "plain", "b": ["{ json: text }", 1, None], "c": 5, "d": "Bearer k"}
    assert "jinja2" not in sys.modules, "plain paths"
    T.compile("{{ params.n | int }}")
    assert "jinja2" in sys.modules, "a filter"
""")


def test_jinja2_is_imported_only_for_a_template_that_needs_it():
    proc = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_render_cost_is_printed():
    """Per-render cost, printed for the record (`pytest -s`); no timing is asserted."""
    ctx = {"params": {"n": 5}, "config": {"x": "abc"}}
    for source in ["{{ params.n }}", "Bearer {{ config.x }}", "{{ params.n + 1 }}", "Bearer {{ config.x | trim }}"]:
        t = T.compile(source)
        t.render(ctx)
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            t.render(ctx)
        print(f"\n{source!r}: {(time.perf_counter() - start) / n * 1e6:.2f} us per render", end="")


# Plain paths through filters with constant arguments are read without Jinja2's render machinery; what
# they give and how they fail must be what Jinja2 itself gives (its render, with the fast reader off).
FILTERED = ["params.s | upper", "params.s|lower|upper", "params.n | string", "params.l | length", "params.l | first",
            "params.l | join(',')", "params.l | list", "params.d | tojson", "params.q | urlencode",
            "params.s | replace('y', 'Y')", "params.f | round(0, 'floor')", "params.f | int", "params.s | default('x')",
            "params.none | default('n', true)", "params.d.items | first", "params.d['a-b'] | upper",
            "params.l[1] | string", "params.s | b64encode", "params.s | truncate(5, killwords=true, end='')",
            "params.l | sum", "params.d | dictsort", "params.flag | string", "params.none | string",
            "params.d | attr('items')", "params.s | indent(2, first=true)", "config.x | trim | upper"]
FILTERED_MISSING = ["params.missing | default('dflt')", "params.missing | upper", "params.l[9] | string",
                    "params.n.x | default(1)", "nope | upper", "params.none.x | string", "params.d[0] | string",
                    "params.s | int + 1", "params.l.x | default(2)"]
FILTERED_REFUSED = ["params.__class__ | string", "params.s.__class__ | string", "params | attr('__class__')",
                    "params.l | attr('append')", "params.d.__class__.__mro__ | list", "params | attr('update')"]


def _jinja2_alone(source, monkeypatch, ctx=CTX):
    with monkeypatch.context() as m:
        m.setattr(T, "_filtered_parts", lambda single, tree: None)
        t = T.compile(source)
    try:
        return t.render(ctx), None
    except engine.TemplateError as exc:
        return None, exc


def _is_filtered_reader(t) -> bool:
    return getattr(t._jinja, "__qualname__", "").startswith("_filtered_reader")


@pytest.mark.parametrize("expr", FILTERED + FILTERED_MISSING + FILTERED_REFUSED)
def test_a_filtered_path_answers_as_jinja2_does(expr, monkeypatch):
    for source in [f"{{{{ {expr} }}}}", f"  {{{{ {expr} }}}}\n", f"x {{{{ {expr} }}}}", f"a\r\n{{{{ {expr} }}}}-{{{{ params.n }}}}\n"]:
        t = T.compile(source)
        assert _is_filtered_reader(t) == ("+" not in expr), source  # `int + 1` is arithmetic: Jinja2's own
        expected, error = _jinja2_alone(source, monkeypatch)
        if error is not None:
            assert expr not in FILTERED, (source, error)
            with pytest.raises(engine.TemplateError) as info:
                t.render(CTX)
            assert str(info.value) == str(error) and info.value.reason == error.reason
            assert info.value.__cause__ is None and info.value.__context__ is None
        else:
            assert expr not in FILTERED_REFUSED
            got = t.render(CTX)
            assert got == expected and type(got) is type(expected), (source, got, expected)


def test_a_filtered_path_keeps_its_type_and_never_shows_values():
    assert render("{{ params.l | length }}") == 3 and render("{{ params.l | first }}") == 1
    assert render("{{ params.l | list }}") == [1, 2, 3] and render("{{ params.f | int }}") == 1
    tojson = render("{{ params.d | tojson }}")
    assert type(tojson) is str and tojson == '{"a-b": "dash", "items": ["data"], "k": 1}'  # not Markup
    assert render("{{ params.none | default(none) }}") is None
    got = render("{{ params.l | list }}")
    got.append(4)
    assert CTX["params"]["l"] == [1, 2, 3]  # the context is never changed
    err = failure("{{ config.missing | upper }}", file="c.yaml", line=9, where="headers.X")
    assert str(err).startswith("c.yaml:9: at headers.X: template '{{ config.missing | upper }}': "
                               "the setting 'missing' has no value")
    assert (err.file, err.line, err.where) == ("c.yaml", 9, "headers.X")
    err = failure("Bearer {{ params[config.key] | upper }}", file="c.yaml", line=3)
    assert SECRET not in str(err) and SECRET not in "".join(traceback.format_exception(err))
    for source in FILTERED_REFUSED:
        ctx = {"params": {"s": "x", "l": [1], "d": {"k": 1}}}
        assert "refused by the sandbox" in str(failure(f"{{{{ {source} }}}}", ctx)), source
        assert ctx == {"params": {"s": "x", "l": [1], "d": {"k": 1}}}


def test_only_paths_through_filters_with_constant_arguments_take_the_filtered_reader():
    for source in ["{{ params.s | upper }}", "Bearer {{ config.x | trim }}", "{{ params.d['a-b'] | upper }}",
                   "{{ params.l | join(', ') }} and {{ params.n }}", "{{ params.s | default(none) }}"]:
        assert _is_filtered_reader(T.compile(source)), source
    for source in ["{{ (params.n) }}",                      # no filter: the path reader's or Jinja2's
                   "{{ params.l | map('string') | list }}",  # `map` wants the context
                   "{{ params.s | default(params.n) }}",     # an argument that is not a constant
                   "{{ params.l | join(*params.l) }}", "{{ params.s | replace('x', 'y') ~ '!' }}",
                   "{{ params.l[params.n] | string }}", "{{ params.l[-1] | string }}", "{{ params.l[true] | string }}",
                   "{{ params.s | upper }}{% if params.flag %}!{% endif %}", "{{ now_utc() | upper }}",
                   "{{ self | string }}", "{{ params.s | default([]) }}"]:
        t = T.compile(source)
        assert t._jinja is not None and not _is_filtered_reader(t), source


def test_a_deferred_template_takes_the_filtered_reader_at_its_first_render():
    with T.deferred():
        t = T.compile("{{ params.s | upper }}")
    assert t._jinja is None
    assert t.render(CTX) == "XYZ" and _is_filtered_reader(t)
    with T.deferred():
        t = T.compile("{{ params.missing | upper }}", file="c.yaml", line=2)
    with pytest.raises(engine.TemplateError, match=r"^c\.yaml:2: template .*'dict object' has no attribute 'missing'$"):
        t.render(CTX)


def _outcome(f, ctx):
    try:
        value = f(ctx)
    except engine.TemplateError as exc:
        assert exc.__cause__ is None and exc.__context__ is None  # no exception that could quote a value
        return "error", str(exc)
    return type(value), value


@pytest.mark.parametrize("source", [f"{{{{ {p} }}}}" for p in PATHS + MISSING] + [
    "{{ params }}", "{{ nope }}", "{{ params['n'] }}", "{{ params.s | upper }}", "x {{ params.n }}", "plain",
    "{{ params.n + 1 }}", "Bearer {{ config.x | trim }}", "{{ params.missing | default(7) }}", "{{ params.keys }}"])
def test_a_reader_renders_as_render_does(source):
    """What request building and trees call on every request: the same values and errors as `render`."""
    from types import MappingProxyType

    t = T.compile(source, file="c.yaml", line=5)
    read = t.reader()
    for ctx in (CTX, {**CTX, "params": MappingProxyType(CTX["params"])}, {}, {"params": None}, {"params": 5},
                {"params": [1, 2]}, {"params": {"n": {"n": 1}, "keys": 3}}):
        assert _outcome(read, ctx) == _outcome(t.render, ctx), (source, ctx)
    with T.deferred():
        late = T.compile(source, file="c.yaml", line=5)
    assert _outcome(late.reader(), CTX) == _outcome(t.render, CTX)


def test_a_template_error_keeps_its_file_and_line_on_a_cached_load(tmp_path, monkeypatch):
    """The second load comes from the cache; its templates still say where they are, and an unset setting says so."""
    monkeypatch.setenv("OPENAI_CONNECTOR_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "acct.yaml"
    path.write_text(
        "manifest_version: 2\n"
        "connector:\n"
        "  name: acct\n"
        "  base_url: https://api.example.com\n"
        "  settings: {account: {description: The account in every path.}}\n"
        "  credentials: {open: {type: none}}\n"
        "actions:\n"
        "  - name: things.list\n"
        "    method: GET\n"
        "    path: '/accounts/{{ config.account }}/things'\n"
        "    response: {type: json}\n", encoding="utf-8")
    seen = []
    for _ in range(2):
        eng = engine.Engine(manifest=str(path))
        with pytest.raises(engine.TemplateError) as info:
            eng.prepare("things.list", {})
        seen.append((info.value.file, info.value.line, str(info.value)))
    assert list((tmp_path / "cache").iterdir())  # the second load was the cached one
    assert seen[0] == seen[1] and seen[0][:2] == (str(path), 10)
    assert "the setting 'account' has no value" in seen[0][2] and "--set account=" in seen[0][2]


def test_omit_leaves_out_a_key_an_item_a_header_or_a_query_value():
    tree = T.compile_tree({"a": "{{ params.missing | default(omit) }}", "b": "{{ params.n }}",
                           "l": ["{{ omit }}", 1, "{{ params.s | default(omit) }}"]})
    assert tree.render(CTX) == {"b": 5, "l": [1, "xyz"]}
    assert str(failure("x{{ omit }}")).endswith("TypeError (values are not shown)")  # not within a text
    assert render("{{ params.d | without('a-b', 'items') }}") == {"k": 1}
    assert render("{{ dict(a=1).items() | list }}") == [("a", 1)]
    m = engine.load({
        "manifest_version": 2,
        "connector": {"name": "crm", "base_url": "https://api.example.com", "credentials": {"open": {"type": "none"}}},
        "actions": [{
            "name": "contacts.create", "method": "POST", "path": "/contacts",
            "headers": {"X-Trace": "{{ params.trace | default(omit) }}"},
            "query": {"dry": "{{ params.dry | default(omit) }}"},
            "body": {"type": "json", "template": {"properties": "{{ body | without('associations') }}",
                                                  "associations": "{{ body.associations | default(omit) }}"}},
            "params": [{"name": "email", "in": "body", "schema": {"type": "string"}},
                       {"name": "associations", "in": "body", "schema": {"type": "array"}},
                       {"name": "trace", "in": "header", "wire": "X-Ignored", "schema": {"type": "string"}},
                       {"name": "dry", "in": "body", "schema": {"type": "boolean"}}],
            "response": {"type": "json"}}],
        "composites": [{"name": "contacts.make", "params_from": "contacts.create",
                        "steps": [{"type": "call", "action": "contacts.create",
                                   "params": {"email": "{{ params.email }}",
                                              "trace": "{{ params.trace | default(omit) }}"}}]}]})
    eng = engine.Engine(manifest=m)
    req = eng.prepare("contacts.create", {"email": "a@b.c"})
    assert "X-Trace" not in req.headers and req.url == "https://api.example.com/contacts"
    assert json.loads(req.body) == {"properties": {"email": "a@b.c"}}
    req = eng.prepare("contacts.create", {"email": "a@b.c", "associations": [{"id": 1}], "trace": "t", "dry": True})
    assert req.headers["X-Trace"] == "t" and req.url == "https://api.example.com/contacts?dry=true"
    assert json.loads(req.body) == {"properties": {"email": "a@b.c", "dry": True}, "associations": [{"id": 1}]}
