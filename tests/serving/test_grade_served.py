"""Grades as served on a generated store: ledger-consistent, one per customer, monotone.

On the api_template store (a generated ledger, a tiny real bundle): no customer with an
invoice past due + H is graded above D and its reasons say why; orders of any size show
the customer's grade; a bundle trained with the spec's constraints never grades a
customer better for a worse fact.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import customer_state_and_open_rows
from features.online import new_invoice_features, state_records
from features.spec import FEATURE_COLUMNS, FEATURE_SPEC
from kernel.policy import GRADES, PolicySettings
from serving.app import create_app
from serving.decisions.grades import assess_grade
from serving.decisions.scores import past_horizon
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for, train_tiny_bundle

DIRECTED = [f.name for f in FEATURE_SPEC if f.direction]


@pytest.fixture(scope="module")
def client(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = settings_for(api_template, tmp_path_factory.mktemp("grades"))
    with TestClient(create_app(settings)) as c:
        yield c


def _h(api_template: ApiTemplate) -> dict[str, str]:
    return {"X-API-Key": api_template.keys["scorer"]}


def _past_horizon_customers(client: TestClient) -> dict[str, list[str]]:
    state = client.app.state.runtime.state  # type: ignore[attr-defined]
    horizon = state.bundle.horizon_days
    found: dict[str, list[str]] = {}
    for cid, entry in state.entries.items():
        late = [
            inv.invoice_id
            for inv in entry.invoices
            if past_horizon(inv.due_date, as_of=state.as_of, horizon_days=horizon)
        ]
        if late:
            found[cid] = late
    return found


def test_no_customer_past_the_horizon_is_graded_above_d_and_each_says_why(
    client: TestClient, api_template: ApiTemplate
) -> None:
    late = _past_horizon_customers(client)
    assert len(late) >= 3, "the generated store should hold customers past the horizon"
    for cid, invoices in late.items():
        body = client.get(f"/v1/customers/{cid}", headers=_h(api_template)).json()
        assert body["risk_grade"] in ("D", "E"), (cid, body["grade_reason"])
        first = body["reasons"][0]
        assert first["source"] == "policy"
        assert "past the 90-day default horizon" in first["text"]
        assert any(inv in first["text"] for inv in invoices)
        assert body["grade_reason"].startswith(f"grade {body['risk_grade']}: ")


def test_one_grade_per_customer_whatever_the_order_size(
    client: TestClient, api_template: ApiTemplate
) -> None:
    state = client.app.state.runtime.state  # type: ignore[attr-defined]
    customers = sorted(state.entries)[:8] + sorted(_past_horizon_customers(client))[:2]
    for cid in customers:
        grade = client.get(f"/v1/customers/{cid}", headers=_h(api_template)).json()["risk_grade"]
        answers = [
            client.post(
                "/v1/orders/decision",
                json={"customer_id": cid, "amount": amount},
                headers=_h(api_template),
            ).json()
            for amount in (100.0, 1_000.0, 10_000_000.0)
        ]
        assert [a["risk_grade"] for a in answers] == [grade] * 3, cid
        assert answers[-1]["decision"] == "decline"
        for answer in answers:
            texts = [r["text"] for r in answer["reasons"]]
            # The order's own risk is beside the grade, the grade text is not repeated.
            assert any(t.startswith("this order alone: ") for t in texts), texts
            assert not any(t.startswith(f"grade {grade}: ") for t in texts), texts
            assert all(t.count(f"grade {grade}") <= 1 for t in texts), texts


@pytest.fixture(scope="module")
def constrained(api_template: ApiTemplate) -> tuple:
    """A tiny bundle trained with the spec's constraints, and the customers' typical rows."""
    bundle = train_tiny_bundle(api_template.ledger, as_of=AS_OF, monotone=True)
    state, _ = customer_state_and_open_rows(api_template.ledger, as_of=AS_OF)
    records = state_records(state)
    rows = np.vstack(
        [bundle.row(new_invoice_features(r, amount=1500.0, as_of=AS_OF)) for r in records.values()]
    )
    return bundle, rows


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), feature=st.sampled_from(DIRECTED), step=st.floats(0.01, 500.0))
def test_a_worse_fact_never_lowers_the_served_risk_nor_the_grade(
    constrained: tuple, data: st.DataObject, feature: str, step: float
) -> None:
    bundle, rows = constrained
    policy = PolicySettings.defaults()
    k = data.draw(st.integers(0, len(rows) - 1))
    j = FEATURE_COLUMNS.index(feature)
    before = rows[k : k + 1].copy()
    if np.isnan(before[0, j]):
        before[0, j] = 0.0
    after = before.copy()
    after[0, j] += step * next(f.direction for f in FEATURE_SPEC if f.name == feature)
    p0, p1 = (float(bundle.predict(x).p_default[0]) for x in (before, after))
    assert p1 >= p0 - 1e-12, (feature, p0, p1)
    g0, g1 = (assess_grade(p, policy=policy).grade for p in (p0, p1))
    assert GRADES.index(g1) >= GRADES.index(g0)
