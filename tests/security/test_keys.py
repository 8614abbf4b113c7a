"""Key resolution: production refuses to run without secrets; development generates them once."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from app.core.config import Settings
from app.security.crypto import DecryptionError, Vault
from app.security.keys import SECRETS_FILE_NAME, ConfigurationError, load_keys


def test_production_without_secrets_refuses_to_start(tmp_path):
    with pytest.raises(ConfigurationError, match="KENGELE_SECRET_KEY"):
        load_keys(Settings(mode="production", data_dir=tmp_path))
    assert not (tmp_path / SECRETS_FILE_NAME).exists()


def test_production_with_a_master_secret_has_no_twilio_token_unless_given(tmp_path):
    keys = load_keys(Settings(mode="production", data_dir=tmp_path, secret_key="s" * 40))
    assert keys.twilio_auth_token is None
    assert not (tmp_path / SECRETS_FILE_NAME).exists()


def test_development_generates_secrets_once_with_private_permissions(tmp_path):
    first = load_keys(Settings(data_dir=tmp_path))
    path = tmp_path / SECRETS_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_keys(Settings(data_dir=tmp_path))
    assert first == second
    assert first.twilio_auth_token


def test_master_secret_derivation_is_stable_and_keys_differ(tmp_path):
    a = load_keys(Settings(secret_key="one" * 12, data_dir=tmp_path))
    b = load_keys(Settings(secret_key="one" * 12, data_dir=tmp_path))
    c = load_keys(Settings(secret_key="two" * 12, data_dir=tmp_path))
    assert a.encryption_keys == b.encryption_keys != c.encryption_keys
    assert a.hash_key != c.hash_key and a.hash_key != a.encryption_keys[0]


def test_rotation_old_key_still_decrypts_and_rotate_moves_to_new(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = Vault(load_keys(Settings(encryption_keys=old, hash_key="h" * 32, data_dir=tmp_path)))
    token = before.encrypt("+23675123456")
    after = Vault(load_keys(Settings(encryption_keys=f"{new},{old}", hash_key="h" * 32, data_dir=tmp_path)))
    assert after.decrypt(token) == "+23675123456"
    rotated = after.rotate(token)
    only_new = Vault(load_keys(Settings(encryption_keys=new, hash_key="h" * 32, data_dir=tmp_path)))
    assert only_new.decrypt(rotated) == "+23675123456"
    with pytest.raises(DecryptionError) as info:
        only_new.decrypt(token)
    assert "+236" not in str(info.value)


def test_malformed_encryption_key_fails_early(tmp_path):
    with pytest.raises(ValueError):
        load_keys(Settings(encryption_keys="not-a-fernet-key", hash_key="h", data_dir=tmp_path))


def test_lookup_hash_is_keyed_and_purpose_bound(tmp_path):
    vault = Vault(load_keys(Settings(secret_key="k" * 40, data_dir=tmp_path)))
    other = Vault(load_keys(Settings(secret_key="q" * 40, data_dir=tmp_path)))
    assert vault.lookup_hash("+23675123456") == vault.lookup_hash("+23675123456")
    assert vault.lookup_hash("+23675123456") != other.lookup_hash("+23675123456")
    assert vault.lookup_hash("x", purpose="phone") != vault.lookup_hash("x", purpose="receipt")
