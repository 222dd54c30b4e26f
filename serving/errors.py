"""Every error the API answers, as one JSON body (`ErrorOut`) saying what is wrong.

Bad input is a 4xx, never a 500; a missing model or store is a 503 (try again later).
Domain errors (`DuecastError`), HTTP errors (401, 403, 404, 405, 413, 429), request
validation (422) and unexpected failures (500, see `serving.middleware`) all answer
`{"detail": ..., "error": ..., "request_id": ...}`; no error body echoes request input.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Send

from kernel.errors import (
    ConfigurationError,
    ConflictError,
    DataImportError,
    DuecastError,
    InvalidRequestError,
    MappingError,
    ModelNotFoundError,
    StoreError,
    UnknownEntityError,
)

__all__ = [
    "STATUS_OF",
    "WRITE_STATUSES",
    "ErrorOut",
    "ValidationIssue",
    "error_body",
    "error_response",
    "error_responses",
    "install_error_handlers",
    "send_closing_json",
]

logger = logging.getLogger(__name__)

STATUS_OF: dict[type[DuecastError], int] = {
    UnknownEntityError: 404,
    DataImportError: 422,
    MappingError: 422,
    ConfigurationError: 422,
    InvalidRequestError: 422,
    ConflictError: 409,
    ModelNotFoundError: 503,
    StoreError: 503,
}

# `error` of HTTP errors raised by the framework or by deps (no DuecastError class).
_HTTP_ERROR_NAMES = {
    400: "BadRequest",
    401: "AuthenticationError",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestTooLarge",
    429: "RateLimited",
}
# Validation messages are cut to this length: a custom validator's message may quote
# the input, and an error body must never echo a large input back.
_MESSAGE_CHARS = 200
_ISSUES_SHOWN = 20


class ValidationIssue(BaseModel):
    """One invalid field: where it is, what is wrong, the pydantic error type."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """The body of every 4xx and 5xx answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "unknown customer 'C09999': check the id",
                    "error": "UnknownEntityError",
                    "request_id": "8f14e45fceea167a5a36dedd4bea2543",
                }
            ]
        }
    )

    detail: str
    error: str
    request_id: str | None = None
    errors: list[ValidationIssue] | None = None


def error_body(
    detail: str, error: str, *, errors: Sequence[ValidationIssue] | None = None
) -> bytes:
    """The JSON bytes of an `ErrorOut` carrying this request's id."""
    # Imported here: middleware imports this module for its error bodies.
    from serving.middleware import REQUEST_ID

    request_id = REQUEST_ID.get()
    content: dict[str, Any] = {
        "detail": detail,
        "error": error,
        "request_id": None if request_id == "-" else request_id,
    }
    if errors is not None:
        content["errors"] = [issue.model_dump() for issue in errors]
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def _json(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


_DESCRIPTIONS = {
    400: "The body cannot be read (not UTF-8)",
    401: "Missing, unknown, revoked or expired API key",
    403: "The key's role is below the one this operation needs",
    404: "Unknown id",
    409: "Conflict with what is stored",
    413: "Request body larger than the limit (DUECAST_API_MAX_BODY_BYTES)",
    422: "Invalid request: `errors` lists each invalid field",
    429: "Too many requests from this key: retry after `Retry-After` seconds",
    503: "No model loaded or the store is unreachable: try again later",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next request",
        "schema": {"type": "integer"},
    }
}


# What a rate-limited call with a JSON body can answer (writes, scoring): bad body
# (400, 413, 422), key (401, 403), unknown (404) or conflicting (409) entities, rate
# (429), no model or store (503).
WRITE_STATUSES = (400, 401, 403, 404, 409, 413, 422, 429, 503)


def error_responses(
    *statuses: int, descriptions: dict[int, str] | None = None, html_route: bool = False
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` documenting `statuses` with the `ErrorOut` body.

    With `html_route` (a route answering HTML) the errors are declared as JSON by
    reference: FastAPI would document a `model` under the route's own media type.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        spec: dict[str, Any] = {
            "description": (descriptions or {}).get(status, _DESCRIPTIONS.get(status, ""))
        }
        if html_route:
            ref = {"$ref": "#/components/schemas/ErrorOut"}
            spec["content"] = {"application/json": {"schema": ref}}
        else:
            spec["model"] = ErrorOut
        if status == 429:
            spec["headers"] = _RETRY_AFTER
        out[status] = spec
    return out


def _status(exc: DuecastError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


async def _duecast_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DuecastError)
    status = _status(exc)
    if status >= 500:
        logger.warning("%s: %s", type(exc).__name__, exc)
    return _json(status, error_body(str(exc), type(exc).__name__))


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    name = _HTTP_ERROR_NAMES.get(exc.status_code, "HTTPError")
    if exc.status_code in (204, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return _json(exc.status_code, error_body(detail, name), dict(exc.headers or {}))


def _loc(parts: Iterable[Any]) -> list[str | int]:
    return [p if isinstance(p, int) else str(p)[:_MESSAGE_CHARS] for p in parts]


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    # `input` (and `ctx`, which may quote it) are dropped: a 52 MB body must not come back.
    issues = [
        ValidationIssue(
            loc=_loc(e.get("loc", ())),
            msg=str(e.get("msg", ""))[:_MESSAGE_CHARS],
            type=str(e.get("type", "")),
        )
        for e in raw[:_ISSUES_SHOWN]
    ]
    parts = [".".join(str(p) for p in issue.loc) + ": " + issue.msg for issue in issues[:3]]
    more = f" (and {len(raw) - 3} more)" if len(raw) > 3 else ""
    detail = "invalid request: " + "; ".join(parts) + more
    return _json(422, error_body(detail, "RequestValidationError", errors=issues))


async def error_response(request: Request, exc: DuecastError | StarletteHTTPException) -> Response:
    """The response the app's handlers give `exc`, for code answering outside routing."""
    if isinstance(exc, DuecastError):
        return await _duecast_error(request, exc)
    return await _http_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers turning every 4xx/5xx error into an `ErrorOut` body."""
    app.add_exception_handler(DuecastError, _duecast_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


async def send_closing_json(send: Send, status: int, body: bytes) -> None:
    """Send a whole JSON response that ends the connection (`Connection: close`).

    For answers given while the request is unread or broken (413, 500): the connection
    cannot carry another request.
    """
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
