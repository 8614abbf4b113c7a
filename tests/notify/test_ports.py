"""The port's value types and the status precedence that keeps callbacks from moving a status backwards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.notify.ports import (
    OutboundMessage,
    SendResult,
    is_terminal,
    should_advance,
    status_rank,
)

MESSAGE_PATH = ["accepted", "queued", "sending", "sent", "delivered", "read"]
CALL_PATH = ["queued", "initiated", "ringing", "in-progress", "completed"]


@pytest.mark.parametrize(
    ("current", "new", "advance"),
    [
        (None, "queued", True),
        ("accepted", "queued", True),
        ("queued", "sending", True),
        ("sending", "sent", True),
        ("sent", "delivered", True),
        ("sent", "undelivered", True),
        ("queued", "failed", True),
        ("delivered", "read", True),
        ("delivered", "sent", False),  # the late 'sent' after the delivery receipt
        ("delivered", "sending", False),
        ("sent", "queued", False),
        ("sent", "sent", False),
        ("delivered", "undelivered", False),  # the first terminal status wins
        ("undelivered", "delivered", False),
        ("failed", "sent", False),
        ("read", "delivered", False),
        ("queued", "bogus", False),
        ("bogus", "sent", True),
        ("queued", "initiated", True),
        ("initiated", "ringing", True),
        ("ringing", "in-progress", True),
        ("in-progress", "completed", True),
        ("ringing", "no-answer", True),
        ("ringing", "busy", True),
        ("ringing", "initiated", False),
        ("in-progress", "ringing", False),
        ("completed", "in-progress", False),
        ("no-answer", "completed", False),
        ("canceled", "ringing", False),
        ("SENT", "Delivered", True),
    ],
)
def test_status_precedence(current, new, advance):
    assert should_advance(current, new) is advance


@pytest.mark.parametrize("path", [MESSAGE_PATH, CALL_PATH])
def test_the_usual_paths_rise_strictly(path):
    ranks = [status_rank(s) for s in path]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)


def test_terminal_statuses():
    assert all(is_terminal(s) for s in ("delivered", "undelivered", "failed", "completed", "busy", "no-answer"))
    assert not any(is_terminal(s) for s in ("queued", "sent", "ringing", "in-progress", None, "bogus"))


@given(st.lists(st.sampled_from([*MESSAGE_PATH, "undelivered", "failed", "bogus"]), min_size=1, max_size=12))
def test_folding_callbacks_in_any_order_never_goes_backwards(statuses):
    current = None
    for status in statuses:
        previous = status_rank(current)
        if should_advance(current, status):
            current = status
        assert previous is None or status_rank(current) >= previous
    known = [status_rank(s) for s in statuses if status_rank(s) is not None]
    assert status_rank(current) == (max(known) if known else None)


def test_messages_keep_number_text_and_payload_out_of_repr():
    message = OutboundMessage("esc-1:sms", "sms", "+23675123456", "secret text", payload={"x": "secret payload"})

    assert "esc-1:sms" in repr(message)
    assert "23675123456" not in repr(message) and "secret" not in repr(message)


@pytest.mark.parametrize(
    "fields",
    [{"kind": "pigeon"}, {"idempotency_key": ""}, {"validity_period_s": 0}, {"validity_period_s": 36001}],
)
def test_invalid_messages_are_refused(fields):
    values = {"idempotency_key": "k", "kind": "sms", "to": "+23675123456", "text": "x"} | fields
    with pytest.raises(ValueError):
        OutboundMessage(**values)


def test_result_constructors():
    assert SendResult.ok("SM1", "queued") == SendResult(True, "SM1", "queued", False)
    assert SendResult.retry("503", "down").retryable and not SendResult.retry("503", "down").accepted
    rejected = SendResult.rejected("21211", "invalid")
    assert not rejected.retryable and not rejected.accepted and rejected.status == "rejected"
