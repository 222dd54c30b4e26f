"""Sign-in, sessions, CSRF and sign-out of the web pages."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.store import api_keys, get_engine, web_sessions
from tests.utils.api_support import ApiTemplate
from tests.web.conftest import form_token, sign_in


def _store(client: TestClient) -> sa.Engine:
    return get_engine(client.app.state.settings.database_url)  # type: ignore[attr-defined]


def test_home_and_pages_send_a_stranger_to_the_sign_in(web: TestClient) -> None:
    home = web.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/signin"
    page = web.get("/worklist?grade=B&sort=open", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=/worklist%3Fgrade%3DB%26sort%3Dopen"
    # The sign-in form carries the whole address back, both parameters.
    form = web.get(page.headers["location"]).text
    assert 'name="next" value="/worklist?grade=B&amp;sort=open"' in form
    fragment = web.get("/worklist", headers={"HX-Request": "true"}, follow_redirects=False)
    assert fragment.headers["HX-Redirect"].startswith("/signin")


def test_sign_in_opens_a_server_side_session_not_a_key_cookie(
    web: TestClient, api_template: ApiTemplate
) -> None:
    key = api_template.keys["collector"]
    form = web.get("/signin?next=/worklist?grade=B")
    reply = web.post(
        "/signin",
        data={"key": key, "csrf_token": form_token(form.text), "next": "/worklist?grade=B"},
        follow_redirects=False,
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/worklist?grade=B"
    cookie = reply.headers["set-cookie"]
    assert "duecast_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert key not in cookie and all(key not in v for v in web.cookies.values())
    with _store(web).connect() as conn:
        stored = conn.execute(sa.select(web_sessions)).all()
    assert len(stored) == 1 and web.cookies["duecast_session"] not in stored[0].session_hash
    assert web.get("/", follow_redirects=False).headers["location"] == "/worklist"
    assert "test collector" in web.get("/worklist").text


def test_sign_in_refuses_bad_keys_scorers_and_forged_forms(
    web: TestClient, api_template: ApiTemplate
) -> None:
    for key in ("dck_nothing_like_a_key", api_template.keys["scorer"]):
        token = form_token(web.get("/signin").text)
        reply = web.post("/signin", data={"key": key, "csrf_token": token})
        assert reply.status_code == 401 and "lacks the collector role" in reply.text
    # Login CSRF: a form posted from elsewhere carries no token matching the cookie.
    web.cookies.clear()
    forged = web.post("/signin", data={"key": api_template.keys["collector"], "csrf_token": "x"})
    assert forged.status_code == 403 and "duecast_session" not in web.cookies


def test_sign_in_never_redirects_off_site(web: TestClient, api_template: ApiTemplate) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "\\\\evil"):
        token = form_token(web.get("/signin").text)
        reply = web.post(
            "/signin",
            data={"key": api_template.keys["collector"], "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert reply.headers["location"] == "/worklist"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    collector: TestClient,
) -> None:
    session_cookie = collector.cookies["duecast_session"]
    refused = collector.post("/signout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert collector.get("/worklist", follow_redirects=False).status_code == 200
    token = form_token(collector.get("/worklist").text)
    out = collector.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    # The old cookie, replayed, no longer opens anything.
    collector.cookies.set("duecast_session", session_cookie)
    assert collector.get("/worklist", follow_redirects=False).status_code == 303


def test_a_revoked_or_expired_key_ends_its_sessions_at_once(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    assert collector.get("/worklist", follow_redirects=False).status_code == 200
    engine = _store(collector)
    with engine.begin() as conn:
        conn.execute(
            api_keys.update()
            .where(api_keys.c.name == "test collector")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert collector.get("/worklist", follow_redirects=False).status_code == 303
    with engine.begin() as conn:
        conn.execute(
            api_keys.update()
            .where(api_keys.c.name == "test collector")
            .values(expires_at=None, revoked_at=dt.datetime.now(dt.UTC))
        )
    assert collector.get("/worklist", follow_redirects=False).status_code == 303
    # The same key cannot open a new one either.
    token = form_token(collector.get("/signin").text)
    again = collector.post(
        "/signin", data={"key": api_template.keys["collector"], "csrf_token": token}
    )
    assert again.status_code == 401


def test_a_session_ends_when_it_expires(collector: TestClient) -> None:
    with _store(collector).begin() as conn:
        conn.execute(
            web_sessions.update().values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1))
        )
    assert collector.get("/worklist", follow_redirects=False).status_code == 303


def test_pages_carry_the_page_security_policy(collector: TestClient) -> None:
    page = collector.get("/worklist")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-eval'" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script: the policy would block it


def test_a_sign_in_clears_sessions_long_expired(
    collector: TestClient, api_template: ApiTemplate
) -> None:
    engine = _store(collector)
    with engine.begin() as conn:
        conn.execute(
            web_sessions.update().values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(2))
        )
    sign_in(collector, api_template.keys["admin"])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(web_sessions)).scalar() == 1
