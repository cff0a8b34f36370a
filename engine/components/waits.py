"""Wait-time formats: how a header that says "wait" or "try again at" is read.

Used by `connector.retry.wait` (the first header present wins) and by the
rate-limit budgets that pace `map`. Each gives seconds from now, or None when
the header is absent or unreadable; callers cap what they are given.
"""
from __future__ import annotations

import abc

import email.utils
import math
import re
from typing import Any, ClassVar, Mapping

from . import Component, builtin

__all__ = ["Wait", "Milliseconds", "Seconds", "HttpDate", "EpochSeconds", "Timestamp", "Duration", "parse_duration"]

_HEADER = {"header": {"type": "string", "description": "The response header to read."},
           "statuses": {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599},
                        "description": "Read the header only on answers with these statuses (a rate-limit reset "
                                       "header that every answer carries should not delay a retried 502)."}}


class Wait(Component):
    """Base of the wait family: `seconds(headers, now)` -> the wait asked for, or None."""

    family: ClassVar[str] = "wait"
    schema: ClassVar[dict[str, Any]] = {"properties": _HEADER, "required": ["header"]}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.header: str = spec["header"]
        self.statuses = frozenset(spec.get("statuses", ()))

    def seconds(self, headers: Mapping[str, str], now: float, status: int | None = None) -> float | None:
        """The wait in seconds, or None when the header is absent, unreadable, or not for this status."""
        if self.statuses and status not in self.statuses:
            return None
        raw = headers.get(self.header)
        if raw is None or not raw.strip():
            return None
        value = self.parse(raw.strip(), now)
        return value if value is not None and math.isfinite(value) else None  # "nan" parses as a float

    @abc.abstractmethod
    def parse(self, raw: str, now: float) -> float | None:
        """Each type says how."""


def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None


@builtin
class Milliseconds(Wait):
    """A number of milliseconds (`retry-after-ms: 1500`)."""

    type = "milliseconds"
    example = {"type": "milliseconds", "header": "retry-after-ms"}

    def parse(self, raw: str, now: float) -> float | None:
        ms = _number(raw)
        return ms / 1000.0 if ms is not None else None


@builtin
class Seconds(Wait):
    """A number of seconds (`Retry-After: 2`); with `or_http_date`, also an HTTP date, as RFC 9110 allows."""

    type = "seconds"
    schema = {"properties": {**_HEADER, "or_http_date": {"type": "boolean", "default": False,
                                                          "description": "An HTTP date is read too."}},
              "required": ["header"]}
    example = {"type": "seconds", "header": "retry-after", "or_http_date": True}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.or_date = bool(spec.get("or_http_date", False))

    def parse(self, raw: str, now: float) -> float | None:
        value = _number(raw)
        if value is None and self.or_date:
            return HttpDate.parse(self, raw, now)  # type: ignore[arg-type]
        return value


@builtin
class HttpDate(Wait):
    """An HTTP date to wait until (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`)."""

    type = "http_date"
    example = {"type": "http_date", "header": "retry-after"}

    def parse(self, raw: str, now: float) -> float | None:
        parsed = email.utils.parsedate_tz(raw)
        return email.utils.mktime_tz(parsed) - now if parsed else None


@builtin
class EpochSeconds(Wait):
    """A Unix time to wait until (`X-RateLimit-Reset: 1767225600`), not a number of seconds to wait."""

    type = "epoch_seconds"
    example = {"type": "epoch_seconds", "header": "x-ratelimit-reset"}

    def parse(self, raw: str, now: float) -> float | None:
        value = _number(raw)
        return value - now if value is not None else None


@builtin
class Timestamp(Wait):
    """An RFC 3339 / ISO 8601 time to wait until (`2026-01-01T00:00:30Z`); one with no zone is UTC."""

    type = "timestamp"
    example = {"type": "timestamp", "header": "anthropic-ratelimit-requests-reset"}

    def parse(self, raw: str, now: float) -> float | None:
        import datetime

        try:
            when = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when.timestamp() - now


_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")


def parse_duration(text: str | None) -> float | None:
    """Go-style durations (`6m0s`, `1.5s`, `20ms`) or a bare number of seconds; None if unreadable.

    A negative, infinite or NaN value is unreadable too: no clock can be set by it.
    """
    if not text:
        return None
    text = text.strip()
    total = _number(text)
    if total is None:
        pos, total = 0, 0.0
        for match in _DURATION.finditer(text):
            if match.start() != pos:
                return None
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if not pos or pos != len(text):
            return None
    return total if math.isfinite(total) and total >= 0 else None


@builtin
class Duration(Wait):
    """A duration such as `6m0s`, `1.5s` or `20ms` (or a bare number of seconds)."""

    type = "duration"
    example = {"type": "duration", "header": "x-ratelimit-reset-requests"}

    def parse(self, raw: str, now: float) -> float | None:
        return parse_duration(raw)
