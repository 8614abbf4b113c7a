"""`kengele import-zones`: the protection matrix (zones and vulnerable sites) from GeoJSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.core.cli_support import import_file, say
from app.protection import service
from app.protection.zones import ZoneImportError


def register(cli: typer.Typer) -> None:
    """Add import-zones to `cli`."""
    cli.command("import-zones")(import_zones)


def import_zones(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoJSON: zone polygons and site points")],
) -> None:
    """Replace the protection matrix with a GeoJSON file's zones and sites; a bad feature is named, nothing changes."""
    parsed = import_file(file, lambda s, raw: service.import_protection(session=s, raw=raw), (ZoneImportError,))
    say(f"{len(parsed.zones)} zones and {len(parsed.sites)} vulnerable sites imported, {parsed.skipped} skipped")
