"""The engine's exceptions: one base class, and every error says where and why.

Messages never contain credentials: they are built from names, rules and the
server's own error fields, never from request headers or the engine's config.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from requests.structures import CaseInsensitiveDict

__all__ = [
    "Error", "ManifestError", "UnknownActionError", "ValidationError", "MissingCredentialError", "Problem", "APIError",
    "APIStatusError", "BadRequestError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "ConflictError",
    "UnprocessableEntityError", "RateLimitError", "InternalServerError",
    "APIConnectionError", "APITimeoutError", "APIResponseError",
    "PaginationError", "PollTimeoutError", "BatchRequestError", "UploadSourceError", "OutputError", "TemplateError", "status_error_class",
    "BatchHandleError", "UntrustedManifestError",
    "WebhookError", "WebhookSignatureError", "WebhookTimestampError", "WebhookEventError", "TriggerStateError", "UnknownTriggerError",
]


class Error(Exception):
    """Base of everything the engine raises on purpose."""


class ManifestError(Error):
    """The manifest breaks a rule; raised at load, never mid-request.

    `.problems` holds every problem found in one load (each a ManifestError with
    its own file, line, action and rule); the first one's fields are this error's.
    """

    def __init__(self, rule: str, *, file: str | None = None, line: int | None = None,
                 action: str | None = None, where: str | None = None) -> None:
        self.rule, self.file, self.line, self.action, self.where = rule, file, line, action, where
        self.problems: list[ManifestError] = [self]
        super().__init__(self._one())

    def _one(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.action:
            parts.append(f"action {self.action!r}")
        if self.where:
            parts.append(f"at {self.where}")
        return f"{': '.join(parts)}: {self.rule}" if parts else self.rule

    @classmethod
    def many(cls, problems: Sequence["ManifestError"]) -> "ManifestError":
        """One error for every problem of a load, listed in the message."""
        first = problems[0]
        if len(problems) == 1:
            return first
        error = cls(first.rule, file=first.file, line=first.line, action=first.action, where=first.where)
        error.problems = list(problems)
        error.args = (f"{len(problems)} problems in the manifest:\n" + "\n".join(f"  - {p._one()}" for p in problems),)
        return error


class Problem:
    """One thing wrong with one parameter."""

    __slots__ = ("param", "rule", "message")

    def __init__(self, param: str | None, rule: str, message: str) -> None:
        self.param, self.rule, self.message = param, rule, message

    def __str__(self) -> str:
        return f"{self.param}: {self.message}" if self.param else self.message

    def __repr__(self) -> str:
        return f"Problem(param={self.param!r}, rule={self.rule!r}, message={self.message!r})"


class UnknownActionError(Error, KeyError):
    """No action of that name in the manifest; the message suggests close names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ValidationError(Error):
    """The caller's params break the action's descriptor; nothing was sent."""

    def __init__(self, action: str, problems: Sequence[Problem]) -> None:
        self.action, self.problems = action, list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{action}: {n} invalid parameter{'s' if n != 1 else ''}:\n{lines}")


class MissingCredentialError(ValidationError):
    """The action needs a credential the Engine was not given; nothing was sent.

    `.credential` names it; `.env` lists the environment variables it can be read from.
    """

    def __init__(self, action: str, problems: Sequence[Problem], *, credential: str | None = None,
                 env: Sequence[str] = (), unread: Sequence[str] = ()) -> None:
        # `unread`: variables the manifest names that were not read, for want of the caller's leave.
        self.credential, self.env, self.unread = credential, list(env), list(unread)
        super().__init__(action, problems)
        # A missing key is not a bad parameter: say what is needed, on one line.
        self.args = ("; ".join(f"{action}: {p.message}" for p in self.problems),)


class APIError(Error):
    """Something went wrong talking to the API (after validation passed)."""

    def __init__(self, message: str, *, action: str | None = None, attempts: int = 1,
                 request_id: str | None = None, body: Any = None, type: Any = None, code: Any = None,
                 param: Any = None) -> None:
        self.message, self.action, self.attempts = message, action, attempts
        self.request_id, self.body = request_id, body
        # What the connector's error map read from the body (engine.components.error_map).
        self.type, self.code, self.param = type, code, param
        super().__init__(self._render())

    def redacted(self, scrub: Callable[[Any], Any]) -> "APIError":
        """This error with `scrub` applied to everything the server sent: servers echo credentials back."""
        for name in ("message", "request_id", "body", "type", "code", "param", "headers"):
            if hasattr(self, name):
                setattr(self, name, scrub(getattr(self, name)))
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        bits = [f"{self.action}: " if self.action else "", self.message]
        extra = [f"{k}={v}" for k, v in (("type", self.type), ("code", self.code), ("param", self.param)) if v]
        extra.append(f"attempts={self.attempts}")
        if self.request_id:
            extra.append(f"request_id={self.request_id}")
        return "".join(bits) + f" ({', '.join(extra)})"


class APIStatusError(APIError):
    """The server answered with a 4xx/5xx status."""

    status_code: int = 0

    def __init__(self, message: str, *, status_code: int, headers: Mapping[str, str] | None = None,
                 **kw: Any) -> None:
        self.status_code = status_code
        self.headers = CaseInsensitiveDict(headers or {})  # looked up as HTTP does, whatever the case
        super().__init__(f"HTTP {status_code}: {message}", **kw)


class BadRequestError(APIStatusError):
    status_code = 400


class AuthenticationError(APIStatusError):
    status_code = 401


class PermissionDeniedError(APIStatusError):
    status_code = 403


class NotFoundError(APIStatusError):
    status_code = 404


class ConflictError(APIStatusError):
    status_code = 409


class UnprocessableEntityError(APIStatusError):
    status_code = 422


class RateLimitError(APIStatusError):
    status_code = 429


class InternalServerError(APIStatusError):
    status_code = 500


_BY_STATUS = {c.status_code: c for c in (BadRequestError, AuthenticationError, PermissionDeniedError,
                                         NotFoundError, ConflictError, UnprocessableEntityError,
                                         RateLimitError)}


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status, as the official SDK maps them."""
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, APIStatusError)


class APIConnectionError(APIError):
    """The request or its answer did not make it across the network."""


class APITimeoutError(APIConnectionError):
    """A connect, read or total (whole attempt) timeout expired, or a caller's deadline cut the attempt off; `phase` says which."""

    def __init__(self, message: str, *, phase: str, timeout: float | None, **kw: Any) -> None:
        self.phase, self.timeout = phase, timeout
        super().__init__(message, **kw)


class APIResponseError(APIError):
    """The server's answer could not be decoded as what the action declares."""


class BatchRequestError(APIError):
    """A batched request that got no HTTP answer: the batch expired, was cancelled or failed first.

    `batch_status` is the batch's final status; `code` the batch's error code, when it gave one.
    """

    def __init__(self, message: str, *, batch_status: str | None = None, **kw: Any) -> None:
        self.batch_status = batch_status
        super().__init__(message, **kw)


class UploadSourceError(APIError):
    """A file being uploaded could not be read, or changed under the upload: sending again cannot help."""


class PaginationError(APIError):
    """A paged walk stopped making progress (repeated cursor, empty page claiming more)."""


class PollTimeoutError(APIError):
    """A declared polling action did not reach a terminal status before its deadline."""


class TemplateError(Error):
    """A manifest template failed while rendering.

    The message names the template and why it failed, never the values it was rendered with:
    those are the caller's data and may hold secrets.
    """

    def __init__(self, reason: str, *, source: str, file: str | None = None, line: int | None = None,
                 where: str | None = None) -> None:
        self.reason, self.source, self.file, self.line, self.where = reason, source, file, line, where
        shown = source if len(source) <= 120 else source[:120] + "..."  # bounded: bodies can be templates
        parts = [f"{file}:{line}" if file and line else file or "", f"at {where}" if where else "",
                 f"template {shown!r}"]
        super().__init__(": ".join(p for p in parts if p) + f": {reason}")


class OutputError(Error):
    """An answer could not be written where `output=` (`-o`) points: a folder, no permission, a full disk."""


class BatchHandleError(Error):
    """A batch handle is malformed, or names a folder this job did not create and mark: nothing was removed."""


class UntrustedManifestError(ManifestError):
    """A manifest given at run time would read an environment variable or send a credential where the
    caller did not allow; raised when the Engine is built, before anything is read or sent."""


class WebhookError(Error):
    """A webhook cannot be checked: the manifest declares no scheme, or no secret was given.

    Its subclasses say what is wrong with the webhook itself. No message holds the secret,
    a signature or the body.
    """


class WebhookSignatureError(WebhookError):
    """A webhook's signature is missing, or none of its signatures matches the body and the secret."""


class WebhookTimestampError(WebhookError):
    """A webhook's timestamp is missing, not a number, or further from now than the declared tolerance."""


class WebhookEventError(WebhookError):
    """A verified webhook's body is not a JSON object, names an event type the manifest does not declare,
    or does not match that event's schema."""


class TriggerStateError(Error):
    """A polling trigger's state is malformed, belongs to another trigger or other params, or could not be
    read or saved; nothing was reported from it."""


class UnknownTriggerError(UnknownActionError):
    """No polling trigger of that name in the manifest; the message suggests close names."""
