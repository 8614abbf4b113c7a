"""Publishing: a feed event is a `feed_event` row written by the transaction that made the change, or nothing."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.core.db import transaction
from app.feed import events as feed
from app.feed.models import FeedEventRow


def rows(factory) -> list[tuple[str, str, dict]]:
    with factory() as session:
        return [(r.kind, r.ref, r.data) for r in session.scalars(select(FeedEventRow).order_by(FeedEventRow.id))]


def event(ref: str, kind: str = "incident.status", status: str = "open") -> feed.FeedEvent:
    return feed.FeedEvent(kind, ref, {"status": status, "category": "looting"})


@pytest.fixture
def received() -> list[str]:
    delivered: list[str] = []
    unsubscribe = feed.subscribe(lambda e: delivered.append(e.incident_ref))
    yield delivered
    unsubscribe()


def test_a_committed_change_writes_its_events_and_a_rolled_back_one_writes_none(factory, received):
    with transaction(factory) as session:
        feed.publish(session, event("K-1001", "incident.created"))
    with pytest.raises(RuntimeError), transaction(factory) as session:
        feed.publish(session, event("K-1002", "incident.created"))
        raise RuntimeError("the change failed")
    assert rows(factory) == [("incident.created", "K-1001", {"status": "open", "category": "looting"})]
    assert received == ["K-1001"]


def test_a_rolled_back_savepoint_drops_only_its_own_events_and_a_released_one_waits_for_the_commit(factory, received):
    with transaction(factory) as session:
        feed.publish(session, event("K-2001"))
        with pytest.raises(RuntimeError), session.begin_nested():
            feed.publish(session, event("K-2002"))
            raise RuntimeError("one inbox row failed")
        with session.begin_nested():
            feed.publish(session, event("K-2003"))
        assert received == []  # released savepoints are not commits
        assert rows(factory) == []
    assert [ref for _, ref, _ in rows(factory)] == ["K-2001", "K-2003"]
    assert received == ["K-2001", "K-2003"]


def test_checkpoint_and_discard_since_still_forget_a_failed_rows_events(factory):
    with transaction(factory) as session:
        feed.publish(session, event("K-3001"))
        mark = feed.checkpoint(session)
        with pytest.raises(RuntimeError), session.begin_nested():
            feed.publish(session, event("K-3002"))
            raise RuntimeError("failed")
        feed.discard_since(session, mark)
        assert feed.checkpoint(session) == 1
    assert [ref for _, ref, _ in rows(factory)] == ["K-3001"]


def test_an_event_published_first_but_committed_last_comes_after_in_the_feed(factory):
    # Readers follow ids: an id must never appear below one they have already passed.
    with transaction(factory) as slow:
        feed.publish(slow, event("K-4001"))
        with transaction(factory) as quick:
            feed.publish(quick, event("K-4002"))
        assert [ref for _, ref, _ in rows(factory)] == ["K-4002"]
    assert [ref for _, ref, _ in rows(factory)] == ["K-4002", "K-4001"]


def test_personal_data_cannot_be_published(factory):
    with transaction(factory) as session, pytest.raises(ValueError, match="body"):
        feed.publish(session, feed.FeedEvent("incident.created", "K-5001", {"status": "open", "body": "…"}))


def test_an_incident_change_publishes_through_the_service(kengele, factory):
    from tests.helpers import post_sms, sms_form

    post_sms(kengele.client, sms_form(From="+23672110004", Body="Attaque des hommes armés à Bria, 12 morts"))
    kengele.work()
    published = rows(factory)
    assert published[0][0] == "incident.created" and published[0][1].startswith("K-")
    assert all(set(data) <= feed.PUBLIC_FIELDS for _, _, data in published)


@pytest.fixture
def listening(database_url, backend):
    if backend != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"LISTEN {feed.CHANNEL}")
        yield connection


def test_postgresql_notifies_at_commit_and_never_for_a_rollback(factory, listening):
    with pytest.raises(RuntimeError), transaction(factory) as session:
        feed.publish(session, event("K-6001"))
        session.flush()
        raise RuntimeError("rolled back")
    assert list(listening.notifies(timeout=0.5)) == []
    with transaction(factory) as session:
        feed.publish(session, event("K-6002"))
        feed.publish(session, event("K-6003"))
        assert list(listening.notifies(timeout=0.3)) == []  # nothing before the commit
    with factory() as session:
        last = session.scalar(select(FeedEventRow.id).where(FeedEventRow.ref == "K-6003"))
    [notification] = list(listening.notifies(timeout=2, stop_after=1))
    assert (notification.channel, notification.payload) == (feed.CHANNEL, str(last))
