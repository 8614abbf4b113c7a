"""The operations-centre dashboard: its page and files under a strict Content-Security-Policy, and its config."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from app import worker
from app.core.deps import SessionDep
from app.feed import router as feed_router
from app.operators.dependencies import Viewer

logger = logging.getLogger(__name__)

# Settings of the dashboard (environment only; app/core/config.py is not theirs to grow). An optional tile layer
# under the bundled country outline, e.g. a tile server inside the mission's network:
# KENGELE_MAP_TILE_URL=https://tiles.mission.example/{z}/{x}/{y}.png ({s} for subdomains is allowed).
MAP_TILE_URL = os.environ.get("KENGELE_MAP_TILE_URL", "").strip() or None
MAP_TILE_ATTRIBUTION = os.environ.get("KENGELE_MAP_TILE_ATTRIBUTION", "").strip() or None

STATIC_DIR = (Path(__file__).parent / "static").resolve()
PAGE = "index.html"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".png": "image/png",
}
# Worth compressing on a slow link (PNGs are compressed already).
COMPRESSIBLE = {".html", ".js", ".css", ".json", ".geojson"}
# A worker looks for due work every second or so: a minute's wait means a role runs nowhere or cannot keep up.
LATE_AFTER_SECONDS = 60
_TILE_URL = re.compile(r"^https?://[A-Za-z0-9.{}:-]+/\S*\{z\}\S*\{x\}\S*\{y\}\S*$")

router = APIRouter(tags=["dashboard"])
FORBIDDEN = {401: {"description": "No, or no live, bearer token or session"}, 403: {"description": "Role too low"}}


class WorkerStatus(BaseModel):
    """Each worker role's overdue work in seconds (inbox, timers, outbox), and which of them are late."""

    overdue_seconds: dict[str, float]
    late: list[str] = Field(description=f"roles whose oldest due work has waited over {LATE_AFTER_SECONDS} s")


class DashboardConfig(BaseModel):
    """What the page needs to know about this deployment."""

    tile_url: str | None = Field(description="Leaflet tile URL template; none: the bundled outline only")
    tile_attribution: str | None = Field(description="plain text shown under the map for the tiles")


@dataclass(frozen=True)
class Asset:
    """A static file as served: its bytes, gzipped bytes when worth it, and an entity tag."""

    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str


def tile_url() -> str | None:
    """The configured tile URL template, or None when unset or not a usable http(s) template."""
    if MAP_TILE_URL and not _TILE_URL.match(MAP_TILE_URL):
        logger.warning("KENGELE_MAP_TILE_URL is not an http(s) URL with {z}, {x} and {y}: ignored")
        return None
    return MAP_TILE_URL


def content_security_policy() -> str:
    """The policy every dashboard response carries; the tile server's origin is allowed images when configured."""
    url = tile_url()
    if url is None:
        return CSP.format(tiles="")
    parts = urlsplit(url)
    return CSP.format(tiles=f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}")


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",  # for browsers that ignore frame-ancestors
        # Always revalidated (a 304 is a few bytes), so a new version is picked up at the next load.
        "Cache-Control": "no-cache",
        **(extra or {}),
    }


@lru_cache(maxsize=128)
def _load(path: Path, _mtime_ns: int) -> Asset:
    body = path.read_bytes()
    gzipped = gzip.compress(body, 9, mtime=0) if path.suffix in COMPRESSIBLE and len(body) > 1024 else None
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Asset(body, gzipped, etag, MEDIA_TYPES[path.suffix])


def _serve(request: Request, relative: str) -> Response:
    target = (STATIC_DIR / relative).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file() or target.suffix not in MEDIA_TYPES:
        raise HTTPException(404, "no such file")
    asset = _load(target, target.stat().st_mtime_ns)
    use_gzip = asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "")
    etag = asset.etag[:-1] + '-gz"' if use_gzip else asset.etag
    headers = _headers({"ETag": etag, "Vary": "Accept-Encoding"})
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        return Response(asset.gzipped, media_type=asset.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """The dashboard is the front door (the API is described at /openapi.json)."""
    return RedirectResponse("/dashboard")


@router.get("/dashboard", include_in_schema=False)
def page(request: Request) -> Response:
    """The dashboard's single page (sign-in included)."""
    return _serve(request, PAGE)


@router.get("/dashboard/static/{path:path}", include_in_schema=False)
def static(path: str, request: Request) -> Response:
    """The page's scripts, styles, dictionaries and vendored libraries; nothing outside the static folder."""
    return _serve(request, path)


@router.get("/api/v1/dashboard/config", responses=FORBIDDEN)
def config(_: Viewer) -> DashboardConfig:
    """The deployment's map settings for the dashboard."""
    return DashboardConfig(tile_url=tile_url(), tile_attribution=MAP_TILE_ATTRIBUTION if tile_url() else None)


@router.get("/api/v1/dashboard/workers", responses=FORBIDDEN)
def workers(_: Viewer, session: SessionDep) -> WorkerStatus:
    """How long each worker role's oldest due work has waited, and the roles late enough for the page to say so."""
    overdue = worker.overdue_seconds(session)
    late = [role for role, seconds in overdue.items() if seconds > LATE_AFTER_SECONDS]
    return WorkerStatus(overdue_seconds=overdue, late=late)


def install(app: FastAPI) -> None:
    """Serve the dashboard from `app`, and let its live feed accept the dashboard's session cookie."""
    app.include_router(router)
    # An EventSource cannot send a bearer header, but it does send the same-origin session cookie.
    feed_router.accept_session_cookie(app)
