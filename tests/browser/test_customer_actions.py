"""Open a customer from the worklist, log a promise, a dispute and its resolution, and see
the worklist follow; a double-clicked submit stores one action."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, LiveServer, Watched, sign_in
from tests.utils.api_support import AS_OF

_ROWS = "table.worklist tbody tr[data-customer]"
# Steps a collector works that a promise or a dispute takes off the customer.
_DUNNING = ("call", "escalate", "reminder")


def _worked_customer(page: Page, *, skip: int = 0) -> tuple[str, str]:
    """(customer id, next action) of the `skip`-th worklist row in a dunning step."""
    page.goto("/worklist")
    found = page.locator(_ROWS).evaluate_all(
        """rows => rows.map(r => [r.dataset.customer,
             r.querySelector("td[data-label='Next action'] .step").classList[1]])"""
    )
    dunned = [(c, step) for c, step in found if step in _DUNNING]
    assert len(dunned) > skip, f"too few customers in a dunning step on page one: {found}"
    return dunned[skip]


def _undisputed_customer(page: Page, *, skip: int) -> tuple[str, str]:
    """The first dunned customer from the `skip`-th on with no open dispute."""
    for k in range(skip, skip + 5):
        customer_id, step = _worked_customer(page, skip=k)
        page.goto(f"/customers/{customer_id}")
        if "no open dispute" in page.locator("#resolve-dispute").inner_text():
            return customer_id, step
    raise AssertionError("every dunned customer on page one has an open dispute")


def _next_action(page: Page, customer_id: str) -> str | None:
    """The customer's next action on the worklist (waiting customers included), or None."""
    page.goto(f"/worklist?waiting=1&q={customer_id}")
    row = page.locator(f"{_ROWS}[data-customer='{customer_id}']")
    if row.count() == 0:
        return None
    return row.locator("td[data-label='Next action'] .step").inner_text()


def test_open_a_customer_and_log_a_promise(
    open_page: Callable[..., Watched], live_server: LiveServer
) -> None:
    w = open_page()
    sign_in(w, live_server.keys["collector"])
    customer_id, step = _worked_customer(w.page)
    w.page.goto("/worklist")
    row = w.page.locator(f"{_ROWS}[data-customer='{customer_id}']")
    # The invoice the worklist's step is about (named under the step).
    invoice_id = row.locator("td[data-label='Next action'] small").last.inner_text()
    row.locator("td[data-label='Customer'] a").click()
    expect(w.page).to_have_url(re.compile(f"/customers/{customer_id}$"))
    expect(w.page.get_by_role("heading", level=1)).to_contain_text(customer_id)
    expect(w.page.locator("table.invoices tbody tr[data-invoice]").first).to_be_visible()
    w.load_ms("customer (desktop)")
    w.shot("customer")

    promised = (AS_OF + dt.timedelta(days=7)).isoformat()
    form = w.page.locator("#form-promise")
    form.locator("#promise-promised_date").fill(promised)
    form.get_by_role("button", name="Log promise").click()
    expect(w.page.locator("#flash")).to_have_text("Promise logged")
    expect(w.page.locator("#action-log li").first).to_contain_text(f"by {promised}")
    w.shot("customer-after-promise")

    # Everything open is promised: the invoice waits, and the worklist moves on.
    expect(w.page.locator(f"tr[data-invoice='{invoice_id}'] .step")).to_have_text(
        "wait for promise"
    )
    assert _next_action(w.page, customer_id) != step.replace("_", " ")


def test_log_a_dispute_then_resolve_it(
    open_page: Callable[..., Watched], live_server: LiveServer
) -> None:
    w = open_page()
    sign_in(w, live_server.keys["collector"])
    customer_id, step = _undisputed_customer(w.page, skip=1)
    # No invoice chosen: the dispute covers the whole customer, so dunning stops.
    dispute = w.page.locator("#form-dispute")
    dispute.get_by_label("Reason of the dispute").fill("Goods arrived damaged")
    dispute.get_by_role("button", name="Log dispute").click()
    expect(w.page.locator("#flash")).to_have_text("Dispute logged")
    steps = w.page.locator("table.invoices tbody tr[data-invoice] .step")
    expect(steps.first).to_be_visible()
    assert set(steps.all_inner_texts()) <= {"dispute resolution", "wait for promise"}
    w.shot("customer-after-dispute")
    assert _next_action(w.page, customer_id) == "dispute resolution"

    w.page.goto(f"/customers/{customer_id}")
    resolve = w.page.locator("#form-resolve")
    resolve.locator("#resolve-dispute").select_option(index=0)
    resolve.get_by_role("radio", name=re.compile("^invalid")).check()
    resolve.get_by_role("button", name="Resolve").click()
    expect(w.page.locator("#flash")).to_have_text("Dispute resolved")
    expect(w.page.locator("#resolve-dispute")).to_contain_text("no open dispute")
    # The dispute was not valid: dunning resumes where it was.
    assert _next_action(w.page, customer_id) == step.replace("_", " ")


def test_a_double_clicked_submit_stores_one_action(
    open_page: Callable[..., Watched], live_server: LiveServer
) -> None:
    w = open_page()
    sign_in(w, live_server.keys["collector"])
    customer_id, _ = _worked_customer(w.page, skip=2)
    w.page.goto(f"/customers/{customer_id}")
    text = f"double click {uuid.uuid4().hex[:8]}"
    note = w.page.locator("#form-note")
    note.get_by_label("Note").fill(text)
    sent_form = note.evaluate("form => Object.fromEntries(new FormData(form))")
    note.get_by_role("button", name="Log note").dblclick()
    expect(w.page.locator("#flash")).to_have_text("Note logged")
    # The same form sent once more (a click that got through, a resend after a network
    # error): its idempotency key stores it once.
    again = w.page.request.post(
        f"/customers/{customer_id}/actions", form=sent_form, max_redirects=0
    )
    assert again.status == 303, again.text()
    w.page.reload()
    expect(w.page.locator("#action-log li", has_text=text)).to_have_count(1)
    stored = live_server.scalar(
        "SELECT count(*) FROM actions WHERE customer_id = :c AND text = :t",
        c=customer_id,
        t=text,
    )
    assert stored == 1


def test_customer_page_at_phone_width(
    open_page: Callable[..., Watched], live_server: LiveServer
) -> None:
    w = open_page(PHONE)
    sign_in(w, live_server.keys["collector"])
    customer_id, _ = _worked_customer(w.page)
    w.page.goto(f"/customers/{customer_id}")
    w.load_ms("customer (phone)")
    width = w.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 2, f"the page is {width} px wide at {PHONE['width']} px"
    button = w.page.locator("#form-promise").get_by_role("button", name="Log promise")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    w.shot("customer-phone")
