"""/docs (Swagger UI) and /redoc, served with the assets vendored in the package.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and fonts from Google): on
machines without internet they stay blank. These load `static/vendor/` (see its
VERSIONS.md) from the app itself, and ask no online validator.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "install_docs", "router"]

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


def _vendor(request: Request, name: str) -> str:
    """The path of a vendored asset, under the app's root path (behind a proxy prefix)."""
    path = request.app.url_path_for("static", path=f"vendor/{name}")
    return f"{request.scope.get('root_path', '')}{path}"


def _openapi(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{request.app.openapi_url}"


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the app's OpenAPI schema."""
    return get_swagger_ui_html(
        openapi_url=_openapi(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=_vendor(request, "swagger-ui-bundle.js"),
        swagger_css_url=_vendor(request, "swagger-ui.css"),
        swagger_favicon_url=_vendor(request, "favicon-32x32.png"),
        # Swagger UI's default validator badge calls validator.swagger.io.
        swagger_ui_parameters={**(request.app.swagger_ui_parameters or {}), "validatorUrl": None},
    )


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the app's OpenAPI schema."""
    return get_redoc_html(
        openapi_url=_openapi(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=_vendor(request, "redoc.standalone.js"),
        redoc_favicon_url=_vendor(request, "favicon-32x32.png"),
        with_google_fonts=False,
    )


def install_docs(app: FastAPI) -> None:
    """Add /docs and /redoc (create the app with `docs_url=None, redoc_url=None`), and
    mount /static from the package unless the web pages already did."""
    if not any(getattr(route, "name", None) == "static" for route in app.routes):
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
