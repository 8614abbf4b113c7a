"""`kengele`: the operators' and admins' command line."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import DBAPIError

from app.core import migrations
from app.core.config import WorkerRole, get_settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.core.logging import configure_logging

DEMO_DIR = Path(__file__).resolve().parent / "data" / "demo"

# Plain tracebacks: rich's would print local variables, and those can hold phone numbers.
cli = typer.Typer(
    help="Kengele community early-warning alert gateway.", no_args_is_help=True, pretty_exceptions_enable=False
)
# soft_wrap: never break a line (scripts and tests read these lines), and no markup in user data.
console = Console(stderr=True, soft_wrap=True)


def _say(text: str, style: str | None = None) -> None:
    console.print(text, style=style, markup=False, highlight=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    configure_logging(get_settings().log_level)
    migrations.upgrade(get_settings().database_url)
    console.print("database schema is current")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (PostgreSQL only)")] = 1,
) -> None:
    """Run the HTTP server (and, by default, the inbox worker inside it)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if workers > 1 and settings.is_sqlite:
        raise typer.BadParameter(
            "several server processes need PostgreSQL; SQLite has one writer", param_hint="--workers"
        )
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, log_config=None)


@cli.command()
def worker(
    only: Annotated[
        list[WorkerRole] | None,
        typer.Option(help="Do only this (repeatable), e.g. the pipeline in one process and sending in another"),
    ] = None,
) -> None:
    """Run the worker loops (inbox, outbox, escalation timers, retention) in this process, apart from the server."""
    import app.core.models  # noqa: F401 - every table, so that foreign keys resolve outside the web app
    from app import worker as worker_module
    from app.security.crypto import Vault
    from app.security.keys import load_keys

    settings = get_settings()
    configure_logging(settings.log_level)
    keys = load_keys(settings)
    factory = make_sessionmaker(make_engine(settings))
    channels = worker_module.notify_channels(settings, keys)
    copies = worker_module.provider_copies(settings, keys)
    roles = tuple(only) if only else tuple(WorkerRole)
    loops = worker_module.worker_loops(
        settings, factory, Vault(keys), channels, embedded=False, roles=roles, copies=copies
    )
    if not loops:
        raise typer.BadParameter(
            "nothing to do: retention is off (KENGELE_RETENTION_PURGE_HOURS=0)", param_hint="--only"
        )
    console.print("worker running; Ctrl-C to stop")
    # SIGTERM (systemd, docker stop, kill) ends the loops after the step in hand: a message being sent is
    # recorded as sent, not left in doubt.
    signal.signal(signal.SIGTERM, lambda *_: loops[0].stop())
    for loop in loops[1:]:
        loop.start()
    try:
        loops[0].run()
    except KeyboardInterrupt:
        console.print("worker stopped")
    finally:
        for loop in loops[1:]:
            loop.stop()
        channels.close()
        if copies is not None:
            copies.close()


@cli.command("import-places")
def import_places(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: name,kind,lat,lon,adm1,adm2")],
    country: Annotated[str | None, typer.Option(help="ISO country code for rows without one")] = None,
) -> None:
    """Import a gazetteer CSV; bad lines are reported by number and skipped."""
    from app.geo.importers import RowError, import_places_csv

    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings))
    with _progress() as progress, transaction(factory) as session:
        task = progress.add_task(f"importing {file.name}", total=_count_lines(file))
        try:
            report = import_places_csv(
                session=session, path=file, country_code=country, progress=lambda: progress.advance(task)
            )
        except RowError as exc:
            _say(f"{file}: {exc}", "red")
            raise typer.Exit(2) from None
    for error in report.errors:
        _say(f"{file}: {error}", "yellow")
    console.print(
        f"{report.imported} places imported, {report.already_present} already present, {len(report.errors)} bad lines"
    )


@cli.command("create-operator")
def create_operator(
    username: Annotated[str, typer.Option(help="Sign-in name: letters, digits, '.', '-', '_'")],
    role: Annotated[str, typer.Option(help="viewer, operator, callback or admin")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="KENGELE_NEW_OPERATOR_PASSWORD", help="12 characters or more")],
) -> None:  # fmt: skip
    """Create an operator account (the password is asked for when not given)."""
    from app.audit import service as audit
    from app.operators import service as operators

    settings = get_settings()
    try:
        with transaction(make_sessionmaker(make_engine(settings))) as session:
            operators.create(session=session, username=username, password=password, role=role)
            audit.record(session=session, actor="cli", action="operator.create", target=f"operator:{username}",
                         role=role)  # fmt: skip
    except operators.OperatorError as exc:
        _say(f"create-operator: {exc}", "red")
        raise typer.Exit(2) from None
    console.print(f"operator {username} ({role}) created")


@cli.command("create-partner")
def create_partner(name: Annotated[str, typer.Argument(help="The partner network's name")]) -> None:
    """Register a partner network and print its API key and signing secret (shown once)."""
    from app.partners import service as partner_service
    from app.security.crypto import Vault
    from app.security.keys import load_keys

    settings = get_settings()
    vault = Vault(load_keys(settings))
    with transaction(make_sessionmaker(make_engine(settings))) as session:
        issued = partner_service.create(session=session, vault=vault, name=name)
    typer.echo(f"partner_id={issued.partner_id}\napi_key={issued.api_key}\nsigning_secret={issued.signing_secret}")


@cli.command("revoke-partner")
def revoke_partner(name: Annotated[str, typer.Argument(help="The partner network's name")]) -> None:
    """Revoke a partner's API key at once."""
    from app.partners import service as partner_service

    with transaction(make_sessionmaker(make_engine(get_settings()))) as session:
        if not partner_service.revoke(session=session, name=name):
            _say(f"no partner named {name!r}", "red")
            raise typer.Exit(1)
    _say(f"partner {name!r} revoked")


@cli.command()
def simulate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a body/text/original column")],
    url: Annotated[str, typer.Option(help="Where Kengele listens")] = "http://127.0.0.1:8000",
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 8,
    text_column: Annotated[str | None, typer.Option(help="Column holding the message text")] = None,
    from_column: Annotated[str | None, typer.Option(help="Column holding the sender's number")] = None,
    exercise: Annotated[
        bool, typer.Option("--exercise", help="A drill: every message, alert and export is marked as an exercise")
    ] = False,
) -> None:
    """Send a CSV of SMS through the real /twilio/sms endpoint, signed as Twilio signs them."""
    from app.intake.simulate import DEMO_ACCOUNT_SID, SimulationError, read_messages, send_all
    from app.security.keys import load_keys

    settings = get_settings()
    token = load_keys(settings).twilio_auth_token
    if token is None:
        _say("no Twilio auth token configured (KENGELE_TWILIO_AUTH_TOKEN)", "red")
        raise typer.Exit(2)
    path = "/twilio/sms"
    signed_url = (settings.public_base_url or url).rstrip("/") + path
    try:
        messages = read_messages(
            file,
            text_column=text_column,
            from_column=from_column,
            account_sid=settings.twilio_account_sid or DEMO_ACCOUNT_SID,
            exercise=exercise,
        )
        with _progress() as progress:
            label = f"sending {file.name}" + (" as an exercise" if exercise else "")
            task = progress.add_task(label, total=_count_lines(file))
            report = send_all(
                messages,
                post_url=url.rstrip("/") + path,
                signed_url=signed_url,
                auth_token=token,
                concurrency=concurrency,
                on_done=lambda: progress.advance(task),
            )
    except SimulationError as exc:
        _say(f"{file}: {exc}", "red")
        raise typer.Exit(2) from None
    for error in sorted(report.errors, key=lambda e: int(e.split()[1].rstrip(":"))):
        _say(f"{file}: {error}", "yellow")
    console.print(f"{report.sent} sent, {report.accepted} accepted, {len(report.errors)} errors")
    if report.errors:
        raise typer.Exit(1)


@cli.command()
def parse(
    text: Annotated[str, typer.Argument(help="The message, or - to read one message per line from standard input")],
    reporter_phone: Annotated[str | None, typer.Option(help="Read it as this registered reporter would be")] = None,
    lang: Annotated[str | None, typer.Option(help="Force the language (ISO 639-1)")] = None,
    gazetteer: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Places CSV to use instead of the database")
    ] = None,
) -> None:
    """Print as JSON what Kengele understands of a message: the pipeline's own code."""
    import json

    from app.understanding.service import ReporterContext

    parser, context = _parser_and_context(gazetteer, reporter_phone)
    lines = sys.stdin if text == "-" else [text]
    for line in lines:
        result = parser.parse(line.rstrip("\n"), language=lang, reporter=context or ReporterContext())
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))


def _parser_and_context(gazetteer_csv: Path | None, reporter_phone: str | None) -> tuple[Any, Any]:
    """Load the gazetteer once (CSV or database) and the reporter's context, if a phone was given."""
    from app.geo.gazetteer import Gazetteer
    from app.understanding.service import MessageParser

    if gazetteer_csv is not None and reporter_phone is None:
        return MessageParser(Gazetteer.from_csv(gazetteer_csv)), None
    from app.reporters import phones
    from app.reporters import service as reporter_service
    from app.security.crypto import Vault
    from app.security.keys import load_keys
    from app.understanding.tasks import context_for

    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings))
    with factory() as session:
        gazetteer = Gazetteer.from_csv(gazetteer_csv) if gazetteer_csv else Gazetteer.from_session(session)
        context = None
        if reporter_phone:
            vault = Vault(load_keys(settings))
            key = phones.sender_key(reporter_phone, settings.default_region)
            reporter = reporter_service.get_by_identity(
                session=session, identity_hash=reporter_service.phone_identity(vault, key)
            )
            if reporter is None:
                _say("no reporter registered with that number; parsing without a reporter", "yellow")
            else:
                context = context_for(reporter)
    return MessageParser(gazetteer), context


@cli.command()
def incidents(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    status: Annotated[str | None, typer.Option(help="Only incidents in this status")] = None,
) -> None:
    """List the incidents with their reports' provider message ids (no personal data)."""
    import json

    from app.incidents import queries

    with make_sessionmaker(make_engine(get_settings()))() as session:
        for item in queries.incident_summaries(session=session, status=status):
            if as_json:
                typer.echo(json.dumps(item, ensure_ascii=False))
            else:
                counts = f"{item['report_count']:3} reports {item['reporter_count']:3} reporters"
                line = f"{item['ref']:9} {item['status']:12} {item['category']:17} {item['severity']:9} {counts}"
                typer.echo(f"{line}  {item['place'] or ''}")


@cli.command()
def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    samples: Annotated[bool, typer.Option(help="Send the demo alerts once the server is up")] = True,
) -> None:
    """Run the embedded default: migrate, load the demo region and deployment, serve, and send a few demo alerts."""
    from app.geo.importers import import_places_csv
    from app.protection.service import import_protection
    from app.routing.service import import_roads
    from app.security.crypto import Vault
    from app.security.keys import load_keys
    from app.units.service import import_units_csv
    from app.verification.cli import import_clas_csv

    settings = get_settings()
    configure_logging(settings.log_level)
    migrations.upgrade(settings.database_url)
    vault = Vault(load_keys(settings))
    with transaction(make_sessionmaker(make_engine(settings))) as session:
        places = import_places_csv(session=session, path=DEMO_DIR / "car_places.csv", country_code="CF")
        units = import_units_csv(session=session, vault=vault, path=DEMO_DIR / "car_units_example.csv",
                                 default_region=settings.default_region)  # fmt: skip
        roads = import_roads(session=session, raw=(DEMO_DIR / "car_roads.geojson").read_bytes())
        zones = import_protection(session=session, raw=(DEMO_DIR / "car_zones.geojson").read_bytes())
        clas = import_clas_csv(session=session, vault=vault, path=DEMO_DIR / "car_clas_example.csv",
                               default_region=settings.default_region)  # fmt: skip
    console.print(
        f"demo region: Central African Republic, {places.imported + places.already_present} places, "
        f"{units.imported + units.already_present} units, {len({s.key for s in roads.segments})} road segments, "
        f"{len(zones.zones)} zones, {clas.imported} CLAs; alerts go to the console (no Twilio account needed)"
    )
    base = f"http://{host}:{port}"
    threading.Thread(target=_announce_when_ready, args=(base, samples), daemon=True).start()
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, log_config=None)


def _announce_when_ready(base: str, samples: bool) -> None:
    for _ in range(100):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        logging.getLogger(__name__).error("server did not become ready")
        return
    console.print(
        f"\n[bold green]Kengele is running at {base}[/bold green]  (API description: {base}/openapi.json, "
        f"health: {base}/readyz, metrics: {base}/metrics)"
    )
    if samples:
        from app.intake.simulate import read_messages, send_all
        from app.security.keys import load_keys

        token = load_keys(get_settings()).twilio_auth_token
        assert token is not None
        report = send_all(
            read_messages(DEMO_DIR / "sample_messages.csv"),
            post_url=f"{base}/twilio/sms",
            signed_url=(get_settings().public_base_url or base).rstrip("/") + "/twilio/sms",
            auth_token=token,
            concurrency=2,
        )
        console.print(
            f"sent {report.accepted} demo alerts through the signed Twilio endpoint; "
            f"send your own with: kengele simulate FILE.csv --url {base}"
        )
    console.print("Ctrl-C stops the server.\n")


def _register_domain_commands() -> None:
    from app.geo.cli import register as register_geo
    from app.protection.cli import register as register_protection
    from app.retention.cli import register as register_retention
    from app.routing.cli import register as register_routing
    from app.units.cli import register as register_units
    from app.verification.cli import register as register_verification

    register_geo(cli)
    register_units(cli)
    register_protection(cli)
    register_routing(cli)
    register_verification(cli)
    register_retention(cli)


_register_domain_commands()


def main() -> None:
    """Entry point of the `kengele` console script."""
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
    except DBAPIError as exc:
        typer.echo(_database_error(exc), err=True)
        sys.exit(2)


def _database_error(exc: DBAPIError) -> str:
    """A database failure in one line: its kind and what to do, never its text (it can quote row values)."""
    detail = str(exc.orig)
    missing = "no such table" in detail or ("relation" in detail and "does not exist" in detail)
    hint = "run `kengele migrate` first" if missing else "check KENGELE_DATABASE_URL and that the database is up"
    return f"kengele: database error ({type(exc.orig).__name__}): {hint}"
