"""The offline sandbox: a `requests` transport adapter that answers every action in process.

Nothing here knows an action by name. Routes are the manifest's method + path
templates; what a route does follows from the shape of its path (a
collection, an item, a verb after an item) and its response schema, whose
`object` field names the type and so the id prefix. Objects are synthesized
from the component schemas and echo the request where the schema has a field
of that name. What cannot be derived (id prefixes the description lacks,
status progressions, verbs, seeds, the API's error wording) is data in the
manifest's `connector.sandbox`. Schema synthesis lives in sandbox_synth.py.

Jobs that carry a file of request lines (`line_jobs`) answer each line
through these same routes when they finish, and keep the answers as files;
report lists (`buckets`) page a bounded series of time buckets derived from
the query, with tokens any process can continue.

State lives in memory, or in a JSON file read on each request and replaced
atomically when a request changed it, so processes share one world. A lock
serializes the requests of one Engine's threads and, on a file beside the
state (`FILE.lock`), of every process: each request's read, change and write
is one step, so no process writes over what another just created.
"""
from __future__ import annotations

import array
import base64
import contextlib
import copy
import fcntl
import http.client
import io
import json
import math
import os
import re
import secrets
import stat
import sys
import threading
import time
import wave
from email import policy as _email_policy
from email.parser import BytesParser
from typing import Any, Iterator, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from .components.paths import MISSING, Path
from .errors import Error
from .files import replace_file
from .request import _path_value
from .sandbox_synth import Synth
from .templates import is_template

__all__ = ["SandboxAdapter"]

_HOLE = re.compile(r"^\{([^{}]*)\}$")
_PATH_PIECE = re.compile(r"\{\{.*?\}\}|\{([^{}]*)\}")  # a template, or a placeholder (as the engine reads a path)
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ITEM_KINDS = ("retrieve", "update", "delete", "verb")


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(24))


def _request_id() -> str:
    return secrets.token_hex(12)


def _put(node: dict[str, Any], path: str, value: Any) -> None:
    """node["response"]["body"] = value for the path `"response.body"` (what is in the way replaced)."""
    *parents, last = path.split(".")
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[last] = value


def _steps(path: str) -> list[str] | None:
    """A plain path's keys (`a.b` -> [a, b], `$` -> []); None for a template or a path with list indexes."""
    if "{" in path:
        return None
    steps = Path(path).steps
    return [s for s in steps if isinstance(s, str)] if all(isinstance(s, str) for s in steps) else None


_READ = re.compile(r"\bresponse\.body((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _reads(spec: Any) -> list[str]:
    """The body paths a paginator's templates read (`response.body.a.b` -> `a.b`), each once."""
    found: dict[str, None] = {}
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and "{{" in node:
            found.update(dict.fromkeys(m.group(1)[1:] for m in _READ.finditer(node)))
    return list(found)


def _ident(data: Mapping[str, Any]) -> str | None:
    """An object's id as the text a path or a query names it by (an integer id too); None without one."""
    ident = data.get("id")
    return None if ident is None or isinstance(ident, (bool, dict, list)) else str(ident)


_WHOLE: Mapping[str, Any] = {"type": "single", "items": "$"}  # how a GET answering an array lists


def _fill(template: str, fields: Mapping[str, Any]) -> str:
    """`{a|b}` -> the first of the fields a, b that is given (and not empty), else nothing."""
    return re.sub(r"\{([^{}]*)\}", lambda m: next((str(fields[n]) for n in m.group(1).split("|")
                                                   if fields.get(n) not in (None, "")), ""), template)


def _flock(fd: int, end: float | None) -> bool:
    """Take the exclusive lock on `fd`; False if the `time.monotonic()` value `end` comes first."""
    if end is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(2 * pause, 0.05)


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_MAX_DEPTH = 200


def _shape_problem(state: Any) -> str | None:
    """What keeps JSON read from a state file from being a sandbox state, or None.

    The file may have been edited or be some other program's: the sandbox
    must refuse it with its name, not fail on it halfway through a request.
    """
    if not isinstance(state, dict):
        return f"a JSON {_JSON_TYPES[type(state)]}, not an object"
    objects, listed = state.get("objects"), state.get("listed", [])
    if type(state.get("seq")) is not int:
        return "`seq` is not an integer"
    if not isinstance(objects, dict):
        return "`objects` is not an object"
    if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
        return "`listed` is not an array of strings"
    for type_, items in objects.items():
        if not isinstance(items, dict):
            return f"objects[{type_[:40]!r}] is not an object"
        for ident, record in items.items():
            where = f"objects[{type_[:40]!r}][{ident[:40]!r}]"
            # Kept by its id (text, or an integer as text); an object with no id by its place (`#seq`).
            if not isinstance(record, dict) or not isinstance(record.get("data"), dict) \
                    or ident.split("/", 1)[0] != (_ident(record["data"]) or ident.split("/", 1)[0]) \
                    or (_ident(record["data"]) is None and not ident.startswith("#")):
                return f"{where} is not an object whose `data` has that id"
            scope, content = record.get("scope"), record.get("content")
            if not isinstance(scope, dict) or not all(isinstance(v, str) for v in scope.values()):
                return f"{where}: `scope` is not an object of strings"
            if type(record.get("seq")) is not int:
                return f"{where}: `seq` is not an integer"
            if content is not None and not (isinstance(content, str) and len(content) % 4 == 0
                                            and _BASE64.fullmatch(content)):
                return f"{where}: `content` is not base64"
            later = record.get("later", {})
            if not isinstance(later, dict) or not all(isinstance(sets, dict) and all(isinstance(v, str)
                                                                                      for v in sets.values())
                                                      for sets in later.values()):
                return f"{where}: `later` is not an object of objects of strings"
    stack: list[tuple[Any, int]] = [(state, 1)]
    while stack:  # the handlers copy and encode objects recursively: bound how deep they go
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return f"nested deeper than {_MAX_DEPTH} levels"
        stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)
                     if isinstance(child, (dict, list)))
    return None


def _query(text: str) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for k, v in parse_qsl(text, keep_blank_values=True):
        query.setdefault(k, []).append(v)
    return query


# Messages for a connector whose `errors` do not word them (any manifest but one that declares its API's).
_OWN_WORDING = {
    "not_found": "No {noun} found with id '{id}'.",
    "no_route": "No action of this connector answers {method} {path}.",
    "missing": "Missing required parameter: '{param}'.",
    "unknown": "Unknown parameter: '{param}'.",
    "invalid": "Invalid value for '{param}': {detail}.",
    "bad_json": "The body is not a JSON object.",
    "bad_form": "The form body cannot be read: {detail}.",
    "line_url": "The url '{url}' of this line is not the batch's endpoint '{endpoint}'.",
    "line_stream": "Invalid value for '{param}': a batched request cannot stream its answer.",
}
_FORM_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])+)")
_FORM_SUB = re.compile(r"\[([^\[\]]*)\]")


def _kind(schema: Mapping[str, Any]) -> str | None:
    """A resolved schema's type: its first non-null one, else what its keywords imply."""
    types = schema.get("type")
    for t in types if isinstance(types, list) else [types]:
        if t not in (None, "null"):
            return t
    return "object" if "properties" in schema else "array" if "items" in schema else None


class _Reply(Exception):
    """An error answer raised from anywhere in a handler; `send` turns it into a response."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


class _Route:
    """One action, compiled once: its path pattern and what the sandbox does for it.

    The pattern is the path as the engine sends it: a placeholder matches its value wherever it
    stands (a whole segment, `{id}.json`, `x{id}`), a template the text it renders to with the
    sandbox's settings (any text within one segment when it cannot be rendered there), and a
    trailing slash stays.
    """

    def __init__(self, action: Any, kind: str, type_: str | None, parents: dict[str, str],
                 config: Mapping[str, Any]) -> None:
        self.action, self.kind, self.type, self.parents = action, kind, type_, parents
        wire_to_name = {p.wire: p.name for p in action.params if p.location == "path"}
        self.holes: list[str] = []
        pattern, pos = [], 0
        for m in _PATH_PIECE.finditer(action.path):
            pattern.append(re.escape(action.path[pos:m.start()]))
            if m.group(1) is not None:
                self.holes.append(wire_to_name.get(m.group(1), m.group(1)))
                pattern.append("([^/]+)")
            else:
                text = _rendered(action.templates.get(m.group(0)), config)
                pattern.append("[^/]*" if text is None else re.escape(text))
            pos = m.end()
        pattern.append(re.escape(action.path[pos:]))
        self.regex = re.compile("^" + "".join(pattern) + "$")
        segs = _shape(action.path).strip("/").split("/")
        # Most fixed segments first (POST /threads/runs is not POST /threads/{thread_id}), then most
        # segments holding fixed text beside a placeholder (`x{id}` before `{id}`).
        self.literals = sum(1 for s in segs if not _PATH_PIECE.search(s))
        self.partial = sum(1 for s in segs if _PATH_PIECE.search(s) and _PATH_PIECE.sub("", s))
        self.verb = segs[-1] if kind == "verb" else None
        self.body = {p.wire: p for p in action.params if p.location == "body"}
        # Body type -> where its template puts the body fields (`{user: "{{ body }}"}` -> ["user"]);
        # None for a template that places them otherwise. Only templated bodies are here.
        self.body_at: dict[str, tuple[list[Any] | None, Any]] = {}  # and the template, for its own keys
        for body in _bodies(action):
            if "template" in body:
                holes = list(_holes(body["template"], []))
                self.body_at.setdefault(body.get("type", ""), (holes[0] if len(holes) == 1 else None,
                                                               body["template"]))


_BODY_HOLE = re.compile(r"\s*\{\{\s*body\s*\}\}\s*")


def _bodies(action: Any) -> list[dict[str, Any]]:
    """The action's body block, then those of its options (a choice of content types), shorthands spelt out."""
    spec = action.spec.get("body") or {}
    spec = {"type": spec} if isinstance(spec, str) else spec
    options = [o.get("body", {}) for o in spec.get("options", ()) if isinstance(o, dict)]
    return [spec, *({"type": b} if isinstance(b, str) else b for b in options if isinstance(b, (str, dict)))]


def _holes(node: Any, at: list[Any]) -> Iterator[list[Any]]:
    """Where in a body template the body fields go whole: each place holding just `{{ body }}`."""
    if isinstance(node, str) and _BODY_HOLE.fullmatch(node):
        yield at
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _holes(value, [*at, key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _holes(value, [*at, i])


def _shape(path: str) -> str:
    """A path as the routing rules read its shape: a trailing slash says nothing about it."""
    return path.rstrip("/") or "/"


def _rendered(template: Any, config: Mapping[str, Any]) -> str | None:
    """A path template's text as the engine sends it with these settings, or None if it needs more."""
    if template is None:
        return None
    try:
        return _path_value(template.render({"config": config}))
    except Exception:  # noqa: BLE001 - it reads the call's params, or a setting not given: any text
        return None


class SandboxAdapter(BaseAdapter):
    """Answers requests under the base URL from descriptors, schemas and state; opens no socket."""

    def __init__(self, manifest: Any, base_url: str, *, state_file: str | os.PathLike | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.manifest = manifest
        self.config: Mapping[str, Any] = dict(config or {})  # the settings, as path templates render them
        self.cfg: Mapping[str, Any] = manifest.connector.get("sandbox", {})
        self.base_path = urlsplit(base_url).path.rstrip("/")
        self.state_file = os.fspath(state_file) if state_file is not None else None
        self.rid_header = manifest.connector.get("request_id_header", "x-request-id")
        # Error bodies are written where the connector's error map reads the message (`error.message`).
        message = manifest.error_map.spec.get("message", "error.message")
        self.error_path = message.split(".")[:-1] if "{" not in message else ["error"]
        self.status_field = self.cfg.get("status_field", "status")
        self.synth = Synth(manifest.schemas, self.cfg)
        self.batch: Mapping[str, Any] = manifest.connector.get("batch", {})
        self._lock = threading.Lock()
        self._memory: dict[str, Any] | None = None
        # The server's poll-after hint, sent with the answers that polling composites read.
        self._poll_headers = {step.action: step.hint.header for c in manifest.composites.values()
                              for step in c.steps if getattr(step, "hint", None) is not None}
        self._compile(list(manifest.actions.values()))

    # -- routing, derived once from the descriptors ----------------------------
    def _compile(self, actions: list[Any]) -> None:
        # Objects whose schema names no type (items of many kinds) get the type `types` declares for an action.
        declared = self.cfg.get("types", {})
        path = {a.name: _shape(a.path) for a in actions}  # what the rules below read of each path
        # What lists: a paginated action, and a GET whose answer is an array of objects of a type (the body
        # is the one page). An array of anything else is answered as any answer is, made from its schema.
        self.paging: dict[str, Mapping[str, Any]] = {a.name: a.pagination for a in actions if a.pagination}
        for a in actions:
            if a.name not in self.paging and a.method == "GET" and a.response_kind == "json" \
                    and _kind(self.synth.resolve(a.response_schema)) == "array" \
                    and (declared.get(a.name) or self.synth.type_of(self._items_schema(a.response_schema, _WHOLE))):
                self.paging[a.name] = _WHOLE
        types = {a.name: declared.get(a.name) or self.synth.type_of(a.response_schema) for a in actions}
        self.item_types: dict[str, str] = {}  # item path template -> type of the object there
        self.type_schemas: dict[str, Any] = {}
        for a in sorted(actions, key=lambda a: a.method != "GET"):  # what a GET answers names the item's type
            if _HOLE.match(path[a.name].rsplit("/", 1)[-1]) and a.method in ("GET", "POST") and types[a.name]:
                self.item_types.setdefault(path[a.name], types[a.name])
                self.type_schemas.setdefault(types[a.name], a.response_schema)
        verbs = self.cfg.get("verbs", {})
        for a in actions:  # POST /{id}/<verb> answering with the item's own type acts on that item
            prefix, last = path[a.name].rsplit("/", 1)
            t = types[a.name]
            if a.method == "POST" and t and not _HOLE.match(last) and _HOLE.match(prefix.rsplit("/", 1)[-1]) \
                    and self.item_types.get(prefix, t if last in verbs else None) == t:
                self.item_types[prefix] = t
                self.type_schemas.setdefault(t, a.response_schema)
        # A list's items are of the type its schema says, else of the item that its path leads to.
        listed = {a.name: declared.get(a.name)
                  or self.synth.type_of(self._items_schema(a.response_schema, self.paging[a.name]))
                  or next((t for p, t in self.item_types.items() if p.rsplit("/", 1)[0] == path[a.name]), None)
                  for a in actions if a.name in self.paging}
        for a in actions:  # a type only listed is made from its list's items
            if listed.get(a.name):
                self.type_schemas.setdefault(listed[a.name], self._items_schema(a.response_schema, self.paging[a.name]))
        # Types that body fields name (`ids`) are kept too, so a later request can find them.
        self.storable = set(self.item_types.values()) | {t for t in listed.values() if t} \
            | set(self.cfg.get("ids", {}).values())
        self.routes: list[_Route] = []
        for a in actions:
            prefix, last = path[a.name].rsplit("/", 1)
            t = types[a.name]
            if a.response_kind == "binary":
                kind, t = "binary", None
            elif a.name in self.paging:
                kind, t = "list", listed[a.name]
            elif _HOLE.match(last) and self.item_types.get(path[a.name]):
                kind, t = {"GET": "retrieve", "DELETE": "delete"}.get(a.method, "update"), self.item_types[path[a.name]]
            elif t is not None and self.item_types.get(prefix) == t:
                kind = "verb"
            elif a.method == "POST" and self._list_type(actions, listed, path[a.name]) in self.cfg.get("many", {}):
                kind, t = "many", self._list_type(actions, listed, path[a.name])
            else:
                kind = "create" if a.method == "POST" and t in self.storable else "synth"
            self.routes.append(_Route(a, kind, t, self._parent_types(path[a.name], kind in _ITEM_KINDS), self.config))
        self.creatable = {r.type for r in self.routes if r.kind in ("create", "many")} \
            | {spec["create"] for spec in self.cfg.get("attach", {}).values()}
        # Most literal segments first: POST /threads/runs is not POST /threads/{thread_id}.
        self.routes.sort(key=lambda r: (-r.literals, -r.partial))
        self.parents: dict[str, dict[str, str]] = {}  # a type at several paths is inside what any of them names
        for path, t in self.item_types.items():
            self.parents.setdefault(t, {}).update(self._parent_types(path, True))
        # A field named like an item's path parameter names an object of that item's type; `ids` says
        # what the names alone cannot (several items share `file_id`; `input_file_id` is no path's).
        self.refs = {_HOLE.match(path.rsplit("/", 1)[-1]).group(1): t for path, t in self.item_types.items()}
        self.refs.update(self.cfg.get("ids", {}))
        # The path parameter naming an object of each type: what the objects inside it have in their scope.
        self.own_param = {t: _HOLE.match(path.rsplit("/", 1)[-1]).group(1) for path, t in self.item_types.items()
                          if _HOLE.match(path.rsplit("/", 1)[-1])}

    @staticmethod
    def _list_type(actions: list[Any], listed: Mapping[str, str | None], path: str) -> str | None:
        return next((listed[a.name] for a in actions if a.pagination and a.method == "GET" and _shape(a.path) == path),
                    None)

    def _parent_types(self, path: str, item: bool) -> dict[str, str]:
        """Path parameter -> type of the enclosing object it names (the item's own id excluded)."""
        segs, out = path.strip("/").split("/"), {}
        for i, seg in enumerate(segs[:-1] if item else segs):
            m = _HOLE.match(seg)
            if m and "/" + "/".join(segs[:i + 1]) in self.item_types:
                out[m.group(1)] = self.item_types["/" + "/".join(segs[:i + 1])]
        return out

    # -- state ------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, wait: float | None) -> Iterator[str]:
        """Hold this Engine's thread lock and, with a state file, the file lock beside it: a request's read,
        change and write are one step for every thread and process sharing the state.

        Yields the file to read and write. Waiting past `wait` seconds is a read timeout, as a busy server's is.
        """
        end = None if wait is None else time.monotonic() + wait
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise requests.exceptions.ReadTimeout(f"the sandbox stayed busy for {wait:g}s")
        try:
            if self.state_file is None:
                yield ""
                return
            path = os.path.realpath(self.state_file)  # a symlink's target is written, and the link stays
            lock = path + ".lock"
            try:
                fd = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
            except OSError as exc:
                raise Error(f"sandbox state {self.state_file} cannot be written: its lock file {lock} "
                            f"cannot be opened: {exc.strerror}") from None
            try:
                try:
                    taken = _flock(fd, end)
                except OSError as exc:
                    raise Error(f"sandbox state {self.state_file} cannot be locked: {exc.strerror}") from None
                if not taken:
                    raise requests.exceptions.ReadTimeout(
                        f"sandbox state {self.state_file} stayed locked by another process for {wait:g}s")
                yield path
            finally:
                os.close(fd)  # which releases the lock
        finally:
            self._lock.release()

    def _load(self, path: str) -> tuple[dict[str, Any], str | None]:
        """The state, and its text as read (to tell whether the request changed it); an empty file is a new world."""
        if self.state_file is None:
            if self._memory is None:
                self._memory = self._fresh()
            return self._memory, None
        try:
            # Not blocking: a FIFO named as the state is refused below, not waited on.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return self._fresh(), ""
        except OSError as exc:
            raise Error(f"sandbox state {self.state_file} cannot be read: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise Error(f"sandbox state {self.state_file} cannot be read: not a regular file")
        with os.fdopen(fd, "rb") as fh:
            try:
                raw = fh.read()
            except OSError as exc:
                raise Error(f"sandbox state {self.state_file} cannot be read: {exc.strerror}") from None
        if not raw.strip():
            return self._fresh(), ""
        try:
            text = raw.decode("utf-8")
            state = json.loads(text)
        except ValueError as exc:
            raise Error(f"sandbox state {self.state_file} cannot be read: {exc}") from None
        except RecursionError:
            raise Error(f"sandbox state {self.state_file} cannot be read: nested too deeply") from None
        problem = _shape_problem(state)
        if problem:
            raise Error(f"sandbox state {self.state_file} is not a sandbox state: {problem}")
        return state, text

    def _save(self, path: str, state: dict[str, Any], before: str | None) -> None:
        """Write the state beside the file and rename it over, so a reader never sees half of it."""
        if self.state_file is None:
            return
        text = json.dumps(state, separators=(",", ":"))
        if text == before:
            return
        try:
            replace_file(path, text.encode(), mode=0o600)  # a new state is the user's alone
        except OSError as exc:
            raise Error(f"sandbox state {self.state_file} cannot be written: {exc.strerror}") from None

    def _fresh(self) -> dict[str, Any]:
        state: dict[str, Any] = {"seq": 0, "objects": {}, "listed": []}
        for type_, items in self.cfg.get("seed", {}).items():
            for fields in items:
                self._store(state, type_, self._object(type_, self.type_schemas.get(type_), fields, {}), {})
        return state

    def _store(self, state: dict[str, Any], type_: str, data: dict[str, Any], scope: Mapping[str, str],
               content: bytes | None = None) -> dict[str, Any]:
        state["seq"] += 1
        record = {"data": data, "scope": dict(scope), "seq": state["seq"]}
        if content is not None:
            record["content"] = base64.b64encode(content).decode("ascii")
        ident = _ident(data) or f"#{state['seq']}"  # an object with no id of its own is kept by its place
        state["objects"].setdefault(type_, {})[self._key(type_, ident, scope)] = record
        return record

    def _object(self, type_: str | None, schema: Any, fields: Mapping[str, Any], scope: Mapping[str, str],
                body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A new object: the schema's required fields, then the given fields where the schema takes them.

        Of a schema's alternatives, the first that keeps every given field it has (so its `type`) is made.
        """
        alts = self.synth.resolve(schema).get("anyOf") or self.synth.resolve(schema).get("oneOf")
        if alts and fields:
            first = None
            for alt in alts:
                obj = self._object(type_, alt, fields, scope, body)
                first = first or obj
                if self.synth.valid(alt, obj) and all(self._kept(prop, obj.get(k), fields[k]) for k, prop in
                                                      self.synth.props(alt)[0].items() if k in fields and k != "id"):
                    return obj
            return first or {}
        data = self.synth.value(schema, None, body or fields, want=True) if schema else {}
        data = data if isinstance(data, dict) else {}
        props = self.synth.props(schema)[0] if schema else {}
        self._echo(data, props, {**scope, **fields})
        leaves = self.cfg.get("text_leaf") or []
        for key, value in fields.items():  # text given where the object holds structure goes in its text leaf
            if leaves and isinstance(value, str) and key in props and data.get(key) != value:
                given = {leaf: value for leaf in ([leaves] if isinstance(leaves, str) else leaves)}
                shaped = self.synth.value(props[key], key, {key: value}, want=True, given=given)
                if self.synth.valid(props[key], shaped):
                    data[key] = shaped
        if ("id" in props or not schema) and not self._given_id(props.get("id"), fields.get("id")):
            data["id"] = self._new_id(type_, props.get("id"))
        for field, prefix in self.cfg.get("item_ids", {}).items():  # items made inside it get ids of their own
            for item in data.get(field) if isinstance(data.get(field), list) else ():
                if isinstance(item, dict) and item.get("id") == "":
                    item["id"] = _new_id(prefix)
        if type_ in self.cfg.get("progress", {}) and self.status_field in props:
            data[self.status_field] = self.cfg["progress"][type_][0]
        return data

    def _given_id(self, schema: Any, value: Any) -> bool:
        """Whether a given id is one to keep: text, or a whole number where the schema's id is a number."""
        if isinstance(value, str):
            return True
        return isinstance(value, int) and not isinstance(value, bool) \
            and _kind(self.synth.resolve(schema)) in ("integer", "number")

    def _new_id(self, type_: str | None, schema: Any) -> Any:
        """A fresh id of the kind the schema's `id` is: a whole number (from its minimum), else prefixed text."""
        s = self.synth.resolve(schema)
        if _kind(s) in ("integer", "number"):
            low = max(int(s.get("minimum", 1)), 1)
            return low + secrets.randbelow(1_000_000_000)
        return _new_id(self.cfg.get("id_prefixes", {}).get(type_ or "", ""))

    def _shaped(self, schema: Any, data: dict[str, Any]) -> dict[str, Any]:
        """A stored object as an answer of another shape gives it (a membership made as an assignment, read
        as the member): itself where the schema takes it, else that shape made from its fields."""
        if not schema or self.synth.valid(schema, data):
            return data
        return self._object(None, schema, data, {})

    def _kept(self, prop: Any, made: Any, given: Any) -> bool:
        """Whether a made field holds what was given: the value itself, or given text put in a structure."""
        return made == given or isinstance(given, str) and made not in (None, "") \
            and _kind(self.synth.resolve(prop)) not in ("string", None) and not self.synth.valid(prop, given)

    def _echo(self, data: dict[str, Any], props: Mapping[str, Any], fields: Mapping[str, Any],
              merge: bool = False) -> None:
        """The given fields the schema takes, into the object; with `merge`, an object's fields into the object
        already there (a templated update names only the fields it changes)."""
        for key, value in fields.items():
            if merge and isinstance(value, dict) and isinstance(data.get(key), dict):
                value = {**data[key], **value}
            if key in props and self.synth.valid(props[key], value):
                data[key] = copy.deepcopy(value)

    def _key(self, type_: str, ident: str, scope: Mapping[str, str]) -> str:
        """Where an object is kept: its id; for an object given its id (`id_from`), its id within each
        enclosing object, so one id given inside two objects is two objects."""
        if type_ not in self.cfg.get("id_from", {}):
            return ident
        return "/".join([ident, *(scope[p] for p in sorted(self.parents.get(type_, {})) if p in scope)])

    def _find(self, state: dict[str, Any], type_: str, ident: str, scope: Mapping[str, str]) -> dict[str, Any]:
        records = state["objects"].get(type_, {})
        record = records.get(self._key(type_, ident, scope))
        if record is None and type_ in self.cfg.get("id_from", {}):  # named without the objects it is inside
            record = next((r for r in records.values() if _ident(r["data"]) == ident
                           and all(r["scope"].get(k, v) == v for k, v in scope.items())), None)
        if record is None or any(record["scope"].get(k, v) != v for k, v in scope.items()):
            raise self._error(404, "not_found", noun=type_.rsplit(".", 1)[-1].replace("_", " "), id=ident)
        return record

    def _set_status(self, state: dict[str, Any], type_: str, record: dict[str, Any], status: str,
                    events: list[tuple[str | None, Any]]) -> None:
        """Move an object to a status; a declared `on_status` leaves a new object beside it."""
        obj = record["data"]
        obj[self.status_field] = status
        props = self.synth.props(self.type_schemas.get(type_))[0]
        for field in self.cfg.get("status_times", {}).get(status, ()):
            if field in props:
                obj[field] = int(time.time())
        obj.update({k: v for k, v in (record.get("later") or {}).get(status, {}).items() if k in props})
        then = self.cfg.get("on_status", {}).get(type_, {}).get(status)
        if then:
            fields = {**then.get("fields", {}), **{k: obj.get(src) for k, src in then.get("link", {}).items()}}
            new = self._object(then["create"], self.type_schemas.get(then["create"]), fields, record["scope"])
            self._store(state, then["create"], new, record["scope"])
            events.append((f"{then['create']}.created", new))
        job = self.cfg.get("line_jobs", {}).get(type_)
        if job and status == job["at"]:
            self._run_lines(state, obj, job)
        spec = self.cfg.get("attach", {}).get(type_)
        if spec:  # the objects inside it still on their way move with it, where the status is one of theirs
            steps = self.cfg.get("progress", {}).get(spec["create"], [])
            takes = self.synth.prop(self.type_schemas.get(spec["create"]), self.status_field)
            for item in self._items(state, type_, record, spec):
                if item["data"].get(self.status_field) in steps[:-1] and self.synth.valid(takes, status):
                    self._set_status(state, spec["create"], item, status, events)
            self._count(state, type_, record)
        events.append((f"{type_}.{status}", copy.deepcopy(obj)))

    # -- objects inside an object: listed by id when it is created, counted by status --
    def _attach(self, state: dict[str, Any], type_: str, record: dict[str, Any], body: Mapping[str, Any]) -> None:
        """One `create` object inside the new object per id its body's `field` lists, as `attach` declares.

        Each is scoped by the object's own path parameter (so the list
        under it finds it), and takes the id it was given where `id_from` says so.
        """
        spec = self.cfg.get("attach", {}).get(type_)
        ids = body.get(spec["field"]) if spec else None
        if isinstance(ids, str) and "text" in spec:
            ids = [ids]
        if not isinstance(ids, list) or type_ not in self.own_param:
            return
        scope = {**record["scope"], self.own_param[type_]: record["data"]["id"]}
        self._hold(state, spec, ids, scope)
        self._count(state, type_, record)

    def _hold(self, state: dict[str, Any], spec: Mapping[str, Any], values: list[Any],
              scope: Mapping[str, str]) -> list[dict[str, Any]]:
        """One `create` object per value: an id given (as `id_from` says), the fields of an object given,
        or, as `text` says, text given as that `field` of an object with its `with` fields."""
        child, key, text = spec["create"], self.cfg.get("id_from", {}).get(spec["create"]), spec.get("text")
        out = []
        for value in (dict.fromkeys(v for v in values if isinstance(v, str)) if key else values):
            if isinstance(value, dict):
                fields = value
            elif isinstance(value, str) and (key or text):
                fields = {key: value} if key else {**text.get("with", {}), text["field"]: value}
            else:
                continue
            obj = self._object(child, self.type_schemas.get(child), fields, scope)
            if key:
                obj["id"] = value
            out.append(self._store(state, child, obj, scope))
        return out

    def _items(self, state: dict[str, Any], type_: str, record: dict[str, Any],
               spec: Mapping[str, Any]) -> list[dict[str, Any]]:
        own, ident = self.own_param.get(type_), _ident(record["data"])
        return [r for r in state["objects"].get(spec["create"], {}).values() if own and r["scope"].get(own) == ident]

    def _count(self, state: dict[str, Any], type_: str, record: dict[str, Any]) -> None:
        """Tally the objects inside this one by status in its `counts` field (the keys its schema gives), and total."""
        spec = self.cfg.get("attach", {}).get(type_)
        if not spec or "counts" not in spec:
            return
        keys = list(self.synth.props(self.synth.prop(self.type_schemas.get(type_), spec["counts"]))[0])
        old = record["data"].get(spec["counts"])
        counts = {k: 0 for k in (old if isinstance(old, dict) and old else keys)}
        items = self._items(state, type_, record, spec)
        for item in items:
            status = item["data"].get(self.status_field)
            if status in counts and status != spec.get("total"):
                counts[status] += 1
        if spec.get("total"):
            counts[spec["total"]] = len(items)
        record["data"][spec["counts"]] = counts

    # -- batch jobs: request lines answered through the sandbox's own routes ----
    def _run_lines(self, state: dict[str, Any], obj: dict[str, Any], job: Mapping[str, Any]) -> None:
        """Answer each line of the object's input file; keep 2xx answers and the others as two files.

        Line and answer fields are the batch interface's (`connector.batch`),
        so the sandbox reads what the engine writes and writes what it reads.
        """
        source = state["objects"].get(job["file_type"], {}).get(obj.get(job["input"]) or "")
        content = base64.b64decode(source["content"]) if source and source.get("content") else b""
        answers: dict[str, list[bytes]] = {"output": [], "errors": []}
        for raw in content.splitlines():
            if raw.strip():
                status, line = self._run_line(state, raw, obj.get(job["endpoint"]), job)
                answers["output" if 200 <= status < 300 else "errors"].append(json.dumps(line).encode() + b"\n")
        for key, lines in answers.items():
            if lines:  # as the API does, no file for an empty side
                data = b"".join(lines)
                name = job[key]["filename"].format(id=obj.get("id"))
                fields = {**self._file_fields({key: (name, data)}), **job.get("file_fields", {})}
                file = self._object(job["file_type"], self.type_schemas.get(job["file_type"]), fields, {})
                obj[job[key]["field"]] = self._store(state, job["file_type"], file, {}, data)["data"]["id"]
        counts = job["counts"]
        done, failed = len(answers["output"]), len(answers["errors"])
        obj[counts["field"]] = {counts["total"]: done + failed, counts["ok"]: done, counts["failed"]: failed}

    def _run_line(self, state: dict[str, Any], raw: bytes, endpoint: Any,
                  job: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """One request line dispatched as if it were a request; its answer line in the batch answer format."""
        fields, answer = self.batch["line"], self.batch["answer"]
        try:
            line = json.loads(raw)
        except ValueError:
            line = None
        custom_id = line.get(self.batch["custom_id_field"]) if isinstance(line, dict) else None
        try:
            if not isinstance(line, dict):
                raise self._error(400, "bad_json")
            for key in ("method", "url", "body"):
                if fields[key] not in line:
                    raise self._error(400, "missing", param=fields[key])
            method, url, body = (line[fields[key]] for key in ("method", "url", "body"))
            parts = urlsplit(str(url))
            if parts.path != endpoint:
                raise self._error(400, "line_url", param=fields["url"], url=url, endpoint=endpoint)
            # The url is relative to the API's root: the part of the base path it repeats is not said twice.
            root = self.base_path
            while root and not parts.path.startswith(root + "/"):
                root = root[root.find("/", 1):] if root.find("/", 1) > 0 else ""
            route, params = self._route(str(method), self.base_path + parts.path[len(root):])
            payload, _ = self._handle(route, state, params, _query(parts.query),
                                      json.dumps(body).encode(), "application/json", batched=True)
            status, reply = 200, json.loads(payload)
        except _Reply as exc:
            status, reply = exc.status, exc.body
        out: dict[str, Any] = {}
        _put(out, job["answer_id"]["field"], _new_id(job["answer_id"]["prefix"]))
        _put(out, self.batch["custom_id_field"], custom_id)
        _put(out, answer["status"], status)
        if answer.get("request_id"):
            _put(out, answer["request_id"], _request_id())
        _put(out, answer["body"], reply)
        _put(out, answer["error"], None)  # for failures outside HTTP, which the sandbox does not have
        return status, out

    # -- answers ----------------------------------------------------------------
    def _error(self, status: int, which: str, param: str | None = None, **fill: Any) -> _Reply:
        errors = self.cfg.get("errors", {})
        spec = errors.get(which, {"message": _OWN_WORDING.get(which, which)})
        body: Any = {"message": spec["message"].format(param=param, **fill), "type": errors.get("type"),
                     "param": param, "code": spec.get("code")}
        for key in reversed(self.error_path):
            body = {key: body}
        return _Reply(status, body)

    def _response(self, request: requests.PreparedRequest, status: int, payload: bytes, content_type: str,
                  headers: Mapping[str, str] | None = None) -> requests.Response:
        resp = requests.Response()
        resp.status_code, resp.reason = status, http.client.responses.get(status, "")
        resp.headers = CaseInsensitiveDict({"Content-Type": content_type, "Content-Length": str(len(payload)),
                                            self.rid_header: _request_id(), **(headers or {})})
        resp.raw, resp.url, resp.request, resp.encoding = io.BytesIO(payload), request.url or "", request, "utf-8"
        resp.connection = self
        return resp

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        """Answer one request as the API would, from the descriptors and the state."""
        parts = urlsplit(request.url or "")
        raw = request.body
        data = None if raw is None else raw.encode() if isinstance(raw, str) else bytes(raw) \
            if isinstance(raw, (bytes, bytearray)) else b"".join(bytes(chunk) for chunk in raw)
        wait = timeout[1] if isinstance(timeout, (tuple, list)) else timeout
        with self._locked(max(0.0, float(wait)) if isinstance(wait, (int, float)) else None) as path:
            try:
                route, params = self._route(request.method or "", parts.path)
                state, before = self._load(path)
                payload, ctype = self._handle(route, state, params, _query(parts.query), data,
                                              request.headers.get("Content-Type", ""))
                self._save(path, state, before)
            except _Reply as reply:
                return self._response(request, reply.status, json.dumps(reply.body).encode(), "application/json")
        headers = {}
        if route.action.name in self._poll_headers and self.cfg.get("poll_after_ms") is not None:
            headers[self._poll_headers[route.action.name]] = str(self.cfg["poll_after_ms"])
        return self._response(request, 200, payload, ctype, headers)

    def _route(self, method: str, full_path: str) -> tuple[_Route, dict[str, str]]:
        """The route answering METHOD PATH (PATH as sent, under the base URL) and its path parameters."""
        path = full_path[len(self.base_path):] if full_path.startswith(self.base_path) else full_path
        for route in self.routes:
            match = route.regex.match(path) if route.action.method == method else None
            if match:
                return route, dict(zip(route.holes, (unquote(g) for g in match.groups())))
        raise self._error(404, "no_route", method=method, path=full_path)

    def _handle(self, route: _Route, state: dict[str, Any], params: dict[str, str], query: dict[str, list[str]],
                data: bytes | None, ctype: str, batched: bool = False) -> tuple[bytes, str]:
        """The answer's bytes and content type; `batched` requests (lines of a batch file) cannot stream."""
        body, files, wire = self._body(route, data, ctype)
        # A templated body as sent (`{"user": {...}}`) fills the object's fields of those names too.
        sent = {k: v for k, v in wire.items() if k not in body} if wire is not body else {}
        switch, value = route.action.stream_param, route.action.stream_value
        asked = body.get(switch) if switch in body else query.get(switch, [None])[-1] if switch else None
        streams = switch is not None and (asked == value if switch in body else asked == json.dumps(value).strip('"'))
        if streams and batched:
            raise self._error(400, "line_stream", param=route.action.stream_param)
        target = params.pop(route.holes[-1]) if route.kind in _ITEM_KINDS else None
        found = [self._find(state, route.parents[n], v, {}) for n, v in params.items() if n in route.parents]
        for name, type_ in self.cfg.get("ids", {}).items():  # ids in the body must name stored objects
            value = body.get(name)
            for ident in value if isinstance(value, list) else [value]:
                if isinstance(ident, str):
                    self._find(state, type_, ident, {})
        schema = route.action.response_schema
        if route.kind == "list":
            return json.dumps(self._list(route, state, params, query, body)).encode(), "application/json"
        if route.kind == "binary" and streams:  # a download asked for as events: the stream's events alone
            return self._stream(route, state, {"data": {}, "scope": {}}, body, [], query), "text/event-stream"
        if route.kind == "binary":  # the bytes of the object named in the path, else made up from the request
            content = found[-1].get("content") if found else None
            if not content and route.action.name in self.cfg.get("audio", {}).get("actions", ()):
                return self._audio(route.action, body)
            data = base64.b64decode(content) if content else json.dumps(body, sort_keys=True, default=str).encode()
            return data, self.cfg.get("binary_content_type", "application/octet-stream")
        events: list[tuple[str | None, Any]] = []
        if route.kind == "create":
            scope, inherited = dict(params), self._inherited(state, route.type, body)
            for name, ptype in self.parents.get(route.type, {}).items():
                if name not in scope:  # an enclosing object the call creates along the way
                    parent = self._object(ptype, self.type_schemas.get(ptype), {}, {})
                    scope[name] = _ident(self._store(state, ptype, parent, {})["data"]) or ""
                    events.append((f"{ptype}.created", parent))
            fields = {**inherited, **sent, **body, **self._file_fields(files)}
            obj = self._object(route.type, schema, fields, scope, body)
            key = self.cfg.get("id_from", {}).get(route.type)
            if key and isinstance(body.get(key), str):
                obj["id"] = body[key]
            record = self._store(state, route.type, obj, scope, next(iter(files.values()))[1] if files else None)
            self._attach(state, route.type, record, body)
            steps, switch = self.cfg.get("progress", {}).get(route.type, []), \
                self.cfg.get("progress_if", {}).get(route.type)
            if steps and switch and not body.get(switch):  # done at once unless the request asks to wait
                self._set_status(state, route.type, record, steps[-1], [])
            later = self.cfg.get("status_fields", {}).get(route.type)
            if later:  # filled now, while the request is at hand; set when the status is reached
                given = {**body, **{k: v for k, v in obj.items() if v not in (None, "")}}
                record["later"] = {status: {k: _fill(t, given) for k, t in sets.items()}
                                   for status, sets in later.items()}
        elif route.kind == "many":  # one object per item of the declared field, answered as a list of them
            spec = {"field": self.cfg["many"][route.type], "create": route.type}
            data = [r["data"] for r in self._hold(state, spec, body.get(spec["field"]) or [], params)]
            lister = next(r for r in self.routes
                          if r.kind == "list" and _shape(r.action.path) == _shape(route.action.path))
            cursor = _Cursor(lister.action.pagination)
            page = self.synth.value(schema, None, body, want=True) if schema else {}
            page = {**(page if isinstance(page, dict) else {}), cursor.items: data}
            fields = self.synth.props(schema)[0]
            for key, value in ((cursor.has_more, False), (cursor.prev_field, data[0]["id"] if data else None),
                               (cursor.next_field, data[-1]["id"] if data else None)):
                if key in fields and (value is not None or self.synth.valid(fields[key], None)):
                    page[key] = value
            return json.dumps(page).encode(), "application/json"
        elif route.kind == "synth":  # with no schema to follow, the answer says back what was sent
            shape = self.synth.resolve(schema)
            if _kind(shape) == "array":  # a list: one item made from its items' schema, as an object is
                items = shape.get("items")
                data = [] if not self.synth.resolve(items) \
                    else [self._object(self.synth.type_of(items), items, {**sent, **body, **params}, {}, body)] \
                    if _kind(self.synth.resolve(items)) in ("object", None) \
                    else [self.synth.value(items, None, body, want=True)]
            else:
                data = self._object(route.type, schema, {**sent, **body, **params}, {}, body) if schema \
                    else copy.deepcopy(body)
            record = {"data": data, "scope": {}}
        else:
            record = self._find(state, route.type, target, params)
            if route.kind == "delete":
                kept = state["objects"][route.type]
                del kept[next(key for key, r in kept.items() if r is record)]
                holder = [r for n, r in zip([n for n in params if n in route.parents], found)
                          if route.parents[n] == self.synth.type_of(schema)]
                if holder:  # a delete that answers with the object the deleted one was inside
                    return json.dumps(holder[-1]["data"]).encode(), "application/json"
                return json.dumps(self._deleted(route, schema, target, body)).encode(), "application/json"
            steps = self.cfg.get("progress", {}).get(route.type, [])
            status = record["data"].get(self.status_field)
            if route.kind == "retrieve" and status in steps[:-1]:  # one step further on every poll
                self._set_status(state, route.type, record, steps[steps.index(status) + 1], [])
            elif route.kind != "retrieve":
                self._echo(record["data"], self.synth.props(schema)[0], sent, merge=True)
                self._echo(record["data"], self.synth.props(schema)[0], body)
                verb = self.cfg.get("verbs", {}).get(route.verb or "", {})
                if "status" in verb:
                    self._set_status(state, route.type, record, verb["status"], [])
                spec = self.cfg.get("assemble", {}).get(route.type, {}).get(route.verb or "")
                if spec:
                    self._assemble(state, record["data"], spec, body.get(spec["parts"]) or [],
                                   {route.holes[-1]: target})
            self._count(state, route.type, record)  # the objects inside it may have moved on their own
        if streams:
            return self._stream(route, state, record, body, events, query), "text/event-stream"
        answer = record["data"] if route.kind in ("create", "synth") else self._shaped(schema, record["data"])
        return json.dumps(answer).encode(), "application/json"

    def _audio(self, action: Any, body: Mapping[str, Any]) -> tuple[bytes, str]:
        """Audio in the format the request names (else its default), with that format's content type.

        `wav` and `pcm` are real: a soft tone, 16-bit little-endian mono at
        `rate` Hz, `seconds_per_char` per character of the text over the
        speed, at most `max_seconds`. Formats the standard library cannot
        write are the declared `placeholder` text, which says what it is.
        """
        spec = self.cfg["audio"]
        param = next((p for p in action.params if p.wire == spec["format"]), None)
        fmt = body.get(spec["format"]) or ((param.schema or {}).get("default") if param else None) or ""
        ctype = spec.get("content_types", {}).get(fmt) or self.cfg.get("binary_content_type",
                                                                       "application/octet-stream")
        if fmt not in ("wav", "pcm"):
            text = spec.get("placeholder", "SANDBOX PLACEHOLDER AUDIO ({format})\n")
            return text.replace("{format}", str(fmt)).encode("utf-8"), ctype
        rate, text, speed = int(spec.get("rate", 24000)), body.get(spec.get("text", "")), body.get(spec.get("speed"))
        speed = float(speed) if isinstance(speed, (int, float)) and not isinstance(speed, bool) and speed > 0 else 1.0
        seconds = len(text) if isinstance(text, str) else 0
        seconds = min(seconds * float(spec.get("seconds_per_char", 0.06)) / speed, float(spec.get("max_seconds", 60)))
        frames, period = round(rate * seconds), max(2, rate // 400)  # a tone near 400 Hz: whole periods repeat
        cycle = array.array("h", (int(3000 * math.sin(2 * math.pi * i / period)) for i in range(period)))
        if sys.byteorder == "big":  # samples are little-endian on the wire
            cycle.byteswap()
        samples = (cycle.tobytes() * (frames // period + 1))[:2 * frames]
        if fmt == "pcm":
            return samples, ctype
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(samples)
        return out.getvalue(), ctype

    def _inherited(self, state: dict[str, Any], type_: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Fields a new object takes from an object it names (which must exist), as `inherit` declares."""
        out: dict[str, Any] = {}
        for ref, fields in self.cfg.get("inherit", {}).get(type_, {}).items():
            if isinstance(body.get(ref), str) and ref in self.refs:
                source = self._find(state, self.refs[ref], body[ref], {})["data"]
                out.update({f: source[f] for f in fields if source.get(f) is not None})
        return out

    def _deleted(self, route: _Route, schema: Any, target: str, body: Mapping[str, Any]) -> dict[str, Any]:
        deleted = self.cfg.get("deleted", {})
        out = self.synth.value(schema, None, body, want=True) if schema else {}
        out = {**(out if isinstance(out, dict) else {}), "id": target}
        if "flag" in deleted:
            out[deleted["flag"]] = True
        if not out.get("object"):
            out["object"] = (route.type or "") + deleted.get("suffix", "")
        return out

    def _assemble(self, state: dict[str, Any], obj: dict[str, Any], spec: Mapping[str, Any], parts: list[str],
                  scope: Mapping[str, str]) -> None:
        """Join the contents of the named parts (this object's own, in the order named) into a new stored object.

        As `assemble` declares: the parts are of the type `ids` gives their
        field; the new object takes the `copy` fields of this one.
        """
        found = [self._find(state, self.refs[spec["parts"]], part, scope) for part in parts]
        content = b"".join(base64.b64decode(p["content"]) if p.get("content") else b"" for p in found)
        fields = {name: obj[name] for name in spec.get("copy", ()) if name in obj}
        new = self._object(spec["create"], self.type_schemas.get(spec["create"]), fields, {})
        obj[spec["field"]] = copy.deepcopy(self._store(state, spec["create"], new, {}, content)["data"])

    def _file_fields(self, files: Mapping[str, tuple[str, bytes]]) -> dict[str, Any]:
        if not files:
            return {}
        filename, content = next(iter(files.values()))
        info = {"filename": filename, "size": len(content)}
        return {field: info[source] for field, source in self.cfg.get("file_fields", {}).items() if source in info}

    def _stream(self, route: _Route, state: dict[str, Any], record: dict[str, Any], body: Mapping[str, Any],
                events: list[tuple[str | None, Any]], query: Mapping[str, list[str]]) -> bytes:
        """Chunks of the declared chunk schema; else the object's lifecycle events, then the done event
        (or, for a framing that ends on a terminal event, the events `event_streams` declares for it)."""
        framing = route.action.framing
        done = framing.done if framing is not None else None
        chunk_schema = self.cfg.get("stream_schemas", {}).get(route.action.name)
        terminal = (framing.spec.get("terminal_events") or [None])[0] if framing is not None else None
        if done is None and terminal in self.cfg.get("event_streams", {}):
            return self._events(route, state, record, query, terminal)
        if chunk_schema:  # the content first, then a chunk that only says why it ended
            ref = {"$ref": "#/schemas/" + chunk_schema}
            first = self._object(self.synth.type_of(ref), ref, {**body, "id": record["data"].get("id")}, {}, body)
            last = copy.deepcopy(first)
            final = self.cfg.get("stream_final", ())
            for head, tail in zip(first.get("choices") or (), last.get("choices") or ()):
                for key, prop in self.synth.props(self.synth.prop(ref, "choices").get("items"))[0].items():
                    if key in final and self.synth.valid(prop, None):
                        head[key], tail[key] = None, self.synth.value(prop, key, body, want=True)
                    elif isinstance(tail.get(key), dict):
                        tail[key] = {}
            events, end_event = [(None, first), (None, last)], None
        else:
            events.append((f"{route.type}.created", copy.deepcopy(record["data"])))
            steps = self.cfg.get("progress", {}).get(route.type or "", [])
            status = record["data"].get(self.status_field)
            for step in steps[steps.index(status) if status in steps else 0:]:
                self._set_status(state, route.type or "", record, step, events)
            end_event = self.cfg.get("done_event")
        if done is not None:
            events.append((end_event, done))
        return "".join((f"event: {name}\n" if name else "") + "data: " + (data if isinstance(data, str) else
                       json.dumps(data)) + "\n\n" for name, data in events).encode()

    def _events(self, route: _Route, state: dict[str, Any], record: dict[str, Any],
                query: Mapping[str, list[str]], terminal: str) -> bytes:
        """The object's events, numbered: `start` events, the reply's text in `delta` events, then the
        terminal event with the finished object; after the number the `after` query parameter gives.

        Each event's data is of its declared schema, with the event's name in the framing's `event_field`
        and the object in the field of the object's schema (else its fields in the event's own).
        The events follow from the stored object alone, so a stream asked for again replays the same ones.
        """
        spec, obj = self.cfg["event_streams"][terminal], record["data"]
        steps = self.cfg.get("progress", {}).get(route.type or "", [])
        status = obj.get(self.status_field)
        for step in steps[steps.index(status) + 1 if status in steps else len(steps):]:
            self._set_status(state, route.type or "", record, step, [])
        name_field, seq, delta = route.action.framing.spec.get("event_field", "type"), spec.get("sequence"), \
            spec.get("delta", {})
        pieces = re.findall(r"\S+\s*", str(self.cfg.get("values", {}).get("text", ""))) if delta else []
        start = list(spec.get("start", ()))
        names = [*start, *[delta.get("event")] * len(pieces), terminal]
        after = query.get(spec.get("after", ""), [None])[-1]
        first = int(after) + 1 if after is not None and after.lstrip("-").isdigit() else 0
        own = (route.action.response_schema or {}).get("$ref")
        out = []
        for n, name in list(enumerate(names))[max(first, 0):]:
            ref = {"$ref": "#/schemas/" + spec["events"][name]} if name in spec.get("events", {}) else None
            now = copy.deepcopy(obj)
            if name != terminal:  # the object as it began (`begin`), in the status the event announces
                now.update({k: copy.deepcopy(v) for k, v in spec.get("begin", {}).items() if k in now})
                said = name.rsplit(".", 1)[-1]
                if steps and self.status_field in now:
                    now[self.status_field] = said if said in steps else steps[0]
            holder = next((k for k, p in self.synth.props(ref)[0].items() if own and p.get("$ref") == own), None)
            fields = {**({holder: now} if holder else now), name_field: name, **({seq: n} if seq else {})}
            if name == delta.get("event"):  # a word of the reply, and which item of the object it is in
                fields[delta["field"]] = pieces[n - len(start)]
                held = obj.get(delta.get("of", "")) if isinstance(obj.get(delta.get("of", "")), list) else []
                if delta.get("item") and held and isinstance(held[0], dict) and "id" in held[0]:
                    fields[delta["item"]] = held[0]["id"]
            out.append((name, self._object(None, ref, fields, {}) if ref else fields))
        return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in out).encode()

    # -- lists ------------------------------------------------------------------
    # (_Cursor below reads a paginator block the way a server would: which params and fields it uses.)
    def _list(self, route: _Route, state: dict[str, Any], scope: Mapping[str, str],
              query: Mapping[str, list[str]], body: Mapping[str, Any]) -> Any:
        """A page of the stored objects of the route's type; with no type known, an empty page in the style's shape."""
        action, spec, schema = route.action, self.paging[route.action.name], route.action.response_schema
        q = {name: self._query_value(action, name, values) for name, values in query.items()}
        items_schema = self._items_schema(schema, spec) or self.type_schemas.get(route.type or "")
        limit_param = action.by_name.get("limit")
        limit = self._given(action, "limit", q, body) or (limit_param.schema.get("default") if limit_param else None)
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 20
        out = self.synth.value(schema, None, q, want=True) if schema else {}
        if "buckets" in self.cfg and action.pagination_name == self.cfg["buckets"].get("pagination") and schema:
            return self._buckets(route, q, out, items_schema)
        records = [r for r in state["objects"].get(route.type or "", {}).values()
                   if all(r["scope"].get(k) == v for k, v in scope.items())]
        where, listed = json.dumps([route.type, scope], sort_keys=True), state.setdefault("listed", [])
        if route.type and route.type not in self.creatable | set(self.cfg.get("seed", {})) and where not in listed:
            # Objects no action creates (events, steps, checkpoints...) appear when first listed, once.
            listed.append(where)
            records.append(self._store(state, route.type, self._object(route.type, items_schema, {}, scope), scope))
        props = self.synth.props(items_schema)[0]
        filters = {k: v for k, v in q.items() if k in props and not isinstance(v, (list, dict))}
        records = [r for r in records if all(r["data"].get(k) == v for k, v in filters.items())]
        order_param = action.by_name.get("order")
        order = q.get("order") or (order_param.schema.get("default") if order_param else "asc")
        records.sort(key=lambda r: r["seq"], reverse=order == "desc")
        ids = [_ident(r["data"]) for r in records]
        page, more = records, False
        cursor = _Cursor(spec)
        if spec["type"] == "cursor" and cursor.param:  # else (a next URL, a header) every item on one page
            # A cursor is an item's id: the one the page starts after (or ends before), wherever it is sent.
            after, before = (self._given(action, name, q, body) for name in (cursor.param, cursor.reverse_param))
            after, before = (None if v is None else str(v) for v in (after, before))
            if after is not None:
                start = ids.index(after) + 1 if after in ids else len(ids)
                page, more = records[start:start + limit], start + limit < len(records)
            elif before is not None:
                end = ids.index(before) if before in ids else 0
                page, more = records[max(0, end - limit):end], end - limit > 0
            else:
                page, more = records[:limit], limit < len(records)
        elif spec["type"] == "offset":  # every item on the first page (from the offset given), none after
            start = self._given(action, spec["offset"]["param"], q, body)
            page = records[max(start, 0):] if isinstance(start, int) and not isinstance(start, bool) else records
        elif spec["type"] == "page_number":
            number = self._given(action, spec["page"]["param"], q, body)
            page = records if number in (None, spec["page"].get("start", 1)) else []
        for record in page:
            self._count(state, route.type or "", record)
        data = [self._shaped(items_schema, r["data"]) for r in page]
        at = _steps(spec.get("items", "$"))
        if at == []:  # the body is the list
            return data
        if at is None:  # items at a list index (`a[0].b`): the page as its schema makes it
            return out
        out = out if isinstance(out, dict) else {}
        _put(out, ".".join(at), data)
        # Where the paginator reads on, as it reads it: the first and last items' ids (the next page's token
        # too, while more follow), whether more follow, how many there are in all.
        first, last = (page[0]["data"].get("id"), page[-1]["data"].get("id")) if page else (None, None)
        for key, value in ((cursor.has_more, more), (cursor.prev_field, first),
                           (cursor.next_field, last if cursor.by_item or more else None),
                           (spec.get("total") if spec["type"] == "offset" else None, len(records)),
                           (spec.get("total_pages") if spec["type"] == "page_number" else None, 1)):
            if not isinstance(key, str) or not _steps(key):  # none declared, a template or not a plain path
                continue
            field = self._at(schema, key) if schema else {}
            if field is not None and (value is not None or not schema or self.synth.valid(field, None)):
                _put(out, ".".join(_steps(key)), value)
        # What the paginator's templates read of the page (`{{ response.body.meta.total }}`), where the
        # schema has it and the page does not yet: made from the schema.
        for key in _reads(spec):
            field = self._at(schema, key) if schema else None
            if field is not None and Path(key).get(out) is MISSING:
                _put(out, key, self.synth.value(field, key.rsplit(".", 1)[-1], q, want=True))
        return out

    def _given(self, action: Any, name: str | None, query: Mapping[str, Any], body: Mapping[str, Any]) -> Any:
        """The value the request gives for the action param `name`: from the query or the body, by its wire name."""
        param = action.by_name.get(name) if name else None
        if param is None:
            return None
        return (query if param.location == "query" else body if param.location == "body" else {}).get(param.wire)

    def _items_schema(self, schema: Any, spec: Mapping[str, Any]) -> Any:
        """The schema of a list's items: the `items` of the array the paginator's `items` path leads to."""
        found = self._at(schema, spec.get("items", "$")) if schema else None
        return self.synth.resolve(found).get("items") if found is not None else None

    def _at(self, schema: Any, path: str) -> Any:
        """The schema of what a plain path (`a.b`, `$`) leads to, or None where the schema has no such field."""
        steps = _steps(path)
        if steps is None:
            return None
        node = schema
        for step in steps:
            props = self.synth.props(node)[0]
            if step not in props:
                return None
            node = props[step]
        return node

    def _buckets(self, route: _Route, q: Mapping[str, Any], out: dict[str, Any], items_schema: Any) -> dict[str, Any]:
        """Reports hold no state: a page of the bounded series of time buckets the query spans.

        The series runs from the query's start to its end (else `count`
        buckets), `width` apart, at most `max` buckets; the next page's token
        spells the start of its first bucket, so any process can continue it.
        """
        spec, b = _Cursor(route.action.pagination), self.cfg["buckets"]
        width_param = route.action.by_name.get(b["width"])
        width_name = q.get(b["width"]) or (width_param.schema.get("default") if width_param else None)
        if width_name not in b["widths"]:
            raise self._error(400, "invalid", param=b["width"], detail=f"{width_name!r} is not a bucket width")
        width, start, end = b["widths"][width_name]["seconds"], q[b["start"]], q.get(b["end"])
        count = min(b["max"], b["count"] if end is None else max(0, -(-(end - start) // width)))
        limit = q.get("limit") or b["widths"][width_name]["limit"]
        if limit < 1:
            raise self._error(400, "invalid", param="limit", detail=f"{limit} is less than 1")
        first, token = 0, q.get(spec.param)
        if token is not None:
            first = self._token_start(token, b["token_prefix"])
            if first is None or (first - start) % width or not 0 <= (first - start) // width < count:
                raise self._error(400, "invalid", param=spec.param, detail="not a page of this query")
            first = (first - start) // width
        stop = min(first + limit, count)
        out[spec.items] = [self._object(route.type, items_schema, {**q, b["start"]: start + i * width,
                                                                      b["end"]: start + (i + 1) * width}, {})
                              for i in range(first, stop)]
        out[spec.has_more] = stop < count
        if stop < count:
            token = base64.b64encode((start + stop * width).to_bytes(8, "big")).decode()
            out[spec.next_field] = b["token_prefix"] + token
        elif self.synth.valid(self.synth.prop(route.action.response_schema, spec.next_field), None):
            out[spec.next_field] = None  # else the schema's own value: it takes no null
        return out

    @staticmethod
    def _token_start(token: str, prefix: str) -> int | None:
        if not token.startswith(prefix):
            return None
        try:
            raw = base64.b64decode(token[len(prefix):], validate=True)
        except ValueError:
            return None
        return int.from_bytes(raw, "big") if len(raw) == 8 else None

    def _query_value(self, action: Any, name: str, values: list[str]) -> Any:
        param = next((p for p in action.params if p.wire == name and p.location == "query"), None)
        kind = (param.schema or {}).get("type") if param else None
        if kind == "array":
            return values
        if kind == "integer":
            try:
                return int(values[-1])
            except ValueError:
                raise self._error(400, "invalid", param=name, detail=f"{values[-1]!r} is not an integer") from None
        return values[-1]

    # -- request bodies ---------------------------------------------------------
    def _body(self, route: _Route, data: bytes | None,
              ctype: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The body's fields, its file parts as (filename, bytes), and the body as sent, checked as the API
        checks them.

        A templated body is read back through its template: the fields are what sits where it puts
        `{{ body }}` (`{"user": {...}}` -> the user's fields), checked as any body's are. A
        template that places them otherwise cannot be read back: its body is taken unchecked.
        """
        if data is None:
            return {}, {}, {}
        fields: dict[str, Any] = {}
        files: dict[str, Any] = {}
        form = False
        if ctype.startswith("multipart/"):
            message = BytesParser(policy=_email_policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + data)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename() is not None:
                    files[name] = (part.get_filename(), payload)
                else:
                    fields.setdefault(name, []).append(payload.decode("utf-8"))
            fields = {k: self._form_value(route, k, v) for k, v in fields.items()}
        elif ctype.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            fields, form = self._form(data), True
        elif self._raw_param(route, ctype):  # a body that is one param's text (SDP, say), or a file's bytes
            name = self._raw_param(route, ctype)
            if name in route.body and route.body[name].file is not None:
                files = {name: (name, data)}
            else:
                fields = {name: data.decode("utf-8", "replace")}
        elif data:
            try:
                fields = json.loads(data)
            except ValueError:
                raise self._error(400, "bad_json") from None
            if not isinstance(fields, dict):
                raise self._error(400, "bad_json")
        wire = fields
        kind = "form" if form else "multipart" if ctype.startswith("multipart/") else "json"
        if kind in route.body_at:
            at, template = route.body_at[kind]
            if at is None:
                return fields, files, wire
            if at and isinstance(template, dict):  # beside the fields, only what the template itself writes
                for name in sorted(fields.keys() - template.keys()):
                    raise self._error(400, "unknown", param=name)
            inner: Any = fields
            for step in at:
                inner = inner.get(step) if isinstance(inner, dict) else inner[step] \
                    if isinstance(inner, list) and isinstance(step, int) and step < len(inner) else None
            fields = inner if isinstance(inner, dict) else {}
        if form:
            fields = {k: self._typed(route.body[k].schema if k in route.body else None, v) for k, v in fields.items()}
        for name in sorted(fields.keys() | files.keys()):
            if name not in route.body:
                raise self._error(400, "unknown", param=name)
        for name, param in route.body.items():
            present = name in (files if param.file is not None else fields)
            if param.required and not present:
                raise self._error(400, "missing", param=name)
            errors = self.synth.errors(param.schema, fields[name]) if present and param.file is None else None
            if errors:
                import jsonschema

                detail = jsonschema.exceptions.best_match(errors).message
                raise self._error(400, "invalid", param=name, detail=detail)
        return fields, files, wire

    @staticmethod
    def _raw_param(route: _Route, ctype: str) -> str | None:
        """The param a raw body of this content type carries, as the action's body (or a choice of it) says
        (any content type, where a template gives it)."""
        for body in _bodies(route.action):
            declared = str(body.get("content_type", ""))
            if body.get("type") == "raw" and body.get("param") and \
                    (is_template(declared) or ctype.split(";")[0].strip().lower() == declared.lower()):
                return body["param"]
        return None

    def _form_value(self, route: _Route, name: str, values: list[str]) -> Any:
        """A multipart text field as the schema takes it: the text, or the JSON it spells."""
        param = route.body.get(name)
        value: Any = values if param is not None and (param.schema or {}).get("type") == "array" else values[-1]
        if param is None or param.schema is None or self.synth.valid(param.schema, value):
            return value
        try:
            return json.loads(value) if isinstance(value, str) else [json.loads(v) for v in value]
        except ValueError:
            return value

    def _form(self, data: bytes) -> dict[str, Any]:
        """A form body's pairs as the fields they spell: `a[b][c]=`, `a[0]=`, `a[]=` and `a=&a=`, as forms are written.

        Values stay text here; `_typed` gives them the types the schema wants.
        """
        try:
            pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise self._error(400, "bad_form", detail="it is not UTF-8") from None
        out: dict[str, Any] = {}
        for key, value in pairs:
            m = _FORM_KEY.fullmatch(key)
            path = [m.group(1), *_FORM_SUB.findall(m.group(2))] if m else [key]
            if len(path) > _MAX_DEPTH:
                raise self._error(400, "bad_form", detail=f"a field is nested deeper than {_MAX_DEPTH} levels")
            node: Any = out
            for part, after in zip(path, path[1:] + [None]):
                if isinstance(node, list) != (part == ""):  # `a[]=` and `a[x]=` (or `a=`) for the same a
                    raise self._error(400, "bad_form", detail=f"{key!r} mixes a list with other fields")
                if after is None:
                    if part == "":
                        node.append(value)
                    elif part not in node:
                        node[part] = value
                    elif isinstance(node[part], dict):
                        raise self._error(400, "bad_form", detail=f"{key!r} is given as a value and as fields")
                    else:  # `a=1&a=2`: the values in order
                        node[part] = [*(node[part] if isinstance(node[part], list) else [node[part]]), value]
                    continue
                want: type = list if after == "" else dict
                child = want() if part == "" else node.setdefault(part, want())
                if part == "":
                    node.append(child)
                if not isinstance(child, want):
                    raise self._error(400, "bad_form", detail=f"{key!r} is given as a value and as fields")
                node = child
        return out

    def _typed(self, schema: Any, value: Any) -> Any:
        """Form text as the schema takes it: `a[0]=` objects as lists, and a number, boolean or JSON text parsed
        where the text itself does not fit; a repeated field the schema takes once is its last value."""
        if isinstance(value, dict):
            numbered = bool(value) and all(k.isdigit() for k in value)
            s = self._branch(schema, "array" if numbered else "object")
            if numbered and _kind(s) == "array":
                return [self._typed(s.get("items"), value[k]) for k in sorted(value, key=int)]
            props = self.synth.props(s)[0]
            extra = s.get("additionalProperties") if isinstance(s.get("additionalProperties"), dict) else None
            return {k: self._typed(props.get(k, extra), v) for k, v in value.items()}
        if isinstance(value, list):
            s = self._branch(schema, "array")
            if schema is not None and _kind(s) != "array":
                return self._typed(schema, value[-1])
            return [self._typed(s.get("items"), v) for v in value]
        if schema is None or self.synth.valid(schema, value):
            return value
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes: the text
            return value

    def _branch(self, schema: Any, kind: str) -> dict[str, Any]:
        """The schema, or of its alternatives the first of that kind (object or array)."""
        s = self.synth.resolve(schema)
        for alt in s.get("anyOf") or s.get("oneOf") or ():
            if _kind(self.synth.resolve(alt)) == kind:
                return self.synth.resolve(alt)
        return s

    def close(self) -> None:
        """Nothing to release: no connection was ever opened."""


class _Cursor:
    """The server's side of a cursor paginator block: the params it reads, the fields it writes."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.items: str = spec["items"]
        send, reverse = spec.get("send", {}), spec.get("reverse", {})
        self.param: str | None = send.get("param")
        self.reverse_param: str | None = reverse.get("param")
        self.next_field: str | None = spec.get("next", {}).get("body")
        self.prev_field: str | None = reverse.get("next", {}).get("body")
        self.has_more: str | None = spec.get("has_more")
        self.by_item = "last_item" in spec.get("next", {})  # the cursor is an item's id, not a token
