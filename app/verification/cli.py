"""`kengele import-clas`: the deployment's community liaison assistants, from CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from app.core.cli_support import say, session_scope
from app.core.config import get_settings
from app.geo.importers import ImportReport, RowError, iter_csv_rows
from app.security.crypto import Vault
from app.security.keys import load_keys
from app.verification import service

COLUMNS = ("name", "phone", "area_name", "lat", "lon", "radius_km")


def register(cli: typer.Typer) -> None:
    """Add import-clas to `cli`."""
    cli.command("import-clas")(import_clas)


def import_clas(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="CSV: name,phone,area_name,lat,lon,radius_km[,languages,schedule]")],
) -> None:  # fmt: skip
    """Register or update CLAs by name; languages separated by ';', schedule HH:MM-HH:MM daily (blank: always)."""
    settings = get_settings()
    vault = Vault(load_keys(settings))
    try:
        with session_scope() as session:
            report = import_clas_csv(session=session, vault=vault, path=file, default_region=settings.default_region)
    except (OSError, RowError, UnicodeDecodeError) as exc:
        say(f"{file}: {exc}", "red")
        raise typer.Exit(2) from None
    for error in report.errors:
        say(f"{file}: {error}", "yellow")
    say(f"{report.imported} CLAs registered or updated, {report.bad_lines} bad lines")


def import_clas_csv(*, session: Any, vault: Vault, path: Path, default_region: str) -> ImportReport:
    """Register every good row; bad rows are reported by line number."""
    report = ImportReport()
    for line, row in iter_csv_rows(path, COLUMNS):
        try:
            area = service.Area(row["area_name"].strip(), float(row["lat"]), float(row["lon"]), float(row["radius_km"]))
            if not (-90 <= area.lat <= 90 and -180 <= area.lon <= 180 and 0 < area.radius_km <= 500):
                raise ValueError("lat/lon off the globe or radius_km not in 0-500")
            languages = [code.strip() for code in (row.get("languages") or "").split(";") if code.strip()]
            service.register_cla(session=session, vault=vault, name=row["name"].strip()[:100], phone=row["phone"],
                                 default_region=default_region, area=area, languages=languages,
                                 schedule=_schedule(row.get("schedule") or ""))  # fmt: skip
        except (ValueError, service.ClaError) as exc:
            report.reject(line, exc)
            continue
        report.imported += 1
    return report


def _schedule(text: str) -> list[dict[str, Any]]:
    """ "06:00-22:00" → every day from 06:00 to 22:00; blank → always on duty."""
    if not text.strip():
        return []
    start, _, end = text.strip().partition("-")
    return [{"days": list(range(7)), "start": start.strip(), "end": end.strip()}]
