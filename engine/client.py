"""The Engine: the public face that ties manifest, validation, building and transport.

One Engine holds one `requests.Session` (connection reuse) and is safe to
share between threads: per-call state lives on the stack, and what depends
only on an action is compiled once and cached on the Action.
"""
from __future__ import annotations

import difflib
import logging
import os
import re
import threading
import weakref
from typing import IO, Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import quote, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from . import manifest as _manifest
from . import webhooks as _webhooks
from .components.paging import Page, PageRequest
from .components.values import is_template
from .errors import APIConnectionError, APIError, Error, MissingCredentialError, Problem, UntrustedManifestError
from .pagination import Paginator, read_checkpoint
from .request import Context, Extra, header_value_problem
from .response import Result, decode, write_to
from .transport import MAX_RESPONSE_BYTES, Attempt, DeadlineAdapter, RetryPolicy, Transport, split_timeout

__all__ = ["Engine"]

class _Secret:
    """A credential's parts (a key; a username and a password) that never show in a repr or a locals dump."""

    __slots__ = ("value",)

    def __init__(self, value: tuple[str, ...]) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<redacted>"


class _Mask:
    """The credentials as one pattern; its repr shows none of them (tracebacks dump locals)."""

    __slots__ = ("_pattern",)

    def __init__(self, secrets: Iterable[str]) -> None:
        self._pattern = re.compile("|".join(re.escape(s) for s in secrets), re.IGNORECASE)

    def __repr__(self) -> str:
        return "<credential mask>"

    def text(self, value: str) -> str:
        return self._pattern.sub("<redacted>", value)

    def data(self, value: Any) -> Any:
        """A copy of JSON-like data with every string masked, however deep (no recursion to exhaust)."""
        if isinstance(value, str):
            return self.text(value)
        holder: list[Any] = [None]
        stack: list[tuple[Any, Any, Any]] = [(value, holder, 0)]
        while stack:
            node, parent, key = stack.pop()
            if isinstance(node, str):
                parent[key] = self.text(node)
            elif isinstance(node, Mapping):
                out: Any = CaseInsensitiveDict() if isinstance(node, CaseInsensitiveDict) else {}
                parent[key] = out
                for k, v in node.items():
                    k = self.text(k) if isinstance(k, str) else k
                    out[k] = None  # keeps the order; the value is filled in when popped
                    stack.append((v, out, k))
            elif isinstance(node, (list, tuple)):
                items: list[Any] = [None] * len(node)
                parent[key] = items
                stack.extend((v, items, i) for i, v in enumerate(node))
            else:
                parent[key] = node
        return holder[0]


def _checked_url(url: str) -> str:
    """The base URL, refused here rather than as a bare ValueError deep inside the first request.

    No message repeats the URL or a piece of it (urllib's own would quote the port, which may be
    part of a password). A user name or password in it is refused: it would show wherever the URL
    does (reprs, logs, dry runs, hooks), and credentials go as the connector declares them.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise Error("base_url cannot be parsed as a URL (is its host, or its port, malformed?)") from None
    if "@" in parts.netloc:
        raise Error("base_url must not carry a user name or password (user:password@host): pass "
                    "credentials as the connector declares them")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Error("base_url must be an absolute http:// or https:// URL with a host")
    return url


def _send_options(session: requests.Session, url: str, *, read_env: bool) -> dict[str, Any]:
    """Proxies, CA bundle and client certificate for every request, looked up once, not per request.

    What the session sets wins; the environment (when read) only fills what it leaves
    unset, as requests' own `resolve_proxies` does. Passing the environment's proxies
    over a caller's session would drop the proxy it configured.
    """
    proxies = dict(session.proxies or {})
    verify = session.verify
    if read_env:
        for scheme, proxy in requests.utils.get_environ_proxies(url, no_proxy=proxies.get("no_proxy")).items():
            proxies.setdefault(scheme, proxy)
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return {"proxies": proxies, "verify": verify, "cert": session.cert}


def _origin(url: Any) -> str | None:
    """scheme://host:port of a URL, never its user or password; None when it has no usable one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError, AttributeError):
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port or (443 if parts.scheme == 'https' else 80)}"


def _names(value: Any, keyword: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not all(isinstance(v, str) for v in value):
        raise TypeError(f"{keyword} takes a list of strings")
    return list(value)


class _Trust:
    """The trust model (README, "Trust model"): what a manifest may make the Engine read and where it may send.

    - An environment variable is read for a credential or setting only if the bundled
      manifest names that variable for it, or the caller allows it (`allow_env=`,
      `trust_manifest=True`). Any other is not read at all: the credential counts as
      not given, and the call that needs it says how to allow it.
    - A credential or setting goes only to the origin of the base URL in force where
      it was first declared, unless the caller chose the base URL (`base_url=`, an
      allowed `base_url_env`), allowed the origin (`allow_origins=`), or trusts the
      manifest. A layer that moves `base_url` cannot take a key declared for another
      origin with it, even by declaring it again: the Engine refuses to be built.
    """

    def __init__(self, manifest: _manifest.Manifest, trust_all: bool, allow_env: Iterable[str],
                 allow_origins: Iterable[str]) -> None:
        self.all = bool(trust_all)
        self.declared_at: Mapping[str, Any] = manifest.trust.get("declared_at", {})
        self.bundled_env: Mapping[str, list[str]] = manifest.trust.get("env", {})
        self.env = set(_names(allow_env, "allow_env"))
        self.origins: set[str] = set()
        for url in _names(allow_origins, "allow_origins"):
            origin = _origin(url)
            if origin is None:
                raise Error("allow_origins takes http:// or https:// URLs with a host")
            self.origins.add(origin)
        self.unread: dict[str, list[str]] = {}  # name -> the variables not read for it

    def env_reader(self, name: str) -> Callable[[str], str | None]:
        """How credential or setting `name` reads a variable: only when allowed, else as if unset."""
        def read(env: str) -> str | None:
            if self.all or env in self.env or env in self.bundled_env.get(name, ()):
                return os.environ.get(env) or None
            self.unread.setdefault(name, []).append(env)
            return None
        return read

    def check_origin(self, url: str, sent: Iterable[str]) -> None:
        """Refuse to send what was declared for another origin to the one the manifest now names."""
        if self.all:
            return
        origin = _origin(url)
        for name in sent:
            if origin in self.origins or origin == _origin(self.declared_at.get(name)):
                continue
            raise UntrustedManifestError(
                f"{name!r} was declared for {_origin(self.declared_at.get(name))}, but the manifest sends requests "
                f"to {origin}: a credential or setting goes only where it was declared; pass base_url=..., "
                f"allow_origins=[{origin!r}], or trust_manifest=True for a manifest you trust")


_HOOKS = ("before_request", "after_response")

_LIVE: "weakref.WeakSet[Engine]" = weakref.WeakSet()  # every Engine not yet collected, for the fork hook


class _MaskLibraryLogs(logging.Filter):
    """Mask the live Engines' credentials in urllib3's own DEBUG lines (a query key is in its request line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        masks = [eng._mask for eng in list(_LIVE) if eng._mask is not None]
        if masks:
            text = record.getMessage()
            for mask in masks:
                text = mask.text(text)
            record.msg, record.args = text, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_MaskLibraryLogs())


def _fresh_pools_in_child() -> None:
    """After fork, each process must have its own sockets: two reading one connection get each other's answers."""
    for eng in list(_LIVE):
        eng._fresh_pools()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_pools_in_child)


def _check_hooks(hooks: Any) -> None:
    """A misspelt or uncallable hook fails here, not silently or at the thousandth call."""
    if hooks is None:
        return
    if isinstance(hooks, Mapping):
        for name, fn in hooks.items():
            if name not in _HOOKS:
                close = difflib.get_close_matches(str(name), _HOOKS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (hooks: {', '.join(_HOOKS)})"
                raise TypeError(f"unknown hook {name!r}{hint}")
            if not callable(fn):
                raise TypeError(f"hook {name!r} must be callable, not {type(fn).__name__}")
        return
    found = [name for name in _HOOKS if getattr(hooks, name, None) is not None]
    if not found:
        raise TypeError(f"hooks object {type(hooks).__name__} has none of {', '.join(_HOOKS)}")
    for name in found:
        if not callable(getattr(hooks, name)):
            raise TypeError(f"hook {name!r} must be callable")


class Engine:
    """Runs any action of a manifest.

    Credentials and settings are keyword arguments named as the manifest names
    them (for OpenAI: `api_key`, `admin_key`, `organization`, `project`); each
    defaults to its environment variable. A missing credential is an error
    when a call needs it, not here.

    `hooks` (an object or a mapping) may provide `before_request(action,
    request)` and `after_response(action, response, elapsed)`, called on every
    attempt for tracing and metering; they see credentials masked.

    A manifest other than the bundled one is not trusted with the environment or
    with where credentials go: `allow_env`, `allow_origins` and `trust_manifest`
    widen that (README, "Trust model"); without them such a manifest that would
    read another variable or send to another origin is an `UntrustedManifestError` here.
    """

    def __init__(self, manifest: Any = None, *, base_url: str | None = None, timeout: Any = None,
                 max_retries: int | None = None, session: requests.Session | None = None,
                 pool_size: int = 64, sandbox: bool = False, sandbox_state: str | os.PathLike | None = None,
                 hooks: Any = None, max_response_bytes: int | None = None, trust_manifest: bool = False,
                 allow_env: Iterable[str] = (), allow_origins: Iterable[str] = (), **values: Any) -> None:
        _check_hooks(hooks)
        self.manifest = manifest if isinstance(manifest, _manifest.Manifest) else _manifest.load(manifest)
        trust = _Trust(self.manifest, trust_manifest, allow_env, allow_origins)
        conn = self.manifest.connector
        creds: Mapping[str, Any] = conn["credentials"]
        settings: Mapping[str, Any] = conn.get("settings", {})
        unknown = set(values) - set(creds) - set(settings)
        if unknown:
            name = sorted(unknown)[0]
            close = difflib.get_close_matches(name, list(creds) + list(settings), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"Engine() got an unexpected keyword argument {name!r}{hint}")
        self._secrets: dict[str, _Secret | None] = {}
        for name, auth in self.manifest.credentials.items():
            try:
                parts = auth.read(values.get(name), trust.env_reader(name))
            except TypeError as exc:
                raise TypeError(f"credential {name!r} {exc}") from None
            problem = next((header_value_problem(p) for p in parts or () if header_value_problem(p)), None)
            if problem:
                raise Error(f"credential {name!r} {problem}")
            self._secrets[name] = _Secret(parts) if parts is not None else None  # `none` reads as ()
        self._settings: dict[str, str] = {}
        for name, spec in settings.items():
            value = values.get(name)
            if value is None and spec.get("env"):
                value = trust.env_reader(name)(spec["env"])
            if value is None:
                value = spec.get("default")
            if value:
                problem = header_value_problem(value)
                if problem:
                    raise Error(f"setting {name!r} {problem}")
                self._settings[name] = value
        env_url = trust.env_reader("$base_url_env")(conn["base_url_env"]) \
            if conn.get("base_url_env") and not base_url else None
        self.base_url = _checked_url(base_url or env_url or conn["base_url"]).rstrip("/")
        if not (base_url or env_url or sandbox or sandbox_state is not None):  # the sandbox sends nothing anywhere
            trust.check_origin(self.base_url, [*(n for n, v in self._secrets.items() if v), *self._settings])
        self._unread_env = trust.unread
        scheme = self.manifest.webhooks
        found = trust.env_reader(_webhooks.SECRET)(scheme.secret_env) if scheme and scheme.secret_env else None
        self._webhook_secret = _Secret((found,)) if found else None
        timeouts = conn.get("timeout", {})
        connect = float(timeouts.get("connect", 5.0))
        read = float(timeouts.get("read", 600.0))
        total = float(timeouts["total"]) if "total" in timeouts else None  # None: connect + read
        connect, read, total = split_timeout(timeout, connect, read, total)
        self.max_retries = max_retries
        self._own_session = session is None
        if session is None:
            session = requests.Session()
            session.trust_env = False  # proxies are resolved once below, not per request
            adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=pool_size)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.sandbox = None
        if sandbox or sandbox_state is not None:
            from .sandbox import SandboxAdapter

            # A setting that only templates read (an account id in every path) gets a stand-in, as an
            # unset credential does: the sandbox needs no account. One sent as a header stays unset
            # (a setting with no value sends no header).
            for name, spec in settings.items():
                if name not in self._settings and "header" not in spec:
                    self._settings[name] = "sandbox"
            # Everything but the socket runs as for the real API: the adapter answers in process.
            self.sandbox = SandboxAdapter(self.manifest, self.base_url, state_file=sandbox_state, config=self._settings)
            session.mount(self.base_url, self.sandbox)
            for name, auth in self.manifest.credentials.items():
                if self._secrets.get(name) is None:
                    # A stand-in given as a caller gives the credential (one key, or a tuple of its parts),
                    # so `read` shapes it as it does a real one: one key sent as a Basic username is the
                    # pair (key, "") that `apply` and `masks` expect.
                    given = "sandbox" if len(auth.parts) == 1 else tuple("sandbox" for _ in auth.parts)
                    self._secrets[name] = _Secret(auth.read(given, lambda _name: None) or ())
        masked = [m for name, s in self._secrets.items() if s is not None
                  for m in self.manifest.credentials[name].masks(s.value) if len(m) >= 8]
        masked += [q for q in (quote(m, safe="") for m in masked) if q not in masked]  # as a URL carries it
        self._mask = _Mask(masked) if masked else None
        self.session = session
        send_options = _send_options(session, self.base_url, read_env=self._own_session or session.trust_env)
        limit = conn.get("limits", {}).get("max_response_bytes", MAX_RESPONSE_BYTES)
        limit = limit if max_response_bytes is None else max_response_bytes
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise Error(f"max_response_bytes must be a positive whole number of bytes, not {limit!r}")
        self.transport = Transport(session, connect_timeout=connect, read_timeout=read, total_timeout=total,
                                   max_response_bytes=limit,
                                   request_id_header=conn.get("request_id_header", "x-request-id"),
                                   errors=self.manifest.error_map, send_options=send_options,
                                   hooks=hooks, redact=self._redacted, scrub=self._scrub,
                                   private_headers=[*(h for auth in self.manifest.credentials.values()
                                                      for h in auth.header_names()),
                                                    *(spec["header"] for spec in settings.values() if "header" in spec)])
        # What templates see as `config`: the settings, never a credential.
        self._config = dict(self._settings)
        headers = {}
        for name, value in conn.get("headers", {}).items():
            if is_template(value):
                from .templates import compile as compile_template

                value = str(compile_template(value, names=("config",)).render({"config": self._config}))
            headers[name] = value
        for name, value in self._settings.items():
            if "header" in settings[name]:
                headers[settings[name]["header"]] = value
        self._headers = headers
        self._policies: dict[tuple[str, int | None], RetryPolicy] = {}
        self._contexts: dict[tuple[str, ...], Context] = {}
        self._lock = threading.Lock()
        _LIVE.add(self)

    def _fresh_pools(self) -> None:
        """New, empty connection pools (and lock), as a forked child needs.

        The old pools are dropped, not closed: their sockets are still the parent's,
        and the child's copies of them just go when collected.
        """
        self._lock = threading.Lock()  # another thread of the parent may have held it at the fork
        seen: set[int] = set()
        for adapter in self.session.adapters.values():
            if isinstance(adapter, requests.adapters.HTTPAdapter) and id(adapter) not in seen:
                seen.add(id(adapter))
                adapter.init_poolmanager(adapter._pool_connections, adapter._pool_maxsize, block=adapter._pool_block)
                adapter.proxy_manager = {}

    def _redacted(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """A copy safe to hand to hooks: any header holding a credential is masked, and so is the URL's query."""
        copy = request.copy()
        secrets = [m for name, s in self._secrets.items() if s is not None
                   for m in self.manifest.credentials[name].masks(s.value)]
        for name, value in list(copy.headers.items()):
            if any(secret in value for secret in secrets):
                copy.headers[name] = "<redacted>"
        if self._mask is not None and copy.url:
            copy.url = self._mask.text(copy.url)  # a query credential (`?api_key=...`)
        return copy

    def _scrub(self, value: Any) -> Any:
        """`value` (text or JSON-like data from the server) with every credential masked.

        Servers echo keys back (in error messages, in headers, sometimes lowercased);
        those echoes must not reach an error, a log or a repr. Values under 8
        characters are no real key and would mask pieces of ordinary words.
        """
        return self._mask.data(value) if self._mask is not None else value

    def __repr__(self) -> str:
        if "_secrets" not in self.__dict__ or "base_url" not in self.__dict__:  # __init__ raised part-way
            return "<Engine (not set up)>"
        creds = ", ".join(f"{k}={'set' if v else 'unset'}" for k, v in self._secrets.items())
        return f"<Engine {self.manifest.connector['name']} base_url={self.base_url!r} {creds}>"

    # -- catalogue ---------------------------------------------------------
    def actions(self, group: str | None = None) -> list[Any]:
        """Every action, then every composite action (`.composite` is True on those)."""
        every = list(self.manifest.actions.values()) + list(self.manifest.composites.values())
        return [a for a in every if group is None or a.group == group]

    def action(self, name: str) -> Any:
        return self.manifest.action(name)

    # -- requests ----------------------------------------------------------
    def _context(self, action: _manifest.Action, redact: bool = False, use: str | None = None) -> Context:
        """What a request of this action needs from the Engine; built once per credential choice, then reused."""
        key = tuple(getattr(action, "credentials", (action.credential,)))
        if not redact and use is None:
            found = self._contexts.get(key)
            if found is None:
                found = self._contexts[key] = self._new_context(action, False, None)
            return found
        return self._new_context(action, redact, use)

    def _new_context(self, action: _manifest.Action, redact: bool, use: str | None) -> Context:
        credential = None
        if action.credential != "none":
            given = [n for n in getattr(action, "credentials", [action.credential]) if self._secrets.get(n)]
            name = use or (given[0] if given else action.credential)
            auth = self.manifest.credentials[name]
            secret = self._secrets.get(name)
            if redact:
                # A shell reference, so a dry run's curl line runs as is and shows no key.
                secret = _Secret(auth.placeholder())
            if secret is None:
                envs = auth.env_names()
                env = f" or set {' and '.join(envs)}" if envs else ""
                if name in self._unread_env:
                    unread = self._unread_env[name]
                    env = (f" (this manifest names {', '.join(unread)}, which is read only when the caller allows "
                           f"it: allow_env={unread!r}, or --allow-env on the command line)")
                raise MissingCredentialError(action.name, [Problem(None, "credential",
                                      f"needs the {name!r} credential: pass Engine({name}=...){env}")],
                                             credential=name, env=envs, unread=self._unread_env.get(name, ()))
            credential = (auth, secret.value)
        return Context(self.base_url, self._headers, credential, self.manifest.connector.get("files", {}),
                       self._config)

    def prepare(self, name: str, params: Mapping[str, Any] | None = None, *, redact: bool = False,
                extra_body: Mapping[str, Any] | None = None, extra_query: Mapping[str, Any] | None = None,
                extra_headers: Mapping[str, str] | None = None) -> requests.PreparedRequest:
        """Validate and build the request for an action; nothing is sent.

        `redact=True` puts a placeholder where the credential goes (no key needed).
        `extra_*` add what the manifest does not know yet, as `run` does.
        """
        action = self.action(name)
        params = {} if params is None else params
        if action.composite:
            action.validate(params)
            raise Error(f"{action.name} is a composite action: it makes several calls, so there is no one "
                        f"request to prepare; run it, or prepare the actions it calls "
                        f"({', '.join(dict.fromkeys(action.calls))})")
        action.validator.validate(params)
        return action.builder.build(params, self._context(action, redact),
                                    Extra.of(extra_body, extra_query, extra_headers))

    def _policy(self, action: _manifest.Action, max_retries: int | None) -> RetryPolicy:
        key = (action.name, max_retries if max_retries is not None else self.max_retries)
        policy = self._policies.get(key)
        if policy is None:
            policy = RetryPolicy(action.retry, key[1])
            with self._lock:
                self._policies[key] = policy
        return policy

    def _streaming(self, action: _manifest.Action, params: Mapping[str, Any]) -> bool:
        if action.streamed_always:
            return True
        if action.stream_param is None or action.stream_param not in params:
            return False
        value = params[action.stream_param]
        return value is True if action.stream_value is True else value == action.stream_value

    def run(self, name: str, params: Mapping[str, Any] | None = None, *, timeout: Any = None,
            max_retries: int | None = None, raw: bool = False,
            output: str | os.PathLike | IO[bytes] | None = None, extra_body: Mapping[str, Any] | None = None,
            extra_query: Mapping[str, Any] | None = None, extra_headers: Mapping[str, str] | None = None) -> Any:
        """Call an action and return its decoded answer.

        JSON answers come back as dicts, binary ones as bytes (or written to
        `output` in chunks, returning the byte count), streamed ones as an
        iterator of events. `raw=True` wraps the answer in a `Result` with
        status, headers, request id, elapsed time and attempts.
        `extra_body`, `extra_query` and `extra_headers` send what the manifest
        does not declare yet (a field the API gained last week), unvalidated.
        """
        action = self.action(name)
        params = {} if params is None else params
        if action.composite:
            from .composite import run_composite

            action.validate(params)
            return run_composite(self, action, params, timeout=timeout, max_retries=max_retries)
        action.validator.validate(params)
        if output is not None and action.response_kind != "binary":
            raise Error(f"{action.name} answers with {action.response_kind}, not binary data: output= does not apply")
        return self._call(action, params, timeout=timeout, max_retries=max_retries, raw=raw, output=output,
                          extra=Extra.of(extra_body, extra_query, extra_headers))

    def _call(self, action: _manifest.Action, params: Mapping[str, Any], *, timeout: Any = None,
              max_retries: int | None = None, raw: bool = False, output: Any = None,
              extra: Extra | None = None, page: PageRequest | None = None, credential: str | None = None) -> Any:
        request = action.builder.build(params, self._context(action, use=credential), extra)
        if page is not None and page.url is not None:
            request.url = self._next_url(action, page.url, request.url)
        streaming = self._streaming(action, params)
        info = Attempt()
        policy = self._policy(action, max_retries)
        binary_out = output is not None and action.response_kind == "binary"
        response = self.transport.send(action.name, request, policy, stream=streaming or binary_out,
                                       timeout=timeout, attempt=info, errors=action.errors)
        rid = response.headers.get(self.transport.request_id_header)
        results: list[Result] = []  # raw=True: the Result describes whichever answer the stream reads
        if streaming:
            from .streaming import EventStream

            def reopen(failure: APIConnectionError) -> requests.Response:
                """The stream broke before its first event: the transport may send the request again."""
                fresh = self.transport.resend(action.name, request, policy, failure, timeout=timeout, attempt=info,
                                              errors=action.errors)
                data.attempts, data.first_event_by = info.attempts, info.deadline
                data.request_id = fresh.headers.get(self.transport.request_id_header)
                for res in results:
                    res.status_code, res.headers, res.attempts = fresh.status_code, fresh.headers, info.attempts
                    res.request_id = self._scrub(data.request_id)
                return fresh

            _, read, total = self.transport.timeouts(timeout)
            data: Any = EventStream(response, action=action.name, framing=action.framing, errors=action.errors,
                                    request_id=rid, attempts=info.attempts,
                                    read_timeout=read, scrub=self._scrub, reopen=reopen,
                                    max_event_bytes=self.transport.max_response_bytes,
                                    resume=self._resumer(action, params, timeout, max_retries),
                                    first_event_by=info.deadline, total_timeout=total)
        else:
            try:
                if binary_out:
                    data = write_to(response, output, action=action.name, attempts=info.attempts, request_id=rid)
                else:
                    kind = "text" if any(params.get(k) in v for k, v in action.text_when.items()) \
                        else action.response_kind
                    data = decode(response, kind, action=action.name, request_id=rid, attempts=info.attempts)
                    if action.errors.failed(data, response.headers, response.status_code):
                        raise self._failed_answer(action, response, data, info.attempts)
            except APIError as exc:
                raise exc.redacted(self._scrub)
        if raw or page is not None:
            result = Result(data, response, self.transport.request_id_header, info.elapsed, info.attempts,
                            info.waits, self.manifest.connector.get("rate_limits", {}).get("header_prefix"))
            result.request_id = self._scrub(result.request_id)  # its repr shows it; servers may echo a key
            results.append(result)
            return result
        return data

    def _resumer(self, action: _manifest.Action, params: Mapping[str, Any], timeout: Any,
                 max_retries: int | None) -> Any:
        """The call that lets a broken stream go on, as its framing declares (None when it declares none)."""
        spec = action.framing.resume if action.framing is not None else None
        if spec is None:
            return None

        def resume(first: Any, last: Any) -> Any:
            context = {"params": params, "first": {"event": first.event, "data": first.data},
                       "last": {"event": last.event, "data": last.data}}
            if spec.when is not None and not spec.when.render(context):
                return None
            follow = self.action(spec.action)
            arguments = spec.params.render(context)
            follow.validator.validate(arguments)
            return self._call(follow, arguments, timeout=timeout, max_retries=max_retries)

        return resume

    def _failed_answer(self, action: _manifest.Action, response: requests.Response, body: Any,
                       attempts: int) -> APIError:
        """A 2xx the error map says is a failure (`{"ok": false}`): typed by the status it declares."""
        from .errors import status_error_class

        error = action.errors.read(body, response.headers, response.status_code)
        status = action.errors.failed_status
        return status_error_class(status)(
            str(error["message"] or "the answer says the call failed"), status_code=status, headers=response.headers,
            action=action.name, attempts=attempts, request_id=response.headers.get(self.transport.request_id_header),
            body=body, type=error["type"], code=error["code"], param=error["param"])

    def paginate(self, name: str, params: Mapping[str, Any] | None = None, *, max_items: int | None = None,
                 max_pages: int | None = None, resume: Mapping[str, Any] | None = None,
                 timeout: Any = None, max_retries: int | None = None) -> Paginator:
        """Iterate the items of every page, lazily, one page in memory at a time."""
        action = self.action(name)
        if action.paginator is None:
            raise Error(f"{action.name} does not return a list (no pagination declared)")
        params = dict(params or {})
        action.validator.validate(read_checkpoint(resume, action.name)[0].params if resume is not None else params)

        def fetch(request: PageRequest, number: int) -> Page:
            extra = Extra(request.inject.get("body"), request.inject.get("query"), request.inject.get("header")) \
                if request.inject else None
            result = self._call(action, request.params, timeout=timeout, max_retries=max_retries, extra=extra,
                                page=request)
            return Page(result.data, result.headers, result.status_code, result.url, number)

        return Paginator(fetch, action.paginator, params, max_items=max_items, max_pages=max_pages, resume=resume,
                         action=action.name)

    def _next_url(self, action: _manifest.Action, url: str, built: str | None) -> str:
        """A next-page URL the server gave, followed only on the base URL's origin (credentials go nowhere else)."""
        from .errors import PaginationError

        try:
            theirs, ours = urlsplit(url), urlsplit(self.base_url)
            same = (theirs.scheme, theirs.hostname, theirs.port) == (ours.scheme, ours.hostname, ours.port)
        except ValueError:
            same = False
        if not same or theirs.username is not None or theirs.password is not None:
            raise PaginationError("the next page's URL is on another origin than the base URL; it is not followed, "
                                  "so no credential goes there", action=action.name)
        query = urlsplit(built or "").query
        if query and action.credential != "none":
            # A query credential goes on the next URL too (the server's link does not carry it).
            names = {n for c in action.credentials for n in self.manifest.credentials[c].query_names()}
            present = {p.split("=", 1)[0] for p in urlsplit(url).query.split("&")}
            pairs = [p for p in query.split("&") if p.split("=", 1)[0] in names and p.split("=", 1)[0] not in present]
            if pairs:
                url += ("&" if "?" in url else "?") + "&".join(pairs)
        return url

    # -- platforms (engine.platform) -------------------------------------------
    def check(self, credentials: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Run each credential's declared check once: `{name: {"ok": True} | {"ok": False, "reason", "message"}}`.

        Reasons: missing (not set; nothing sent), bad_key (401), no_permission (403), wrong_kind
        (an answer the check declares as another kind of key), network, unexpected (`ok_when` false),
        error (any other failure).
        """
        from .platform import run_checks

        return run_checks(self, credentials)

    def options(self, action: str, param: str,
                params_so_far: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The choices a form offers for `param` (`[{"value", "label"}]`), read as its `options` declare, cached."""
        from .platform import options

        return options(self, action, param, params_so_far)

    def poll_trigger(self, name: str, state: Mapping[str, Any] | None = None,
                     params: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One poll of a declared trigger: `(events, new_state)`; keep the state (plain JSON) for the next poll."""
        from .platform import poll

        return poll(self, name, state, params)

    # -- bulk ----------------------------------------------------------------
    def map(self, name: str, params_iterable: Iterable[Mapping[str, Any]], *, concurrency: int = 8,
            raw: bool = False, timeout: Any = None, max_retries: int | None = None) -> Iterator[Any]:
        """Run one action over many inputs, at most `concurrency` in flight, results in input order.

        Each item is the answer, or the typed `engine.Error` for that input (a
        failure never stops the others). The iterable is read lazily; the
        server's rate-limit headers slow the pace before a 429 does.
        """
        from .bulk import map_calls

        return map_calls(self, name, params_iterable, concurrency=concurrency, raw=raw, timeout=timeout,
                         max_retries=max_retries)

    def batch(self, name: str, params_iterable: Iterable[Mapping[str, Any]], *,
              completion_window: str = "24h", **options: Any) -> Any:
        """Send many calls of one action through the Batch API; returns a resumable `BatchJob`."""
        from .batch import BatchJob

        return BatchJob.submit(self, name, params_iterable, completion_window=completion_window, **options)

    def batch_results(self, handle: Mapping[str, Any], **options: Any) -> Any:
        """Pick up a saved batch handle: wait, download once, yield (input_index, result) in order."""
        from .batch import BatchJob

        return BatchJob.resume(self, handle, **options)

    def unwrap_webhook(self, body: bytes | str, headers: Any, secret: str | None = None, *,
                       now: float | None = None) -> dict[str, Any]:
        """The event of a webhook checked with the manifest's scheme (`engine.webhooks.unwrap`).

        Without `secret`, the one read from the variable the scheme names when the Engine was
        built, if the trust rules allowed it.
        """
        if secret is None and self._webhook_secret is not None:
            secret = self._webhook_secret.value[0]
        return _webhooks.verify(self.manifest, body, headers, secret, now=now,
                                refused_env=_webhooks.SECRET in self._unread_env)

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

