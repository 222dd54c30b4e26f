"""Sign in, read the ranked worklist, filter, sort and page it, at desktop and phone width."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import PAGE_SIZE, PHONE, LiveServer, Watched, sign_in

_ROWS = "table.worklist tbody tr[data-customer]"


def _customers(page: Page) -> list[str]:
    return page.locator(_ROWS).evaluate_all("rows => rows.map(r => r.dataset.customer)")


def _column(page: Page, label: str) -> list[str]:
    return page.locator(f"{_ROWS} td[data-label='{label}']").all_inner_texts()


def _amount(text: str) -> float:
    return float(text.replace(",", "").strip() or 0)


def test_sign_in_shows_the_worklist_in_the_api_ranking(
    open_page: Callable[..., Watched], live_server: LiveServer
) -> None:
    w = open_page()
    w.page.goto("/worklist")
    expect(w.page).to_have_url(re.compile(r"/signin\?next=/worklist$"))  # not signed in yet
    expect(w.page.get_by_role("heading", name="Sign in")).to_be_visible()
    w.shot("signin")
    sign_in(w, live_server.keys["collector"])
    expect(w.page.get_by_role("heading", name="Collections worklist")).to_be_visible()
    expect(w.page.locator(".who")).to_contain_text("test collector")
    w.load_ms("worklist (desktop)")
    w.shot("worklist")

    ranks = [int(r) for r in _column(w.page, "#")]
    assert ranks == list(range(1, PAGE_SIZE + 1))
    # The page shows the day's ranking exactly as the API serves it.
    api = httpx.get(
        f"{live_server.base_url}/v1/worklist",
        params={"limit": PAGE_SIZE},
        headers={"X-API-Key": live_server.keys["collector"]},
    ).json()
    assert _customers(w.page) == [item["customer_id"] for item in api["data"]]
    # Every customer on today's list comes before the overflow.
    kinds = w.page.locator(_ROWS).evaluate_all("rows => rows.map(r => r.className)")
    assert kinds == sorted(kinds, key=lambda k: k != "today")

    # A click on "Priority" orders the rows by the priority column, highest first.
    w.page.get_by_role("link", name="Priority", exact=True).click()
    expect(w.page.locator("th[aria-sort='descending']")).to_contain_text("Priority")
    expect(w.page).to_have_url(re.compile("sort=priority"))
    priorities = [_amount(p) for p in _column(w.page, "Priority")]
    assert priorities == sorted(priorities, reverse=True) and len(priorities) == PAGE_SIZE


def test_filter_by_grade_then_page(
    open_page: Callable[..., Watched], live_server: LiveServer
) -> None:
    w = open_page()
    sign_in(w, live_server.keys["collector"])
    first_page = _customers(w.page)
    grades = _column(w.page, "Grade")
    grade = max(set(grades), key=grades.count)  # the commonest grade on page one

    w.page.select_option("#grade", grade)
    expect(w.page).to_have_url(re.compile(f"grade={grade}"))  # HTMX pushed the filtered URL
    # The filtered rows have replaced the others (HTMX swapped the results).
    expect(w.page.locator(f"{_ROWS}:not(:has(.grade.g{grade}))")).to_have_count(0)
    shown = w.page.locator(f"{_ROWS} td[data-label='Grade']")
    expect(shown.first).to_be_visible()
    assert set(shown.all_inner_texts()) == {grade}
    total = int(w.page.locator("#total-customers").inner_text())
    assert len(shown.all_inner_texts()) == min(total, PAGE_SIZE)
    w.shot("worklist-filtered")
    # A reload of the pushed URL shows the same filtered page (the view lives in the URL).
    w.page.reload()
    assert set(_column(w.page, "Grade")) == {grade}
    expect(w.page.locator("#grade")).to_have_value(grade)

    w.page.goto("/worklist")
    w.page.get_by_role("link", name="Next →").click()
    expect(w.page).to_have_url(re.compile("page=2"))
    expect(w.page.locator("table.worklist caption")).to_contain_text("page 2 of")
    second_page = _customers(w.page)
    assert second_page and not set(second_page) & set(first_page)
    assert int(_column(w.page, "#")[0]) == PAGE_SIZE + 1
    w.page.get_by_role("link", name="← Previous").click()
    expect(w.page.locator("table.worklist caption")).to_contain_text("page 1 of")
    assert _customers(w.page) == first_page


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 2, f"the page is {width} px wide at {PHONE['width']} px"


def test_worklist_is_usable_at_phone_width(
    open_page: Callable[..., Watched], live_server: LiveServer
) -> None:
    w = open_page(PHONE)
    w.page.goto("/signin")
    _no_sideways_scroll(w.page)
    w.shot("signin-phone")
    sign_in(w, live_server.keys["collector"])
    w.load_ms("worklist (phone)")
    _no_sideways_scroll(w.page)
    # Rows become cards: each cell shows its label, and the customer link is tappable.
    first = w.page.locator(_ROWS).first
    label = first.locator("td[data-label='Grade']").evaluate(
        "td => getComputedStyle(td, '::before').content"
    )
    assert "Grade" in label
    link = first.locator("td[data-label='Customer'] a")
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    grade = _column(w.page, "Grade")[0]
    w.page.select_option("#grade", grade)
    expect(w.page).to_have_url(re.compile(f"grade={grade}"))
    expect(w.page.locator(f"{_ROWS}:not(:has(.grade.g{grade}))")).to_have_count(0)
    _no_sideways_scroll(w.page)
    w.shot("worklist-phone")


def test_sign_out_then_the_worklist_is_refused(
    open_page: Callable[..., Watched], live_server: LiveServer
) -> None:
    w = open_page()
    sign_in(w, live_server.keys["collector"])
    w.page.get_by_role("button", name="Sign out").click()
    expect(w.page).to_have_url(re.compile("/signin"))
    w.page.goto("/worklist")
    expect(w.page).to_have_url(re.compile(r"/signin\?next=/worklist$"))
    expect(w.page.locator(_ROWS)).to_have_count(0)
    w.shot("signed-out")
