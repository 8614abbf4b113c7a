"""Error responses that explain the problem without echoing what was sent (it may hold a number)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def public_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Keep each validation error's location, message and type; drop the offending input."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": public_errors(exc.errors())}, status_code=422)


def install(app: FastAPI) -> None:
    """Register the error handlers."""
    app.add_exception_handler(RequestValidationError, _validation_error)
