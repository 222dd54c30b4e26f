"""PUT /v1/customers/{id}/credit-limit: admin only, validated, logged with author and reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.store import get_engine
from serving.app import create_app
from tests.utils.api_support import ApiTemplate, settings_for

CID = "C00003"
URL = f"/v1/customers/{CID}/credit-limit"
BODY = {"limit": 12_000.0, "reason": "annual review: accounts filed"}


@pytest.fixture
def client(api_template: ApiTemplate, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(api_template, tmp_path))) as c:
        yield c


def _h(api_template: ApiTemplate, role: str = "admin") -> dict[str, str]:
    return {"X-API-Key": api_template.keys[role]}


def _put(client: TestClient, headers: dict[str, str], body: Any, url: str = URL) -> Any:
    return client.put(url, json=body, headers=headers)


def test_admin_sets_the_approved_limit_and_every_change_is_logged(
    client: TestClient, api_template: ApiTemplate
) -> None:
    before = client.get(f"/v1/customers/{CID}", headers=_h(api_template)).json()
    first = _put(client, _h(api_template), BODY)
    assert first.status_code == 200, first.text
    second = _put(client, _h(api_template), {"limit": 9_500.5, "reason": "overdue again"})
    body = second.json()
    assert body["customer_id"] == CID and body["approved_limit"] == 9_500.5
    newest, older = body["history"][:2]
    assert newest["new_limit"] == 9_500.5 and newest["previous_limit"] == 12_000.0
    assert newest["reason"] == "overdue again" and newest["author"] == "test admin"
    assert newest["at"].endswith(("Z", "+00:00"))  # a date-time with its zone, as documented
    assert older["previous_limit"] == before["credit_limit"]["current"]
    # Orders and the customer page use it at once (the change log refreshed the customer).
    after = client.get(f"/v1/customers/{CID}", headers=_h(api_template)).json()
    assert after["credit_limit"]["current"] == 9_500.5
    order = client.post(
        "/v1/orders/decision", json={"customer_id": CID, "amount": 1.0}, headers=_h(api_template)
    ).json()
    assert order["credit_limit"] == 9_500.5 and order["credit_limit_source"] == "approved"
    engine = get_engine(str(client.app.state.settings.database_url))  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM credit_limit_changes")).scalar()
    assert rows == 2


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("scorer", 403), ("collector", 403)])
def test_only_admin_keys_may_set_a_limit(
    client: TestClient, api_template: ApiTemplate, role: str | None, status: int
) -> None:
    headers = {} if role is None else _h(api_template, role)
    response = _put(client, headers, BODY)
    assert response.status_code == status
    assert set(response.json()) >= {"detail", "error", "request_id"}


@pytest.mark.parametrize(
    "body",
    [
        {"limit": -1.0, "reason": "negative"},
        {"limit": "lots", "reason": "not a number"},
        {"limit": 1e13, "reason": "beyond the largest amount"},
        {"limit": 100.0},  # no reason
        {"limit": 100.0, "reason": ""},
        {"limit": 100.0, "reason": "bad\x00text"},
        {"limit": 100.0, "reason": "ok reason", "extra": 1},
    ],
)
def test_bad_limits_are_422_with_the_one_error_body(
    client: TestClient, api_template: ApiTemplate, body: dict[str, Any]
) -> None:
    response = _put(client, _h(api_template), body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "RequestValidationError"


def test_an_unknown_customer_is_404_and_nothing_is_logged(
    client: TestClient, api_template: ApiTemplate
) -> None:
    response = _put(client, _h(api_template), BODY, url="/v1/customers/NOPE/credit-limit")
    assert response.status_code == 404
    assert "unknown customer" in response.json()["detail"]
    engine = get_engine(str(client.app.state.settings.database_url))  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM credit_limit_changes")).scalar()
    assert rows == 0
