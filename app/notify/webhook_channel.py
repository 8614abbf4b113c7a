"""Signed JSON webhooks to units, with the partner scheme (X-Kengele-Signature: t=<unix>,v1=<hex>)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.notify.ports import OutboundMessage, SendResult
from app.security.signatures import partner_signature

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Kengele-Signature"
IDEMPOTENCY_HEADER = "X-Kengele-Idempotency-Key"
# A unit's endpoint that cannot answer in seconds is down for our purpose; the worker retries later.
DEFAULT_TIMEOUT_S = 5.0
_RETRYABLE_STATUSES = frozenset({408, 425, 429})


def encode_body(message: OutboundMessage) -> bytes:
    """The exact bytes signed and sent: the message's payload, or {key, text} when it has none."""
    payload: Any = (
        message.payload
        if message.payload is not None
        else {
            "idempotency_key": message.idempotency_key,
            "text": message.text,
        }
    )
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class WebhookChannel:
    """POSTs signed JSON to the message's URL; 2xx accepted, 408/425/429/5xx and network errors retryable."""

    kind = "webhook"

    def __init__(
        self,
        secret: str | Callable[[str], str | None],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # A callable lets the worker pass each unit's own secret, looked up by URL.
        self._secret_for = secret if callable(secret) else (lambda _url: secret)
        self._clock = clock
        # No redirects: a signed alert must go where it was addressed, not wherever a 3xx points.
        self._client = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False)

    def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one webhook; failures become SendResults, never exceptions."""
        problem = self._check(message)
        if problem:
            return problem
        secret = self._secret_for(message.to)
        if not secret:
            # Fail closed: an unsigned alert could be forged by anyone who learns the URL.
            return SendResult.rejected("no_secret", "no signing secret for this webhook")
        body = encode_body(message)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: partner_signature(secret, int(self._clock()), body),
            IDEMPOTENCY_HEADER: message.idempotency_key,
        }
        try:
            response = self._client.post(message.to, content=body, headers=headers)
        except httpx.TimeoutException as error:
            return self._log(message, SendResult.retry("timeout", f"no answer in time ({type(error).__name__})"))
        except httpx.TransportError as error:
            return self._log(message, SendResult.retry("network", f"cannot reach endpoint ({type(error).__name__})"))
        return self._log(message, result_from_status(response.status_code))

    def _check(self, message: OutboundMessage) -> SendResult | None:
        if message.kind != self.kind:
            return SendResult.rejected("wrong_channel", f"a {message.kind} message sent to the webhook channel")
        parts = urlsplit(message.to)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return SendResult.rejected("invalid_recipient", "recipient is not an http(s) URL")
        return None

    def _log(self, message: OutboundMessage, result: SendResult) -> SendResult:
        # The URL is left out: unit URLs can carry tokens in their query.
        if result.accepted:
            logger.info("webhook %s delivered", message.idempotency_key)
        else:
            logger.warning("webhook %s not delivered: %s", message.idempotency_key, result.error_detail)
        return result

    def close(self) -> None:
        self._client.close()


def result_from_status(status: int) -> SendResult:
    """Classify the endpoint's HTTP status the way alert receivers are retried."""
    if 200 <= status < 300:
        return SendResult.ok(None, "delivered")
    detail = f"endpoint answered HTTP {status}"
    if status in _RETRYABLE_STATUSES or status >= 500:
        return SendResult.retry(str(status), detail)
    return SendResult.rejected(str(status), detail)
