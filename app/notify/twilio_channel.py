"""Twilio SMS and voice channels on the real SDK, optionally pointed at another base URL (the local fake)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from app.notify.ports import OutboundMessage, ProviderCopyKind, SendResult, is_e164

logger = logging.getLogger(__name__)
# The SDK logs every request line and response header at INFO; keep that out of the application log.
_SDK_LOGGER = logging.getLogger(__name__ + ".http")
_SDK_LOGGER.setLevel(logging.WARNING)

# Twilio caps inline TwiML for calls.create at 4000 characters.
MAX_TWIML_CHARS = 4000
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")

# Twilio error codes that say "later": rate limits, queue overflow, internal errors, sender queue > 10 h.
TRANSIENT_CODES: dict[int, str] = {
    20429: "too many requests",
    20500: "Twilio internal error",
    20503: "Twilio service unavailable",
    21611: "sender queue exceeds the validity limit",
    30001: "queue overflow",
}
# Codes that say "never": the same request will fail the same way, or needs a person to fix configuration.
PERMANENT_CODES: dict[int, str] = {
    20003: "authentication failed (account sid or auth token)",
    20404: "resource not found",
    21211: "invalid 'To' number",
    21408: "no permission to reach that region (Geo Permissions)",
    21602: "message body required",
    21604: "'To' number required",
    21606: "'From' number cannot send SMS",
    21610: "recipient unsubscribed (STOP)",
    21612: "number not reachable from this sender",
    21614: "'To' number is not a mobile number",
    21617: "message body too long",
}


@dataclass(frozen=True)
class TwilioConfig:
    """What the Twilio channels need; `api_base_url` None means the real https://api.twilio.com."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    # Caller ID for alert calls; defaults to from_number.
    voice_from_number: str | None = None
    api_base_url: str | None = None
    timeout_s: float = 10.0
    machine_detection: bool = False

    @property
    def caller_id(self) -> str | None:
        return self.voice_from_number or self.from_number


class BaseUrlTwilioHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that sends every https://*.twilio.com request to `base_url` instead (same path)."""

    def __init__(self, base_url: str, *, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout, logger=_SDK_LOGGER)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("the Twilio API base must be an http(s) URL")
        self.base_url = base_url.rstrip("/")

    def rewrite(self, url: str) -> str:
        """The URL to request: Twilio hosts (api, edge/region variants) moved onto base_url; others untouched."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "https" or not (host == "twilio.com" or host.endswith(".twilio.com")):
            return url
        base = urlsplit(self.base_url)
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rewrite(url), *args, **kwargs)


def make_client(config: TwilioConfig) -> Client:
    """A twilio.rest.Client with a finite timeout, talking to config.api_base_url when set."""
    if config.api_base_url:
        http_client: TwilioHttpClient = BaseUrlTwilioHttpClient(config.api_base_url, timeout=config.timeout_s)
    else:
        # No automatic retries (the worker owns retries; a retried POST could send twice).
        http_client = TwilioHttpClient(timeout=config.timeout_s, logger=_SDK_LOGGER, max_retries=0)
    return Client(config.account_sid, config.auth_token, http_client=http_client)


def result_from_error(error: Exception) -> SendResult:
    """Map an SDK or network failure to a SendResult; Twilio's own message is dropped, it can quote the number."""
    if isinstance(error, TwilioRestException | TwilioServiceException):
        return _from_twilio_error(int(error.status), error.code)
    if isinstance(error, requests.Timeout):
        # The request may have reached Twilio: a retry can duplicate; the worker may reconcile first.
        return SendResult.retry("timeout", f"no answer from Twilio ({type(error).__name__})")
    if isinstance(error, requests.RequestException):
        return SendResult.retry("network", f"cannot reach Twilio ({type(error).__name__})")
    if isinstance(error, TwilioException):
        return SendResult.retry("twilio", f"unexpected Twilio client error ({type(error).__name__})")
    raise error


def _from_twilio_error(status: int, code: int | None) -> SendResult:
    error_code = str(code or status)
    known = TRANSIENT_CODES.get(code or 0) or PERMANENT_CODES.get(code or 0)
    detail = f"Twilio HTTP {status}, code {error_code}" + (f": {known}" if known else "")
    if code in TRANSIENT_CODES:
        return SendResult.retry(error_code, detail)
    if code in PERMANENT_CODES:
        return SendResult.rejected(error_code, detail)
    if status in (408, 429) or status >= 500:
        return SendResult.retry(error_code, detail)
    return SendResult.rejected(error_code, detail)


class _TwilioChannel:
    kind = ""

    def __init__(self, config: TwilioConfig, client: Client | None = None) -> None:
        self.config = config
        self.client = client or make_client(config)

    def send(self, message: OutboundMessage) -> SendResult:
        """Create the message or call at Twilio; every failure becomes a SendResult, never an exception."""
        problem = self._check(message)
        if problem:
            return problem
        try:
            resource = self._create(message)
        except (TwilioException, requests.RequestException) as error:
            result = result_from_error(error)
            log = logger.error if result.error_code == "20003" else logger.warning
            log("%s %s not sent: %s", self.kind, message.idempotency_key, result.error_detail)
            return result
        logger.info(
            "%s %s handed to Twilio as %s (%s)", self.kind, message.idempotency_key, resource.sid, resource.status
        )
        return SendResult.ok(resource.sid, str(resource.status))

    def _check(self, message: OutboundMessage) -> SendResult | None:
        if message.kind != self.kind:
            return SendResult.rejected("wrong_channel", f"a {message.kind} message sent to the {self.kind} channel")
        if not is_e164(message.to):
            return SendResult.rejected("invalid_recipient", "recipient is not an E.164 number")
        return None

    def _create(self, message: OutboundMessage) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Release the SDK's HTTP session."""
        session = getattr(self.client.http_client, "session", None)
        if session is not None:
            session.close()


class TwilioSmsChannel(_TwilioChannel):
    """SMS through Twilio's Messages API, from a Messaging Service when configured, else from a number."""

    kind = "sms"

    def __init__(self, config: TwilioConfig, client: Client | None = None) -> None:
        if not (config.messaging_service_sid or config.from_number):
            raise ValueError("Twilio SMS needs a from number or a messaging service sid")
        super().__init__(config, client)

    def _create(self, message: OutboundMessage) -> Any:
        sender: dict[str, Any] = (
            {"messaging_service_sid": self.config.messaging_service_sid}
            if self.config.messaging_service_sid
            else {"from_": self.config.from_number}
        )
        optional: dict[str, Any] = {}
        if message.status_callback:
            optional["status_callback"] = message.status_callback
        if message.validity_period_s is not None:
            optional["validity_period"] = message.validity_period_s
        return self.client.messages.create(to=message.to, body=message.text, **sender, **optional)


class TwilioVoiceChannel(_TwilioChannel):
    """Alert calls through Twilio's Calls API with inline TwiML (an acknowledgement prompt)."""

    kind = "voice"

    def __init__(self, config: TwilioConfig, client: Client | None = None) -> None:
        if not config.caller_id:
            raise ValueError("Twilio voice needs a caller id (voice_from_number or from_number)")
        super().__init__(config, client)

    def _check(self, message: OutboundMessage) -> SendResult | None:
        if not message.twiml:
            return SendResult.rejected("no_twiml", "a voice message needs TwiML")
        if len(message.twiml) > MAX_TWIML_CHARS:
            return SendResult.rejected("twiml_too_long", f"TwiML exceeds {MAX_TWIML_CHARS} characters")
        return super()._check(message)

    def _create(self, message: OutboundMessage) -> Any:
        optional: dict[str, Any] = {}
        if message.status_callback:
            optional |= {
                "status_callback": message.status_callback,
                "status_callback_event": list(CALL_EVENTS),
                "status_callback_method": "POST",
            }
        if self.config.machine_detection:
            optional["machine_detection"] = "Enable"
        return self.client.calls.create(to=message.to, from_=self.config.caller_id, twiml=message.twiml, **optional)


class TwilioCopies:
    """Deletes Twilio's records of messages and calls (the reporter's number, the body) through the SDK."""

    def __init__(self, config: TwilioConfig, client: Client | None = None) -> None:
        self.client = client or make_client(config)

    def delete(self, kind: ProviderCopyKind, sid: str) -> SendResult:
        """DELETE the message or call; a record Twilio no longer has (404) counts as deleted."""
        resource = self.client.messages(sid) if kind == "message" else self.client.calls(sid)
        try:
            resource.delete()
        except (TwilioException, requests.RequestException) as error:
            if isinstance(error, TwilioRestException) and int(error.status) == 404:
                return SendResult.ok(sid, "gone")
            return result_from_error(error)
        return SendResult.ok(sid, "deleted")

    def close(self) -> None:
        """Release the SDK's HTTP session."""
        session = getattr(self.client.http_client, "session", None)
        if session is not None:
            session.close()
