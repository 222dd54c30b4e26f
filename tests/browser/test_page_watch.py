"""The watch every browser test relies on: a CSP violation or a script error is caught."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import Watched


def test_an_inline_script_is_refused_and_reported(open_page: Callable[..., Watched]) -> None:
    w = open_page()
    w.page.goto("/signin")
    assert w.errors == []
    # The pages' policy allows scripts from the site only: an inline one is blocked.
    with pytest.raises(PlaywrightError):
        w.page.add_script_tag(content="document.title = 'inline ran'")
    assert w.page.title() != "inline ran"
    assert any("CSP violation: script-src" in e for e in w.errors), w.errors
    w.page.evaluate("() => setTimeout(() => { throw new Error('boom'); })")
    for _ in range(100):  # the error comes on the next turn of the page's event loop
        if any("uncaught" in e and "boom" in e for e in w.errors):
            break
        w.page.wait_for_timeout(20)
    assert any("uncaught" in e and "boom" in e for e in w.errors), w.errors
    w.errors.clear()  # seen: this test wanted them
