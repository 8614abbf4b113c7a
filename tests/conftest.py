"""Test fixtures: a real database (SQLite or PostgreSQL, chosen by KENGELE_TEST_DATABASE) built by Alembic."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.orm import Session, sessionmaker

from app.core import migrations
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.models import Base
from app.geo.gazetteer import Gazetteer
from app.main import create_app
from app.security.crypto import Vault
from app.security.keys import load_keys
from app.understanding.service import MessageParser

# Fixtures of the demo deployment and the fake Twilio (kept apart: they need this module's constants).
pytest_plugins = ["tests.deployment"]

TWILIO_TOKEN = "test-twilio-auth-token-0123456789"
SECRET_KEY = "test-master-secret-for-kengele-tests-only"
TESTS_DIR = Path(__file__).resolve().parent
PG_ADMIN_URL = os.environ.get("KENGELE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _backend() -> str:
    backend = os.environ.get("KENGELE_TEST_DATABASE", "sqlite")
    if backend not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"KENGELE_TEST_DATABASE must be sqlite or postgresql, not {backend!r}")
    return backend


@pytest.fixture(scope="session")
def backend() -> str:
    return _backend()


def _create_pg_database(name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def make_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Create empty databases of the chosen backend; every one is dropped at the end of the run."""
    created: list[str] = []

    def make(migrated: bool = True) -> str:
        if _backend() == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'kengele.db'}"
        else:
            name = f"kengele_test_{uuid.uuid4().hex[:12]}"
            url = _create_pg_database(name)
            created.append(name)
        if migrated:
            migrations.upgrade(url)
        return url

    yield make
    for name in created:
        _drop_pg_database(name)


@pytest.fixture(scope="session")
def database_url(make_database) -> str:
    """The migrated test database shared by the run."""
    return make_database()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own data and spool directories, worker not embedded (tests drive it)."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=SECRET_KEY,
        twilio_auth_token=TWILIO_TOKEN,
        embedded_worker=False,
        spool_replay_seconds=0.2,
        sqlite_busy_timeout_ms=2000,
    )


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(Settings(database_url=database_url, secret_key=SECRET_KEY))
    yield engine
    engine.dispose()


@pytest.fixture
def vault(settings: Settings) -> Vault:
    return Vault(load_keys(settings))


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    transaction.rollback()
    connection.close()


def _clean(engine: Engine) -> None:
    from app.understanding.tasks import parsers

    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    parsers.clear()  # its gazetteer named places that are gone now


@pytest.fixture
def factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on the shared database for code that owns its transactions; emptied afterwards."""
    yield make_sessionmaker(engine)
    _clean(engine)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The real application (lifespan included) behind a TestClient; tables emptied afterwards."""
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
    _clean(engine)


@pytest.fixture
def make_client(settings: Settings, engine: Engine) -> Iterator:
    """Build extra app clients with changed settings; all are closed and the tables emptied afterwards."""
    clients: list[TestClient] = []

    def make(**overrides) -> TestClient:
        test_client = TestClient(create_app(settings.model_copy(update=overrides)))
        test_client.__enter__()
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        test_client.__exit__(None, None, None)
    _clean(engine)


@pytest.fixture
def partner_credentials(client: TestClient):
    """A registered partner network with its freshly issued key and secret."""
    from app.partners import service as partner_service

    with client.app.state.sessionmaker.begin() as session:
        return partner_service.create(session=session, vault=client.app.state.vault, name="Église du Christ Bangui")


DEMO_DIR = TESTS_DIR.parent / "app" / "data" / "demo"
DEMO_PLACES = DEMO_DIR / "car_places.csv"
DEMO_UNITS = DEMO_DIR / "car_units_example.csv"
DEMO_ROADS = DEMO_DIR / "car_roads.geojson"
DEMO_ZONES = DEMO_DIR / "car_zones.geojson"
TWILIO_ACCOUNT = "AC" + "1" * 32  # the AccountSid tests/helpers.py puts in inbound forms


@pytest.fixture(scope="session")
def twilio_api() -> Iterator:
    """A local fake Twilio REST API with this deployment's account and token: the real SDK talks to it."""
    from app.notify.fake_twilio import FakeTwilioServer

    with FakeTwilioServer(account_sid=TWILIO_ACCOUNT, auth_token=TWILIO_TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_csv(DEMO_PLACES)


@pytest.fixture(scope="session")
def parser(gazetteer) -> MessageParser:
    return MessageParser(gazetteer)
