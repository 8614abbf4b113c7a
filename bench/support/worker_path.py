"""The worker's path in-process: inbox rows become reports through the real pipeline, timed step by step.

Shared by bench/scale.py (time per report against stored reports and units) and bench/pipeline.py --profile
(cProfile of the same path). Rows are stored as intake stores them (IntakeGateway), claimed and processed as
`app.intake.tasks.process_due` does (claim, report, pipeline steps in a savepoint, mark processed), and by default
rolled back afterwards so that every measurement starts from the same database state.
"""

from __future__ import annotations

import contextlib
import cProfile
import os
import pstats
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.core.config import Settings

STEP_LABELS = {
    "understand_report": "understand_locate",
    "reply_codes": "reply_codes",
    "beeps": "beeps",
    "cluster": "cluster",
    "escalate": "prioritise_route_escalate",
}


@dataclass
class PathTiming:
    """What one pass over the inbox cost: per report in all, per pipeline step, and the ranking inside escalation."""

    reports: int = 0
    total_ms: float = 0.0
    per_report_ms: list[float] = field(default_factory=list)
    steps_ms: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def ms_per_report(self) -> float | None:
        """Mean milliseconds per report over the pass."""
        return self.total_ms / self.reports if self.reports else None

    def steps_per_report(self) -> dict[str, float]:
        """Mean milliseconds per report of each step (`route` is part of prioritise_route_escalate)."""
        return {name: ms / self.reports for name, ms in self.steps_ms.items()} if self.reports else {}


@contextlib.contextmanager
def app_environment(env: dict[str, str]) -> Iterator[None]:
    """Make in-process app code read the deployment's settings (get_settings and the caches built from it)."""
    from app.core.config import get_settings
    from app.escalation import tasks as escalation_tasks

    saved = {key: value for key, value in os.environ.items() if key.startswith("KENGELE_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    get_settings.cache_clear()
    escalation_tasks.config.cache_clear()
    try:
        yield
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)
        get_settings.cache_clear()
        escalation_tasks.config.cache_clear()


def enqueue(settings: Settings, forms: list[dict[str, str]]) -> int:
    """Store Twilio SMS forms in the inbox as the intake endpoint does (IntakeGateway.accept); returns rows created."""
    from app.core.db import make_engine, make_sessionmaker
    from app.intake.flows import IntakeGateway
    from app.intake.schemas import TwilioSmsForm
    from app.intake.spool import Spool
    from app.intake.twilio import to_envelope
    from app.security.crypto import Vault
    from app.security.keys import load_keys

    engine = make_engine(settings)
    gateway = IntakeGateway(make_sessionmaker(engine), Vault(load_keys(settings)), Spool(settings.resolved_spool_dir))
    try:
        created = 0
        for form in forms:
            envelope = to_envelope(TwilioSmsForm(**form), default_region=settings.default_region)
            created += gateway.accept(envelope).created
        return created
    finally:
        gateway.close()
        engine.dispose()


@contextlib.contextmanager
def timed_steps(timing: PathTiming) -> Iterator[None]:
    """Wrap each pipeline step, and the unit ranking escalation calls, to add their time to `timing`."""
    from app.incidents import pipeline
    from app.routing import service as routing

    def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timing.steps_ms[label] += 1000 * (time.perf_counter() - started)

        return wrapper

    steps, rank_for = pipeline.REPORT_STEPS, routing.rank_for
    pipeline.REPORT_STEPS = [timed(STEP_LABELS.get(step.__name__, step.__name__), step) for step in steps]
    routing.rank_for = timed("route", rank_for)
    try:
        yield
    finally:
        pipeline.REPORT_STEPS, routing.rank_for = steps, rank_for


def clear_caches() -> None:
    """Forget the per-process gazetteer parser and road graph (another database is next)."""
    from app.routing.service import graphs
    from app.understanding.tasks import parsers

    parsers.clear()
    graphs.clear()


def process_inbox(
    settings: Settings,
    *,
    limit: int | None = None,
    batch_size: int = 50,
    keep: bool = False,
    profile: cProfile.Profile | None = None,
    statements: dict[str, list[float]] | None = None,
) -> PathTiming:
    """Process the due inbox rows (at most `limit`) in worker-sized batches, timing each; roll back unless `keep`.

    Each batch is one session, as in process_due, but its commit only releases a savepoint of one outer
    transaction, which is rolled back at the end: commits (fsync) are not timed, and the next pass sees the same rows.
    With `statements`, each SQL statement's calls and seconds are added up under its text (first 120 characters).
    """
    from app.core.clock import utcnow
    from app.core.db import hold_loaded_objects, make_engine, make_sessionmaker
    from app.intake import service as inbox_service
    from app.intake.tasks import process_inbound
    from app.security.crypto import Vault
    from app.security.keys import load_keys

    timing = PathTiming()
    engine = make_engine(settings)
    vault, factory = Vault(load_keys(settings)), make_sessionmaker(engine)
    left = limit if limit is not None else 10**9
    if statements is not None:
        time_statements(engine, statements)
    try:
        with engine.connect() as connection, timed_steps(timing):
            outer = connection.begin()
            while left > 0:
                with factory(bind=connection, join_transaction_mode="create_savepoint") as session:
                    hold_loaded_objects(session)
                    rows = inbox_service.claim_due(session=session, now=utcnow(), limit=min(batch_size, left))
                    if not rows:
                        break
                    left -= len(rows)
                    if profile is not None:
                        profile.enable()
                    try:
                        for row in rows:
                            started = time.perf_counter()
                            with session.begin_nested():
                                process_inbound(session=session, vault=vault, row=row)
                                inbox_service.mark_processed(row, now=utcnow())
                            timing.per_report_ms.append(1000 * (time.perf_counter() - started))
                    finally:
                        if profile is not None:
                            profile.disable()
                    session.commit()
            (outer.commit if keep else outer.rollback)()
    finally:
        engine.dispose()
    timing.reports = len(timing.per_report_ms)
    timing.total_ms = sum(timing.per_report_ms)
    return timing


def time_statements(engine: Any, statements: dict[str, list[float]]) -> None:
    """Add up [calls, seconds] per SQL statement text executed on `engine`."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
        elapsed = time.perf_counter() - conn.info["bench_started"].pop()
        entry = statements.setdefault(" ".join(statement.split())[:120], [0, 0.0])
        entry[0] += 1
        entry[1] += elapsed


def top_statements(statements: dict[str, list[float]], reports: int, count: int = 10) -> list[dict[str, Any]]:
    """The SQL statements that took the most time, in calls and ms per report."""
    rows = [
        {"sql": sql, "calls_per_report": round(calls / reports, 2), "ms_per_report": round(1000 * seconds / reports, 3)}
        for sql, (calls, seconds) in statements.items()
    ]
    return sorted(rows, key=lambda row: -row["ms_per_report"])[:count]


def top_functions(
    profile: cProfile.Profile, reports: int, count: int = 10, only: str | None = None
) -> list[dict[str, Any]]:
    """The functions with the most cumulative time, in ms per report (only paths containing `only`, when given),
    leaving out this module's own wrappers."""
    stats = pstats.Stats(profile)
    rows = []
    for (path, line, name), (_calls, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if path == __file__ or name.startswith("<") or (only is not None and only not in path):
            continue
        where = path.split("/site-packages/")[-1].split("/work/main/")[-1]
        rows.append({
            "function": f"{where}:{line}({name})", "calls_per_report": round(ncalls / reports, 2),
            "cumulative_ms_per_report": round(1000 * cumtime / reports, 3),
            "own_ms_per_report": round(1000 * tottime / reports, 3),
        })  # fmt: skip
    rows.sort(key=lambda row: -row["cumulative_ms_per_report"])
    return rows[:count]
