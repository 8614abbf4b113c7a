"""Channel kind → Channel, built once from a NotifyConfig; the console sink stands in for what is not set up."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from app.notify.console_channel import DEFAULT_KEEP, ConsoleChannel
from app.notify.ports import Channel, OutboundMessage, SendResult
from app.notify.twilio_channel import TwilioConfig, TwilioSmsChannel, TwilioVoiceChannel
from app.notify.webhook_channel import DEFAULT_TIMEOUT_S, WebhookChannel


@dataclass(frozen=True)
class NotifyConfig:
    """Outbound settings, filled from Settings by the caller; nothing here reads the environment."""

    twilio: TwilioConfig | None = None
    # One secret for every unit, or a function URL → secret for per-unit secrets.
    webhook_secret: str | Callable[[str], str | None] | None = field(default=None, repr=False)
    webhook_timeout_s: float = DEFAULT_TIMEOUT_S
    console_keep: int = DEFAULT_KEEP
    # Development: a kind without a provider goes to the console sink. Production: it has no channel, so
    # the worker fails the message loudly instead of pretending it went out.
    console_fallback: bool = True


class Channels(Mapping[str, Channel]):
    """The configured channels by kind (sms, voice, webhook, console); `send` routes by message.kind."""

    def __init__(self, channels: dict[str, Channel], console: ConsoleChannel) -> None:
        self._channels = channels
        self.console = console

    def __getitem__(self, kind: str) -> Channel:
        return self._channels[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    def send(self, message: OutboundMessage) -> SendResult:
        """Send through the channel for message.kind; a kind with no channel is a permanent failure."""
        channel = self._channels.get(message.kind)
        if channel is None:
            return SendResult.rejected("no_channel", f"no {message.kind} channel is configured")
        return channel.send(message)

    def close(self) -> None:
        """Release HTTP sessions; the same channel may serve several kinds."""
        closed: set[int] = set()
        for channel in self._channels.values():
            close = getattr(channel, "close", None)
            if close is not None and id(channel) not in closed:
                closed.add(id(channel))
                close()


def channels_from_config(config: NotifyConfig) -> Channels:
    """Build every channel the configuration allows; call once per process and close() at shutdown."""
    console = ConsoleChannel(keep=config.console_keep)
    channels: dict[str, Channel] = {"console": console}
    fallback = {"sms": console, "voice": console, "webhook": console} if config.console_fallback else {}
    if config.twilio is not None and (config.twilio.from_number or config.twilio.messaging_service_sid):
        channels["sms"] = TwilioSmsChannel(config.twilio)
    if config.twilio is not None and config.twilio.caller_id:
        channels["voice"] = TwilioVoiceChannel(config.twilio)
    if config.webhook_secret:
        channels["webhook"] = WebhookChannel(config.webhook_secret, timeout_s=config.webhook_timeout_s)
    return Channels(fallback | channels, console)
