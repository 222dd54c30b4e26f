"""API keys on every endpoint: 401 without a (valid) key, 403 below the needed role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth import ROLES
from tests.utils.api_support import ApiTemplate, settings_for

# (method, path, body, role needed)
ENDPOINTS = [
    ("POST", "/v1/orders/decision", {"customer_id": "C00001", "amount": 10.0}, "scorer"),
    ("GET", "/v1/customers/C00001", None, "scorer"),
    (
        "POST",
        "/v1/invoices/score",
        {"invoices": [{"customer_id": "C00001", "amount": 5}]},
        "scorer",
    ),
    ("GET", "/v1/model", None, "scorer"),
    ("GET", "/v1/worklist", None, "collector"),
    ("POST", "/v1/actions", {"customer_id": "C00001", "kind": "note", "text": "hi"}, "collector"),
    (
        "POST",
        "/v1/events/invoices",
        {
            "invoice_id": "INV-AUTH",
            "customer_id": "C00001",
            "issue_date": "2026-02-01",
            "due_date": "2026-03-01",
            "amount": 10.0,
        },
        "admin",
    ),
    (
        "POST",
        "/v1/events/payments",
        {
            "payment_id": "P-AUTH",
            "invoice_id": "INV-000001",
            "payment_date": "2026-02-28",
            "amount": 1.0,
        },
        "admin",
    ),
    ("POST", "/v1/admin/reload", None, "admin"),
]
IDS = [f"{m} {p}" for m, p, _, _ in ENDPOINTS]


@pytest.fixture(scope="module")
def client(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    # One app for the module: these tests only check who may call what.
    settings = settings_for(api_template, tmp_path_factory.mktemp("auth"))
    with TestClient(create_app(settings)) as c:
        yield c


def _call(client: TestClient, method: str, path: str, body: dict | None, key: str | None):  # type: ignore[no-untyped-def]
    headers = {} if key is None else {"X-API-Key": key}
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "need"), ENDPOINTS, ids=IDS)
def test_missing_or_unknown_key_is_401(
    client: TestClient, method: str, path: str, body: dict | None, need: str
) -> None:
    missing = _call(client, method, path, body, None)
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    unknown = _call(client, method, path, body, "dck_0000_not-a-key")
    assert unknown.status_code == 401


@pytest.mark.parametrize(("method", "path", "body", "need"), ENDPOINTS, ids=IDS)
def test_every_role_gets_exactly_its_rights(
    client: TestClient,
    api_template: ApiTemplate,
    method: str,
    path: str,
    body: dict | None,
    need: str,
) -> None:
    for role in ROLES:
        response = _call(client, method, path, body, api_template.keys[role])
        if ROLES.index(role) < ROLES.index(need):
            assert response.status_code == 403, (role, response.text)
            assert need in response.json()["detail"]
        else:
            assert response.status_code in (200, 201), (role, response.text)


def test_probes_and_metrics_need_no_key(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_keys_do_not_reach_the_logs(
    client: TestClient, api_template: ApiTemplate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    key = api_template.keys["admin"]
    client.post(
        "/v1/orders/decision",
        json={"customer_id": "C00001", "amount": 10.0},
        headers={"X-API-Key": key},
    )
    client.get("/v1/customers/nobody", headers={"X-API-Key": key})
    assert key not in caplog.text
