"""Logging set-up, with a last-line filter that masks anything shaped like a phone number."""

from __future__ import annotations

import logging
import re

# Seven or more digits, optionally after a '+', with the separators people type.
_PHONE_LIKE = re.compile(r"\+?\d(?:[\s().-]?\d){6,}")


class PhoneRedactingFilter(logging.Filter):
    """Defence in depth: code never logs numbers, and this masks any that slip through."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _PHONE_LIKE.search(message):
            record.msg = _PHONE_LIKE.sub("[redacted-number]", message)
            record.args = None
        return True


def redact_numbers(text: str) -> str:
    """The text with anything shaped like a phone number masked."""
    return _PHONE_LIKE.sub("[redacted-number]", text)


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps; every handler gets the redacting filter."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(PhoneRedactingFilter())
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(PhoneRedactingFilter())
