"""Secret material: from the environment, derived from one master secret, or generated once for development."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import Mode, Settings

logger = logging.getLogger(__name__)

SECRETS_FILE_NAME = ".kengele-secrets.json"


class ConfigurationError(RuntimeError):
    """Raised when the configuration is unsafe or incomplete; the message names the setting."""


@dataclass(frozen=True)
class Keys:
    """The keys one process works with."""

    encryption_keys: tuple[bytes, ...]  # Fernet keys, newest first
    hash_key: bytes
    twilio_auth_token: str | None  # None: Twilio webhooks are closed


def _derive(master: str, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kengele/v1", info=purpose)
    return hkdf.derive(master.encode())


def _from_master(master: str) -> tuple[tuple[bytes, ...], bytes]:
    encryption = base64.urlsafe_b64encode(_derive(master, b"phone-encryption"))
    return (encryption,), _derive(master, b"lookup-hash")


def _load_or_create_dev_secrets(data_dir: Path) -> dict[str, str]:
    """Read the development secrets file, creating it (mode 0600) on first run."""
    path = data_dir / SECRETS_FILE_NAME
    if path.exists():
        return json.loads(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    generated = {
        "secret_key": secrets.token_urlsafe(48),
        # Signs simulated Twilio traffic (kengele simulate) when no real Twilio token is configured.
        "twilio_auth_token": secrets.token_hex(16),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(generated, handle)
    logger.warning("generated development secrets in %s; set KENGELE_SECRET_KEY in production", path)
    return generated


def load_keys(settings: Settings) -> Keys:
    """Resolve the keys for this process, refusing to run production without explicit secrets."""
    dev_secrets: dict[str, str] = {}
    explicit_master = settings.secret_key.get_secret_value() if settings.secret_key else None
    if settings.mode is Mode.production:
        if not (explicit_master or (settings.encryption_keys and settings.hash_key)):
            raise ConfigurationError(
                "production mode needs KENGELE_SECRET_KEY (or KENGELE_ENCRYPTION_KEYS and KENGELE_HASH_KEY)"
            )
    elif not explicit_master:
        dev_secrets = _load_or_create_dev_secrets(settings.data_dir)
    master = explicit_master or dev_secrets.get("secret_key")

    if settings.encryption_keys and settings.hash_key:
        encryption = tuple(k.strip().encode() for k in settings.encryption_keys.get_secret_value().split(","))
        hash_key = settings.hash_key.get_secret_value().encode()
    else:
        assert master is not None
        encryption, hash_key = _from_master(master)
    for key in encryption:
        Fernet(key)  # fails early on a malformed key

    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    if token is None and settings.mode is Mode.development:
        token = (
            dev_secrets.get("twilio_auth_token") or _load_or_create_dev_secrets(settings.data_dir)["twilio_auth_token"]
        )
    return Keys(encryption_keys=encryption, hash_key=hash_key, twilio_auth_token=token)
