"""A durable on-disk spool for accepted messages while the database is unreachable."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class SpoolUnavailable(RuntimeError):
    """The spool directory cannot be written; without it an outage would lose messages."""


class Spool:
    """One fsynced JSON file per message, named by its provider key, so a retry overwrites, never doubles."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / ".probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SpoolUnavailable(f"spool directory {directory} is not writable: {exc.strerror}") from None

    def put(self, key: str, record: dict[str, Any]) -> Path:
        """Write the record durably: temp file, fsync, atomic rename, fsync of the directory."""
        target = self.directory / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".json")
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        self._sync_directory()
        return target

    def pending(self) -> list[Path]:
        """Spooled files, oldest first."""
        files = [p for p in self.directory.glob("*.json") if not p.name.startswith(".")]
        return sorted(files, key=lambda p: p.stat().st_mtime_ns)

    def load(self, path: Path) -> dict[str, Any]:
        """Read one spooled record."""
        return json.loads(path.read_text(encoding="utf-8"))

    def remove(self, path: Path) -> None:
        """Forget a record once the database holds it."""
        path.unlink(missing_ok=True)
        self._sync_directory()

    def depth(self) -> int:
        """How many records wait for the database."""
        return sum(1 for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
