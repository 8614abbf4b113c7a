"""Receipts: a stable short reference, one SMS segment in every language, neutral wording."""

from __future__ import annotations

import pytest

from app.feedback import receipts
from app.security.crypto import Vault
from app.security.keys import Keys

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)


def segment_limit(text: str) -> int:
    return 160 if set(text) <= GSM7 else 70


@pytest.fixture
def vault() -> Vault:
    return Vault(Keys(encryption_keys=(b"A" * 43 + b"=",), hash_key=b"k" * 32, twilio_auth_token=None))


def test_reference_is_stable_short_and_unambiguous(vault):
    ref = receipts.receipt_ref(vault, "twilio_sms", "SM" + "a" * 32)
    assert ref == receipts.receipt_ref(vault, "twilio_sms", "SM" + "a" * 32)
    assert len(ref) == receipts.REF_LENGTH
    assert not set(ref) & set("ILOU")


def test_references_spread_over_many_messages(vault):
    refs = {receipts.receipt_ref(vault, "twilio_sms", f"SM{i:032x}") for i in range(5000)}
    assert len(refs) >= 4990  # 30 bits: a handful of collisions at most


def test_reference_depends_on_the_key(vault):
    other = Vault(Keys(encryption_keys=(b"A" * 43 + b"=",), hash_key=b"j" * 32, twilio_auth_token=None))
    assert receipts.receipt_ref(vault, "twilio_sms", "SM1") != receipts.receipt_ref(other, "twilio_sms", "SM1")


@pytest.mark.parametrize("language", receipts.supported_languages())
def test_every_receipt_fits_one_segment_and_names_the_reference(language):
    text = receipts.receipt_text("7K3QF2", language)
    assert "7K3QF2" in text
    assert len(text) <= segment_limit(text), f"{language}: {len(text)} chars"
    # Content-neutral: no mention of who gets the alert.
    assert not {"UN", "ONU", "MINUSCA", "MONUSCO", "peacekeep"} & set(text.replace(".", " ").split())


def test_unknown_language_falls_back_to_the_deployment_default():
    assert receipts.receipt_text("X", "zz", fallback="en") == receipts.receipt_text("X", "en")
    assert receipts.receipt_text("X", None, fallback="fr") == receipts.receipt_text("X", "fr")


def test_all_expected_languages_are_present():
    assert {"en", "fr", "sw", "ln", "sg", "ar", "ht"} <= set(receipts.supported_languages())


@pytest.mark.parametrize("event", receipts.update_events())
def test_every_update_fits_one_segment_in_every_language_and_names_only_the_receipt(event):
    from app.notify.gsm import segments

    languages = receipts.supported_languages()
    for language in languages:
        text = receipts.update_text(event, "7KQ2XM", language)
        assert segments(text) == 1, (event, language, text)
        assert "7KQ2XM" in text and "K-" not in text  # the reporter's own reference, not the operations' one
        assert not any(ch.isdigit() for ch in text.replace("7KQ2XM", "")), text  # no times, counts or distances
    assert receipts.update_text(event, "7KQ2XM", "xx") == receipts.update_text(event, "7KQ2XM", "fr")
