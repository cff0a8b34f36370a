"""Authentication: how a credential is put on a request.

Declared under `connector.credentials`, one block a credential; an action names
the credential it uses (`credential:`), or gets `connector.default_credential`.
Only these objects ever see a credential's value: templates, hooks, logs and
errors get it masked or not at all.
"""
from __future__ import annotations

import abc

import base64
from typing import Any, Callable, ClassVar, MutableMapping, Sequence

from . import Component, builtin

__all__ = ["Auth", "HeaderAuth", "QueryAuth", "BasicAuth", "NoAuth"]

_ENV = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
        "description": "The environment variable the value is read from when the caller passes none."}
_DESCRIPTION = {"type": "string", "description": "What this credential is, for people and forms."}
Lookup = Callable[[str], "str | None"]


class Auth(Component):
    """Base of the auth family: a credential's parts and how they go on the wire."""

    family: ClassVar[str] = "auth"
    parts: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, spec: dict[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.description: str | None = spec.get("description")

    def env_names(self) -> list[str]:
        """Every environment variable this credential may read."""
        return [self.spec["env"]] if self.spec.get("env") else []

    def read(self, given: Any, env: Lookup) -> tuple[str, ...] | None:
        """The credential's parts from the caller's keyword, else from the environment; None if unset."""
        if given is None:
            name = self.spec.get("env")
            given = env(name) if name else None
        if given is None or given == "":
            return None
        if not isinstance(given, str):
            raise TypeError(f"expects a string, not {type(given).__name__}")
        return (given,)

    def placeholder(self) -> tuple[str, ...]:
        """What a dry run shows instead of the value: a shell reference where there is one."""
        return tuple(f"${self.spec['env']}" if self.spec.get("env") else "<redacted>" for _ in self.parts)

    @abc.abstractmethod
    def apply(self, secret: Sequence[str], headers: MutableMapping[str, str], query: list[tuple[str, str]]) -> None:
        """Each type says how."""

    def header_names(self) -> set[str]:
        """Headers that carry the credential: dropped on a redirect to another origin."""
        return set()

    def query_names(self) -> set[str]:
        """Query parameters that carry the credential: masked wherever a URL is shown."""
        return set()

    def masks(self, secret: Sequence[str]) -> list[str]:
        """Every form in which the value could show up in text."""
        return [s for s in secret if s]


@builtin
class HeaderAuth(Auth):
    """A header holding the key, after an optional prefix (`Authorization: Bearer <key>`, `X-API-Key: <key>`)."""

    type = "header"
    schema = {
        "properties": {
            "header": {"type": "string", "pattern": r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                       "description": "The header's name."},
            "prefix": {"type": "string", "pattern": "^[^\\r\\n]*$",
                       "description": "Written before the value, e.g. `Bearer ` or `Token `."},
            "env": _ENV,
            "description": _DESCRIPTION,
        },
        "required": ["header"],
    }
    example = {"type": "header", "header": "Authorization", "prefix": "Bearer ", "env": "EXAMPLE_API_KEY"}

    def apply(self, secret: Sequence[str], headers: MutableMapping[str, str], query: list[tuple[str, str]]) -> None:
        headers[self.spec["header"]] = self.spec.get("prefix", "") + secret[0]

    def header_names(self) -> set[str]:
        return {self.spec["header"]}


@builtin
class QueryAuth(Auth):
    """A query parameter holding the key (`?api_key=<key>`); masked wherever the URL is shown."""

    type = "query"
    schema = {
        "properties": {
            "param": {"type": "string", "minLength": 1, "description": "The query parameter's name."},
            "env": _ENV,
            "description": _DESCRIPTION,
        },
        "required": ["param"],
    }
    example = {"type": "query", "param": "api_key", "env": "EXAMPLE_API_KEY"}

    def apply(self, secret: Sequence[str], headers: MutableMapping[str, str], query: list[tuple[str, str]]) -> None:
        query.append((self.spec["param"], secret[0]))

    def query_names(self) -> set[str]:
        return {self.spec["param"]}


@builtin
class BasicAuth(Auth):
    """HTTP Basic: a username and a password, or one key sent as the username (or the password).

    The caller passes `(username, password)`, or the key alone with `key_as`.
    """

    type = "basic"
    schema = {
        "properties": {
            "username_env": {**_ENV, "description": "Environment variable holding the username."},
            "password_env": {**_ENV, "description": "Environment variable holding the password."},
            "key_as": {"enum": ["username", "password"],
                       "description": "The credential is one key, sent as this half; the other half is empty."},
            "env": {**_ENV, "description": "With `key_as`: the environment variable holding the key."},
            "description": _DESCRIPTION,
        },
        "oneOf": [{"required": ["key_as"], "not": {"anyOf": [{"required": ["username_env"]},
                                                            {"required": ["password_env"]}]}},
                  {"not": {"anyOf": [{"required": ["key_as"]}, {"required": ["env"]}]}}],
    }
    example = {"type": "basic", "username_env": "EXAMPLE_USER", "password_env": "EXAMPLE_PASSWORD"}

    @property
    def parts(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("value",) if self.spec.get("key_as") else ("username", "password")

    def env_names(self) -> list[str]:
        return [self.spec[k] for k in ("env", "username_env", "password_env") if self.spec.get(k)]

    def read(self, given: Any, env: Lookup) -> tuple[str, ...] | None:
        key_as = self.spec.get("key_as")
        if key_as:
            found = super().read(given, env)
            if found is None:
                return None
            return (found[0], "") if key_as == "username" else ("", found[0])
        if given is None:
            user = env(self.spec["username_env"]) if self.spec.get("username_env") else None
            password = env(self.spec["password_env"]) if self.spec.get("password_env") else None
            if not user and not password:
                return None
            given = (user or "", password or "")
        if not (isinstance(given, (tuple, list)) and len(given) == 2 and all(isinstance(p, str) for p in given)):
            raise TypeError("expects a (username, password) pair of strings")
        return (given[0], given[1])

    def placeholder(self) -> tuple[str, ...]:
        if self.spec.get("key_as"):
            ref = f"${self.spec['env']}" if self.spec.get("env") else "<redacted>"
            return (ref, "") if self.spec["key_as"] == "username" else ("", ref)
        return tuple(f"${self.spec[k]}" if self.spec.get(k) else "<redacted>" for k in ("username_env", "password_env"))

    def _token(self, secret: Sequence[str]) -> str:
        return base64.b64encode(f"{secret[0]}:{secret[1]}".encode("utf-8")).decode("ascii")

    def apply(self, secret: Sequence[str], headers: MutableMapping[str, str], query: list[tuple[str, str]]) -> None:
        headers["Authorization"] = "Basic " + self._token(secret)

    def header_names(self) -> set[str]:
        return {"Authorization"}

    def masks(self, secret: Sequence[str]) -> list[str]:
        return [s for s in secret if s] + [self._token(secret)]


@builtin
class NoAuth(Auth):
    """No credential: for public endpoints, or an API whose key is in its URL by the caller's choice."""

    type = "none"
    schema = {"properties": {"description": _DESCRIPTION}}
    example = {"type": "none"}
    parts = ()

    def read(self, given: Any, env: Lookup) -> tuple[str, ...] | None:
        return ()

    def placeholder(self) -> tuple[str, ...]:
        return ()

    def apply(self, secret: Sequence[str], headers: MutableMapping[str, str], query: list[tuple[str, str]]) -> None:
        return None
