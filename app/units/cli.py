"""`kengele import-units`: the deployment's units and how to reach them, from CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.core.cli_support import say, session_scope
from app.core.config import get_settings
from app.geo.importers import RowError
from app.security.crypto import Vault
from app.security.keys import load_keys
from app.units import service

COLUMNS = "name,kind,lat,lon,sector,place[,mobility,speed_kmh,capabilities,status,sms,voice,webhook_url,webhook_secret]"


def register(cli: typer.Typer) -> None:
    """Add import-units to `cli`."""
    cli.command("import-units")(import_units)


def import_units(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=f"CSV: {COLUMNS}")]) -> None:
    """Create or update units by name; a row's contacts replace the unit's; bad lines are reported by number."""
    settings = get_settings()
    vault = Vault(load_keys(settings))
    try:
        with session_scope() as session:
            report = service.import_units_csv(
                session=session, vault=vault, path=file, default_region=settings.default_region
            )
    except (OSError, RowError, UnicodeDecodeError) as exc:
        say(f"{file}: {exc}", "red")
        raise typer.Exit(2) from None
    for error in report.errors:
        say(f"{file}: {error}", "yellow")
    say(f"{report.imported} units imported, {report.already_present} updated, {report.bad_lines} bad lines")
