"""An import plus an overrides file: what the description cannot say, kept apart so it re-imports.

The bundled OpenAI manifests are made this way; these tests use a small description written here,
and check the OpenAI one end to end through the CLI.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

import engine
from engine import cli
from engine.importer import build_manifest
from engine.overrides import import_with_overrides, load_overrides

ROOT = Path(__file__).resolve().parent.parent

SPEC = """
openapi: 3.1.0
info: {title: Shop, version: '7'}
servers: [{url: 'https://shop.example.com/v1'}]
security: [{BearerAuth: []}]
paths:
  /orders:
    get:
      operationId: listOrders
      summary: Lists the orders.
      x-meta: {title: List orders, section: Sales}
      parameters:
        - {name: limit, in: query, description: 'Limit can range between 1 and 50.', schema: {type: integer}}
        - {name: starting_after, in: query, schema: {type: string}}
        - {name: X-Shop-Tenant, in: header, schema: {type: string, x-sdk-name: tenant}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  data: {type: array, items: {$ref: '#/components/schemas/Order'}}
                  has_more: {type: boolean}
    post:
      operationId: createOrder
      summary: Creates an order.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [sku]
              properties:
                sku: {type: string}
                stream: {type: boolean}
      responses:
        '200':
          description: ok
          content:
            application/json: {schema: {$ref: '#/components/schemas/Order'}}
            text/event-stream: {schema: {type: string}}
  /orders/{order_id}:
    get:
      operationId: getOrder
      parameters: [{name: order_id, in: path, required: true, schema: {type: string}}]
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Order'}}}}
  /orders/{order_id}/invoice:
    get:
      operationId: getInvoice
      parameters: [{name: order_id, in: path, required: true, schema: {type: string}}]
      responses:
        '200':
          description: ok
          content: {application/pdf: {schema: {type: string}}, application/json: {schema: {type: object}}}
  /orders/{order_id}?beta=true:
    get:
      operationId: getOrderBeta
      parameters: [{name: order_id, in: path, required: true, schema: {type: string}}]
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Order'}}}}
  /calls:
    post:
      operationId: createCall
      security: [{Admin: []}]
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [sdp]
              properties:
                sdp: {type: string}
                session: {type: object}
            encoding:
              sdp: {contentType: application/sdp}
              session: {contentType: application/json}
          application/sdp:
            schema: {type: string}
      responses:
        '201': {description: created}
webhooks:
  order.paid:
    post:
      requestBody:
        content:
          application/json: {schema: {$ref: '#/components/schemas/OrderPaid'}}
      responses: {'200': {description: ok}}
components:
  securitySchemes:
    BearerAuth: {type: http, scheme: bearer}
    Admin: {type: apiKey, in: header, name: X-Admin-Key}
  schemas:
    Order:
      type: object
      properties: {id: {type: string}, sku: {type: string}}
    OrderPaid:
      type: object
      properties: {type: {type: string, enum: [order.paid]}, data: {$ref: '#/components/schemas/Order'}}
    Money:
      type: object
      properties: {amount: {type: integer}}
"""

OVERRIDES = """
import:
  names: path
  summary: [x-meta.title, summary]
  description: [summary]
  group: [tags.0, x-meta.section]
  param_name: [schema.x-sdk-name]
  credentials: {BearerAuth: api_key, Admin: admin_key}
connector:
  name: shop
  base_url_env: SHOP_BASE_URL
  credentials:
    api_key: {type: header, header: Authorization, prefix: 'Bearer ', env: SHOP_KEY}
  default_credential: api_key
  webhooks:
    type: standard_webhooks
    secret_env: SHOP_WEBHOOK_SECRET
definitions:
  paginations:
    cursor: {type: cursor, items: data, next: {last_item: id}, send: {param: starting_after}, has_more: has_more}
  streams:
    sse: {type: sse, data: json, done: '[DONE]'}
shared_params: [order_id]
detect:
  stream_param: stream
  stream_style: sse
  paginations:
    - {use: cursor, query_params: [starting_after]}
rules:
  - match: {path_prefix: /orders, method: GET}
    set: {headers: {X-Api-Version: '2024-01'}}
actions:
  getOrderBeta: {name: orders.beta.retrieve}
  createOrder:
    params:
      sku: {title: SKU, order: 1}
    response: {schema: {$ref: '#/schemas/Money'}}
composites:
  - name: orders.create_and_get
    summary: Create an order, then read it back.
    params_from: orders.create
    steps:
      - {name: made, type: call, action: orders.create}
      - {type: call, action: orders.retrieve, params: {order_id: "{{ steps.made.id }}"}}
"""


@pytest.fixture
def files(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    ov = tmp_path / "overrides.yaml"
    ov.write_text(OVERRIDES, encoding="utf-8")
    return spec, ov


def _bytes(body):
    return body if isinstance(body, bytes) else b"".join(bytes(c) for c in body)


def _action(manifest, name):
    return next(a for a in manifest["actions"] if a["name"] == name)


def test_import_options_choose_names_texts_groups_and_credentials(files):
    spec, _ = files
    manifest, _ = build_manifest(yaml.safe_load(SPEC), "shop", yaml.safe_load(OVERRIDES)["import"],
                                 fixed_names={"getOrderBeta": "orders.beta.retrieve"})
    names = [a["name"] for a in manifest["actions"]]
    # Path-shaped names; the fixed one kept; `GET /orders/{id}` alone keeps `orders.retrieve`.
    assert names == ["orders.list", "orders.create", "orders.retrieve", "orders.invoice.list",
                     "orders.beta.retrieve", "calls.create"]
    listing = _action(manifest, "orders.list")
    assert listing["summary"] == "List orders" and listing["description"] == "Lists the orders."
    assert listing["group"] == "sales"
    by_name = {p["name"]: p for p in listing["params"]}
    assert by_name["tenant"]["wire"] == "X-Shop-Tenant"
    assert by_name["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 50}  # the prose's limit
    assert set(manifest["connector"]["credentials"]) == {"api_key", "admin_key"}
    assert _action(manifest, "calls.create")["credential"] == "admin_key"


def test_path_names_that_collide_take_the_operation_id():
    manifest, notes = build_manifest(yaml.safe_load(SPEC), "shop", {"names": "path"})
    names = [a["name"] for a in manifest["actions"]]
    assert "orders.get_order" in names and "orders.get_order_beta" in names
    assert "orders.retrieve" not in names


def test_unknown_or_wrong_import_options_are_all_reported():
    with pytest.raises(engine.Error) as exc:
        build_manifest(yaml.safe_load(SPEC), "shop", {"naems": "path", "summary": 3, "names": "tags"})
    text = str(exc.value)
    assert "'naems' is unknown" in text and "'summary' must be a dotted path" in text and "'tags'" in text


def test_first_answer_type_decides_and_a_form_field_may_be_the_whole_body(files):
    manifest, _ = build_manifest(yaml.safe_load(SPEC), "shop")
    invoice = next(a for a in manifest["actions"] if a["operation_id"] == "getInvoice")
    assert invoice["response"] == {"type": "binary"}
    assert invoice["headers"] == {"Accept": "application/pdf, application/json"}
    call = next(a for a in manifest["actions"] if a["operation_id"] == "createCall")
    assert call["body"]["type"] == "choice"
    eng = engine.Engine(manifest=engine.load(manifest), bearer_auth="k", admin="a")
    req = eng.prepare(call["name"], {"sdp": "v=0"})
    assert req.headers["Content-Type"] == "application/sdp" and _bytes(req.body) == b"v=0"
    req = eng.prepare(call["name"], {"sdp": "v=0", "session": {"model": "m"}})
    assert req.headers["Content-Type"].startswith("multipart/form-data; boundary=")


def test_overrides_apply_in_order_and_the_result_loads(files):
    spec, ov = files
    manifest, notes = import_with_overrides(spec, ov)
    loaded = engine.load(manifest)
    conn = manifest["connector"]
    assert conn["name"] == "shop" and conn["version"] == "7"  # kept from the import where not overridden
    assert conn["credentials"]["api_key"]["env"] == "SHOP_KEY"  # replaced whole, by name
    assert conn["credentials"]["admin_key"]["header"] == "X-Admin-Key"  # the import's, untouched
    assert conn["webhooks"]["events"] == {"order.paid": {"$ref": "#/schemas/OrderPaid"}}
    assert {"Order", "OrderPaid", "Money"} <= set(manifest["schemas"])  # what the overrides refer to is kept
    listing = _action(manifest, "orders.list")
    assert listing["pagination"] == "cursor" and listing["headers"] == {"X-Api-Version": "2024-01"}
    assert "X-Api-Version" not in (_action(manifest, "orders.create").get("headers") or {})  # GET only
    create = _action(manifest, "orders.create")
    assert create["stream"] == {"when": "stream", "use": "sse"}
    assert create["response"]["schema"] == {"$ref": "#/schemas/Money"}
    sku = next(p for p in create["params"] if p.get("name") == "sku")
    assert sku["title"] == "SKU" and sku["required"] is True
    assert manifest["definitions"]["streams"]["sse"] == {"type": "sse", "data": "json", "done": "[DONE]"}
    assert manifest["definitions"]["parameters"]["order_id"]["in"] == "path"
    assert {"use": "order_id"} in _action(manifest, "orders.retrieve")["params"]
    assert "credential" not in listing  # the default is not repeated
    assert _action(manifest, "orders.beta.retrieve")["query"] == {"beta": "true"}
    assert "orders.create_and_get" in loaded.composites
    # Notes the overrides answered are gone: paging and the stream are declared.
    assert not [n for n in notes if n.kind in ("paging", "stream")]


def test_overrides_mistakes_are_errors_that_name_them(files, tmp_path):
    spec, _ = files
    base = yaml.safe_load(OVERRIDES)
    cases = [
        ({"actions": {"nope": {"name": "x.y"}}}, "no operation ['nope']"),
        ({"actions": {"createOrder": {"params": {"skew": {"title": "x"}}}}}, "no parameter ['skew']"),
        ({"actions": {"getOrderBeta": {"name": "orders.x"}, "getOrder": {"name": "orders.x"}}},
         "duplicate action names ['orders.x']"),
        ({"rules": [{"match": {"path": "/x"}, "set": {}}]}, "not ['path']"),
        ({"sandbox": {}}, "unknown section(s) ['sandbox']"),
    ]
    for change, message in cases:
        ov = tmp_path / "bad.yaml"
        ov.write_text(yaml.safe_dump({**base, **change}), encoding="utf-8")
        with pytest.raises(engine.Error) as exc:
            import_with_overrides(spec, ov)
            pytest.fail(f"no error for {change}")
        assert message in str(exc.value), (change, str(exc.value))


def test_extends_merges_a_base_file_and_refuses_a_loop(tmp_path):
    (tmp_path / "base.yaml").write_text(OVERRIDES, encoding="utf-8")
    (tmp_path / "mine.yaml").write_text(
        "extends: base.yaml\n"
        "connector: {title: Shop (EU)}\n"
        "rules: [{match: {path_prefix: /calls}, set: {headers: {X-Region: eu}}}]\n", encoding="utf-8")
    ov = load_overrides(tmp_path / "mine.yaml")
    assert ov["connector"]["name"] == "shop" and ov["connector"]["title"] == "Shop (EU)"
    assert len(ov["rules"]) == 2 and ov["rules"][1]["set"]["headers"] == {"X-Region": "eu"}
    assert ov["composites"][0]["name"] == "orders.create_and_get"
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n", encoding="utf-8")
    with pytest.raises(engine.Error, match="extends itself"):
        load_overrides(tmp_path / "loop.yaml")


def test_cli_import_with_overrides(files, tmp_path):
    spec, ov = files
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "shop-manifest.yaml"
    assert cli.main(["import", str(spec), "--overrides", str(ov), "-o", str(target)], out, err) == 0
    assert engine.load(str(target)).connector["name"] == "shop"
    assert "[paging]" not in err.getvalue()
    err = io.StringIO()
    assert cli.main(["import", str(spec), "--overrides", str(tmp_path / "missing.yaml"), "-o", "-"],
                    io.StringIO(), err) == 2
    assert "missing.yaml" in err.getvalue()


@pytest.mark.parametrize("spec, overrides, committed", [
    ("openapi/openai-2025-01-21.yaml.xz", "tools/overrides.yaml", "connector.yaml"),
    pytest.param("openapi/openai-2026-08-21.yaml.xz", "tools/overrides-2026.yaml",
                 "engine/_data/openai-2026-08-21.yaml", marks=pytest.mark.slow),
])
def test_the_bundled_openai_manifests_are_this_import_plus_their_overrides(tmp_path, spec, overrides, committed):
    target = tmp_path / "openai.yaml"
    args = ["import", str(ROOT / spec), "--overrides", str(ROOT / overrides), "-o", str(target)]
    assert cli.main(args, io.StringIO(), io.StringIO()) == 0
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(target, "rb") as a, open(ROOT / committed, "rb") as b:
        assert yaml.load(a, Loader=loader) == yaml.load(b, Loader=loader)


def test_the_documented_overrides_example_applies(files, tmp_path):
    """docs/language.md#overrides shows an overrides file for a shop API: it applies to one as written."""
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    start = text.index("# overrides.yaml for a shop API")
    example = text[start:text.index("```", start)]
    ov = tmp_path / "documented.yaml"
    ov.write_text(example, encoding="utf-8")
    spec, _ = files
    manifest, _ = import_with_overrides(spec, ov)
    loaded = engine.load(manifest)
    assert loaded.actions["orders.list"].spec["pagination"] == "cursor"
    assert "orders.beta.retrieve" in loaded.actions
    assert manifest["connector"]["retry"]["max_retries"] == 3
