"""Clean 500s, body size limit, per-key rate limit, key cache, security headers, OpenAPI errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

import serving.routes.orders
from features.store import api_keys, get_engine
from serving.app import create_app
from serving.auth import ApiKey
from serving.deps import KeyCache
from serving.errors import ErrorOut
from serving.limits import RateLimiter
from tests.utils.api_support import ApiTemplate, settings_for
from tests.utils.net import served_in_thread
from tests.web.conftest import sign_in

ORDER = {"customer_id": "C00001", "amount": 10.0}


def _settings(template: ApiTemplate, tmp_path: Path, **overrides: Any):  # type: ignore[no-untyped-def]
    return settings_for(template, tmp_path).model_copy(update=overrides)


def _assert_error_body(body: dict, error: str) -> None:
    ErrorOut.model_validate(body)
    assert body["error"] == error and body["detail"] and body["request_id"]


# -- every 500 closes cleanly -------------------------------------------------------


@pytest.fixture
def live_server(api_template: ApiTemplate, tmp_path: Path) -> Iterator[tuple[FastAPI, int]]:
    """The app on a real uvicorn server (a thread) on a free loopback port, with the
    HTTP protocol `duecast serve` runs (a 500 closes after its last write)."""
    app = create_app(settings_for(api_template, tmp_path))
    with served_in_thread(app, lifespan="on") as port:
        yield app, port


def test_a_500_says_connection_close_and_the_next_request_works(
    live_server: tuple[FastAPI, int],
    api_template: ApiTemplate,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _app, port = live_server

    def broken(*_args: Any, customer_id: str, **_kwargs: Any) -> None:
        raise RuntimeError(f"bug while deciding for {customer_id}")

    monkeypatch.setattr(serving.routes.orders, "assess_order", broken)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"X-API-Key": api_template.keys["scorer"], "Content-Type": "application/json"}
        # Kept alive first: the connection is reused by the failing request.
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b'{"status":"ok"}'
        secret = "C00001"
        with caplog.at_level(logging.ERROR):
            conn.request("POST", "/v1/orders/decision", json.dumps(ORDER), headers)
            failed = conn.getresponse()
            raw = failed.read()
        assert failed.status == 500
        assert failed.getheader("connection") == "close"
        assert failed.getheader("content-type") == "application/json"
        body = json.loads(raw)
        _assert_error_body(body, "InternalServerError")
        assert secret not in raw.decode() and "bug while deciding" not in raw.decode()
        request_id = failed.getheader("x-request-id")
        assert body["request_id"] == request_id
        logged = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
        assert len(logged) == 1 and "/v1/orders/decision" in logged[0].getMessage()
        assert getattr(logged[0], "request_id", None) == request_id
        assert isinstance(logged[0].exc_info[1], RuntimeError)
        # The same client object goes on: it saw `Connection: close` and opens a new connection.
        conn.request("GET", "/healthz")
        after = conn.getresponse()
        assert after.status == 200 and after.read() == b'{"status":"ok"}'
    finally:
        conn.close()


def test_a_422_never_echoes_the_input(api_template: ApiTemplate, tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(api_template, tmp_path))) as client:
        huge = "Z" * 200_000
        reply = client.post(
            "/v1/orders/decision",
            json={"customer_id": huge, "amount": 1.0},
            headers={"X-API-Key": api_template.keys["scorer"]},
        )
    assert reply.status_code == 422
    assert len(reply.content) < 2_000 and "ZZZZ" not in reply.text
    body = reply.json()
    _assert_error_body(body, "RequestValidationError")
    assert body["errors"][0]["loc"] == ["body", "customer_id"]
    assert set(body["errors"][0]) == {"loc", "msg", "type"}


# -- body size limit ----------------------------------------------------------------


async def _call(app: FastAPI, *, path: str, headers: list, chunks: list[bytes]) -> dict:
    """One ASGI request; records the reply and how many body chunks the app read."""
    reply: dict = {"reads": 0, "headers": {}, "body": b""}
    queue = list(chunks)
    if not any(name == b"content-type" for name, _ in headers):
        headers = [(b"content-type", b"application/json"), *headers]

    async def receive() -> dict:
        reply["reads"] += 1
        if not queue:
            return {"type": "http.disconnect"}
        chunk = queue.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            reply["status"] = message["status"]
            reply["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            reply["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return reply


@pytest.mark.parametrize("key_role", [None, "scorer"])
def test_a_body_over_the_limit_is_413_before_it_is_read(
    api_template: ApiTemplate, tmp_path: Path, key_role: str | None
) -> None:
    app = create_app(_settings(api_template, tmp_path, api_max_body_bytes=2_048))
    key = [(b"x-api-key", api_template.keys[key_role].encode())] if key_role else []
    declared = [(b"content-length", b"52428800"), *key]
    reply = asyncio.run(
        _call(app, path="/v1/orders/decision", headers=declared, chunks=[b"x" * 1_000])
    )
    assert reply["status"] == 413 and reply["reads"] == 0
    assert reply["headers"]["connection"] == "close"
    _assert_error_body(json.loads(reply["body"]), "RequestTooLarge")


@pytest.mark.parametrize("path", ["/v1/orders/decision", "/signin", "/healthz"])
def test_a_chunked_body_is_cut_at_the_limit(
    api_template: ApiTemplate, tmp_path: Path, path: str
) -> None:
    app = create_app(_settings(api_template, tmp_path, api_max_body_bytes=2_048))
    # No Content-Length (chunked): counted while read; 100 chunks of 1 KB are offered.
    # The sign-in reads a form body only when it is declared as one.
    form = [(b"content-type", b"application/x-www-form-urlencoded")] if path == "/signin" else []
    reply = asyncio.run(_call(app, path=path, headers=form, chunks=[b"{" * 1_024] * 100))
    if path == "/healthz":  # GET-only route: never reads the body
        assert reply["status"] == 405 and reply["reads"] == 0
        return
    assert reply["status"] == 413 and reply["reads"] == 3
    assert reply["headers"]["connection"] == "close"
    _assert_error_body(json.loads(reply["body"]), "RequestTooLarge")


def test_a_body_under_the_limit_is_served(api_template: ApiTemplate, tmp_path: Path) -> None:
    settings = _settings(api_template, tmp_path, api_max_body_bytes=2_048)
    with TestClient(create_app(settings)) as client:
        headers = {"X-API-Key": api_template.keys["scorer"]}
        assert client.post("/v1/orders/decision", json=ORDER, headers=headers).status_code == 200
        padded = json.dumps(ORDER) + " " * 3_000
        too_big = client.post(
            "/v1/orders/decision",
            content=padded,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert too_big.status_code == 413


# -- rate limit ---------------------------------------------------------------------


def test_the_decision_and_write_endpoints_are_rate_limited_per_key(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = _settings(
        api_template, tmp_path, api_rate_limit_per_second=0.01, api_rate_limit_burst=3
    )
    scorer = {"X-API-Key": api_template.keys["scorer"]}
    admin = {"X-API-Key": api_template.keys["admin"]}
    with TestClient(create_app(settings)) as client:
        codes = [
            client.post("/v1/orders/decision", json=ORDER, headers=scorer).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 200]
        limited = client.post("/v1/orders/decision", json=ORDER, headers=scorer)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) == 100  # one token at 0.01/s
        _assert_error_body(limited.json(), "RateLimited")
        # One bucket per key, shared by the limited endpoints; reads are not limited.
        score = {"invoices": [{"customer_id": "C00001", "amount": 5.0}]}
        assert client.post("/v1/invoices/score", json=score, headers=scorer).status_code == 429
        assert client.get("/v1/customers/C00001", headers=scorer).status_code == 200
        assert client.post("/v1/orders/decision", json=ORDER, headers=admin).status_code == 200
        action = {"customer_id": "C00001", "kind": "note", "text": "rate"}
        statuses = [
            client.post("/v1/actions", json=action, headers=admin).status_code for _ in range(3)
        ]
        assert statuses == [201, 201, 429]
        payment = {
            "payment_id": "P-RATE",
            "invoice_id": "INV-000001",
            "payment_date": "2026-02-28",
            "amount": 1.0,
        }
        assert client.post("/v1/events/payments", json=payment, headers=admin).status_code == 429


def test_the_bucket_refills_at_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    limiter.check("k")
    limiter.check("k")
    with pytest.raises(Exception) as refused:
        limiter.check("k")
    assert refused.value.status_code == 429  # type: ignore[attr-defined]
    assert refused.value.headers == {"Retry-After": "1"}  # type: ignore[attr-defined]
    now[0] += 0.5  # one token back at 2/s
    limiter.check("k")
    limiter.check("other")  # another key has its own bucket
    off = RateLimiter(rate=0.0, burst=1)
    for _ in range(100):
        off.check("k")


# -- key cache ----------------------------------------------------------------------


def test_the_key_cache_is_lru_bounded_and_expires() -> None:
    now = [0.0]
    cache = KeyCache(size=2, seconds=30.0, clock=lambda: now[0])
    key = ApiKey(key_id="1", name="n", role="scorer")
    cache.put("a", key)
    cache.put("b", None)
    assert cache.get("a") == (True, key)  # "a" is now the most recent
    cache.put("c", key)
    assert len(cache) == 2
    assert cache.get("b") == (False, None) and cache.get("a")[0] and cache.get("c")[0]
    now[0] = 30.0
    assert cache.get("a") == (False, None) and len(cache) == 1


def test_a_revoked_key_stops_working_after_the_cache_time(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = _settings(api_template, tmp_path, api_key_cache_size=2, api_key_cache_seconds=30)
    app = create_app(settings)
    now = [1_000.0]
    app.state.api_key_cache.clock = lambda: now[0]
    headers = {"X-API-Key": api_template.keys["collector"]}
    with TestClient(app) as client:
        assert client.get("/v1/model", headers=headers).status_code == 200
        with get_engine(settings.database_url).begin() as conn:
            conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.role == "collector")
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
        assert client.get("/v1/model", headers=headers).status_code == 200  # cached
        now[0] += 30.0
        revoked = client.get("/v1/model", headers=headers)
        assert revoked.status_code == 401
        _assert_error_body(revoked.json(), "AuthenticationError")
        for role in ("scorer", "admin"):
            client.get("/v1/model", headers={"X-API-Key": api_template.keys[role]})
        for n in range(5):
            client.get("/v1/model", headers={"X-API-Key": f"dck_unknown_{n}"})
        assert len(app.state.api_key_cache) == 2


# -- security headers ---------------------------------------------------------------


def test_html_pages_get_security_headers_and_every_reply_nosniff(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    with TestClient(create_app(settings_for(api_template, tmp_path))) as client:
        signin = client.get("/signin")
        page = sign_in(client, api_template.keys["collector"]).get("/worklist")
        api = client.get("/healthz")
        missing = client.get("/v1/model")
    for reply in (page, signin):
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["x-content-type-options"] == "nosniff"
        csp = reply.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        # Scripts (HTMX, charts) from the app only, never inline; style attributes allowed.
        assert "style-src 'self' 'unsafe-inline'" in csp and "script-src 'self'" in csp
    for reply in (api, missing):
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in reply.headers
    _assert_error_body(missing.json(), "AuthenticationError")


# -- OpenAPI ------------------------------------------------------------------------


def test_openapi_documents_every_error_with_the_one_error_model(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    with TestClient(create_app(settings_for(api_template, tmp_path))) as client:
        spec = client.get("/openapi.json").json()
    error_ref = "#/components/schemas/ErrorOut"
    limited = {
        ("post", "/v1/orders/decision"),
        ("post", "/v1/invoices/score"),
        ("post", "/v1/actions"),
        ("post", "/v1/events/invoices"),
        ("post", "/v1/events/payments"),
    }
    unsecured = {"/healthz", "/readyz", "/metrics"}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert "413" in responses, where
            for status, response in responses.items():
                if int(status) < 400 or (path == "/readyz" and status == "503"):
                    continue
                assert "content" in response, (where, status)
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, (where, status)
            if path not in unsecured:
                assert {"401", "403", "503"} <= set(responses), where
            if (method, path) in limited:
                assert "Retry-After" in responses["429"]["headers"], where
            else:
                assert "429" not in responses, where
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in responses, where
    assert "HTTPValidationError" not in json.dumps(spec["paths"])
