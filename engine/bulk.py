"""Many calls of one action at once: `map_calls`, paced by the server's rate-limit headers.

It runs the calls on a bounded thread pool over the shared Engine, reads the
inputs lazily and yields in input order. It paces itself from the rate-limit
headers the server sends (the budgets the manifest declares in
`connector.rate_limits.budgets`: each one's headers, format and threshold), so it
waits for the budget to reset instead of retrying through 429s. No announced
reset holds it longer than `connector.bulk.max_wait` (by default the retry
policy's `max_retry_after`): after that the next answer says where the budget
stands. Batch API jobs, the other way to send many calls, are `batch.py`.
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from .components.waits import parse_duration
from .errors import Error, Problem, ValidationError
from .response import Result

if TYPE_CHECKING:
    from .client import Engine

__all__ = ["map_calls", "Pacer", "parse_duration"]

def _count(text: str | None) -> float | None:
    """A remaining count as the server wrote it (`148.9` points too); None if unreadable."""
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value == value and abs(value) != float("inf") else None


class _Budget:
    """One of the server's declared budgets (requests, tokens, points...) as last reported."""

    __slots__ = ("remaining_header", "reset", "threshold", "per_call", "remaining", "reset_at")

    def __init__(self, spec: Mapping[str, Any]) -> None:
        from .components import build

        self.remaining_header = spec["remaining"]
        # Its declared format (seconds, a duration, an epoch time...); none: it refills at an unknown time.
        self.reset = build("wait", spec["reset"]) if "reset" in spec else None
        self.threshold = float(spec.get("slow_below", 0))
        self.per_call = bool(spec.get("per_call", False))
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

    def __init__(self, budgets: Mapping[str, Mapping[str, Any]], *,
                 sleep: Callable[[float], None], clock: Callable[[], float], max_wait: float = 60.0) -> None:
        self._budgets = [_Budget(spec) for spec in budgets.values()]
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
                remaining = _count(headers.get(b.remaining_header))
                # No reset declared, or none readable: wait the longest allowed, then ask the server again.
                reset = b.reset.seconds(headers, now) if b.reset is not None else self._max_wait
                if remaining is None or reset is None or reset < 0:
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
    pacer = Pacer(conn.get("rate_limits", {}).get("budgets", {}),
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
