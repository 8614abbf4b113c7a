"""`kengele import-roads`, `close-road` and `open-road`: the road network the ranking drives on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from app.core.cli_support import import_file, say, session_scope
from app.core.clock import utcnow
from app.routing import service
from app.routing.roads import RoadImportError


def register(cli: typer.Typer) -> None:
    """Add the road commands to `cli`."""
    cli.command("import-roads")(import_roads)
    cli.command("close-road")(close_road)
    cli.command("open-road")(open_road)


def import_roads(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="GeoJSON LineStrings (highway or speed_kmh)")
    ],
) -> None:
    """Replace the road network with a GeoJSON file's lines; a bad feature is named and nothing is changed."""
    parsed = import_file(file, lambda session, raw: service.import_roads(session=session, raw=raw), (RoadImportError,))
    keys = {s.key for s in parsed.segments}
    say(f"{len(keys)} road segments imported ({len(parsed.segments)} lines), {parsed.skipped} features skipped")


def close_road(
    key: Annotated[str, typer.Argument(help="The segment's id in the imported file")],
    reason: Annotated[str, typer.Option(help="Why: shown to operators in every ranking that avoids it")],
    hours: Annotated[float | None, typer.Option(help="Reopen by itself after this many hours")] = None,
    by: Annotated[str, typer.Option(help="Who closed it")] = "cli",
) -> None:
    """Close a road segment: rankings route around it until it is reopened or expires."""
    if hours is not None and hours <= 0:
        say("--hours must be more than 0 (leave it out to close until reopened)", "red")
        raise typer.Exit(2)
    expires = utcnow() + timedelta(hours=hours) if hours is not None else None
    try:
        with session_scope() as session:
            service.close_segment(session=session, key=key, reason=reason, actor=by, expires_at=expires)
    except service.RoutingError as exc:
        say(str(exc), "red")
        raise typer.Exit(2) from None
    say(f"{key} closed" + (f" for {hours:g} h" if hours else ""))


def open_road(
    key: Annotated[str, typer.Argument(help="The segment's id")],
    by: Annotated[str, typer.Option(help="Who reopened it")] = "cli",
) -> None:
    """Reopen a closed road segment."""
    with session_scope() as session:
        count = service.reopen_segment(session=session, key=key, actor=by)
    say(f"{key} reopened" if count else f"{key} was not closed")
