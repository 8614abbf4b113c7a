"""Receipts for reporters: a short reference and a neutral acknowledgement in their language."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from app.security.crypto import Vault

# Crockford's base32: no I, L, O or U, so a reference survives being read aloud or retyped.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REF_LENGTH = 6
RECEIPTS_FILE = Path(__file__).with_name("receipts.json")


def receipt_ref(vault: Vault, source: str, external_id: str) -> str:
    """Derive the receipt reference from the provider's id, so a retry (or a spooled message) gets the same one."""
    number = int(vault.lookup_hash(f"{source}:{external_id}", purpose="receipt")[:16], 16)
    chars = []
    for _ in range(REF_LENGTH):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


@lru_cache
def _templates() -> dict[str, str]:
    data = json.loads(RECEIPTS_FILE.read_text(encoding="utf-8"))
    return {lang: text for lang, text in data.items() if not lang.startswith("_")}


def supported_languages() -> list[str]:
    """The languages a receipt can be written in."""
    return sorted(_templates())


def receipt_text(ref: str, language: str | None, fallback: str = "fr") -> str:
    """The receipt SMS in the reporter's language, or the deployment's default."""
    templates = _templates()
    template = templates.get((language or "").lower()) or templates.get(fallback) or templates["en"]
    return template.format(ref=ref)


UPDATES_FILE = Path(__file__).with_name("updates.json")


@lru_cache
def _updates() -> dict[str, dict[str, str]]:
    data = json.loads(UPDATES_FILE.read_text(encoding="utf-8"))
    return {event: texts for event, texts in data.items() if not event.startswith("_")}


def update_text(event: str, ref: str, language: str | None, fallback: str = "fr") -> str:
    """A neutral update ("passed to the peacekeepers") in the reporter's language, naming their own receipt ref."""
    templates = _updates()[event]
    template = templates.get((language or "").lower()) or templates.get(fallback) or templates["en"]
    return template.format(ref=ref)


def update_events() -> list[str]:
    """The events reporters are told about."""
    return sorted(_updates())
