"""Logging from the customer page: validation next to the field, CSRF, double submits,
and the worklist showing a logged action at once."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.store import TABLE_OBJECTS
from tests.utils.api_support import AS_OF, ApiTemplate
from tests.web.conftest import form_token

_actions = TABLE_OBJECTS["actions"]
_HTMX = {"HX-Request": "true"}
_TODAY = AS_OF.isoformat()
_NEXT_WEEK = (AS_OF + dt.timedelta(days=7)).isoformat()


def _worklist(client: TestClient, template: ApiTemplate, **params: Any) -> list[dict[str, Any]]:
    headers = {"X-API-Key": template.keys["collector"]}
    reply = client.get("/v1/worklist", params={"limit": 1000, **params}, headers=headers)
    return list(reply.json()["data"])


def _first(client: TestClient, template: ApiTemplate) -> dict[str, Any]:
    """The first customer of the day's worklist without an open dispute (a dispute keeps
    its invoices out of a customer-wide promise, and its resolve form has a choice)."""
    for item in _worklist(client, template):
        page = client.get(f"/customers/{item['customer_id']}").text
        if '<option value="">no open dispute</option>' in page:
            return item
    raise AssertionError("every customer on the worklist has an open dispute")


def _form_key(page: str, kind: str) -> str:
    form = page[page.index(f'id="form-{kind}"') :]
    found = re.search(r'name="idempotency_key" value="([^"]+)"', form)
    assert found
    return found.group(1)


def _open_invoices(page: str) -> list[str]:
    return re.findall(r'<tr data-invoice="([^"]+)">', page)


def _stored(client: TestClient, customer_id: str) -> list[dict[str, Any]]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_actions)
            .where(_actions.c.customer_id == customer_id)
            .order_by(_actions.c.at, _actions.c.action_id)
        ).mappings()
        return [dict(r) for r in rows]


def _post(
    client: TestClient,
    customer_id: str,
    kind: str,
    fields: dict[str, Any],
    *,
    htmx: bool = False,
    page: str | None = None,
) -> Any:
    """Post one of the page's forms as a browser does (its CSRF token and idempotency key)."""
    page = page or client.get(f"/customers/{customer_id}").text
    data = {
        "csrf_token": form_token(page),
        "kind": kind,
        "idempotency_key": _form_key(page, kind),
        **fields,
    }
    return client.post(
        f"/customers/{customer_id}/actions",
        data=data,
        headers=_HTMX if htmx else {},
        follow_redirects=False,
    )


_OTHER_INVOICE = "__other__"

_INVALID = [
    ("call", {"text": "  "}, "text", "Write what the call brought"),
    ("note", {}, "text", "Write the note"),
    ("promise", {"promised_date": "2026-03-01"}, "promised_date", "cannot be dated before today"),
    ("promise", {"promised_date": "next week"}, "promised_date", "YYYY-MM-DD"),
    ("promise", {"promised_date": ""}, "promised_date", "Give the date"),
    (
        "promise",
        {"promised_date": _NEXT_WEEK, "promised_amount": "-50"},
        "promised_amount",
        "more than 0",
    ),
    (
        "promise",
        {"promised_date": _NEXT_WEEK, "invoice_ids": _OTHER_INVOICE},
        "invoice_ids",
        "is not an open invoice of this customer",
    ),
    ("dispute", {"text": ""}, "text", "Write the reason"),
    (
        "dispute",
        {"text": "wrong price", "invoice_ids": _OTHER_INVOICE},
        "invoice_ids",
        "is not an open invoice of this customer",
    ),
    ("resolve", {"dispute": "*", "outcome": "valid"}, "dispute", "no open dispute"),
    ("call", {"text": "line one\x07bell"}, "text", "control character"),
]


@pytest.mark.parametrize(("kind", "fields", "field", "message"), _INVALID)
def test_each_form_error_sits_next_to_its_field(
    collector: TestClient,
    api_template: ApiTemplate,
    kind: str,
    fields: dict[str, Any],
    field: str,
    message: str,
) -> None:
    cid = str(_first(collector, api_template)["customer_id"])
    if fields.get("invoice_ids") == _OTHER_INVOICE:
        other = next(i for i in _worklist(collector, api_template) if i["customer_id"] != cid)
        fields = {**fields, "invoice_ids": other["next_action_invoice"]}
    before = _stored(collector, cid)
    reply = _post(collector, cid, kind, fields)
    assert reply.status_code == 422
    page = reply.text
    error_id = f"{kind}-{field}-error"
    shown = re.search(rf'<p class="field-error" id="{error_id}">([^<]*)</p>', page)
    assert shown, page[page.index(f'id="form-{kind}"') :][:3000]
    assert message in shown.group(1)
    # The field itself says it is invalid and points to its message.
    assert re.search(rf'aria-invalid="true" aria-describedby="{error_id}"', page)
    if field != "invoice_ids":
        assert re.search(rf'id="{kind}-{field}"[^>]*aria-describedby="{error_id}"', page)
    # Only that form shows errors; the user's values come back.
    assert page.count('class="field-error"') == 1
    typed = fields.get("text") or fields.get("promised_date")
    if typed and typed.strip() and "\x07" not in typed:
        assert typed in page
    assert _stored(collector, cid) == before


def test_an_htmx_post_with_errors_gets_the_live_part_of_the_page(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = str(_first(collector, api_template)["customer_id"])
    reply = _post(collector, cid, "promise", {"promised_date": "2020-01-01"}, htmx=True)
    # 200: HTMX swaps the answer in; an error status would leave the form unchanged.
    assert reply.status_code == 200
    assert reply.text.lstrip().startswith('<div id="customer-live">')
    assert 'id="promise-promised_date-error"' in reply.text
    assert 'value="2020-01-01"' in reply.text


def test_a_form_without_the_sessions_token_is_refused(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = str(_first(collector, api_template)["customer_id"])
    page = collector.get(f"/customers/{cid}").text
    fields = {"kind": "note", "text": "forged", "idempotency_key": _form_key(page, "note")}
    before = _stored(collector, cid)
    for token in ({}, {"csrf_token": "not-the-token"}, {"csrf_token": ""}):
        reply = collector.post(f"/customers/{cid}/actions", data={**fields, **token})
        assert reply.status_code == 403
        assert "Form refused" in reply.text
    wrong_header = collector.post(
        f"/customers/{cid}/actions", data=fields, headers={"X-CSRF-Token": "nope", **_HTMX}
    )
    assert wrong_header.status_code == 403
    assert _stored(collector, cid) == before


def test_a_double_submit_stores_one_action(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = str(_first(collector, api_template)["customer_id"])
    page = collector.get(f"/customers/{cid}").text
    before = len(_stored(collector, cid))
    fields = {"text": "spoke to AP, invoice approved"}
    first = _post(collector, cid, "call", fields, page=page)
    second = _post(collector, cid, "call", fields, page=page)
    assert first.status_code == second.status_code == 303  # the second is shown as a success
    stored = _stored(collector, cid)
    assert len(stored) == before + 1
    assert stored[-1]["kind"] == "call" and stored[-1]["author"] == "test collector"
    assert stored[-1]["text"] == fields["text"]
    # A promise over two invoices: one action per invoice, each stored once.
    invoices = _open_invoices(page)[:2]
    promise = {"promised_date": _NEXT_WEEK, "invoice_ids": invoices}
    for _ in range(2):
        assert _post(collector, cid, "promise", promise, page=page, htmx=True).status_code == 200
    stored = _stored(collector, cid)
    promises = [a for a in stored if a["kind"] == "promise" and a["author"] == "test collector"]
    assert sorted(a["invoice_id"] for a in promises) == sorted(invoices)


def test_a_promise_amount_is_spread_over_its_invoices_oldest_first(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = str(_first(collector, api_template)["customer_id"])
    page = collector.get(f"/customers/{cid}").text
    oldest, second = _open_invoices(page)[:2]  # the table lists the oldest due first
    opened = re.search(rf'value="{oldest}"> {oldest} · ([\d,]+) due', page)
    assert opened
    # The exact open amount of the oldest, from the API (the page rounds it).
    headers = {"X-API-Key": api_template.keys["scorer"]}
    scored = collector.post(
        "/v1/invoices/score", json={"invoice_ids": [oldest]}, headers=headers
    ).json()
    first_open = scored["data"][0]["open_amount"]
    fields = {
        "promised_date": _NEXT_WEEK,
        "promised_amount": f"{first_open + 10:.2f}",
        "invoice_ids": [second, oldest],
    }
    assert _post(collector, cid, "promise", fields, page=page).status_code == 303
    promises = {
        a["invoice_id"]: a
        for a in _stored(collector, cid)
        if a["kind"] == "promise" and a["author"] == "test collector"
    }
    assert promises[oldest]["promised_amount"] == pytest.approx(first_open)
    assert promises[second]["promised_amount"] == pytest.approx(10.0)
    # Too small an amount for every chosen invoice: said next to the invoices.
    fields["promised_amount"] = f"{first_open:.2f}"
    reply = _post(collector, cid, "promise", fields)
    assert reply.status_code == 422
    assert "choose fewer invoices or raise the amount" in reply.text


def test_a_logged_action_shows_at_once_with_a_flash_and_fresh_forms(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = str(_first(collector, api_template)["customer_id"])
    page = collector.get(f"/customers/{cid}").text
    reply = _post(
        collector, cid, "note", {"text": "customer moved to a new ERP"}, page=page, htmx=True
    )
    assert reply.status_code == 200
    live = reply.text
    assert 'class="flash" role="status" id="flash">Note logged<' in live
    log = live[live.index('id="action-log"') :]
    assert "customer moved to a new ERP" in log and "by test collector" in log
    assert _form_key(live, "note") != _form_key(page, "note")
    assert 'name="text" rows="3" maxlength="4000" required></textarea>' in live  # emptied
    # Without JavaScript: back to the page, which says it.
    plain = _post(collector, cid, "call", {"text": "left a voicemail"})
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/customers/{cid}?logged=call"
    assert "Call logged" in collector.get(plain.headers["location"]).text


def test_after_a_promise_the_worklist_waits_for_it(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    item = _first(collector, api_template)
    cid = str(item["customer_id"])
    assert item["next_action"] != "wait_for_promise"
    assert f'data-customer="{cid}"' in collector.get("/worklist").text
    reply = _post(collector, cid, "promise", {"promised_date": _NEXT_WEEK}, htmx=True)
    assert "Promise logged" in reply.text
    # No amount, no invoice: everything open is promised, so dunning waits for the date.
    after = {i["customer_id"]: i for i in _worklist(collector, api_template, include_waiting=True)}
    assert after[cid]["next_action"] == "wait_for_promise"
    assert cid not in {i["customer_id"] for i in _worklist(collector, api_template)}
    assert f'data-customer="{cid}"' not in collector.get("/worklist").text
    waiting = collector.get("/worklist?waiting=1").text
    row = waiting[waiting.index(f'data-customer="{cid}"') :]
    assert "wait for promise" in row[: row.index("</tr>")]


def test_a_dispute_is_resolved_from_the_page(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    cid = str(_first(collector, api_template)["customer_id"])
    page = collector.get(f"/customers/{cid}").text
    invoice = _open_invoices(page)[0]
    assert "no open dispute" in page
    fields = {"text": "goods arrived damaged", "invoice_ids": invoice}
    live = _post(collector, cid, "dispute", fields, page=page, htmx=True).text
    assert "Dispute logged" in live
    assert f'<option value="{invoice}">invoice {invoice}</option>' in live
    missing = _post(collector, cid, "resolve", {"dispute": invoice}, page=live, htmx=True)
    assert 'id="resolve-outcome-error"' in missing.text
    done = _post(
        collector, cid, "resolve", {"dispute": invoice, "outcome": "invalid"}, page=live, htmx=True
    )
    assert "Dispute resolved" in done.text
    assert "no open dispute" in done.text
    kinds = [a["kind"] for a in _stored(collector, cid)][-2:]
    assert kinds == ["dispute", "resolve"]


def test_an_unknown_form_kind_is_refused(collector: TestClient, api_template: ApiTemplate) -> None:
    cid = str(_first(collector, api_template)["customer_id"])
    page = collector.get(f"/customers/{cid}").text
    data = {"csrf_token": form_token(page), "kind": "legal", "text": "sue them"}
    reply = collector.post(f"/customers/{cid}/actions", data=data)
    assert reply.status_code == 400
    unknown = collector.post(
        "/customers/NOPE/actions", data={**data, "kind": "note"}, follow_redirects=False
    )
    assert unknown.status_code == 404
