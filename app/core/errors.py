"""Error responses that explain the problem without echoing what was sent (it may hold a number)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

# FastAPI's own answer (400) to a body it could not even decode, such as JSON that is not UTF-8.
UNDECODABLE_BODY = "There was an error parsing the body"


# A location names fields; a key the client made up (an unknown field) is input, kept only when it looks like a name.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def public_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Keep each validation error's location, message and type; drop the offending input."""
    return [{"loc": [_public_loc(part) for part in e.get("loc", ())], "msg": e.get("msg", ""),
             "type": e.get("type", "")} for e in errors]  # fmt: skip


def _public_loc(part: Any) -> Any:
    return part if isinstance(part, int) or _FIELD_NAME.fullmatch(str(part)) else "…"


def invalid(loc: Sequence[str | int], msg: str) -> RequestValidationError:
    """A 422 for a value the route itself finds wrong, shaped like every other validation error."""
    return RequestValidationError([{"loc": tuple(loc), "msg": msg, "type": "value_error"}])


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": public_errors(exc.errors())}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == UNDECODABLE_BODY:
        # The same answer as for any other JSON that does not parse (documented, unlike FastAPI's bare 400).
        return JSONResponse({"detail": [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]}, 422)
    return await http_exception_handler(request, exc)


async def _refused_by_the_database(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DataError)
    # PostgreSQL stores no NUL character in text (psycopg refuses to send one): the client's text, not our fault.
    # Any other value the database refuses stays a server error, to be found and fixed where it was let through.
    if "NUL (0x00)" not in str(exc.orig):
        raise exc
    return JSONResponse({"detail": [{"loc": [], "msg": "text cannot contain NUL (0x00) characters",
                                      "type": "value_error"}]}, 422)  # fmt: skip


def install(app: FastAPI) -> None:
    """Register the error handlers."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _refused_by_the_database)
