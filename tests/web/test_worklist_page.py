"""The worklist page: the day's ranked list, filters, sorting, paging, totals and aging."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.store import customers, get_engine
from serving.app import create_app
from tests.utils.api_support import ApiTemplate, settings_for
from tests.web.conftest import sign_in

_ROW = re.compile(r'<tr class="(today|later)" data-customer="([^"]+)">(.*?)</tr>', re.S)
_CELL = re.compile(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', re.S)


def _rows(html: str) -> list[dict[str, str]]:
    """Each row's cells by label, tags stripped, plus its customer id."""
    rows = []
    for _, cid, body in _ROW.findall(html):
        cells = {k: re.sub(r"<[^>]+>", " ", v).strip() for k, v in _CELL.findall(body)}
        rows.append({"id": cid, **cells})
    return rows


def _amount(text: str) -> float:
    return float(text.split()[0].replace(",", "")) if text[:1].isdigit() else 0.0


def _api_worklist(client: TestClient, api_template: ApiTemplate, **params: Any) -> Any:
    headers = {"X-API-Key": api_template.keys["collector"]}
    return client.get("/v1/worklist", params={"limit": 1000, **params}, headers=headers).json()


def test_the_page_lists_the_day_in_priority_order_like_the_api(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    rows = _rows(collector.get("/worklist").text)
    api = _api_worklist(collector, api_template)
    assert [r["id"] for r in rows] == [i["customer_id"] for i in api["data"]][: len(rows)]
    assert [int(r["#"]) for r in rows] == list(range(1, len(rows) + 1))
    first = api["data"][0]
    assert rows[0]["Grade"] == first["risk_grade"]
    assert _amount(rows[0]["Open"]) == pytest.approx(first["open_amount"], abs=1)
    # Every reason is shown, not the first three.
    page = collector.get("/worklist").text
    assert all(r in page for item in api["data"][: len(rows)] for r in item["reasons"])


def test_filters_narrow_the_rows_and_the_totals(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    everyone = collector.get("/worklist").text
    api = _api_worklist(collector, api_template)
    grade = api["data"][0]["risk_grade"]
    rows = _rows(collector.get(f"/worklist?grade={grade}").text)
    assert rows and all(r["Grade"] == grade for r in rows)
    expected = [i for i in api["data"] if i["risk_grade"] == grade]
    assert len(rows) == len(expected)
    step = api["data"][0]["next_action"]
    rows = _rows(collector.get(f"/worklist?step={step}").text)
    assert rows and all(r["Next action"].startswith(step.replace("_", " ")) for r in rows)
    name = api["data"][1]["name"]
    found = _rows(collector.get("/worklist", params={"q": name[:8].lower()}).text)
    assert api["data"][1]["customer_id"] in [r["id"] for r in found]
    assert _rows(collector.get("/worklist?q=no-such-customer-anywhere").text) == []
    assert "No customer matches" in collector.get("/worklist?q=no-such-customer-anywhere").text
    assert everyone.count("<tr class=") > len(rows)


def test_totals_and_aging_add_up_over_the_filtered_set(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    api = _api_worklist(collector, api_template)
    page = collector.get("/worklist").text
    assert f'<dd id="total-customers">{api["total"]}</dd>' in page
    open_total = sum(i["open_amount"] for i in api["data"])
    assert f"<dt>Open</dt><dd>{open_total:,.0f}</dd>" in page
    values = re.search(r"data-values='(\[[^']*\])'", page)
    assert values is not None
    buckets = [float(v) for v in values.group(1).strip("[]").split(",")]
    assert len(buckets) == 5 and sum(buckets) == pytest.approx(open_total, abs=1)
    overdue = sum(i["overdue_amount"] for i in api["data"])
    assert sum(buckets[1:]) == pytest.approx(overdue, abs=1)


def test_sorting_by_a_column_and_back(collector: TestClient) -> None:
    rows = _rows(collector.get("/worklist?sort=open&dir=desc").text)
    amounts = [_amount(r["Open"]) for r in rows]
    assert amounts == sorted(amounts, reverse=True) and len(set(amounts)) > 1
    rows = _rows(collector.get("/worklist?sort=open&dir=asc").text)
    assert [_amount(r["Open"]) for r in rows] == sorted(amounts)
    names = [r["Customer"] for r in _rows(collector.get("/worklist?sort=name").text)]
    assert names == sorted(names, key=str.casefold)


@pytest.fixture
def small_pages(api_template: ApiTemplate, tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(api_template, tmp_path).model_copy(update={"web_page_size": 5})
    with TestClient(create_app(settings)) as client:
        yield sign_in(client, api_template.keys["collector"])


def test_paging_walks_every_row_once(small_pages: TestClient, api_template: ApiTemplate) -> None:
    total = _api_worklist(small_pages, api_template)["total"]
    seen: list[str] = []
    page = 1
    while True:
        html = small_pages.get(f"/worklist?page={page}").text
        rows = _rows(html)
        assert len(rows) <= 5
        seen += [r["id"] for r in rows]
        if 'rel="next"' not in html:
            break
        page += 1
    assert len(seen) == total == len(set(seen)) and page == -(-total // 5)
    # A page past the end shows the last one; nonsense in the URL never errors.
    assert _rows(small_pages.get("/worklist?page=9999").text)[-1]["id"] == seen[-1]
    for query in ("page=abc", "grade=Z", "sort=evil&dir=up", "collector=%00", "q=" + "x" * 500):
        assert small_pages.get(f"/worklist?{query}").status_code == 200


def test_an_htmx_request_gets_the_results_fragment_only(collector: TestClient) -> None:
    reply = collector.get(
        "/worklist?sort=overdue&dir=desc",
        headers={"HX-Request": "true", "HX-Target": "worklist-results"},
    )
    assert reply.text.lstrip().startswith('<div id="worklist-results">')
    assert "<html" not in reply.text and _rows(reply.text)


def test_my_accounts_and_the_collector_filter(api_template: ApiTemplate, tmp_path: Path) -> None:
    settings = settings_for(api_template, tmp_path)
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        ids = [r.customer_id for r in conn.execute(sa.select(customers.c.customer_id))]
        mine = ids[::2]
        conn.execute(
            customers.update()
            .where(customers.c.customer_id.in_(mine))
            .values(collector="test collector")
        )
        conn.execute(
            customers.update()
            .where(customers.c.customer_id == ids[1])
            .values(name="<script>alert('x')</script> Ltd")
        )
    with TestClient(create_app(settings)) as client:
        sign_in(client, api_template.keys["collector"])
        own = _rows(client.get("/worklist?mine=1").text)
        assert own and {r["id"] for r in own} <= set(mine)
        same = _rows(client.get("/worklist?collector=test+collector").text)
        assert [r["id"] for r in same] == [r["id"] for r in own]
        team = _rows(client.get("/worklist?collector=-").text)
        assert team and not {r["id"] for r in team} & set(mine)
        page = client.get("/worklist?waiting=1").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page
