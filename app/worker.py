"""Background loops (inbox, outbox, escalation timers, spool replay), in threads or as `kengele worker`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core.clock import utcnow
from app.core.config import Mode, Settings, WorkerRole
from app.escalation import service as escalation_service
from app.escalation import tasks as escalation_tasks
from app.intake import service as intake_service
from app.intake import tasks as intake_tasks
from app.notify import service as notify_service
from app.notify import tasks as notify_tasks
from app.notify.ports import ProviderCopies
from app.notify.registry import Channels, NotifyConfig, channels_from_config
from app.notify.twilio_channel import TwilioConfig, TwilioCopies
from app.retention import service as retention
from app.retention import tasks as retention_tasks
from app.security.crypto import Vault
from app.security.keys import Keys

logger = logging.getLogger(__name__)
RETENTION_CHECK_SECONDS = 300.0
# A send is declared lost after notify's SENDING_STALE (minutes): looking once a minute is soon enough, and the
# scan is not repeated by every sender before every batch.
STALE_SENDS_CHECK_SECONDS = 60.0
PROVIDER_COPIES_CHECK_SECONDS = 60.0


class BackgroundLoop:
    """Call `step` until it reports no more work, then sleep `interval` seconds or until woken."""

    def __init__(
        self, name: str, step: Callable[[], bool], interval: float, yield_seconds: float = 0.0, busy_seconds: float = 0
    ) -> None:
        self.name = name
        self._step = step
        self.interval = interval
        # Pause after each `busy_seconds` of back-to-back steps: inside the server, answering providers comes first.
        self._yield_seconds = yield_seconds
        self._busy_seconds = busy_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Run the step soon (new work arrived)."""
        self._wake.set()

    def run(self) -> None:
        """Loop in the current thread until stop() is called."""
        busy_since = time.monotonic()
        while not self._stop.is_set():
            more = False
            try:
                more = self._step()
            except SQLAlchemyError as exc:
                # The database is down or busy: wait and try again; nothing is lost, rows stay due.
                logger.warning("%s: database unavailable (%s)", self.name, type(exc).__name__)
            except Exception:
                logger.exception("%s: unexpected error; continuing", self.name)
            if not more:
                self._wake.wait(self.interval)
                self._wake.clear()
                busy_since = time.monotonic()
            elif self._yield_seconds and time.monotonic() - busy_since >= self._busy_seconds:
                self._stop.wait(self._yield_seconds)
                busy_since = time.monotonic()

    def start(self) -> None:
        """Run the loop in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Ask the loop to stop and wait for the current step to finish."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


class _Wakes:
    """Wake every loop of a group at once."""

    def __init__(self, loops: list[BackgroundLoop]) -> None:
        self._loops = loops

    def wake(self) -> None:
        for loop in self._loops:
            loop.wake()


def twilio_config(settings: Settings, keys: Keys) -> TwilioConfig | None:
    """This deployment's Twilio account, if it has one."""
    if not (settings.twilio_account_sid and keys.twilio_auth_token):
        return None
    return TwilioConfig(
        settings.twilio_account_sid, keys.twilio_auth_token, from_number=settings.twilio_from_number,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        voice_from_number=settings.twilio_voice_from_number, api_base_url=settings.twilio_api_base,
        timeout_s=settings.twilio_timeout_seconds, machine_detection=settings.twilio_machine_detection,
    )  # fmt: skip


def provider_copies(settings: Settings, keys: Keys) -> TwilioCopies | None:
    """Twilio's records to delete, when the deployment uses Twilio and deleting them is on."""
    config = twilio_config(settings, keys)
    return TwilioCopies(config) if config is not None and settings.twilio_delete_after_minutes > 0 else None


def notify_channels(settings: Settings, keys: Keys) -> Channels:
    """The outbound channels this deployment has: Twilio when configured, signed webhooks, else the console."""
    return channels_from_config(
        NotifyConfig(
            twilio=twilio_config(settings, keys), webhook_secret=notify_tasks.webhook_secret_for,
            webhook_timeout_s=settings.outbound_webhook_timeout_seconds, console_keep=settings.console_outbox_size,
            console_fallback=settings.mode == Mode.development,
        )
    )  # fmt: skip


def overdue_seconds(session: Session) -> dict[str, float]:
    """How long each role's oldest due work has waited (inbox, timers, outbox; 0 when nothing is due)."""
    # The sign that a role runs in no process (its work only ages) or that it cannot keep up: read by /readyz,
    # /metrics and the dashboard in the API process, so it shows even when no worker process runs at all.
    now = utcnow()
    oldest = {
        WorkerRole.inbox: intake_service.oldest_due(session=session, now=now),
        WorkerRole.timers: escalation_service.oldest_due_timer(session=session, now=now),
        WorkerRole.outbox: notify_service.oldest_due(session=session, now=now),
    }
    return {role.value: (now - due).total_seconds() if due else 0.0 for role, due in oldest.items()}


def worker_loops(
    settings: Settings, factory: sessionmaker[Session], vault: Vault, channels: Channels, *, embedded: bool,
    roles: Collection[WorkerRole] = tuple(WorkerRole), copies: ProviderCopies | None = None,
) -> list[BackgroundLoop]:  # fmt: skip
    """The worker's loops for these roles: inbox (reports and their pipeline), outbox (sending), timers (escalation
    deadlines), retention (purge, and the provider's `copies` deleted); the first is the one to run in the caller's
    thread."""
    alone = WorkerRole.inbox not in roles  # no inbox worker in this process to wake the senders
    senders = _senders(settings, factory, vault, channels, alone=alone) if WorkerRole.outbox in roles else []
    outbox = _Wakes(senders)
    batch = settings.resolved_worker_batch_size

    def inbox_step() -> bool:
        done = intake_tasks.process_due(
            factory=factory, vault=vault, batch_size=batch, retry_schedule=settings.retry_schedule_seconds
        )
        if done:
            outbox.wake()  # new reports may have queued alerts
        return done >= batch

    def timer_step() -> bool:
        fired = escalation_tasks.fire_due(factory=factory)
        if fired:
            outbox.wake()
        return fired >= 20

    loops = []
    if WorkerRole.inbox in roles:
        yield_s = settings.embedded_worker_yield_seconds if embedded else 0.0
        loops.append(BackgroundLoop("inbox-worker", inbox_step, settings.inbox_poll_seconds, yield_seconds=yield_s,
                                    busy_seconds=settings.embedded_worker_busy_seconds))  # fmt: skip
    if senders:
        loops += [*senders, _stale_sends_loop(factory)]
    if WorkerRole.timers in roles:
        loops.append(BackgroundLoop("escalation-timers", timer_step, settings.worker_poll_seconds))
    if WorkerRole.retention in roles and settings.retention_purge_hours > 0:
        policy = retention.Policy(settings.retention_reporter_days, settings.retention_raw_message_days)
        every = timedelta(hours=settings.retention_purge_hours)

        def retention_step() -> bool:
            retention_tasks.purge_if_due(factory=factory, policy=policy, every=every)
            return False  # nothing more to do until the next check

        # Checked every few minutes; the schedule is the last run's row, so restarts and extra workers keep it.
        loops.append(BackgroundLoop("retention-purge", retention_step, RETENTION_CHECK_SECONDS))
    if WorkerRole.retention in roles and copies is not None:
        after = timedelta(minutes=settings.twilio_delete_after_minutes)

        def copies_step() -> bool:
            return retention_tasks.erase_provider_copies(factory=factory, copies=copies, after=after) > 0

        loops.append(BackgroundLoop("provider-copies", copies_step, PROVIDER_COPIES_CHECK_SECONDS))
    return loops


def _senders(
    settings: Settings, factory: sessionmaker[Session], vault: Vault, channels: Channels, *, alone: bool
) -> list[BackgroundLoop]:
    """The outbox senders. Several: a send waits on the provider (Twilio answers in ~100 ms), not on this machine,
    and an alert must not queue behind other incidents' calls. Each claims one message at a time (SKIP LOCKED)."""
    send_config = notify_tasks.SendSettings(
        public_base_url=settings.public_base_url, retry_seconds=settings.notify_retry_seconds,
        max_attempts=settings.notify_max_attempts, voice_language=settings.default_language,
        voice_prompts_url=settings.voice_prompts_url,
    )  # fmt: skip
    count = max(1, settings.outbox_senders)
    senders: list[BackgroundLoop] = []

    def send_step(lead: bool) -> bool:
        sent = notify_tasks.send_due(
            factory=factory, vault=vault, channels=channels, config=send_config, release_stale=False
        )
        if sent and lead:
            for sender in senders[1:]:
                sender.wake()
        return sent >= notify_tasks.SEND_BATCH

    # Apart from the inbox (`kengele worker --only outbox`) nobody in this process wakes the senders when alerts are
    # queued: the first one looks as often as the inbox worker would and wakes the others when it finds work.
    lead_interval = settings.inbox_poll_seconds if alone else settings.worker_poll_seconds
    for n in range(count):
        interval = lead_interval if n == 0 else settings.worker_poll_seconds
        senders.append(BackgroundLoop(f"outbox-sender-{n}", lambda lead=n == 0: send_step(lead), interval))
    return senders


def _stale_sends_loop(factory: sessionmaker[Session]) -> BackgroundLoop:
    """Every minute, rows a dead worker left "sending" long enough ago become "unknown" (never re-sent)."""

    def step() -> bool:
        notify_tasks.release_stale_sends(factory=factory)
        return False

    return BackgroundLoop("outbox-stale-sends", step, STALE_SENDS_CHECK_SECONDS)
