"""Domain errors to HTTP responses: always a JSON body saying what is wrong.

Bad input is a 4xx, never a 500; a missing model or store is a 503 (try again later).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from duecast.errors import (
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

__all__ = ["STATUS_OF", "install_error_handlers"]

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


def _status(exc: DuecastError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]  # type: ignore[index]
    return 400


async def _duecast_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DuecastError)
    status = _status(exc)
    if status >= 500:
        logger.warning("%s: %s", type(exc).__name__, exc)
    return JSONResponse(
        status_code=status, content={"detail": str(exc), "error": type(exc).__name__}
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the DuecastError handler on `app`."""
    app.add_exception_handler(DuecastError, _duecast_error)
