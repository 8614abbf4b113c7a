"""Background loops: the inbox worker and the spool replayer, in a thread or as `kengele worker`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)


class BackgroundLoop:
    """Call `step` until it reports no more work, then sleep `interval` seconds or until woken."""

    def __init__(self, name: str, step: Callable[[], bool], interval: float, yield_seconds: float = 0.0) -> None:
        self.name = name
        self._step = step
        self._interval = interval
        # Pause between busy batches: inside the server, answering providers comes before processing.
        self._yield_seconds = yield_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Run the step soon (new work arrived)."""
        self._wake.set()

    def run(self) -> None:
        """Loop in the current thread until stop() is called."""
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
                self._wake.wait(self._interval)
                self._wake.clear()
            elif self._yield_seconds:
                self._stop.wait(self._yield_seconds)

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
