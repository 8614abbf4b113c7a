"""channels_from_config: the console sink stands in for what is not configured, unless that is turned off."""

from __future__ import annotations

from app.notify.console_channel import ConsoleChannel
from app.notify.ports import Channel, OutboundMessage
from app.notify.registry import NotifyConfig, channels_from_config
from app.notify.twilio_channel import TwilioSmsChannel, TwilioVoiceChannel
from app.notify.webhook_channel import WebhookChannel

SMS = OutboundMessage("esc-1:sms", "sms", "+23675123456", "Alerte K-4821")


def test_the_embedded_default_sends_everything_to_the_console():
    channels = channels_from_config(NotifyConfig())

    assert {kind: type(c) for kind, c in channels.items()} == dict.fromkeys(
        ("console", "sms", "voice", "webhook"), ConsoleChannel
    )
    assert channels.send(SMS).accepted
    assert [r.idempotency_key for r in channels.console.recent()] == ["esc-1:sms"]


def test_without_fallback_an_unconfigured_kind_fails_permanently():
    channels = channels_from_config(NotifyConfig(console_fallback=False))

    result = channels.send(SMS)

    assert "sms" not in channels
    assert not result.accepted and not result.retryable and result.error_code == "no_channel"
    assert channels.console.recent() == []


def test_configured_providers_replace_the_console(fake_twilio):
    channels = channels_from_config(NotifyConfig(twilio=fake_twilio.twilio_config(), webhook_secret="s"))
    try:
        assert isinstance(channels["sms"], TwilioSmsChannel)
        assert isinstance(channels["voice"], TwilioVoiceChannel)
        assert isinstance(channels["webhook"], WebhookChannel)
        assert all(isinstance(c, Channel) for c in channels.values())
        result = channels.send(SMS)
        assert result.accepted and result.provider_id.startswith("SM")
        assert len(fake_twilio.fake.created("Messages")) == 1
    finally:
        channels.close()


def test_sms_only_through_a_messaging_service_leaves_voice_on_the_console(fake_twilio):
    twilio = fake_twilio.twilio_config(from_number=None, messaging_service_sid="MG" + "2" * 32)

    channels = channels_from_config(NotifyConfig(twilio=twilio))

    assert isinstance(channels["sms"], TwilioSmsChannel) and isinstance(channels["voice"], ConsoleChannel)
