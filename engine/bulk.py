"""Many calls of one action at once: `map_calls`, paced by the server's rate-limit headers.

It runs the calls on a bounded thread pool over the shared Engine, reads the
inputs lazily and yields in input order. It paces itself from the rate-limit
headers the server sends (their names are the manifest's
`connector.rate_limits`, the thresholds `connector.bulk.slow_below`), so it
waits for the budget to reset instead of retrying through 429s. No announced
reset holds it longer than `connector.bulk.max_wait` (by default the retry
policy's `max_retry_after`): after that the next answer says where the budget
stands. Batch API jobs, the other way to send many calls, are `batch.py`.
"""
from __future__ import annotations

import math
import re
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from .errors import Error, Problem, ValidationError
from .response import Result

if TYPE_CHECKING:
    from .client import Engine

__all__ = ["map_calls", "Pacer", "parse_duration"]

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """Seconds in a reset header (`1s`, `6m0s`, `20ms`, `1h2m3.5s`, or bare seconds); None if unreadable.

    A negative, infinite or NaN value is unreadable too: no clock can be set by it.
    """
    if not text:
        return None
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds, pos = 0.0, 0
        for m in _DURATION.finditer(text):
            if m.start() != pos:
                return None
            seconds += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if not pos or pos != len(text):
            return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class _Budget:
    """One of the server's budgets (requests or tokens) as last reported."""

    __slots__ = ("remaining_header", "reset_header", "threshold", "per_call", "remaining", "reset_at")

    def __init__(self, remaining_header: str, reset_header: str, threshold: int, per_call: bool) -> None:
        self.remaining_header, self.reset_header = remaining_header, reset_header
        self.threshold, self.per_call = threshold, per_call
        self.remaining: int | None = None
        self.reset_at = 0.0


class Pacer:
    """Holds calls back while a budget the server reported is at or below its threshold, until it resets.

    The request budget is spent locally as calls start, and an answer's count
    is lowered by the calls still in flight (the server may not have counted
    them yet), so concurrent calls cannot overrun it between two answers. A
    reset further off than `max_wait` seconds is waited for only that long: a
    server announcing `999999h` must not put the caller to sleep for a century.
    """

    def __init__(self, rate_limits: Mapping[str, Any], slow_below: Mapping[str, Any], *,
                 sleep: Callable[[float], None], clock: Callable[[], float], max_wait: float = 60.0) -> None:
        self._budgets = [
            _Budget(rate_limits[f"remaining_{kind}"], rate_limits[f"reset_{kind}"], int(slow_below[kind]),
                    kind == "requests")
            for kind in ("requests", "tokens")
            if kind in slow_below and f"remaining_{kind}" in rate_limits and f"reset_{kind}" in rate_limits]
        self._sleep, self._clock, self._max_wait = sleep, clock, max_wait
        self._lock = threading.Lock()
        self._in_flight = 0

    def acquire(self) -> None:
        """Wait until every budget allows one more call, then count it as started."""
        while True:
            with self._lock:
                now = self._clock()
                delay = 0.0
                for b in self._budgets:
                    if b.remaining is None:
                        continue
                    if now >= b.reset_at:
                        b.remaining = None  # reset since it was reported: unknown until the next answer
                    elif b.remaining <= b.threshold:
                        delay = max(delay, b.reset_at - now)
                if delay <= 0:
                    for b in self._budgets:
                        if b.per_call and b.remaining is not None:
                            b.remaining -= 1
                    self._in_flight += 1
                    return
            self._sleep(delay)

    def release(self, headers: Mapping[str, str] | None) -> None:
        """A call ended; learn the budgets from its answer's headers, if any."""
        with self._lock:
            self._in_flight -= 1
            if headers is None:
                return
            now = self._clock()
            for b in self._budgets:
                remaining = _int(headers.get(b.remaining_header))
                reset = parse_duration(headers.get(b.reset_header))
                if remaining is None or reset is None:
                    continue
                b.remaining = remaining - (self._in_flight if b.per_call else 0)
                b.reset_at = now + min(reset, self._max_wait)


def map_calls(engine: "Engine", name: str, params_iterable: Iterable[Mapping[str, Any]], *,
              concurrency: int = 8, raw: bool = False, timeout: Any = None,
              max_retries: int | None = None) -> Iterator[Any]:
    """Yield each input's answer (or its typed `Error`) in input order, at most `concurrency` in flight.

    At most `concurrency` inputs are read ahead of the one being yielded, so
    an endless iterable is fine. An unknown action or a bad `concurrency`
    fails here, before anything is read.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    action = engine.action(name)
    conn = engine.manifest.connector
    bulk = conn.get("bulk", {})
    max_wait = bulk.get("max_wait", engine._policy(action, max_retries).max_retry_after)
    pacer = Pacer(conn.get("rate_limits", {}), bulk.get("slow_below", {}),
                  sleep=engine.transport.sleep, clock=engine.transport.clock, max_wait=float(max_wait))

    def call(params: Any) -> Any:
        if not isinstance(params, Mapping):
            return ValidationError(name, [Problem(None, "type",
                                                  f"params must be a mapping, not {type(params).__name__}")])
        pacer.acquire()
        try:
            answer = engine.run(name, params, raw=True, timeout=timeout, max_retries=max_retries)
        except Error as exc:
            pacer.release(getattr(exc, "headers", None))
            return exc
        except BaseException:
            pacer.release(None)
            raise
        if not isinstance(answer, Result):  # a composite answers with its data alone
            pacer.release(None)
            return answer
        pacer.release(answer.headers)
        return answer if raw else answer.data

    def results() -> Iterator[Any]:
        inputs = iter(params_iterable)
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"map-{name}")
        window: deque[Any] = deque()
        more = True
        try:
            while True:
                while more and len(window) < concurrency:
                    try:
                        params = next(inputs)
                    except StopIteration:
                        more = False
                        break
                    window.append(pool.submit(call, params))
                if not window:
                    return
                yield window.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return results()
