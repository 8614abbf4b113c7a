"""Baseline for bench/intake.py: the least a Twilio webhook can do (parse the form, answer fixed TwiML)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

TWIML = "<Response><Message>ok</Message></Response>"

app = FastAPI(title="bare baseline")


@app.post("/twilio/sms")
async def twilio_sms(request: Request) -> Response:
    """Parse the form and reply with a fixed TwiML receipt; no signature check, no storage."""
    await request.form()
    return Response(TWIML, media_type="text/xml")
