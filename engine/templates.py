"""Jinja2 templates in manifest values, compiled once at load and rendered per call.

A string is a template when it contains `{{` or `{%`; any other string is a literal and costs nothing.
Jinja2 is imported only when a template needs it, so a manifest without templates (or with only plain
paths such as `{{ params.n }}`) never pays for the import. A template whose expressions are plain paths
through filters with constant arguments (`{{ params.q | lower }}`) is checked and compiled by Jinja2 but
rendered without its per-call machinery: the path is read and the same filter functions are called, and
wherever a path is missing Jinja2 renders it itself.

What a template sees is the mapping its caller renders it with. By convention the top-level names are
`params` (the call's parameters), `config` (the connector's settings), `response` (with `body`,
`headers` and `status`), `steps` (earlier steps' results) and `page`; each caller decides which it
offers and passes them as `names` at compile time, so a misspelt name fails at load, not mid-call.
Credentials are never part of a template's context.

Rules:
- A template that is one expression (`{{ params.n }}`, surrounding whitespace ignored) renders to the
  value itself: an int stays an int, a list a list, None None. Anything else renders to a string.
- `a.b` on a mapping reads the key 'b' first and only then an attribute, so JSON keys such as `items`
  or `keys` mean the data, not the dict method.
- Undefined names or keys fail (StrictUndefined); templates run in Jinja2's immutable sandbox.
- Render errors are `TemplateError`s that say where and why but never show the values rendered with.
- Besides Jinja2's built-in filters (`default`, `int`, `tojson`, `urlencode`, ...) there are
  `b64encode` (a str as UTF-8, or bytes, to base64 text, for Basic auth and the like) and `without`
  (a mapping without some keys); the global `now_utc()` (the current UTC time as ISO 8601,
  `2024-01-31T12:00:00Z`); and `omit`, which leaves out the key, list item, header or query value
  whose single expression gives it (`{{ params.x | default(omit) }}`).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import threading
from collections.abc import Mapping
from typing import Any, Callable, Collection, Iterator, Sequence

from .errors import ManifestError, TemplateError

__all__ = ["Template", "TreeTemplate", "compile", "compile_tree", "is_template"]

Path = tuple[Any, ...]  # keys and indexes from the root of a tree to one value
_PathT = tuple[str, tuple[tuple[bool, Any], ...]]  # a plain `{{ }}` path: root name, (attribute_style, key) steps

# A plain path, read without Jinja2: a name, then `.name`, `[int]` or `['key']` steps. Kept narrower
# than Jinja2's grammar (ASCII names, no braces or escapes in keys) so a match always means the same
# thing to Jinja2; anything else is left to Jinja2.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INT = r"-?(?:0|[1-9][0-9]*)"
_SQ, _DQ = r"[^'\\{}]*", r'[^"\\{}]*'
_STEP_RE = re.compile(rf"\.({_NAME})|\[({_INT})\]|\['({_SQ})'\]|\[\"({_DQ})\"\]")
_HOLE = re.compile(rf"\{{\{{\s*({_NAME}(?:\.{_NAME}|\[{_INT}\]|\['{_SQ}'\]|\[\"{_DQ}\"\])*)\s*\}}\}}")
_ROOT = re.compile(_NAME)
# Names Jinja2 reads as constants, operators or its own objects rather than context variables.
_NOT_VARIABLES = frozenset({"true", "false", "none", "True", "False", "None", "not", "self"})
_MISS = object()
# Values that are neither containers nor Jinja2's own objects: nothing in them can be undefined.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def is_template(s: Any) -> bool:
    """Whether `s` is a template: a string holding `{{` or `{%` (only those; `{#` alone stays text)."""
    return isinstance(s, str) and ("{{" in s or "{%" in s)


class Template:
    """One compiled string; `render(context)` is thread-safe and never mutates the context."""

    __slots__ = ("source", "is_literal", "_file", "_line", "_where", "_path", "_parts", "_jinja", "_single",
                 "_deferred")

    def __init__(self, source: str, *, file: str | None, line: int | None, where: str | None,
                 path: _PathT | None = None, parts: Sequence[str | _PathT] | None = None,
                 jinja: tuple[bool, Callable[[Mapping[str, Any]], Any]] | None = None, deferred: bool = False) -> None:
        self.source = source
        self._deferred = deferred  # checked at an earlier load: Jinja2 compiles it on first render
        self.is_literal = path is None and parts is None and jinja is None and not deferred
        self._file, self._line, self._where = file, line, where
        self._path, self._parts = path, parts  # the fast readers, when every `{{ }}` is a plain path
        self._single, self._jinja = jinja or (path is not None, None)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def render(self, context: Mapping[str, Any]) -> Any:
        """The rendered value: the source itself for a literal, the native value for one expression."""
        if self.is_literal:
            return self.source
        if self._path is not None:
            value = _walk(context, self._path)
            if value is not _MISS:
                return value
        elif self._parts is not None:
            out = []
            for part in self._parts:
                if type(part) is str:
                    out.append(part)
                    continue
                value = _walk(context, part)
                if value is _MISS:
                    break
                out.append(str(value))  # what Jinja2 writes for `{{ x }}` with autoescape off
            else:
                return "".join(out)
        if self._jinja is None:
            # A path the fast reader cannot follow, or a template checked at an earlier load: Jinja2
            # decides (compiled now, once), so the value or the error is its own.
            single, self._jinja = _compile_jinja(self.source)
            if self._deferred:
                self._single = single
        return self._render_jinja(context)

    def reader(self) -> Callable[[Mapping[str, Any]], Any]:
        """`render` as one function made for this template, for a caller that renders it on every call.

        A plain path of a name, or of a name and one `.key`, is read in place, and a template compiled by
        Jinja2 goes straight to it; whatever the reader cannot read, and every other template, is `render`'s,
        so values and errors are the same.
        """
        if self._path is None and self._parts is None and self._jinja is not None:
            return self._render_jinja  # all that `render` would do for it
        render = self.render
        if self._path is None or len(self._path[1]) > 1:
            return render
        root, steps = self._path
        if not steps:
            def read_name(context: Mapping[str, Any]) -> Any:
                try:
                    return context[root]
                except (LookupError, TypeError):
                    pass
                return render(context)  # outside the handler: its error is not chained to this one
            return read_name
        attr, key = steps[0]

        def read_key(context: Mapping[str, Any]) -> Any:
            try:
                value = context[root]
                if type(value) is dict or not attr:  # what `_walk` reads: `.key` only on a mapping
                    return value[key]
            except (LookupError, TypeError):
                pass  # not readable in place: `render` gives the value or the error
            return render(context)
        return read_key

    def _render_jinja(self, context: Mapping[str, Any]) -> Any:
        try:
            value = self._jinja(context)  # type: ignore[misc]
            if self._single and type(value) not in _SCALARS:
                _fail_if_undefined(value, _jinja().Undefined)
                if isinstance(value, str) and type(value) is not str:
                    value = str.__str__(value)  # Markup from `tojson` and the like is a plain string here
            return value
        except Exception as exc:  # noqa: BLE001 - anything a template does becomes a typed error
            reason = _reason(exc, self.source, _jinja())
        # Raised outside the handler so the original exception, whose text may quote values, is not chained.
        raise TemplateError(reason, source=self.source, file=self._file, line=self._line, where=self._where)


class _Omit:
    """What `omit` renders to: the key (or list item, header, query value) holding it is left out."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "omit"

    def __str__(self) -> str:
        raise TypeError("`omit` stands alone in a value ({{ x | default(omit) }}): it cannot be part of a text")


OMIT = _Omit()


class TreeTemplate:
    """A structure whose strings may be templates; `render` returns a fresh copy with them rendered.

    `render(context)` gives the tree with each template rendered, every mapping and list in it new;
    the tree itself, untouched, when it has none. It is the tree's renderer itself, worked out once.
    """

    __slots__ = ("node", "has_templates", "render")

    def __init__(self, node: Any, plan: Any, has_templates: bool) -> None:
        self.node, self.has_templates = node, has_templates
        self.render: Callable[[Mapping[str, Any]], Any] = (_renderer(plan) if has_templates  # type: ignore[assignment]
                                                           else lambda context: node)


class _Map(tuple):
    """A mapping in a compiled tree: (key, plan) pairs."""


class _Seq(tuple):
    """A list in a compiled tree: one plan per item."""


def compile(source: str, *, file: str | None = None, line: int | None = None, where: str | None = None,
            names: Collection[str] = ()) -> Template:
    """Compile `source` once; ManifestError (with file and line) when it is broken.

    `names`, when not empty, are the only top-level names the template may use; `where` says which
    value of the manifest this is (e.g. `headers.Authorization`) in errors.
    """
    loc: dict[str, Any] = {"file": file, "line": line, "where": where}
    if not is_template(source):
        return Template(source, **loc)
    allowed = frozenset(names)
    fast = _fast_parts(source)
    if fast is not None:
        path, parts = fast
        roots = [path[0]] if path else [p[0] for p in parts if type(p) is not str]  # type: ignore[union-attr]
        if not allowed or allowed.issuperset(roots):
            return Template(source, path=path, parts=parts, **loc)
    if _DEFER.get():
        return Template(source, deferred=True, **loc)
    j = _jinja()
    try:
        single, tree = _parse(source)
        if allowed:
            _check_names(j.meta.find_undeclared_variables(tree), allowed, source, loc)
        return Template(source, jinja=_compile_jinja(source, (single, tree)), **loc)
    except j.TemplateSyntaxError as exc:
        at = f" (line {exc.lineno} of the template)" if "\n" in source.strip() else ""
        rule = f"template {_shown(source)!r}: {exc.message}{at}"
    raise ManifestError(rule, **loc)


_DEFER: contextvars.ContextVar[bool] = contextvars.ContextVar("engine_templates_defer", default=False)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Templates compiled in this block wait for their first render to meet Jinja2.

    For a manifest checked at an earlier load (a warm start from the cache): its
    templates are known to compile, and a process that never renders one never
    imports Jinja2.
    """
    token = _DEFER.set(True)
    try:
        yield
    finally:
        _DEFER.reset(token)


def compile_tree(node: Any, *, file: str | None = None, lines: Callable[[Path], int | None] | None = None,
                 names: Collection[str] = (), line: int | None = None) -> TreeTemplate:
    """Compile every template string in a structure of mappings and lists (keys are never templates).

    `lines(path)` gives the file line of the value at `path` (a tuple of keys and indexes), for errors;
    without it, `line` (the block's) is given for all.
    """
    found = False

    def build(value: Any, path: Path) -> Any:
        nonlocal found
        if isinstance(value, str):
            if not is_template(value):
                return value
            found = True
            return compile(value, file=file, line=lines(path) if lines else line, where=_where(path),
                           names=names)
        if isinstance(value, Mapping):
            return _Map((k, build(v, path + (k,))) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return _Seq(build(v, path + (i,)) for i, v in enumerate(value))
        return value

    plan = build(node, ())
    return TreeTemplate(node, plan, found)


def _renderer(plan: Any) -> Callable[[Mapping[str, Any]], Any] | None:
    """A function giving `plan` rendered, every mapping and list in it new; None for a value kept as is
    (a string that is no template, a number, None). Worked out once, so a render only calls and copies."""
    kind = type(plan)
    if kind is Template:
        return plan.reader()
    if kind is _Map:
        entries = tuple((k, _renderer(v), v) for k, v in plan)

        def render_map(context: Mapping[str, Any]) -> dict[Any, Any]:
            out = {}  # a loop: a comprehension costs a function call of its own, twice this map's render
            for k, f, v in entries:
                if f is None:
                    out[k] = v
                else:
                    value = f(context)
                    if value is not OMIT:
                        out[k] = value
            return out
        return render_map
    if kind is _Seq:
        items = tuple((_renderer(v), v) for v in plan)

        def render_list(context: Mapping[str, Any]) -> list[Any]:
            out = []
            for f, v in items:
                if f is None:
                    out.append(v)
                else:
                    value = f(context)
                    if value is not OMIT:
                        out.append(value)
            return out
        return render_list
    return None


def _where(path: Path) -> str | None:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else f".{key}" if out else str(key)
    return out or None


def _fast_parts(source: str) -> tuple[_PathT | None, list[str | _PathT] | None] | None:
    """(path, None) for one plain path, (None, parts) for text with plain paths, None otherwise.

    Parts are text and paths; a path is (root, steps) and a step (attribute_style, key).
    """
    pieces = _HOLE.split(source)
    if len(pieces) == 1:
        return None
    parts: list[str | _PathT] = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if any(c in piece for c in "{}\r"):  # tags, comments or newlines Jinja2 would rewrite
                return None
            if piece:
                parts.append(piece)
            continue
        root = _ROOT.match(piece).group()  # type: ignore[union-attr]
        if root in _NOT_VARIABLES:
            return None
        steps = []
        for m in _STEP_RE.finditer(piece, len(root)):
            attr, index, key1, key2 = m.groups()
            steps.append((True, attr) if attr is not None else (False, int(index)) if index is not None
                         else (False, key1 if key1 is not None else key2))
        parts.append((root, tuple(steps)))
    if len(pieces) == 3 and not pieces[0].strip() and not pieces[2].strip():
        return next(p for p in parts if type(p) is not str), None  # type: ignore[return-value]
    return None, parts


def _walk(context: Mapping[str, Any], path: _PathT) -> Any:
    """The value at a plain path, or _MISS wherever Jinja2 might answer differently (it then decides)."""
    try:
        value = context[path[0]]
        for attr, key in path[1]:
            if attr and type(value) is not dict and not isinstance(value, Mapping):  # a dict: no ABC check
                return _MISS
            value = value[key]
    except (LookupError, TypeError):
        return _MISS
    return value


def _check_names(used: Collection[str], allowed: frozenset[str], source: str, loc: dict[str, Any]) -> None:
    unknown = sorted(set(used) - allowed)
    if not unknown:
        return
    import difflib  # an author's mistake, at load: not worth importing for every start

    said = []
    for name in unknown:
        close = difflib.get_close_matches(name, allowed, n=1)
        said.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ManifestError(f"template {_shown(source)!r} uses {', '.join(said)}, not defined here;"
                        f" known names: {', '.join(sorted(allowed))}", **loc)


def _shown(source: str) -> str:
    return source if len(source) <= 120 else source[:120] + "..."


def _fail_if_undefined(value: Any, undefined: type) -> None:
    """Raise for an undefined anywhere in an expression's value: StrictUndefined only fails when used,
    and a returned value is not used until after the template, where Jinja2 no longer guards it.
    This walks the value; plain paths, which return context data as is, never get here unless missing."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, undefined):
            item._fail_with_undefined_error()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


def _reason(exc: Exception, source: str, j: _Jinja) -> str:
    """Why a render failed, from names in the template only: error texts can quote the values."""
    why = exc.args[0] if exc.args else None
    refused = isinstance(exc, j.SecurityError)
    if isinstance(why, _Why):
        # A key computed from the values could be a value itself: show only names the template spells out.
        name = repr(why.name) if why.name is not None and str(why.name) in source else None
        if refused:
            return f"access to attribute {name or '(computed, not shown)'} of {why.owner!r} refused by the sandbox"
        if why.owner is None:
            return f"{name} is undefined"
        if name is None:
            return f"{why.owner!r} has no such key (computed at render time, not shown)"
        if isinstance(why.name, str) and re.search(rf"\bconfig\s*\.\s*{re.escape(why.name)}\b", source):
            return (f"the setting {name} has no value: give it (Engine({why.name}=...), --set {why.name}=...), "
                    f"or say what to do without it (`config.{why.name} | default(...)`)")
        return f"{why.owner!r} has no {'attribute' if isinstance(why.name, str) else 'element'} {name}"
    if refused:
        return "refused by the sandbox"
    return f"{type(exc).__name__} (values are not shown)"


class _Why(str):
    """An undefined's message that also carries its name and owner type, so `_reason` can choose
    what to show."""

    name: Any
    owner: str | None


def _b64encode(value: str | bytes) -> str:
    import base64

    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode("ascii")


def _without(value: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """A copy of a mapping without these keys: `{{ body | without('associations') }}` nests the rest."""
    if not isinstance(value, Mapping):
        raise TypeError("`without` takes a mapping")
    return {k: v for k, v in value.items() if k not in keys}


def _now_utc() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Jinja:
    """Jinja2, imported on first need, and the one sandboxed environment shared by all templates."""

    def __init__(self) -> None:
        import jinja2
        from jinja2 import meta, nodes
        from jinja2.environment import TemplateExpression
        from jinja2.exceptions import SecurityError
        from jinja2.nodes import EvalContext
        from jinja2.sandbox import ImmutableSandboxedEnvironment
        from jinja2.utils import _PassArg, missing, object_type_repr

        class Undefined(jinja2.StrictUndefined):
            __slots__ = ()

            @property
            def _undefined_message(self) -> str:
                why = _Why(super()._undefined_message)
                why.name = self._undefined_name
                why.owner = None if self._undefined_obj is missing else object_type_repr(self._undefined_obj)
                return why

        class KeysFirstSandboxedEnvironment(ImmutableSandboxedEnvironment):
            def getattr(self, obj: Any, attribute: str) -> Any:
                if isinstance(obj, Mapping):  # data first: `body.items` is the key, not dict.items
                    try:
                        return obj[attribute]
                    except (TypeError, LookupError):
                        pass
                return super().getattr(obj, attribute)

        self.env = KeysFirstSandboxedEnvironment(undefined=Undefined, autoescape=False, keep_trailing_newline=True)
        self.env.filters["b64encode"] = _b64encode
        self.env.globals["now_utc"] = _now_utc
        self.env.globals["omit"] = OMIT
        self.env.filters["without"] = _without
        self.nodes, self.meta, self.Undefined = nodes, meta, Undefined
        self.TemplateExpression, self.SecurityError = TemplateExpression, SecurityError
        self.TemplateSyntaxError = jinja2.TemplateSyntaxError
        # What a filter asks for before its value (`@pass_environment` and the like), as Jinja2 passes it.
        # The evaluation context only changes inside `{% autoescape %}`, which the fast reader never
        # runs: one serves every call.
        self.filter_leads = {None: (), _PassArg.environment: (self.env,),
                             _PassArg.eval_context: (EvalContext(self.env),)}
        self.filter_pass_arg = _PassArg.from_obj


_jinja_state: _Jinja | None = None
_jinja_lock = threading.Lock()


def _jinja() -> _Jinja:
    global _jinja_state
    if _jinja_state is None:
        with _jinja_lock:
            if _jinja_state is None:
                _jinja_state = _Jinja()
    return _jinja_state


def _parse(source: str) -> tuple[bool, Any]:
    """(single, tree): whether `source` is one expression, and its Jinja2 tree (of the stripped text if so)."""
    j = _jinja()
    env, n = j.env, j.nodes
    stripped = source.strip()
    if stripped.startswith("{{") and stripped.endswith("}}"):
        tree = env.parse(stripped)
        body = tree.body
        if len(body) == 1 and type(body[0]) is n.Output and len(body[0].nodes) == 1 \
                and type(body[0].nodes[0]) is not n.TemplateData:
            return True, tree
    return False, env.parse(source)


def _compile_jinja(source: str, parsed: tuple[bool, Any] | None = None
                   ) -> tuple[bool, Callable[[Mapping[str, Any]], Any]]:
    """(single, render) for `source`; `parsed` is its `_parse` when the caller already has it."""
    j = _jinja()
    single, tree = parsed or _parse(source)
    fast = _filtered_parts(single, tree)
    if single:
        # One expression: evaluate it into a variable instead of writing it out, which keeps its type.
        n = j.nodes
        tree = n.Template([n.Assign(n.Name("result", "store"), tree.body[0].nodes[0])], lineno=1)
        tree.set_environment(j.env)
    template = j.env.from_string(tree)
    # Jinja2 copies a template's globals into every render; from its default ChainMap that copy is most
    # of a small template's cost. The globals never change here, so a plain dict means the same, faster.
    template.globals = dict(template.globals)
    render = j.TemplateExpression(template, undefined_to_none=False) if single else template.render
    return single, (render if fast is None else _filtered_reader(single, fast, render))


_Filter = Callable[[Any], Any]  # a filter with what it asks for first and its constant arguments: value in, value out
_Hole = tuple[_PathT, tuple[_Filter, ...]]  # a plain path, then the filters its value goes through


def _filtered_parts(single: bool, tree: Any) -> list[str | _Hole] | None:
    """Text and holes when every expression of `tree` is a plain path through filters with constant
    arguments (`{{ params.q | lower }}`, `Bearer {{ config.x | trim }}`) and at least one has a filter;
    None for anything else, which Jinja2 renders itself.

    Such a template is what Jinja2 would compute, minus its render machinery (a context, a generator, a
    fresh evaluation context per call): the value is read as a plain path is, then handed to the same
    filter functions with the same arguments, in the same order.
    """
    j = _jinja()
    n = j.nodes
    if single:
        expressions = [tree.body[0].nodes[0]]
    else:
        expressions = []
        for node in tree.body:
            if type(node) is not n.Output:
                return None
            expressions.extend(node.nodes)
    parts: list[str | _Hole] = []
    filtered = False
    for node in expressions:
        if type(node) is n.TemplateData:  # text as Jinja2 writes it (newlines normalised, comments gone)
            if node.data:
                parts.append(node.data)
            continue
        filters: list[_Filter] = []
        while type(node) is n.Filter:
            f = _fast_filter(node, j)
            if f is None:
                return None
            filters.append(f)
            node = node.node
        steps: list[tuple[bool, Any]] = []
        while True:
            if type(node) is n.Getattr and node.ctx == "load":
                steps.append((True, node.attr))
            elif type(node) is n.Getitem and node.ctx == "load" and type(node.arg) is n.Const \
                    and type(node.arg.value) in (int, str):
                steps.append((False, node.arg.value))
            else:
                break
            node = node.node
        if type(node) is not n.Name or node.ctx != "load" or node.name in _NOT_VARIABLES:
            return None
        filtered = filtered or bool(filters)
        parts.append(((node.name, tuple(reversed(steps))), tuple(reversed(filters))))
    # Without a filter the regular-expression reader took what it could; the rest stays Jinja2's.
    return parts if filtered else None


def _fast_filter(node: Any, j: _Jinja) -> _Filter | None:
    """The filter as a function of the value alone, as Jinja2 would call it; or None."""
    n = j.nodes
    func = j.env.filters.get(node.name)
    if func is None or node.dyn_args is not None or node.dyn_kwargs is not None:
        return None
    lead = j.filter_leads.get(j.filter_pass_arg(func), None)  # a filter that wants the context is not read here
    args = [a.value for a in node.args if type(a) is n.Const and type(a.value) in _SCALARS]
    kwargs = {k.key: k.value.value for k in node.kwargs if type(k.value) is n.Const and type(k.value.value) in _SCALARS}
    if lead is None or len(args) != len(node.args) or len(kwargs) != len(node.kwargs):
        return None
    if args or kwargs:
        def call(value: Any) -> Any:
            return func(*lead, value, *args, **kwargs)
        return call
    return functools.partial(func, *lead) if lead else func  # a call with `*()` and `**{}` costs twice one without


def _filtered_reader(single: bool, parts: list[str | _Hole], jinja: Callable[[Mapping[str, Any]], Any]
                     ) -> Callable[[Mapping[str, Any]], Any]:
    """A render function for `_filtered_parts`: Jinja2's own `jinja` decides wherever a path is missing
    (an undefined, a `default`, an attribute the sandbox rules on), so its value or error stands."""
    if single:
        (path, filters), = parts  # type: ignore[misc]
        if len(filters) == 1 and len(path[1]) == 1:  # `{{ params.q | lower }}`: the walk written out
            (only,), root, ((attr, key),) = filters, path[0], path[1]

            def render_one(context: Mapping[str, Any]) -> Any:
                try:
                    value = context[root]
                    value = value[key] if not attr or type(value) is dict or isinstance(value, Mapping) else _MISS
                except (LookupError, TypeError):
                    value = _MISS
                return jinja(context) if value is _MISS else only(value)
            return render_one

        def render(context: Mapping[str, Any]) -> Any:
            value = _walk(context, path)
            if value is _MISS:
                return jinja(context)
            for f in filters:
                value = f(value)
            return value
        return render

    def render_text(context: Mapping[str, Any]) -> Any:
        out = []
        for part in parts:
            if type(part) is str:
                out.append(part)
                continue
            path, filters = part  # type: ignore[misc]
            value = _walk(context, path)
            if value is _MISS:
                return jinja(context)
            for f in filters:
                value = f(value)
            out.append(str(value))  # what Jinja2 writes with autoescape off; an undefined fails here as there
        return "".join(out)
    return render_text
