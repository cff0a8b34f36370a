"""A loopback stand-in for HubSpot's CRM API v3 (api.hubapi.com), for tests and demos.

It plays what HubSpot documents: a private-app access token as `Authorization: Bearer` on the
v3 endpoints, and the legacy `hapikey` query key on the legacy v2 owners list; 401
`INVALID_AUTHENTICATION` without the right one. Errors are `{"status": "error", "message",
"correlationId", "category", "errors": [...]}` (400 `VALIDATION_ERROR` with an `errors` list
naming the property, 404 `OBJECT_NOT_FOUND`, 409 `CONFLICT` for a duplicate email), and a 429 is
`{"status": "error", "errorType": "RATE_LIMIT", "policyName": ...}` with `Retry-After` seconds.
Every answer carries `X-HubSpot-Correlation-Id` and the `X-HubSpot-RateLimit-Max`, `-Remaining`
and `-Interval-Milliseconds` headers.

Lists are `{"results": [...], "paging": {"next": {"after": "NTI1Cg%3D%3D", "link": "..."}}}`
(`limit` 1..100, default 10; the cursor is HubSpot's: the next offset, base64, percent-encoded,
sent back as the opaque text it is), and the last page has no `paging` at all. A search is a POST
whose `after` travels in the JSON body (`"10"`), answered with `total`, `limit` up to 200; it
stops at 10,000 results. Records' property values are always text.

    with HubSpotServer(token="pat-na1-...", contacts=25) as api:
        engine.Engine(manifest="examples/hubspot.yaml", base_url=api.url, access_token="pat-na1-...")

Only 127.0.0.1, an ephemeral port; `stop()` (or the end of the `with`) joins its thread.
"""
from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ._base import Injected, LoopbackServer, Request

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
HAPIKEY = "0a1b2c3d-hapi-key0-legacy-000000000000"
EPOCH = "2026-01-01T00:00:00.000Z"
DEFAULT_PROPERTIES = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
WRITABLE = ("email", "firstname", "lastname", "phone", "company", "website", "jobtitle", "lifecyclestage",
            "hubspot_owner_id", "favorite_color")  # the last one a custom property of this account
INTERVAL_MS = 10_000
SEARCH_CAP = 10_000


class HubSpotRequest(Request):
    """A request that also keeps its query string as it came on the wire (before decoding)."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        super().__init__(method, target, headers, body)
        self.raw_query = urlsplit(target).query


class HubSpotError(Exception):
    """An answer in HubSpot's error shape."""

    def __init__(self, status: int, category: str, message: str, errors: list[dict[str, Any]] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.category, self.message, self.errors, self.extra = status, category, message, errors, extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "error", "message": self.message, "correlationId": str(uuid.uuid4()),
                                "category": self.category}
        if self.errors is not None:
            body["errors"] = self.errors
        return {**body, **self.extra}


def cursor(offset: int) -> str:
    """HubSpot's `after`: the next offset (3 digits at least, a newline) in base64, percent-encoded.

    So 525 is `NTI1Cg%3D%3D`, as HubSpot's own answers show it: the `%3D` are part of the value.
    """
    return quote(base64.b64encode(f"{offset:03d}\n".encode()).decode(), safe="")


def rate_limited(retry_after: int = 1, policy: str = "TEN_SECONDLY_ROLLING") -> tuple[int, Any, dict[str, str]]:
    """The 429 HubSpot answers past a limit (for `fail_next`); DAILY is the daily one."""
    body = {"status": "error", "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": policy,
            "groupName": "cos_pages:12345"}
    return 429, body, {"Retry-After": str(retry_after), "X-HubSpot-RateLimit-Remaining": "0"}


def _invalid(message: str, code: str, prop: str) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", f"Property values were not valid: {message}",
                        [{"message": message, "code": code, "context": {"propertyName": [prop]}}])


class HubSpotServer(LoopbackServer):
    """The CRM over `contacts` made-up contacts (ids "1".."n") and `owners` owners.

    `fail_next(status, body, headers)` queues an answer given before the next normal one
    (`rate_limited()` builds HubSpot's 429); `remaining` is what `X-HubSpot-RateLimit-Remaining`
    says next (it counts down with each request).
    """

    methods = ("GET", "POST", "PATCH", "DELETE")
    content_type = "application/json;charset=utf-8"
    request_type = HubSpotRequest

    def __init__(self, token: str = TOKEN, hapikey: str = HAPIKEY, *, contacts: int = 25, owners: int = 3) -> None:
        super().__init__()
        self.token, self.hapikey = token, hapikey
        self.contacts: dict[str, dict[str, Any]] = {}
        for i in range(1, contacts + 1):
            self._add({"email": f"person{i}@example.com", "firstname": f"First{i}", "lastname": f"Last{i}",
                       "company": "Acme" if i % 2 else "Globex", "lifecyclestage": "lead"})
        self.owners = [{"id": str(100 + i), "email": f"owner{i}@example.com", "firstName": f"Owner{i}",
                        "lastName": "Smith", "userId": 9000 + i, "createdAt": EPOCH, "updatedAt": EPOCH,
                        "archived": False, "teams": []} for i in range(owners)]
        self.remaining = 100
        self._faults: Injected[tuple[int, Any, dict[str, str]]] = Injected()

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None, *, method: str | None = None,
                  path: str | None = None, after: int = 0) -> None:
        """Answer the next request (of `method` to `path`, after `after` of them) with this, once."""
        self._faults.add((status, body, dict(headers or {})), method, path, after=after)

    def calls(self, path: str) -> list[HubSpotRequest]:
        return [r for r in self.requests if r.path == path]

    # -- the API --------------------------------------------------------------
    def answer(self, req: HubSpotRequest) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.remaining = max(self.remaining - 1, 0)
            headers = {"X-HubSpot-Correlation-Id": str(uuid.uuid4()), "X-HubSpot-RateLimit-Max": "100",
                       "X-HubSpot-RateLimit-Remaining": str(self.remaining),
                       "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS)}
        fault = self._faults.take(req.method, req.path)
        if fault is not None:
            status, body, extra = fault
            return status, body, {**headers, **extra}
        try:
            self._authenticate(req)
            try:
                args = req.json() if req.body else {}
            except ValueError:
                raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1, column 1") from None
            with self.lock:
                status, body = self._route(req, args)
            return status, body, headers
        except HubSpotError as exc:
            return exc.status, exc.body(), headers

    def _authenticate(self, req: HubSpotRequest) -> None:
        if req.path.startswith("/owners/v2/"):
            if req.one("hapikey") != self.hapikey:
                raise HubSpotError(401, "INVALID_AUTHENTICATION", "The API key provided is invalid. View or manage "
                                   "your API key here: https://app.hubspot.com/l/api-key/")
            return
        if req.headers.get("authorization") != f"Bearer {self.token}":
            raise HubSpotError(401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API "
                               "supports OAuth 2.0 authentication and you can find more details at "
                               "https://developers.hubspot.com/docs/methods/auth/oauth-overview")

    def _route(self, req: HubSpotRequest, args: Any) -> tuple[int, Any]:
        parts = [unquote(part) for part in req.path.strip("/").split("/")]
        match req.method, parts:
            case "GET", ["crm", "v3", "objects", "contacts"]:
                archived = req.one("archived") == "true"
                rows = [c for c in self.contacts.values() if c["archived"] == archived]
                page, paging = self._page(rows, req.one("limit"), req.one("after"), 100, req.path)
                return 200, {"results": [self._view(c, req) for c in page], **paging}
            case "POST", ["crm", "v3", "objects", "contacts"]:
                return 201, self._view(self._create(args), None)
            case "POST", ["crm", "v3", "objects", "contacts", "search"]:
                return 200, self._search(args)
            case "POST", ["crm", "v3", "objects", "contacts", "batch", "read"]:
                return self._batch_read(req, args)
            case "GET", ["crm", "v3", "objects", "contacts", contact_id]:
                return 200, self._view(self._find(contact_id, req), req)
            case "PATCH", ["crm", "v3", "objects", "contacts", contact_id]:
                contact = self._find(contact_id, req)
                props = self._properties(args)
                if "email" in props and any(c["properties"].get("email") == props["email"] and c is not contact
                                            for c in self.contacts.values()):
                    raise HubSpotError(409, "CONFLICT", "Contact already exists. Existing ID: "
                                       + next(c["id"] for c in self.contacts.values()
                                              if c["properties"].get("email") == props["email"]))
                contact["properties"].update(props)
                return 200, self._view(contact, None)
            case "DELETE", ["crm", "v3", "objects", "contacts", contact_id]:
                if contact_id in self.contacts and not self.contacts[contact_id]["archived"]:
                    self.contacts[contact_id]["archived"] = True
                    self.contacts[contact_id]["archivedAt"] = EPOCH
                return 204, b""
            case "GET", ["crm", "v3", "owners"]:
                rows = [o for o in self.owners if req.one("email") in (None, o["email"])]
                page, paging = self._page(rows, req.one("limit") or "100", req.one("after"), 500, req.path)
                return 200, {"results": page, **paging}
            case "GET", ["owners", "v2", "owners"]:
                return 200, [{"ownerId": int(o["id"]), "portalId": 62515, "type": "PERSON", "email": o["email"],
                              "firstName": o["firstName"], "lastName": o["lastName"], "isActive": True}
                             for o in self.owners if req.one("email") in (None, o["email"])]
        raise HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")

    # -- helpers ------------------------------------------------------------------------------------
    def _page(self, rows: list[Any], limit: str | None, after: str | None, most: int,
              path: str) -> tuple[list[Any], dict[str, Any]]:
        try:
            size = int(limit or 10)
        except ValueError:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to parse limit: {limit}") from None
        if not 1 <= size <= most:
            raise HubSpotError(400, "VALIDATION_ERROR", f"limit must be between 1 and {most}, was {size}",
                               [{"message": f"must be between 1 and {most}", "code": "INVALID_LIMIT",
                                 "context": {"propertyName": ["limit"]}}])
        start = 0
        if after is not None:
            start = next((n for n in range(len(rows) + 1) if cursor(n) == after), -1)
            if start < 0:
                raise HubSpotError(400, "VALIDATION_ERROR", f"Invalid after: {after}",
                                   [{"message": "not a cursor this list gave", "code": "INVALID_CURSOR",
                                     "context": {"propertyName": ["after"]}}])
        end = start + size
        if end >= len(rows):
            return rows[start:end], {}
        return rows[start:end], {"paging": {"next": {"after": cursor(end),
                                                     "link": f"https://api.hubapi.com{path}?after={cursor(end)}"}}}

    def _add(self, props: dict[str, str]) -> dict[str, Any]:
        contact_id = str(len(self.contacts) + 1)
        contact = {"id": contact_id, "properties": {"createdate": EPOCH, "lastmodifieddate": EPOCH,
                                                    "hs_object_id": contact_id, **props},
                   "createdAt": EPOCH, "updatedAt": EPOCH, "archived": False}
        self.contacts[contact_id] = contact
        return contact

    @staticmethod
    def _properties(args: Any) -> dict[str, str]:
        if not isinstance(args, dict) or not isinstance(args.get("properties"), dict):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: the body must be "
                               '{"properties": {...}}', [{"message": "properties is required",
                                                          "code": "MISSING_PROPERTIES",
                                                          "context": {"propertyName": ["properties"]}}])
        extra = sorted(set(args) - {"properties", "associations"})
        if extra:
            raise HubSpotError(400, "VALIDATION_ERROR", f'Invalid input JSON: Unrecognized field "{extra[0]}"')
        props = args["properties"]
        for name, value in props.items():
            if name not in WRITABLE:
                raise _invalid(f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST", name)
            if not isinstance(value, str):
                raise _invalid(f"{value!r} is not a valid value for {name}", "INVALID_VALUE", name)
        email = props.get("email")
        if email is not None and ("@" not in email or "." not in email.split("@")[-1]):
            raise _invalid(f"Email address {email} is invalid", "INVALID_EMAIL", "email")
        return props

    def _create(self, args: Any) -> dict[str, Any]:
        props = self._properties(args)
        for contact in self.contacts.values():
            if props.get("email") and contact["properties"].get("email") == props["email"]:
                raise HubSpotError(409, "CONFLICT", f"Contact already exists. Existing ID: {contact['id']}")
        return self._add(dict(props))

    def _find(self, contact_id: str, req: HubSpotRequest) -> dict[str, Any]:
        archived = req.one("archived") == "true"
        if req.one("idProperty") == "email":
            found = next((c for c in self.contacts.values() if c["properties"].get("email") == contact_id), None)
        else:
            found = self.contacts.get(contact_id)
        if found is None or found["archived"] != archived:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found", context={"id": [contact_id]})
        return found

    @staticmethod
    def _select(contact: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
        names = list(wanted) + ["createdate", "hs_object_id", "lastmodifieddate"] if wanted else DEFAULT_PROPERTIES
        view = {k: v for k, v in contact.items() if k != "properties"}
        view["properties"] = {n: contact["properties"].get(n) for n in dict.fromkeys(names)}
        return view

    def _view(self, contact: dict[str, Any], req: HubSpotRequest | None) -> dict[str, Any]:
        wanted = req.one("properties") if req is not None else None
        return self._select(contact, wanted.split(",") if wanted else None)

    def _search(self, args: dict[str, Any]) -> dict[str, Any]:
        rows = [c for c in self.contacts.values() if not c["archived"]]
        groups = args.get("filterGroups") or []
        if groups:
            rows = [c for c in rows if any(all(self._holds(c, f) for f in g.get("filters", [])) for g in groups)]
        text = (args.get("query") or "").lower()
        if text:
            rows = [c for c in rows if any(text in (c["properties"].get(p) or "").lower()
                                           for p in ("email", "firstname", "lastname", "company"))]
        for sort in reversed(args.get("sorts") or []):
            rows.sort(key=lambda c: c["properties"].get(sort["propertyName"]) or "",
                      reverse=sort.get("direction") == "DESCENDING")
        size = args.get("limit", 10)
        if not isinstance(size, int) or not 1 <= size <= 200:
            raise HubSpotError(400, "VALIDATION_ERROR", "limit must be between 1 and 200",
                               [{"message": "must be between 1 and 200", "code": "INVALID_LIMIT",
                                 "context": {"propertyName": ["limit"]}}])
        after = args.get("after")
        try:
            start = int(after or 0)
        except (TypeError, ValueError):
            raise HubSpotError(400, "VALIDATION_ERROR", f"Invalid after: {after}") from None
        if start >= SEARCH_CAP:
            raise HubSpotError(400, "VALIDATION_ERROR", "Paging past 10000 results is not supported")
        end = start + size
        body: dict[str, Any] = {"total": len(rows),
                                "results": [self._select(c, args.get("properties")) for c in rows[start:end]]}
        if end < len(rows):
            body["paging"] = {"next": {"after": str(end)}}
        return body

    @staticmethod
    def _holds(contact: dict[str, Any], flt: dict[str, Any]) -> bool:
        value = contact["properties"].get(flt["propertyName"])
        op = flt["operator"]
        if op == "EQ":
            return (value or "").lower() == str(flt.get("value", "")).lower()
        if op == "NEQ":
            return (value or "").lower() != str(flt.get("value", "")).lower()
        if op == "IN":
            return (value or "").lower() in [v.lower() for v in flt.get("values", [])]
        if op == "HAS_PROPERTY":
            return bool(value)
        if op == "NOT_HAS_PROPERTY":
            return not value
        if op == "CONTAINS_TOKEN":
            token = str(flt.get("value", "")).lower().strip("*")
            return token in (value or "").lower()
        raise HubSpotError(400, "VALIDATION_ERROR", f"Unsupported operator {op}")

    def _batch_read(self, req: HubSpotRequest, args: dict[str, Any]) -> tuple[int, Any]:
        inputs = args.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
            raise HubSpotError(400, "VALIDATION_ERROR", "inputs must be a list of {id}")
        archived = req.one("archived") == "true"
        found, missing = [], []
        for item in inputs:
            contact = self.contacts.get(str(item["id"]))
            if contact is None or contact["archived"] != archived:
                missing.append(str(item["id"]))
            else:
                found.append(self._select(contact, args.get("properties")))
        body: dict[str, Any] = {"status": "COMPLETE", "results": found, "startedAt": EPOCH, "completedAt": EPOCH}
        if not missing:
            return 200, body
        body.update(numErrors=1, errors=[{"status": "error", "category": "OBJECT_NOT_FOUND",
                                          "message": "Could not get some CONTACT objects, they may be deleted or "
                                                     "not exist. Check that ids are valid.",
                                          "context": {"ids": missing}}])
        return 207, body

