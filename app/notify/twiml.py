"""Voice TwiML for alert calls (press 1 to acknowledge) and missed-call intake, plus a structural checker."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from twilio.twiml.voice_response import Gather, VoiceResponse

ACK_DIGIT = "1"
# Languages Twilio can speak, as (locale, voice). None keeps Twilio's default voice, which speaks en and fr;
# Arabic needs a named voice [verify the voice name on the account]. Sango, Lingala and Kiswahili have no
# reliable text-to-speech, so prompts in them must be recordings played with <Play>.
TTS: dict[str, tuple[str, str | None]] = {
    "en": ("en-US", None),
    "fr": ("fr-FR", None),
    "ar": ("ar-XA", "Google.ar-XA-Standard-A"),
}
# What is said when nobody pressed anything, and after a key press.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "goodbye": "No key was pressed. Goodbye.",
        "thanks": "Thank you. Acknowledged.",
        "received": "Thank you. Your answer is recorded.",
        "again": "That key is not valid.",
    },
    "fr": {
        "goodbye": "Aucune touche n'a été pressée. Au revoir.",
        "thanks": "Merci. Alerte confirmée.",
        "received": "Merci. Votre réponse est enregistrée.",
        "again": "Cette touche n'est pas valide.",
    },
    "ar": {
        "goodbye": "لم يتم الضغط على أي زر. مع السلامة.",
        "thanks": "شكرا. تم التأكيد.",
        "received": "شكرا. تم تسجيل إجابتك.",
        "again": "هذا الزر غير صالح.",
    },
}
VERBS = frozenset(
    {"Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Reject", "Dial", "Record", "Enqueue", "Leave"}
)
_SPEAKABLE = frozenset({"Say", "Play", "Pause"})
_FINAL = frozenset({"Hangup", "Reject", "Redirect"})


def _is_url(value: str | None) -> bool:
    return bool(value) and urlsplit(value or "").scheme in ("http", "https")


def _locale(language: str) -> tuple[str, str | None]:
    """Twilio's locale and default voice for one of our language codes; a full locale (fr-FR) passes as is."""
    if "-" in language:
        return language, None
    if language not in TTS:
        raise ValueError(f"no text-to-speech for {language!r}: give a recorded audio URL")
    return TTS[language]


def _speak(node: VoiceResponse | Gather, text: str, language: str, voice_or_audio_url: str | None) -> None:
    """Say `text` in `language`, or play the recording when given a URL (languages without text-to-speech)."""
    if _is_url(voice_or_audio_url):
        node.play(voice_or_audio_url)
        return
    locale, default_voice = _locale(language)
    node.say(text, language=locale, voice=voice_or_audio_url or default_voice)


def _phrase(language: str, name: str) -> str:
    return PHRASES.get(language.split("-")[0], PHRASES["en"])[name]


def acknowledge_prompt(
    text: str,
    action_url: str,
    language: str,
    voice_or_audio_url: str | None = None,
    repeats: int = 2,
    *,
    timeout_s: int = 8,
    goodbye_audio_url: str | None = None,
) -> str:
    """An alert call: the prompt inside a one-digit Gather, `repeats` times, then a goodbye and a hang-up."""
    if repeats < 1:
        raise ValueError("the prompt must be played at least once")
    response = VoiceResponse()
    for _ in range(repeats):
        gather = Gather(input="dtmf", num_digits=1, action=action_url, method="POST", timeout=timeout_s)
        _speak(gather, text, language, voice_or_audio_url)
        response.append(gather)
    # Twilio skips the action when nothing is pressed and runs the next verb: this is that fallback.
    if goodbye_audio_url or not _is_url(voice_or_audio_url):
        _speak(response, _phrase(language, "goodbye"), language, goodbye_audio_url or voice_or_audio_url)
    response.hangup()
    return str(response)


def is_acknowledgement(digits: str | None) -> bool:
    """True when the key pressed acknowledges the alert."""
    return (digits or "").strip() == ACK_DIGIT


def gather_result(
    digits: str | None,
    language: str,
    voice_or_audio_url: str | None = None,
    *,
    retry_url: str | None = None,
) -> str:
    """The answer to a Gather: thanks and hang up on 1; otherwise say so and go back to `retry_url` if given."""
    response = VoiceResponse()
    if is_acknowledgement(digits):
        _speak(response, _phrase(language, "thanks"), language, voice_or_audio_url)
        response.hangup()
        return str(response)
    _speak(response, _phrase(language, "again"), language, voice_or_audio_url)
    if retry_url:
        response.redirect(retry_url, method="POST")
    else:
        response.hangup()
    return str(response)


def answer_received(language: str, voice_or_audio_url: str | None = None) -> str:
    """Thanks for an answer (any of the offered keys), then hang up."""
    response = VoiceResponse()
    _speak(response, _phrase(language, "received"), language, voice_or_audio_url)
    response.hangup()
    return str(response)


def hang_up() -> str:
    """End the call at once (an answering machine picked up)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def reject_busy() -> str:
    """Missed-call intake: refuse the call as busy, so it is never answered (and never billed to the caller)."""
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)


def validate_twiml(xml: str) -> list[str]:
    """Structural problems in a voice TwiML document; an empty list means it looks sound."""
    try:
        root = ET.fromstring(xml)  # noqa: S314 - our own documents, no external entities
    except ET.ParseError as error:
        return [f"not well-formed XML: {error}"]
    if root.tag != "Response":
        return [f"root element is <{root.tag}>, not <Response>"]
    problems: list[str] = []
    verbs = list(root)
    for index, verb in enumerate(verbs):
        problems += _check_verb(verb, index, is_last=index == len(verbs) - 1)
        if verb.tag in _FINAL and index < len(verbs) - 1:
            problems.append(f"<{verb.tag}> at {index} is followed by verbs that never run")
    return problems


def _check_verb(verb: ET.Element, index: int, *, is_last: bool) -> list[str]:
    where = f"<{verb.tag}> at {index}"
    if verb.tag not in VERBS:
        return [f"{where} is not a known voice verb"]
    if verb.tag == "Gather":
        return _check_gather(verb, where, is_last=is_last)
    problems = [f"{where} nests <{child.tag}>; only <Gather> may nest verbs" for child in verb]
    if verb.tag == "Say" and not (verb.text or "").strip():
        problems.append(f"{where} has nothing to say")
    # Absolute URLs only: TwiML passed inline to calls.create has no document URL to resolve a relative one.
    if verb.tag in ("Play", "Redirect") and not _is_url((verb.text or "").strip()):
        problems.append(f"{where} needs an http(s) URL")
    if verb.tag == "Reject" and verb.get("reason", "rejected") not in ("busy", "rejected"):
        problems.append(f"{where} has reason {verb.get('reason')!r}; Twilio knows busy and rejected")
    return problems


def _check_gather(gather: ET.Element, where: str, *, is_last: bool) -> list[str]:
    problems = []
    if not _is_url(gather.get("action")):
        problems.append(f"{where} has no absolute action URL")
    if not (gather.get("numDigits") or "").isdigit() or int(gather.get("numDigits") or 0) < 1:
        problems.append(f"{where} needs numDigits >= 1")
    if gather.get("method", "POST").upper() != "POST":
        problems.append(f"{where} should POST its digits")
    if gather.get("timeout") is not None and not gather.get("timeout", "").isdigit():
        problems.append(f"{where} has a non-numeric timeout")
    if len(gather) == 0:
        problems.append(f"{where} prompts nothing")
    problems += [
        f"{where} nests <{child.tag}>; a Gather holds Say, Play or Pause"
        for child in gather
        if child.tag not in _SPEAKABLE
    ]
    if is_last:
        problems.append(f"{where} has no fallback: with no key pressed the call would end silently")
    return problems
