"""An Atom feed (RFC 4287) of CAP alerts, each embedded whole in its entry, as CAP feeds carry them (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from app.exports.cap import MEDIA_TYPE as CAP_MEDIA_TYPE
from app.exports.cap import CapAlert
from app.exports.facts import iso_utc
from app.exports.xmlwriter import Element, to_xml

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"


def cap_feed(
    alerts: Sequence[CapAlert], *, title: str, feed_url: str, alert_url: Callable[[str], str], now: datetime
) -> str:
    """The feed: one entry per incident, its id the URL of the incident's CAP document, updated when it was sent."""
    feed = Element("feed", attrs={"xmlns": ATOM_NS})
    feed.add("id", feed_url)
    feed.add("title", title)
    # An empty feed has no latest alert; it was still true as of now.
    feed.add("updated", iso_utc(max((a.message.sent for a in alerts), default=now)))
    feed.add("link", rel="self", type=MEDIA_TYPE, href=feed_url)
    feed.add("author").add("name", "Kengele")
    for item in alerts:
        feed.append(_entry(item, alert_url(item.ref)))
    return to_xml(feed)


def _entry(item: CapAlert, url: str) -> Element:
    # The id stays with the incident while its messages change: readers replace the entry, as Atom intends.
    entry = Element("entry")
    entry.add("id", url)
    entry.add("title", item.headline)
    entry.add("updated", iso_utc(item.message.sent))
    entry.add("link", rel="alternate", type=CAP_MEDIA_TYPE, href=url)
    entry.add("content", type=CAP_MEDIA_TYPE).append(item.element)
    return entry
