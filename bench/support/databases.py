"""Fresh, migrated databases and free ports for the benchmarks (intake, cluster, pipeline, scale)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

from app.core import migrations

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def admin_execute(admin_url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def postgres_problem(admin_url: str) -> str | None:
    """None when the PostgreSQL admin URL answers, else why not."""
    try:
        admin_execute(admin_url, "SELECT 1")
    except Exception as exc:  # any driver or connection error means: skip PostgreSQL
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def sqlite_database(workdir: Path) -> str:
    """A fresh, migrated SQLite file in workdir."""
    url = f"sqlite:///{workdir / f'kengele-{uuid.uuid4().hex[:8]}.db'}"
    migrations.upgrade(url)
    return url


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh, migrated database kengele_bench_<random>, dropped WITH (FORCE) afterwards."""
    name = f"kengele_bench_{uuid.uuid4().hex[:12]}"
    admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        migrations.upgrade(url)
        yield url
    finally:
        admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(kind: str, admin_url: str, workdir: Path) -> Iterator[str]:
    """A fresh migrated database (SQLite file in workdir, or PostgreSQL dropped WITH (FORCE) afterwards); its URL."""
    if kind == "sqlite":
        yield sqlite_database(workdir)
        return
    with postgres_database(admin_url) as url:
        yield url


@contextlib.contextmanager
def copy_of(url: str, admin_url: str, workdir: Path) -> Iterator[str]:
    """A copy of a database nobody is connected to (PostgreSQL: CREATE DATABASE … TEMPLATE; SQLite: the file)."""
    if url.startswith("sqlite"):
        source = Path(url.removeprefix("sqlite:///"))
        target = workdir / f"{source.stem}-copy-{uuid.uuid4().hex[:8]}.db"
        engine = create_engine(url)
        try:
            with engine.connect() as connection:  # everything into the main file: the -wal file is not copied
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        return
    name, template = f"kengele_bench_{uuid.uuid4().hex[:12]}", url.rsplit("/", 1)[1]
    admin_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
