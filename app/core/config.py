"""Settings: the only source of configuration (environment variables prefixed KENGELE_, and .env)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    development = "development"
    production = "production"


class WorkerRole(StrEnum):
    """What a worker process does; `kengele worker --only` picks some, by default it does all."""

    inbox = "inbox"  # reports and their pipeline
    outbox = "outbox"  # sending
    timers = "timers"  # escalation deadlines
    retention = "retention"  # the purge schedule


class Settings(BaseSettings):
    """Every knob Kengele has; defaults give the embedded single-process demo."""

    model_config = SettingsConfigDict(env_prefix="KENGELE_", env_file=".env", extra="ignore")

    mode: Mode = Mode.development
    # Embedded default: one SQLite file (WAL) in the working directory.
    database_url: str = "sqlite:///./kengele.db"
    # Where local state lives: generated secrets, the outage spool.
    data_dir: Path = Path(".")
    spool_dir: Path | None = None
    # The URL Twilio calls, e.g. https://alerts.example.org; needed behind a TLS proxy so that
    # signatures are checked against what Twilio signed, not what the proxy forwarded.
    public_base_url: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    # Development only: skip Twilio signature checks. Logged loudly at start and on every request.
    insecure_skip_twilio_signature: bool = False

    # Master secret: derives the phone-encryption and lookup-hash keys unless given separately.
    secret_key: SecretStr | None = None
    # Comma-separated Fernet keys, newest first; older keys still decrypt (rotation).
    encryption_keys: SecretStr | None = None
    hash_key: SecretStr | None = None

    default_region: str = Field("CF", description="ISO 3166 region used to parse national phone numbers")
    default_language: str = "fr"

    # Run the worker inside the server process (embedded default).
    embedded_worker: bool = True
    # How often idle loops look for due work (outbox, timers); a separate worker also learns of new inbox rows
    # by looking, so the inbox is looked at more often: its wait is most of an alert's latency at low load.
    worker_poll_seconds: float = 0.2
    inbox_poll_seconds: float = 0.05
    # The embedded worker rests this long after each `embedded_worker_busy_seconds` of back-to-back batches, so
    # that intake keeps the CPU and the SQLite write lock during a flood (0: after every batch).
    embedded_worker_yield_seconds: float = 0.05
    embedded_worker_busy_seconds: float = 0.0
    # Reports per transaction; unset: 1 on PostgreSQL, 10 on SQLite. A batch's alerts reach the outbox only when
    # it commits: on PostgreSQL one report per transaction measured best (bench/pipeline.py, p50 at 10 messages/s
    # 140–270 ms against 520–780 ms with 10). On SQLite each transaction takes the single write lock, and batches
    # of 10 with a rest between them kept the most throughput in a flood.
    worker_batch_size: int | None = Field(None, ge=1)
    # Threads sending outbound messages in each worker process.
    outbox_senders: int = 4
    # Backoff for inbox rows whose processing failed, in seconds per attempt.
    retry_schedule_seconds: list[int] = [5, 30, 120, 600, 1800, 3600]
    spool_replay_seconds: float = 2.0

    sqlite_busy_timeout_ms: int = 5000
    max_request_bytes: int = 64 * 1024
    partner_signature_tolerance_seconds: int = 300

    # Outbound: Twilio SMS and voice when credentials and a sender are set, else the console sink.
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None  # used instead of the from number when set
    twilio_voice_from_number: str | None = None  # caller ID for alert calls; defaults to the from number
    # Where the Twilio SDK sends its REST calls: a local fake Twilio in tests and outside checks.
    twilio_api_base: str | None = None
    twilio_timeout_seconds: float = 10.0
    twilio_machine_detection: bool = False
    outbound_webhook_timeout_seconds: float = 5.0
    console_outbox_size: int = 200
    # Escalation SMS that cannot be delivered within this long are dropped by the carrier: stale alerts mislead.
    alert_sms_validity_seconds: int = 600
    # Backoff for notifications that failed in a retryable way, in seconds per attempt.
    notify_retry_seconds: list[int] = [10, 30, 60, 120, 300, 600]
    notify_max_attempts: int = 8

    # Escalation policy (JSON, see app/escalation/policy.json) and routing without a road network.
    escalation_policy_file: Path | None = None
    detour_factor: float = 1.4

    # Verification: CLA duty schedules are in this time zone; a held alert escalates anyway after this long.
    timezone: str = "Africa/Bangui"
    verification_hold_minutes: float = 20.0
    # Recorded voice prompts for languages Twilio cannot speak (sg, ln, sw): {url}/{language}/{purpose}.mp3.
    voice_prompts_url: str | None = None

    # Abuse resistance: past this many messages in the window one number's reports fold into its latest
    # incident (stored, flagged, never escalated again); this many first-time numbers within the radius and
    # window raise a possible-decoy warning.
    flood_sender_limit: int = 5
    flood_window_minutes: float = 10.0
    burst_unknown_senders: int = 10
    burst_window_minutes: float = 30.0
    burst_radius_km: float = 25.0

    # Retention: personal data of reporters unseen this long is purged, raw inbox payloads after this long;
    # the worker purges every `retention_purge_hours` (0: only `kengele purge-pii`).
    retention_reporter_days: int = 180
    retention_raw_message_days: int = 30
    retention_purge_hours: float = 24.0
    # Twilio's own records of messages and calls hold the reporter's number and words: deleted at Twilio this long
    # after an inbound message arrived (once processed) or a message to a reporter was sent (once final); 0: never.
    twilio_delete_after_minutes: float = Field(default=60.0, ge=0)

    # Sign-in throttling: failures per username, and per client address, within the window.
    login_max_failures: int = 5
    login_max_failures_per_client: int = 20
    login_window_minutes: float = 15.0
    # Origins (scheme://host[:port]) whose pages may call the API from a browser; none by default.
    cors_origins: list[str] = []

    # Bearer tokens for scripts (POST /api/v1/auth/token) live this long.
    token_hours: float = 12.0

    log_level: str = "INFO"

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.upper()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def resolved_worker_batch_size(self) -> int:
        """Reports per worker transaction: the setting, else 10 on SQLite and 1 on PostgreSQL."""
        return self.worker_batch_size or (10 if self.is_sqlite else 1)

    @property
    def resolved_spool_dir(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    @property
    def twilio_outbound_enabled(self) -> bool:
        """Real SMS goes out only with both credentials; otherwise the console sink is used."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
