"""`kengele import-geonames`: load a GeoNames dump, and optionally its alternate names, into the gazetteer."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.core.config import get_settings
from app.core.db import make_engine, make_sessionmaker
from app.geo.geonames import (
    ALTERNATE_COLUMNS,
    DUMP_COLUMNS,
    FEATURE_CLASSES,
    Progress,
    check_format,
    import_alternate_names,
    import_geonames_dump,
    load_admin1_names,
    source_size,
)
from app.geo.importers import ImportReport, RowError

if TYPE_CHECKING:
    from rich.progress import Progress as ProgressBar

# What a file that cannot be read, or is not what it claims, raises: reported as "FILE: reason", exit code 2.
UNREADABLE = (RowError, OSError, zipfile.BadZipFile)


def register(cli: typer.Typer) -> None:
    """Add the import-geonames command to `cli`."""
    cli.command("import-geonames")(import_geonames)


def parse_feature_classes(value: str) -> tuple[str, ...]:
    """Split "P,S" into ("P", "S"); typer.BadParameter for anything but GeoNames feature classes."""
    classes = tuple(dict.fromkeys(part.strip().upper() for part in value.split(",") if part.strip()))
    unknown = [c for c in classes if c not in FEATURE_CLASSES]
    if not classes or unknown:
        raise typer.BadParameter(
            f"expected comma-separated GeoNames feature classes from {','.join(sorted(FEATURE_CLASSES))}",
            param_hint="--feature-classes",
        )
    return classes


def _fail(path: Path, error: BaseException) -> typer.Exit:
    from app.cli import _say

    _say(f"{path}: {error}", "red")
    return typer.Exit(2)


def _import(bar: ProgressBar, path: Path, importer: Callable[[Progress], ImportReport]) -> ImportReport:
    """Run one importer under its own progress task; an unreadable file ends the command with exit code 2."""
    try:
        task = bar.add_task(f"importing {path.name}", total=source_size(path))
        return importer(lambda n: bar.advance(task, n))
    except UNREADABLE as exc:
        raise _fail(path, exc) from None


def _print_errors(path: Path, report: ImportReport) -> None:
    from app.cli import _say

    for error in report.errors:
        _say(f"{path}: {error}", "yellow")
    if report.bad_lines > len(report.errors):
        _say(f"{path}: {report.bad_lines - len(report.errors)} more bad lines not shown", "yellow")


def import_geonames(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="GeoNames dump: CC.txt, allCountries.txt or their .zip")
    ],
    alternate_names: Annotated[
        Path | None,
        typer.Option(
            "--alternate-names",
            exists=True,
            dir_okay=False,
            help="alternateNamesV2.txt (or .zip): names with languages and kinds, used instead of the dump's "
            "alternatenames column",
        ),
    ] = None,
    admin1: Annotated[
        Path | None,
        typer.Option("--admin1", exists=True, dir_okay=False, help="admin1CodesASCII.txt, to store adm1 as a name"),
    ] = None,
    feature_classes: Annotated[
        str, typer.Option("--feature-classes", help="Comma-separated GeoNames feature classes to import")
    ] = "P,S",
    include_historical: Annotated[
        bool, typer.Option("--include-historical", help="Also import historical, abandoned and destroyed places")
    ] = False,
) -> None:
    """Import GeoNames places and their names; bad lines are reported by number and skipped."""
    from app.cli import _progress, _say

    classes = parse_feature_classes(feature_classes)
    # Check every file before the long import starts: a wrong alternate-names file should not cost an hour.
    for path, columns in ((file, DUMP_COLUMNS), (alternate_names, ALTERNATE_COLUMNS)):
        try:
            if path is not None:
                check_format(path, columns)
        except UNREADABLE as exc:
            raise _fail(path, exc) from None
    try:
        admin1_names = load_admin1_names(admin1) if admin1 else None
    except UNREADABLE as exc:
        raise _fail(admin1, exc) from None

    # A commit per batch (the checkpoint), not one transaction: SQLite holds its single write lock for a whole
    # transaction, and an allCountries import would keep SMS intake waiting for an hour. Every batch is
    # idempotent, so an interrupted import leaves a consistent prefix and re-running it completes the rest.
    factory = make_sessionmaker(make_engine(get_settings()))
    with _progress() as bar, factory() as session:
        places = _import(
            bar,
            file,
            lambda progress: import_geonames_dump(
                session=session,
                path=file,
                admin1_names=admin1_names,
                feature_classes=classes,
                include_historical=include_historical,
                include_alternatenames=alternate_names is None,
                progress=progress,
                checkpoint=session.commit,
            ),
        )
        session.commit()
        names = ImportReport()
        if alternate_names is not None:
            names = _import(
                bar,
                alternate_names,
                lambda progress: import_alternate_names(
                    session=session, path=alternate_names, progress=progress, checkpoint=session.commit
                ),
            )
            session.commit()
    _print_errors(file, places)
    if alternate_names is not None:
        _print_errors(alternate_names, names)
    _say(
        f"{places.imported} places imported, {places.already_present} already present, "
        f"{places.names_added + names.names_added} names added, {places.bad_lines + names.bad_lines} bad lines"
    )
    if places.skipped:
        _say(f"{places.skipped} rows of other feature classes or historical places left out")
    if names.unknown_places or names.skipped:
        _say(
            f"{names.unknown_places} alternate names of places not in the gazetteer and "
            f"{names.skipped} codes (postal, airport, links) left out"
        )
