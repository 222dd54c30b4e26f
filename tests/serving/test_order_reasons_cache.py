"""An order's customer reasons are made once per entry, and never outlive it."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.usecases import orders
from tests.utils.api_support import ApiTemplate, settings_for


@pytest.fixture(scope="module")
def client(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = settings_for(api_template, tmp_path_factory.mktemp("reasons"))
    with TestClient(create_app(settings)) as c:
        yield c


def test_orders_of_one_entry_share_its_reasons_and_a_new_entry_gets_its_own(
    client: TestClient, api_template: ApiTemplate
) -> None:
    state = client.app.state.runtime.state  # type: ignore[attr-defined]
    cid = sorted(state.entries)[0]
    entry = state.entries[cid]
    headers = {"X-API-Key": api_template.keys["scorer"]}
    texts = []
    for amount in (10.0, 20.0):
        answer = client.post(
            "/v1/orders/decision", json={"customer_id": cid, "amount": amount}, headers=headers
        ).json()
        texts.append([r["text"] for r in answer["reasons"]])
    made = orders._customer_reasons(entry)
    assert orders._customer_reasons(entry) is made  # made once for the entry
    assert [r.text for r in made[0]] == list(entry.grade.facts)
    assert [r.text for r in made[1]] == [r.text for r in entry.typical.reasons]
    for got in texts:  # the answers hold them, the grade's facts before the model's
        assert all(r.text in got for r in made[0] + made[1])

    # A refreshed entry (same customer, other facts) gets its own, and the cache does
    # not keep it alive once the state lets it go.
    grade = dataclasses.replace(entry.grade, facts=("a fact of the refreshed entry",))
    refreshed = dataclasses.replace(entry, grade=grade)
    assert [r.text for r in orders._customer_reasons(refreshed)[0]] == [
        "a fact of the refreshed entry"
    ]
    held = weakref.ref(refreshed)
    del refreshed
    gc.collect()
    assert held() is None
    assert [r.text for r in orders._customer_reasons(entry)[0]] == list(entry.grade.facts)
