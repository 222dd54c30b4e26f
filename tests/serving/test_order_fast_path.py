"""The order decision's fast path answers exactly as the FastAPI route would.

Two apps on two copies of the template store: one as served, one without the fast path
(every order through FastAPI's routing, dependencies and body parsing). Each request
goes to both; status, content type and body must agree (request ids and the new
reservation's random id aside).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.middleware.errors import ServerErrorMiddleware

from serving.app import create_app
from serving.routes import orders_fast
from serving.routes.orders_fast import OrderDecisionFastPath
from tests.utils.api_support import AS_OF, ApiTemplate, request_count, settings_for

PATH = "/v1/orders/decision"


def _without_fast_path(app: FastAPI) -> FastAPI:
    # The middleware stack is built on the first request: removing it before then
    # leaves the FastAPI route to answer every order.
    app.user_middleware = [m for m in app.user_middleware if m.cls is not OrderDecisionFastPath]
    return app


@pytest.fixture(scope="module")
def pair(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, TestClient]]:
    fast = create_app(settings_for(api_template, tmp_path_factory.mktemp("fast")))
    routed = _without_fast_path(
        create_app(settings_for(api_template, tmp_path_factory.mktemp("routed")))
    )
    with TestClient(fast) as f, TestClient(routed) as r:
        yield f, r


def _comparable(response: Any) -> tuple[int, str, Any]:
    body: Any = response.content
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        body.pop("request_id", None)
        if isinstance(body.get("reservation"), dict):
            body["reservation"]["reservation_id"] = "<new>"
    return response.status_code, response.headers.get("content-type", ""), body


CASES: dict[str, dict[str, Any]] = {
    "small order": {"json": {"customer_id": "C00001", "amount": 50.0}},
    "large order": {"json": {"customer_id": "C00002", "amount": 9_000_000.0}},
    "with an order id": {"json": {"customer_id": "C00003", "amount": 80.0, "order_id": "SO-1"}},
    "in GBP": {"json": {"customer_id": "C00004", "amount": 70.0, "currency": "GBP"}},
    "unknown currency": {"json": {"customer_id": "C00004", "amount": 70.0, "currency": "XXX"}},
    "dated another day": {
        "json": {"customer_id": "C00005", "amount": 60.0, "order_date": "2026-01-15"}
    },
    "unknown customer": {"json": {"customer_id": "NOPE", "amount": 10.0}},
    "unknown attribute": {
        "json": {"customer_id": "C00001", "amount": 10.0, "attributes": {"colour": "red"}}
    },
    "negative amount": {"json": {"customer_id": "C00001", "amount": -1}},
    "no customer": {"json": {"amount": 10.0}},
    "an unknown field": {"json": {"customer_id": "C00001", "amount": 1.0, "rush": True}},
    "broken JSON": {"content": b'{"customer_id": "C0', "type": "application/json"},
    "empty body": {"content": b"", "type": "application/json"},
    "JSON sent as text": {
        "content": b'{"customer_id": "C00001", "amount": 5.0}',
        "type": "text/plain",
    },
    "charset in the content type": {
        "content": b'{"customer_id": "C00006", "amount": 5.0}',
        "type": "application/json; charset=utf-8",
    },
    "no key": {"json": {"customer_id": "C00001", "amount": 5.0}, "key": None},
    "a wrong key": {"json": {"customer_id": "C00001", "amount": 5.0}, "key": "nope"},
    "a wrong key and a bad body": {"json": {"amount": -5}, "key": "nope"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_answers_as_the_route(
    pair: tuple[TestClient, TestClient], api_template: ApiTemplate, case: str
) -> None:
    spec = CASES[case]
    key = spec.get("key", api_template.keys["scorer"])
    headers = {} if key is None else {"X-API-Key": key}
    if "type" in spec:
        headers["Content-Type"] = spec["type"]
    kwargs = {"json": spec["json"]} if "json" in spec else {"content": spec["content"]}
    fast, routed = (client.post(PATH, headers=headers, **kwargs) for client in pair)
    assert _comparable(fast) == _comparable(routed)


def test_a_chunked_body_is_answered_as_by_the_route(
    pair: tuple[TestClient, TestClient], api_template: ApiTemplate
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the route reads it
        yield b'{"customer_id": "C00007", '
        yield b'"amount": 15.0}'

    headers = {"X-API-Key": api_template.keys["scorer"], "Content-Type": "application/json"}
    fast, routed = (client.post(PATH, headers=headers, content=chunks()) for client in pair)
    assert fast.status_code == 200
    assert _comparable(fast) == _comparable(routed)


def test_a_well_formed_order_is_decided_by_the_fast_path_and_counted_as_the_route(
    pair: tuple[TestClient, TestClient], api_template: ApiTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, _ = pair
    decided = []
    original = orders_fast.decide

    async def counted(*args: Any) -> Any:
        decided.append(args)
        return await original(*args)

    monkeypatch.setattr(orders_fast, "decide", counted)
    headers = {"X-API-Key": api_template.keys["scorer"]}
    before = _order_count(fast)
    answer = fast.post(PATH, headers=headers, json={"customer_id": "C00008", "amount": 40.0})
    assert answer.status_code == 200 and answer.json()["as_of"] == AS_OF.isoformat()
    assert len(decided) == 1
    assert answer.headers["x-request-id"] and answer.headers["x-content-type-options"]
    assert fast.post(PATH, headers=headers, json={"amount": -1}).status_code == 422
    assert len(decided) == 1  # an invalid body went to the route
    assert _order_count(fast) == before + 1


def _order_count(client: TestClient) -> float:
    return request_count(client.get("/metrics").text, "POST", PATH)


def test_the_rate_limit_answers_as_the_route(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> None:
    answers = []
    for fast_path in (True, False):
        settings = settings_for(api_template, tmp_path_factory.mktemp("limited")).model_copy(
            update={"api_rate_limit_per_second": 0.01, "api_rate_limit_burst": 2}
        )
        app = create_app(settings)
        if not fast_path:
            _without_fast_path(app)
        headers = {"X-API-Key": api_template.keys["scorer"]}
        with TestClient(app) as client:
            got = [
                client.post(PATH, headers=headers, json={"customer_id": "C00009", "amount": 1.0})
                for _ in range(3)
            ]
        assert [r.status_code for r in got] == [200, 200, 429]
        answers.append((_comparable(got[2]), got[2].headers["retry-after"]))
    assert answers[0] == answers[1]


def test_an_order_skips_the_framework_layers_other_routes_pass(
    pair: tuple[TestClient, TestClient], api_template: ApiTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `serving.app.DuecastAPI` hands the order route to the app's own middleware; the
    # layers FastAPI and Starlette add (the server-error guard among them) see the rest.
    fast, _ = pair
    seen: list[str] = []
    guard = ServerErrorMiddleware.__call__

    async def counted(self: ServerErrorMiddleware, scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await guard(self, scope, receive, send)

    monkeypatch.setattr(ServerErrorMiddleware, "__call__", counted)
    headers = {"X-API-Key": api_template.keys["scorer"]}
    order = fast.post(PATH, headers=headers, json={"customer_id": "C00010", "amount": 30.0})
    invalid = fast.post(PATH, headers=headers, json={"amount": -1})
    assert (order.status_code, invalid.status_code) == (200, 422)
    assert order.headers["x-request-id"] and invalid.headers["x-request-id"]
    assert fast.get("/healthz").status_code == 200
    assert seen == ["/healthz"]
