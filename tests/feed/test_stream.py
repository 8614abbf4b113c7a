"""The live feed as a client sees it: a real HTTP server, a streaming client, SMS through the real intake."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from app.core.db import transaction
from app.feed import events as feed
from app.feed import stream
from app.feed.models import FeedEventRow
from tests.deployment import token_for
from tests.feed.conftest import STREAM_PATH
from tests.feed.sse import FeedReader
from tests.helpers import post_sms, sms_form


def report(kengele, body: str, sender: str) -> None:
    post_sms(kengele.client, sms_form(From=sender, Body=body))
    kengele.work()


def feed_rows(factory, after: int = 0) -> list[tuple[int, str, str]]:
    with factory() as session:
        query = select(FeedEventRow).where(FeedEventRow.id > after).order_by(FeedEventRow.id)
        return [(r.id, r.kind, r.ref) for r in session.scalars(query)]


def seen(messages) -> list[tuple[int, str, str]]:
    return [(int(m.id), m.event, m.json()["ref"]) for m in messages]


def test_an_sms_becomes_incident_created_on_an_open_stream(kengele, live, factory):
    viewer = token_for(kengele.client, factory, "viewer")
    with FeedReader(live + STREAM_PATH, viewer) as reader:
        reader.following()
        report(kengele, "Attaque des hommes armés à Bria, 12 morts", "+23672110004")
        created = reader.event(timeout=5)
    assert created.event == "incident.created"
    body = created.json()
    assert body["ref"].startswith("K-") and body["category"] == "attack_civilians" and body["status"] == "open"
    assert set(body) <= {"ref", "at"} | feed.PUBLIC_FIELDS
    assert int(created.id) == feed_rows(factory)[0][0]
    assert "+23672110004" not in str(body) and "Bria" not in str(body)


def test_a_reconnecting_client_gets_exactly_what_it_missed_in_order(kengele, live, factory):
    viewer = token_for(kengele.client, factory, "viewer")
    with FeedReader(live + STREAM_PATH, viewer) as reader:
        reader.following()
        report(kengele, "Attaque des hommes armés à Bria, 12 morts", "+23672110004")
        first = reader.event()
    # While it is away: a second incident, and the operations centre acknowledges the first.
    report(kengele, "Hommes armés à Ndélé, ils pillent le marché", "+23672110005")
    operator = token_for(kengele.client, factory, "operator", "op.amina")
    ref = first.json()["ref"]
    assert kengele.client.post(f"/api/v1/incidents/{ref}/acknowledge", headers=operator).status_code == 200
    missed = feed_rows(factory, after=int(first.id))
    assert len(missed) >= 4 and {kind for _, kind, _ in missed} >= {"incident.created", "incident.status"}
    with FeedReader(live + STREAM_PATH, {**viewer, "Last-Event-ID": first.id}) as again:
        again.following()
        caught_up = again.events_until(missed[-1][0])
        assert again.quiet(1.0) == []  # nothing twice, nothing more
    assert seen(caught_up) == missed


def test_last_event_id_may_come_as_a_query_parameter(kengele, live, factory):
    viewer = token_for(kengele.client, factory, "viewer")
    report(kengele, "Attaque des hommes armés à Bria, 12 morts", "+23672110004")
    rows = feed_rows(factory)
    params = {"last_event_id": rows[0][0]}
    with FeedReader(live + STREAM_PATH, viewer, params) as reader:
        reader.following()
        assert seen(reader.events_until(rows[-1][0])) == rows[1:]


def test_a_client_too_far_behind_or_from_another_database_is_told_to_resync(kengele, live, factory, monkeypatch):
    monkeypatch.setattr(stream, "CATCH_UP_LIMIT", 3)
    viewer = token_for(kengele.client, factory, "viewer")
    with transaction(factory) as session:
        for n in range(5):
            feed.publish(session, feed.FeedEvent("incident.status", f"K-{7000 + n}", {"status": "open"}))
    ids = [row[0] for row in feed_rows(factory)]
    for last_seen, reason in ((ids[0] - 1, "too_many_missed"), (ids[-1] + 100, "unknown_position")):
        with FeedReader(live + STREAM_PATH, {**viewer, "Last-Event-ID": str(last_seen)}) as reader:
            reader.following()
            notice = reader.event()
            assert (notice.event, notice.id, notice.json()["reason"]) == ("resync", str(ids[-1]), reason)
            assert reader.quiet(0.8) == []
    with FeedReader(live + STREAM_PATH, {**viewer, "Last-Event-ID": str(ids[1])}) as reader:  # 3 missed: replayed
        reader.following()
        assert [int(m.id) for m in reader.events_until(ids[-1])] == ids[2:]


def test_without_a_live_token_there_is_no_stream(kengele, live, factory):
    assert kengele.client.get(STREAM_PATH).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    with FeedReader(live + STREAM_PATH, bad) as reader:
        assert reader.status == 401 and "unknown" in reader.body
    assert kengele.client.get(STREAM_PATH, headers={"Last-Event-ID": "x"}).status_code == 401


def test_an_idle_stream_sends_keep_alive_comments(kengele, live, factory):
    viewer = token_for(kengele.client, factory, "viewer")
    with FeedReader(live + STREAM_PATH, viewer) as reader:
        reader.following()
        ping = reader.next(timeout=2)
    assert ping is not None and ping.event is None and ping.comments[0].startswith("ping")


def test_a_disconnected_client_leaves_nothing_behind(kengele, live, factory):
    viewer = token_for(kengele.client, factory, "viewer")
    readers = [FeedReader(live + STREAM_PATH, viewer).__enter__() for _ in range(3)]
    for reader in readers:
        reader.following()
    assert len(stream.hub) == 3
    for reader in readers:
        reader.close()
    deadline = time.monotonic() + 10  # generous: the CI machine is shared
    while len(stream.hub) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(stream.hub) == 0


def test_a_stream_ends_after_its_lifetime_and_says_how_soon_to_reconnect(kengele, live, factory, monkeypatch):
    monkeypatch.setattr(stream, "MAX_LIFETIME_SECONDS", 0.5)
    viewer = token_for(kengele.client, factory, "viewer")
    with FeedReader(live + STREAM_PATH, viewer) as reader:
        first = reader.following()
        assert first.retry == str(stream.RECONNECT_MS)
        while (message := reader.next(timeout=3)) is not None:
            assert message.event is None  # pings only, then the end


def test_the_listener_hears_commits_on_other_connections_and_stops_promptly(engine, backend):
    if backend != "postgresql":
        pytest.skip("LISTEN is PostgreSQL's")
    heard = threading.Event()
    listener = stream.Listener(engine.url.set(drivername="postgresql").render_as_string(False), heard.set)
    listener.start()
    try:
        assert heard.wait(5)  # on connecting: whatever committed while nobody listened
        heard.clear()
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": feed.CHANNEL})
        assert heard.wait(2)
    finally:
        started = time.monotonic()
        listener.stop()
    assert time.monotonic() - started < 2


def test_the_listener_waits_out_an_unreachable_database_and_still_stops(caplog):
    listener = stream.Listener("postgresql://postgres@127.0.0.1:1/nowhere", lambda: None)
    listener.start()
    deadline = time.monotonic() + 5
    while "feed listener: OperationalError; retrying" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    listener.stop()
    assert "feed listener: OperationalError; retrying" in caplog.text


def test_start_feed_listens_only_on_postgresql_and_once(engine, backend):
    state = SimpleNamespace(engine=engine)
    stream.start_feed(state)
    try:
        first = getattr(state, "feed_listener", None)
        assert (first is not None) == (backend == "postgresql")
        stream.start_feed(state)
        assert getattr(state, "feed_listener", None) is first
    finally:
        stream.stop_feed(state)
    assert getattr(state, "feed_listener", None) is None
