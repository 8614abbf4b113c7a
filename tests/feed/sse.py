"""A test client for server-sent events: follows one stream in a thread and queues what arrives."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Message:
    """One server-sent event as a browser would see it (a ping is a message with only a comment)."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: str | None = None
    received: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads("\n".join(self.data))


def parse(lines: Iterable[str]) -> Iterator[Message]:
    """Messages from the stream's lines (a blank line ends each one)."""
    current = Message()
    for line in lines:
        if not line:
            if current.data or current.comments or current.id or current.event or current.retry:
                yield current
            current = Message()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                current.data.append(value)
            elif name in ("id", "event", "retry"):
                setattr(current, name, value)


class FeedReader:
    """GET a stream in a thread; messages land on a queue, None marks the end of the stream."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, params: dict[str, Any] | None = None):
        self.url, self.headers, self.params = url, headers or {}, params
        self.status: int | None = None
        self.body = ""
        self._queue: queue.Queue[Message | None] = queue.Queue()
        self._opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FeedReader:
        self._thread.start()
        assert self._opened.wait(10), "the stream did not answer"
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 10) -> None:
        """Disconnect; the reading thread leaves at the next line (the server pings often in these tests)."""
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the reader did not stop"

    def _run(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
                client.stream("GET", self.url, headers=self.headers, params=self.params) as response,
            ):
                self.status = response.status_code
                if response.status_code != 200:
                    self.body = response.read().decode()
                    return
                self._opened.set()
                for message in parse(self._lines(response)):
                    self._queue.put(message)
        except httpx.HTTPError:
            pass  # the server went away: the end marker says so
        finally:
            self._opened.set()
            self._queue.put(None)

    def _lines(self, response: httpx.Response) -> Iterator[str]:
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            yield line

    def next(self, timeout: float = 10) -> Message | None:
        """The next message (pings included), or None when the stream has ended."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing arrived within {timeout} s") from None

    def event(self, timeout: float = 10) -> Message:
        """The next message that is an event (pings and comments skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.01, deadline - time.monotonic()))
            assert message is not None, "the stream ended"
            if message.event is not None:
                return message

    def events_until(self, last_id: int, timeout: float = 10) -> list[Message]:
        """Every event up to and including id `last_id`."""
        received = [self.event(timeout)]
        while int(received[-1].id or 0) < last_id:
            received.append(self.event(timeout))
        return received

    def quiet(self, seconds: float) -> list[Message]:
        """The events that arrive within `seconds` (expected: none)."""
        deadline, events = time.monotonic() + seconds, []
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if message is None:
                break
            if message.event is not None:
                events.append(message)
        return events

    def following(self, timeout: float = 10) -> Message:
        """Wait for the stream's first message: from then on every commit reaches it."""
        first = self.next(timeout)
        assert first is not None and first.retry and first.comments[0].startswith("following the feed"), first
        return first
