"""Incoming webhooks: checked with the scheme the manifest declares, then read as a validated event.

    event = engine.webhooks.unwrap(request.body, request.headers)   # secret from the declared variable
    event = eng.unwrap_webhook(body, headers, secret="whsec_...")

The signature is checked against the body exactly as received (bytes, or a str sent as
UTF-8), before anything in it is parsed. The event's type picks its schema from
`connector.webhooks.events`; fields a schema does not list are never refused, since an
API adds fields to its events without notice. With no events declared, the verified
payload is returned without a schema check.
"""
from __future__ import annotations

import json
import os
import time
import weakref
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .components.paths import MISSING
from .errors import WebhookError, WebhookEventError

if TYPE_CHECKING:
    from .client import Engine
    from .manifest import Manifest

__all__ = ["unwrap", "verify", "SECRET"]

SECRET = "$webhook_secret"  # the name the trust model reads the secret's variable under
_MAX_SHOWN = 80
_validators: "weakref.WeakKeyDictionary[Manifest, dict[str, Any]]" = weakref.WeakKeyDictionary()


def unwrap(body: bytes | str, headers: Mapping[str, str] | Iterable[tuple[str, str]], secret: str | None = None, *,
           engine: "Engine | None" = None, manifest: Any = None, now: float | None = None) -> dict[str, Any]:
    """The event a webhook carries, once its signature, timestamp and schema check out.

    The scheme is `engine`'s manifest's, else `manifest`'s (a Manifest, or what
    `engine.load` takes), else the default Engine's. Without `secret`, it is read
    from the variable the scheme names, under the Engine's trust rules; for a
    `manifest` given here, only a variable the bundled manifest names is read.
    `now` (Unix seconds) replaces the clock the timestamp is judged by.
    """
    if engine is None and manifest is None:
        from . import default_engine

        engine = default_engine()
    if engine is not None:
        return engine.unwrap_webhook(body, headers, secret, now=now)
    from .manifest import Manifest, load

    loaded = manifest if isinstance(manifest, Manifest) else load(manifest)
    env = loaded.webhooks.secret_env if loaded.webhooks is not None else None
    refused = False
    if secret is None and env:
        if env in loaded.trust.get("env", {}).get(SECRET, ()):
            secret = os.environ.get(env) or None
        else:
            refused = True
    return verify(loaded, body, headers, secret, now=now, refused_env=refused)


def verify(manifest: "Manifest", body: bytes | str, headers: Mapping[str, str] | Iterable[tuple[str, str]],
           secret: str | None, *, now: float | None = None, refused_env: bool = False) -> dict[str, Any]:
    """Check a webhook with `manifest`'s scheme and return its event (see `unwrap`).

    `refused_env` says the secret's variable was set aside by the trust rules, for the message.
    """
    scheme = manifest.webhooks
    if scheme is None:
        raise WebhookError("the manifest declares no webhook scheme (connector.webhooks)")
    if not secret:
        env = scheme.secret_env
        how = "pass secret=..." + (f" or set {env}" if env else "")
        if env and refused_env:
            how += f" and allow it (allow_env=[{env!r}], --allow-env {env})"
        raise WebhookError(f"no webhook secret: {how}")
    if not isinstance(secret, str):
        raise TypeError(f"the webhook secret must be a string, not {type(secret).__name__}")
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"body must be the bytes (or str) received, not {type(body).__name__}")
    raw = bytes(body)
    lowered = _lower(headers)
    scheme.verify(raw, lowered, scheme.key(secret), time.time() if now is None else float(now))
    payload = _parse(raw)
    if scheme.event_header:
        kind: Any = lowered.get(scheme.event_header, MISSING)
        where = f"the {scheme.event_header} header"
    else:
        kind, where = scheme.event_field.get(payload), f"`{scheme.event_field.text}`"
    if not scheme.events:
        return payload
    if not isinstance(kind, str):
        raise WebhookEventError(f"the webhook names no event type at {where}")
    if kind not in scheme.events:
        known = ", ".join(sorted(scheme.events))
        raise WebhookEventError(f"unknown webhook event type {_short(kind)} (declared: {known})")
    problem = _problem(manifest, kind, scheme.events[kind], payload)
    if problem:
        raise WebhookEventError(f"webhook event {kind!r} does not match its schema: {problem}")
    return payload


def _lower(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names as HTTP has them, case-insensitive; a mapping or (name, value) pairs."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, str] = {}
    for name, value in pairs:  # type: ignore[union-attr]
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        out[str(name).lower()] = str(value)
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deep" if isinstance(exc, RecursionError) else type(exc).__name__
        raise WebhookEventError(f"the webhook's body is not JSON ({reason})") from None
    if not isinstance(payload, dict):
        raise WebhookEventError(f"the webhook's body is JSON but not an object ({type(payload).__name__})")
    return payload


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


def _open(node: Any) -> Any:
    """`node` with `additionalProperties: false` (and its unevaluated twin) dropped: unlisted fields are fine."""
    if isinstance(node, dict):
        return {k: _open(v) for k, v in node.items()
                if not (k in ("additionalProperties", "unevaluatedProperties") and v is False)}
    if isinstance(node, list):
        return [_open(v) for v in node]
    return node


def _problem(manifest: "Manifest", kind: str, schema: Any, payload: dict[str, Any]) -> str | None:
    """The first way the payload breaks its event's schema, as `path: reason`, or None."""
    found = _validators.setdefault(manifest, {})
    validator = found.get(kind)
    if validator is None:
        from .params import offline_validator

        validator = found[kind] = offline_validator(_open(manifest.self_contained(schema)))
    error = next(iter(sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))), None)
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "the event"
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return f"{where.lstrip('.')}: {message} (rule: {error.validator})"
