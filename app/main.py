"""The FastAPI application: wiring of settings, database, keys, intake and background loops."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import worker
from app.abuse import router as abuse_router
from app.core import errors, health
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.core.headers import SecurityHeaders
from app.core.limits import BodySizeLimit
from app.core.routes import HotPathApp
from app.dashboard import router as dashboard_router
from app.exports import router as exports_router
from app.feed import router as feed_router
from app.feed import stream as feed_stream
from app.incidents import router as incidents_router
from app.intake import router as intake_router
from app.intake.flows import IntakeGateway
from app.intake.spool import Spool
from app.notify import router as notify_router
from app.operators import router as operators_router
from app.partners import router as partners_router
from app.protection import router as protection_router
from app.routing import router as routing_router
from app.security.crypto import Vault
from app.security.keys import load_keys
from app.units import router as units_router
from app.verification import router as verification_router

logger = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 10_000  # Python's default is 700


def tune_garbage_collector() -> None:
    """Freeze what start-up built and collect young objects less often; once per process."""
    if gc.get_freeze_count():
        return
    # The modules, tables and caches loaded at start-up are ~200,000 objects that live as long as the process. Each
    # full collection walked all of them (about 100 ms on the bench machine, the whole request queue waiting: the
    # p99 at 200 messages/s); frozen, a collection looks only at what was allocated since.
    gc.collect()
    gc.freeze()
    # The young generation holds the requests in flight (some 50 objects each), nearly never garbage: at the
    # default 700 it was scanned and promoted whole several times a second under load, for nothing.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; background loops start with the server and stop with it."""
    settings = settings or get_settings()
    keys = load_keys(settings)
    vault = Vault(keys)
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    spool = Spool(settings.resolved_spool_dir)  # fails at start-up if an outage could not be survived

    channels = worker.notify_channels(settings, keys)
    copies = worker.provider_copies(settings, keys)
    worker_loops = worker.worker_loops(settings, factory, vault, channels, embedded=True, copies=copies)
    inbox_loop = worker_loops[0]
    gateway = IntakeGateway(
        factory, vault, spool, on_accepted=inbox_loop.wake if settings.embedded_worker else lambda: None
    )
    # Every API process replays its own spool: the spool is local disk.
    spool_loop = worker.BackgroundLoop(
        "spool-replay", lambda: bool(gateway.replay_spool()), settings.spool_replay_seconds
    )
    loops = [spool_loop] + (worker_loops if settings.embedded_worker else [])

    def overdue_seconds() -> dict[str, float]:
        """Each worker role's overdue work, read in a transaction of its own (for /readyz and /metrics)."""
        with transaction(factory) as session:
            return worker.overdue_seconds(session)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.insecure_skip_twilio_signature:
            logger.warning("INSECURE: Twilio signatures are NOT checked; never run like this in the field")
        if keys.twilio_auth_token is None:
            logger.warning("Twilio intake is closed: KENGELE_TWILIO_AUTH_TOKEN is not set")
        tune_garbage_collector()
        for loop in loops:
            loop.start()
        feed_stream.start_feed(_app.state)  # PostgreSQL: LISTEN for other processes' events; SQLite: nothing
        yield
        feed_stream.stop_feed(_app.state)
        for loop in loops:
            loop.stop()
        gateway.close()
        channels.close()
        if copies is not None:
            copies.close()
        engine.dispose()

    app = HotPathApp(
        title="Kengele",
        version="0.1.0",
        description="Community early-warning alert gateway.",
        lifespan=lifespan,
        # No Swagger UI or ReDoc: both load scripts from a CDN at run time, which the field networks cannot reach
        # and the API's CSP forbids. Tools read the OpenAPI document at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.vault = vault
    app.state.engine = engine
    app.state.sessionmaker = factory
    app.state.gateway = gateway
    app.state.spool = spool
    app.state.overdue_seconds = overdue_seconds
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        # Only the listed origins' pages may read answers, and with a bearer token, never with the cookie.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])  # fmt: skip
    https = bool(settings.public_base_url and settings.public_base_url.startswith("https://"))
    app.add_middleware(SecurityHeaders, https=https)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(intake_router.router)
    app.include_router(notify_router.router)
    for api in (operators_router, incidents_router, units_router, protection_router, routing_router,
                verification_router, exports_router, feed_router, partners_router, abuse_router):  # fmt: skip
        app.include_router(api.router)
    dashboard_router.install(app)  # the dashboard's page and files (and `/` → it), its cookie on the live feed
    app.state.channels = channels

    return app
