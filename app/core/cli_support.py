"""What every import command shares: a database transaction, and bad input as one clear line with exit code 2."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.db import make_engine, make_sessionmaker, transaction

console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def say(text: str, style: str | None = None) -> None:
    """Print to stderr as plain text (file names and messages are never markup)."""
    console.print(text, style=style, markup=False, highlight=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction on the configured database, committed when the block ends without error."""
    engine = make_engine(get_settings())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def import_file(path: Path, load: Callable[[Session, bytes], T], errors: tuple[type[Exception], ...]) -> T:
    """Read `path` and run `load` on it in one transaction; an expected error is "FILE: reason", exit code 2."""
    try:
        raw = path.read_bytes()
        with session_scope() as session:
            return load(session, raw)
    except (OSError, *errors) as exc:
        say(f"{path}: {exc}", "red")
        raise typer.Exit(2) from None
