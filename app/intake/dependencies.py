"""Dependencies that authenticate and validate intake requests before a route sees them."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app.core import metrics
from app.core.config import Settings
from app.core.db import transaction
from app.core.deps import SettingsDep, VaultDep
from app.core.errors import public_errors
from app.intake.schemas import TwilioSmsForm, TwilioVoiceForm
from app.partners import service as partner_service
from app.security import signatures
from app.security.dependencies import VerifiedTwilioForm

logger = logging.getLogger(__name__)


def validated_sms(fields: dict[str, str], settings: Settings) -> TwilioSmsForm:
    """Signed form fields (a repeated field keeps its last value) as an inbound SMS; 422/403 with the reason."""
    try:
        sms = TwilioSmsForm.model_validate(fields)
    except ValidationError as exc:
        raise HTTPException(422, public_errors(exc.errors())) from None
    if sms.exercise and settings.insecure_skip_twilio_signature:
        # Unsigned, anyone could mark a real alert as a drill and have it ignored: refuse rather than guess.
        raise HTTPException(403, "KengeleExercise needs a checked X-Twilio-Signature")
    return sms


async def authenticated_partner(
    request: Request, settings: SettingsDep, vault: VaultDep
) -> partner_service.PartnerIdentity:
    """Authenticate the partner (X-Kengele-Key) and check the HMAC of the raw body (X-Kengele-Signature)."""
    api_key = request.headers.get("X-Kengele-Key")
    if not api_key:
        raise HTTPException(401, "missing X-Kengele-Key header")

    def lookup() -> partner_service.PartnerIdentity | None:
        with transaction(request.app.state.sessionmaker) as session:
            return partner_service.authenticate(session=session, vault=vault, api_key=api_key)

    try:
        identity = await run_in_threadpool(lookup)
    except SQLAlchemyError:
        # Partners retry; unlike Twilio's, a message we could not authenticate is not accepted.
        raise HTTPException(503, "database unavailable; retry later", headers={"Retry-After": "30"}) from None
    if identity is None:
        metrics.SIGNATURES_REJECTED.labels("partner").inc()
        raise HTTPException(401, "unknown or revoked X-Kengele-Key")
    try:
        signatures.verify_partner(
            secret=identity.signing_secret,
            header=request.headers.get("X-Kengele-Signature"),
            body=await request.body(),
            now=int(time.time()),
            tolerance_seconds=settings.partner_signature_tolerance_seconds,
        )
    except signatures.SignatureError as exc:
        metrics.SIGNATURES_REJECTED.labels("partner").inc()
        raise HTTPException(401, str(exc)) from None
    return identity


AuthenticatedPartner = Annotated[partner_service.PartnerIdentity, Depends(authenticated_partner)]


async def verified_twilio_voice(form: VerifiedTwilioForm) -> TwilioVoiceForm:
    """Twilio's signed form, validated as an inbound call."""
    try:
        return TwilioVoiceForm.model_validate({key: form.get(key) for key in form})
    except ValidationError as exc:
        raise HTTPException(422, public_errors(exc.errors())) from None


VerifiedTwilioVoice = Annotated[TwilioVoiceForm, Depends(verified_twilio_voice)]
