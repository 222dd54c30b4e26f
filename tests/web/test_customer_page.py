"""The customer page: profile, open invoices, charts and action log; who may see it."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.store import TABLE_OBJECTS, api_keys
from features.wording import money, probability
from serving.web.customer_view import payment_day
from tests.utils.api_support import AS_OF, ApiTemplate

_ROW = re.compile(r'<tr data-invoice="([^"]+)">(.*?)</tr>', re.S)
_CELL = re.compile(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', re.S)
_CANVAS = re.compile(r"<canvas ([^>]*)>", re.S)


def _api(client: TestClient, template: ApiTemplate, path: str, **body: Any) -> Any:
    headers = {"X-API-Key": template.keys["collector"]}
    if body:
        reply = client.post(path, json=body, headers={"X-API-Key": template.keys["scorer"]})
    else:
        reply = client.get(path, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _first_on_worklist(client: TestClient, template: ApiTemplate) -> str:
    """The customer at the top of the day's worklist (overdue, open invoices)."""
    return str(_api(client, template, "/v1/worklist")["data"][0]["customer_id"])


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _rows(page: str) -> dict[str, dict[str, str]]:
    return {
        iid: {label: _text(cell) for label, cell in _CELL.findall(body)}
        for iid, body in _ROW.findall(page)
    }


def _canvas(page: str, kind: str) -> dict[str, Any]:
    for attrs in _CANVAS.findall(page):
        if f'data-chart="{kind}"' in attrs:
            found = dict(re.findall(r"(data-[a-z-]+|aria-hidden)='?\"?([^'\"]*)", attrs))
            labels = re.search(r"data-labels='([^']*)'", attrs)
            values = re.search(r"data-values='([^']*)'", attrs)
            assert labels and values
            found["labels"] = json.loads(html.unescape(labels.group(1)))
            found["values"] = json.loads(html.unescape(values.group(1)))
            return found
    raise AssertionError(f"no {kind} chart on the page")


def test_the_page_shows_the_numbers_the_api_gives(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = _first_on_worklist(collector, api_template)
    reply = collector.get(f"/customers/{cid}")
    assert reply.status_code == 200
    page, text = reply.text, _text(reply.text)
    api = _api(collector, api_template, f"/v1/customers/{cid}")
    assert api["name"] in text
    assert f'<span class="grade g{api["risk_grade"]}">{api["risk_grade"]}</span>' in page
    assert api["grade_reason"] in text
    assert all(r["text"] in text for r in api["reasons"])
    limit = api["credit_limit"]
    assert f'id="limit-suggested">{money(limit["suggested"])}<' in page
    if limit["current"] is not None:
        assert f'id="limit-approved">{money(limit["current"])}<' in page
    assert all(line in text for line in limit["rationale"])
    assert f'id="open-amount">{money(api["open_amount"])} in {api["open_invoices"]} invoice' in page
    assert f'id="overdue-amount">{money(api["overdue_amount"])}<' in page
    # Each open invoice: the numbers POST /v1/invoices/score gives for it.
    rows = _rows(page)
    assert len(rows) == api["open_invoices"]
    scored = _api(collector, api_template, "/v1/invoices/score", invoice_ids=list(rows))
    for inv in scored["data"]:
        row = rows[inv["invoice_id"]]
        assert row["Due"] == inv["due_date"]
        assert row["Open"] == money(inv["open_amount"])
        assert row["P(default)"] == probability(inv["p_default"])
        assert row["Expected loss"] == money(inv["expected_loss"])
        paid = row["Predicted payment"]
        assert paid.startswith(max(inv["predicted_payment_date"], AS_OF.isoformat()))
        assert all(r["text"] in row["Why"] for r in inv["reasons"])
    # The worklist's next action, on the invoice it concerns, in words.
    item = _api(collector, api_template, "/v1/worklist")["data"][0]
    step = rows[item["next_action_invoice"]]["Next step"]
    assert step.startswith(item["next_action"].replace("_", " "))


def test_predicted_payment_dates_are_never_before_today(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    # Invoices not yet due, whose early quantile would fall before today, among them.
    for cid in api_template.ledger.customers["customer_id"][:10]:
        for row in _rows(collector.get(f"/customers/{cid}").text).values():
            days = re.findall(r"\d{4}-\d{2}-\d{2}", row["Predicted payment"])
            assert len(days) == 3
            by, low, high = (dt.date.fromisoformat(d) for d in days)
            assert AS_OF <= low <= by <= high


def test_an_early_quantile_of_an_invoice_not_yet_due_is_today_at_the_earliest() -> None:
    due = AS_OF + dt.timedelta(days=7)
    assert payment_day(due, -10.0, AS_OF) == AS_OF
    assert payment_day(due, -3.4, AS_OF) == due - dt.timedelta(days=3)
    assert payment_day(due, 2.6, AS_OF) == due + dt.timedelta(days=3)


def test_charts_carry_their_data_and_a_text_alternative(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = _first_on_worklist(collector, api_template)
    page = collector.get(f"/customers/{cid}").text
    late = _canvas(page, "scatter")
    assert late["aria-hidden"] == "true"
    assert late["labels"] and len(late["labels"]) == len(late["values"])
    assert all(-24 <= x <= 0 for x in late["labels"])  # months before the serving date
    assert "months before" in late["data-x-title"]
    # The paid invoices of the template ledger, by days late.
    ledger = api_template.ledger
    assert set(late["values"]) <= set(range(-400, 400))
    assert len(late["values"]) <= int((ledger.invoices["customer_id"] == cid).sum())
    balance = _canvas(page, "line")
    assert len(balance["labels"]) == 24 and balance["labels"][-1] == "2026-03-01"
    api = _api(collector, api_template, f"/v1/customers/{cid}")
    # The last point is the open amount the serving date starts with.
    assert balance["values"][-1] == pytest.approx(api["open_amount"], abs=0.05)
    text = _text(page)
    assert "The paid invoices" in text or "The latest paid invoices" in text
    assert f"to {money(api['open_amount'])} (2026-03-01)" in text


def test_the_action_log_lists_every_action_newest_first_capped_at_100(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = "C00005"
    engine = collector.app.state.engine  # type: ignore[attr-defined]
    actions = TABLE_OBJECTS["actions"]
    start = dt.datetime(2025, 1, 1, 9, tzinfo=dt.UTC)
    rows = [
        {
            "action_id": f"t-{k:04d}",
            "customer_id": cid,
            "at": start + dt.timedelta(days=k),
            "kind": "note",
            "author": "tester",
            "text": f"note number {k:04d}",
        }
        for k in range(105)
    ]
    with engine.begin() as conn:
        conn.execute(actions.insert(), rows)
        total = conn.execute(
            sa.select(sa.func.count()).select_from(actions).where(actions.c.customer_id == cid)
        ).scalar_one()
    page = collector.get(f"/customers/{cid}").text
    log = page[page.index('id="action-log"') :]
    shown = re.findall(r"note number (\d{4})", log)
    assert shown[:3] == ["0104", "0103", "0102"]
    assert len(re.findall(r"<li>", log)) == 100
    assert f"The newest 100 of {total} actions" in _text(log)


def test_an_unknown_customer_is_a_404_page(collector: TestClient) -> None:
    reply = collector.get("/customers/NO-SUCH-CUSTOMER")
    assert reply.status_code == 404
    assert "text/html" in reply.headers["content-type"]
    assert "Unknown customer" in reply.text and "NO-SUCH-CUSTOMER" in _text(reply.text)


def test_without_a_session_the_page_sends_to_the_sign_in(web: TestClient) -> None:
    reply = web.get("/customers/C00001", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/signin?next=/customers/C00001"
    post = web.post("/customers/C00001/actions", data={"kind": "note"}, follow_redirects=False)
    assert post.status_code == 303 and post.headers["location"].startswith("/signin")
    fragment = web.get("/customers/C00001", headers={"HX-Request": "true"})
    assert fragment.headers["HX-Redirect"] == "/signin?next=/customers/C00001"


def test_a_revoked_key_ends_the_session(collector: TestClient) -> None:
    assert collector.get("/customers/C00001").status_code == 200
    engine = collector.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            api_keys.update()
            .where(api_keys.c.name == "test collector")
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
    reply = collector.get("/customers/C00001", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/signin?next=/customers/C00001")
