"""A local fake of Twilio's REST API (Messages, Calls, signed status callbacks) for tests, the demo and checks.

Run it alone with `python -m app.notify.fake_twilio --port 8089`; it only ever binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from app.notify.gsm import segments
from app.notify.ports import MAX_VALIDITY_SECONDS, is_e164
from app.notify.twilio_channel import MAX_TWIML_CHARS, TwilioConfig

HOST = "127.0.0.1"
API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 28 + "fa4e"
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"  # noqa: S105 - the fake's well-known test credential
# Twilio's magic From number for test credentials: always accepted.
MAGIC_FROM = "+15005550006"
_PREFIX = f"/{API_VERSION}/Accounts/{{account_sid}}"


@dataclass(frozen=True)
class FakeError:
    """An error the fake answers with: HTTP status, Twilio code, message ({to} is replaced by the recipient)."""

    status: int
    code: int
    message: str = "Injected error"

    def body(self, to: str = "") -> dict[str, Any]:
        """Twilio's legacy JSON error shape, which the SDK turns into TwilioRestException."""
        return {
            "code": self.code,
            "message": self.message.replace("{to}", to),
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


# Twilio's magic test numbers (test credentials), with its messages; real Twilio quotes the number back.
MAGIC_NUMBERS: dict[str, FakeError] = {
    "+15005550001": FakeError(400, 21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": FakeError(400, 21612, "The 'To' phone number: {to}, is not currently reachable."),
    "+15005550003": FakeError(400, 21408, "Permission to send an SMS has not been enabled for the region of {to}."),
    "+15005550004": FakeError(400, 21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": FakeError(400, 21614, "'To' number {to} is not a valid mobile number"),
}
_DEFAULT_CODES = {429: 20429, 500: 20500, 503: 20503}
_AUTH_ERROR = FakeError(401, 20003, "Authenticate")
_NOT_FOUND = FakeError(404, 20404, "The requested resource was not found")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, with its form fields (repeated names keep every value)."""

    method: str
    path: str
    resource: str
    form: dict[str, list[str]]
    authorized: bool
    status: int
    sid: str | None
    at: datetime

    def get(self, name: str) -> str | None:
        """The first value of a form field, or None."""
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class _Resource:
    kind: str
    data: dict[str, Any]
    status_callback: str | None
    sequence: int = 0
    form: dict[str, list[str]] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment)


def _new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex  # 2 + 32 = 34 characters, like Twilio's


class FakeTwilio:
    """State and ASGI app of the fake: records requests, injects errors, emits signed status callbacks."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        magic_numbers: bool = True,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Lock()
        self._magic = dict(MAGIC_NUMBERS) if magic_numbers else {}
        self._errors: dict[str, FakeError] = {}
        self._fail_next: list[FakeError] = []
        self._requests: list[RecordedRequest] = []
        self._resources: dict[str, _Resource] = {}
        # Sids of inbound messages and calls Twilio would hold (tests post those to Kengele directly).
        self.inbound: set[str] = set()
        self.app = self._build_app()

    # --- test controls -------------------------------------------------------------------------------

    def fail_number(self, number: str, status: int, code: int, message: str = "Injected error for {to}") -> None:
        """Answer every create for `number` with this error (on top of the magic numbers)."""
        with self._lock:
            self._errors[number] = FakeError(status, code, message)

    def fail_next(self, count: int = 1, status: int = 503, code: int | None = None) -> None:
        """Answer the next `count` authorised creates or deletes with this error (503: 20503, 429: 20429)."""
        error = FakeError(status, code or _DEFAULT_CODES.get(status, status), "Injected transient error")
        with self._lock:
            self._fail_next.extend([error] * count)

    def clear(self) -> None:
        """Forget requests, resources and injected errors (the magic numbers stay)."""
        with self._lock:
            self._errors.clear()
            self._fail_next.clear()
            self._requests.clear()
            self._resources.clear()
            self.inbound.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def created(self, kind: str = "Messages") -> list[RecordedRequest]:
        """The successful creates of one resource (Messages or Calls), oldest first."""
        return [r for r in self.requests if r.resource == kind and r.method == "POST" and r.status == 201]

    def resource(self, sid: str) -> dict[str, Any]:
        """The JSON Twilio would return for a message or call (its status follows emit_status)."""
        with self._lock:
            return dict(self._resources[sid].data)

    def twilio_config(self, base_url: str, **overrides: Any) -> TwilioConfig:
        """A TwilioConfig for the channels that talks to this fake at `base_url`."""
        values: dict[str, Any] = {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "from_number": MAGIC_FROM,
            "api_base_url": base_url,
            "timeout_s": 5.0,
        }
        return TwilioConfig(**(values | overrides))

    # --- status callbacks ----------------------------------------------------------------------------

    def status_params(self, sid: str, status: str, *, error_code: int | str | None = None) -> dict[str, str]:
        """The form Twilio POSTs to a status callback for this message or call."""
        with self._lock:
            resource = self._resources[sid]
            resource.sequence += 1
            resource.data["status"] = status
            data, sequence = dict(resource.data), resource.sequence
        common = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": data["from"] or "",
            "To": data["to"],
        }
        if error_code is not None:
            common["ErrorCode"] = str(error_code)
        if resource.kind == "Calls":
            return common | {
                "CallSid": sid,
                "CallStatus": status,
                "Direction": "outbound-api",
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(sequence - 1),
                "Timestamp": _rfc2822(_now()),
            }
        extra = {"MessagingServiceSid": data["messaging_service_sid"]} if data["messaging_service_sid"] else {}
        return common | extra | {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status}

    def emit_status(
        self, sid: str, status: str, url: str | None = None, *, error_code: int | str | None = None
    ) -> httpx.Response:
        """POST a status callback for `sid`, signed with X-Twilio-Signature, to `url` or its StatusCallback."""
        with self._lock:
            target = url or self._resources[sid].status_callback
        if not target:
            raise ValueError(f"{sid} has no StatusCallback; pass url=")
        params = self.status_params(sid, status, error_code=error_code)
        signature = RequestValidator(self.auth_token).compute_signature(target, params)
        headers = {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": uuid.uuid4().hex}
        return httpx.post(target, data=params, headers=headers, timeout=5.0)

    # --- the API -------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"{_PREFIX}/Messages.json", self._create_message, methods=["POST"]),
                Route(f"{_PREFIX}/Calls.json", self._create_call, methods=["POST"]),
                Route(f"{_PREFIX}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
                Route(f"{_PREFIX}/Calls/{{sid}}.json", self._fetch, methods=["GET"]),
                Route(f"{_PREFIX}/Messages/{{sid}}.json", self._delete_message, methods=["DELETE"]),
                Route(f"{_PREFIX}/Calls/{{sid}}.json", self._delete_call, methods=["DELETE"]),
            ]
        )

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (
            scheme.lower() == "basic"
            and hmac.compare_digest(user, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
        )

    async def _create_message(self, request: Request) -> JSONResponse:
        return await self._create(request, "Messages")

    async def _create_call(self, request: Request) -> JSONResponse:
        return await self._create(request, "Calls")

    async def _create(self, request: Request, kind: str) -> JSONResponse:
        raw = await request.form()
        form = {name: [str(v) for v in raw.getlist(name)] for name in raw}
        fields = {name: values[0] for name, values in form.items()}
        error = self._refusal(request, kind, fields)
        if error is not None:
            self._record(request, kind, form, error.status, None)
            return JSONResponse(error.body(fields.get("To", "")), status_code=error.status)
        data = self._store(kind, fields, form)
        self._record(request, kind, form, 201, data["sid"])
        return JSONResponse(data, status_code=201)

    def _refusal(self, request: Request, kind: str, fields: Mapping[str, str]) -> FakeError | None:
        """The error to answer with, in Twilio's order: authentication, outages, validation, the recipient."""
        if not self._authorized(request):
            return _AUTH_ERROR
        if request.path_params["account_sid"] != self.account_sid:
            return _NOT_FOUND
        with self._lock:
            if self._fail_next:
                return self._fail_next.pop(0)
        problem = _validate_message(fields) if kind == "Messages" else _validate_call(fields)
        if problem is not None:
            return problem
        with self._lock:
            return self._errors.get(fields["To"]) or self._magic.get(fields["To"])

    def _store(self, kind: str, fields: Mapping[str, str], form: dict[str, list[str]]) -> dict[str, Any]:
        data = _message_json(self.account_sid, fields) if kind == "Messages" else _call_json(self.account_sid, fields)
        with self._lock:
            self._resources[data["sid"]] = _Resource(kind, data, fields.get("StatusCallback"), form=form)
        return dict(data)

    def _record(self, request: Request, kind: str, form: dict[str, list[str]], status: int, sid: str | None) -> None:
        entry = RecordedRequest(
            request.method, request.url.path, kind, form, self._authorized(request), status, sid, _now()
        )
        with self._lock:
            self._requests.append(entry)

    async def _fetch(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse(_AUTH_ERROR.body(), status_code=401)
        with self._lock:
            resource = self._resources.get(request.path_params["sid"])
            data = dict(resource.data) if resource else None
        if data is None:
            return JSONResponse(_NOT_FOUND.body(), status_code=404)
        return JSONResponse(data)

    async def _delete_message(self, request: Request) -> Response:
        return self._delete(request, "Messages")

    async def _delete_call(self, request: Request) -> Response:
        return self._delete(request, "Calls")

    def _delete(self, request: Request, kind: str) -> Response:
        """Twilio's DELETE: 204 and the record is gone; 404 for a sid it does not have (any more)."""
        sid = request.path_params["sid"]
        error = _AUTH_ERROR if not self._authorized(request) else None
        with self._lock:
            if error is None and self._fail_next:
                error = self._fail_next.pop(0)
            if error is None and self._resources.pop(sid, None) is None and sid not in self.inbound:
                error = _NOT_FOUND
            if error is None:
                self.inbound.discard(sid)
        self._record(request, kind, {}, error.status if error else 204, sid)
        if error is not None:
            return JSONResponse(error.body(), status_code=error.status)
        return Response(status_code=204)

    def deleted(self, kind: str = "Messages") -> list[str]:
        """The sids of the records deleted (204), oldest first."""
        return [r.sid for r in self.requests if r.resource == kind and r.method == "DELETE" and r.status == 204]


def _validate_message(fields: Mapping[str, str]) -> FakeError | None:
    to, body = fields.get("To"), fields.get("Body")
    if not to:
        return FakeError(400, 21604, "A 'To' phone number is required.")
    if not (fields.get("From") or fields.get("MessagingServiceSid")):
        return FakeError(400, 21603, "A 'From' phone number is required.")
    if not body and not fields.get("MediaUrl"):
        return FakeError(400, 21602, "Message body is required.")
    if body and len(body) > 1600:
        return FakeError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    validity = fields.get("ValidityPeriod")
    if validity is not None and not (validity.isdigit() and 1 <= int(validity) <= MAX_VALIDITY_SECONDS):
        return FakeError(400, 21624, "Invalid validity period value.")
    if not is_e164(to):
        return FakeError(400, 21211, "The 'To' number {to} is not a valid phone number.")
    return None


def _validate_call(fields: Mapping[str, str]) -> FakeError | None:
    to = fields.get("To")
    if not to:
        return FakeError(400, 21201, "No 'To' number is specified")
    if not fields.get("From"):
        return FakeError(400, 21213, "No 'From' number is specified")
    if not (fields.get("Url") or fields.get("Twiml")):
        return FakeError(400, 21205, "Url or Twiml is required")
    if len(fields.get("Twiml", "")) > MAX_TWIML_CHARS:
        return FakeError(400, 21205, f"Twiml exceeds {MAX_TWIML_CHARS} characters")
    if not is_e164(to):
        return FakeError(400, 21211, "The 'To' number {to} is not a valid phone number.")
    return None


def _message_json(account_sid: str, fields: Mapping[str, str]) -> dict[str, Any]:
    sid, now, body = _new_sid("SM"), _rfc2822(_now()), fields.get("Body", "")
    service = fields.get("MessagingServiceSid")
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": fields.get("From"),
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": str(segments(body)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        # Through a Messaging Service the first status is accepted; from a number it is queued.
        "status": "accepted" if service and not fields.get("From") else "queued",
        "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": fields["To"],
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json",
    }


def _call_json(account_sid: str, fields: Mapping[str, str]) -> dict[str, Any]:
    sid, now = _new_sid("CA"), _rfc2822(_now())
    return {
        "account_sid": account_sid,
        "annotation": None,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": fields["From"],
        "from_formatted": fields["From"],
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,
        "status": "queued",
        "subresource_uris": {},
        "to": fields["To"],
        "to_formatted": fields["To"],
        "trunk_sid": None,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}.json",
    }


class BackgroundServer:
    """Serves an ASGI app with uvicorn in a daemon thread on 127.0.0.1 and a free port; a context manager."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not running")
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        """Bind a free port, start serving and return once uvicorn is accepting connections."""
        # Binding here and handing uvicorn the socket leaves no window for another process to take the port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOST, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the background server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving; afterwards connections to the port are refused."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
        self._server, self._thread = None, None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class FakeTwilioServer(BackgroundServer):
    """The fake Twilio API served on 127.0.0.1; `.fake` holds its state and controls."""

    def __init__(self, fake: FakeTwilio | None = None, **kwargs: Any) -> None:
        self.fake = fake or FakeTwilio(**kwargs)
        super().__init__(self.fake.app)

    def __enter__(self) -> FakeTwilioServer:
        self.start()
        return self

    def twilio_config(self, **overrides: Any) -> TwilioConfig:
        """A TwilioConfig for the channels pointing at this running fake."""
        return self.fake.twilio_config(self.base_url, **overrides)


def main(argv: list[str] | None = None) -> None:
    """Serve the fake in the foreground on 127.0.0.1 (for the demo and outside checks)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    args = parser.parse_args(argv)
    fake = FakeTwilio(args.account_sid, args.auth_token)
    print(f"fake Twilio at http://{HOST}:{args.port} (account {args.account_sid})", flush=True)
    uvicorn.run(fake.app, host=HOST, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
