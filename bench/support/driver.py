"""Load driver for bench/intake.py, run in its own process: `python bench/driver.py '<json spec>'`.

Signs and encodes every request before any timing starts, then runs a warm-up, a fixed-rate run
(latency) and a saturation run (throughput) against one server, and prints one JSON object. With
`messages_file` in the spec it instead posts those SMS forms at a fixed rate for bench/pipeline.py.

It speaks HTTP/1.1 keep-alive over asyncio streams instead of using httpx: on the 2-core bench
machine an httpx.AsyncClient tops out at 200-750 requests/s, far below what the bare baseline
serves, so it would have measured the client, not the servers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from app.intake.simulate import twilio_sms_form
from app.security.signatures import sign_twilio

REQUEST_TIMEOUT_SECONDS = 10.0
MAX_IDLE_SECONDS = 1.0  # well under uvicorn's 5 s keep-alive, so a reused connection is never half-closed
WARMUP_CONCURRENCY = 8

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def sms_form(sender: str = "+23675123456") -> dict[str, str]:
    """A Twilio inbound SMS form with a fresh MessageSid."""
    return twilio_sms_form(message_sid="SM" + uuid.uuid4().hex, sender=sender, body="Hommes armés à Ayorkpo")


def sender_number(index: int, senders: int) -> str:
    """The sender of the index-th message when `senders` numbers take turns (one: always the same number)."""
    return "+23675123456" if senders == 1 else f"+23675{index % senders:06d}"


def signed_requests(count: int, *, url: str, token: str, senders: int = 1) -> list[bytes]:
    """`count` complete HTTP requests, each a distinct form signed against the exact URL it is posted to, sent from
    `senders` numbers in turn."""
    return [signed_request(sms_form(sender_number(i, senders)), url=url, token=token) for i in range(count)]


def signed_request(form: dict[str, str], *, url: str, token: str) -> bytes:
    """One complete HTTP request posting `form`, signed as Twilio signs it against the exact URL."""
    parts = urlsplit(url)
    body = urlencode(form).encode()
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {sign_twilio(auth_token=token, url=url, params=form)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(stream: Stream, request: bytes) -> tuple[str, bool]:
    """Send one request, read the whole response; return its status and whether the connection stays open."""
    reader, writer = stream
    writer.write(request)
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked responses are not supported")
    await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0].split(" ", 2)[1], headers.get("connection", "").lower() != "close"


class Pool:
    """Keep-alive connections to one server, at most `size` at a time."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.slots = asyncio.Semaphore(size)
        self.idle: list[tuple[Stream, float]] = []

    def _take_idle(self) -> Stream | None:
        """The most recently used idle connection, closing those idle too long."""
        while self.idle:
            stream, since = self.idle.pop()
            if time.monotonic() - since < MAX_IDLE_SECONDS:
                return stream
            stream[1].close()
        return None

    async def post(self, request: bytes) -> str:
        """Send one prepared request; return the status code, or the name of the error."""
        async with self.slots:
            stream = self._take_idle()
            try:
                stream = stream or await asyncio.open_connection(self.host, self.port)
                status, keep_alive = await asyncio.wait_for(exchange(stream, request), REQUEST_TIMEOUT_SECONDS)
            except (OSError, EOFError, TimeoutError, ValueError, IndexError) as exc:
                if stream:
                    stream[1].close()
                return type(exc).__name__
            if keep_alive:
                self.idle.append((stream, time.monotonic()))
            else:
                stream[1].close()
            return status

    def close(self) -> None:
        """Close the idle connections."""
        for (_, writer), _since in self.idle:
            writer.close()
        self.idle.clear()


def is_ok(status: str) -> bool:
    """Only 2xx answers count as success."""
    return status.isdigit() and 200 <= int(status) < 300


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def saturate(pool: Pool, requests: list[bytes], concurrency: int, seconds: float) -> dict[str, Any]:
    """Keep `concurrency` requests in flight for `seconds` (or until the prepared requests run out)."""
    pending = iter(requests)
    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    deadline = started + seconds

    async def connection() -> None:
        while time.perf_counter() < deadline and (request := next(pending, None)) is not None:
            statuses[await pool.post(request)] += 1

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started  # includes the requests still in flight at the deadline
    ok = sum(n for status, n in statuses.items() if is_ok(status))
    return {
        "requests": sum(statuses.values()),
        "ok": ok,
        "rps": ok / elapsed,
        "elapsed_s": elapsed,
        "statuses": dict(statuses),
        "exhausted": sum(statuses.values()) >= len(requests),
    }


async def fixed_rate(pool: Pool, requests: list[bytes], rate: float) -> dict[str, Any]:
    """Send request i at start + i/rate (open loop); latency counts from the scheduled time, not the send."""
    started = time.perf_counter()

    async def one(index: int, request: bytes) -> tuple[str, float]:
        scheduled = started + index / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        status = await pool.post(request)
        return status, time.perf_counter() - scheduled

    results = await asyncio.gather(*(one(i, request) for i, request in enumerate(requests)))
    elapsed = time.perf_counter() - started
    latencies = sorted(1000 * latency for status, latency in results if is_ok(status))
    return {
        "requests": len(results),
        "ok": len(latencies),
        "completed_per_s": len(results) / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else None,
        "statuses": dict(Counter(status for status, _ in results)),
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then the fixed-rate run, then the saturation run, against spec['url']."""
    url, token, seconds = spec["url"], spec["token"], spec["seconds"]
    senders = spec.get("senders", 1)
    warmup = signed_requests(spec["warmup"], url=url, token=token, senders=senders)
    paced = signed_requests(round(spec["rate"] * seconds), url=url, token=token, senders=senders)
    flood = signed_requests(spec["max_requests"], url=url, token=token, senders=senders)
    pool = Pool(url, spec["max_connections"])
    try:
        await saturate(pool, warmup, WARMUP_CONCURRENCY, seconds=REQUEST_TIMEOUT_SECONDS)
        await asyncio.sleep(spec["settle_seconds"])
        latency = await fixed_rate(pool, paced, spec["rate"])
        await asyncio.sleep(spec["settle_seconds"])
        throughput = await saturate(pool, flood, spec["concurrency"], seconds)
    finally:
        pool.close()
    return {"fixed_rate": latency, "saturation": throughput}


async def paced_messages(spec: dict[str, Any]) -> dict[str, Any]:
    """Post the given SMS forms (spec['messages_file']: JSON list) at spec['rate'] per second, open loop.

    For bench/pipeline.py: returns, per MessageSid, the wall-clock time (Unix seconds) just before the request was
    written, the HTTP status, and how long the answer took, so that what the request caused can be timed later.
    """
    url, token, rate = spec["url"], spec["token"], spec["rate"]
    forms = json.loads(Path(spec["messages_file"]).read_text(encoding="utf-8"))
    requests = [signed_request(form, url=url, token=token) for form in forms]
    pool = Pool(url, spec.get("max_connections", 256))
    started = time.perf_counter()

    async def one(index: int, request: bytes) -> dict[str, Any]:
        await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
        sent_at, sent = time.time(), time.perf_counter()
        status = await pool.post(request)
        return {"sid": forms[index]["MessageSid"], "sent_at": sent_at, "status": status,
                "answer_ms": 1000 * (time.perf_counter() - sent)}  # fmt: skip

    try:
        sent = await asyncio.gather(*(one(i, request) for i, request in enumerate(requests)))
    finally:
        pool.close()
    return {"sent": sent, "elapsed_s": time.perf_counter() - started}


def main() -> None:
    """Read the JSON spec from argv, run, print the JSON result."""
    spec = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(paced_messages(spec) if "messages_file" in spec else run(spec))))


if __name__ == "__main__":
    main()
