"""Request building: validated params -> a `requests.PreparedRequest`.

Everything that depends only on the descriptor (path template split, which
param goes where, its wire name and encoding) is worked out once per action;
per call, only the caller's values are encoded. Body encodings and query
styles are small entries in the registries below: a new one is one function.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping
from urllib.parse import quote

from requests import PreparedRequest
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

from .errors import ValidationError, Problem, UploadSourceError

if TYPE_CHECKING:
    from .manifest import Action

__all__ = ["RequestBuilder", "Context", "Extra", "encode_query_value", "header_value_problem", "QUERY_STYLES", "BODY_ENCODERS"]

_SEGMENT = re.compile(r"\{([^{}]*)\}")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # a header name (RFC 9110 token)
# What a header value cannot carry: CR/LF would start a new header, HTTP allows no other control
# character but tab, and one beyond Latin-1 makes http.client fail mid-send with the whole value
# (a key, say) in the exception's repr.
# Written as the complement of what is allowed: the direct range up to U+10FFFF took 3 ms to
# compile, a tenth of the engine's import.
_NOT_IN_HEADER = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as a header value, or None when it can."""
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


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def encode_query_value(value: Any) -> str:
    return quote(_scalar(value), safe="")


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


QUERY_STYLES: dict[str, Callable[[str, Any], Iterable[tuple[str, Any]]]] = {
    "form": _form,
    "deep_object": _deep_object,
}


def _path_value(value: Any) -> str:
    text = quote(_scalar(value), safe="")
    # "." and ".." are left alone by quote() but would be collapsed by URL
    # normalisation somewhere along the way: encode them too.
    if text in (".", ".."):
        text = text.replace(".", "%2E")
    return text


def _json_body(builder: "RequestBuilder", fields: list[tuple[str, Any]],
               files: list[tuple[str, Any]]) -> tuple[bytes, str]:
    body = json.dumps(dict(fields), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body, "application/json"


def _form_body(builder: "RequestBuilder", fields: list[tuple[str, Any]],
               files: list[tuple[str, Any]]) -> tuple[bytes, str]:
    pairs = [(quote(k, safe=""), encode_query_value(v)) for name, val in fields for k, v in _form(name, val)]
    return "&".join(f"{k}={v}" for k, v in pairs).encode("ascii"), "application/x-www-form-urlencoded"


def _multipart_body(builder: "RequestBuilder", fields: list[tuple[str, Any]],
                    files: list[tuple[str, Any]]) -> tuple[Any, str]:
    from .multipart import MultipartBody

    text: list[tuple[str, str]] = []
    for name, value in fields:
        if value is None:  # a form has no null: an empty field would read as "", so the field is left out
            continue
        for k, v in _form(name, value):
            text.append((k, _scalar(v)))
    body = MultipartBody(text, files)
    return body, body.content_type


BODY_ENCODERS: dict[str, Callable[..., tuple[Any, str]]] = {
    "json": _json_body,
    "form": _form_body,
    "multipart": _multipart_body,
}


class Context:
    """What a request needs from the Engine: where to send it and with which headers."""

    __slots__ = ("base_url", "headers", "credential_headers", "file_defaults")

    def __init__(self, base_url: str, headers: Mapping[str, str],
                 credential_headers: Mapping[str, tuple[str, str] | None],
                 file_defaults: Mapping[str, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.credential_headers = dict(credential_headers)
        self.file_defaults = dict(file_defaults)


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


class RequestBuilder:
    """Builds the HTTP request for one action; the per-action work is done here, once."""

    def __init__(self, action: "Action") -> None:
        self.action = action
        self.method = action.method
        parts: list[tuple[bool, str]] = []
        pos = 0
        path = action.path
        for m in _SEGMENT.finditer(path):
            parts.append((False, path[pos:m.start()]))
            parts.append((True, m.group(1)))
            pos = m.end()
        parts.append((False, path[pos:]))
        wire_to_name = {p.wire: p.name for p in action.params if p.location == "path"}
        self.path_parts = [(is_param, wire_to_name[text] if is_param else text) for is_param, text in parts]
        self.query = [(p.name, p.wire, QUERY_STYLES[p.style]) for p in action.params if p.location == "query"]
        self.fixed_query = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in action.spec.get("query", {}).items()]
        self.header_params = [(p.name, p.wire) for p in action.params if p.location == "header"]
        self.body_params = [(p.name, p.wire) for p in action.params
                            if p.location == "body" and p.file is None]
        self.file_params = [(p.name, p.wire, p.file or {}) for p in action.params if p.file is not None]
        self.encoder = BODY_ENCODERS.get(action.body) if action.body != "none" else None
        self.fixed_headers = dict(action.headers)

    def url(self, base_url: str, params: Mapping[str, Any]) -> str:
        path = "".join(_path_value(params[text]) if is_param else text for is_param, text in self.path_parts)
        pairs: list[str] = list(self.fixed_query)
        for name, wire, style in self.query:
            if name in params:
                for k, v in style(wire, params[name]):
                    pairs.append(f"{quote(k, safe='')}={encode_query_value(v)}")
        return base_url + path + ("?" + "&".join(pairs) if pairs else "")

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
        cred = ctx.credential_headers.get(self.action.credential)
        if cred is not None:
            headers[cred[0]] = cred[1]
        headers.update(self.fixed_headers)
        for name, wire in self.header_params:
            if name in params:
                headers[wire] = _scalar(params[name])
        if extra is not None:
            extra.check(self.action.name, has_body=self.encoder is not None)
            headers.update(extra.headers)
        body: Any = None
        if self.encoder is not None:
            fields = [(wire, params[name]) for name, wire in self.body_params if name in params]
            if extra is not None:
                fields += extra.body.items()
            files = []
            for name, wire, spec in self.file_params:
                if name in params:
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
            body, content_type = self.encoder(self, fields, files)
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(body))  # a multipart body knows its length: nothing is chunked
        elif self.method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        req = PreparedRequest()
        req.method = self.method
        req.url = self.url(ctx.base_url, params)
        if extra is not None and extra.query:
            pairs = [f"{quote(k, safe='')}={encode_query_value(v)}" for name, value in extra.query.items()
                     for k, v in _form(name, value)]
            req.url += ("&" if "?" in req.url else "?") + "&".join(pairs)
        req.headers = headers
        req.body = body
        req.hooks = default_hooks()
        req._cookies = RequestsCookieJar()  # type: ignore[attr-defined]  # redirects store cookies here
        return req
