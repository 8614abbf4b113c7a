"""Voice TwiML: every builder's output is structurally sound, and the checker catches broken documents."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.notify import twiml

ACK = "https://alerts.example.org/ivr/ack?call=7"
AUDIO = "https://alerts.example.org/audio/sg/alert.mp3"

BUILT = {
    "prompt fr": lambda: twiml.acknowledge_prompt("Alerte à Bria. Appuyez sur 1.", ACK, "fr"),
    "prompt en x3": lambda: twiml.acknowledge_prompt("Alert. Press 1.", ACK, "en", repeats=3),
    "prompt ar": lambda: twiml.acknowledge_prompt("تنبيه. اضغط 1.", ACK, "ar"),
    "prompt locale + voice": lambda: twiml.acknowledge_prompt("Alerte.", ACK, "fr-FR", "Polly.Lea"),
    "prompt sg audio": lambda: twiml.acknowledge_prompt("", ACK, "sg", AUDIO),
    "prompt sg audio + goodbye": lambda: twiml.acknowledge_prompt("", ACK, "sg", AUDIO, goodbye_audio_url=AUDIO),
    "result 1": lambda: twiml.gather_result("1", "fr"),
    "result 2 retry": lambda: twiml.gather_result("2", "en", retry_url=ACK),
    "result none": lambda: twiml.gather_result(None, "ar"),
    "result audio": lambda: twiml.gather_result("1", "ln", AUDIO),
    "reject busy": twiml.reject_busy,
    "answer received fr": lambda: twiml.answer_received("fr"),
    "answer received audio": lambda: twiml.answer_received("sg", AUDIO),
    "hang up": twiml.hang_up,
}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_every_builder_passes_the_checker(name):
    assert twiml.validate_twiml(BUILT[name]()) == []


def verbs(document: str) -> list[ET.Element]:
    return list(ET.fromstring(document))  # noqa: S314 - documents built by the code under test


def test_the_prompt_repeats_a_one_digit_gather_then_says_goodbye():
    document = twiml.acknowledge_prompt("Alerte <Bria> & Ndélé", ACK, "fr", timeout_s=6)

    top = verbs(document)
    assert [v.tag for v in top] == ["Gather", "Gather", "Say", "Hangup"]
    for gather in top[:2]:
        assert gather.attrib == {"action": ACK, "input": "dtmf", "method": "POST", "numDigits": "1", "timeout": "6"}
        [say] = list(gather)
        assert say.tag == "Say" and say.get("language") == "fr-FR"
        assert say.text == "Alerte <Bria> & Ndélé"  # escaped in XML, intact when parsed
    assert top[2].get("language") == "fr-FR" and "Au revoir" in top[2].text


def test_arabic_uses_a_named_voice():
    say = verbs(twiml.acknowledge_prompt("تنبيه", ACK, "ar"))[0][0]

    assert say.get("voice") and say.get("language", "").startswith("ar")


def test_a_language_without_speech_needs_a_recording():
    with pytest.raises(ValueError, match="'sg'"):
        twiml.acknowledge_prompt("Tënë", ACK, "sg")

    document = twiml.acknowledge_prompt("Tënë", ACK, "sg", AUDIO)
    assert "<Say" not in document
    assert [v.tag for v in verbs(document)] == ["Gather", "Gather", "Hangup"]
    assert verbs(document)[0][0].tag == "Play" and verbs(document)[0][0].text == AUDIO


def test_at_least_one_prompt():
    with pytest.raises(ValueError):
        twiml.acknowledge_prompt("Alert", ACK, "en", repeats=0)


def test_reject_busy_is_exactly_one_reject():
    [reject] = verbs(twiml.reject_busy())

    assert reject.tag == "Reject" and reject.attrib == {"reason": "busy"} and len(reject) == 0


def test_gather_results():
    assert [v.tag for v in verbs(twiml.gather_result("1", "en"))] == ["Say", "Hangup"]
    assert "Thank you" in verbs(twiml.gather_result(" 1 ", "en"))[0].text
    retry = verbs(twiml.gather_result("9", "fr", retry_url=ACK))
    assert [v.tag for v in retry] == ["Say", "Redirect"] and retry[1].text == ACK
    assert twiml.is_acknowledgement("1") and not twiml.is_acknowledgement("11")
    assert not twiml.is_acknowledgement(None)


GATHER = f'<Gather action="{ACK}" numDigits="1" method="POST" timeout="8"><Say>Alert</Say></Gather>'


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("<Response><Say>hi</Response>", "not well-formed"),
        ("<Twiml><Say>hi</Say></Twiml>", "not <Response>"),
        (f"<Response>{GATHER}</Response>", "no fallback"),
        ('<Response><Gather numDigits="1"><Say>x</Say></Gather><Hangup/></Response>', "no absolute action"),
        (
            '<Response><Gather action="/ivr/ack" numDigits="1"><Say>x</Say></Gather><Hangup/></Response>',
            "no absolute action",
        ),
        (f'<Response><Gather action="{ACK}"><Say>x</Say></Gather><Hangup/></Response>', "numDigits"),
        (f'<Response><Gather action="{ACK}" numDigits="0"><Say>x</Say></Gather><Hangup/></Response>', "numDigits"),
        (
            f'<Response><Gather action="{ACK}" numDigits="1" method="GET"><Say>x</Say></Gather><Hangup/></Response>',
            "POST",
        ),
        (f'<Response><Gather action="{ACK}" numDigits="1"></Gather><Hangup/></Response>', "prompts nothing"),
        (
            f'<Response><Gather action="{ACK}" numDigits="1"><Dial>+1</Dial></Gather><Hangup/></Response>',
            "a Gather holds",
        ),
        ("<Response><Hangup><Say>x</Say></Hangup></Response>", "only <Gather> may nest"),
        ("<Response><Say><Play>https://x.example/a.mp3</Play></Say></Response>", "only <Gather> may nest"),
        ("<Response><Shout>x</Shout></Response>", "not a known voice verb"),
        ("<Response><Say> </Say></Response>", "nothing to say"),
        ("<Response><Play>alert.mp3</Play></Response>", "http(s) URL"),
        ('<Response><Reject reason="later"/></Response>', "reason"),
        ("<Response><Hangup/><Say>lost</Say></Response>", "never run"),
    ],
)
def test_the_checker_rejects_broken_documents(document, problem):
    problems = twiml.validate_twiml(document)

    assert any(problem in p for p in problems), problems


def test_the_checker_accepts_a_gather_followed_by_a_redirect():
    assert twiml.validate_twiml(f"<Response>{GATHER}<Redirect>{ACK}</Redirect></Response>") == []
