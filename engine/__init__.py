"""A declarative connector engine: every action of a REST API as data, run by one engine.

    import engine
    eng = engine.Engine()                        # credentials from the environment
    eng.run("models.list")
    engine.run("chat.completions.create", {"model": "gpt-4o-mini", "messages": [...]})
"""
from __future__ import annotations

import os
import threading
from typing import Any, Mapping

from .client import Engine
from .components import register
from .errors import (APIConnectionError, APIError, APIResponseError, APIStatusError, APITimeoutError,
                     AuthenticationError, BadRequestError, BatchHandleError, BatchRequestError, ConflictError, Error,
                     InternalServerError, ManifestError, MissingCredentialError, NotFoundError, OutputError,
                     PaginationError, PermissionDeniedError, PollTimeoutError, Problem, RateLimitError, TemplateError,
                     UnknownActionError, UnprocessableEntityError, UntrustedManifestError, UploadSourceError,
                     ValidationError, WebhookError, WebhookEventError, WebhookSignatureError, WebhookTimestampError)
from .errors import TriggerStateError, UnknownTriggerError
from .manifest import Action, Manifest, Param, load
from .response import Result
from . import webhooks

__all__ = [
    "Engine", "run", "default_engine", "load", "Manifest", "Action", "Param", "Result",
    "Error", "ManifestError", "UnknownActionError", "ValidationError", "MissingCredentialError", "Problem", "APIError", "APIStatusError",
    "BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
    "ConflictError", "UnprocessableEntityError", "RateLimitError", "InternalServerError",
    "APIConnectionError", "APITimeoutError", "APIResponseError", "PaginationError", "PollTimeoutError",
    "BatchRequestError", "UploadSourceError", "OutputError", "BatchHandleError", "TemplateError",
    "UntrustedManifestError", "TriggerStateError", "UnknownTriggerError", "__version__",
    "WebhookError", "WebhookSignatureError", "WebhookTimestampError", "WebhookEventError", "webhooks", "register",
]

from ._version import __version__  # noqa: E402


_default: Engine | None = None
_default_lock = threading.Lock()


def _fresh_lock_in_child() -> None:
    """Another thread may have held the lock at the fork; in the child no thread ever releases it."""
    global _default_lock
    _default_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


def default_engine() -> Engine:
    """The process-wide Engine built from the environment, created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Engine()
    return _default


def run(name: str, params: Mapping[str, Any] | None = None, **options: Any) -> Any:
    """`Engine.run` on the default Engine."""
    return default_engine().run(name, params, **options)
