"""Transport: one shared `requests.Session`, timeouts and the declared retry policy.

The policy is data (the manifest's `connector.retry`, overridable per action,
per Engine and per call) and follows the official SDK: retry connection
errors, timeouts, 408/409/429/5xx with exponential backoff and jitter, honour
`retry-after-ms` / `Retry-After` within a cap, and let `x-should-retry` win.
Answers the policy marks permanent (a 429 for an exhausted quota, say) fail at once.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import math
import os
import random
import socket
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping

from urllib.parse import urlsplit

import requests
import urllib3
import urllib3.connection
from requests import exceptions as rexc
from requests.adapters import HTTPAdapter

from .errors import APIConnectionError, APIError, APIResponseError, APIStatusError, APITimeoutError, status_error_class

__all__ = ["RetryPolicy", "Transport", "Attempt", "Watchdog", "WATCHDOG", "cutter", "DeadlineAdapter", "status_error",
           "MAX_RESPONSE_BYTES", "ACCEPT_ENCODING", "split_timeout", "PastDeadline", "deadline"]

log = logging.getLogger("engine")
_EXHAUSTED = "retries exhausted"
_CHUNK = 1 << 16
_REDIRECT_BODY = 1 << 16  # a redirect's body is thrown away: no need to read more of it
MAX_RESPONSE_BYTES = 64 << 20  # when the manifest declares no `limits.max_response_bytes`
# The content codings requests and urllib3 decode here (gzip and deflate always; br, zstd when installed).
ACCEPT_ENCODING: str = requests.utils.DEFAULT_ACCEPT_ENCODING


_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("engine_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every request sent in this block (on this thread) ends within `seconds` from now.

    For a caller whose own limit spans several requests, such as a polling
    composite: each attempt's connect and read timeouts are cut to the time
    left, a retry that would wait past the end is not made, and an attempt the
    end cuts off is an `APITimeoutError` of phase "deadline". Blocks nest: the
    earlier end wins.
    """
    end = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _time_left() -> float | None:
    end = _DEADLINE.get()
    return None if end is None else end - time.monotonic()


class Watchdog:
    """Cuts a connection whose attempt ran past its deadline.

    A read timeout restarts with every byte, so a server trickling one byte a
    second never trips it. One daemon thread per process watches the guarded
    answers and shuts a late one's socket down, which ends the blocked read at
    once (whatever it was waiting for: a chunk header, a compressed block, a line).
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # the parent's thread and lock state stay behind

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._guarded: dict[int, list[Any]] = {}  # token -> [deadline, cut or None, fired]
        self._next = 0
        self._running = False
        self._plan = [math.inf]  # when the watchdog thread will next wake by itself

    def guard(self, cut: Callable[[], None], deadline: float) -> int:
        """Call `cut` at `deadline` (on the `time.monotonic` clock) unless released first.

        The thread is woken only when this deadline comes before the one it sleeps
        towards: most guards are released long before, and a wake-up per request
        would cost every call a thread switch.
        """
        with self._cond:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, args=(self._cond, self._guarded, self._plan),
                                 name="engine-deadline", daemon=True).start()
            self._next += 1
            self._guarded[self._next] = [deadline, cut, False]
            if deadline < self._plan[0]:
                self._cond.notify()
            return self._next

    def release(self, token: int) -> bool:
        """Stop watching; True when the deadline passed and the socket was shut down."""
        with self._cond:
            entry = self._guarded.pop(token, None)
        return bool(entry and entry[2])

    @staticmethod
    def _run(cond: threading.Condition, guarded: dict[int, list[Any]], plan: list[float]) -> None:
        with cond:
            while True:
                now = time.monotonic()
                wait: float | None = None
                for entry in guarded.values():
                    if entry[1] is None:
                        continue
                    if entry[0] <= now:
                        entry[1], entry[2], cut = None, True, entry[1]
                        try:
                            cut()
                        except (OSError, ValueError, RuntimeError):  # closed, or back in the pool: nothing to cut
                            pass
                    else:
                        wait = entry[0] - now if wait is None else min(wait, entry[0] - now)
                plan[0] = math.inf if wait is None else now + wait
                cond.wait(wait)


WATCHDOG = Watchdog()


def cutter(response: requests.Response) -> Callable[[], None] | None:
    """How another thread ends a blocked read of this answer, or None (no socket under it)."""
    shutdown = getattr(response.raw, "shutdown", None)
    if callable(shutdown):  # urllib3 >= 2.3: also refuses once the connection went back to the pool
        return shutdown
    sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
    return (lambda: sock.shutdown(socket.SHUT_RDWR)) if isinstance(sock, socket.socket) else None


def split_timeout(timeout: Any, connect: float, read: float,
                  total: float | None) -> tuple[float, float, float | None]:
    """`timeout` over the defaults: a number is the read timeout (and caps connect), a tuple is (connect, read[, total])."""
    if timeout is None:
        return connect, read, total
    if isinstance(timeout, (tuple, list)):
        return float(timeout[0]), float(timeout[1]), float(timeout[2]) if len(timeout) > 2 else total
    t = float(timeout)
    return min(connect, t), t, total


class PastDeadline(Exception):
    """The watchdog cut the connection: the attempt ran past its total timeout."""


_WAITING = threading.local()  # `.deadline`: the total timeout of the attempt this thread is sending


def guarded(token: int, read: Callable[[], Any]) -> Any:
    """`read()` while the watchdog holds `token`: a read it cut short is `PastDeadline`, not a broken pipe."""
    try:
        return read()
    except Exception:
        if WATCHDOG.release(token):
            raise PastDeadline from None
        raise
    finally:
        WATCHDOG.release(token)


class _GuardedHeaders:
    """A connection whose wait for the status line and headers the watchdog may cut.

    A read timeout restarts with each byte of the headers too; this is the
    only place that holds the socket while they arrive.
    """

    sock: socket.socket | None

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_WAITING, "deadline", None)
        sock = self.sock
        if deadline is None or sock is None:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        token = WATCHDOG.guard(lambda: sock.shutdown(socket.SHUT_RDWR), deadline)
        return guarded(token, lambda: super(_GuardedHeaders, self).getresponse(*args, **kwargs))


class _HTTPConnection(_GuardedHeaders, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_GuardedHeaders, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections that let the total timeout end a trickle of headers."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


_DEFAULT_WAITS = ({"type": "milliseconds", "header": "retry-after-ms"},
                  {"type": "seconds", "header": "retry-after", "or_http_date": True})


class RetryPolicy:
    """When to try again and how long to wait first: the manifest's `retry` block, compiled once."""

    __slots__ = ("max_retries", "initial_delay", "max_delay", "jitter", "statuses", "retry_5xx",
                 "max_retry_after", "waits", "should_header", "permanent", "when")

    def __init__(self, spec: Mapping[str, Any], max_retries: int | None = None) -> None:
        from .components import build

        self.max_retries = int(spec.get("max_retries", 2) if max_retries is None else max_retries)
        self.initial_delay = float(spec.get("initial_delay", 0.5))
        self.max_delay = float(spec.get("max_delay", 8.0))
        self.jitter = float(spec.get("jitter", 0.25))
        self.statuses = frozenset(spec.get("statuses", (408, 409, 429)))
        self.retry_5xx = bool(spec.get("retry_5xx", True))
        self.max_retry_after = float(spec.get("max_retry_after", 60.0))
        self.waits = tuple(build("wait", w) for w in spec.get("wait", _DEFAULT_WAITS))
        self.should_header = spec.get("should_retry_header")
        self.permanent = tuple(spec.get("permanent", ()))
        self.when = tuple(spec.get("when", ()))

    def permanent_reason(self, status: int, error: Mapping[str, Any]) -> str | None:
        """Why an answer must not be retried although its status usually is (`error`: the mapped fields)."""
        for rule in self.permanent:
            if rule["status"] != status:
                continue
            if "code" in rule and str(error.get("code")) != str(rule["code"]):  # `25` and "25" are one code
                continue
            if "type" in rule and str(error.get("type")) != str(rule["type"]):
                continue
            return rule["reason"]
        return None

    def retryable_status(self, status: int, headers: Mapping[str, str]) -> bool:
        if self.should_header:
            flag = headers.get(self.should_header)
            if flag is not None:
                return flag.strip().lower() == "true"
        if status in self.statuses or (self.retry_5xx and status >= 500):
            return True
        return any(_holds(rule, status, headers) for rule in self.when)

    def server_delay(self, headers: Mapping[str, str], now: float, status: int | None = None) -> float | None:
        """The wait the server asked for, in seconds, or None when it asked for none: the first header present."""
        for wait in self.waits:
            seconds = wait.seconds(headers, now, status)
            if seconds is not None:
                return seconds
        return None

    def backoff(self, retries_done: int, rand: float) -> float:
        delay = min(self.initial_delay * (2.0 ** retries_done), self.max_delay)
        return delay * (1.0 - self.jitter * rand)


def _holds(rule: Mapping[str, Any], status: int, headers: Mapping[str, str]) -> bool:
    """A declared `retry.when` rule: a status, and optionally a header's value (equal to, or below, a number)."""
    if "status" in rule and rule["status"] != status:
        return False
    if "header" not in rule:
        return True
    raw = headers.get(rule["header"])
    if raw is None:
        return False
    if "equals" in rule:
        return raw.strip() == str(rule["equals"])
    if "below" in rule:
        try:
            return float(raw) < float(rule["below"])
        except ValueError:
            return False
    return True


def _default_errors() -> Any:
    """The error map of a connector that declares none: `error.message`, else the body's text."""
    from .components import build

    return build("errors", {"type": "json", "message": "error.message"})


class Attempt:
    """What the caller may want to know about how an answer was obtained."""

    __slots__ = ("attempts", "elapsed", "waits", "deadline")

    def __init__(self) -> None:
        self.attempts = 0
        self.elapsed = 0.0
        self.waits: list[float] = []
        self.deadline: float | None = None  # when the latest attempt's total timeout ends (time.monotonic)


def _decode_error_body(response: requests.Response) -> Any:
    content = response.content
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return content[:2000].decode("utf-8", "replace")


def status_error(response: requests.Response, *, action: str, attempts: int, request_id_header: str,
                 error: Mapping[str, Any], reason: str | None = None, body: Any = None) -> APIStatusError:
    """The typed error for a 4xx/5xx answer; `error` holds the fields the connector's error map read."""
    message = error.get("message") or (body if isinstance(body, str) and body else None) or response.reason or "error"
    message = str(message)
    if reason:
        message = f"{message} (not retried: {reason})"
    cls = status_error_class(response.status_code)
    return cls(message, status_code=response.status_code, headers=response.headers, action=action,
               attempts=attempts, request_id=response.headers.get(request_id_header), body=body,
               type=error.get("type"), code=error.get("code"), param=error.get("param"))


def _origin(url: str | None) -> str:
    """scheme://host:port only: a URL's path or query may carry what a message must not show."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _reason(exc: BaseException) -> str:
    """The operating system's word for what failed (connection refused, reset...), else the class name."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, OSError) and node.strerror:
            return node.strerror.lower()
        inner = [a for a in node.args if isinstance(a, BaseException)]
        node = inner[0] if inner else (node.__cause__ or node.__context__)
        if node is not None and getattr(node, "reason", None) is not None and isinstance(node.reason, BaseException):
            node = node.reason
    return type(exc).__name__


def _guard_redirects(session: requests.Session, private: Iterable[str]) -> None:
    """Make `session` refuse an https -> http redirect, and drop `private` headers on one to another origin.

    requests follows a downgrade with the body (a prompt) and every header but
    Authorization, and drops only Authorization on a change of host. The header names
    come from the manifest (credentials and settings). Engines sharing a session share
    one guard, which drops the headers of every one of them.
    """
    names = getattr(session.rebuild_auth, "_engine_private", None)
    if names is not None:
        names[0] = names[0] | frozenset(private)  # replaced whole: a redirect may be reading it
        return
    names = [frozenset(private)]
    original = session.rebuild_auth

    def rebuild_auth(prepared: requests.PreparedRequest, response: requests.Response) -> None:
        old, new = response.request.url or "", prepared.url or ""
        if urlsplit(old).scheme == "https" and urlsplit(new).scheme == "http":
            raise APIError(f"refused a redirect from {_origin(old)} to {_origin(new)}: "
                           "it would send the request unencrypted")
        original(prepared, response)
        if session.should_strip_auth(old, new):
            for name in names[0]:
                prepared.headers.pop(name, None)

    rebuild_auth._engine_private = names  # type: ignore[attr-defined]
    session.rebuild_auth = rebuild_auth  # type: ignore[method-assign]


class Transport:
    """Sends prepared requests with retries; shared by all threads of an Engine."""

    def __init__(self, session: requests.Session, *, connect_timeout: float, read_timeout: float,
                 total_timeout: float | None = None, max_response_bytes: int = MAX_RESPONSE_BYTES,
                 request_id_header: str = "x-request-id", errors: Any = None,
                 send_options: Mapping[str, Any] | None = None, hooks: Any = None,
                 redact: Callable[[requests.PreparedRequest], requests.PreparedRequest] | None = None,
                 scrub: Callable[[Any], Any] = lambda value: value,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 rand: Callable[[], float] = random.random, private_headers: Iterable[str] = ()) -> None:
        _guard_redirects(session, private_headers)
        self.session = session
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout  # None: the connect and read timeouts in effect, added
        self.max_response_bytes = max_response_bytes
        self.request_id_header = request_id_header
        self.errors = errors if errors is not None else _default_errors()  # the connector's error map
        self.send_options = dict(send_options or {})
        self.before = getattr(hooks, "before_request", None) if not isinstance(hooks, Mapping) \
            else hooks.get("before_request")
        self.after = getattr(hooks, "after_response", None) if not isinstance(hooks, Mapping) \
            else hooks.get("after_response")
        self.redact = redact
        self.scrub = scrub  # takes credentials out of what the server sent back, for errors and logs
        self.sleep, self.clock, self.rand = sleep, clock, rand

    def timeouts(self, timeout: Any) -> tuple[float, float, float]:
        """(connect, read, total) for a call; the total, unless declared, is connect + read.

        The total bounds one attempt from sending to the last byte of an answer
        read whole, to the first event of a stream, to the headers of a download.
        """
        connect, read, total = split_timeout(timeout, self.connect_timeout, self.read_timeout, self.total_timeout)
        return connect, read, connect + read if total is None else total

    def send(self, action: str, request: requests.PreparedRequest, policy: RetryPolicy, *,
             stream: bool = False, timeout: Any = None, attempt: Attempt | None = None,
             errors: Any = None) -> requests.Response:
        """Send with retries; return a 2xx response or raise a typed error (read by `errors`, the action's map)."""
        info = attempt or Attempt()
        errors = errors if errors is not None else self.errors
        connect, read, total = self.timeouts(timeout)
        # Sent unless the caller set its own: compressed answers cost less, and only codings decoded here are named.
        request.headers.setdefault("Accept-Encoding", ACCEPT_ENCODING)
        if self._drain_redirect not in request.hooks.setdefault("response", []):
            request.hooks["response"].append(self._drain_redirect)
        started = time.perf_counter()
        while True:
            left = _time_left()
            if left is not None and left <= 0:
                info.elapsed = time.perf_counter() - started
                raise APITimeoutError("the deadline passed before the request was sent", action=action,
                                      attempts=info.attempts, phase="deadline", timeout=0.0)
            info.attempts += 1
            attempt_total = total if left is None else min(total, left)
            info.deadline = time.monotonic() + attempt_total
            response, failure = self._attempt(action, request, connect if left is None else min(connect, left),
                                              read if left is None else min(read, left), attempt_total,
                                              info.deadline, stream, info.attempts)
            if left is not None and failure is not None and failure[0] is APITimeoutError \
                    and failure[2]["timeout"] < {"connect": connect, "read": read}.get(failure[2]["phase"], total):
                failure = (APITimeoutError, f"no answer before the deadline, {left:.3g}s away when sent",
                           {"phase": "deadline", "timeout": left})
            if response is not None and response.status_code < 400:
                info.elapsed = time.perf_counter() - started
                return response
            if response is not None:
                body = _decode_error_body(response)
                response.close()
                error = errors.read(body, response.headers, response.status_code)
                reason = policy.permanent_reason(response.status_code, error)
                if reason is None and policy.retryable_status(response.status_code, response.headers):
                    reason = self._again(info, policy, response.headers, response.status_code)
                    if reason is None:
                        continue
                info.elapsed = time.perf_counter() - started
                raise status_error(response, action=action, attempts=info.attempts, body=body,
                                   request_id_header=self.request_id_header, error=error,
                                   reason=None if reason == _EXHAUSTED else reason).redacted(self.scrub)
            if issubclass(failure[0], APIConnectionError):
                why = self._again(info, policy, None)
                if why is None:
                    continue
            else:
                why = "the same request would meet the same answer"
            info.elapsed = time.perf_counter() - started
            cls, message, extra = failure
            if why != _EXHAUSTED:
                message += f" (not retried: {why})"
            raise cls(message, action=action, attempts=info.attempts, **extra).redacted(self.scrub) from None

    def resend(self, action: str, request: requests.PreparedRequest, policy: RetryPolicy,
               failure: APIConnectionError, *, timeout: Any = None, attempt: Attempt,
               errors: Any = None) -> requests.Response:
        """Send a streamed request again after its answer broke before its first event, or raise `failure`.

        Nothing reached the caller yet, so trying again duplicates nothing. The
        budget is the call's: `attempt` counts every try, before and after headers.
        """
        if log.isEnabledFor(logging.DEBUG):
            url = self.scrub((request.url or "").split("?", 1)[0])
            log.debug("%s attempt %d: %s %s -> %s", action, attempt.attempts, request.method, url, failure.message)
        why = self._again(attempt, policy, None)
        if why is not None:
            failure.attempts = attempt.attempts
            if why != _EXHAUSTED:
                failure.message += f" (not retried: {why})"
            raise failure.redacted(self.scrub)
        return self.send(action, request, policy, stream=True, timeout=timeout, attempt=attempt, errors=errors)

    def _attempt(self, action: str, request: requests.PreparedRequest, connect: float, read: float,
                 total: float, deadline: float, stream: bool,
                 attempt: int) -> tuple[requests.Response | None, Any]:
        """One try: the response (read whole unless a streamed 2xx), or what went wrong."""
        seen = self.redact(request) if (self.before or self.after) and self.redact else request
        if self.before:
            self.before(action, seen)
        t0 = time.perf_counter()
        # No single wait may outlast the total; a wait cut short by it is the total's timeout.
        waits = (min(connect, total), min(read, total))
        limits = {"connect": connect if connect <= total else None, "read": read if read <= total else None,
                  "total": total}
        _WAITING.deadline = deadline
        try:
            try:
                response = self.session.send(request, stream=True, timeout=waits,
                                             allow_redirects=True, **self.send_options)
            finally:
                _WAITING.deadline = None
            if response.status_code >= 400 or not stream:
                # Read the whole body inside the retry loop: a cut or stalled body, an
                # error's included, is a failure of this attempt.
                if self._read_whole(response, deadline) and response.status_code < 400:
                    self._log(action, request, None, t0, attempt, "answer too large")
                    return None, (APIResponseError, f"the answer is larger than the {self.max_response_bytes}-byte "
                                                    f"limit (max_response_bytes)", {})
        except PastDeadline:
            return self._timeout(action, request, t0, attempt, "total", limits)
        except (rexc.ConnectTimeout, rexc.ReadTimeout, rexc.Timeout) as exc:
            return self._timeout(action, request, t0, attempt, "connect" if isinstance(exc, rexc.ConnectTimeout)
                                 else "read", limits)
        except (rexc.ConnectionError, rexc.ChunkedEncodingError, rexc.ContentDecodingError) as exc:
            if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
                # requests reports a body that stalls past the read timeout as a ConnectionError.
                return self._timeout(action, request, t0, attempt, "read", limits)
            self._log(action, request, None, t0, attempt, "connection error")
            return None, (APIConnectionError, f"connection error talking to {_origin(request.url)}: "
                                              f"{_reason(exc)}", {})
        except APIError as exc:
            # Raised by the body while it was sent (an upload's file that changed or failed to read),
            # or by the redirect guard (a downgrade to http): the same request would fail the same way.
            self._log(action, request, None, t0, attempt, type(exc).__name__)
            return None, (type(exc), exc.message, {})
        except (rexc.RequestException, ValueError) as exc:
            # Not the network: a redirect loop, a Location no adapter can follow, a malformed URL
            # (requests lets urllib's ValueError for a Location it cannot parse through unwrapped).
            self._log(action, request, None, t0, attempt, type(exc).__name__)
            return None, (APIError, f"the request could not be completed: {type(exc).__name__}: {exc}", {})
        self._log(action, request, response, t0, attempt, None)
        if self.after:
            try:
                response.request = seen
                for earlier in response.history:  # redirects: each carries the request that led to it
                    earlier.request = self.redact(earlier.request) if self.redact else earlier.request
                self.after(action, response, time.perf_counter() - t0)
            except BaseException:
                response.close()  # a streamed answer is still open, and nobody else holds it to close it
                raise
        return response, None

    def _timeout(self, action: str, request: requests.PreparedRequest, t0: float, attempt: int, phase: str,
                 limits: Mapping[str, float | None]) -> tuple[None, Any]:
        limit = limits[phase]
        if limit is None:  # the wait was cut to what remained of the total
            phase, limit = "total", limits["total"]
        self._log(action, request, None, t0, attempt, f"{phase} timeout")
        return None, (APITimeoutError, f"{phase} timeout after {limit:g}s", {"phase": phase, "timeout": limit})

    def _drain_redirect(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """requests reads a redirect's body whole before following it: let it read only what fits, in time."""
        if response.is_redirect:
            self._read_whole(response, getattr(_WAITING, "deadline", None) or math.inf, _REDIRECT_BODY)
        return response

    def _read_whole(self, response: requests.Response, deadline: float, limit: int | None = None) -> bool:
        """Read the body into `response.content`, counting decoded bytes; True if it passed the size limit.

        Past the limit (`max_response_bytes` unless given) the rest is never read
        and the connection is closed: a gzip bomb or an endless body costs at
        most the limit. An error's body keeps what fit. Past `deadline` it raises
        `PastDeadline`.
        """
        limit = self.max_response_bytes if limit is None else limit
        if time.monotonic() >= deadline:
            response.close()
            raise PastDeadline
        cut = cutter(response)
        token = WATCHDOG.guard(cut, deadline) if cut is not None else None
        parts: list[bytes] = []
        size = 0
        over = False
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    parts.append(chunk[:len(chunk) - (size - limit)])
                    over = True
                    break
                parts.append(chunk)
        except Exception:
            if token is not None and WATCHDOG.release(token):
                response.close()
                raise PastDeadline from None
            raise
        finally:
            if token is not None:
                WATCHDOG.release(token)
        if over:
            response.close()  # before the body counts as read: the unread rest must not go back to the pool
        response._content = b"".join(parts)  # what `.content` returns from now on
        response._content_consumed = True
        return over

    def _again(self, info: Attempt, policy: RetryPolicy, headers: Mapping[str, str] | None,
               status: int | None = None) -> str | None:
        """Wait before the next attempt and return None, or say why there is none."""
        retries_done = info.attempts - 1
        if retries_done >= policy.max_retries:
            return _EXHAUSTED
        delay = policy.server_delay(headers, self.clock(), status) if headers is not None else None
        if delay is not None and delay > policy.max_retry_after:
            return f"the server asked to wait {delay:g}s, more than the {policy.max_retry_after:g}s cap"
        if delay is None or delay <= 0:
            delay = policy.backoff(retries_done, self.rand())
        left = _time_left()
        if left is not None and delay >= left:
            return f"the deadline is {max(left, 0.0):.3g}s away, before the {delay:.3g}s wait would end"
        info.waits.append(delay)
        self.sleep(delay)
        return None

    def _log(self, action: str, request: requests.PreparedRequest, response: requests.Response | None,
             t0: float, attempt: int, failure: str | None) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        ms = (time.perf_counter() - t0) * 1000.0
        url = self.scrub((request.url or "").split("?", 1)[0])
        if response is None:
            log.debug("%s attempt %d: %s %s -> %s after %.1f ms", action, attempt, request.method, url, failure, ms)
        else:
            log.debug("%s attempt %d: %s %s -> %d in %.1f ms request_id=%s", action, attempt, request.method,
                      url, response.status_code, ms, self.scrub(response.headers.get(self.request_id_header)))
