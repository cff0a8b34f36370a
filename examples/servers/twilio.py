"""A loopback Twilio REST API (2010-04-01) that plays the documented behaviour the example connector relies on.

    with TwilioServer() as twilio:
        eng = engine.Engine(manifest="examples/twilio.yaml", base_url=twilio.url,
                            auth_token=twilio.login, account_sid=twilio.account_sid)

What it plays, as https://www.twilio.com/docs/usage/api documents it:
- auth: HTTP Basic with the Account SID and Auth Token, or an API Key SID (SK...) and its secret; anything
  else, or an account in the path other than the one authenticated, is a 401 with error 20003 and
  `WWW-Authenticate: Basic realm="Twilio API"`;
- every resource under `/2010-04-01/Accounts/{AccountSid}/...`, `.json` answers, a `Twilio-Request-Id`;
- bodies: `application/x-www-form-urlencoded` only, with Twilio's PascalCase names; repeated keys are lists
  (`MediaUrl=a&MediaUrl=b`); an empty `Body=` on an existing message redacts it;
- lists: newest first, `PageSize` (1-1000, default 50), items under the resource's name (`messages`,
  `calls`, `incoming_phone_numbers`) beside `page`, `page_size`, `start`, `end`, `uri`, `first_page_uri`,
  `previous_page_uri` and `next_page_uri`: a path relative to the host carrying the filters, `Page` and a
  `PageToken` (`PA` + the SID the next page starts after), null on the last page;
- filters: `To`, `From`, `DateSent` with `DateSent<` / `DateSent>` (on or before / after a UTC day), calls'
  `Status` and `StartTime`, numbers' `PhoneNumber` (digits contained) and `FriendlyName`;
- errors: `{"code", "message", "more_info", "status"}`: 20404 not found, 21211 invalid `To`, 21602 no body,
  21603 no `From`, 21604 no `To`, 21205 a call with neither `Url`, `Twiml` nor `ApplicationSid`, 20001
  other bad params, 20429 Too Many Requests (on demand: `throttle_next`);
- calls go `queued` -> `ringing` -> `in-progress` -> `completed` one step each time they are fetched; a `To`
  listed in `outcomes` ends `busy`, `no-answer`, `failed` or `canceled` instead (after `ringing`);
- DELETE answers 204 with no body.

Bound to 127.0.0.1 on an ephemeral port; `stop()` closes every connection and joins every thread.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import re
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode

from ._base import Injected, LoopbackServer, Request

__all__ = ["TwilioServer", "TwilioError", "ACCOUNT_SID", "AUTH_TOKEN", "API_KEY_SID", "API_KEY_SECRET"]

ACCOUNT_SID = "AC" + "1a2b3c4d" * 4
AUTH_TOKEN = "twilio-loopback-SECRET-auth-token"
API_KEY_SID = "SK" + "5e6f7a8b" * 4
API_KEY_SECRET = "twilio-loopback-SECRET-key-secret"
VERSION = "/2010-04-01"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
CALL_ENDS = ("completed", "busy", "no-answer", "failed", "canceled")
START = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


class TwilioError(Exception):
    """An error answer, as Twilio writes it."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}", "status": self.status, **self.extra}


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def stamp(when: datetime) -> str:
    """Twilio's dates: RFC 2822, UTC (`Fri, 01 Mar 2024 12:00:00 +0000`)."""
    return format_datetime(when).replace("-0000", "+0000")


class TwilioRequest(Request):
    """A recorded request, with the form body parsed as Twilio reads it: name -> list of values."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        super().__init__(method, target, headers, body)
        self.query_string = target.partition("?")[2]

    def form(self) -> dict[str, list[str]]:
        try:
            return parse_qs(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(self.body))
        except (UnicodeDecodeError, ValueError):
            raise TwilioError(400, 20001, "Invalid request body") from None


class TwilioServer(LoopbackServer):
    """The fake account: messages, calls, phone numbers, a request log and on-demand 429s."""

    methods = ("GET", "POST", "DELETE")
    content_type = "application/json; charset=utf-8"
    request_type = TwilioRequest
    poll_interval = 0.01

    def __init__(self, messages: int = 0, calls: int = 0, numbers: int = 0) -> None:
        super().__init__()
        self.origin = self.url
        self.url = self.origin + VERSION
        self.account_sid = ACCOUNT_SID
        self.login = (ACCOUNT_SID, AUTH_TOKEN)
        self.api_key = (API_KEY_SID, API_KEY_SECRET)
        self.ids = itertools.count(1)
        self.clock = itertools.count(0)
        self.messages: dict[str, dict[str, Any]] = {}
        self.calls_: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}       # a call's To -> how it ends
        self.progress: dict[str, list[str]] = {}  # a call's sid -> the statuses it has yet to go through
        self.faults: Injected[TwilioError] = Injected()
        for n in range(messages):
            self._new_message({"To": [f"+1555000{n % 3:04d}"], "From": ["+15017122661"], "Body": [f"Message {n}"]},
                              status="delivered", sent=START + timedelta(days=n))
        for n in range(calls):
            self._new_call({"To": [f"+1555100{n:04d}"], "From": ["+15017122661"]}, status="completed")
        for n in range(numbers):
            self._new_number(f"+1415555{n:04d}", f"Line {n}")
        account = f"{VERSION}/Accounts/{ACCOUNT_SID}"
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]] = [
            ("GET", re.compile(re.escape(account) + r"\.json"), self.retrieve_account),
            ("POST", re.compile(re.escape(account) + r"/Messages\.json"), self.create_message),
            ("GET", re.compile(re.escape(account) + r"/Messages\.json"),
             lambda req: self.list_of(req, "Messages", "messages", self.messages, self._message_filter)),
            ("GET", re.compile(re.escape(account) + r"/Messages/([^/]+)\.json"), self.retrieve_message),
            ("POST", re.compile(re.escape(account) + r"/Messages/([^/]+)\.json"), self.update_message),
            ("DELETE", re.compile(re.escape(account) + r"/Messages/([^/]+)\.json"), self.delete_message),
            ("POST", re.compile(re.escape(account) + r"/Calls\.json"), self.create_call),
            ("GET", re.compile(re.escape(account) + r"/Calls\.json"),
             lambda req: self.list_of(req, "Calls", "calls", self.calls_, self._call_filter)),
            ("GET", re.compile(re.escape(account) + r"/Calls/([^/]+)\.json"), self.retrieve_call),
            ("GET", re.compile(re.escape(account) + r"/IncomingPhoneNumbers\.json"),
             lambda req: self.list_of(req, "IncomingPhoneNumbers", "incoming_phone_numbers", self.numbers,
                                      self._number_filter)),
        ]

    # -- test controls --------------------------------------------------------------------------------------
    def throttle_next(self, method: str, path: str, times: int = 1) -> None:
        """The next `times` `method path` requests (path after the host) get 429 with error 20429."""
        for _ in range(times):
            self.faults.add(TwilioError(429, 20429, "Too Many Requests"), method, path)

    def calls(self, method: str | None = None, path: str | None = None) -> list[TwilioRequest]:
        """The requests received, optionally only those of one method and path (after the host)."""
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and (path is None or r.path == path)]

    def path(self, tail: str) -> str:
        """The path of a resource of the account: `path("/Messages.json")`."""
        return f"{VERSION}/Accounts/{ACCOUNT_SID}{tail}"

    # -- dispatch -------------------------------------------------------------------------------------------
    def answer(self, req: TwilioRequest) -> tuple[int, Any, dict[str, str]]:
        headers = {"Twilio-Request-Id": f"RQ{next(self.ids):032x}"}
        try:
            self.authenticate(req)
            fault = self.faults.take(req.method, req.path)
            if fault:
                raise fault
            if req.method == "POST":
                ctype = req.headers.get("content-type", "").split(";")[0].strip()
                if ctype != "application/x-www-form-urlencoded":
                    raise TwilioError(400, 20001, f"Unsupported Content-Type {ctype or 'none'}: send a form")
            status, body = self.route(req)
            if body is None:
                return status, b"", headers
            return status, body, headers
        except TwilioError as exc:
            headers.update(exc.headers)
            return exc.status, exc.body(), headers

    def authenticate(self, req: TwilioRequest) -> None:
        scheme, _, value = req.headers.get("authorization", "").partition(" ")
        user = password = None
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                pass  # an undecodable header is no login: the 401 below
        if (user, password) not in (self.login, self.api_key):
            raise TwilioError(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'},
                              detail="Your AccountSid or AuthToken was incorrect.")
        match = re.match(re.escape(VERSION) + r"/Accounts/([^/.]+)", req.path)
        if match and match.group(1) != ACCOUNT_SID:
            raise TwilioError(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'},
                              detail="The credentials do not give access to this account.")

    def route(self, req: TwilioRequest) -> tuple[int, Any]:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.path)
            if match:
                allowed = True
                if method == req.method:
                    return handler(req, *match.groups())
        if allowed:
            raise TwilioError(405, 20004, "Method not allowed")
        raise not_found(req.path)

    def new_sid(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids):032x}"

    # -- lists ----------------------------------------------------------------------------------------------
    def list_of(self, req: TwilioRequest, resource: str, key: str, store: dict[str, dict[str, Any]],
                keep: Callable[[dict[str, Any], dict[str, list[str]]], bool]) -> tuple[int, Any]:
        q = req.query
        try:
            size = int(req.one("PageSize") or 50)
            page = int(req.one("Page") or 0)
        except ValueError:
            raise TwilioError(400, 20001, "Invalid paging parameter") from None
        if not 1 <= size <= 1000:
            raise TwilioError(400, 20001, "PageSize must be between 1 and 1000")
        with self.lock:
            rows = sorted((o for o in store.values() if keep(o, q)), key=lambda o: (o["_order"], o["sid"]),
                          reverse=True)
        token = req.one("PageToken")
        if token is not None:
            after = token[2:] if token.startswith("PA") else None
            ids = [o["sid"] for o in rows]
            if after not in ids:
                raise TwilioError(400, 20001, f"Invalid PageToken {token}")
            start = ids.index(after) + 1
        else:
            start = page * size
        chunk = rows[start:start + size]
        filters = [(name, value) for name, values in q.items() if name not in ("PageSize", "Page", "PageToken")
                   for value in values]
        base = self.path(f"/{resource}.json")

        def uri(**paging: Any) -> str:
            return base + "?" + urlencode(filters + [("PageSize", size)] + list(paging.items()))

        more = start + size < len(rows)
        return 200, {
            key: [self._public(o) for o in chunk],
            "page": page, "page_size": size, "start": start, "end": start + len(chunk) - 1 if chunk else start,
            "uri": base + ("?" + req.query_string if req.query_string else ""),
            "first_page_uri": uri(Page=0),
            "next_page_uri": uri(Page=page + 1, PageToken="PA" + chunk[-1]["sid"]) if more and chunk else None,
            "previous_page_uri": uri(Page=page - 1, PageToken="PB" + chunk[0]["sid"]) if page > 0 and chunk else None,
        }

    @staticmethod
    def _public(o: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in o.items() if not k.startswith("_")}

    @staticmethod
    def _message_filter(m: dict[str, Any], q: dict[str, list[str]]) -> bool:
        day = m["_sent"].date() if m["_sent"] else None
        for name, test in (("To", lambda v: m["to"] == v), ("From", lambda v: m["from"] == v),
                           ("DateSent", lambda v: day == _day(v)), ("DateSent<", lambda v: day and day <= _day(v)),
                           ("DateSent>", lambda v: day and day >= _day(v))):
            for value in q.get(name, []):
                if not test(value):
                    return False
        return True

    @staticmethod
    def _call_filter(c: dict[str, Any], q: dict[str, list[str]]) -> bool:
        for name, field in (("To", "to"), ("From", "from"), ("Status", "status"), ("ParentCallSid", "parent_call_sid")):
            if name in q and c[field] != q[name][0]:
                return False
        return True

    @staticmethod
    def _number_filter(n: dict[str, Any], q: dict[str, list[str]]) -> bool:
        if "PhoneNumber" in q and q["PhoneNumber"][0].lstrip("+") not in n["phone_number"]:
            return False
        return "FriendlyName" not in q or n["friendly_name"] == q["FriendlyName"][0]

    # -- messages -------------------------------------------------------------------------------------------
    def _new_message(self, form: dict[str, list[str]], status: str = "queued",
                     sent: datetime | None = None) -> dict[str, Any]:
        media = form.get("MediaUrl", [])
        sid = self.new_sid("MM" if media else "SM")
        created = START + timedelta(seconds=next(self.clock))
        message = {
            "sid": sid, "account_sid": ACCOUNT_SID, "api_version": "2010-04-01",
            "to": form["To"][0], "from": form.get("From", [None])[0],
            "messaging_service_sid": form.get("MessagingServiceSid", [None])[0],
            "body": form.get("Body", [""])[0], "status": status, "direction": "outbound-api",
            "num_segments": "1", "num_media": str(len(media)), "error_code": None, "error_message": None,
            "price": None, "price_unit": "USD",
            "date_created": stamp(created), "date_updated": stamp(created),
            "date_sent": stamp(sent) if sent else None,
            "uri": self.path(f"/Messages/{sid}.json"),
            "subresource_uris": {"media": self.path(f"/Messages/{sid}/Media.json")},
            "_sent": sent, "_order": sent or created, "_media": media,
            "_status_callback": form.get("StatusCallback", [None])[0],
        }
        with self.lock:
            self.messages[sid] = message
        return message

    def create_message(self, req: TwilioRequest) -> tuple[int, Any]:
        form = req.form()
        to = form.get("To", [""])[0]
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not E164.fullmatch(to.removeprefix("whatsapp:")):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not form.get("From", [""])[0] and not form.get("MessagingServiceSid", [""])[0]:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body", [""])[0] and not form.get("MediaUrl") and not form.get("ContentSid"):
            raise TwilioError(400, 21602, "Message body is required.")
        if len(form.get("MediaUrl", [])) > 10:
            raise TwilioError(400, 21623, "Too many media urls. The maximum is 10.")
        message = self._new_message(form)
        return 201, self._public(message)

    def _message(self, req: TwilioRequest, sid: str) -> dict[str, Any]:
        with self.lock:
            message = self.messages.get(sid)
        if message is None:
            raise not_found(req.path)
        return message

    def retrieve_message(self, req: TwilioRequest, sid: str) -> tuple[int, Any]:
        return 200, self._public(self._message(req, sid))

    def update_message(self, req: TwilioRequest, sid: str) -> tuple[int, Any]:
        message = self._message(req, sid)
        form = req.form()
        unknown = set(form) - {"Body", "Status"}
        if unknown or not form:
            raise TwilioError(400, 20001, f"Invalid parameter: {', '.join(sorted(unknown)) or 'none given'}")
        if "Body" in form:
            if form["Body"] != [""]:
                raise TwilioError(400, 20001, "Body can only be updated to the empty string (redaction).")
            message["body"] = ""
        if "Status" in form:
            if form["Status"] != ["canceled"] or message["status"] != "scheduled":
                raise TwilioError(400, 20001, "Only a scheduled message can be canceled.")
            message["status"] = "canceled"
        message["date_updated"] = stamp(START + timedelta(seconds=next(self.clock)))
        return 200, self._public(message)

    def delete_message(self, req: TwilioRequest, sid: str) -> tuple[int, Any]:
        self._message(req, sid)
        with self.lock:
            del self.messages[sid]
        return 204, None

    # -- calls ----------------------------------------------------------------------------------------------
    def _new_call(self, form: dict[str, list[str]], status: str = "queued") -> dict[str, Any]:
        sid = self.new_sid("CA")
        created = START + timedelta(seconds=next(self.clock))
        call = {
            "sid": sid, "account_sid": ACCOUNT_SID, "parent_call_sid": None, "api_version": "2010-04-01",
            "to": form["To"][0], "from": form["From"][0], "status": status, "direction": "outbound-api",
            "date_created": stamp(created), "date_updated": stamp(created), "start_time": None,
            "end_time": None, "duration": None, "price": None, "price_unit": "USD",
            "uri": self.path(f"/Calls/{sid}.json"), "_order": created,
        }
        with self.lock:
            self.calls_[sid] = call
            end = self.outcomes.get(call["to"], "completed")
            self.progress[sid] = ["ringing", "in-progress", "completed"] if end == "completed" else ["ringing", end]
        return call

    def create_call(self, req: TwilioRequest) -> tuple[int, Any]:
        form = req.form()
        to, sender = form.get("To", [""])[0], form.get("From", [""])[0]
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not (E164.fullmatch(to) or to.startswith(("sip:", "client:"))):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        if not any(form.get(name, [""])[0] for name in ("Url", "Twiml", "ApplicationSid")):
            raise TwilioError(400, 21205, "Url parameter is required.")
        return 201, self._public(self._new_call(form))

    def retrieve_call(self, req: TwilioRequest, sid: str) -> tuple[int, Any]:
        with self.lock:
            call = self.calls_.get(sid)
            if call is None:
                raise not_found(req.path)
            steps = self.progress.get(sid)
            if steps:
                call["status"] = steps.pop(0)
                now = START + timedelta(seconds=next(self.clock))
                call["date_updated"] = stamp(now)
                if call["status"] == "in-progress":
                    call["start_time"] = stamp(now)
                if call["status"] in CALL_ENDS:
                    call["end_time"] = stamp(now)
                    call["duration"] = "0" if call["start_time"] is None else "1"
            return 200, self._public(call)

    # -- numbers and the account ----------------------------------------------------------------------------
    def _new_number(self, phone: str, name: str) -> None:
        sid = self.new_sid("PN")
        with self.lock:
            self.numbers[sid] = {
                "sid": sid, "account_sid": ACCOUNT_SID, "phone_number": phone, "friendly_name": name,
                "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
                "sms_url": None, "voice_url": None, "status": "in-use",
                "uri": self.path(f"/IncomingPhoneNumbers/{sid}.json"),
                "_order": START + timedelta(seconds=next(self.clock)),
            }

    def retrieve_account(self, req: TwilioRequest) -> tuple[int, Any]:
        return 200, {
            "sid": ACCOUNT_SID, "owner_account_sid": ACCOUNT_SID, "friendly_name": "Loopback account",
            "status": "active", "type": "Full", "date_created": stamp(START), "date_updated": stamp(START),
            "uri": self.path(".json"),
            "subresource_uris": {name: self.path(f"/{name}.json") for name in ("Messages", "Calls",
                                                                               "IncomingPhoneNumbers")},
        }


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TwilioError(400, 20001, f"Invalid date: {text}") from None

