"""Encryption at rest and keyed lookup hashes for personal data (phone numbers, raw messages)."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.security.keys import Keys


class DecryptionError(RuntimeError):
    """Raised when a stored value cannot be decrypted with any configured key."""


class Vault:
    """Encrypts, decrypts and hashes personal data with the process keys."""

    def __init__(self, keys: Keys) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys.encryption_keys])
        self._hash_key = keys.hash_key

    def encrypt(self, plaintext: str) -> str:
        """Encrypt text with the newest key; the result is ASCII and safe to store."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt a value written by encrypt() under any configured key."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise DecryptionError("stored value cannot be decrypted with the configured keys") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored value under the newest key; DecryptionError when no configured key opens it."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise DecryptionError("stored value cannot be decrypted with the configured keys") from None

    def lookup_hash(self, value: str, *, purpose: str = "phone") -> str:
        """Keyed hash for equality lookups; without the key it cannot be reversed by enumeration."""
        return hmac.new(self._hash_key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
