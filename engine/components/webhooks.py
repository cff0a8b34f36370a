"""Webhook signatures: how an API signs the webhooks it sends, and which events it sends.

Declared once as `connector.webhooks`; `engine.webhooks.unwrap` reads it. A type says
how the secret becomes a key and how the signature headers are checked against the
body as received; the fields every type shares say where the event's type is named
and what schema each event type has. Digests are compared in constant time, and no
message holds the secret, a signature or the body.
"""
from __future__ import annotations

import abc

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any, ClassVar, Mapping

from . import Component, builtin
from ..errors import WebhookError, WebhookSignatureError, WebhookTimestampError
from .paths import PATH_SCHEMA, Path

__all__ = ["Webhook", "StandardWebhooks", "HmacSha256"]

_HEADER = {"type": "string", "pattern": r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}
_COMMON: dict[str, Any] = {
    "secret_env": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
                   "description": "The environment variable holding the secret when the caller passes none "
                                  "(read under the Engine's trust rules)."},
    "event_field": {**PATH_SCHEMA, "default": "type",
                    "description": "Where the payload names its event type (a path)."},
    "event_header": {**_HEADER, "description": "A header naming the event type, for APIs that do not put it "
                                               "in the payload; used instead of `event_field`."},
    "events": {"type": "object", "propertyNames": {"type": "string", "minLength": 1},
               "additionalProperties": {"type": ["object", "boolean"]},
               "description": "Event type -> the JSON Schema of its payload (usually `$ref: '#/schemas/NAME'`). "
                              "An event of another type is refused; with none declared, any verified payload "
                              "is returned as is. Fields a schema does not list are never refused."},
    "description": {"type": "string", "description": "What these webhooks are, for people and forms."},
}
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class Webhook(Component):
    """Base of the webhook family: `key(secret)`, then `verify(body, headers, key, now)` raises or passes.

    `headers` reach `verify` with lower-case names. The event type and schemas are
    read by `engine.webhooks` from the shared fields.
    """

    family: ClassVar[str] = "webhook"

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.secret_env: str | None = spec.get("secret_env")
        self.events: dict[str, Any] = dict(spec.get("events") or {})
        self.event_field = Path(spec.get("event_field", "type"))
        self.event_header: str | None = spec["event_header"].lower() if spec.get("event_header") else None

    def key(self, secret: str) -> bytes:
        """The HMAC key a secret stands for: its UTF-8 bytes unless the type says otherwise."""
        key = secret.encode("utf-8")
        if not key:
            raise WebhookError("the webhook secret is empty")
        return key

    @abc.abstractmethod
    def verify(self, body: bytes, headers: Mapping[str, str], key: bytes, now: float) -> None:
        """Raise WebhookSignatureError or WebhookTimestampError unless the webhook is genuine and fresh."""


def _digest(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None


@builtin
class StandardWebhooks(Webhook):
    """The Standard Webhooks scheme (standardwebhooks.com): an id, a timestamp and `v1,<base64>` signatures.

    The signed content is `<id>.<timestamp>.<body>`, signed with HMAC-SHA256 under the secret
    (base64 after its prefix, `whsec_`). The signature header may hold several space-separated
    signatures (while a secret is rotated): one matching is enough; versions other than `v1`
    are ignored. The signature is checked first, then the timestamp, which must be within
    `tolerance` seconds of now, before or after.
    """

    type = "standard_webhooks"
    schema = {
        "properties": {
            "id_header": {**_HEADER, "default": "webhook-id", "description": "The header with the message id."},
            "timestamp_header": {**_HEADER, "default": "webhook-timestamp",
                                 "description": "The header with the Unix time the message was sent."},
            "signature_header": {**_HEADER, "default": "webhook-signature",
                                 "description": "The header with the space-separated `v1,<base64>` signatures."},
            "tolerance": {"type": "number", "minimum": 0, "default": 300,
                          "description": "How many seconds the timestamp may be from now, either way."},
            "secret_prefix": {"type": "string", "default": "whsec_",
                              "description": "Removed from the start of the secret, when there, before it is "
                                             "decoded."},
            "secret_encoding": {"enum": ["base64", "raw"], "default": "base64",
                                "description": "How the secret (after its prefix) becomes the key: base64-decoded, "
                                               "or its UTF-8 bytes as they are."},
            **_COMMON,
        },
    }
    example = {"type": "standard_webhooks", "secret_env": "EXAMPLE_WEBHOOK_SECRET",
               "events": {"invoice.paid": {"$ref": "#/schemas/InvoicePaidEvent"}}}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.id_header = spec.get("id_header", "webhook-id").lower()
        self.timestamp_header = spec.get("timestamp_header", "webhook-timestamp").lower()
        self.signature_header = spec.get("signature_header", "webhook-signature").lower()
        self.tolerance = float(spec.get("tolerance", 300))
        self.prefix: str = spec.get("secret_prefix", "whsec_")
        self.encoding: str = spec.get("secret_encoding", "base64")

    def key(self, secret: str) -> bytes:
        if self.prefix and secret.startswith(self.prefix):
            secret = secret[len(self.prefix):]
        if self.encoding == "raw":
            return super().key(secret)
        key = _b64(secret)
        if key is None:
            after = f" after its {self.prefix!r} prefix" if self.prefix else ""
            raise WebhookError(f"the webhook secret is not base64{after} (is it the whole secret, as the API "
                               f"showed it?)")
        if not key:
            raise WebhookError("the webhook secret is empty")
        return key

    def verify(self, body: bytes, headers: Mapping[str, str], key: bytes, now: float) -> None:
        msg_id = headers.get(self.id_header)
        stamp = headers.get(self.timestamp_header)
        signatures = headers.get(self.signature_header)
        if not msg_id:
            raise WebhookSignatureError(f"no {self.id_header} header: the signature cannot be checked")
        if not signatures:
            raise WebhookSignatureError(f"no {self.signature_header} header: the webhook is not signed")
        if stamp is None or not stamp.strip():
            raise WebhookTimestampError(f"no {self.timestamp_header} header: the webhook's age cannot be checked")
        signed = f"{msg_id}.{stamp}.".encode("utf-8", "surrogatepass") + body
        expected = _digest(key, signed)
        checked = 0
        for entry in signatures.split(" "):
            version, comma, value = entry.partition(",")
            if not comma or version != "v1":
                continue
            checked += 1
            given = _b64(value)
            if given is not None and hmac.compare_digest(expected, given):
                break
        else:
            raise WebhookSignatureError(
                f"no signature in {self.signature_header} matches the body and the secret ({checked} v1 "
                f"signature{'s' if checked != 1 else ''} checked): wrong secret, or a body changed on the way"
                if checked else f"{self.signature_header} holds no v1 signature")
        if not _TIMESTAMP.fullmatch(stamp):
            raise WebhookTimestampError(f"{self.timestamp_header} is not a Unix time in whole seconds")
        age = now - int(stamp)
        if abs(age) > self.tolerance:
            when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
            raise WebhookTimestampError(f"the webhook's {self.timestamp_header} is {when}; the tolerance is "
                                        f"{self.tolerance:g} s (a replayed webhook, or a clock that is off)")


@builtin
class HmacSha256(Webhook):
    """An HMAC-SHA256 of the body alone in one header (`X-Hub-Signature-256: sha256=<hex>`).

    The secret's UTF-8 bytes are the key. There is no timestamp, so nothing stops a replay
    of a genuine webhook: the receiver de-duplicates by the event's id if it must.
    """

    type = "hmac_sha256"
    schema = {
        "properties": {
            "header": {**_HEADER, "description": "The header holding the signature."},
            "prefix": {"type": "string", "default": "", "description": "Written before the digest, e.g. `sha256=`."},
            "encoding": {"enum": ["hex", "base64"], "default": "hex", "description": "How the digest is written."},
            **_COMMON,
        },
        "required": ["header"],
    }
    example = {"type": "hmac_sha256", "header": "X-Hub-Signature-256", "prefix": "sha256=",
               "secret_env": "EXAMPLE_WEBHOOK_SECRET", "event_header": "X-GitHub-Event"}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.header = spec["header"].lower()
        self.prefix: str = spec.get("prefix", "")
        self.encoding: str = spec.get("encoding", "hex")

    def verify(self, body: bytes, headers: Mapping[str, str], key: bytes, now: float) -> None:
        value = headers.get(self.header)
        if not value:
            raise WebhookSignatureError(f"no {self.header} header: the webhook is not signed")
        given = None
        if value.startswith(self.prefix):
            text = value[len(self.prefix):]
            if self.encoding == "base64":
                given = _b64(text)
            elif re.fullmatch(r"[0-9A-Fa-f]*", text):
                given = bytes.fromhex(text) if len(text) % 2 == 0 else None
        if given is None or not hmac.compare_digest(_digest(key, body), given):
            raise WebhookSignatureError(f"the signature in {self.header} does not match the body and the secret: "
                                        f"wrong secret, or a body changed on the way")
