"""Intake endpoints: Twilio's inbound SMS webhook and partners' signed JSON reports. Thin; answers fast."""

from __future__ import annotations

import time
from xml.sax.saxutils import escape as xml_escape

from fastapi import APIRouter, HTTPException, Request, Response, status

from app.core import metrics
from app.core.config import Settings
from app.core.deps import GatewayDep, SettingsDep
from app.core.routes import RequestOnlyRoute
from app.feedback import receipts
from app.intake import partner, twilio
from app.intake.dependencies import AuthenticatedPartner, VerifiedTwilioVoice, validated_sms
from app.intake.flows import Acceptance, IdempotencyConflict, IntakeGateway, IntakeUnavailable
from app.intake.schemas import PartnerReceipt, PartnerReportIn, TwilioSmsForm, TwilioVoiceForm
from app.notify import twiml
from app.reporters import phones
from app.reporters.models import ReporterKind
from app.security.dependencies import verified_twilio_fields
from app.understanding import shortcodes

router = APIRouter()

_twilio_form_schema = TwilioSmsForm.model_json_schema(by_alias=True)


async def twilio_sms(request: Request) -> Response:
    """Accept an inbound SMS from Twilio, store it, and reply with a TwiML receipt."""
    # No Depends here, and a RequestOnlyRoute: FastAPI's per-request parameter solving cost more than the checks.
    started = time.perf_counter()
    state = request.app.state
    settings: Settings = state.settings
    fields = await verified_twilio_fields(request, settings, state.keys)
    sms = validated_sms(dict(fields), settings)
    gateway: IntakeGateway = state.gateway
    try:
        acceptance = await gateway.accept_async(twilio.to_envelope(sms, default_region=settings.default_region))
    except IntakeUnavailable:
        raise HTTPException(503, "storage unavailable; retry") from None
    reply = twiml_message(_reply_text(sms.body, acceptance, settings.default_language))
    _SMS_LATENCY.observe(time.perf_counter() - started)
    return Response(reply, media_type="text/xml")


router.add_api_route(
    "/twilio/sms",
    twilio_sms,
    methods=["POST"],
    route_class_override=RequestOnlyRoute,
    tags=["intake"],
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": _twilio_form_schema}},
        }
    },
    responses={
        200: {"description": "TwiML receipt", "content": {"text/xml": {"schema": {"type": "string"}}}},
        403: {"description": "Missing or wrong X-Twilio-Signature"},
        415: {"description": "Not a form post"},
        422: {"description": "Signed, but not a valid Twilio SMS form"},
        503: {"description": "Twilio intake closed (no auth token) or no storage available"},
    },
)


def twiml_message(text: str) -> str:
    """TwiML replying with one SMS: the same document as the SDK's MessagingResponse().message(text)."""
    # Built directly: the SDK goes through ElementTree, several times the cost of the whole document.
    if not text:
        return _TWIML_HEAD + "<Message /></Response>"
    return f"{_TWIML_HEAD}<Message>{xml_escape(text)}</Message></Response>"


_TWIML_HEAD = '<?xml version="1.0" encoding="UTF-8"?><Response>'
_SMS_LATENCY = metrics.INTAKE_LATENCY.labels("sms")


_twilio_voice_schema = TwilioVoiceForm.model_json_schema(by_alias=True)


@router.post(
    "/twilio/voice",
    tags=["intake"],
    response_class=Response,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": _twilio_voice_schema}}}},
    responses={
        200: {"description": "TwiML <Reject reason=busy/>: the caller pays nothing",
              "content": {"text/xml": {"schema": {"type": "string"}}}},
        403: {"description": "Missing or wrong X-Twilio-Signature"},
        415: {"description": "Not a form post"},
        422: {"description": "Signed, but not a valid Twilio call form"},
        503: {"description": "Twilio intake closed (no auth token) or no storage available"},
    },
)  # fmt: skip
async def twilio_voice(call: VerifiedTwilioVoice, gateway: GatewayDep, settings: SettingsDep) -> Response:
    """A call to the alert number is a beep: refuse it as busy (free for the caller) and queue a call-back."""
    try:
        await gateway.accept_async(twilio.voice_to_envelope(call, default_region=settings.default_region))
    except IntakeUnavailable:
        raise HTTPException(503, "storage unavailable; retry") from None
    return Response(twiml.reject_busy(), media_type="text/xml")


def _reply_text(body: str, acceptance: Acceptance, default_language: str) -> str:
    """The receipt; for a CLA whose short code cannot be read, the format reminder instead."""
    if acceptance.reporter_kind == ReporterKind.cla:
        try:
            shortcodes.parse(body, trusted=True)
        except shortcodes.ShortCodeError:
            return shortcodes.help_text(acceptance.language or default_language)
    return receipts.receipt_text(acceptance.receipt_ref, acceptance.language, default_language)


@router.post(
    "/api/v1/partner/reports",
    tags=["intake"],
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": PartnerReceipt, "description": "Already accepted under this idempotency key"},
        401: {"description": "Missing, unknown or revoked key, or a missing, stale or wrong signature"},
        409: {"description": "Idempotency key reused with a different report"},
        503: {"description": "Storage unavailable; retry later"},
    },
)
async def partner_report(
    report: PartnerReportIn,
    identity: AuthenticatedPartner,
    gateway: GatewayDep,
    settings: SettingsDep,
    response: Response,
) -> PartnerReceipt:
    """Accept a signed report from a partner network; idempotent on the partner's key."""
    started = time.perf_counter()
    if report.reporter and report.reporter.phone and not phones.to_e164(report.reporter.phone, settings.default_region):
        raise HTTPException(422, [{"loc": ["body", "reporter", "phone"], "msg": "not a valid phone number"}])
    envelope = partner.to_envelope(report, partner_id=identity.partner_id, default_region=settings.default_region)
    try:
        acceptance = await gateway.accept_async(envelope, check_conflict=True)
    except IdempotencyConflict:
        raise HTTPException(409, "idempotency_key was already used for a different report") from None
    except IntakeUnavailable:
        raise HTTPException(503, "storage unavailable; retry later", headers={"Retry-After": "30"}) from None
    if not acceptance.created:
        response.status_code = status.HTTP_200_OK
    metrics.INTAKE_LATENCY.labels("partner").observe(time.perf_counter() - started)
    return PartnerReceipt(receipt=acceptance.receipt_ref, status="accepted" if acceptance.created else "duplicate")
