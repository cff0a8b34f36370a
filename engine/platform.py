"""What an integration platform asks of a connector, declared in the manifest so every connector has it.

- Connection checks (`connector.checks`): per credential, an action that proves it works;
  `Engine.check()` says, per credential, ok or why not (bad_key, wrong_kind, no_permission,
  network, missing, unexpected, error).
- Dynamic options (a param's `options`): the choices of a dropdown, read from a list action,
  every page followed, cached per Engine; `Engine.options(action, param, params_so_far)`.
- Polling triggers (`triggers:`): new items of a list, or objects that reached a status, as
  events shaped like webhook events; the caller keeps the state (plain JSON) between polls:
  `Engine.poll_trigger(name, state)`.
- Forms: a param's `title`, `help`, `advanced`, `secret`, `order` and `options` become standard
  keywords and `x-` extensions in `input_schema()`; `sample_output()` is a synthesized answer.

Everything here is compiled at load (templates with their file and line) and holds no
connector's own words: what differs between APIs is in the manifest.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, TextIO

from .components import Where
from .errors import (APIConnectionError, APIResponseError, APIStatusError, AuthenticationError, Error,
                     PermissionDeniedError, Problem, TriggerStateError, UnknownTriggerError,
                     ValidationError)
from .files import replace_file

if TYPE_CHECKING:
    from .client import Engine

__all__ = ["Check", "OptionSource", "Trigger", "attach", "check_rules", "run_checks", "options", "poll",
           "sample_output", "form_fields", "write_state", "read_state"]

STATE_VERSION = 1
DEFAULT_CACHE_SECONDS = 300.0
DEFAULT_MAX_ITEMS = 1000
MAX_CACHED = 256  # option lists an Engine keeps at once; the oldest goes first
_PARAM_NAMES = re.compile(r"\bparams\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


def _compile(source: Any, where: Where | None, what: str, names: Sequence[str]) -> Any:
    from .templates import compile as compile_template

    return compile_template(str(source), file=getattr(where, "file", None), line=getattr(where, "line", None),
                            where=f"{getattr(where, 'path', '')}/{what}".strip("/"), names=names)


def _compile_tree(node: Any, where: Where | None, names: Sequence[str]) -> Any:
    from .templates import compile_tree

    line = getattr(where, "line", None)
    return compile_tree(node, file=getattr(where, "file", None), lines=lambda _path: line, names=names)


def _depends_on(sources: Iterable[Any]) -> list[str]:
    """The `params.X` names templates read, in order of first use: the fields a form must fill first."""
    found: dict[str, None] = {}
    for source in sources:
        if isinstance(source, str):
            for m in _PARAM_NAMES.finditer(source):
                found[m.group(1) or m.group(2)] = None
    return list(found)


def _at(body: Any, path: str) -> Any:
    """The value at a dotted path (`data`, `result.items`); `$` is the whole answer."""
    if path == "$":
        return body
    for key in path.split("."):
        if not isinstance(body, Mapping) or key not in body:
            return None
        body = body[key]
    return body


# -- connection checks ---------------------------------------------------------------------------------------
class Check:
    """How one credential proves it works: an action called with it, and what its error answers mean."""

    def __init__(self, credential: str, spec: Mapping[str, Any], where: Where | None) -> None:
        self.credential = credential
        self.action: str = spec["action"]
        self.params: dict[str, Any] = dict(spec.get("params", {}))
        self.ok_when = _compile(spec["ok_when"], where, "ok_when", ("response",)) if "ok_when" in spec else None
        self.wrong_kind: list[dict[str, Any]] = [dict(r) for r in spec.get("wrong_kind", ())]

    def is_wrong_kind(self, exc: APIStatusError) -> bool:
        for rule in self.wrong_kind:
            statuses = rule["status"] if isinstance(rule["status"], list) else [rule["status"]]
            if exc.status_code not in statuses:
                continue
            if "code" in rule and exc.code != rule["code"]:
                continue
            if "error_type" in rule and exc.type != rule["error_type"]:
                continue
            if "message_contains" in rule and rule["message_contains"] not in (exc.message or ""):
                continue
            return True
        return False


def _failed(reason: str, message: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason, "message": message}


def run_checks(eng: "Engine", credentials: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each declared check (or those named), run once with no retries: `{credential: {"ok": True} | failure}`."""
    checks: Mapping[str, Check] = eng.manifest.checks
    names = list(checks) if credentials is None else list(credentials)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        check = checks.get(name)
        if check is None:
            raise Error(f"no check is declared for credential {name!r} (declared: {', '.join(checks) or 'none'})")
        out[name] = _run_check(eng, check)
    return out


def _run_check(eng: "Engine", check: Check) -> dict[str, Any]:
    action = eng.action(check.action)
    if eng._secrets.get(check.credential) is None:
        envs = eng.manifest.credentials[check.credential].env_names()
        how = f"set {' or '.join(envs)} or pass it" if envs else "pass it"
        return _failed("missing", f"the {check.credential!r} credential is not set: {how} as "
                                  f"Engine({check.credential}=...)")
    try:
        action.validator.validate(check.params)
        answer = eng._call(action, check.params, max_retries=0, credential=check.credential)
    except (AuthenticationError, PermissionDeniedError) as exc:
        if check.is_wrong_kind(exc):
            return _failed("wrong_kind", f"another kind of key was given: {exc}")
        return _failed("bad_key" if isinstance(exc, AuthenticationError) else "no_permission", str(exc))
    except APIStatusError as exc:
        if check.is_wrong_kind(exc):
            return _failed("wrong_kind", f"another kind of key was given: {exc}")
        return _failed("error", str(exc))
    except APIConnectionError as exc:
        return _failed("network", str(exc))
    except Error as exc:
        return _failed("error", str(exc))
    if check.ok_when is not None and not check.ok_when.render({"response": answer}):
        return _failed("unexpected", f"{action.name} answered, but not as a working {check.credential!r} "
                                     f"credential would (ok_when is false)")
    return {"ok": True}


# -- dynamic options -----------------------------------------------------------------------------------------
class OptionSource:
    """Where one param's choices come from: an action's items, turned into `{value, label}` by templates."""

    def __init__(self, spec: Mapping[str, Any], where: Where | None) -> None:
        names = ("item", "params")
        self.action: str = spec["action"]
        self.params = _compile_tree(spec.get("params", {}), where, ("params",))
        self.items: str | None = spec.get("items")
        self.value = _compile(spec.get("value", "{{ item.id }}"), where, "value", names)
        self.label = _compile(spec["label"], where, "label", names) if "label" in spec else None
        self.filter = _compile(spec["filter"], where, "filter", names) if "filter" in spec else None
        self.cache_seconds = float(spec.get("cache_seconds", DEFAULT_CACHE_SECONDS))
        self.max_items = int(spec.get("max_items", DEFAULT_MAX_ITEMS))
        self.depends_on = _depends_on([*_strings(spec.get("params", {})), spec.get("value"), spec.get("label"),
                                       spec.get("filter")])

    def marker(self) -> dict[str, Any]:
        """What `input_schema()` shows a form: ask `eng.options`, after filling these params."""
        return {"action": self.action, "depends_on": list(self.depends_on)}


def _strings(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, str):
            yield n
        elif isinstance(n, Mapping):
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)


class _Cache:
    """An Engine's option lists by (action, param, what they were read with), each until it expires."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, str, str], tuple[float, list[dict[str, Any]]]] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> list[dict[str, Any]] | None:
        with self.lock:
            found = self.entries.get(key)
            if found is None or found[0] <= time.monotonic():
                self.entries.pop(key, None)
                return None
            return [dict(o) for o in found[1]]

    def put(self, key: tuple[str, str, str], seconds: float, value: list[dict[str, Any]]) -> None:
        if seconds <= 0:
            return
        with self.lock:
            self.entries[key] = (time.monotonic() + seconds, [dict(o) for o in value])
            self.entries.move_to_end(key)
            while len(self.entries) > MAX_CACHED:
                self.entries.popitem(last=False)


_caches: "weakref.WeakKeyDictionary[Any, _Cache]" = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache_of(eng: "Engine") -> _Cache:
    with _caches_lock:
        cache = _caches.get(eng)
        if cache is None:
            cache = _caches[eng] = _Cache()
        return cache


def _items(eng: "Engine", action: Any, params: Mapping[str, Any], items_path: str | None,
           max_items: int) -> Iterator[Any]:
    """The items of a list action's answer: every page of a paginated one (up to max_items), else at `items`."""
    if action.paginator is not None and items_path is None:
        yield from eng.paginate(action.name, params, max_items=max_items)
        return
    answer = eng.run(action.name, params)
    found = _at(answer, items_path or "$")
    if not isinstance(found, list):
        raise APIResponseError(f"the answer holds no list at {items_path or '$'!r}", action=action.name)
    yield from found[:max_items]


def options(eng: "Engine", action_name: str, param: str,
            params_so_far: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The choices for `param` of an action (or a trigger), given the params filled so far: `[{"value", "label"}]`."""
    action = eng.manifest.triggers.get(action_name) or eng.action(action_name)
    p = action.by_name.get(param)
    if p is None or p.options is None:
        what = "no param" if p is None else "a param that declares no options:"
        raise ValidationError(action.name, [Problem(param, "options", f"{what} {param!r}")])
    source: OptionSource = p.options
    given = dict(params_so_far or {})
    context = {"params": given}
    call = {k: v for k, v in source.params.render(context).items() if v is not None}
    key = (action.name, param, json.dumps([call, {k: given.get(k) for k in source.depends_on}], sort_keys=True,
                                          default=str))
    cache = _cache_of(eng)
    found = cache.get(key)
    if found is not None:
        return found
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in _items(eng, eng.action(source.action), call, source.items, source.max_items):
        ctx = {"item": item, "params": given}
        if source.filter is not None and not source.filter.render(ctx):
            continue
        value = source.value.render(ctx)
        marker = json.dumps(value, sort_keys=True, default=str)
        if marker in seen:  # a list that shifted between pages repeats an item
            continue
        seen.add(marker)
        label = source.label.render(ctx) if source.label is not None else value
        out.append({"value": value, "label": str(label)})
    cache.put(key, source.cache_seconds, out)
    return out


# -- polling triggers ----------------------------------------------------------------------------------------
class Trigger:
    """A declared polling trigger: which list it reads, what counts as an event, and its state's shape."""

    def __init__(self, spec: Mapping[str, Any], manifest: Any, where: Where | None) -> None:
        from .manifest import Param

        names = ("item", "params")
        self.spec = spec
        self.manifest = manifest
        self.name: str = spec["name"]
        self.kind: str = spec["kind"]
        self.summary: str = spec.get("summary", "")
        self.action: str = spec["action"]
        self.params = [Param({**p, "in": "option"}) for p in spec.get("params", ())]
        self.by_name = {p.name: p for p in self.params}
        self.with_ = _compile_tree(spec.get("with", {}), where, ("params",))
        self.items: str | None = spec.get("items")
        self.id: str = spec.get("id", "id")
        self.order_by: str | None = spec.get("order_by")
        self.newest_first = bool(spec.get("newest_first", False))
        self.status: str = spec.get("status", "status")
        self.statuses: list[str] = list(spec.get("statuses", ()))
        self.filter = _compile(spec["filter"], where, "filter", names) if "filter" in spec else None
        self.event = _compile(spec.get("event", self.name), where, "event", names)
        first = spec.get("first_run", {"from": "now"})
        self.backfill: int | None = first.get("backfill")
        self.max_items = int(spec.get("max_items", DEFAULT_MAX_ITEMS))

    def __repr__(self) -> str:
        return f"<Trigger {self.name} {self.kind} on {self.action}>"

    def input_schema(self) -> dict[str, Any]:
        from .manifest import Action

        return Action.input_schema(self)  # type: ignore[arg-type]

    def _self_contained(self, schema: Any) -> dict[str, Any]:
        return self.manifest.self_contained(schema)


def _state_problem(trigger: Trigger, state: Any, params: Mapping[str, Any]) -> str | None:
    if not isinstance(state, Mapping):
        return f"is a {type(state).__name__}, not an object"
    if state.get("version") != STATE_VERSION:
        return f"has version {state.get('version')!r}; this engine reads version {STATE_VERSION}"
    if state.get("trigger") != trigger.name:
        return f"belongs to trigger {state.get('trigger')!r}, not {trigger.name!r}"
    if state.get("params", {}) != dict(params):
        return "was saved with other params: polling with these would report the wrong events"
    if trigger.kind == "new_items":
        last = state.get("last")
        ids = last.get("ids") if isinstance(last, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(i, (int, str)) and not isinstance(i, bool) for i in ids) \
                or not isinstance(last.get("at"), (int, float, str, type(None))) or isinstance(last.get("at"), bool):
            return "needs `last: {at: <time or null>, ids: [<id>, ...]}`"
    else:
        reported = state.get("reported")
        if not isinstance(reported, Mapping) or not all(isinstance(v, str) for v in reported.values()):
            return "needs `reported: {<id>: <status>}`"
    return None


def _order_key(trigger: Trigger, item: Any) -> Any:
    value = item.get(trigger.order_by) if isinstance(item, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise APIResponseError(f"an item has no {trigger.order_by!r} to order it by (trigger {trigger.name!r})",
                               action=trigger.action)
    return value


def _ident(trigger: Trigger, item: Any) -> Any:
    value = item.get(trigger.id) if isinstance(item, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise APIResponseError(f"an item has no {trigger.id!r} (trigger {trigger.name!r})", action=trigger.action)
    return value


def _before(a: Any, b: Any, trigger: Trigger) -> bool:
    try:
        return a < b
    except TypeError:
        raise APIResponseError(f"{trigger.order_by!r} values of different kinds cannot be ordered "
                               f"({type(a).__name__} and {type(b).__name__})", action=trigger.action) from None


def poll(eng: "Engine", name: str, state: Mapping[str, Any] | None = None,
         params: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One poll: the events since `state` (oldest first) and the state to keep for the next poll.

    `state` None (or {}) is the first poll, which reports what `first_run` declares. The caller
    saves the new state only once it has handled the events: a poll repeated from the old state
    reports the same events again, with the same ids.
    """
    trigger: Trigger | None = eng.manifest.triggers.get(name)
    if trigger is None:
        import difflib

        close = difflib.get_close_matches(name, list(eng.manifest.triggers), n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else \
            f" (triggers: {', '.join(eng.manifest.triggers) or 'none'})"
        raise UnknownTriggerError(f"unknown trigger {name!r}{hint}")
    given = dict(params or {})
    from .params import ParamValidator

    ParamValidator(trigger).validate(given)  # type: ignore[arg-type]
    first = not state
    if not first:
        problem = _state_problem(trigger, state, given)
        if problem:
            raise TriggerStateError(f"trigger {name!r}: the state {problem}")
    action = eng.action(trigger.action)
    call = {k: v for k, v in given.items() if k in action.by_name}
    call.update({k: v for k, v in trigger.with_.render({"params": given}).items() if v is not None})

    def keep(item: Any) -> bool:
        return trigger.filter is None or bool(trigger.filter.render({"item": item, "params": given}))

    walk = _new_items if trigger.kind == "new_items" else _status_reached
    events, new = walk(eng, trigger, action, call, None if first else state, keep, given)
    return events, {"version": STATE_VERSION, "trigger": trigger.name, "params": given, **new}


def _event(trigger: Trigger, ident: Any, suffix: str, created_at: Any, item: Any,
           params: Mapping[str, Any]) -> dict[str, Any]:
    kind = trigger.event.render({"item": item, "params": params})
    return {"id": f"{trigger.name}:{ident}{suffix}", "type": str(kind), "created_at": created_at, "data": item}


def _new_items(eng: "Engine", trigger: Trigger, action: Any, call: Mapping[str, Any],
               state: Mapping[str, Any] | None, keep: Callable[[Any], bool],
               params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Items newer than the last one seen; ties at the last time are told apart by the ids kept with it."""
    last = state["last"] if state else None
    since, seen_at = (last["at"], set(last["ids"])) if last else (None, set())
    collected: list[tuple[Any, Any, Any]] = []  # (time, id, item)
    ids: set[Any] = set()
    newest = since
    for item in _items(eng, action, call, trigger.items, trigger.max_items):
        at, ident = _order_key(trigger, item), _ident(trigger, item)
        # Newest first: nothing older than the last poll's time can be new, and a first poll needs only
        # the newest items; reading stops there.
        boundary = since if last is not None else newest
        if trigger.newest_first and boundary is not None and _before(at, boundary, trigger) \
                and (last is not None or len(collected) >= (trigger.backfill or 0)):
            break
        if newest is None or _before(newest, at, trigger):
            newest = at
        if ident in ids:  # a list that shifted between pages repeats an item
            continue
        ids.add(ident)
        collected.append((at, ident, item))
    if len({isinstance(c[0], str) for c in collected} | ({isinstance(since, str)} if since is not None else set())) > 1:
        raise APIResponseError(f"{trigger.order_by!r} holds both numbers and text: items cannot be ordered",
                               action=trigger.action)
    collected.sort(key=lambda c: (c[0], str(c[1])))
    if last is None:  # the first poll: the newest `backfill` items, or none
        fresh = collected[len(collected) - trigger.backfill:] if trigger.backfill else []
    else:
        fresh = [c for c in collected if since is None or _before(since, c[0], trigger)
                 or (c[0] == since and c[1] not in seen_at)]
    at_newest = {c[1] for c in collected if c[0] == newest}
    if last is not None and newest == since:
        at_newest |= seen_at
    events = [_event(trigger, c[1], "", c[0], c[2], params) for c in fresh if keep(c[2])]
    return events, {"last": {"at": newest, "ids": sorted(at_newest, key=str)}}


def _status_reached(eng: "Engine", trigger: Trigger, action: Any, call: Mapping[str, Any],
                    state: Mapping[str, Any] | None, keep: Callable[[Any], bool],
                    params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Objects now in one of the statuses that were not reported in it; ids no longer listed are forgotten."""
    reported: Mapping[str, str] = state["reported"] if state else {}
    now = int(time.time())
    reached: list[tuple[str, str, Any]] = []  # (id, status, item)
    listed: dict[str, str] = {}
    for item in _items(eng, action, call, trigger.items, trigger.max_items):
        ident = str(_ident(trigger, item))
        status = item.get(trigger.status) if isinstance(item, Mapping) else None
        if status in trigger.statuses:
            listed[ident] = status
            reached.append((ident, status, item))
    if trigger.newest_first:
        reached.reverse()  # oldest first, as events go out
    if state is None:
        fresh = reached[len(reached) - trigger.backfill:] if trigger.backfill else []
    else:
        fresh = [r for r in reached if reported.get(r[0]) != r[1]]
    events = [_event(trigger, ident, f":{status}", now, item, params) for ident, status, item in fresh
              if keep(item)]
    return events, {"reported": dict(sorted(listed.items()))}


# -- state files (the CLI) -----------------------------------------------------------------------------------
def read_state(path: str) -> dict[str, Any] | None:
    """A trigger's saved state; None when the file does not exist yet (the first poll)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(16 * 1024 * 1024 + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TriggerStateError(f"cannot read the state file {path}: {exc.strerror}") from None
    if len(raw) > 16 * 1024 * 1024:
        raise TriggerStateError(f"the state file {path} is over 16 MiB: not a state this engine wrote")
    try:
        state = json.loads(raw)
    except (ValueError, RecursionError):
        raise TriggerStateError(f"the state file {path} is not JSON") from None
    if not isinstance(state, dict):
        raise TriggerStateError(f"the state file {path} holds no object")
    return state


def write_state(path: str, state: Mapping[str, Any]) -> None:
    """Replace the state file in one step (a reader sees the old state or the new one, never half)."""
    data = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        replace_file(path, data, durable=True)
    except OSError as exc:
        raise TriggerStateError(f"cannot save the state file {path}: {exc.strerror}; the events above will be "
                                f"reported again by the next poll") from None


# -- forms ---------------------------------------------------------------------------------------------------
def form_fields(param: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """A param's form fields on its JSON Schema: title, help, writeOnly, x-advanced, x-order, x-options."""
    if param.title:
        schema["title"] = param.title
    if param.help:
        schema["description"] = param.help
    if param.secret:
        schema["writeOnly"] = True
    if param.advanced:
        schema["x-advanced"] = True
    if param.order is not None:
        schema["x-order"] = param.order
    if param.options is not None:
        schema["x-options"] = param.options.marker()
    return schema


def sample_output(action: Any) -> Any:
    """A sample answer for mapping UIs: what the sandbox would synthesize from the answer's schema."""
    from .sandbox_synth import Synth

    decoder = getattr(action, "decoder", None)
    if decoder is not None and decoder.binary:
        return b""
    kind = getattr(action, "response_kind", "json")
    if kind == "none":
        return None
    if kind == "text":
        return ""
    schema = action.response_schema
    if not schema:
        return {}
    synth = Synth(action.manifest.schemas, action.manifest.connector.get("sandbox", {}))
    return synth.value(schema, None, {}, want=True)


# -- load ----------------------------------------------------------------------------------------------------
def attach(manifest: Any, where: Callable[[Sequence[Any]], Where]) -> tuple[dict[str, Check], dict[str, Trigger]]:
    """Compile the platform blocks of a checked manifest: checks, each param's options, triggers."""
    checks = {name: Check(name, spec, where(["connector", "checks", name]))
              for name, spec in manifest.connector.get("checks", {}).items()}
    for group, objects in (("actions", manifest.actions), ("composites", manifest.composites)):
        for i, obj in enumerate(objects.values()):
            for j, p in enumerate(obj.params):
                if p.options_spec is not None and p.options is None:  # a composite shares its action's params
                    p.options = OptionSource(p.options_spec, where([group, i, "params", j, "options"]))
    triggers = {spec["name"]: Trigger(spec, manifest, where(["triggers", i]))
                for i, spec in enumerate(manifest.data.get("triggers", ()))}
    for i, trigger in enumerate(triggers.values()):
        for j, p in enumerate(trigger.params):
            if p.options_spec is not None:
                p.options = OptionSource(p.options_spec, where(["triggers", i, "params", j, "options"]))
    return checks, triggers


def check_rules(merged: Mapping[str, Any], fail: Callable[[str, Sequence[Any]], None],
                hint: Callable[[Any, Iterable[str]], str]) -> None:
    """What the schema cannot say: checks, options and triggers name actions that exist and fit."""
    actions = {a["name"]: a for a in merged["actions"]}
    composites = {c["name"] for c in merged.get("composites", ())}
    connector = merged["connector"]
    credentials = connector["credentials"]
    default = connector.get("default_credential") or (next(iter(credentials)) if len(credentials) == 1 else "none")
    paginations = merged.get("definitions", {}).get("paginations", {})

    def listing(name: str, items: Any, path: list[Any], what: str) -> None:
        spec = actions.get(name)
        if spec is None:
            fail(f"{what}: no action {name!r}" + hint(name, list(actions)) +
                 (" (a composite cannot be listed)" if name in composites else ""), path + ["action"])
            return
        pagination = spec.get("pagination")
        if isinstance(pagination, str):
            pagination = paginations.get(pagination)
        if pagination is None and items is None:
            fail(f"{what}: {name} is not paginated, so say where its answer keeps the items (`items`)", path)

    for cred, check in connector.get("checks", {}).items():
        at = ["connector", "checks", cred]
        if cred not in credentials:
            fail(f"check for {cred!r}: no such credential" + hint(cred, credentials), at)
            continue
        spec = actions.get(check["action"])
        if spec is None:
            fail(f"check for {cred!r}: no action {check['action']!r}" + hint(check["action"], actions),
                 at + ["action"])
            continue
        takes = spec.get("credential", default)
        if cred not in (takes if isinstance(takes, list) else [takes]):
            fail(f"check for {cred!r}: {check['action']} does not send that credential (it sends {takes!r})",
                 at + ["action"])
    for group in ("actions", "composites", "triggers"):
        for i, spec in enumerate(merged.get(group, ())):
            for j, p in enumerate(spec.get("params", ())):
                if isinstance(p, Mapping) and "options" in p:
                    listing(p["options"]["action"], p["options"].get("items"), [group, i, "params", j, "options"],
                            f"options of {p.get('name')!r}")
    for i, trig in enumerate(merged.get("triggers", ())):
        at = ["triggers", i]
        listing(trig["action"], trig.get("items"), at, f"trigger {trig['name']!r}")
        if trig["kind"] == "new_items" and "order_by" not in trig:
            fail("a new_items trigger needs `order_by`: the field that orders items in time", at)
        if trig["kind"] == "status_reached" and not trig.get("statuses"):
            fail("a status_reached trigger needs `statuses`: the statuses that make an event", at)
        if trig["kind"] == "status_reached" and "order_by" in trig:
            fail("`order_by` is for new_items triggers", at + ["order_by"])


# -- command line --------------------------------------------------------------------------------------------
def print_checks(results: Mapping[str, Mapping[str, Any]], out: TextIO) -> None:
    width = max((len(n) for n in results), default=0)
    for name, res in results.items():
        line = "ok" if res["ok"] else f"{res['reason']}: {res['message']}"
        out.write(f"{name.ljust(width)}  {line}\n")


def check_exit_code(results: Mapping[str, Mapping[str, Any]]) -> int:
    """0 when every check with a credential passed (and there was one); 5 network; 4 any other failure; 6 none set."""
    failed = [r for r in results.values() if not r["ok"] and r["reason"] != "missing"]
    if failed:
        return 5 if all(r["reason"] == "network" for r in failed) else 4
    if results and all(not r["ok"] for r in results.values()):
        return 6
    return 0


def _journal(state_path: str) -> str:
    return state_path + ".pending"


def deliver(state_path: str, output: str, events: Sequence[Mapping[str, Any]], state: Mapping[str, Any]) -> None:
    """Exactly once into a file: journal the batch and the state after it, append, save the state, drop the journal.

    A crash at any point leaves either nothing done (no journal), or a journal that
    `finish_journal` completes by appending only the events the file does not hold yet.
    """
    if events:
        write_state(_journal(state_path), {"events": list(events), "state": dict(state)})
    _append_missing(output, events)
    write_state(state_path, state)
    try:
        os.unlink(_journal(state_path))
    except FileNotFoundError:
        pass


def finish_journal(state_path: str, output: str) -> None:
    """Complete a delivery a crash cut short: the journaled events not in the file yet, then its state."""
    pending = read_state(_journal(state_path))
    if pending is None:
        return
    events, state = pending.get("events"), pending.get("state")
    if not isinstance(events, list) or not isinstance(state, dict):
        raise TriggerStateError(f"the journal {_journal(state_path)} is not one this engine wrote")
    deliver(state_path, output, events, state)


def _append_missing(output: str, events: Sequence[Mapping[str, Any]]) -> None:
    """Append the events whose ids the file's tail does not hold yet, then sync."""
    if not events:
        return
    present: set[Any] = set()
    try:
        with open(output, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - (64 << 20)))  # a batch is at the end: its tail is where to look
            for line in fh.read().splitlines():
                try:
                    present.add(json.loads(line).get("id"))
                except (ValueError, AttributeError, RecursionError):
                    continue  # a line cut by the crash, or not an event
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise TriggerStateError(f"cannot read the output file {output}: {exc.strerror}") from None
    missing = [e for e in events if e.get("id") not in present]
    try:
        with open(output, "a", encoding="utf-8") as fh:
            if fh.tell() and not _ends_with_newline(output):
                fh.write("\n")  # a line the crash cut short stays on its own line
            for event in missing:
                fh.write(json.dumps(event, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise TriggerStateError(f"cannot write the output file {output}: {exc.strerror}") from None


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def emit_events(events: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """Events as JSON Lines, flushed (and synced when they go to a file) before the state may move on."""
    for event in events:
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
    out.flush()
    try:
        os.fsync(out.fileno())
    except (OSError, AttributeError, ValueError):
        pass  # a pipe or a terminal: flushed is all there is
