"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app.core import metrics, migrations

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Database unreachable or migrations not current"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration; says how late worker roles are."""
    engine = request.app.state.engine
    overdue = request.app.state.overdue_seconds

    def check() -> dict[str, object]:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current, head = migrations.current_revision(engine), migrations.head_revision()
        result: dict[str, object] = {
            "database": "ok", "migration": current, "head": head, "migrations_current": current == head,
        }  # fmt: skip
        if current == head:
            # Reported, not judged: late work is the workers' problem, and taking this API process out of a load
            # balancer for it would stop the intake too.
            result["overdue_seconds"] = {role: round(seconds, 1) for role, seconds in overdue().items()}
        return result

    try:
        result = await run_in_threadpool(check)
    except SQLAlchemyError as exc:
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    ready = bool(result["migrations_current"])
    return JSONResponse({"status": "ok" if ready else "unavailable", **result}, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus_metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format, with each worker role's overdue work read now."""
    try:
        for role, seconds in request.app.state.overdue_seconds().items():
            metrics.WORK_OVERDUE.labels(role).set(seconds)
    except SQLAlchemyError:
        metrics.WORK_OVERDUE.clear()  # unknown while the database does not answer: no stale figure
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
