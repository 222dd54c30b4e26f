"""No CDN: /docs, /redoc and the web pages load every asset from the app itself.

The machines duecast runs on have no internet: a page that loads a script, a style or
a font from another host is a blank or broken page there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.web.docs import STATIC_DIR
from tests.utils.api_support import ApiTemplate, settings_for

WEB_DIR = STATIC_DIR.parent
VENDOR_DIR = STATIC_DIR / "vendor"
# XML namespaces name a spec, they are never fetched.
_NOT_FETCHED_HOSTS = frozenset({"www.w3.org"})
_ABSOLUTE = re.compile(r"https?://([^/\s\"'<>)\\]+)", re.IGNORECASE)
# `//host/...` (protocol-relative) where a browser would fetch it.
_PROTOCOL_RELATIVE = re.compile(
    r"""(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])//""",
    re.IGNORECASE,
)
_JS = ("application/javascript", "text/javascript")


class _Assets(HTMLParser):
    """Every URL a page makes the browser fetch (scripts, styles, icons, images) or links."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[tuple[str, str]] = []  # (tag, url)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        if tag in ("script", "img", "source", "iframe") and "src" in values:
            self.fetched.append((tag, values["src"]))
        elif tag == "link" and "href" in values:
            self.fetched.append((tag, values["href"]))
        elif tag == "a" and "href" in values:
            self.links.append(values["href"])


def _assets(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    return parser


def cdn_references(text: str) -> list[str]:
    """The other hosts `text` (a page, a template, a script or a stylesheet) points at."""
    hosts = [h for h in _ABSOLUTE.findall(text) if h.lower() not in _NOT_FETCHED_HOSTS]
    return hosts + [m.group(0) for m in _PROTOCOL_RELATIVE.finditer(text)]


@pytest.fixture
def client(api_template: ApiTemplate, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(api_template, tmp_path))) as c:
        yield c


def _assert_served_locally(client: TestClient, page: str) -> list[tuple[str, str]]:
    html = client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert cdn_references(html.text) == [], f"{page} points at other hosts"
    fetched = _assets(html.text).fetched
    for tag, url in fetched:
        parts = urlsplit(urljoin(f"http://testserver{page}", url))
        assert parts.netloc == "testserver", f"{page}: {url} is not served by the app"
        asset = client.get(url)
        assert asset.status_code == 200, f"{page}: {url} answers {asset.status_code}"
        kind = asset.headers["content-type"]
        if tag == "script":
            assert kind.startswith(_JS), f"{url}: {kind}"
        elif url.endswith(".css"):
            assert kind.startswith("text/css"), f"{url}: {kind}"
        else:
            assert kind.startswith("image/"), f"{url}: {kind}"
        assert cdn_references(asset.text if tag == "link" and "css" in kind else "") == []
    return fetched


def test_docs_and_redoc_load_their_assets_from_the_app(client: TestClient) -> None:
    docs = _assert_served_locally(client, "/docs")
    redoc = _assert_served_locally(client, "/redoc")
    assert {u for t, u in docs if t == "script"} == {"/static/vendor/swagger-ui-bundle.js"}
    assert {u for t, u in redoc if t == "script"} == {"/static/vendor/redoc.standalone.js"}
    assert "/static/vendor/swagger-ui.css" in {u for _, u in docs}
    for page in ("/docs", "/redoc"):
        assert "/openapi.json" in client.get(page).text
    schema = client.get("/openapi.json")
    assert schema.status_code == 200 and "/v1/model" in schema.json()["paths"]
    # The pages themselves are not API operations.
    assert not {"/docs", "/redoc"} & set(schema.json()["paths"])


def test_docs_follow_the_root_path_behind_a_proxy(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    app = create_app(settings_for(api_template, tmp_path))
    with TestClient(app, root_path="/duecast") as prefixed:
        html = prefixed.get("/docs").text
    assert "/duecast/static/vendor/swagger-ui-bundle.js" in html
    assert "/duecast/openapi.json" in html


def _source_files() -> list[Path]:
    """Templates and static files written for duecast (vendored libraries aside)."""
    files = [p for p in WEB_DIR.glob("templates/**/*") if p.is_file()]
    files += [p for p in STATIC_DIR.rglob("*") if p.is_file() and VENDOR_DIR not in p.parents]
    return files


def test_no_template_or_static_file_points_at_another_host() -> None:
    files = _source_files()
    assert any(p.suffix == ".html" for p in files)  # the glob finds the templates
    offenders = {
        str(p.relative_to(WEB_DIR)): refs
        for p in files
        if p.suffix in {".html", ".css", ".js", ".svg", ".txt", ".json"}
        and (refs := cdn_references(p.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "load these from the package (static/vendor/), not the internet"


def test_the_checker_spots_cdn_references() -> None:
    assert cdn_references('<script src="https://unpkg.com/htmx.org@2"></script>') == ["unpkg.com"]
    assert cdn_references("<link href='//cdn.jsdelivr.net/x.css'>")
    assert cdn_references("body { background: url(//example.org/a.png) }")
    assert cdn_references('<svg xmlns="http://www.w3.org/2000/svg"></svg>') == []
    assert cdn_references('<a href="/static/vendor/htmx.min.js">') == []


def _crawl(client: TestClient, start: list[str], limit: int = 60) -> dict[str, str]:
    """HTML pages of the app reachable from `start` by GET links (at most `limit`)."""
    seen: dict[str, str] = {}
    queued = set(start)
    queue = list(start)
    while queue and len(seen) < limit:
        page = queue.pop(0)
        response = client.get(page)
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        seen[page] = response.text
        for link in _assets(response.text).links:
            parts = urlsplit(urljoin(f"http://testserver{page}", link))
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            local = parts.netloc == "testserver" and not parts.path.startswith("/static/")
            if local and target not in queued:
                queued.add(target)
                queue.append(target)
    return seen


def _entry_pages(client: TestClient) -> list[str]:
    """The pages' entry points and every GET operation without a path parameter."""
    paths = client.get("/openapi.json").json()["paths"]
    operations = [p for p, ops in paths.items() if "get" in ops and "{" not in p]
    return ["/", "/signin", "/docs", "/redoc", "/worklist", *sorted(operations)]


def _sign_in(client: TestClient, key: str) -> None:
    form = client.get("/signin")
    token = re.search(r'name="?csrf_token"?\s+value="([^"]+)"', form.text)
    assert token, "the sign-in form carries its CSRF token"
    done = client.post(
        "/signin", data={"key": key, "csrf_token": token.group(1)}, follow_redirects=False
    )
    assert done.status_code == 303, done.text


def test_no_rendered_page_points_at_another_host(
    client: TestClient, api_template: ApiTemplate
) -> None:
    pages = _crawl(client, _entry_pages(client))
    _sign_in(client, api_template.keys["admin"])
    signed_in = _crawl(client, _entry_pages(client))
    assert {"/docs", "/redoc", "/signin"} <= set(pages)
    assert "/worklist" in signed_in and "Sign out" in signed_in["/worklist"]
    checked: set[str] = set()
    for page, html in {**pages, **signed_in}.items():
        assert cdn_references(html) == [], f"{page} points at other hosts"
        for _, url in _assets(html).fetched:
            if url.startswith("data:"):
                continue  # inline, fetched from nowhere (the pages' empty icon)
            assert urlsplit(urljoin(f"http://testserver{page}", url)).netloc == "testserver"
            if url not in checked:
                checked.add(url)
                assert client.get(url).status_code == 200, f"{page}: {url}"


def test_the_vendored_files_match_versions_md() -> None:
    table = (VENDOR_DIR / "VERSIONS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\S+) \| .* \| ([0-9a-f]{64}) \|$", table, re.MULTILINE)
    assert len(rows) >= 6
    for name, digest in rows:
        assert hashlib.sha256((VENDOR_DIR / name).read_bytes()).hexdigest() == digest, name
    shipped = {p.name for p in VENDOR_DIR.iterdir() if p.suffix in {".js", ".css", ".png"}}
    assert shipped == {name for name, _ in rows}, "every vendored asset is listed"
