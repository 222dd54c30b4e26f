"""Fixtures of the web pages: an app on a copy of the API template, and a signed-in browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.utils.api_support import ApiTemplate, settings_for

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _TOKEN.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, key: str, next_url: str = "/worklist") -> TestClient:
    """Sign `client` in with `key` through the sign-in form, as a browser does."""
    page = client.get(f"/signin?next={next_url}")
    reply = client.post(
        "/signin",
        data={"key": key, "csrf_token": form_token(page.text), "next": next_url},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    return client


@pytest.fixture
def web(api_template: ApiTemplate, tmp_path: Path) -> Iterator[TestClient]:
    """A browser-like client of a fresh app (not signed in)."""
    with TestClient(create_app(settings_for(api_template, tmp_path))) as client:
        yield client


@pytest.fixture
def collector(web: TestClient, api_template: ApiTemplate) -> TestClient:
    """The client signed in with the collector key."""
    return sign_in(web, api_template.keys["collector"])
