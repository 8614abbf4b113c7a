"""The ordered steps every new report goes through after intake.

Each step takes the session and the report and may enrich it or act on it; steps run inside the
worker's transaction for that inbox row, so a failing step retries the whole row later. The
understanding (language, category, severity), locating and clustering steps plug in here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from app.abuse import service as abuse
from app.escalation import tasks as escalation_tasks
from app.incidents import service as incident_service
from app.incidents.models import Report
from app.understanding import tasks as understanding_tasks

ReportStep = Callable[[Session, Report], None]


def cluster(session: Session, report: Report) -> None:
    """Pipeline step: fold repeats and put the report into its incident (a flood report is folded already)."""
    if report.repeat_of_id is not None:
        return
    incident_service.cluster_report(session=session, report=report)


# Understand and locate → act on reply codes (ACK, POS) and beeps → fold a flooding sender → cluster → watch for
# bursts of unknown numbers → prioritise, route and escalate.
REPORT_STEPS: list[ReportStep] = [
    understanding_tasks.understand_report, escalation_tasks.reply_codes, escalation_tasks.beeps,
    abuse.screen_sender, cluster, abuse.watch_area, escalation_tasks.escalate,
]  # fmt: skip


def run(session: Session, report: Report, steps: Sequence[ReportStep] | None = None) -> None:
    """Run the pipeline steps on a freshly created report, in order."""
    for step in REPORT_STEPS if steps is None else steps:
        step(session, report)
