"""Request building: validated params -> a `requests.PreparedRequest`.

Everything that depends only on the descriptor (path template split, which
param goes where, its wire name and encoding) is worked out once per action;
per call, only the caller's values are encoded. Body encodings and query
styles are small entries in the registries below: a new one is one function.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote

from requests import PreparedRequest
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

from .components.bodies import scalar
from .errors import ValidationError, Problem, UploadSourceError
from .templates import OMIT

if TYPE_CHECKING:
    from .manifest import Action

__all__ = ["RequestBuilder", "Context", "Extra", "encode_query_value", "header_value_problem", "QUERY_STYLES"]

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # a header name (RFC 9110 token)
# What a header value cannot carry: CR/LF would start a new header, HTTP allows no other control
# character but tab, and one beyond Latin-1 makes http.client fail mid-send with the whole value
# (a key, say) in the exception's repr.
# Written as the complement of what is allowed: the direct range up to U+10FFFF took 3 ms to
# compile, a tenth of the engine's import.
_NOT_IN_HEADER = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as a header value, or None when it can."""
    if value.isascii() and value.isprintable():  # the common case, answered without the regular expression
        return None
    found = _NOT_IN_HEADER.search(value)
    if found is None:
        return None
    if found.group() in "\r\n":
        return "must not contain CR or LF (it is sent as a header)"
    return f"must not contain the character U+{ord(found.group()):04X} (it is sent as a header)"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, Mapping):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_surrogate(v) for v in value)
    return False


def encode_query_value(value: Any) -> str:
    return value if type(value) is _Joined else quote(scalar(value), safe="")


def _form(wire: str, value: Any) -> Iterable[tuple[str, Any]]:
    """Arrays repeat the key (`k=a&k=b`); scalars appear once."""
    if isinstance(value, (list, tuple)):
        return [(wire, v) for v in value]
    return [(wire, value)]


def _deep_object(wire: str, value: Any) -> Iterable[tuple[str, Any]]:
    """Objects as `k[sub]=v`, the form filter objects take (`effective_at[gte]=1`)."""
    if isinstance(value, Mapping):
        return [(f"{wire}[{k}]", v) for k, v in value.items()]
    return _form(wire, value)


class _Joined(str):
    """Items already percent-encoded and joined: written into the query as they are."""


def _delimited(sep: str) -> Callable[[str, Any], Iterable[tuple[str, Any]]]:
    """Arrays as one value joined by `sep` (OpenAPI's explode: false forms); the separator itself stays literal."""
    def style(wire: str, value: Any) -> Iterable[tuple[str, Any]]:
        if isinstance(value, (list, tuple)):
            return [(wire, _Joined(sep.join(quote(scalar(v), safe="") for v in value)))]
        return [(wire, value)]
    return style


QUERY_STYLES: dict[str, Callable[[str, Any], Iterable[tuple[str, Any]]]] = {
    "form": _form,
    "deep_object": _deep_object,
    "comma": _delimited(","),
    "pipe": _delimited("%7C"),
    "space": _delimited("%20"),
}


def _header_text(style: str, value: Any) -> str:
    """A header param's value: lists comma-separated (HTTP's list form), or JSON with style `json`."""
    if style != "json" and isinstance(value, (list, tuple)):
        return ",".join(scalar(v) for v in value)
    return scalar(value)


def _path_value(value: Any) -> str:
    text = quote(scalar(value), safe="")
    # "." and ".." are left alone by quote() but would be collapsed by URL
    # normalisation somewhere along the way: encode them too.
    if text in (".", ".."):
        text = text.replace(".", "%2E")
    return text


class Context:
    """What a request needs from the Engine: where it goes, the common headers, the credential, settings.

    `credential` is the action's auth component with the value to apply (or a
    placeholder, for a dry run); `config` is what templates see as `config`.
    """

    __slots__ = ("base_url", "headers", "credential", "file_defaults", "config")

    def __init__(self, base_url: str, headers: Mapping[str, str], credential: tuple[Any, Sequence[str]] | None,
                 file_defaults: Mapping[str, str], config: Mapping[str, Any] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.credential = credential
        self.file_defaults = file_defaults
        self.config = config if config is not None else {}


class Extra:
    """What the caller sends beyond the descriptor: fields, query values and headers it does not know yet.

    The API grows faster than any manifest; like the official SDK's
    `extra_body`/`extra_query`/`extra_headers`, these go out as given, after the
    declared params (a body field of the same name is replaced), checked only for
    what would break the request itself.
    """

    __slots__ = ("body", "query", "headers")

    def __init__(self, body: Mapping[str, Any] | None = None, query: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.body, self.query, self.headers = dict(body or {}), dict(query or {}), dict(headers or {})

    @classmethod
    def of(cls, body: Mapping[str, Any] | None, query: Mapping[str, Any] | None,
           headers: Mapping[str, str] | None) -> "Extra | None":
        """None when there is nothing extra, so an ordinary call builds nothing more."""
        for name, value in (("extra_body", body), ("extra_query", query), ("extra_headers", headers)):
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a mapping, not {type(value).__name__}")
        return cls(body, query, headers) if body or query or headers else None

    def check(self, action: str, *, has_body: bool) -> None:
        problems = []
        if self.body and not has_body:
            problems.append(Problem("extra_body", "body", "this action sends no body"))
        for name, value in self.headers.items():
            why = header_value_problem(value) if isinstance(value, str) else "must be a string"
            if why or not isinstance(name, str) or not _TOKEN.match(name):
                problems.append(Problem(f"extra_headers.{name}", "header", why or "is not a valid header name"))
        if problems:
            raise ValidationError(action, problems)


_NO_SCOPE: Mapping[str, Any] = {}
_PATH_PIECE = re.compile(r"\{\{.*?\}\}|\{([^{}]*)\}")


class RequestBuilder:
    """Builds the HTTP request for one action; the per-action work is done here, once."""

    def __init__(self, action: "Action") -> None:
        self.action = action
        self.method = action.method
        wire_to_name = {p.wire: p.name for p in action.params if p.location == "path"}
        # The path as pieces: text, a path param (by name), or a template (compiled at load).
        self.path_parts: list[tuple[str, Any]] = []
        pos = 0
        for m in _PATH_PIECE.finditer(action.path):
            self.path_parts.append(("text", action.path[pos:m.start()]))
            if m.group(1) is not None:
                self.path_parts.append(("param", wire_to_name[m.group(1)]))
            else:
                self.path_parts.append(("template", action.templates[m.group(0)].reader()))
            pos = m.end()
        self.path_parts.append(("text", action.path[pos:]))
        self.path_parts = [p for p in self.path_parts if p != ("text", "")]
        self.query = [(p.name, p.wire, QUERY_STYLES[p.style]) for p in action.params if p.location == "query"]
        # Fixed query values and headers: text, or a template's reader (see Template.reader).
        self.fixed_query: list[tuple[str, Any]] = [(quote(k, safe=""), _reader(action.templates, v))
                                                   for k, v in action.spec.get("query", {}).items()]
        self.header_params = [(p.name, p.wire, p.style) for p in action.params if p.location == "header"]
        self.body_params = [(p.name, p.wire) for p in action.params
                            if p.location == "body" and p.file is None]
        self.file_params = [(p.name, p.wire, p.file or {}) for p in action.params if p.file is not None]
        self.body = action.body_component
        # Only templates, raw and choice bodies read the call's params and settings: the others get none.
        self.body_scope = action.body in ("raw", "choice") or getattr(self.body, "template", None) is not None
        self.fixed_headers = {k: _reader(action.templates, v) for k, v in action.headers.items()}
        self.templated = bool(action.templates)

    def _scope(self, params: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        return {"params": params, "config": ctx.config}

    def url(self, params: Mapping[str, Any], ctx: Context, credential_query: Sequence[tuple[str, str]] = (),
            scope: Mapping[str, Any] | None = None) -> str:
        """The URL; `scope` is what the templates see, when the caller already built it for this call."""
        if scope is None and self.templated:
            scope = self._scope(params, ctx)
        pieces = []
        for kind, value in self.path_parts:
            if kind == "text":
                pieces.append(value)
            elif kind == "param":
                pieces.append(_path_value(params[value]))
            else:
                pieces.append(_path_value(value(scope)))
        pairs: list[str] = []
        for key, value in self.fixed_query:
            if not isinstance(value, str):
                value = value(scope)
                if value is OMIT:
                    continue
            pairs.append(f"{key}={encode_query_value(value)}")
        for name, wire, style in self.query:
            if name in params:
                for k, v in style(wire, params[name]):
                    pairs.append(f"{quote(k, safe='')}={encode_query_value(v)}")
        for k, v in credential_query:
            pairs.append(f"{quote(k, safe='')}={quote(v, safe='')}")
        return ctx.base_url + "".join(pieces) + ("?" + "&".join(pairs) if pairs else "")

    def build(self, params: Mapping[str, Any], ctx: Context, extra: "Extra | None" = None) -> PreparedRequest:
        """The request for already-validated params, plus what `extra` adds unchecked."""
        try:
            return self._build(params, ctx, extra)
        except UnicodeEncodeError:
            # Python text may hold lone surrogates (JSON's "\ud800" decodes to one) that no
            # encoding can send. Found here, where encoding fails, so valid calls pay nothing.
            bad = [name for name, value in params.items() if _has_surrogate(value)] or [None]
        raise ValidationError(self.action.name, [Problem(name, "encoding", "holds a lone surrogate (U+D800-U+DFFF), "
                                                         "which cannot be encoded as UTF-8") for name in bad])

    def _build(self, params: Mapping[str, Any], ctx: Context, extra: "Extra | None") -> PreparedRequest:
        headers = CaseInsensitiveDict(ctx.headers)
        credential_query: list[tuple[str, str]] = []
        if ctx.credential is not None:
            auth, secret = ctx.credential
            auth.apply(secret, headers, credential_query)
        scope = self._scope(params, ctx) if self.templated else None
        for key, value in self.fixed_headers.items():
            if isinstance(value, str):
                headers[key] = value
            else:
                text = _header_template(value, scope, key)
                if text is not None:
                    headers[key] = text
        for name, wire, style in self.header_params:
            if name in params:
                headers[wire] = _header_text(style, params[name])
        if extra is not None:
            extra.check(self.action.name, has_body=self.body.sends)
            headers.update(extra.headers)
        body: Any = None
        if self.body.sends:
            fields = [(wire, params[name]) for name, wire in self.body_params if name in params]
            if extra is not None:
                fields += extra.body.items()
            files = self._files(params, ctx) if self.file_params else []
            encoder = self.body.choose(params, bool(files))
            body, content_type = encoder.encode(fields, files, scope or (self._scope(params, ctx) if self.body_scope
                                                                         else _NO_SCOPE))
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(body))  # every body knows its length: nothing is chunked
        elif self.method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        req = PreparedRequest()
        req.method = self.method
        req.url = self.url(params, ctx, credential_query, scope)
        if extra is not None and extra.query:
            pairs = [f"{quote(k, safe='')}={encode_query_value(v)}" for name, value in extra.query.items()
                     for k, v in _form(name, value)]
            req.url += ("&" if "?" in req.url else "?") + "&".join(pairs)
        req.headers = headers
        req.body = body
        req.hooks = default_hooks()
        req._cookies = RequestsCookieJar()  # type: ignore[attr-defined]  # redirects store cookies here
        return req

    def _files(self, params: Mapping[str, Any], ctx: Context) -> list[tuple[str, Any]]:
        files = []
        for name, wire, spec in self.file_params:
            if name not in params:
                continue
            from .multipart import file_part

            value = params[name]
            filename = spec.get("default_filename", ctx.file_defaults.get("default_filename", "upload"))
            ctype = spec.get("default_content_type",
                             ctx.file_defaults.get("default_content_type", "application/octet-stream"))
            for item in value if isinstance(value, list) else [value]:
                try:
                    part = file_part(item, default_filename=filename, default_content_type=ctype)
                except TypeError as exc:
                    raise ValidationError(self.action.name, [Problem(name, "file", str(exc))]) from None
                except UploadSourceError as exc:  # the same error, naming the action
                    raise UploadSourceError(exc.message, action=self.action.name) from exc
                files.append((wire, part))
        return files


def _reader(templates: Mapping[str, Any], value: Any) -> Any:
    """`value` itself, or the reader of its compiled template."""
    template = templates.get(value) if isinstance(value, str) else None
    return value if template is None else template.reader()


def _header_template(read: Callable[[Any], Any], scope: Any, name: str) -> str | None:
    value = read(scope)
    if type(value) is not str:
        if value is OMIT:
            return None  # the header is not sent
        value = scalar(value)
    if value.isascii() and value.isprintable():  # header_value_problem's common case, without its call
        return value
    why = header_value_problem(value)
    if why:
        raise ValidationError("", [Problem(name, "header", f"the template for header {name!r} gave a value that {why}")])
    return value
