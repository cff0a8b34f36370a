"""A loopback Stripe API (v1) that plays the documented behaviour the example connector relies on.

    with StripeServer() as stripe:
        eng = engine.Engine(manifest="examples/stripe.yaml", base_url=stripe.url + "/v1",
                            secret_key=stripe.secret_key)

What it plays, as https://docs.stripe.com/api documents it:
- auth: HTTP Basic with the secret key as the username (a Bearer key works too); a missing or wrong key
  is a 401 with Stripe's error body and `WWW-Authenticate: Basic realm="Stripe"`;
- `Stripe-Version`: an unknown version is a 400; every answer names the version it used;
- bodies: `application/x-www-form-urlencoded` only, nested as Stripe parses them (`metadata[k]=v`,
  `items[0][price]=p`, `payment_method_types[]=card`); metadata is merged and `metadata[k]=` unsets k;
- lists: newest first, `limit` (1-100, default 10), `starting_after` / `ending_before` object ids,
  `{"object": "list", "data": [...], "has_more": ...}`;
- search: `query` (`field:'value'` clauses joined by AND), `page` <- the previous answer's `next_page`;
- errors: `{"error": {"type", "code", "message", "param", ...}}`, 402 for card errors;
- `Idempotency-Key`: a replayed POST returns the first answer (`Idempotent-Replayed: true`); the same key
  with other params is a 400 `idempotency_error`;
- faults on demand (`fail_next`): a 429 `rate_limit`, a 500 with `Stripe-Should-Retry`, and a list
  that claims more pages than it has (`phantom_more`).

Bound to 127.0.0.1 on an ephemeral port; `stop()` closes every connection and joins every thread.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import re
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from ._base import Injected, LoopbackServer

SECRET_KEY = "sk_test_51StripeLoopbackSecretKey0000"
VERSIONS = ("2024-06-20", "2024-04-10", "2023-10-16")
DEFAULT_VERSION = VERSIONS[0]
PRICES = {"price_basic": {"unit_amount": 1000, "currency": "usd"},
          "price_pro": {"unit_amount": 5000, "currency": "usd"}}
MINIMUM_AMOUNT = {"usd": 50, "eur": 50, "gbp": 30}


class StripeError(Exception):
    """An error answer: status, the `error` object and extra headers."""

    def __init__(self, status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error
        self.headers = headers or {}


def invalid(message: str, param: str | None = None, code: str | None = None, status: int = 400) -> StripeError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    return StripeError(status, error)


def mask(key: str) -> str:
    """A key as Stripe echoes it: its prefix and last four characters, never the rest."""
    return f"{key[:8]}{'*' * 16}{key[-4:]}" if len(key) > 16 else "*" * 8


def missing(kind: str, ident: str, param: str) -> StripeError:
    return invalid(f"No such {kind}: '{ident}'", param, "resource_missing", 404)


def parse_form(body: bytes) -> dict[str, Any]:
    """Nest `a[b][0][c]=v` pairs as Stripe (Rack) does: `[]` appends, an all-digit key set is a list."""
    root: dict[str, Any] = {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise invalid("Invalid request: the body is not a valid form.") from None
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if not match:
            raise invalid(f"Invalid parameter name: {key}", key)
        parts = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                if not isinstance(node, list):
                    raise invalid(f"Invalid array: {key}", key)
                if last:
                    node.append(value)
                else:
                    node.append({})
                    node = node[-1]
                continue
            if isinstance(node, list):
                raise invalid(f"Invalid array: {key}", key)
            if last:
                node[part] = value
            else:
                following = parts[i + 1]
                node = node.setdefault(part, [] if following == "" else {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
        return node
    if isinstance(node, list):
        return [_listify(v) for v in node]
    return node


def as_int(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    if name not in params:
        return default
    try:
        return int(params[name])
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {params[name]}", name) from None


def as_bool(params: dict[str, Any], name: str, default: bool = False) -> bool:
    if name not in params:
        return default
    if params[name] not in ("true", "false"):
        raise invalid(f"Invalid boolean: {params[name]}", name)
    return params[name] == "true"


def merge_metadata(current: dict[str, str], given: Any) -> dict[str, str]:
    """Metadata keys are merged; an empty value unsets its key; `metadata=` clears them all."""
    if given == "":
        return {}
    if not isinstance(given, dict):
        raise invalid("Invalid hash", "metadata")
    out = dict(current)
    for key, value in given.items():
        if len(key) > 40:
            raise invalid("Metadata keys can have up to 40 characters.", f"metadata[{key}]")
        if value == "":
            out.pop(key, None)
        else:
            out[key] = value
    return out


class Request:
    """One recorded request, as it came off the wire."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path, _, self.query = target.partition("?")
        self.headers = headers
        self.body = body

    def query_params(self) -> dict[str, Any]:
        return parse_form(self.query.encode())

    def form(self) -> dict[str, Any]:
        return parse_form(self.body)


class StripeServer(LoopbackServer):
    """The fake API: a store of objects, the routes, a request log and on-demand faults."""

    methods = ("GET", "POST", "DELETE")
    json_indent = 2  # Stripe pretty-prints its answers
    request_type = Request
    poll_interval = 0.01

    def __init__(self, customers: int = 0, charges: int = 0) -> None:
        super().__init__()
        self.secret_key = SECRET_KEY
        self.ids = itertools.count(1)
        self.clock = itertools.count(1_700_000_000)
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, bytes, int, dict[str, Any]]] = {}
        self.faults: Injected[tuple[int, dict[str, Any], dict[str, str]]] = Injected()
        self.phantom_more: set[str] = set()
        for n in range(customers):
            self._create_customer({"email": f"user{n}@example.com", "name": f"User {n}"})
        first = next(iter(self.customers), None)
        for n in range(charges):
            self._new_charge(first, 1000 + n)
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            ("GET", re.compile(r"/v1/customers/search"), self.search_customers),
            ("POST", re.compile(r"/v1/customers"), self.create_customer),
            ("GET", re.compile(r"/v1/customers"), lambda req: self.list_of(req, "/v1/customers", self.customers,
                                                                           self._customer_filter)),
            ("GET", re.compile(r"/v1/customers/([^/]+)"), self.retrieve_customer),
            ("POST", re.compile(r"/v1/customers/([^/]+)"), self.update_customer),
            ("DELETE", re.compile(r"/v1/customers/([^/]+)"), self.delete_customer),
            ("POST", re.compile(r"/v1/payment_intents"), self.create_payment_intent),
            ("GET", re.compile(r"/v1/payment_intents/([^/]+)"), self.retrieve_payment_intent),
            ("POST", re.compile(r"/v1/invoices"), self.create_invoice),
            ("POST", re.compile(r"/v1/subscriptions"), self.create_subscription),
            ("GET", re.compile(r"/v1/charges"), lambda req: self.list_of(req, "/v1/charges", self.charges,
                                                                         self._charge_filter)),
        ]

    # -- test controls --------------------------------------------------------------------------------------
    def fail_next(self, method: str, path: str, status: int, error: dict[str, Any],
                  headers: dict[str, str] | None = None) -> None:
        """The next `method path` request (after auth) gets this error answer instead."""
        self.faults.add((status, error, dict(headers or {})), method, path)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and (path is None or r.path == path)]

    # -- dispatch -------------------------------------------------------------------------------------------
    def answer(self, req: Request) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"Request-Id": f"req_{next(self.ids):014d}"}
        try:
            self.authenticate(req)
            version = req.headers.get("stripe-version", DEFAULT_VERSION)
            if version not in VERSIONS:
                raise invalid(f"Invalid Stripe API version: {version}")
            headers["Stripe-Version"] = version
            fault = self.faults.take(req.method, req.path)
            if fault:
                raise StripeError(*fault)
            if req.method == "POST":
                ctype = req.headers.get("content-type", "").split(";")[0].strip()
                if ctype != "application/x-www-form-urlencoded":
                    raise invalid(f"Invalid request: unsupported Content-Type {ctype}. If error persists and "
                                  f"you need assistance, please contact support@stripe.com.")
                key = req.headers.get("idempotency-key")
                if key:
                    return self._idempotent(key, req, headers)
            status, body = self.route(req)
            return status, body, headers
        except StripeError as exc:
            headers.update(exc.headers)
            return exc.status, {"error": exc.error}, headers

    def _idempotent(self, key: str, req: Request, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            seen = self.idempotency.get(key)
        if seen:
            if (seen[0], seen[1]) != (req.path, req.body):
                raise StripeError(400, {"type": "idempotency_error", "message": (
                    f"Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{key}' if you meant to execute a different request.")})
            return seen[2], seen[3], {**headers, "Idempotent-Replayed": "true", "Idempotency-Key": key}
        try:
            status, body = self.route(req)
        except StripeError as exc:
            if exc.status != 402:  # failed validation saves nothing; a declined card is a result
                raise
            status, body = exc.status, {"error": exc.error}
        with self.lock:
            self.idempotency[key] = (req.path, req.body, status, body)
        return status, body, {**headers, "Idempotency-Key": key}

    def authenticate(self, req: Request) -> None:
        auth = req.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        key = None
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(value, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        elif scheme.lower() == "bearer":
            key = value
        if not key:
            raise StripeError(401, {"type": "invalid_request_error", "message": (
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.")}, {"WWW-Authenticate": 'Basic realm="Stripe"'})
        if key != self.secret_key:
            raise StripeError(401, {"type": "invalid_request_error",
                                    "message": f"Invalid API Key provided: {mask(key)}"},
                              {"WWW-Authenticate": 'Basic realm="Stripe"'})

    def route(self, req: Request) -> tuple[int, dict[str, Any]]:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.path)
            if match:
                allowed = True
                if method == req.method:
                    return 200, handler(req, *[unquote(g) for g in match.groups()])
        if allowed:
            raise invalid(f"Unrecognized request URL ({req.method}: {req.path}).")
        raise invalid(f"Unrecognized request URL ({req.method}: {req.path}). Please see https://stripe.com/docs "
                      f"or we can help at https://support.stripe.com/.", status=404)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self.ids):014d}"

    # -- lists ----------------------------------------------------------------------------------------------
    def list_of(self, req: Request, url: str, store: dict[str, dict[str, Any]],
                keep: Callable[[dict[str, Any], dict[str, Any]], bool]) -> dict[str, Any]:
        q = req.query_params()
        limit = as_int(q, "limit", 10)
        if not 1 <= limit <= 100:  # type: ignore[operator]
            raise invalid("Invalid limit: must be between 1 and 100", "limit")
        with self.lock:
            rows = [o for o in sorted(store.values(), key=lambda o: (o["created"], o["id"]), reverse=True)
                    if keep(o, q)]
        ids = [o["id"] for o in rows]
        after, before = q.get("starting_after"), q.get("ending_before")
        if after and before:
            raise invalid("You may only specify one of these parameters: ending_before, starting_after.",
                          "ending_before")
        if after:
            if after not in ids:
                raise missing(url.rsplit("/", 1)[-1].rstrip("s"), after, "starting_after")
            start = ids.index(after) + 1
            page = rows[start:start + limit]
            more = start + limit < len(rows)
        elif before:
            if before not in ids:
                raise missing(url.rsplit("/", 1)[-1].rstrip("s"), before, "ending_before")
            end = ids.index(before)
            page = rows[max(0, end - limit):end]
            more = end - limit > 0
        else:
            page, more = rows[:limit], limit < len(rows)
        if url in self.phantom_more and not more:
            more = True  # the fault: the last page claims one more, which then comes back empty
        return {"object": "list", "url": url, "has_more": more, "data": [self.expand(o, q, "data.") for o in page]}

    @staticmethod
    def _created(obj: dict[str, Any], q: dict[str, Any]) -> bool:
        created = q.get("created")
        if created is None:
            return True
        if isinstance(created, str):
            return obj["created"] == int(created)
        ops = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
        for op, bound in created.items():
            if op not in ops:
                raise invalid(f"Received unknown parameter: created[{op}]", f"created[{op}]")
            if not ops[op](obj["created"], int(bound)):
                return False
        return True

    def _customer_filter(self, obj: dict[str, Any], q: dict[str, Any]) -> bool:
        return self._created(obj, q) and ("email" not in q or obj["email"] == q["email"])

    def _charge_filter(self, obj: dict[str, Any], q: dict[str, Any]) -> bool:
        return self._created(obj, q) and all(q[k] == obj[k] for k in ("customer", "payment_intent") if k in q)

    def expand(self, obj: dict[str, Any], q: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        fields = q.get("expand") or []
        if not isinstance(fields, list):
            raise invalid("Invalid array", "expand")
        out = dict(obj)
        for field in fields:
            name = field[len(prefix):] if field.startswith(prefix) else None
            if name == "customer" and isinstance(out.get("customer"), str):
                out["customer"] = self.customers.get(out["customer"], out["customer"])
            elif name is None or name not in out:
                raise invalid(f"This property cannot be expanded ({field}).", "expand")
        return out

    # -- customers ------------------------------------------------------------------------------------------
    def _create_customer(self, p: dict[str, Any]) -> dict[str, Any]:
        cid = self.new_id("cus")
        customer = {
            "id": cid, "object": "customer", "address": p.get("address"), "balance": as_int(p, "balance", 0),
            "created": next(self.clock), "currency": None, "default_source": None, "delinquent": False,
            "description": p.get("description"), "discount": None, "email": p.get("email"),
            "invoice_prefix": p.get("invoice_prefix", cid[-8:].upper()),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "livemode": False, "metadata": merge_metadata({}, p.get("metadata", {})), "name": p.get("name"),
            "next_invoice_sequence": 1, "phone": p.get("phone"),
            "preferred_locales": p.get("preferred_locales", []), "shipping": p.get("shipping"),
            "tax_exempt": p.get("tax_exempt", "none"), "test_clock": None,
        }
        with self.lock:
            self.customers[cid] = customer
        return customer

    def create_customer(self, req: Request) -> dict[str, Any]:
        p = req.form()
        return self.expand(self._create_customer(p), p)

    def _customer(self, cid: str) -> dict[str, Any]:
        with self.lock:
            found = self.customers.get(cid)
        if found is None:
            raise missing("customer", cid, "id")
        return found

    def retrieve_customer(self, req: Request, cid: str) -> dict[str, Any]:
        return self._customer(cid)

    def update_customer(self, req: Request, cid: str) -> dict[str, Any]:
        customer = self._customer(cid)
        p = req.form()
        unknown = set(p) - set(customer) - {"expand", "payment_method"}
        if unknown:
            name = sorted(unknown)[0]
            raise invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")
        with self.lock:
            for key, value in p.items():
                if key == "metadata":
                    customer["metadata"] = merge_metadata(customer["metadata"], value)
                elif key in ("email", "name", "phone", "description") and value == "":
                    customer[key] = None
                elif key not in ("expand", "payment_method"):
                    customer[key] = value
        return customer

    def delete_customer(self, req: Request, cid: str) -> dict[str, Any]:
        self._customer(cid)
        with self.lock:
            del self.customers[cid]
        return {"id": cid, "object": "customer", "deleted": True}

    def search_customers(self, req: Request) -> dict[str, Any]:
        q = req.query_params()
        query = q.get("query")
        if not query:
            raise invalid("Missing required param: query.", "query", "parameter_missing")
        clauses = []
        for clause in re.split(r"\s+AND\s+", query.strip()):
            m = re.fullmatch(r"(email|name|phone|metadata\['([^']+)'\])\s*(:|~)\s*'([^']*)'", clause)
            if not m:
                raise invalid(f"Invalid search query: {clause!r}. See https://stripe.com/docs/search#search-"
                              f"query-language for the query syntax.", "query", "parameter_invalid")
            clauses.append(m.groups())
        limit = as_int(q, "limit", 10)
        if not 1 <= limit <= 100:  # type: ignore[operator]
            raise invalid("Invalid limit: must be between 1 and 100", "limit")

        def hit(c: dict[str, Any]) -> bool:
            for field, meta_key, op, value in clauses:
                have = c["metadata"].get(meta_key) if meta_key else c.get(field)
                if have is None or (op == ":" and have != value) or (op == "~" and value not in have):
                    return False
            return True

        with self.lock:
            rows = [c for c in sorted(self.customers.values(), key=lambda o: (o["created"], o["id"]), reverse=True)
                    if hit(c)]
        start = 0
        if q.get("page"):
            try:
                start = int(base64.urlsafe_b64decode(q["page"].encode()).decode().removeprefix("offset:"))
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise invalid("Invalid page token.", "page", "parameter_invalid") from None
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        token = base64.urlsafe_b64encode(f"offset:{start + limit}".encode()).decode() if more else None
        return {"object": "search_result", "url": "/v1/customers/search", "has_more": more,
                "next_page": token, "data": [self.expand(c, q, "data.") for c in page]}

    # -- payments -------------------------------------------------------------------------------------------
    def _amount(self, p: dict[str, Any]) -> tuple[int, str]:
        for name in ("amount", "currency"):
            if name not in p:
                raise invalid(f"Missing required param: {name}.", name, "parameter_missing")
        amount = as_int(p, "amount")
        currency = p["currency"]
        floor = MINIMUM_AMOUNT.get(currency, 50)
        if amount < floor:  # type: ignore[operator]
            raise invalid(f"Amount must be at least {floor} cents", "amount", "amount_too_small")
        return amount, currency  # type: ignore[return-value]

    def _new_charge(self, customer: str | None, amount: int, intent: str | None = None) -> dict[str, Any]:
        charge = {"id": self.new_id("ch"), "object": "charge", "amount": amount, "amount_captured": amount,
                  "amount_refunded": 0, "captured": True, "created": next(self.clock), "currency": "usd",
                  "customer": customer, "description": None, "livemode": False, "metadata": {}, "paid": True,
                  "payment_intent": intent, "refunded": False, "status": "succeeded"}
        with self.lock:
            self.charges[charge["id"]] = charge
        return charge

    def create_payment_intent(self, req: Request) -> dict[str, Any]:
        p = req.form()
        amount, currency = self._amount(p)
        if "customer" in p:
            self._customer(p["customer"])
        pid = self.new_id("pi")
        intent = {
            "id": pid, "object": "payment_intent", "amount": amount, "amount_capturable": 0, "amount_received": 0,
            "capture_method": p.get("capture_method", "automatic_async"), "client_secret": f"{pid}_secret_loop",
            "confirmation_method": "automatic", "created": next(self.clock), "currency": currency,
            "customer": p.get("customer"), "description": p.get("description"), "last_payment_error": None,
            "latest_charge": None, "livemode": False, "metadata": merge_metadata({}, p.get("metadata", {})),
            "payment_method": p.get("payment_method"),
            "payment_method_types": p.get("payment_method_types", ["card"]), "receipt_email": p.get("receipt_email"),
            "shipping": p.get("shipping"), "statement_descriptor": p.get("statement_descriptor"),
            "status": "requires_confirmation" if p.get("payment_method") else "requires_payment_method",
        }
        if as_bool(p, "confirm"):
            self._confirm(intent)
        with self.lock:
            self.payment_intents[pid] = intent
        return self.expand(intent, p)

    def _confirm(self, intent: dict[str, Any]) -> None:
        """The documented test cards: pm_card_visa succeeds, the decline cards raise a 402 card_error."""
        method = intent["payment_method"]
        if method is None:
            raise invalid("You cannot confirm this PaymentIntent because it's missing a payment method. You can "
                          "either update the PaymentIntent with a payment method and then confirm it again, or "
                          "confirm it again directly with a payment method or ConfirmationToken.",
                          code="payment_intent_unexpected_state")
        declines = {"pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined.", None),
                    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", None,
                                                          "Your card's security code is incorrect.", "cvc")}
        if method in declines:
            code, decline_code, message, param = declines[method]
            charge = self._new_charge(intent["customer"], intent["amount"], intent["id"])
            charge.update(paid=False, captured=False, amount_captured=0, status="failed")
            error: dict[str, Any] = {"type": "card_error", "code": code, "message": message, "charge": charge["id"],
                                     "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
                                     "payment_intent": {**intent, "status": "requires_payment_method"}}
            if decline_code:
                error["decline_code"] = decline_code
            if param:
                error["param"] = param
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {k: v for k, v in error.items() if k != "payment_intent"}
            with self.lock:
                self.payment_intents[intent["id"]] = intent
            raise StripeError(402, error)
        charge = self._new_charge(intent["customer"], intent["amount"], intent["id"])
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge["id"])

    def retrieve_payment_intent(self, req: Request, pid: str) -> dict[str, Any]:
        with self.lock:
            intent = self.payment_intents.get(pid)
        if intent is None:
            raise missing("payment_intent", pid, "intent")
        return self.expand(intent, req.query_params())

    # -- billing --------------------------------------------------------------------------------------------
    def create_invoice(self, req: Request) -> dict[str, Any]:
        p = req.form()
        if "customer" not in p:
            raise invalid("Missing required param: customer.", "customer", "parameter_missing")
        self._customer(p["customer"])
        fields = p.get("custom_fields", [])
        if not isinstance(fields, list) or len(fields) > 4:
            raise invalid("Invalid array", "custom_fields")
        for i, field in enumerate(fields):
            for name in ("name", "value"):
                if not isinstance(field, dict) or name not in field:
                    raise invalid(f"Missing required param: custom_fields[{i}][{name}].",
                                  f"custom_fields[{i}][{name}]", "parameter_missing")
        iid = self.new_id("in")
        invoice = {
            "id": iid, "object": "invoice", "amount_due": 0, "amount_paid": 0,
            "auto_advance": as_bool(p, "auto_advance", False),
            "collection_method": p.get("collection_method", "charge_automatically"), "created": next(self.clock),
            "currency": p.get("currency", "usd"), "custom_fields": fields or None, "customer": p["customer"],
            "days_until_due": as_int(p, "days_until_due"), "description": p.get("description"),
            "footer": p.get("footer"), "lines": {"object": "list", "data": [], "has_more": False,
                                                "url": f"/v1/invoices/{iid}/lines"},
            "livemode": False, "metadata": merge_metadata({}, p.get("metadata", {})), "status": "draft",
            "subtotal": 0, "total": 0,
        }
        if invoice["collection_method"] == "send_invoice" and invoice["days_until_due"] is None \
                and "due_date" not in p:
            raise invalid("Invoices with `collection_method=send_invoice` must have a `days_until_due` or "
                          "`due_date`.", "days_until_due")
        with self.lock:
            self.invoices[iid] = invoice
        return invoice

    def create_subscription(self, req: Request) -> dict[str, Any]:
        p = req.form()
        if "customer" not in p:
            raise invalid("Missing required param: customer.", "customer", "parameter_missing")
        self._customer(p["customer"])
        items = p.get("items")
        if not isinstance(items, list) or not items:
            raise invalid("Missing required param: items.", "items", "parameter_missing")
        sid = self.new_id("sub")
        lines = []
        for i, item in enumerate(items):
            price = item.get("price") if isinstance(item, dict) else None
            if price not in PRICES:
                raise missing("price", str(price), f"items[{i}][price]")
            lines.append({"id": self.new_id("si"), "object": "subscription_item",
                          "price": {"id": price, "object": "price", **PRICES[price]},
                          "quantity": as_int(item, "quantity", 1), "subscription": sid,
                          "metadata": item.get("metadata", {})})
        subscription = {
            "id": sid, "object": "subscription", "cancel_at_period_end": as_bool(p, "cancel_at_period_end"),
            "collection_method": p.get("collection_method", "charge_automatically"), "created": next(self.clock),
            "currency": "usd", "customer": p["customer"], "description": p.get("description"),
            "items": {"object": "list", "data": lines, "has_more": False,
                      "url": f"/v1/subscription_items?subscription={sid}"},
            "livemode": False, "metadata": merge_metadata({}, p.get("metadata", {})),
            "status": "trialing" if "trial_period_days" in p else "active",
        }
        with self.lock:
            self.subscriptions[sid] = subscription
        return subscription
