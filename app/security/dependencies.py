"""Request dependencies that prove who is calling: Twilio's signature over a webhook form."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import FormData

from app.core import metrics
from app.core.deps import KeysDep, SettingsDep
from app.security import signatures

logger = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


async def verified_twilio_form(request: Request, settings: SettingsDep, keys: KeysDep) -> FormData:
    """The posted form, once Twilio's signature over every field and the URL has been checked."""
    if not request.headers.get("content-type", "").startswith(FORM_CONTENT_TYPE):
        raise HTTPException(415, f"expected {FORM_CONTENT_TYPE}")
    form = await request.form()
    if settings.insecure_skip_twilio_signature:
        logger.warning("INSECURE: Twilio signature check skipped (KENGELE_INSECURE_SKIP_TWILIO_SIGNATURE)")
        return form
    if keys.twilio_auth_token is None:
        raise HTTPException(503, "Twilio webhooks are closed: KENGELE_TWILIO_AUTH_TOKEN is not set")
    url = signatures.twilio_request_url(
        settings.public_base_url, str(request.url), request.url.path,
        request.scope.get("query_string", b"").decode("latin-1"),
    )  # fmt: skip
    try:
        signatures.verify_twilio(
            auth_token=keys.twilio_auth_token, url=url, params=form,
            signature=request.headers.get("X-Twilio-Signature"),
            settings_header=request.headers.get("X-Twilio-Webhooks-Signature-Settings"),
        )  # fmt: skip
    except signatures.SignatureError as exc:
        metrics.SIGNATURES_REJECTED.labels(request.url.path.rsplit("/", 1)[-1]).inc()
        raise HTTPException(403, str(exc)) from None
    if settings.twilio_account_sid and form.get("AccountSid") != settings.twilio_account_sid:
        raise HTTPException(403, "AccountSid does not match this deployment")
    return form


VerifiedTwilioForm = Annotated[FormData, Depends(verified_twilio_form)]
