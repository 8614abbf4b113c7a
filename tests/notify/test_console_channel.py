"""The console sink: one log line per message, recipient masked, the last N kept."""

from __future__ import annotations

import logging

from app.notify.console_channel import ConsoleChannel
from app.notify.ports import Channel, OutboundMessage

NUMBER = "+23675123456"


def test_it_logs_the_text_with_the_number_masked(caplog):
    console = ConsoleChannel()
    with caplog.at_level(logging.INFO, logger="app.notify.console_channel"):
        result = console.send(OutboundMessage("esc-3:sms", "sms", NUMBER, "Alerte K-4821: confirmez."))

    assert result.accepted and result.provider_id.startswith("CN") and result.status == "delivered"
    [record] = caplog.records
    line = record.getMessage()
    assert "Alerte K-4821: confirmez." in line and "esc-3:sms" in line
    assert "+236 ••••••56" in line
    assert NUMBER not in line and "751234" not in line


def test_urls_show_only_scheme_and_host():
    console = ConsoleChannel()
    console.send(OutboundMessage("k", "webhook", "https://unit7.example.org/hook?token=s3cr3t", "Alerte"))

    assert console.recent()[0].recipient == "https://unit7.example.org/…"


def test_it_keeps_only_the_last_messages():
    console = ConsoleChannel(keep=3)
    for i in range(5):
        console.send(OutboundMessage(f"k{i}", "voice", NUMBER, f"text {i}"))

    assert [r.idempotency_key for r in console.recent()] == ["k2", "k3", "k4"]
    assert all(r.kind == "voice" and NUMBER not in r.recipient for r in console.recent())
    console.clear()
    assert console.recent() == []


def test_it_is_a_channel():
    assert isinstance(ConsoleChannel(), Channel)
